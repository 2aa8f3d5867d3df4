import ArgumentParser
import ArrayQueues
import ArrayTransport
import Foundation

/// `aq-relay subscribe`'s own options; each overrides the `[subscribe]` table of the file.
struct SubscribeOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("Relays to receive from (tcp://HOST:PORT or ipc:///PATH). Replaces the file's endpoints.", valueName: "endpoint"))
    var endpoints: [String] = []

    @Flag(help: "Bind the endpoints instead of connecting to them (when the relays connect).")
    var bind = false

    @Option(name: .customLong("queue"), help: ArgumentHelp("The local queue to write into (created if missing).", valueName: "name"))
    var queue: String?

    @Option(name: .customLong("stream"), help: ArgumentHelp("pubsub: receive only streams whose name starts with this; repeat for several. (default: every stream)", valueName: "prefix"))
    var streams: [String] = []

    @Option(help: ArgumentHelp("pubsub or pushpull; must match the relay's. (default: pubsub)", valueName: "pattern"))
    var pattern: StreamPattern?

    @Option(help: ArgumentHelp("Capacity of the local queue if it has to be created. (default: 256MiB)", valueName: "size"))
    var capacity: ByteSize?

    @Option(help: ArgumentHelp("When the local queue is full: block (wait up to --put-timeout, then drop the frame), fail (drop the new frame at once) or drop-oldest. (default: block)", valueName: "policy"))
    var overflow: OverflowPolicy?

    @Option(help: ArgumentHelp("block: seconds to wait for room in the local queue, or 'forever'. (default: forever with pushpull, 1 with pubsub)", valueName: "seconds"))
    var putTimeout: TimeLimit?

    @Flag(help: "Write every message as an envelope that keeps its stream name, epoch and sequence number (read the queue with ArrayTransport's shm:// receiver or `aq recv shm://NAME`), so that several streams in one queue stay apart. (default: a message of one array without metadata becomes a plain record that any queue consumer reads)")
    var envelopes = false

    @Option(help: ArgumentHelp("Frames ZeroMQ may buffer on arrival (ZMQ_RCVHWM). (default: 8)", valueName: "frames"))
    var receiveQueue: Int?

    @Option(help: ArgumentHelp("Largest message accepted; larger ones make ZeroMQ drop the connection. (default: 1GiB)", valueName: "size"))
    var maxMessageSize: ByteSize?

    @Option(help: ArgumentHelp("The relay's heartbeat interval in seconds: after 3 silent intervals the relay counts as silent. (default: 1)", valueName: "seconds"))
    var heartbeat: Seconds?

    @Option(help: ArgumentHelp("Encrypt with CURVE as a client of the relay with this Z85 public key (40 characters).", valueName: "key"))
    var curveServerKey: String?

    @Option(help: ArgumentHelp("With --curve-server-key: a file holding this subscriber's secret key, readable by its owner only (chmod 600); needed when the relay has an allow-list. (default: a new key for each run)", valueName: "file"))
    var curveSecretKeyFile: String?
}

/// Everything `aq-relay subscribe` runs with.
struct SubscribeSettings: Sendable {
    var common: CommonSettings
    var pattern: StreamPattern = .pubsub
    var connect: [Endpoint] = []
    var bind: [Endpoint] = []
    var streams: [String] = [""]
    var queue: String
    var capacity = 256 << 20
    var overflow: OverflowPolicy = .block
    /// nil: wait without limit.
    var putTimeout: Duration?
    /// Keep stream, epoch and sequence in every record (see ``SubscribeOptions/envelopes``).
    var envelopes = false
    var receiveQueue = 8
    var maximumMessageBytes = 1 << 30
    var heartbeat: Duration = .seconds(1)
    var curveServerKey: String?
    var curveSecretKeyFile: String?
    /// Made from the two above when the settings are resolved.
    var curve: CurveSecurity?

    static func resolve(common commonOptions: CommonOptions, subscribe options: SubscribeOptions) throws(RelayError) -> SubscribeSettings {
        let file = try commonOptions.config.map { path throws(RelayError) in try ConfigTable.load(file: path) }
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
            curveSecretKeyFile: try table?.string("curve_secret_key_file"))
        settings.capacity = options.capacity?.bytes ?? values.capacity ?? settings.capacity
        guard (ArrayQueue.minimumCapacity...ArrayQueue.maximumCapacity).contains(settings.capacity) else {
            throw .configuration("queue capacity \(ByteCount.format(settings.capacity)) is out of range \(ByteCount.format(ArrayQueue.minimumCapacity))…\(ByteCount.format(ArrayQueue.maximumCapacity))")
        }
        let fileOverflow = try table?.string("overflow").map { text throws(RelayError) in try Values.overflow(text, what: "\(where_) overflow") }
        settings.overflow = options.overflow ?? fileOverflow ?? settings.overflow
        let defaultTimeout: Duration? = settings.pattern == .pushpull ? nil : .seconds(1)
        settings.putTimeout = (options.putTimeout ?? values.putTimeout).map(\.duration) ?? defaultTimeout
        settings.envelopes = options.envelopes || (values.envelopes ?? false)
        settings.receiveQueue = options.receiveQueue ?? values.receiveQueue ?? settings.receiveQueue
        guard (1...1_000_000).contains(settings.receiveQueue) else { throw .configuration("--receive-queue must be 1 to 1000000 frames") }
        settings.maximumMessageBytes = options.maxMessageSize?.bytes ?? values.maximumMessage ?? settings.maximumMessageBytes
        if let heartbeat = options.heartbeat?.duration ?? values.heartbeat, heartbeat > .zero { settings.heartbeat = heartbeat }
        settings.curveServerKey = options.curveServerKey ?? values.curveServerKey
        settings.curveSecretKeyFile = options.curveSecretKeyFile ?? values.curveSecretKeyFile
        settings.curve = try CurveSettings.client(serverKey: settings.curveServerKey, secretKeyFile: settings.curveSecretKeyFile)
        try table?.finish()
        try file?.finish()
        return settings
    }

    /// The effective settings as TOML (printed by `--check`).
    var toml: String {
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
                  "heartbeat = \(heartbeat.seconds)"]
        if let curveServerKey { lines.append("curve_server_key = \(quoted(curveServerKey))") }
        if let curveSecretKeyFile { lines.append("curve_secret_key_file = \(quoted(curveSecretKeyFile))") }
        return lines.joined(separator: "\n")
    }
}
