@_spi(Transport) public import ArrayQueues
import Synchronization

/// Receives a stream from a named shared-memory queue (`shm://NAME`).
///
/// Plain array records arrive as messages of one array named `"array"`, with the queue-wide
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
    private let counters = Mutex(ReceiverStatistics())
    /// Most arrays accepted in one envelope.
    private let maximumArrays: Int

    /// Opens the queue `name`, creating it with `capacity` (and `access.mode`) if it does not
    /// exist yet, so that a receiver may start before its sender. A queue owned by another user
    /// is refused with ``TransportError/Code/invalidEndpoint`` (its `queueError` has code
    /// `untrustedOwner`) unless `access.allowOtherOwner`. With `subscription`, the queue is a
    /// broadcast queue, subscribed to with that policy from the next record on; a queue there
    /// of the other kind is refused.
    public init(
        name: String, capacity: Int = 256 << 20, maximumArrays: Int = 256, access: SharedMemoryAccess = SharedMemoryAccess(),
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

    public func receiveEvent(timeout: Duration?) throws(TransportError) -> ReceiveEvent? {
        let deadline = ContinuousClock.now + (timeout ?? .seconds(1 << 40))
        let epoch = UInt64(bitPattern: queue.info.created.nanosecondsSinceEpoch)
        while true {
            guard !cancellation.isCancelled else { throw TransportError(.closed, "the receiver of queue '\(stream)' is closed") }
            do {
                let wait = max(deadline - .now, .zero)
                let body = { (record: borrowing BorrowedRecord) throws(TransportError) -> ReceiveEvent in try self.event(from: record, epoch: epoch) }
                if let subscriber { return try subscriber.get(timeout: wait, cancellation: cancellation, body) }
                return try queue.get(timeout: wait, cancellation: cancellation, body)
            } catch let error as ArrayQueueError {
                if error.code == .timeout { return nil }
                throw TransportError(error)
            } catch let error as TransportError {
                // A malformed envelope was taken from the queue (and freed): count it, wait on.
                counters.withLock { $0.malformed += 1; $0.lastMalformedReason = error.message }
            } catch {
                throw TransportError(.systemCall, "\(error)")
            }
        }
    }

    private func event(from record: borrowing BorrowedRecord, epoch: UInt64) throws(TransportError) -> ReceiveEvent {
        let event = try record.event(stream: stream, epoch: epoch, maximumArrays: maximumArrays)
        counters.withLock { counters in
            switch event {
            case .message(let message):
                counters.received += 1
                counters.bytesReceived += UInt64(message.arrays.reduce(0) { $0 + $1.array.byteCount })
            case .heartbeat: counters.heartbeats += 1
            case .end: counters.ends += 1
            }
        }
        return event
    }

    public var statistics: ReceiverStatistics {
        var statistics = counters.withLock { $0 }
        if let subscriber { statistics.lost = subscriber.lost }
        return statistics
    }

    /// Stops receiving; a `receiveEvent` blocked in another thread returns at once with
    /// ``TransportError/Code/closed``.
    public func close() {
        cancellation.cancel()
        subscriber?.detach()
        queue.wakeConsumers()
    }
}
