public import ArrayQueues

/// Who may own a `shm://` queue an endpoint uses, and who may open one it creates.
///
/// The defaults suit one user: queues of other users are refused (anyone can create a name in
/// `/dev/shm` first, then read what is put or stall the queue) and new queues get mode 0600.
/// For a group sharing queues on purpose, set ``allowOtherOwner`` on the side that opens
/// and a ``mode`` such as 0o660 on the side that may create. Fast-path queues never follow
/// these settings: they always belong to this process's user.
public struct SharedMemoryAccess: Sendable, Hashable {
    /// Open a queue whose shared-memory object belongs to another user
    /// (``ArrayQueues/QueueOptions/allowOtherOwner``).
    public var allowOtherOwner: Bool
    /// Permission bits of a queue created here (``ArrayQueues/CreateOptions/mode``).
    public var mode: UInt32

    /// Settings with the given values.
    public init(allowOtherOwner: Bool = false, mode: UInt32 = 0o600) {
        self.allowOtherOwner = allowOtherOwner
        self.mode = mode
    }

    /// `options` with this choice of owners.
    public func queueOptions(_ options: QueueOptions = QueueOptions()) -> QueueOptions {
        var options = options
        options.allowOtherOwner = allowOtherOwner
        return options
    }

    /// Opens the queue `name` (refusing another user's unless ``allowOtherOwner``), or creates
    /// it with `capacity` bytes and ``mode``; a broadcast queue if `broadcast`.
    ///
    /// - Throws: ``ArrayQueues/ArrayQueueError/Code/invalidArgument`` if the queue there is a
    ///   broadcast queue and `broadcast` is false, or the other way round.
    public func openOrCreate(name: String, capacity: Int, broadcast: Bool = false, options: QueueOptions = QueueOptions()) throws(ArrayQueueError) -> ArrayQueue {
        let queue = try ArrayQueue.openOrCreate(
            name: name, capacity: capacity, creating: CreateOptions(mode: mode, broadcast: broadcast), options: queueOptions(options))
        guard queue.isBroadcast == broadcast else {
            throw ArrayQueueError(.invalidArgument, broadcast
                ? "queue '\(name)' is a plain queue, whose records are shared among its readers: pub/sub on shm:// needs a broadcast queue (aq create --broadcast)"
                : "queue '\(name)' is a broadcast queue, where every subscriber reads every record: push/pull on shm:// needs a plain queue")
        }
        return queue
    }
}
