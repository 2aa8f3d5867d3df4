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

    /// `spin` in nanoseconds: 0 for a negative spin, and at most a day (a larger one is a
    /// caller's mistake that must not overflow the arithmetic of a wait).
    public var spinNanoseconds: Int64 {
        min(spin.clampedNanoseconds, 86_400 * 1_000_000_000)
    }
    /// Whether opening accepts a queue whose shared-memory object belongs to another user.
    ///
    /// `/dev/shm` is writable by every user, so anyone can create a queue's name before its
    /// owner does, then read what is put into it or hold its lock. By default `open` refuses such
    /// a queue with ``ArrayQueueError/Code/untrustedOwner``. Set this where several users share
    /// queues on purpose (a queue created with mode 0660 for a common group): that user can then
    /// corrupt the records but, as any user of a queue, not crash or hang this process through
    /// what it writes. Like anyone allowed to write the file, it can still shrink it, and a
    /// process that then touches the lost pages dies of `SIGBUS`: trust it that far.
    public var allowOtherOwner: Bool
    /// How long `open` waits for a queue whose creator is still initializing it (reserving a large
    /// segment's pages takes a while) before it fails with ``ArrayQueueError/Code/corruptSegment``.
    /// Tools that only look at queues use zero: whoever holds a creator's lock (a stopped creator,
    /// any process of this user) must not stall them for this long per queue.
    public var creatorWait: Duration

    /// Settings with the given values; the defaults block on overflow, spin for 30 µs, open
    /// only queues of this process's user and wait up to 30 s for a creator at work.
    public init(overflow: OverflowPolicy = .block, spin: Duration = .microseconds(30), allowOtherOwner: Bool = false,
                creatorWait: Duration = .seconds(30)) {
        self.overflow = overflow
        self.spin = spin
        self.allowOtherOwner = allowOtherOwner
        self.creatorWait = creatorWait
    }
}

/// Settings fixed when a queue is created.
public struct CreateOptions: Sendable, Hashable {
    /// What happens when the dtype or shape changes between records.
    public var shapeChange: ShapeChangePolicy
    /// Permission bits of the shared-memory object (0600: only the creating user).
    public var mode: UInt32
    /// Whether the queue is a broadcast queue: every subscriber (``ArrayQueue/subscribe(policy:start:)``)
    /// reads every record, instead of each record going to one consumer. Cannot be combined with
    /// the `.reset` shape-change policy.
    public var broadcast: Bool

    /// Settings with the given values.
    public init(shapeChange: ShapeChangePolicy = .keep, mode: UInt32 = 0o600, broadcast: Bool = false) {
        self.shapeChange = shapeChange
        self.mode = mode
        self.broadcast = broadcast
    }
}
