import ArrayQueues
public import Logging
import Synchronization

/// Receives array records over ZeroMQ in the arrf/1 wire format (docs/WIRE.md).
///
/// ```swift
/// let receiver = try ZeroMQReceiver(.subscribe(prefixes: ["camera0"]), connect: [try Endpoint("tcp://camera-host:5555")])
/// while let message = try receiver.receive(timeout: .seconds(5)) {
///     let frame = try message["frame"]!.typed(as: UInt16.self)
/// }
/// ```
///
/// Every message is checked before it is delivered: the frame count, the header's size and
/// JSON, the protocol's major version, the kind, the required keys and their types, dtype,
/// shape (at most 32 non-negative extents, no overflow), `nbytes` against the shape and the
/// payload frame, the codec, and the total size. A message that breaks a rule is counted in
/// ``ReceiverStatistics/malformed``, logged (at most once a second, with a count of the rest)
/// and skipped; the receiver keeps going. Unknown header keys are ignored.
///
/// Payloads of 4 KiB or more are adopted without copying: the arrays delivered own the ZeroMQ
/// frames and close them when the last array using them goes away.
///
/// Safe to use from several threads; receives are serialized.
public final class ZeroMQReceiver: ArrayReceiver {
    /// The ZeroMQ pattern.
    public enum Pattern: Sendable, Hashable {
        /// Publish/subscribe: a SUB socket receiving the streams whose names start with one of
        /// `prefixes` (`""` matches every stream).
        case subscribe(prefixes: [String])
        /// Push/pull: a PULL socket; senders block when it is behind.
        case pull

        /// Subscribes to every stream.
        public static var subscribeAll: Pattern { .subscribe(prefixes: [""]) }
    }

    /// How a receiver behaves.
    public struct Options: Sendable {
        /// Largest message accepted, all frames together (default 1 GiB). Frames larger than this
        /// make libzmq drop the connection before reading them (ZMQ_MAXMSGSIZE).
        public var maximumMessageBytes: Int
        /// Most arrays one message may carry (default 256).
        public var maximumArrays: Int
        /// Bytes of messages the receiving queue may hold; with ``expectedMessageBytes`` it sets
        /// ZMQ_RCVHWM to budget ÷ size messages. Default 256 MiB.
        public var byteBudget: Int
        /// The typical message size, if known (see ``byteBudget``). Unset: libzmq's default of
        /// 1000 messages.
        public var expectedMessageBytes: Int?
        /// The heartbeat interval the senders use (default 1 s).
        public var heartbeatInterval: Duration
        /// After this many heartbeat intervals without any valid message, the peer counts as
        /// silent (``ReceiverStatistics/peerIsSilent``). Default 3.
        public var missedHeartbeatsBeforeSilent: Int
        /// Whether gaps in sequence numbers count as lost. Turn it off for a puller that shares a
        /// pusher with other pullers: each then sees only some of the sequence numbers.
        public var detectsLoss: Bool
        /// How long the socket lingers after ``ZeroMQReceiver/close()`` (ZMQ_LINGER). Default 0.
        public var linger: Duration
        /// CURVE security, or nil for none.
        public var curve: CurveSecurity?
        /// The ZeroMQ context; nil uses ``ZMQContext/shared()``.
        public var context: ZMQContext?

        /// Options with the documented defaults.
        public init(
            maximumMessageBytes: Int = 1 << 30, maximumArrays: Int = 256, byteBudget: Int = 256 << 20,
            expectedMessageBytes: Int? = nil, heartbeatInterval: Duration = .seconds(1), missedHeartbeatsBeforeSilent: Int = 3,
            detectsLoss: Bool = true, linger: Duration = .zero, curve: CurveSecurity? = nil, context: ZMQContext? = nil
        ) {
            self.maximumMessageBytes = maximumMessageBytes
            self.maximumArrays = maximumArrays
            self.byteBudget = byteBudget
            self.expectedMessageBytes = expectedMessageBytes
            self.heartbeatInterval = heartbeatInterval
            self.missedHeartbeatsBeforeSilent = missedHeartbeatsBeforeSilent
            self.detectsLoss = detectsLoss
            self.linger = linger
            self.curve = curve
            self.context = context
        }
    }

    /// The pattern.
    public let pattern: Pattern
    /// The endpoints bound, with wildcard ports resolved.
    public let boundEndpoints: [Endpoint]

    private struct State: ~Copyable {
        var socket: ZMQSocket
        var tracker = SequenceTracker()
    }

    private struct Counters {
        var statistics = ReceiverStatistics()
        var lastLogged: Int64?
        var suppressed = 0
    }

    private let options: Options
    private let logger: Logger
    private let state: Mutex<State>
    private let counters = Mutex(Counters())
    private let closed = Atomic<Bool>(false)
    private let lastActivity = Atomic<Int64>(Sys.monotonicNanoseconds())

    /// How long one wait lasts before ``close()`` is checked again.
    private static let waitSliceNanoseconds: Int64 = 100_000_000

    /// Makes a receiver that binds to `bind` and connects to `connect` (at least one endpoint).
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` for a bad option,
    ///   ``TransportError/Code/invalidEndpoint``, or the failing libzmq call.
    public init(
        _ pattern: Pattern, bind: [Endpoint] = [], connect: [Endpoint] = [], options: Options = Options(),
        logger: Logger = Logger(label: "ArrayTransport.ZeroMQReceiver")
    ) throws(TransportError) {
        guard !bind.isEmpty || !connect.isEmpty else {
            throw TransportError(.invalidArgument, "a receiver needs at least one endpoint to bind or connect to")
        }
        guard options.maximumMessageBytes > 0, options.maximumArrays >= 0, options.byteBudget > 0,
              options.missedHeartbeatsBeforeSilent > 0, options.heartbeatInterval > .zero else {
            throw TransportError(.invalidArgument, "receiver options must be positive (maximumMessageBytes, byteBudget, heartbeatInterval, missedHeartbeatsBeforeSilent) and maximumArrays non-negative")
        }
        if let expected = options.expectedMessageBytes, expected <= 0 {
            throw TransportError(.invalidArgument, "the expected message size must be positive, not \(expected)")
        }
        let context: ZMQContext
        if let given = options.context { context = given } else { context = try ZMQContext.shared() }
        let socket: ZMQSocket
        switch pattern {
        case .subscribe: socket = try ZMQSocket(context, type: ZMQ.sub, lingerMilliseconds: Int32(clamping: options.linger.clampedNanoseconds / 1_000_000))
        case .pull: socket = try ZMQSocket(context, type: ZMQ.pull, lingerMilliseconds: Int32(clamping: options.linger.clampedNanoseconds / 1_000_000))
        }
        try socket.setOption(ZMQ.maximumMessageSize, int64: Int64(options.maximumMessageBytes), name: "ZMQ_MAXMSGSIZE")
        if let expected = options.expectedMessageBytes {
            try socket.setOption(ZMQ.receiveHighWaterMark, Int32(clamping: max(1, options.byteBudget / expected)), name: "ZMQ_RCVHWM")
        }
        if let curve = options.curve { try socket.configure(curve) }
        if case let .subscribe(prefixes) = pattern {
            for prefix in prefixes { try socket.subscribe(prefix) }
        }
        var bound: [Endpoint] = []
        for endpoint in bind { bound.append(try socket.bind(endpoint)) }
        for endpoint in connect { try socket.connect(endpoint) }

        self.pattern = pattern
        self.boundEndpoints = bound
        self.options = options
        self.logger = logger
        self.state = Mutex(State(socket: socket))
    }

    deinit {
        close()
    }

    /// Stops receiving; waiting calls end within ~100 ms with ``TransportError/Code/closed``.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        state.withLock { $0.socket.close() }
    }

    /// Counters and state, as of now.
    public var statistics: ReceiverStatistics {
        var statistics = counters.withLock { $0.statistics }
        let silence = max(0, Sys.monotonicNanoseconds() - lastActivity.load(ordering: .relaxed))
        statistics.silence = .nanoseconds(silence)
        statistics.peerIsSilent = statistics.silence > options.heartbeatInterval * options.missedHeartbeatsBeforeSilent
        return statistics
    }

    /// Waits for the next data, heartbeat or end message, at most `timeout` (nil: no limit).
    /// Malformed messages are counted and skipped.
    ///
    /// - Returns: the event, or nil when the timeout passed first.
    /// - Throws: ``TransportError/Code/closed`` once the receiver is closed, or a failing libzmq call.
    public func receiveEvent(timeout: Duration?) throws(TransportError) -> ReceiveEvent? {
        let deadline = Duration.deadline(after: timeout)
        while true {
            guard !closed.load(ordering: .acquiring) else { throw TransportError(.closed, "the receiver is closed") }
            let slice = Sys.monotonicNanoseconds() + Self.waitSliceNanoseconds
            let sliceDeadline = deadline.map { min($0, slice) } ?? slice
            let event = try state.withLock { (state: inout State) throws(TransportError) -> ReceiveEvent? in
                guard state.socket.isOpen else { throw TransportError(.closed, "the receiver is closed") }
                guard try state.socket.wait(for: ZMQ.pollIn, deadline: sliceDeadline) else { return nil }
                return try readMessage(&state)
            }
            if let event { return event }
            if let deadline, Sys.monotonicNanoseconds() >= deadline { return nil }
        }
    }

    // MARK: - Reading and checking

    /// Reads one whole multipart message; returns its event, or nil if it was malformed.
    private func readMessage(_ state: inout State) throws(TransportError) -> ReceiveEvent? {
        let maximumFrames = 2 + options.maximumArrays
        var frames: [ReceivedFrame] = []
        var frameCount = 0
        var totalBytes = 0
        while true {
            guard let message = try state.socket.receive(dontWait: true) else { break }
            let more = message.hasMore
            frameCount += 1
            totalBytes += message.count
            // Past the limits, frames are read and dropped at once so that memory stays bounded
            // and the next message starts at its first frame.
            if frameCount <= maximumFrames && totalBytes <= options.maximumMessageBytes {
                frames.append(ReceivedFrame(message))
            }
            if !more { break }
        }
        guard frameCount > 0 else { return nil }
        do throws(TransportError) {
            guard frameCount <= maximumFrames else {
                throw .malformed("the message has \(frameCount) frames; at most \(maximumFrames) are allowed (topic, header and up to \(options.maximumArrays) arrays)")
            }
            guard totalBytes <= options.maximumMessageBytes else {
                throw .malformed("the message is \(totalBytes) bytes long; at most \(options.maximumMessageBytes) are allowed")
            }
            return try decode(frames, tracker: &state.tracker)
        } catch {
            reject(error)
            return nil
        }
    }

    private func decode(_ frames: [ReceivedFrame], tracker: inout SequenceTracker) throws(TransportError) -> ReceiveEvent {
        guard frames.count >= 2 else {
            throw .malformed("the message has \(frames.count) frame; an arrf message has a topic frame, a header frame and one frame per array")
        }
        guard let topic = String(validating: frames[0].bytes, as: UTF8.self) else {
            throw .malformed("the topic frame is not valid UTF-8")
        }
        let header = try WireHeader.decode(frames[1].bytes, maximumArrays: options.maximumArrays)
        guard header.stream == topic else {
            throw .malformed("the header names stream '\(header.stream)' but the topic frame says '\(topic)'")
        }
        let payloads = frames.count - 2
        guard payloads == header.arrays.count else {
            throw .malformed("the header lists \(header.arrays.count) arrays but \(payloads) payload frames follow")
        }
        var arrays: [NamedArray] = []
        arrays.reserveCapacity(payloads)
        var copied: UInt64 = 0
        var bytes = 0
        for (position, wire) in header.arrays.enumerated() {
            let frame = frames[2 + position]
            guard frame.count == wire.byteCount else {
                throw .malformed("arrays[\(position)] ('\(wire.name)') says nbytes \(wire.byteCount), but its payload frame has \(frame.count) bytes")
            }
            let (array, copiedLarge) = try frame.array(dtype: wire.dtype, shape: wire.shape)
            if copiedLarge { copied += 1 }
            bytes += wire.byteCount
            arrays.append(NamedArray(wire.name, array))
        }

        let now = Sys.monotonicNanoseconds()
        let observation = tracker.observe(header, now: now)
        lastActivity.store(now, ordering: .relaxed)
        counters.withLock { counters in
            var statistics = counters.statistics
            if options.detectsLoss { statistics.lost += observation.lost }
            if observation.outOfOrder { statistics.outOfOrder += 1 }
            if observation.newEpoch { statistics.epochsSeen += 1 }
            if observation.restart { statistics.restarts += 1 }
            statistics.copiedPayloads += copied
            switch header.kind {
            case .data:
                statistics.received += 1
                statistics.bytesReceived += UInt64(bytes)
            case .heartbeat: statistics.heartbeats += 1
            case .end: statistics.ends += 1
            }
            counters.statistics = statistics
        }
        if observation.restart {
            logger.info("stream '\(header.stream)' has a new sender (epoch \(header.epoch))")
        }
        if observation.lost > 0 && options.detectsLoss {
            logger.debug("stream '\(header.stream)' lost \(observation.lost) messages before seq \(header.sequence)")
        }

        let timestamp = Timestamp(nanosecondsSinceEpoch: header.timestampNanoseconds)
        switch header.kind {
        case .data:
            return .message(ArrayMessage(
                stream: header.stream, arrays: arrays, timestamp: timestamp, index: header.index, meta: header.meta,
                sequence: UInt64(header.sequence), epoch: header.epoch))
        case .heartbeat, .end:
            let mark = StreamMark(
                stream: header.stream, epoch: header.epoch,
                lastSequence: header.sequence < 0 ? nil : UInt64(header.sequence), timestamp: timestamp)
            return header.kind == .end ? .end(mark) : .heartbeat(mark)
        }
    }

    /// Counts a malformed message and logs it, at most once a second.
    private func reject(_ error: TransportError) {
        let now = Sys.monotonicNanoseconds()
        let suppressed: Int? = counters.withLock { counters in
            counters.statistics.malformed += 1
            counters.statistics.lastMalformedReason = error.message
            if let lastLogged = counters.lastLogged, now - lastLogged < 1_000_000_000 {
                counters.suppressed += 1
                return nil
            }
            counters.lastLogged = now
            defer { counters.suppressed = 0 }
            return counters.suppressed
        }
        if let suppressed {
            let more = suppressed > 0 ? " (and \(suppressed) more malformed messages since the last report)" : ""
            logger.warning("skipped a malformed message: \(error.message)\(more)")
        }
    }
}
