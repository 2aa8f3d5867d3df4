import ArrayQueues
import ArrayRelay
import ArrayTransport
import Testing

/// Settings resolution in-process: the configuration tree, the command-line overrides, their
/// precedence and the errors, without a process or a TOML file (AQRelayTests runs the
/// executable for what only a process shows: the file's syntax errors, exit statuses).
@Suite struct SettingsTests {
    /// A `[[serve.queue]]` table relaying `name` on `bind`.
    static func queueTable(_ name: String, bind: String) -> ConfigValue {
        .table(["name": .string(name), "bind": .array([.string(bind)])])
    }

    static func document(_ entries: [String: ConfigValue]) -> ConfigTable {
        ConfigTable(file: "relay.toml", table: entries)
    }

    /// The configuration error `body` throws, or nil.
    static func configurationError(_ body: () throws(RelayError) -> Void) -> String? {
        do throws(RelayError) {
            try body()
            return nil
        } catch {
            return error.kind == .configuration ? error.message : "runtime: \(error.message)"
        }
    }

    @Test("the command line overrides the file, the file overrides the defaults")
    func precedence() throws {
        let file = Self.document([
            "name": .string("from-file"), "log_level": .string("debug"), "stats_interval": .integer(0),
            "serve": .table(["pattern": .string("pushpull"), "byte_budget": .string("64MiB"), "peer_queue": .integer(4),
                             "queue": .array([Self.queueTable("camera0", bind: "tcp://127.0.0.1:5555")])]),
        ])
        var common = CommonOverrides()
        common.logLevel = .error
        common.control = "none"
        var serve = ServeOverrides()
        serve.peerQueue = 16
        let settings = try ServeSettings.resolve(document: file, common: common, serve: serve)
        #expect(settings.common.name == "from-file")
        #expect(settings.common.logLevel == .error)
        #expect(settings.common.statsInterval == nil)
        #expect(settings.common.control == nil)
        #expect(settings.pattern == .pushpull)
        #expect(settings.byteBudget == 64 << 20)
        #expect(settings.peerQueue == 16)
        // Push/pull sends from shared memory unless told otherwise.
        #expect(settings.zeroCopy)
        #expect(settings.routes == [QueueRoute(queue: "camera0", stream: "camera0", bind: [try Endpoint("tcp://127.0.0.1:5555")], connect: [])])
    }

    @Test("command-line routes replace the file's, and the defaults hold without a file")
    func routesAndDefaults() throws {
        var common = CommonOverrides()
        common.control = "none"
        var serve = ServeOverrides()
        serve.queues = ["cam=tcp://127.0.0.1:6000"]
        serve.connect = true
        let settings = try ServeSettings.resolve(document: nil, common: common, serve: serve)
        #expect(settings.common.name == "cam")
        #expect(settings.routes.first?.connect == [try Endpoint("tcp://127.0.0.1:6000")])
        #expect(settings.pattern == .pubsub && !settings.zeroCopy && settings.byteBudget == 256 << 20 && settings.peerQueue == 8)
        #expect(settings.heartbeat == .seconds(1) && settings.linger == .seconds(2) && settings.sendTimeout == nil)
    }

    @Test("subscribe: put timeout defaults by pattern, capacity bounds, streams")
    func subscribe() throws {
        var common = CommonOverrides()
        common.control = "none"
        var options = SubscribeOverrides()
        options.endpoints = ["tcp://127.0.0.1:5555"]
        options.queue = "frames"
        let pubsub = try SubscribeSettings.resolve(document: nil, common: common, subscribe: options)
        #expect(pubsub.putTimeout == .seconds(1) && pubsub.streams == [""] && pubsub.common.name == "subscribe-frames")
        options.pattern = .pushpull
        options.streams = ["cam"]
        let pushpull = try SubscribeSettings.resolve(document: nil, common: common, subscribe: options)
        #expect(pushpull.putTimeout == nil && pushpull.streams == ["cam"])
        #expect(!pushpull.zeroCopyReceive && pushpull.toml.contains("zero_copy_receive = false"))
        options.zeroCopyReceive = true
        let zeroCopy = try SubscribeSettings.resolve(document: nil, common: common, subscribe: options)
        #expect(zeroCopy.zeroCopyReceive && zeroCopy.toml.contains("zero_copy_receive = true"))
        options.capacity = 1
        #expect(Self.configurationError { () throws(RelayError) in _ = try SubscribeSettings.resolve(document: nil, common: common, subscribe: options) }?.contains("out of range") == true)
        options.capacity = nil
        options.heartbeat = .zero
        #expect(Self.configurationError { () throws(RelayError) in _ = try SubscribeSettings.resolve(document: nil, common: common, subscribe: options) }?.contains("heartbeat must be more than 0") == true)
        options.heartbeat = .milliseconds(250)
        #expect(try SubscribeSettings.resolve(document: nil, common: common, subscribe: options).heartbeat == .milliseconds(250))
    }

    struct Bad: CustomTestStringConvertible, Sendable {
        let label: String
        let entries: [String: ConfigValue]
        let expected: String
        var testDescription: String { label }
    }

    static let bad: [Bad] = [
        Bad(label: "unknown key", entries: ["serve": .table(["patern": .string("pubsub"), "queue": .array([queueTable("q", bind: "tcp://*:5555")])])], expected: "unknown key 'patern'"),
        Bad(label: "wrong type", entries: ["serve": .table(["byte_budget": .bool(true), "queue": .array([queueTable("q", bind: "tcp://*:5555")])])], expected: "byte_budget: expected a positive size"),
        Bad(label: "zero size", entries: ["serve": .table(["byte_budget": .string("0"), "queue": .array([queueTable("q", bind: "tcp://*:5555")])])], expected: "byte_budget: expected a positive size"),
        Bad(label: "seconds over the bound", entries: ["serve": .table(["linger": .float(2e9), "queue": .array([queueTable("q", bind: "tcp://*:5555")])])], expected: "linger: expected a number of seconds"),
        Bad(label: "negative seconds", entries: ["stats_interval": .integer(-1), "serve": .table(["queue": .array([queueTable("q", bind: "tcp://*:5555")])])], expected: "stats_interval: expected a number of seconds"),
        Bad(label: "bad fast path", entries: ["fast_path": .string("sometimes"), "serve": .table(["queue": .array([queueTable("q", bind: "tcp://*:5555")])])], expected: "'sometimes' is not a fast-path mode"),
        Bad(label: "bad port", entries: ["serve": .table(["queue": .array([queueTable("q", bind: "tcp://*:99999")])])], expected: "port 99999 is out of range"),
        Bad(label: "queue without endpoint", entries: ["serve": .table(["queue": .array([.table(["name": .string("q")])])])], expected: "needs at least one endpoint"),
        Bad(label: "stream twice", entries: ["serve": .table(["queue": .array([queueTable("q", bind: "tcp://*:5555"), queueTable("q", bind: "tcp://*:5556")])])], expected: "relayed twice"),
        Bad(label: "nothing to relay", entries: [:], expected: "no queue to relay"),
        Bad(label: "tcp control beyond loopback without opting in", entries: ["control": .string("tcp://*:7777"), "serve": .table(["queue": .array([queueTable("q", bind: "tcp://*:5555")])])], expected: "allow_tcp_control"),
        Bad(label: "queue mode the owner cannot write", entries: ["queue_mode": .string("440"), "serve": .table(["queue": .array([queueTable("q", bind: "tcp://*:5555")])])], expected: "not octal permission bits that let the owner read and write"),
        Bad(label: "a date where a string belongs", entries: ["name": .other(type: "date", text: "2026-12-06"), "serve": .table(["queue": .array([queueTable("q", bind: "tcp://*:5555")])])], expected: "name: expected a string, not a date"),
    ]

    @Test("a bad configuration is one configuration error naming the file and key", arguments: bad)
    func badConfiguration(_ example: Bad) {
        let message = Self.configurationError { () throws(RelayError) in
            _ = try ServeSettings.resolve(document: Self.document(example.entries), common: CommonOverrides(), serve: ServeOverrides())
        }
        #expect(message?.contains(example.expected) == true, "\(message ?? "no error")")
        #expect(message?.contains("runtime") != true)
    }

    @Test("--check's TOML names every effective setting")
    func checkOutput() throws {
        var common = CommonOverrides()
        common.control = "none"
        var serve = ServeOverrides()
        serve.queues = ["cam=tcp://127.0.0.1:6000"]
        let toml = try ServeSettings.resolve(document: nil, common: common, serve: serve).toml
        for key in ["name = \"cam\"", "pattern = \"pubsub\"", "byte_budget = \"256MiB\"", "[[serve.queue]]", "bind = [\"tcp://127.0.0.1:6000\"]"] {
            #expect(toml.contains(key), "\(key) in \(toml)")
        }
    }
}
