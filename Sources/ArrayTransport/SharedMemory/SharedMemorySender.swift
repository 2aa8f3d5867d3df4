public import ArrayQueues
import Synchronization

/// Sends a stream into a named shared-memory queue (`shm://NAME`), for receivers on the same host.
///
/// A record of one array under the default name (``NamedArray/defaultName``) without metadata
/// becomes a plain queue record, which any `ArrayQueue` consumer can take too; other records
/// (several arrays, another name, metadata) travel as envelopes, which carry the names. The queue's
/// backpressure applies: `send` waits for room up to ``Options/sendTimeout``. With
/// ``Options/broadcast`` (pub/sub), the queue is a broadcast queue: every subscriber reads
/// every record, and `send` waits only for `block` subscribers.
///
/// A child forked without exec that inherits the sender may use it: its first send makes it the
/// child's own, with an epoch of its own numbered from 0, so that its messages never repeat its
/// parent's numbers; its ``close()`` ends only that epoch, and does nothing if the child never
/// sent (the stream is its parent's).
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
        /// The most arrays `send` sends in one message (default ``ArrayMessage/defaultMaximumArrays``,
        /// what receivers take by default); a longer message is refused with
        /// ``TransportError/Code/invalidArgument``. Raise it together with the receivers' `maximumArrays`.
        public var maximumArrays: Int

        /// Settings with the given values.
        public init(
            capacity: Int = 256 << 20, sendTimeout: Duration? = .seconds(10), access: SharedMemoryAccess = SharedMemoryAccess(), broadcast: Bool = false,
            maximumArrays: Int = ArrayMessage.defaultMaximumArrays
        ) {
            self.maximumArrays = maximumArrays
            self.broadcast = broadcast
            self.capacity = capacity
            self.sendTimeout = sendTimeout
            self.access = access
        }
    }

    /// The queue's name.
    public let stream: String
    /// This sender's epoch: random, non-zero, 53 bits; in a forked child that sent through it,
    /// the child's own.
    public var epoch: UInt64 { currentEpoch.load(ordering: .relaxed) }
    private let currentEpoch = Atomic<UInt64>(SharedMemorySender.newEpoch())
    /// The process whose epoch and numbering the sender holds: its maker's, or that of a child
    /// forked without exec once it sent through it. Changed only under the turn.
    private let owner = Atomic<UInt32>(Sys.currentProcessID)
    private let queue: ArrayQueue
    private let options: Options
    /// The number of the next message: stored only once its put succeeded, under `sending`.
    private let nextSequence = Atomic<UInt64>(0)
    /// Whose turn it is to send: the pid of the process one of whose threads is sending, 0 when
    /// none. A send holds it across its put, so that one that fails or times out uses no number
    /// and concurrent sends' records enter the queue in the order of their numbers. Not a
    /// `Mutex`: a send waits for its turn only within its timeout and sees `close()` meanwhile,
    /// and a child forked while its parent was sending gets an error, not a lock whose owner
    /// does not exist there.
    private let turn = Atomic<UInt32>(0)
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

    /// Sends one record; see the type's documentation for what becomes a plain record.
    ///
    /// - Throws: ``TransportError/Code/timeout`` when there was no room within
    ///   ``Options/sendTimeout``, ``TransportError/Code/closed``, ``TransportError/Code/invalidArgument``
    ///   for more than ``Options/maximumArrays`` arrays or non-finite numbers in `meta` (as every
    ///   sender), and the queue's errors (a message larger than the queue, say).
    @discardableResult
    public func send(_ arrays: [NamedArray], timestamp: Timestamp, index: Int64?, meta: [String: JSONValue]) throws(TransportError) -> SendOutcome {
        try refuseIfClosed()
        try OutgoingMessage.check(arrays, meta: meta, maximumArrays: options.maximumArrays)
        // One deadline for the turn and the room: `sendTimeout` bounds the whole send.
        let deadline = Duration.deadline(after: options.sendTimeout)
        try takeTurn(deadline: deadline)
        defer { turn.store(0, ordering: .releasing) }
        try refuseIfClosed()
        adoptIfForked()
        let sequence = nextSequence.load(ordering: .relaxed)
        let message = ArrayMessage(stream: stream, arrays: arrays, timestamp: timestamp, index: index, meta: meta, sequence: sequence, epoch: epoch)
        do throws(ArrayQueueError) {
            try queue.put(.message(message), timeout: deadline.map { .nanoseconds(max(0, $0 - Sys.monotonicNanoseconds())) })
        } catch {
            throw TransportError(error)
        }
        nextSequence.store(sequence &+ 1, ordering: .relaxed)
        bytesSent.wrappingAdd(UInt64(arrays.reduce(0) { $0 + $1.array.byteCount }), ordering: .relaxed)
        return .sent(sequence: sequence)
    }

    /// A random epoch: non-zero, 53 bits (exact in a double, for JSON readers).
    private static func newEpoch() -> UInt64 { UInt64.random(in: 1..<(1 << 53)) }

    /// In a child forked without exec (called under the turn): the parent's epoch and next
    /// number were copied into it, and sending on with them would give the child's messages the
    /// numbers its parent goes on using (receivers would see repeats, and a gap or repeat in
    /// either stream). The child takes an epoch of its own, numbered from 0, as a sender it had
    /// opened itself would.
    private func adoptIfForked() {
        let me = Sys.currentProcessID
        guard owner.load(ordering: .relaxed) != me else { return }
        currentEpoch.store(Self.newEpoch(), ordering: .relaxed)
        nextSequence.store(0, ordering: .relaxed)
        bytesSent.store(0, ordering: .relaxed)
        owner.store(me, ordering: .releasing)
    }

    private func refuseIfClosed() throws(TransportError) {
        guard !closed.load(ordering: .acquiring) else { throw TransportError(.closed, "the sender of queue '\(stream)' is closed") }
    }

    /// Waits until no other thread of this process is sending, then takes the turn; gives up at
    /// `deadline` (nil: no limit) or once the sender is closed. Another send takes microseconds
    /// unless the queue is full, so the wait backs off from 1 µs to 1 ms between looks.
    private func takeTurn(deadline: Int64?) throws(TransportError) {
        let me = Sys.currentProcessID
        var backoff = Backoff(firstNanoseconds: 1_000)
        while !turn.compareExchange(expected: 0, desired: me, ordering: .acquiring).exchanged {
            let holder = turn.load(ordering: .relaxed)
            if holder != 0 && holder != me {
                throw TransportError(.closed, "the sender of queue '\(stream)' was inherited through fork() while another thread of the parent was sending; open a sender in this process")
            }
            try refuseIfClosed()
            if let deadline, Sys.monotonicNanoseconds() >= deadline {
                throw TransportError(.timeout, "send to queue '\(stream)' timed out waiting for another send of this sender to finish")
            }
            backoff.pause()
        }
    }

    public var statistics: SenderStatistics {
        let next = nextSequence.load(ordering: .relaxed)
        return SenderStatistics(epoch: epoch, sent: next, bytesSent: bytesSent.load(ordering: .relaxed), nextSequence: next)
    }

    /// Puts an end marker into the queue (waiting at most a second for room) and stops.
    ///
    /// It does not wait for a send blocked in another thread (that one may wait without limit):
    /// such a send's message may follow the end marker. In a child forked without exec that
    /// never sent through it, it puts nothing: the epoch is the parent's, which goes on sending.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        guard owner.load(ordering: .acquiring) == Sys.currentProcessID else { return }
        let next = nextSequence.load(ordering: .relaxed)
        let end = StreamMark(stream: stream, epoch: epoch, lastSequence: next == 0 ? nil : next - 1, timestamp: .now())
        try? queue.put(.end(end), timeout: .seconds(1))
    }
}
