/// A snapshot of a queue's state and counters, shared by every process that uses it.
public struct QueueStatistics: Sendable, Hashable {
    /// Bytes of the data ring.
    public var capacity: Int
    /// Bytes of the ring in use by records (waiting, being written or being read).
    public var bytesUsed: Int
    /// Records committed and not yet taken.
    public var count: Int
    /// Records committed since creation.
    public var puts: UInt64
    /// Records consumed since creation.
    public var gets: UInt64
    /// Records dropped by the drop-oldest policy, `clear()` or a reset.
    public var drops: UInt64
    /// Resets by the reset-on-shape-change policy.
    public var resets: UInt64
    /// Calls of `clear()`.
    public var clears: UInt64
    /// Records discarded because their producer died before finishing them.
    public var abandonedWrites: UInt64
    /// Records lost because their consumer died while reading them.
    public var lostReads: UInt64
    /// The sequence number the next record will get.
    public var nextSequence: UInt64
}

/// One process attached to a queue.
public struct QueueAttachment: Sendable, Hashable {
    /// The process id.
    public var pid: Int32
    /// Whether the process is still running (checked when this value was made).
    public var isAlive: Bool
    /// Whether the process lives in another pid namespace (a container sharing `/dev/shm`):
    /// ``pid`` is then its pid there, not a pid of this process's namespace.
    public var isInAnotherPIDNamespace: Bool
}

/// Facts about a queue fixed at its creation.
public struct QueueInfo: Sendable, Hashable {
    /// The queue's name.
    public var name: String
    /// Bytes of the data ring.
    public var capacity: Int
    /// Bytes of the whole shared-memory object (header + ring).
    public var segmentSize: Int
    /// The segment layout version.
    public var layoutVersion: Int
    /// The process that created the queue.
    public var creatorPID: Int32
    /// When the queue was created.
    public var created: Timestamp
    /// The shape-change policy chosen at creation.
    public var shapeChange: ShapeChangePolicy
    /// Whether every subscriber reads every record (a broadcast queue) rather than each
    /// record going to one consumer.
    public var isBroadcast: Bool = false
}
