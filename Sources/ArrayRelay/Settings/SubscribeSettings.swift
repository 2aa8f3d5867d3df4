public import ArrayQueues
public import ArrayTransport
import Foundation

/// What `aq-relay subscribe`'s command line sets; each value that is not nil overrides the
/// `[subscribe]` table of the configuration file.
public struct SubscribeOverrides: Sendable {
    /// Relays to receive from; replace the file's endpoints when not empty.
    public var endpoints: [String] = []
    /// Bind the endpoints instead of connecting.
    public var bind = false
    /// The local queue.
    public var queue: String?
    /// Stream-name prefixes (pubsub).
    public var streams: [String] = []
    /// The ZeroMQ pattern.
    public var pattern: StreamPattern?
    /// Capacity of the local queue if created.
    public var capacity: Int?
    /// The local queue's overflow policy.
    public var overflow: OverflowPolicy?
    /// How long a put waits for room.
    public var putTimeout: TimeLimit?
    /// Write envelopes.
    public var envelopes = false
    /// Frames ZeroMQ may buffer on arrival.
    public var receiveQueue: Int?
    /// Largest message accepted.
    public var maxMessageSize: Int?
    /// The relay's heartbeat interval.
    public var heartbeat: Duration?
    /// The relay's CURVE public key.
    public var curveServerKey: String?
    /// This subscriber's CURVE secret key file.
    public var curveSecretKeyFile: String?
    /// Most connections each bound endpoint keeps at once; 0 for no limit.
    public var maxConnections: Int?
    /// Receive with libzmq's zero-copy (trusted relays only; see ``SubscribeSettings/zeroCopyReceive``).
    public var zeroCopyReceive = false

    /// Nothing overridden.
    public init() {}
}

/// Everything `aq-relay subscribe` runs with.
public struct SubscribeSettings: Sendable {
    /// The daemon's own settings.
    public var common: CommonSettings
    /// The ZeroMQ pattern; must match the relay's.
    public var pattern: StreamPattern = .pubsub
    /// Relays to connect to.
    public var connect: [Endpoint] = []
    /// Endpoints to bind (when the relays connect).
    public var bind: [Endpoint] = []
    /// Stream-name prefixes to receive (pubsub); `[""]` is every stream.
    public var streams: [String] = [""]
    /// The local queue written into.
    public var queue: String
    /// Capacity of the local queue if it has to be created.
    public var capacity = 256 << 20
    /// The local queue's overflow policy.
    public var overflow: OverflowPolicy = .block
    /// nil: wait without limit.
    public var putTimeout: Duration?
    /// Keep stream, epoch and sequence in every record (see ``SubscribeOverrides/envelopes``).
    public var envelopes = false
    /// Frames ZeroMQ may buffer on arrival.
    public var receiveQueue = 8
    /// Largest message accepted; a larger one drops the connection.
    public var maximumMessageBytes = 1 << 30
    /// The relay's heartbeat interval (silence is three of them).
    public var heartbeat: Duration = .seconds(1)
    /// The relay's CURVE public key.
    public var curveServerKey: String?
    /// This subscriber's CURVE secret key file.
    public var curveSecretKeyFile: String?
    /// Made from the two above when the settings are resolved.
    public var curve: CurveSecurity?
    /// Most connections each bound endpoint keeps at once (with ``bind``; beyond it, the
    /// newest are shut down); nil for no limit.
    public var maxConnections: Int? = ZeroMQReceiver.defaultMaximumConnections
    /// Receive with libzmq's zero-copy (`ZMQContext(zeroCopyReceive:)`): a copy less per frame,
    /// but a peer's small frames can then pin libzmq's read buffers beyond the receive queue's
    /// bound, so only for relays that are trusted (docs/RELIABILITY.md).
    public var zeroCopyReceive = false

    /// Defaults for writing into `queue`, under `common`.
    public init(common: CommonSettings, queue: String) {
        self.common = common
        self.queue = queue
    }

    /// Merges the configuration file (`file`, if any), the command line and the defaults, and
    /// checks the result as a whole; reads the CURVE key file it names.
    public static func resolve(document file: ConfigTable?, common commonOptions: CommonOverrides, subscribe options: SubscribeOverrides) throws(RelayError) -> SubscribeSettings {
        let table = try file?.table("subscribe")
        file?.allow("serve")
        let where_ = table.map { "\($0.file) [subscribe]" } ?? "the configuration"

        let fileQueue = try table?.string("queue")
        guard let queue = options.queue ?? fileQueue else {
            throw .configuration("no local queue to write into: give --queue NAME (or queue = \"NAME\" in [subscribe])")
        }
        try Values.checkQueueName(queue, what: options.queue != nil ? "--queue" : "\(where_) queue")
        var settings = SubscribeSettings(
            common: try CommonSettings.resolve(file: file, options: commonOptions, defaultName: "subscribe-\(queue)"), queue: queue)

        if !options.endpoints.isEmpty {
            let endpoints = try options.endpoints.map { text throws(RelayError) in try Values.endpoint(text, what: "endpoint") }
            if options.bind { settings.bind = endpoints } else { settings.connect = endpoints }
            _ = try table?.endpoints("connect")
            _ = try table?.endpoints("bind")
        } else {
            settings.connect = try table?.endpoints("connect") ?? []
            settings.bind = try table?.endpoints("bind") ?? []
        }
        guard !settings.connect.isEmpty || !settings.bind.isEmpty else {
            throw .configuration("no relay to receive from: give an endpoint such as tcp://camera-host:5555 (or connect = [...] in [subscribe])")
        }
        for endpoint in settings.connect where endpoint.isWildcard {
            throw .configuration("cannot connect to \(endpoint): a wildcard host or port can only be bound")
        }
        let filePattern = try table?.string("pattern").map { text throws(RelayError) in try Values.pattern(text, what: "\(where_) pattern") }
        settings.pattern = options.pattern ?? filePattern ?? settings.pattern
        let fileStreams = try table?.strings("streams")
        settings.streams = options.streams.isEmpty ? (fileStreams ?? [""]) : options.streams
        if settings.streams.isEmpty { settings.streams = [""] }
        let values = (
            capacity: try table?.size("capacity"), putTimeout: try table?.timeLimit("put_timeout"),
            envelopes: try table?.bool("envelopes"), receiveQueue: try table?.integer("receive_queue", in: 1...1_000_000), maximumMessage: try table?.size("max_message_size"),
            heartbeat: try table?.seconds("heartbeat"), curveServerKey: try table?.string("curve_server_key"),
            curveSecretKeyFile: try table?.string("curve_secret_key_file"), maxConnections: try table?.integer("max_connections", in: 0...Values.maximumConnectionLimit),
            zeroCopyReceive: try table?.bool("zero_copy_receive"))
        settings.capacity = options.capacity ?? values.capacity ?? settings.capacity
        guard (ArrayQueue.minimumCapacity...ArrayQueue.maximumCapacity).contains(settings.capacity) else {
            throw .configuration("queue capacity \(ByteCount.format(settings.capacity)) is out of range \(ByteCount.format(ArrayQueue.minimumCapacity))…\(ByteCount.format(ArrayQueue.maximumCapacity))")
        }
        let fileOverflow = try table?.string("overflow").map { text throws(RelayError) in try Values.overflow(text, what: "\(where_) overflow") }
        settings.overflow = options.overflow ?? fileOverflow ?? settings.overflow
        let defaultTimeout: Duration? = settings.pattern == .pushpull ? nil : .seconds(1)
        settings.putTimeout = (options.putTimeout ?? values.putTimeout).map(\.duration) ?? defaultTimeout
        settings.envelopes = options.envelopes || (values.envelopes ?? false)
        settings.zeroCopyReceive = options.zeroCopyReceive || (values.zeroCopyReceive ?? false)
        settings.receiveQueue = options.receiveQueue ?? values.receiveQueue ?? settings.receiveQueue
        guard (1...1_000_000).contains(settings.receiveQueue) else { throw .configuration("--receive-queue must be 1 to 1000000 frames") }
        settings.maximumMessageBytes = options.maxMessageSize ?? values.maximumMessage ?? settings.maximumMessageBytes
        if let limit = options.maxConnections ?? values.maxConnections { settings.maxConnections = try Values.connectionLimit(limit) }
        if let heartbeat = options.heartbeat ?? values.heartbeat {
            // The publisher's interval, from which silence is judged: unlike serve's (where 0 sends
            // none), it cannot be 0, and was taken as the default when it was.
            guard heartbeat > .zero else {
                throw .configuration("\(options.heartbeat != nil ? "--heartbeat" : "\(where_) heartbeat") must be more than 0 seconds: it is the relay's heartbeat interval, and 3 silent intervals make it count as silent")
            }
            settings.heartbeat = heartbeat
        }
        settings.curveServerKey = options.curveServerKey ?? values.curveServerKey
        settings.curveSecretKeyFile = options.curveSecretKeyFile ?? values.curveSecretKeyFile
        settings.curve = try CurveSettings.client(serverKey: settings.curveServerKey, secretKeyFile: settings.curveSecretKeyFile)
        try table?.finish()
        try file?.finish()
        return settings
    }

    /// The effective settings as TOML (printed by `--check`).
    public var toml: String {
        var lines = common.toml
        lines += ["", "[subscribe]",
                  "queue = \(quoted(queue))",
                  "pattern = \(quoted(pattern.rawValue))"]
        if !connect.isEmpty { lines.append("connect = \(quotedList(connect.map(\.description)))") }
        if !bind.isEmpty { lines.append("bind = \(quotedList(bind.map(\.description)))") }
        lines += ["streams = \(quotedList(streams))",
                  "capacity = \(quoted(ByteCount.format(capacity).replacingOccurrences(of: " ", with: "")))",
                  "overflow = \(quoted(overflow.rawValue))",
                  "put_timeout = \(putTimeout.map { "\($0.seconds)" } ?? quoted("forever"))",
                  "envelopes = \(envelopes)",
                  "receive_queue = \(receiveQueue)",
                  "max_message_size = \(quoted(ByteCount.format(maximumMessageBytes).replacingOccurrences(of: " ", with: "")))",
                  "heartbeat = \(heartbeat.seconds)",
                  "max_connections = \(maxConnections ?? 0)",
                  "zero_copy_receive = \(zeroCopyReceive)"]
        if let curveServerKey { lines.append("curve_server_key = \(quoted(curveServerKey))") }
        if let curveSecretKeyFile { lines.append("curve_secret_key_file = \(quoted(curveSecretKeyFile))") }
        return lines.joined(separator: "\n")
    }
}
