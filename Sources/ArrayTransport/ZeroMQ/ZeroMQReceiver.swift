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
/// The borrowing receives (``ArrayReceiver/receive(timeout:_:)``) lend each message with its
/// arrays in place: in the received ZeroMQ frames, or on the fast path in the record of the
/// shared-memory queue, which every local subscriber of a publisher reads at the same time. The
/// owned receives copy on top of that: payloads of 4 KiB or more in frames are adopted without
/// copying (the arrays own the frames and close them when the last array using them goes away),
/// records in shared memory are copied out.
///
/// A subscriber that connects to one publisher, or a puller that connects to one pusher, takes
/// the same-host fast path when the sender offers it (``Options/fastPath``, ``FastPath``): a
/// subscriber then receives through a shared-memory queue of its own, a puller through the
/// queue that the pusher's pullers on this host share, without losing, repeating or
/// reordering a message at the switch; ``path`` and ``ReceiverStatistics/path`` tell which path is in use, and the switch,
/// or the reason for staying on (or going back to) the network, is logged at `info` level.
///
/// Between receive calls, a housekeeping thread of the receiver's own checks its connections
/// about every 0.1 s (``Options/maximumConnections``, the bound on what libzmq holds for one,
/// the monitor's events); ``close()`` ends it before it returns.
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
        /// Largest message accepted, all frames together (default 1 GiB). A frame larger than this
        /// makes libzmq drop the connection before reading it (ZMQ_MAXMSGSIZE); a message whose
        /// frames together exceed it is counted as malformed and skipped. libzmq 4.3 holds a
        /// multipart message whole before delivering any frame of it and bounds only each frame,
        /// so a tcp connection for which libzmq holds more than ZMQ_RCVHWM + 1 messages of this
        /// size on the wire, or more than one while it holds no complete message, is dropped
        /// instead (``ReceiverStatistics/peersDropped``; checked every 5 to 10 ms while a receive
        /// call runs, and about every 0.1 s otherwise, docs/RELIABILITY.md).
        public var maximumMessageBytes: Int
        /// Most arrays one message may carry (default ``ArrayMessage/defaultMaximumArrays``, 256,
        /// what senders send at most by default); a message with more is dropped as malformed.
        public var maximumArrays: Int
        /// Bytes of messages the receiving queue may hold for each connected peer: ZMQ_RCVHWM is
        /// budget ÷ ``expectedMessageBytes`` messages, or budget ÷ min(``maximumMessageBytes``,
        /// 256 KiB) if that is unset (at least 1). A peer that sends larger messages than that
        /// makes libzmq hold up to that many messages of ``maximumMessageBytes`` each: against
        /// untrusted peers, set ``maximumMessageBytes`` (and ``expectedMessageBytes``) to what the
        /// stream really carries, as `aq-relay subscribe` does. Default 256 MiB.
        public var byteBudget: Int
        /// The typical message size, if known (see ``byteBudget``); unset, 256 KiB is assumed.
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
        /// The same-host fast path (``FastPath``), for a subscriber or puller that connects to
        /// exactly one endpoint and binds none; others always use the network. Only a subscriber
        /// may require it. Default ``FastPath/automatic``.
        public var fastPath: FastPath
        /// No longer used: the receivers on a host share the sender's data queue, whose size
        /// the sender chooses (``ZeroMQSender/Options/fastPathCapacity``). Kept so that code
        /// (and the C interface) that sets it still builds; it is checked, then ignored.
        public var fastPathCapacity: Int
        /// With ``FastPath/required``: how long the receiver may take to switch to shared memory
        /// before `receiveEvent` fails with ``TransportError/Code/fastPathUnavailable`` (and
        /// again after each such failure, or after the publisher went away). Default 5 s.
        public var fastPathTimeout: Duration
        /// With ``CurveSecurity/server(_:)``: the only clients accepted (ZAP); nil accepts any
        /// client that knows the server's public key.
        public var curveAllowList: CurveAllowList?
        /// Most connections each bound endpoint (tcp:// or ipc://) keeps at once; those a peer
        /// opens beyond it are shut down as soon as they are seen, newest first, so that peers
        /// already connected stay served (``ReceiverStatistics/peersDropped``). Applied every 5
        /// to 10 ms while a receive call runs, like the bound on unfinished messages (see
        /// ``maximumMessageBytes``), and otherwise within about 0.1 s by the receiver's
        /// housekeeping thread. Connections this receiver makes (`connect`) are not counted.
        /// nil: no limit.
        /// Default ``ZeroMQReceiver/defaultMaximumConnections`` (256).
        public var maximumConnections: Int?

        /// Options with the documented defaults.
        public init(
            maximumMessageBytes: Int = 1 << 30, maximumArrays: Int = ArrayMessage.defaultMaximumArrays, byteBudget: Int = 256 << 20,
            expectedMessageBytes: Int? = nil, heartbeatInterval: Duration = .seconds(1), missedHeartbeatsBeforeSilent: Int = 3,
            detectsLoss: Bool = true, linger: Duration = .zero, curve: CurveSecurity? = nil, context: ZMQContext? = nil,
            fastPath: FastPath = .automatic, fastPathCapacity: Int = 64 << 20, fastPathTimeout: Duration = .seconds(5),
            curveAllowList: CurveAllowList? = nil, maximumConnections: Int? = ZeroMQReceiver.defaultMaximumConnections
        ) {
            self.curveAllowList = curveAllowList
            self.maximumConnections = maximumConnections
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
            self.fastPath = fastPath
            self.fastPathCapacity = fastPathCapacity
            self.fastPathTimeout = fastPathTimeout
        }
    }

    /// The pattern.
    public let pattern: Pattern
    /// The endpoints bound, with wildcard ports resolved.
    public let boundEndpoints: [Endpoint]

    /// How data messages arrive now: ``TransportPath/network`` or, after a switch to the
    /// same-host fast path, ``TransportPath/sharedMemory``.
    public var path: TransportPath { counters.withLock { $0.statistics.path } }

    struct State: ~Copyable {
        var socket: ZMQSocket
        var tracker = SequenceTracker()
        /// The same-host fast path, if this receiver may take it.
        var link: FastPathLink?
    }

    struct Counters {
        var statistics = ReceiverStatistics()
    }

    /// Malformed messages are logged at most once a second, new senders once every 10 s.
    let malformedLogs = Throttle(every: .seconds(1))
    let restartLogs = Throttle(every: .seconds(10))
    /// Connections cut for the connection limit are logged at most once every 10 s.
    let connectionLimitLogs = Throttle(every: .seconds(10))

    let options: Options
    let logger: Logger
    /// The topic prefixes subscribed to (empty for a puller).
    let prefixes: [String]
    private let state: Mutex<State>
    /// Drops connections for which libzmq holds more than a queue of messages (an unfinished
    /// one), and those beyond the connection limit. Not in `state`: it touches descriptors and
    /// the monitor's socket, never the receiver's socket, so that the housekeeping thread can
    /// check while a receive holds `state` (or its `body` runs). Taken after `state`, never before.
    let inbound: Mutex<InboundGuard>
    /// Runs the checks of ``guardInbound()`` while no receive does (``lookAfterConnections()``).
    let housekeeping = HousekeepingThread(everyNanoseconds: ZeroMQReceiver.housekeepingNanoseconds)
    /// When ``guardInbound()`` last ran (monotonic ns).
    let lastGuarded = Atomic<Int64>(Sys.monotonicNanoseconds())
    let counters = Mutex(Counters())
    /// Set by the first ``close()``.
    let closed = Atomic<Bool>(false)
    /// The threads in a receive (whose `body` runs under the `state` lock): a receive from that
    /// body is refused, and a ``close()`` from it must not take the lock again.
    private let lending = LendingThreads()
    let lastActivity = Atomic<Int64>(Sys.monotonicNanoseconds())

    /// How long one wait lasts before ``close()`` and the ``InboundGuard`` are checked again: what
    /// an endless message can add before it is noticed is its rate times this.
    static let waitSliceNanoseconds: Int64 = 10_000_000
    /// Longest time between two checks of the connections (``InboundGuard``, ``ConnectionLimit``)
    /// while no receive call makes them: the housekeeping thread's interval, as a sender's.
    static let housekeepingNanoseconds: Int64 = 100_000_000
    /// The message size the receive high-water mark assumes when ``Options/expectedMessageBytes``
    /// is not given: 256 KiB, so that the default budget of 256 MiB is about libzmq's own default
    /// of 1000 messages.
    static let assumedMessageBytes = 256 << 10

    /// The default of ``Options/maximumConnections``: far more peers than one stream serves in
    /// practice, and few enough that a few listeners stay within the default limit of 1024 open
    /// descriptors per process (each connection takes one) and that the connections' buffers
    /// stay in the tens of megabytes (docs/RELIABILITY.md, "Many connections").
    public static let defaultMaximumConnections = 256

    /// Makes a receiver that binds to `bind` and connects to `connect` (at least one endpoint).
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` for a bad option (or a required fast
    ///   path for a receiver that cannot take it), ``TransportError/Code/invalidEndpoint``, or
    ///   the failing libzmq call.
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
        if let maximum = options.maximumConnections, maximum <= 0 {
            throw TransportError(.invalidArgument, "the most connections per bound endpoint must be positive (nil for no limit), not \(maximum)")
        }
        var prefixes: [String] = []
        if case let .subscribe(subscribed) = pattern { prefixes = subscribed }
        let isPuller = pattern == .pull
        let mayTakeFastPath = (!prefixes.isEmpty || isPuller) && bind.isEmpty && connect.count == 1 && options.fastPath != .disabled
        if options.fastPath == .required && (!mayTakeFastPath || isPuller) {
            throw TransportError(.invalidArgument, "the fast path can be required only by a subscriber that connects to exactly one endpoint and binds none")
        }
        guard options.fastPathCapacity >= ArrayQueue.minimumCapacity, options.fastPathTimeout > .zero else {
            throw TransportError(.invalidArgument, "the fast path's capacity must be at least \(ArrayQueue.minimumCapacity) bytes and its timeout positive")
        }
        let context: ZMQContext
        if let given = options.context { context = given } else { context = try ZMQContext.shared() }
        let socket: ZMQSocket
        switch pattern {
        case .subscribe: socket = try ZMQSocket(context, type: ZMQ.sub, lingerMilliseconds: Int32(clamping: options.linger.clampedNanoseconds / 1_000_000))
        case .pull: socket = try ZMQSocket(context, type: ZMQ.pull, lingerMilliseconds: Int32(clamping: options.linger.clampedNanoseconds / 1_000_000))
        }
        try socket.setOption(ZMQ.maximumMessageSize, int64: Int64(options.maximumMessageBytes), name: "ZMQ_MAXMSGSIZE")
        // From bytes. Without an expected size, messages are assumed to be at most
        // `assumedMessageBytes`: deriving the mark from `maximumMessageBytes` alone (1 GiB by
        // default) gave one message, and libzmq then lost the messages still on their way when
        // a pusher closed (the C transport example lost its last message and `end`).
        let perMessage = options.expectedMessageBytes ?? min(options.maximumMessageBytes, Self.assumedMessageBytes)
        let highWaterMark = Int32(clamping: max(1, options.byteBudget / perMessage))
        try socket.setOption(ZMQ.receiveHighWaterMark, highWaterMark, name: "ZMQ_RCVHWM")
        let monitorAddress = PeerMonitor.newAddress()
        try socket.monitor(monitorAddress, events: PeerMonitor.events)
        let inboundGuard = InboundGuard(
            monitor: try PeerMonitor(context: context, address: monitorAddress, maximumConnections: options.maximumConnections),
            queuedMessages: Int(highWaterMark),
            maximumMessageBytes: options.maximumMessageBytes, maximumFrames: 2 + options.maximumArrays, curve: options.curve != nil)
        try socket.secure(options.curve, allowList: options.curveAllowList, binding: bind, logger: logger)
        if case let .subscribe(prefixes) = pattern {
            for prefix in prefixes { try socket.subscribe(prefix) }
        }
        var bound: [Endpoint] = []
        for endpoint in bind { bound.append(try socket.bind(endpoint)) }
        for endpoint in connect { try socket.connect(endpoint) }

        var link: FastPathLink?
        if mayTakeFastPath {
            link = FastPathLink(mode: options.fastPath, serverKey: options.curve?.serverPublicKey, pull: isPuller)
            if options.fastPath == .required {
                link?.requiredDeadline = Sys.monotonicNanoseconds() + options.fastPathTimeout.clampedNanoseconds
            }
        }
        self.pattern = pattern
        self.prefixes = prefixes
        self.boundEndpoints = bound
        self.options = options
        self.logger = logger
        self.state = Mutex(State(socket: socket, link: link))
        self.inbound = Mutex(inboundGuard)
        // Last: the receiver is whole. Weakly, so that a receiver nobody holds still goes away
        // (its deinit closes it, which stops the thread).
        try housekeeping.start(name: "aq-receiver-housekeeping") { [weak self] in self?.lookAfterConnections() }
    }

    deinit {
        close()
    }

    /// Stops receiving; waiting calls end within ~100 ms with ``TransportError/Code/closed``. The
    /// housekeeping thread has ended when it returns.
    /// Called from a receive's `body`, it returns at once, and that receive releases the socket
    /// when `body` returns (the message stays readable until then).
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // First, so that no check touches the monitor or a descriptor once they are released.
        // It never waits for `state`, so this is safe from `body` too.
        housekeeping.stop()
        // This thread holds the lock, in `body`: the receive tears down (see lendEvent).
        guard !lending.includesCurrentThread else { return }
        state.withLock { tearDown(&$0) }
    }

    /// Releases the socket, its monitor and the fast path; does nothing the second time.
    private func tearDown(_ state: inout State) {
        guard state.socket.isOpen else { return }
        if let attempt = state.link?.attempt { FastPathLink.discard(attempt) }
        state.link = nil
        state.socket.stopMonitor()
        state.socket.close()
        inbound.withLock { $0.close() }
    }

    /// Counters and state, as of now.
    public var statistics: ReceiverStatistics {
        var statistics = counters.withLock { $0.statistics }
        let silence = max(0, Sys.monotonicNanoseconds() - lastActivity.load(ordering: .relaxed))
        statistics.silence = .nanoseconds(silence)
        // In saturating integers: both are options a caller chose, and `Duration * Int` traps on overflow.
        let (allowed, overflow) = options.heartbeatInterval.clampedNanoseconds.multipliedReportingOverflow(by: Int64(options.missedHeartbeatsBeforeSilent))
        statistics.peerIsSilent = overflow ? false : silence > allowed
        return statistics
    }

    /// What a receive does with the event it found: the borrowing receive's body.
    typealias Lend = (borrowing BorrowedReceiveEvent) -> Void

    /// Waits for the next data, heartbeat or end message, at most `timeout` (nil: no limit), and
    /// lends it to `body`: its arrays are the received frames, or the record in the fast path's
    /// queue, read in place. Malformed messages are counted and skipped.
    ///
    /// `body` runs while this receiver's receives are serialized: a ``close()`` from another
    /// thread waits until it returns; one from `body` takes effect when it returns.
    /// - Returns: true once `body` was called, false when the timeout passed first.
    /// - Throws: ``TransportError/Code/closed`` once the receiver is closed,
    ///   ``TransportError/Code/fastPathUnavailable`` (a required fast path),
    ///   ``TransportError/Code/invalidArgument`` for a receive from `body` itself, or a failing
    ///   libzmq call.
    public func lendEvent(timeout: Duration?, to body: (borrowing BorrowedReceiveEvent) -> Void) throws(TransportError) -> Bool {
        // `body` runs holding the receives' lock: a receive from it would take that lock again.
        try lending.enter()
        defer { lending.leave() }
        let deadline = Duration.deadline(after: timeout)
        while true {
            guard !closed.load(ordering: .acquiring) else { throw TransportError(.closed, "the receiver is closed") }
            let slice = Sys.monotonicNanoseconds() + Self.waitSliceNanoseconds
            let sliceDeadline = deadline.map { min($0, slice) } ?? slice
            let lent = try state.withLock { (state: inout State) throws(TransportError) -> Bool in
                guard state.socket.isOpen else { throw TransportError(.closed, "the receiver is closed") }
                defer {
                    // A close() from `body` left the teardown to this receive, which holds the lock.
                    if closed.load(ordering: .acquiring) { tearDown(&state) }
                }
                guardInbound()
                guard state.link != nil else {
                    guard try state.socket.wait(for: ZMQ.pollIn, deadline: sliceDeadline) else {
                        inbound.withLock { $0.noteStarved() }
                        return false
                    }
                    guard let incoming = try readMessage(&state) else { return false }
                    return accept(incoming, &state, throughSharedMemory: false, to: body)
                }
                return try receiveWithFastPath(&state, until: sliceDeadline, to: body)
            }
            if lent { return true }
            if let deadline, Sys.monotonicNanoseconds() >= deadline { return false }
        }
    }
}
