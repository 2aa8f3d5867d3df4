import ArgumentParser
import ArrayQueues
import ArrayTransport
import Foundation

/// `aq-relay serve`'s own options; each overrides the `[serve]` table of the configuration file.
struct ServeOptions: ParsableArguments {
    @Option(name: .customLong("queue"), help: ArgumentHelp("Relay local queue NAME as stream NAME on ENDPOINT (tcp://HOST:PORT or ipc:///PATH); repeat for several queues. Replaces the file's queues.", valueName: "name=endpoint"))
    var queues: [String] = []

    @Flag(help: "Connect to the --queue endpoints instead of binding them (when the receivers bind).")
    var connect = false

    @Option(help: ArgumentHelp("pubsub: every subscriber gets every frame, a slow one loses frames and nobody waits; pushpull: each frame to one puller, with backpressure. (default: pubsub)", valueName: "pattern"))
    var pattern: StreamPattern?

    @Option(help: ArgumentHelp("Most payload bytes ZeroMQ may hold per stream and connected peer (the relay's memory bound); over it a publisher drops frames. (default: 256MiB)", valueName: "size"))
    var byteBudget: ByteSize?

    @Option(help: ArgumentHelp("Frames queued per subscriber (ZMQ_SNDHWM) before that subscriber loses frames. (default: 8)", valueName: "frames"))
    var peerQueue: Int?

    @Option(help: ArgumentHelp("pushpull: seconds to wait for a puller before the frame is dropped, or 'forever' to hold the producer back. (default: forever)", valueName: "seconds"))
    var sendTimeout: TimeLimit?

    @Option(help: ArgumentHelp("Seconds of idleness before a heartbeat; 0 sends none. (default: 1)", valueName: "seconds"))
    var heartbeat: Seconds?

    @Option(help: ArgumentHelp("Seconds allowed at shutdown to deliver queued frames and the end message. (default: 2)", valueName: "seconds"))
    var linger: Seconds?

    @Flag(inversion: .prefixedNo, help: "Send frames straight from the queue's shared memory, holding each slot until ZeroMQ has sent it, instead of copying it once and freeing the slot at once. (default: on for pushpull, whose backpressure reaches the producer anyway; off for pubsub, where a stalled subscriber would pin slots)")
    var zeroCopy: Bool?

    @Option(help: ArgumentHelp("Create missing queues with this capacity instead of waiting for their producer to create them.", valueName: "size"))
    var createCapacity: ByteSize?

    @Option(help: ArgumentHelp("Encrypt with CURVE as a server: a file holding this relay's Z85 secret key (40 characters), readable by its owner only (chmod 600).", valueName: "file"))
    var curveSecretKeyFile: String?

    @Option(help: ArgumentHelp("With --curve-secret-key-file: accept only the CURVE clients whose public keys are in this file, or in the files of this directory (one key per line; reloaded on SIGHUP). (default: any client that knows the relay's public key)", valueName: "path"))
    var curveAllowedClients: String?

    @Option(help: ArgumentHelp("Broadcast queues: relay as a lossless subscriber that producers wait for (block), or as a live one that is skipped ahead when the network falls behind (drop). (default: block)", valueName: "block|drop"))
    var subscriberPolicy: String?
}

/// Everything `aq-relay serve` runs with, after the file and the command line are merged.
struct ServeSettings: Sendable {
    var common: CommonSettings
    var routes: [QueueRoute]
    var pattern: StreamPattern = .pubsub
    var byteBudget = 256 << 20
    var peerQueue = 8
    /// pushpull: nil waits for a puller without limit.
    var sendTimeout: Duration? = nil
    var heartbeat: Duration? = .seconds(1)
    var linger: Duration = .seconds(2)
    /// Send from shared memory; by default only with push/pull (see ``ServeOptions/zeroCopy``).
    var zeroCopy = false
    /// Frames in flight at once in zero-copy mode (each holds a queue slot).
    var zeroCopyDepth = 2
    var createCapacity: Int?
    var curveSecretKeyFile: String?
    var curveAllowedClients: String?
    /// How the relay reads a broadcast queue (as one more subscriber).
    var subscriberPolicy: SubscriberPolicy = .block
    /// Made from the two files above when the settings are resolved.
    var curve: CurveSecurity?
    var curveAllowList: CurveAllowList?

    static func resolve(common commonOptions: CommonOptions, serve options: ServeOptions) throws(RelayError) -> ServeSettings {
        let document = try commonOptions.config.map { path throws(RelayError) in try ConfigTable.load(file: path) }
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
            subscriberPolicy: try table?.string("subscriber_policy"))
        settings.byteBudget = options.byteBudget?.bytes ?? file.byteBudget ?? settings.byteBudget
        settings.peerQueue = options.peerQueue ?? file.peerQueue ?? settings.peerQueue
        guard (1...1_000_000).contains(settings.peerQueue) else { throw .configuration("--peer-queue must be 1 to 1000000 frames") }
        if let limit = options.sendTimeout ?? file.sendTimeout { settings.sendTimeout = limit.duration }
        if let heartbeat = options.heartbeat?.duration ?? file.heartbeat {
            settings.heartbeat = heartbeat == .zero ? nil : heartbeat
        }
        settings.linger = options.linger?.duration ?? file.linger ?? settings.linger
        // Push/pull holds the producer back when pullers are slow whatever the mode, so pinning a
        // slot costs nothing more there; pub/sub must never let a stalled subscriber pin slots.
        settings.zeroCopy = options.zeroCopy ?? file.zeroCopy ?? (settings.pattern == .pushpull)
        settings.zeroCopyDepth = file.zeroCopyDepth ?? settings.zeroCopyDepth
        settings.createCapacity = options.createCapacity?.bytes ?? file.createCapacity
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
    var toml: String {
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
                  "subscriber_policy = \(quoted(subscriberPolicy.rawValue))"]
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
