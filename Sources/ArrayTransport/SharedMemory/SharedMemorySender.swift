public import ArrayQueues
import Synchronization

/// Sends a stream into a named shared-memory queue (`shm://NAME`), for receivers on the same host.
///
/// A record of one array without metadata becomes a plain queue record, which any
/// `ArrayQueue` consumer can take too; other records travel as envelopes. The queue's
/// backpressure applies: `send` waits for room up to ``Options/sendTimeout``. With
/// ``Options/broadcast`` (pub/sub), the queue is a broadcast queue: every subscriber reads
/// every record, and `send` waits only for `block` subscribers.
public final class SharedMemorySender: ArraySender {
    /// Settings of a shared-memory sender.
    public struct Options: Sendable {
        /// Capacity of the queue if the sender creates it.
        public var capacity: Int
        /// How long `send` waits for room; nil waits without limit.
        public var sendTimeout: Duration?
        /// Whether to use a queue owned by another user, and the permission bits of a queue this
        /// sender creates (see ``SharedMemoryAccess``).
        public var access: SharedMemoryAccess
        /// Whether the queue is a broadcast queue (pub/sub) rather than a plain one (push/pull);
        /// a queue there of the other kind is refused with ``TransportError/Code/invalidEndpoint``.
        public var broadcast: Bool

        /// Settings with the given values.
        public init(
            capacity: Int = 256 << 20, sendTimeout: Duration? = .seconds(10), access: SharedMemoryAccess = SharedMemoryAccess(), broadcast: Bool = false
        ) {
            self.broadcast = broadcast
            self.capacity = capacity
            self.sendTimeout = sendTimeout
            self.access = access
        }
    }

    /// The queue's name.
    public let stream: String
    /// This sender's epoch: random, non-zero, 53 bits.
    public let epoch = UInt64.random(in: 1..<(1 << 53))
    private let queue: ArrayQueue
    private let options: Options
    /// The number of the next message: stored only once its put succeeded, under `sending`.
    private let nextSequence = Atomic<UInt64>(0)
    /// Held across a send's put: a send that fails or times out uses no number, and the records
    /// of concurrent sends enter the queue in the order of their numbers.
    private let sending = Mutex(())
    private let bytesSent = Atomic<UInt64>(0)
    private let closed = Atomic<Bool>(false)

    /// Opens the queue `name`, creating it with `options.capacity` (and `options.access.mode`)
    /// if it does not exist. A queue owned by another user is refused with
    /// ``TransportError/Code/invalidEndpoint`` (its `queueError` has
    /// code `untrustedOwner`) unless `options.access.allowOtherOwner`.
    public init(name: String, options: Options = Options()) throws(TransportError) {
        do throws(ArrayQueueError) {
            queue = try options.access.openOrCreate(name: name, capacity: options.capacity, broadcast: options.broadcast)
        } catch {
            throw TransportError(error)
        }
        stream = name
        self.options = options
    }

    @discardableResult
    public func send(_ arrays: [NamedArray], timestamp: Timestamp, index: Int64?, meta: [String: JSONValue]) throws(TransportError) -> SendOutcome {
        let sequence = try sending.withLock { _ throws(TransportError) -> UInt64 in
            guard !closed.load(ordering: .acquiring) else { throw TransportError(.closed, "the sender of queue '\(stream)' is closed") }
            let sequence = nextSequence.load(ordering: .relaxed)
            let message = ArrayMessage(stream: stream, arrays: arrays, timestamp: timestamp, index: index, meta: meta, sequence: sequence, epoch: epoch)
            do throws(ArrayQueueError) {
                try queue.put(.message(message), timeout: options.sendTimeout)
            } catch {
                throw TransportError(error)
            }
            nextSequence.store(sequence &+ 1, ordering: .relaxed)
            return sequence
        }
        bytesSent.wrappingAdd(UInt64(arrays.reduce(0) { $0 + $1.array.byteCount }), ordering: .relaxed)
        return .sent(sequence: sequence)
    }

    public var statistics: SenderStatistics {
        let next = nextSequence.load(ordering: .relaxed)
        return SenderStatistics(epoch: epoch, sent: next, bytesSent: bytesSent.load(ordering: .relaxed), nextSequence: next)
    }

    /// Puts an end marker into the queue (waiting at most a second for room) and stops.
    ///
    /// It does not wait for a send blocked in another thread (that one may wait without limit):
    /// such a send's message may follow the end marker.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let next = nextSequence.load(ordering: .relaxed)
        let end = StreamMark(stream: stream, epoch: epoch, lastSequence: next == 0 ? nil : next - 1, timestamp: .now())
        try? queue.put(.end(end), timeout: .seconds(1))
    }
}
