@_spi(Transport) public import ArrayQueues
import Synchronization

/// Receives a stream from a named shared-memory queue (`shm://NAME`).
///
/// Plain array records arrive as messages of one array named `"array"` (``NamedArray/defaultName``:
/// a `shm://` sender puts a single array under another name in an envelope), with the queue-wide
/// sequence number and the queue's creation time as epoch; envelopes arrive as the sender
/// made them. Several receivers on a plain queue share its records (each record goes to one of
/// them), so sequence gaps are not losses here: the queue's own counters (drops, dead peers)
/// tell about those. A receiver with a `subscription` policy (pub/sub) subscribes to a
/// broadcast queue instead and reads every record from the moment it subscribed;
/// ``ReceiverStatistics/lost`` counts the records a `drop` subscriber skipped.
public final class SharedMemoryReceiver: ArrayReceiver {
    /// The queue's name.
    public let stream: String
    private let queue: ArrayQueue
    /// The subscription to a broadcast queue (pub/sub); nil for a plain queue.
    private let subscriber: BroadcastSubscriber?
    private let cancellation = Cancellation()
    /// The threads in a receive: a receive from its `body` is refused (on a plain queue it
    /// would take the next record while the lent one is held).
    private let lending = LendingThreads()
    private let counters = Mutex(ReceiverStatistics())
    /// Most arrays accepted in one envelope.
    private let maximumArrays: Int

    /// Opens the queue `name`, creating it with `capacity` (and `access.mode`) if it does not
    /// exist yet, so that a receiver may start before its sender. A queue owned by another user
    /// is refused with ``TransportError/Code/invalidEndpoint`` (its `queueError` has code
    /// `untrustedOwner`) unless `access.allowOtherOwner`. With `subscription`, the queue is a
    /// broadcast queue, subscribed to with that policy from the next record on; a queue there
    /// of the other kind is refused. An envelope of more than `maximumArrays` arrays is counted
    /// as malformed and skipped.
    public init(
        name: String, capacity: Int = 256 << 20, maximumArrays: Int = ArrayMessage.defaultMaximumArrays, access: SharedMemoryAccess = SharedMemoryAccess(),
        subscription: SubscriberPolicy? = nil
    ) throws(TransportError) {
        do throws(ArrayQueueError) {
            let queue = try access.openOrCreate(name: name, capacity: capacity, broadcast: subscription != nil)
            subscriber = try subscription.map { policy throws(ArrayQueueError) in try queue.subscribe(policy: policy, start: .next) }
            self.queue = queue
        } catch {
            throw TransportError(error)
        }
        stream = name
        self.maximumArrays = maximumArrays
    }

    /// Waits for the next record, at most `timeout`, and lends it to `body` in place in the
    /// queue (a subscriber's read of a broadcast queue, or a record taken from a plain queue);
    /// its room is freed when `body` returns. Malformed envelopes are counted and skipped.
    ///
    /// - Throws: ``TransportError/Code/closed`` once the receiver is closed,
    ///   ``TransportError/Code/invalidArgument`` for a receive from `body` itself (as on
    ///   tcp/ipc), and the queue's errors as ``TransportError/Code/invalidEndpoint`` (a corrupt
    ///   segment, say).
    public func lendEvent(timeout: Duration?, to body: (borrowing BorrowedReceiveEvent) -> Void) throws(TransportError) -> Bool {
        try lending.enter()
        defer { lending.leave() }
        let deadline = ContinuousClock.now + (timeout ?? .seconds(1 << 40))
        let epoch = UInt64(bitPattern: queue.info.created.nanosecondsSinceEpoch)
        while true {
            guard !cancellation.isCancelled else { throw TransportError(.closed, "the receiver of queue '\(stream)' is closed") }
            do {
                let wait = max(deadline - .now, .zero)
                // A value and untyped errors: a typed-throwing closure returning Void crashes
                // Swift 6.3's IR generation when it is passed as a generic body.
                if let subscriber {
                    return try subscriber.get(timeout: wait, cancellation: cancellation) { (record: borrowing BorrowedRecord) throws -> Bool in
                        try self.lend(record, epoch: epoch, to: body)
                        return true
                    }
                }
                return try queue.get(timeout: wait, cancellation: cancellation) { (record: borrowing BorrowedRecord) throws -> Bool in
                    try self.lend(record, epoch: epoch, to: body)
                    return true
                }
            } catch let error as ArrayQueueError {
                if error.code == .timeout { return false }
                throw TransportError(error)
            } catch let error as TransportError {
                // A malformed envelope was taken from the queue (and freed): count it, wait on.
                counters.withLock { $0.malformed += 1; $0.lastMalformedReason = error.message }
            } catch {
                throw TransportError(.systemCall, "\(error)")
            }
        }
    }

    /// Counts the record's event and lends it to `body`.
    private func lend(_ record: borrowing BorrowedRecord, epoch: UInt64, to body: (borrowing BorrowedReceiveEvent) -> Void) throws(TransportError) {
        let event = try record.lentEvent(stream: stream, epoch: epoch, maximumArrays: maximumArrays)
        let kind: WireHeader.Kind
        var bytes = 0
        switch event {
        case .message(let message):
            kind = .data
            bytes = message.arrays.reduce(0) { $0 + $1.byteCount }
        case .heartbeat: kind = .heartbeat
        case .end: kind = .end
        }
        counters.withLock { counters in
            switch kind {
            case .data:
                counters.received += 1
                counters.bytesReceived += UInt64(bytes)
            case .heartbeat: counters.heartbeats += 1
            case .end: counters.ends += 1
            }
        }
        body(event)
    }

    public var statistics: ReceiverStatistics {
        var statistics = counters.withLock { $0 }
        if let subscriber { statistics.lost = subscriber.lost }
        return statistics
    }

    /// Stops receiving; a `receiveEvent` blocked in another thread returns at once with
    /// ``TransportError/Code/closed``. Called from a receive's `body`, it returns at once and the
    /// message stays readable until `body` returns: the record is released, and a subscriber's
    /// place in the broadcast queue given up, only then.
    public func close() {
        cancellation.cancel()
        subscriber?.detach()
        queue.wakeConsumers()
    }
}
