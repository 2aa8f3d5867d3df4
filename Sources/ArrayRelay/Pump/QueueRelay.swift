import ArrayQueues
public import ArrayTransport
import Foundation
public import Logging
import Synchronization

/// One local queue relayed as one ZeroMQ stream (`aq-relay serve`).
///
/// Blocking work runs on dedicated threads, never on Swift's cooperative pool. Each record is
/// taken with the queue's zero-copy borrowing `get`; then either
/// - **copy** (default): the payload is copied once into an array that ZeroMQ sends without
///   copying again, and the slot is freed at once — producers never wait for the network; or
/// - **zero-copy**: ZeroMQ sends straight from shared memory and the slot stays taken until
///   libzmq releases the bytes; ``ServeSettings/zeroCopyDepth`` threads keep that many frames
///   in flight. A subscriber that stalls pins its slots, and a pinned slot holds back the ring
///   (and so, in time, the producer): use it with push/pull and one trusted puller.
///
/// Memory stays bounded in bytes: the sender drops (pubsub) or waits (pushpull) once its byte
/// budget is in flight, and each subscriber's ZeroMQ queue holds at most `peer_queue` frames.
public final class QueueRelay: MetricsSource {
    /// The queue and its stream.
    public let route: QueueRoute
    /// What the relay runs with.
    public let settings: ServeSettings
    /// The stream's ZeroMQ sender.
    public let sender: ZeroMQSender
    private let logger: Logger
    /// The relay's own counters.
    public let counters = ServeCounters()
    /// The queue, once opened (read by the metrics).
    let queue = Mutex<ArrayQueue?>(nil)
    private let stop = StopFlag()
    /// Held while a record is claimed and handed to ZeroMQ: keeps frames in queue order when
    /// several threads relay one queue, and tells shutdown when nothing is half-sent.
    private let turn = NSLock()
    /// The thread that opens the queue and relays it (with helpers for zero-copy).
    private let thread = Mutex<WorkerThread?>(nil)
    private let dropWarnings = Throttle()
    private let errorWarnings = Throttle()

    /// Makes the stream's sender: binds or connects its endpoints now, so that a bad or busy
    /// endpoint fails at start-up.
    public init(route: QueueRoute, settings: ServeSettings, curve: CurveSecurity?, logger: Logger) throws(TransportError) {
        self.route = route
        self.settings = settings
        var logger = logger
        logger[metadataKey: "stream"] = "\(route.stream)"
        self.logger = logger
        let options = ZeroMQSender.Options(
            byteBudget: settings.byteBudget,
            // The per-peer high-water mark becomes budget ÷ this = peer_queue frames.
            expectedMessageBytes: max(1, settings.byteBudget / settings.peerQueue),
            sendTimeout: settings.sendTimeout, heartbeatInterval: settings.heartbeat, linger: settings.linger, curve: curve,
            fastPath: settings.common.fastPath, curveAllowList: settings.curveAllowList, maximumConnections: settings.maxConnections)
        sender = try ZeroMQSender(
            settings.pattern == .pubsub ? .publish : .push, stream: route.stream, bind: route.bind, connect: route.connect,
            options: options, logger: logger)
    }

    /// Where subscribers reach this stream (wildcard ports resolved).
    public var endpoints: [String] { (sender.boundEndpoints + route.connect).map(\.description) }

    /// Starts relaying (opening the queue first, waiting for it if it does not exist yet). A
    /// queue that is removed while the relay reads it is drained, then reopened by name.
    public func start() {
        let opener = WorkerThread.start(name: "aq-relay \(route.queue)") { [self] in
            while let (opened, subscriber) = openQueue() {
                // A broadcast queue's subscriber reads one record at a time: one thread.
                let extra = settings.zeroCopy && subscriber == nil ? settings.zeroCopyDepth - 1 : 0
                let helpers = (0..<extra).map { number in
                    WorkerThread.start(name: "aq-relay \(route.queue) \(number + 2)") { [self] in pump(opened, nil) }
                }
                pump(opened, subscriber)
                for helper in helpers { while !helper.join(timeout: .seconds(1)) {} }
                queue.withLock { $0 = nil }
                if stop.isRaised { return }
                logger.notice("queue '\(route.queue)' was removed; relaying the next queue of that name once it exists")
            }
        }
        thread.withLock { $0 = opener }
    }

    /// Stops taking records, lets the frames in hand go out, sends `end` and flushes what ZeroMQ
    /// still holds, each within the linger period.
    public func shutdown() async {
        stop.raise()
        let closer = WorkerThread.start(name: "aq-relay close") { [self] in
            if turn.lock(before: Date(timeIntervalSinceNow: settings.linger.seconds)) {
                turn.unlock()
            } else {
                logger.warning("no peer took the last frame within \(settings.linger.seconds) s; closing without it")
            }
            sender.close()
        }
        await closer.join()
        // The first thread joins the others before it ends.
        if let opener = thread.withLock({ $0 }) { await opener.join() }
        logger.info("stream '\(route.stream)' closed after \(counters.sent.load(ordering: .relaxed)) frames (end sent)")
    }

    // MARK: - Threads

    /// Opens the queue; a broadcast queue is read as one more subscriber (with the configured
    /// policy, from the oldest record it holds), so that local readers keep every record too.
    private func openQueue() -> (ArrayQueue, BroadcastSubscriber?)? {
        var reported = false
        while !stop.isRaised {
            do throws(ArrayQueueError) {
                let opened = if let capacity = settings.createCapacity {
                    try settings.common.queueAccess.openOrCreate(name: route.queue, capacity: capacity)
                } else {
                    try ArrayQueue.open(name: route.queue, options: settings.common.queueAccess.queueOptions())
                }
                let subscriber = opened.isBroadcast ? try opened.subscribe(policy: settings.subscriberPolicy, start: .oldest) : nil
                queue.withLock { $0 = opened }
                let reading = subscriber.map { "as a \($0.policy.rawValue) subscriber, " } ?? ""
                logger.info("relaying queue '\(route.queue)' (\(ByteCount.format(opened.capacity))) as stream '\(route.stream)' on \(endpoints.joined(separator: ", ")) (\(reading)\(settings.pattern.rawValue), \(settings.zeroCopy ? "zero-copy" : "one copy"))")
                return (opened, subscriber)
            } catch {
                if !reported {
                    if error.code == .notFound {
                        logger.notice("waiting for queue '\(route.queue)' to be created by its producer (or give --create-capacity)")
                    } else if error.code == .untrustedOwner {
                        logger.error("refusing queue '\(route.queue)', retrying: \(error.message) (aq-relay: --allow-other-owner, or allow_other_owner = true in the configuration file)")
                    } else {
                        logger.error("cannot open queue '\(route.queue)', retrying: \(error)")
                    }
                    reported = true
                }
            }
            stop.sleep(.milliseconds(250))
        }
        return nil
    }

    /// Takes records and hands them to ZeroMQ until stopped, or until the queue, idle, turns
    /// out to have been removed.
    private func pump(_ queue: ArrayQueue, _ subscriber: BroadcastSubscriber?) {
        var nextRemovalCheck = ContinuousClock.now
        while true {
            turn.lock()
            if stop.isRaised {
                turn.unlock()
                return
            }
            var holdsTurn = true
            do {
                if settings.zeroCopy {
                    try relayInPlace(queue, subscriber) {
                        turn.unlock()
                        holdsTurn = false
                    }
                } else {
                    try relayCopy(queue, subscriber)
                }
            } catch let error as ArrayQueueError where error.code == .timeout {
                if ContinuousClock.now >= nextRemovalCheck {
                    nextRemovalCheck = .now + .seconds(1)
                    if queue.isRemoved {
                        if holdsTurn { turn.unlock() }
                        return
                    }
                }
            } catch let error as ArrayQueueError {
                fail("cannot take a record from queue '\(route.queue)': \(error)", pause: true)
            } catch {
                fail("\(error)", pause: false)
            }
            if holdsTurn { turn.unlock() }
        }
    }

    private func fail(_ message: String, pause: Bool) {
        counters.failed.add(1, ordering: .relaxed)
        if let more = errorWarnings.admit() { logger.error("\(message)\(more.andMore)") }
        if pause { stop.sleep(.seconds(1)) }
    }

    /// One copy out of the slot, which is freed before the network is involved.
    private func relayCopy(_ queue: ArrayQueue, _ subscriber: BroadcastSubscriber?) throws {
        let outgoing = try take(queue, subscriber) { record in try Outgoing(copying: record) }
        counters.taken.add(1, ordering: .relaxed)
        if let outgoing { send(outgoing) }
    }

    /// No copy: ZeroMQ reads the slot in place, and the slot is held until libzmq releases it.
    private func relayInPlace(_ queue: ArrayQueue, _ subscriber: BroadcastSubscriber?, handedOver: () -> Void) throws {
        try take(queue, subscriber) { record in
            counters.taken.add(1, ordering: .relaxed)
            guard !record.isEnvelope, let base = record.bytes.baseAddress, record.bytes.count > 0 else {
                if let outgoing = try Outgoing(copying: record) { send(outgoing) }
                handedOver()
                return
            }
            let released = DispatchSemaphore(value: 0)
            try sendInPlace(record, base: base, released: released)
            handedOver()
            released.wait()
        }
    }

    /// Lends the next record (waiting 100 ms at most): as a subscriber of a broadcast queue, else
    /// as one of the queue's consumers.
    private func take<Result>(_ queue: ArrayQueue, _ subscriber: BroadcastSubscriber?, _ body: (borrowing BorrowedRecord) throws -> Result) throws -> Result {
        if let subscriber {
            defer { counters.skipped.store(subscriber.lost, ordering: .relaxed) }
            return try subscriber.get(timeout: .milliseconds(100), body)
        }
        return try queue.get(timeout: .milliseconds(100), body)
    }

    /// Sends an array over the slot's bytes; returns once only libzmq references them.
    private func sendInPlace(_ record: borrowing BorrowedRecord, base: UnsafeRawPointer, released: DispatchSemaphore) throws {
        let array = try AnyNDArray(
            dtype: record.dtype, shape: record.shape, adopting: UnsafeMutableRawPointer(mutating: base), byteCount: record.bytes.count,
            release: { _ in released.signal() })
        send(Outgoing(arrays: [NamedArray(NamedArray.defaultName, array)], timestamp: record.timestamp, index: record.index, meta: [:]))
    }

    private func send(_ outgoing: Outgoing) {
        do throws(TransportError) {
            let outcome = try sender.send(outgoing.arrays, timestamp: outgoing.timestamp, index: outgoing.index, meta: outgoing.meta)
            counters.lagNanoseconds.store(Timestamp.now().nanoseconds(since: outgoing.timestamp), ordering: .relaxed)
            switch outcome {
            case .sent:
                counters.sent.add(1, ordering: .relaxed)
                counters.bytesSent.add(UInt64(outgoing.byteCount), ordering: .relaxed)
            case .dropped:
                counters.droppedBudget.add(1, ordering: .relaxed)
                if let more = dropWarnings.admit() {
                    logger.warning("dropping frames: \(ByteCount.format(sender.statistics.inFlightBytes)) are still in flight and the byte budget is \(ByteCount.format(settings.byteBudget)) (subscribers slower than the producer)\(more.andMore)")
                }
            }
        } catch {
            switch error.code {
            case .timeout:
                counters.droppedTimeout.add(1, ordering: .relaxed)
                if let more = dropWarnings.admit() { logger.warning("dropping frames: no puller took one within the send timeout\(more.andMore)") }
            case .closed:
                counters.failed.add(1, ordering: .relaxed)
            default:
                fail("cannot send a frame: \(error)", pause: false)
            }
        }
    }
}
