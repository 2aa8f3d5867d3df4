public import ArrayQueues
public import ArrayTransport
public import Logging

// Value types shared by the configuration file and the command lines of `aq` and `aq-relay`,
// each with one parser, one set of bounds and one error wording, so that every source rejects
// the same inputs the same way. (AQCommandLine makes them command-line arguments.)

/// The ZeroMQ pattern of a relay, a subscriber, or `aq send`/`aq recv`.
public enum StreamPattern: String, CaseIterable, Sendable {
    /// PUB/SUB: every subscriber gets every frame; a slow one loses frames, nobody waits.
    case pubsub
    /// PUSH/PULL: each frame goes to one puller; a slow puller slows the relay (backpressure).
    case pushpull
}

/// A byte size: `256MiB`, `1.5GB`, `4096`; never 0 (no size a queue, budget or message can
/// usefully have, and a 0 that slipped through would fail far from where it was typed).
public struct ByteSize: Sendable, Hashable, CustomStringConvertible {
    /// The size in bytes (at least 1).
    public let bytes: Int

    /// A size of `bytes` bytes, as the program chooses it (defaults).
    public init(bytes: Int) { self.bytes = bytes }

    /// Parses a size with an optional unit (see `ByteCount.parse`); nil for 0, a negative
    /// number, or text that is not a size.
    public init?(argument: String) {
        guard let bytes = ByteCount.parse(argument), bytes > 0 else { return nil }
        self.bytes = bytes
    }

    /// `64 MiB`.
    public var description: String { ByteCount.format(bytes) }
}

/// A non-negative, finite number of seconds, at most ``maximum``.
public struct Seconds: Sendable, Hashable, CustomStringConvertible {
    /// The largest accepted value: about 31 years, far beyond any wait a person means, and
    /// far below where nanoseconds overflow `Int64` (about 292 years).
    public static let maximum: Double = 1e9

    /// The duration.
    public let duration: Duration

    /// A given duration.
    public init(_ duration: Duration) { self.duration = duration }

    /// Parses a decimal number of seconds; nil for text that is not one, a negative,
    /// infinite or NaN value, or more than ``maximum``.
    public init?(argument: String) {
        guard let value = Double(argument) else { return nil }
        self.init(value)
    }

    /// Checks a number of seconds; nil outside `0...maximum` (or not finite).
    public init?(_ value: Double) {
        guard value.isFinite, value >= 0, value <= Self.maximum else { return nil }
        duration = .seconds(double: value)
    }

    /// The seconds as a decimal number.
    public var description: String { "\(duration.seconds)" }
}

/// A time limit in seconds, or `forever`.
public struct TimeLimit: Sendable, Hashable, CustomStringConvertible {
    /// nil: no limit.
    public let duration: Duration?

    /// A given limit (nil: none).
    public init(_ duration: Duration?) { self.duration = duration }

    /// Parses `forever` or seconds (see ``Seconds``).
    public init?(argument: String) {
        if argument == "forever" {
            duration = nil
        } else if let seconds = Seconds(argument: argument) {
            duration = seconds.duration
        } else {
            return nil
        }
    }

    /// Seconds, or `forever`.
    public var description: String { duration.map { "\($0.seconds)" } ?? "forever" }
}

/// A queue to relay and where its stream goes, as `--queue NAME=ENDPOINT` writes it.
public struct QueueRoute: Sendable, Hashable {
    /// The local queue's name.
    public var queue: String
    /// The stream name (topic); by default the queue's name.
    public var stream: String
    /// Endpoints to bind (subscribers connect to them).
    public var bind: [Endpoint]
    /// Endpoints to connect to (a peer binds them).
    public var connect: [Endpoint]

    /// A route as given.
    public init(queue: String, stream: String, bind: [Endpoint], connect: [Endpoint]) {
        self.queue = queue
        self.stream = stream
        self.bind = bind
        self.connect = connect
    }

    /// Parses `NAME=ENDPOINT`; the `=` is the last one before the endpoint's `://`.
    public static func parse(_ text: String, connecting: Bool) throws(RelayError) -> QueueRoute {
        guard let scheme = text.firstRange(of: "://"), let equals = text[..<scheme.lowerBound].lastIndex(of: "=") else {
            throw .configuration("--queue '\(text)' must be NAME=ENDPOINT, as in camera0=tcp://*:5555")
        }
        let name = String(text[..<equals])
        let endpoint = try Values.endpoint(String(text[text.index(after: equals)...]), what: "--queue \(name)")
        try Values.checkQueueName(name, what: "--queue")
        return QueueRoute(queue: name, stream: name, bind: connecting ? [] : [endpoint], connect: connecting ? [endpoint] : [])
    }
}

/// Parsers with one-line errors that say where the value came from (`what`).
public enum Values {
    /// A tcp:// or ipc:// endpoint (the relay does not relay to shm://).
    public static func endpoint(_ text: String, what: String) throws(RelayError) -> Endpoint {
        let endpoint: Endpoint
        do throws(TransportError) {
            endpoint = try Endpoint(text)
        } catch {
            throw .configuration("\(what): \(error.message)")
        }
        if case .sharedMemory = endpoint {
            throw .configuration("\(what): '\(text)' is a shared-memory endpoint; the relay sends and receives over tcp:// or ipc://")
        }
        return endpoint
    }

    /// Throws unless `name` is a valid queue name.
    public static func checkQueueName(_ name: String, what: String) throws(RelayError) {
        do throws(TransportError) {
            _ = try Endpoint("shm://\(name)")
        } catch {
            throw .configuration("\(what): queue name '\(name)' is not valid: \(error.message.replacingOccurrences(of: "invalid endpoint 'shm://\(name)': ", with: ""))")
        }
    }

    /// Throws unless `name` is a valid stream name (1 to 255 bytes).
    public static func checkStreamName(_ name: String, what: String) throws(RelayError) {
        guard !name.isEmpty, name.utf8.count <= ZeroMQSender.maximumStreamLength else {
            throw .configuration("\(what): a stream name must be 1 to \(ZeroMQSender.maximumStreamLength) bytes long")
        }
    }

    /// A swift-log level by its name.
    public static func logLevel(_ text: String, what: String) throws(RelayError) -> Logger.Level {
        try named(text, what: what, "a log level (\(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")))")
    }

    /// `pubsub` or `pushpull`.
    public static func pattern(_ text: String, what: String) throws(RelayError) -> StreamPattern {
        try named(text, what: what, "a pattern (pubsub or pushpull)")
    }

    /// `automatic`, `disabled` or `required`.
    public static func fastPath(_ text: String, what: String) throws(RelayError) -> FastPath {
        try named(text, what: what, "a fast-path mode (automatic, disabled or required)")
    }

    /// `block`, `fail` or `drop-oldest`.
    public static func overflow(_ text: String, what: String) throws(RelayError) -> OverflowPolicy {
        try named(text, what: what, "an overflow policy (block, fail or drop-oldest)")
    }

    /// The value called `text`, or an error saying that it is not `expected`.
    private static func named<Value: RawRepresentable<String>>(_ text: String, what: String, _ expected: String) throws(RelayError) -> Value {
        guard let value = Value(rawValue: text) else { throw .configuration("\(what): '\(text)' is not \(expected)") }
        return value
    }

    /// The largest `max_connections` accepted.
    public static let maximumConnectionLimit = 1_000_000

    /// `max_connections` (from `--max-connections` or the file) as the transport's
    /// `maximumConnections`: 0 is no limit (nil).
    public static func connectionLimit(_ limit: Int) throws(RelayError) -> Int? {
        guard (0...maximumConnectionLimit).contains(limit) else {
            throw .configuration("--max-connections must be 0 (no limit) to \(maximumConnectionLimit)")
        }
        return limit == 0 ? nil : limit
    }

    /// Octal permission bits such as "660" or "0660".
    public static func queueMode(_ text: String, what: String) throws(RelayError) -> UInt32 {
        guard let bits = UInt32(text, radix: 8), bits <= 0o777, bits & 0o600 == 0o600 else {
            throw .configuration("\(what): '\(text)' is not octal permission bits that let the owner read and write (like \"600\" or \"660\")")
        }
        return bits
    }
}
