public import ArrayQueues
public import ArrayTransport
import Foundation

/// What `aq-relay serve`'s command line sets; each value that is not nil overrides the
/// `[serve]` table of the configuration file.
public struct ServeOverrides: Sendable {
    /// `NAME=ENDPOINT` routes; replace the file's queues when not empty.
    public var queues: [String] = []
    /// Connect to the routes' endpoints instead of binding them.
    public var connect = false
    /// The ZeroMQ pattern.
    public var pattern: StreamPattern?
    /// Most payload bytes ZeroMQ may hold per stream and peer.
    public var byteBudget: Int?
    /// Frames queued per subscriber.
    public var peerQueue: Int?
    /// pushpull: how long to wait for a puller.
    public var sendTimeout: TimeLimit?
    /// Idleness before a heartbeat; zero sends none.
    public var heartbeat: Duration?
    /// Time allowed at shutdown to deliver what is queued.
    public var linger: Duration?
    /// Send straight from shared memory.
    public var zeroCopy: Bool?
    /// Create missing queues with this capacity.
    public var createCapacity: Int?
    /// The relay's CURVE secret key file.
    public var curveSecretKeyFile: String?
    /// The CURVE clients accepted.
    public var curveAllowedClients: String?

    /// How to read a broadcast queue: "block" or "drop".
    public var subscriberPolicy: String?
    /// Most connections each bound endpoint keeps at once; 0 for no limit.
    public var maxConnections: Int?

    /// Nothing overridden.
    public init() {}
}

/// Everything `aq-relay serve` runs with, after the file and the command line are merged.
public struct ServeSettings: Sendable {
    /// The daemon's own settings.
    public var common: CommonSettings
    /// The queues to relay and their streams.
    public var routes: [QueueRoute]
    /// The ZeroMQ pattern.
    public var pattern: StreamPattern = .pubsub
    /// Most payload bytes ZeroMQ may hold per stream and connected peer.
    public var byteBudget = 256 << 20
    /// Frames queued per subscriber (ZMQ_SNDHWM is the budget divided by this).
    public var peerQueue = 8
    /// pushpull: nil waits for a puller without limit.
    public var sendTimeout: Duration? = nil
    /// Idleness before a heartbeat; nil sends none.
    public var heartbeat: Duration? = .seconds(1)
    /// Time allowed at shutdown to deliver queued frames and `end`.
    public var linger: Duration = .seconds(2)
    /// Send from shared memory; by default only with push/pull (see ``ServeOverrides/zeroCopy``).
    public var zeroCopy = false
    /// Frames in flight at once in zero-copy mode (each holds a queue slot).
    public var zeroCopyDepth = 2
    /// Create missing queues with this capacity instead of waiting for their producer.
    public var createCapacity: Int?
    /// The relay's CURVE secret key file.
    public var curveSecretKeyFile: String?
    /// The file or directory of CURVE client keys accepted.
    public var curveAllowedClients: String?
    /// How the relay reads a broadcast queue (as one more subscriber).
    public var subscriberPolicy: SubscriberPolicy = .block
    /// Made from the two files above when the settings are resolved.
    public var curve: CurveSecurity?
    /// The accepted client keys, read from ``curveAllowedClients``.
    public var curveAllowList: CurveAllowList?
    /// Most connections each bound endpoint keeps at once (beyond it, the newest are shut
    /// down); nil for no limit.
    public var maxConnections: Int? = ZeroMQReceiver.defaultMaximumConnections

    /// Defaults for `routes`, under `common`.
    public init(common: CommonSettings, routes: [QueueRoute]) {
        self.common = common
        self.routes = routes
    }

    /// Merges the configuration file (`document`, if any), the command line and the defaults,
    /// and checks the result as a whole; reads the CURVE key files it names.
    public static func resolve(document: ConfigTable?, common commonOptions: CommonOverrides, serve options: ServeOverrides) throws(RelayError) -> ServeSettings {
        let table = try document?.table("serve")
        document?.allow("subscribe")

        var routes: [QueueRoute] = []
        if !options.queues.isEmpty {
            for text in options.queues { routes.append(try QueueRoute.parse(text, connecting: options.connect)) }
            _ = try table?.tables("queue")
        } else if let tables = try table?.tables("queue") {
            for queue in tables { routes.append(try route(from: queue)) }
        }
        guard !routes.isEmpty else {
            throw .configuration("no queue to relay: give --queue NAME=ENDPOINT (for example --queue camera0=tcp://*:5555) or [[serve.queue]] tables in a configuration file")
        }
        var seen: Set<String> = []
        for route in routes where !seen.insert(route.stream).inserted {
            throw .configuration("stream '\(route.stream)' is relayed twice: each queue needs its own stream name")
        }

        var settings = ServeSettings(
            common: try CommonSettings.resolve(file: document, options: commonOptions, defaultName: routes[0].queue), routes: routes)
        let filePattern = try table?.string("pattern").map { text throws(RelayError) in try Values.pattern(text, what: "\(table!.file) [serve] pattern") }
        settings.pattern = options.pattern ?? filePattern ?? settings.pattern
        let file = (
            byteBudget: try table?.size("byte_budget"), peerQueue: try table?.integer("peer_queue", in: 1...1_000_000),
            sendTimeout: try table?.timeLimit("send_timeout"), heartbeat: try table?.seconds("heartbeat"),
            linger: try table?.seconds("linger"), zeroCopy: try table?.bool("zero_copy"),
            zeroCopyDepth: try table?.integer("zero_copy_depth", in: 1...64), createCapacity: try table?.size("create_capacity"),
            curveSecretKeyFile: try table?.string("curve_secret_key_file"), curveAllowedClients: try table?.string("curve_allowed_clients"),
            subscriberPolicy: try table?.string("subscriber_policy"), maxConnections: try table?.integer("max_connections", in: 0...Values.maximumConnectionLimit))
        settings.byteBudget = options.byteBudget ?? file.byteBudget ?? settings.byteBudget
        settings.peerQueue = options.peerQueue ?? file.peerQueue ?? settings.peerQueue
        guard (1...1_000_000).contains(settings.peerQueue) else { throw .configuration("--peer-queue must be 1 to 1000000 frames") }
        if let limit = options.sendTimeout ?? file.sendTimeout { settings.sendTimeout = limit.duration }
        if let heartbeat = options.heartbeat ?? file.heartbeat {
            settings.heartbeat = heartbeat == .zero ? nil : heartbeat
        }
        settings.linger = options.linger ?? file.linger ?? settings.linger
        if let limit = options.maxConnections ?? file.maxConnections { settings.maxConnections = try Values.connectionLimit(limit) }
        // Push/pull holds the producer back when pullers are slow whatever the mode, so pinning a
        // slot costs nothing more there; pub/sub must never let a stalled subscriber pin slots.
        settings.zeroCopy = options.zeroCopy ?? file.zeroCopy ?? (settings.pattern == .pushpull)
        settings.zeroCopyDepth = file.zeroCopyDepth ?? settings.zeroCopyDepth
        settings.createCapacity = options.createCapacity ?? file.createCapacity
        settings.curveSecretKeyFile = options.curveSecretKeyFile ?? file.curveSecretKeyFile
        settings.curveAllowedClients = options.curveAllowedClients ?? file.curveAllowedClients
        if let text = options.subscriberPolicy ?? file.subscriberPolicy {
            guard let policy = SubscriberPolicy(rawValue: text) else {
                throw .configuration("subscriber policy '\(text)' is neither 'block' nor 'drop'")
            }
            settings.subscriberPolicy = policy
        }
        if let (security, clients) = try CurveSettings.server(secretKeyFile: settings.curveSecretKeyFile, allowedClients: settings.curveAllowedClients) {
            settings.curve = security
            settings.curveAllowList = clients
        }
        try table?.finish()
        try document?.finish()
        return settings
    }

    private static func route(from table: ConfigTable) throws(RelayError) -> QueueRoute {
        guard let name = try table.string("name") else { throw table.problem("name", "missing: every [[serve.queue]] needs the queue's name") }
        try Values.checkQueueName(name, what: "\(table.file) [\(table.path)] name")
        let stream = try table.string("stream") ?? name
        try Values.checkStreamName(stream, what: "\(table.file) [\(table.path)] stream")
        let bind = try table.endpoints("bind") ?? []
        let connect = try table.endpoints("connect") ?? []
        guard !bind.isEmpty || !connect.isEmpty else {
            throw table.problem("bind", "queue '\(name)' needs at least one endpoint to bind or connect, as in bind = [\"tcp://*:5555\"]")
        }
        try table.finish()
        return QueueRoute(queue: name, stream: stream, bind: bind, connect: connect)
    }

    /// The effective settings as TOML (printed by `--check`).
    public var toml: String {
        var lines = common.toml
        lines += ["", "[serve]",
                  "pattern = \(quoted(pattern.rawValue))",
                  "byte_budget = \(quoted(ByteCount.format(byteBudget).replacingOccurrences(of: " ", with: "")))",
                  "peer_queue = \(peerQueue)",
                  "send_timeout = \(sendTimeout.map { "\($0.seconds)" } ?? quoted("forever"))",
                  "heartbeat = \(heartbeat?.seconds ?? 0)",
                  "linger = \(linger.seconds)",
                  "zero_copy = \(zeroCopy)",
                  "zero_copy_depth = \(zeroCopyDepth)",
                  "subscriber_policy = \(quoted(subscriberPolicy.rawValue))",
                  "max_connections = \(maxConnections ?? 0)"]
        if let createCapacity { lines.append("create_capacity = \(quoted(ByteCount.format(createCapacity).replacingOccurrences(of: " ", with: "")))") }
        if let curveSecretKeyFile { lines.append("curve_secret_key_file = \(quoted(curveSecretKeyFile))") }
        if let curveAllowedClients { lines.append("curve_allowed_clients = \(quoted(curveAllowedClients))") }
        for route in routes {
            lines += ["", "[[serve.queue]]", "name = \(quoted(route.queue))", "stream = \(quoted(route.stream))"]
            if !route.bind.isEmpty { lines.append("bind = \(quotedList(route.bind.map(\.description)))") }
            if !route.connect.isEmpty { lines.append("connect = \(quotedList(route.connect.map(\.description)))") }
        }
        return lines.joined(separator: "\n")
    }
}
