/// What a producer does when the queue has no room for its array.
public enum OverflowPolicy: String, Sendable, Hashable, CaseIterable {
    /// Wait until consumers make room, up to the put's timeout (like `multiprocessing.Queue`).
    case block
    /// Fail at once with ``ArrayQueueError/Code/full``.
    case fail
    /// Drop the oldest waiting records to make room (for live views); drops are counted.
    /// Records that are being read or written are never dropped: the put waits for them.
    case dropOldest = "drop-oldest"
}

/// What happens when an array's dtype or shape differs from the previous put's.
public enum ShapeChangePolicy: String, Sendable, Hashable, CaseIterable {
    /// Records of any dtype and shape coexist; nothing is lost (the default).
    case keep
    /// The queue drops its waiting records and counts a reset, as the Python `arrayqueues`
    /// package did; use it when consumers only want arrays of the newest format.
    case reset
}

/// Per-handle settings; each process (or handle) chooses its own.
public struct QueueOptions: Sendable, Hashable {
    /// What `put` does when the queue is full.
    public var overflow: OverflowPolicy
    /// How long a blocked call spins before it sleeps in the kernel. Spinning answers in
    /// well under a microsecond when the peer is quick; sleeping costs a wake-up of tens of
    /// microseconds but no CPU. Zero sleeps at once.
    public var spin: Duration
    /// Whether opening accepts a queue whose shared-memory object belongs to another user.
    ///
    /// `/dev/shm` is writable by every user, so anyone can create a queue's name before its
    /// owner does, then read what is put into it or hold its lock. By default `open` refuses such
    /// a queue with ``ArrayQueueError/Code/untrustedOwner``. Set this where several users share
    /// queues on purpose (a queue created with mode 0660 for a common group): that user can then
    /// corrupt the records but, as any user of a queue, not crash or hang this process.
    public var allowOtherOwner: Bool

    /// Settings with the given values; the defaults block on overflow, spin for 30 µs and open
    /// only queues of this process's user.
    public init(overflow: OverflowPolicy = .block, spin: Duration = .microseconds(30), allowOtherOwner: Bool = false) {
        self.overflow = overflow
        self.spin = spin
        self.allowOtherOwner = allowOtherOwner
    }
}

/// Settings fixed when a queue is created.
public struct CreateOptions: Sendable, Hashable {
    /// What happens when the dtype or shape changes between records.
    public var shapeChange: ShapeChangePolicy
    /// Permission bits of the shared-memory object (0600: only the creating user).
    public var mode: UInt32

    /// Settings with the given values.
    public init(shapeChange: ShapeChangePolicy = .keep, mode: UInt32 = 0o600) {
        self.shapeChange = shapeChange
        self.mode = mode
    }
}
