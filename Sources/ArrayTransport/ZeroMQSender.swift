public import ArrayQueues
public import Logging
import Synchronization

/// Sends one stream of array records over ZeroMQ in the arrf/1 wire format (docs/WIRE.md).
///
/// ```swift
/// let sender = try ZeroMQSender(.publish, stream: "camera0", bind: [try Endpoint("tcp://*:5555")])
/// try sender.send(frame, name: "frame", index: frameNumber, meta: ["exposure_us": 1200])
/// sender.close()   // sends "end"
/// ```
///
/// - ``Pattern/publish`` (PUB): every connected subscriber gets every message. `send` never
///   blocks: a subscriber that cannot keep up loses messages at its high-water mark (and sees
///   the gap in the sequence numbers), and if the bytes held for all subscribers exceed the
///   byte budget the sender drops the message itself (``SendOutcome/dropped(sequence:)``).
/// - ``Pattern/push`` (PUSH): each message goes to one connected puller, round robin. `send`
///   blocks while the pullers are full or the byte budget is used up, at most
///   ``Options/sendTimeout``.
///
/// Payloads of 4 KiB or more are sent without copying: libzmq reads the array's own storage,
/// which the sender keeps alive until libzmq releases it. While idle, the sender sends a
/// heartbeat every ``Options/heartbeatInterval`` from a background thread; all socket use is
/// serialized by a lock. Safe to use from several threads.
public final class ZeroMQSender: ArraySender {
    /// The ZeroMQ pattern.
    public enum Pattern: Sendable, Hashable {
        /// Publish/subscribe: a PUB socket; slow subscribers lose messages, the sender never blocks.
        case publish
        /// Push/pull: a PUSH socket; the sender blocks when pullers are behind.
        case push
    }

    /// How a sender behaves.
    public struct Options: Sendable {
        /// Most payload bytes libzmq may hold for this sender (queued, not yet written to the
        /// network). Over it, a publisher drops and a pusher waits. Default 256 MiB.
        public var byteBudget: Int
        /// The typical size of a message, if known: the per-peer high-water mark (ZMQ_SNDHWM,
        /// counted in messages) is then set to byte budget ÷ this size, so that each peer's
        /// queue is bounded in bytes too. Unset: libzmq's default of 1000 messages.
        public var expectedMessageBytes: Int?
        /// Longest a pusher's `send` waits for room (nil: no limit). Publishers never wait.
        public var sendTimeout: Duration?
        /// How long the stream may be idle before a heartbeat is sent (nil: no heartbeats).
        public var heartbeatInterval: Duration?
        /// How long unsent messages are kept after ``close()`` (ZMQ_LINGER).
        public var linger: Duration
        /// CURVE security, or nil for none.
        public var curve: CurveSecurity?
        /// The ZeroMQ context; nil gives the sender a context of its own, which ``ZeroMQSender/close()``
        /// terminates so that messages still queued are sent (within ``linger``) before it returns,
        /// even if the process exits right after.
        public var context: ZMQContext?

        /// Options with the documented defaults.
        public init(
            byteBudget: Int = 256 << 20, expectedMessageBytes: Int? = nil, sendTimeout: Duration? = nil,
            heartbeatInterval: Duration? = .seconds(1), linger: Duration = .seconds(1), curve: CurveSecurity? = nil,
            context: ZMQContext? = nil
        ) {
            self.byteBudget = byteBudget
            self.expectedMessageBytes = expectedMessageBytes
            self.sendTimeout = sendTimeout
            self.heartbeatInterval = heartbeatInterval
            self.linger = linger
            self.curve = curve
            self.context = context
        }
    }

    /// The stream this sender writes (the topic of every message).
    public let stream: String
    /// The pattern.
    public let pattern: Pattern
    /// This sender's epoch: random, non-zero, 53 bits.
    public var epoch: UInt64 { core.epoch }
    /// The endpoints bound, with wildcard ports resolved (for example `tcp://127.0.0.1:41234`).
    public let boundEndpoints: [Endpoint]

    private let core: SenderCore

    /// Longest stream name accepted, in UTF-8 bytes.
    public static let maximumStreamLength = 1024

    /// Makes a sender that binds to `bind` and connects to `connect` (at least one endpoint).
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` for a bad stream name or option,
    ///   ``TransportError/Code/invalidEndpoint``, or the failing libzmq call (an address in use
    ///   is a ``TransportError/Code/zeroMQ`` error naming `zmq_bind`).
    public init(
        _ pattern: Pattern, stream: String, bind: [Endpoint] = [], connect: [Endpoint] = [],
        options: Options = Options(), logger: Logger = Logger(label: "ArrayTransport.ZeroMQSender")
    ) throws(TransportError) {
        guard !stream.isEmpty, stream.utf8.count <= Self.maximumStreamLength else {
            throw TransportError(.invalidArgument, "a stream name must be 1 to \(Self.maximumStreamLength) bytes of UTF-8, not \(stream.utf8.count)")
        }
        guard !bind.isEmpty || !connect.isEmpty else {
            throw TransportError(.invalidArgument, "a sender needs at least one endpoint to bind or connect to")
        }
        guard options.byteBudget > 0 else {
            throw TransportError(.invalidArgument, "the byte budget must be positive, not \(options.byteBudget)")
        }
        if let expected = options.expectedMessageBytes, expected <= 0 {
            throw TransportError(.invalidArgument, "the expected message size must be positive, not \(expected)")
        }
        let context: ZMQContext
        if let given = options.context { context = given } else { context = try ZMQContext() }
        let socket = try ZMQSocket(context, type: pattern == .publish ? ZMQ.pub : ZMQ.push,
                                   lingerMilliseconds: Int32(clamping: options.linger.clampedNanoseconds / 1_000_000))
        if let expected = options.expectedMessageBytes {
            let highWaterMark = Int32(clamping: max(1, options.byteBudget / expected))
            try socket.setOption(ZMQ.sendHighWaterMark, highWaterMark, name: "ZMQ_SNDHWM")
        }
        if let curve = options.curve { try socket.configure(curve) }
        var bound: [Endpoint] = []
        for endpoint in bind { bound.append(try socket.bind(endpoint)) }
        for endpoint in connect { try socket.connect(endpoint) }

        self.stream = stream
        self.pattern = pattern
        self.boundEndpoints = bound
        self.core = SenderCore(
            stream: stream, pattern: pattern, socket: socket, options: options, logger: logger,
            ownedContext: options.context == nil ? context : nil)
        if let interval = options.heartbeatInterval {
            let core = self.core
            let nanoseconds = max(1_000_000, interval.clampedNanoseconds)
            try Sys.spawnThread(name: "aq-heartbeat") { core.runHeartbeats(intervalNanoseconds: nanoseconds) }
        }
    }

    deinit {
        core.close()
    }

    /// Sends one record; see the type's documentation for blocking and dropping.
    ///
    /// - Throws: ``TransportError/Code/timeout`` when a pusher found no room within
    ///   ``Options/sendTimeout``, ``TransportError/Code/closed``, ``TransportError/Code/invalidArgument``
    ///   for non-finite numbers in `meta` or an empty name, or the failing libzmq call.
    @discardableResult
    public func send(
        _ arrays: [NamedArray], timestamp: Timestamp = .now(), index: Int64? = nil, meta: [String: JSONValue] = [:]
    ) throws(TransportError) -> SendOutcome {
        try core.send(arrays, timestamp: timestamp, index: index, meta: meta)
    }

    /// Counters and state, as of now.
    public var statistics: SenderStatistics { core.statistics }

    /// Sends "end" (waiting at most the linger period for room) and closes the socket; messages
    /// already queued are still delivered during the linger period.
    public func close() {
        core.close()
    }
}

/// The sender's state, shared with its heartbeat thread.
final class SenderCore: Sendable {
    private struct State: ~Copyable {
        var socket: ZMQSocket
        var nextSequence: UInt64 = 0
    }

    let stream: String
    let pattern: ZeroMQSender.Pattern
    let epoch = UInt64.random(in: 1..<(1 << 53))
    private let options: ZeroMQSender.Options
    private let logger: Logger
    private let state: Mutex<State>
    private let inFlight = InFlightBytes()
    private let closing = Atomic<Bool>(false)
    private let lastActivity = Atomic<Int64>(Sys.monotonicNanoseconds())
    private let heartbeatEvents = EventCount()
    private let sentCount = Atomic<UInt64>(0)
    private let droppedCount = Atomic<UInt64>(0)
    private let bytesSent = Atomic<UInt64>(0)
    private let heartbeatCount = Atomic<UInt64>(0)
    private let nextSequence = Atomic<UInt64>(0)

    /// How long one wait for room lasts before `close()` is checked again.
    private static let waitSliceNanoseconds: Int64 = 100_000_000

    /// The sender's own context, terminated by `close()` to flush what is queued.
    private let ownedContext: ZMQContext?

    init(
        stream: String, pattern: ZeroMQSender.Pattern, socket: consuming sending ZMQSocket, options: ZeroMQSender.Options, logger: Logger,
        ownedContext: ZMQContext?
    ) {
        self.ownedContext = ownedContext
        self.stream = stream
        self.pattern = pattern
        self.options = options
        self.logger = logger
        self.state = Mutex(State(socket: socket))
    }

    var statistics: SenderStatistics {
        SenderStatistics(
            epoch: epoch, sent: sentCount.load(ordering: .relaxed), dropped: droppedCount.load(ordering: .relaxed),
            bytesSent: bytesSent.load(ordering: .relaxed), heartbeats: heartbeatCount.load(ordering: .relaxed),
            inFlightBytes: inFlight.current, nextSequence: nextSequence.load(ordering: .relaxed))
    }

    // MARK: Data

    func send(_ arrays: [NamedArray], timestamp: Timestamp, index: Int64?, meta: [String: JSONValue]) throws(TransportError) -> SendOutcome {
        guard !closing.load(ordering: .acquiring) else { throw TransportError(.closed, "the sender of stream '\(stream)' is closed") }
        guard JSONValue.object(meta).isFinite else {
            throw TransportError(.invalidArgument, "meta contains a NaN or infinite number, which JSON cannot carry")
        }
        var wireArrays: [WireHeader.WireArray] = []
        wireArrays.reserveCapacity(arrays.count)
        var payloadBytes = 0
        for named in arrays {
            wireArrays.append(.init(name: named.name, dtype: named.array.dtype, shape: named.array.shape, byteCount: named.array.byteCount))
            payloadBytes += named.array.byteCount
        }
        var header = WireHeader(
            kind: .data, stream: stream, epoch: epoch, sequence: 0, timestampNanoseconds: timestamp.nanosecondsSinceEpoch,
            index: index, arrays: wireArrays, meta: meta)
        let deadline = Duration.deadline(after: options.sendTimeout)
        let countsAgainstBudget = arrays.contains { $0.array.byteCount >= zeroCopyThreshold }

        return try state.withLock { (state: inout State) throws(TransportError) -> SendOutcome in
            guard state.socket.isOpen else { throw TransportError(.closed, "the sender of stream '\(stream)' is closed") }
            let sequence = state.nextSequence
            if countsAgainstBudget && !hasBudget(for: payloadBytes) {
                switch pattern {
                case .publish:
                    state.nextSequence += 1
                    nextSequence.store(state.nextSequence, ordering: .relaxed)
                    droppedCount.add(1, ordering: .relaxed)
                    return .dropped(sequence: sequence)
                case .push:
                    try waitForBudget(payloadBytes, deadline: deadline)
                }
            }
            header.sequence = Int64(sequence)
            try transmit(&state.socket, header: header.encoded(), arrays: arrays, deadline: deadline)
            state.nextSequence += 1
            nextSequence.store(state.nextSequence, ordering: .relaxed)
            sentCount.add(1, ordering: .relaxed)
            bytesSent.add(UInt64(payloadBytes), ordering: .relaxed)
            lastActivity.store(Sys.monotonicNanoseconds(), ordering: .relaxed)
            return .sent(sequence: sequence)
        }
    }

    /// Whether `bytes` more fit the budget. One message always fits when nothing is in flight,
    /// however large, so that a budget smaller than a message cannot stall the stream.
    private func hasBudget(for bytes: Int) -> Bool {
        let current = inFlight.current
        return current == 0 || current + bytes <= options.byteBudget
    }

    private func waitForBudget(_ bytes: Int, deadline: Int64?) throws(TransportError) {
        var pause: Int64 = 20_000
        while !hasBudget(for: bytes) {
            guard !closing.load(ordering: .relaxed) else { throw TransportError(.closed, "the sender of stream '\(stream)' was closed while waiting") }
            if let deadline, Sys.monotonicNanoseconds() >= deadline {
                throw TransportError(.timeout, "no room to send on stream '\(stream)' in time: \(inFlight.current) bytes are still in flight and the budget is \(options.byteBudget)")
            }
            Sys.sleep(nanoseconds: pause)
            pause = min(pause * 2, 1_000_000)
        }
    }

    /// Sends topic, header and payload frames as one multipart message. The first frame waits for
    /// room (pushers) until `deadline`; once libzmq took it, it takes the rest of the message too.
    private func transmit(_ socket: inout ZMQSocket, header: String, arrays: [NamedArray], deadline: Int64?) throws(TransportError) {
        var topic = try ZMQMessage(copying: stream)
        var headerFrame = try ZMQMessage(copying: header)
        try sendFirstFrame(&socket, &topic, more: true, deadline: deadline)
        _ = try socket.send(&headerFrame, more: !arrays.isEmpty, dontWait: true)
        for (position, named) in arrays.enumerated() {
            let more = position < arrays.count - 1
            var frame: ZMQMessage
            do {
                frame = try ZMQMessage(payload: named.array, inFlight: inFlight)
            } catch {
                // The message is under way and cannot be recalled: finish it with empty frames,
                // which receivers reject as malformed, and report the failure.
                for remaining in position..<arrays.count {
                    var empty = ZMQMessage()
                    _ = try? socket.send(&empty, more: remaining < arrays.count - 1, dontWait: true)
                }
                throw error
            }
            // `false` here means the peer vanished mid-message; libzmq discards the rest.
            _ = try socket.send(&frame, more: more, dontWait: true)
        }
    }

    private func sendFirstFrame(_ socket: inout ZMQSocket, _ frame: inout ZMQMessage, more: Bool, deadline: Int64?) throws(TransportError) {
        while true {
            if try socket.send(&frame, more: more, dontWait: true) { return }
            // Only a pusher without room gets here (a publisher never blocks).
            guard !closing.load(ordering: .relaxed) else { throw TransportError(.closed, "the sender of stream '\(stream)' was closed while waiting") }
            let now = Sys.monotonicNanoseconds()
            if let deadline, now >= deadline {
                throw TransportError(.timeout, "no puller took the message on stream '\(stream)' in time")
            }
            let slice = now + Self.waitSliceNanoseconds
            _ = try socket.wait(for: ZMQ.pollOut, deadline: deadline.map { min($0, slice) } ?? slice)
        }
    }

    // MARK: Control messages

    private func controlHeader(_ kind: WireHeader.Kind, nextSequence: UInt64) -> String {
        WireHeader(
            kind: kind, stream: stream, epoch: epoch,
            sequence: nextSequence == 0 ? WireHeader.noSequence : Int64(nextSequence - 1),
            timestampNanoseconds: Timestamp.now().nanosecondsSinceEpoch, index: nil, arrays: [], meta: [:]
        ).encoded()
    }

    /// Sends a two-frame control message if the socket has room now; returns whether it did.
    private func sendControl(_ socket: inout ZMQSocket, header: String) throws(TransportError) -> Bool {
        var topic = try ZMQMessage(copying: stream)
        var headerFrame = try ZMQMessage(copying: header)
        guard try socket.send(&topic, more: true, dontWait: true) else { return false }
        _ = try socket.send(&headerFrame, more: false, dontWait: true)
        return true
    }

    /// The heartbeat thread's loop: sleeps until the stream has been idle for the interval,
    /// sends a heartbeat, and ends when the sender closes.
    func runHeartbeats(intervalNanoseconds: Int64) {
        while true {
            let ticket = heartbeatEvents.ticket()
            if closing.load(ordering: .acquiring) { return }
            let due = lastActivity.load(ordering: .relaxed) + intervalNanoseconds
            if Sys.monotonicNanoseconds() < due {
                heartbeatEvents.wait(ticket, deadline: due)
                continue
            }
            // A send in progress holds the lock: the stream is not idle, so skip the heartbeat.
            let sent = state.withLockIfAvailable { (state: inout State) -> Bool in
                guard state.socket.isOpen else { return false }
                do throws(TransportError) {
                    return try sendControl(&state.socket, header: controlHeader(.heartbeat, nextSequence: state.nextSequence))
                } catch {
                    logger.warning("cannot send a heartbeat on stream '\(stream)': \(error)")
                    return false
                }
            }
            if sent == true { heartbeatCount.add(1, ordering: .relaxed) }
            lastActivity.store(Sys.monotonicNanoseconds(), ordering: .relaxed)
        }
    }

    /// Sends "end" and closes the socket; only the first call does anything.
    func close() {
        guard !closing.exchange(true, ordering: .acquiringAndReleasing) else { return }
        heartbeatEvents.signal()
        let lingerDeadline = Sys.monotonicNanoseconds() + options.linger.clampedNanoseconds
        state.withLock { (state: inout State) in
            guard state.socket.isOpen else { return }
            do throws(TransportError) {
                let header = controlHeader(.end, nextSequence: state.nextSequence)
                var sent = try sendControl(&state.socket, header: header)
                while !sent && pattern == .push && Sys.monotonicNanoseconds() < lingerDeadline {
                    _ = try state.socket.wait(for: ZMQ.pollOut, deadline: lingerDeadline)
                    sent = try sendControl(&state.socket, header: header)
                }
                if !sent { logger.debug("no room to send 'end' on stream '\(stream)'; closing without it") }
            } catch {
                logger.warning("cannot send 'end' on stream '\(stream)': \(error)")
            }
            state.socket.close()
        }
        // Waits (at most the linger period) until libzmq has sent what is still queued.
        ownedContext?.terminate()
    }
}
