public import ArrayQueues
public import Logging

/// Sends one stream of array records over ZeroMQ in the arrf/1 wire format (docs/WIRE.md).
///
/// ```swift
/// let sender = try ZeroMQSender(.publish, stream: "camera0", bind: [try Endpoint("tcp://*:5555")])
/// try sender.send(frame, name: "frame", index: frameNumber, meta: ["exposure_us": 1200])
/// sender.close()   // sends "end"
/// ```
///
/// - ``Pattern/publish`` (an XPUB socket): every connected subscriber gets every message. `send`
///   never blocks: a subscriber that cannot keep up loses messages at its high-water mark (and
///   sees the gap in the sequence numbers; the mark holds about one byte budget, see
///   ``Options/byteBudget``), and if the bytes held for all subscribers exceed the byte budget
///   times the number of connected peers, the sender drops the message itself
///   (``SendOutcome/dropped(sequence:)``). Only subscriptions that are prefixes of the stream's
///   name are applied; others are counted (``SenderStatistics/rejectedSubscriptions``) and dropped.
/// - ``Pattern/push`` (PUSH): each message goes to one connected puller, round robin. `send`
///   blocks while the pullers are full or the byte budget is used up, at most
///   ``Options/sendTimeout``.
///
/// Payloads of 4 KiB or more are sent without copying: libzmq reads the array's own storage,
/// which the sender keeps alive until libzmq releases it. While idle, the sender sends a
/// heartbeat every ``Options/heartbeatInterval`` (if positive) from a background thread; all socket use is
/// serialized by a lock. Safe to use from several threads.
///
/// A publisher or pusher that binds also offers the same-host fast path (``Options/fastPath``):
/// its heartbeats name a registry queue in `/dev/shm`, and receivers on this host that register
/// there get their messages through shared memory instead of the socket (see ``FastPath``): a
/// subscriber through a queue of its own that gets every message, the pullers through one
/// queue they share. While pullers of this host are attached, a pusher puts every message into
/// that queue and none on the socket, waiting for room as it waits for pullers (pullers on
/// other hosts get messages again once the local ones are gone). While messages flow, such a
/// sender still sends a heartbeat at least once per heartbeat interval, so that receivers
/// joining a busy stream see the offer.
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
        /// network), for each connected peer: peers that stop reading hold at most their own
        /// share, never the others'. Over it, a publisher drops and a pusher waits. Default 256 MiB.
        ///
        /// Each peer's queue is bounded too: the high-water mark (ZMQ_SNDHWM, counted in
        /// messages) is byte budget ÷ ``expectedMessageBytes``, or, without it, follows byte
        /// budget ÷ the largest of the last 256 to 512 messages (at most libzmq's 1000), for the
        /// peers already connected too. A peer that stops reading holds at most that many messages (about one
        /// budget) plus the one being written; libzmq drops the rest for that peer alone. A peer
        /// that leaves gives its share back within about 0.1 s, even while the sender is idle.
        public var byteBudget: Int
        /// The typical size of a message, if known: the per-peer high-water mark (ZMQ_SNDHWM,
        /// counted in messages) is then set to byte budget ÷ this size from the start.
        public var expectedMessageBytes: Int?
        /// Longest a pusher's `send` waits for room (nil: no limit). Publishers never wait.
        public var sendTimeout: Duration?
        /// How long the stream may be idle before a heartbeat is sent. nil, zero or negative: no
        /// heartbeats, as the C interface's `heartbeat_interval_ns = 0` and Python's
        /// `heartbeat_interval=0` (zero used to mean 1 ms); a positive interval under 1 ms is 1 ms.
        public var heartbeatInterval: Duration?
        /// How long unsent messages are kept after ``close()`` (ZMQ_LINGER).
        public var linger: Duration
        /// CURVE security, or nil for none.
        public var curve: CurveSecurity?
        /// The ZeroMQ context; nil gives the sender a context of its own, which ``ZeroMQSender/close()``
        /// terminates so that messages still queued are sent (within ``linger``) before it returns,
        /// even if the process exits right after.
        public var context: ZMQContext?
        /// The same-host fast path of a sender that binds (``FastPath``); ignored by senders
        /// that only connect, and only a publisher may require it. With it, a heartbeat carrying
        /// the offer goes out at least every ``heartbeatInterval`` (every second if it sends none),
        /// busy or not. Default ``FastPath/automatic``.
        public var fastPath: FastPath
        /// The fast path: the smallest capacity of the queue that the receivers on this host
        /// share, in bytes (default 64 MiB); it is made, at the first registration, large enough
        /// for four of the largest messages sent so far. A message larger than the queue sends
        /// them back to the network (a pusher's pullers for good, once they have emptied it).
        public var fastPathCapacity: Int
        /// With ``CurveSecurity/server(_:)``: the only clients accepted (ZAP); nil accepts any
        /// client that knows the server's public key.
        public var curveAllowList: CurveAllowList?
        /// A tcp peer that takes nothing for this long (its receive window stays closed, or it
        /// does not acknowledge) is disconnected (ZMQ_TCP_MAXRT, TCP_USER_TIMEOUT on Linux),
        /// which frees what libzmq held for it; it may connect again. nil: never. Default 30 s.
        public var stalledPeerTimeout: Duration?
        /// The most arrays ``ZeroMQSender/send(_:timestamp:index:meta:)`` sends in one message
        /// (default ``ArrayMessage/defaultMaximumArrays``, what receivers take by default); a
        /// longer message is refused with ``TransportError/Code/invalidArgument`` rather than sent
        /// for receivers to drop as malformed. Raise it together with the receivers' `maximumArrays`.
        public var maximumArrays: Int
        /// Most connections each bound endpoint (tcp:// or ipc://) keeps at once: each has its
        /// own share of the byte budget, so this bounds what peers can make the sender hold.
        /// Those a peer opens beyond it are shut down within about 0.1 s, newest first, so that
        /// peers already connected stay served (``SenderStatistics/peersDropped``). Connections
        /// this sender makes (`connect`) are not counted. nil: no limit. Default
        /// ``ZeroMQReceiver/defaultMaximumConnections`` (256).
        public var maximumConnections: Int?

        /// Options with the documented defaults.
        public init(
            byteBudget: Int = 256 << 20, expectedMessageBytes: Int? = nil, sendTimeout: Duration? = nil,
            heartbeatInterval: Duration? = .seconds(1), linger: Duration = .seconds(1), curve: CurveSecurity? = nil,
            context: ZMQContext? = nil, fastPath: FastPath = .automatic, curveAllowList: CurveAllowList? = nil,
            stalledPeerTimeout: Duration? = .seconds(30), fastPathCapacity: Int = 64 << 20,
            maximumArrays: Int = ArrayMessage.defaultMaximumArrays, maximumConnections: Int? = ZeroMQReceiver.defaultMaximumConnections
        ) {
            self.maximumArrays = maximumArrays
            self.maximumConnections = maximumConnections
            self.fastPathCapacity = fastPathCapacity
            self.curveAllowList = curveAllowList
            self.stalledPeerTimeout = stalledPeerTimeout
            self.byteBudget = byteBudget
            self.expectedMessageBytes = expectedMessageBytes
            self.sendTimeout = sendTimeout
            self.heartbeatInterval = heartbeatInterval
            self.linger = linger
            self.curve = curve
            self.context = context
            self.fastPath = fastPath
        }

        /// ``heartbeatInterval`` if the sender sends idle heartbeats (it is positive), else nil.
        var idleHeartbeatInterval: Duration? {
            guard let heartbeatInterval, heartbeatInterval > .zero else { return nil }
            return heartbeatInterval
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

    private let core: ZeroMQSenderEngine

    /// The nonce of the fast path this sender offers, nil if it offers none: every queue it
    /// makes is `/dev/shm/aq.aqfp.<nonce>…` (for tests that look for what it leaves behind).
    var fastPathNonce: String? { core.fastPathNonce }

    /// Longest stream name accepted, in UTF-8 bytes.
    public static let maximumStreamLength = 1024

    /// The largest frame a sender accepts from a peer, beyond the stream name's length: room for
    /// the handshake's commands (CURVE's INITIATE with metadata) and a subscription's framing.
    static let maximumInboundFrame = 4096

    /// Makes a sender that binds to `bind` and connects to `connect` (at least one endpoint).
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` for a bad stream name or option,
    ///   ``TransportError/Code/invalidEndpoint``, or the failing libzmq call (an address in use
    ///   is a ``TransportError/Code/zeroMQ`` error naming `zmq_bind`); with
    ///   ``FastPath/required``, ``TransportError/Code/fastPathUnavailable`` if the registry
    ///   cannot be made (``TransportError/Code/invalidArgument`` for a pusher or a publisher
    ///   that does not bind).
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
        guard options.fastPathCapacity >= ArrayQueue.minimumCapacity else {
            throw TransportError(.invalidArgument, "the fast path's capacity must be at least \(ArrayQueue.minimumCapacity) bytes, not \(options.fastPathCapacity)")
        }
        guard options.byteBudget > 0 else {
            throw TransportError(.invalidArgument, "the byte budget must be positive, not \(options.byteBudget)")
        }
        if let expected = options.expectedMessageBytes, expected <= 0 {
            throw TransportError(.invalidArgument, "the expected message size must be positive, not \(expected)")
        }
        if let maximum = options.maximumConnections, maximum <= 0 {
            throw TransportError(.invalidArgument, "the most connections per bound endpoint must be positive (nil for no limit), not \(maximum)")
        }
        let offersFastPath = !bind.isEmpty && options.fastPath != .disabled
        if options.fastPath == .required && (!offersFastPath || pattern != .publish) {
            throw TransportError(.invalidArgument, "the fast path can be required only by a publisher that binds an endpoint")
        }
        let context: ZMQContext
        if let given = options.context { context = given } else { context = try ZMQContext() }
        if let timeout = options.stalledPeerTimeout, timeout < .milliseconds(1) {
            throw TransportError(.invalidArgument, "the stalled-peer timeout must be at least 1 ms, not \(timeout)")
        }
        let socket = try ZMQSocket(context, type: pattern == .publish ? ZMQ.xpub : ZMQ.push,
                                   lingerMilliseconds: Int32(clamping: options.linger.clampedNanoseconds / 1_000_000))
        // Peers send only subscriptions (and the handshake): nothing longer than the stream's
        // name can match it, so larger frames only cost memory (libzmq's subscription trie).
        try socket.setOption(ZMQ.maximumMessageSize, int64: Int64(Self.maximumInboundFrame + stream.utf8.count), name: "ZMQ_MAXMSGSIZE")
        // libzmq applies subscriptions itself; the sender reads every one of them to count and
        // bound those outside the stream (``RefusedSubscriptions``). Not ZMQ_XPUB_MANUAL: in
        // libzmq 4.3.4 a subscription applied by hand after its peer left adds the peer's ended
        // pipe to the subscription trie (fixed in 4.3.5, libzmq#4137), and each later send
        // then reads that pipe, freed or not.
        if pattern == .publish { try socket.setOption(ZMQ.xpubVerboser, 1, name: "ZMQ_XPUB_VERBOSER") }
        if let timeout = options.stalledPeerTimeout {
            try socket.setOption(ZMQ.tcpMaximumRetransmit, Int32(clamping: timeout.clampedNanoseconds / 1_000_000), name: "ZMQ_TCP_MAXRT")
        }
        let monitorAddress = PeerMonitor.newAddress()
        try socket.monitor(monitorAddress, events: PeerMonitor.events)
        let peers = try PeerMonitor(context: context, address: monitorAddress, maximumConnections: options.maximumConnections)
        if let expected = options.expectedMessageBytes {
            let highWaterMark = ZeroMQSenderEngine.messages(of: expected, fittingIn: options.byteBudget)
            try socket.setOption(ZMQ.sendHighWaterMark, highWaterMark, name: "ZMQ_SNDHWM")
        }
        try socket.secure(options.curve, allowList: options.curveAllowList, binding: bind, logger: logger)
        var bound: [Endpoint] = []
        for endpoint in bind { bound.append(try socket.bind(endpoint)) }
        for endpoint in connect { try socket.connect(endpoint) }

        self.stream = stream
        self.pattern = pattern
        self.boundEndpoints = bound
        let epoch = UInt64.random(in: 1..<(1 << 53))
        var fastPath: FastPathPublisher?
        if offersFastPath {
            do throws(TransportError) {
                fastPath = try FastPathPublisher(
                    stream: stream, epoch: epoch, serverKey: options.curve?.serverPublicKey,
                    push: pattern == .push, sharedCapacity: options.fastPathCapacity, logger: logger)
            } catch where options.fastPath == .automatic {
                logger.info("stream '\(stream)': no same-host fast path, subscribers on this host use the network: \(error.message)")
            }
        }
        let core = ZeroMQSenderEngine(
            stream: stream, pattern: pattern, epoch: epoch, socket: socket, peers: peers, options: options, logger: logger,
            ownedContext: options.context == nil ? context : nil, fastPath: fastPath)
        self.core = core
        // Always: besides heartbeats, the thread keeps libzmq's commands handled while bytes are
        // in flight (see `ZeroMQSenderEngine.runHeartbeats()`).
        try Sys.spawnThread(name: "aq-heartbeat") { core.runHeartbeats() }
        if let fastPath {
            try Sys.spawnThread(name: "aq-fastpath") {
                fastPath.serve { queue, name in core.attachFastPathSubscriber(queue, name: name) }
            }
        }
    }

    deinit {
        core.close()
    }

    /// Sends one record; see the type's documentation for blocking and dropping.
    ///
    /// - Throws: ``TransportError/Code/timeout`` when a pusher found no room within
    ///   ``Options/sendTimeout``, ``TransportError/Code/closed``, ``TransportError/Code/invalidArgument``
    ///   for more than ``Options/maximumArrays`` arrays, non-finite numbers in `meta` (as every
    ///   sender) or a header beyond 64 KiB, or the failing libzmq call.
    @discardableResult
    public func send(
        _ arrays: [NamedArray], timestamp: Timestamp = .now(), index: Int64? = nil, meta: [String: JSONValue] = [:]
    ) throws(TransportError) -> SendOutcome {
        try core.send(arrays, timestamp: timestamp, index: index, meta: meta)
    }

    /// Counters and state, as of now.
    public var statistics: SenderStatistics { core.statistics }

    /// Sends "end" (waiting at most the linger period for room) and closes the socket; messages
    /// already queued are still delivered during the linger period. With the fast path, `end`
    /// also goes into every subscriber queue, and the registry is removed.
    public func close() {
        core.close()
    }
}
