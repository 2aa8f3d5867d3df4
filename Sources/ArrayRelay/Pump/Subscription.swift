public import ArrayQueues
public import ArrayTransport
import Foundation
public import Logging
import Synchronization

/// Remote streams written into a local queue (`aq-relay subscribe`), so that local consumers
/// read them like any other queue and need not know about the network.
///
/// A message of one array under the default name (``NamedArray/defaultName``) without `meta`
/// becomes a plain record (dtype, shape, timestamp and index kept), as a `shm://` sender puts
/// it; anything else (another name, several arrays, `meta`), or everything with `envelopes`,
/// becomes an envelope that keeps the names, the stream name, epoch and sequence
/// (docs/WIRE.md). A message the queue cannot hold as it is (NaN or infinite numbers in `meta`,
/// which Python peers send and JSON cannot carry) is dropped and counted
/// (``SubscribeCounters/droppedInvalid``), never written with `null` instead. Receiving adopts ZeroMQ's
/// buffers, so the put is the only copy. A relay that restarts shows up as a new epoch and the
/// subscriber simply carries on; gaps in sequence numbers are counted as lost.
public final class Subscription: MetricsSource {
    /// What the subscription runs with.
    public let settings: SubscribeSettings
    /// The ZeroMQ receiver.
    public let receiver: ZeroMQReceiver
    /// The local queue written into.
    public let queue: ArrayQueue
    private let logger: Logger
    /// The subscription's own counters.
    public let counters = SubscribeCounters()
    private let stop = StopFlag()
    private let thread = Mutex<WorkerThread?>(nil)
    private let dropWarnings = Throttle()
    /// Whether frames are received with libzmq's zero-copy (``SubscribeSettings/zeroCopyReceive``).
    private let receivesWithZeroCopy: Bool
    private let errorWarnings = Throttle()

    /// Opens (or creates) the local queue and connects or binds the endpoints.
    public init(settings: SubscribeSettings, curve: CurveSecurity?, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        queue = try settings.common.queueAccess.openOrCreate(name: settings.queue, capacity: settings.capacity, options: QueueOptions(overflow: settings.overflow))
        // ZMQ_RCVHWM is byte budget ÷ expected message size: this pair makes it receive_queue frames.
        // Zero-copy receive is a context's setting: a context of its own, as libzmq reports it.
        let context = settings.zeroCopyReceive ? try ZMQContext(zeroCopyReceive: true) : nil
        receivesWithZeroCopy = try context?.receivesWithZeroCopy ?? false
        let options = ZeroMQReceiver.Options(
            maximumMessageBytes: settings.maximumMessageBytes, byteBudget: settings.receiveQueue << 20, expectedMessageBytes: 1 << 20,
            heartbeatInterval: settings.heartbeat, curve: curve, context: context,
            fastPath: settings.common.fastPath, maximumConnections: settings.maxConnections)
        receiver = try ZeroMQReceiver(
            settings.pattern == .pubsub ? .subscribe(prefixes: settings.streams) : .pull, bind: settings.bind, connect: settings.connect,
            options: options, logger: logger)
    }

    /// Starts receiving on a thread of its own.
    public func start() {
        let endpoints = (settings.connect.map { "\($0)" } + settings.bind.map { "bound \($0)" }).joined(separator: ", ")
        logger.info("receiving \(settings.streams == [""] ? "every stream" : "streams \(settings.streams)") from \(endpoints) (\(settings.pattern.rawValue)\(receivesWithZeroCopy ? ", zero-copy receive" : "")) into queue '\(settings.queue)' (\(ByteCount.format(queue.capacity)), overflow \(settings.overflow.rawValue))")
        thread.withLock { $0 = WorkerThread.start(name: "aq-relay subscribe") { [self] in run() } }
    }

    /// Stops receiving after the message in hand is put (or dropped), and closes the socket.
    public func shutdown() async {
        stop.raise()
        if let thread = thread.withLock({ $0 }) { await thread.join() }
        receiver.close()
        logger.info("stopped after \(counters.put.load(ordering: .relaxed)) frames into queue '\(settings.queue)'")
    }

    private func run() {
        var silent = false
        while !stop.isRaised {
            let event: ReceiveEvent?
            do throws(TransportError) {
                event = try receiver.receiveEvent(timeout: .milliseconds(100))
            } catch {
                if error.code == .closed { return }
                fail("cannot receive: \(error)", pause: true)
                continue
            }
            switch event {
            case let .message(message)?:
                deliver(message)
                continue
            case let .end(mark)?:
                logger.notice("stream '\(mark.stream)' ended: its relay stopped; waiting for it to come back")
            case .heartbeat?, nil:
                break
            }
            let nowSilent = receiver.statistics.peerIsSilent
            if nowSilent != silent {
                silent = nowSilent
                if silent {
                    logger.warning("no message from the relay for \(formatLag(receiver.statistics.silence.seconds)); still trying")
                } else {
                    logger.info("the relay is heard again")
                }
            }
        }
    }

    /// Puts a message into the local queue, honouring the overflow policy and the put timeout.
    private func deliver(_ message: ArrayMessage) {
        counters.lagNanoseconds.store(Timestamp.now().nanoseconds(since: message.timestamp), ordering: .relaxed)
        let bytes = message.arrays.reduce(0) { $0 + $1.array.byteCount }
        let deadline = settings.putTimeout.map { ContinuousClock.now + $0 }
        while true {
            // Waits in slices so that a shutdown is noticed while the queue is full.
            let slice = min(.milliseconds(100), deadline.map { max(.zero, $0 - .now) } ?? .milliseconds(100))
            do throws(ArrayQueueError) {
                try queue.put(.message(message), asEnvelope: settings.envelopes, timeout: slice)
                counters.put.add(1, ordering: .relaxed)
                counters.bytesPut.add(UInt64(bytes), ordering: .relaxed)
                return
            } catch {
                switch error.code {
                case .timeout:
                    if stop.isRaised || deadline.map({ ContinuousClock.now >= $0 }) == true {
                        drop(counters.droppedTimeout, "no room in queue '\(settings.queue)' within the put timeout")
                        return
                    }
                case .full:
                    drop(counters.droppedFull, "queue '\(settings.queue)' is full (overflow policy 'fail')")
                    return
                case .invalidArgument:
                    // The message itself (its meta, its header), not the queue: waiting cannot help.
                    drop(counters.droppedInvalid, "message \(message.sequence) of stream '\(message.stream)' cannot be written into queue '\(settings.queue)': \(error.message)")
                    return
                default:
                    fail("cannot put a frame into queue '\(settings.queue)': \(error)", pause: false)
                    return
                }
            }
        }
    }

    private func drop(_ counter: borrowing Atomic<UInt64>, _ reason: String) {
        counter.add(1, ordering: .relaxed)
        if let more = dropWarnings.admit() { logger.warning("dropping frames: \(reason)\(more.andMore)") }
    }

    private func fail(_ message: String, pause: Bool) {
        counters.failed.add(1, ordering: .relaxed)
        if let more = errorWarnings.admit() { logger.error("\(message)\(more.andMore)") }
        if pause { stop.sleep(.seconds(1)) }
    }
}
