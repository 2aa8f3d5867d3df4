public import ArgumentParser
public import ArrayQueues
import ArrayTransport
public import Logging

// Value types shared by the configuration file and the command line, each with one parser
// and one error wording, so that both sources reject the same inputs the same way.

/// The ZeroMQ pattern of a relay or a subscriber.
enum StreamPattern: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// PUB/SUB: every subscriber gets every frame; a slow one loses frames, nobody waits.
    case pubsub
    /// PUSH/PULL: each frame goes to one puller; a slow puller slows the relay (backpressure).
    case pushpull
}

/// A byte size: `256MiB`, `1.5GB`, `4096`.
struct ByteSize: Sendable, Hashable, ExpressibleByArgument, CustomStringConvertible {
    let bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        guard let bytes = ByteCount.parse(argument), bytes > 0 else { return nil }
        self.bytes = bytes
    }

    var description: String { ByteCount.format(bytes) }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// A time limit in seconds, or `forever`.
struct TimeLimit: Sendable, Hashable, ExpressibleByArgument, CustomStringConvertible {
    /// nil: no limit.
    let duration: Duration?

    init(_ duration: Duration?) { self.duration = duration }

    init?(argument: String) {
        if argument == "forever" {
            duration = nil
        } else if let seconds = Seconds(argument: argument) {
            duration = seconds.duration
        } else {
            return nil
        }
    }

    var description: String { duration.map { "\($0.seconds)" } ?? "forever" }
}

/// A non-negative, finite number of seconds.
struct Seconds: Sendable, Hashable, ExpressibleByArgument, CustomStringConvertible {
    let duration: Duration

    init(_ duration: Duration) { self.duration = duration }

    init?(argument: String) {
        guard let value = Double(argument) else { return nil }
        self.init(value)
    }

    init?(_ value: Double) {
        guard value.isFinite, value >= 0, value <= 1e7 else { return nil }
        duration = .seconds(double: value)
    }

    var description: String { "\(duration.seconds)" }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension OverflowPolicy: ExpressibleByArgument {}
extension FastPath: ExpressibleByArgument {}

/// A queue to relay and where its stream goes, as `--queue NAME=ENDPOINT` writes it.
struct QueueRoute: Sendable, Hashable {
    /// The local queue's name.
    var queue: String
    /// The stream name (topic); by default the queue's name.
    var stream: String
    /// Endpoints to bind (subscribers connect to them).
    var bind: [Endpoint]
    /// Endpoints to connect to (a peer binds them).
    var connect: [Endpoint]

    /// Parses `NAME=ENDPOINT`; the `=` is the last one before the endpoint's `://`.
    static func parse(_ text: String, connecting: Bool) throws(RelayError) -> QueueRoute {
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
enum Values {
    static func endpoint(_ text: String, what: String) throws(RelayError) -> Endpoint {
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

    static func checkQueueName(_ name: String, what: String) throws(RelayError) {
        do throws(TransportError) {
            _ = try Endpoint("shm://\(name)")
        } catch {
            throw .configuration("\(what): queue name '\(name)' is not valid: \(error.message.replacingOccurrences(of: "invalid endpoint 'shm://\(name)': ", with: ""))")
        }
    }

    static func checkStreamName(_ name: String, what: String) throws(RelayError) {
        guard !name.isEmpty, name.utf8.count <= ZeroMQSender.maximumStreamLength else {
            throw .configuration("\(what): a stream name must be 1 to \(ZeroMQSender.maximumStreamLength) bytes long")
        }
    }

    static func logLevel(_ text: String, what: String) throws(RelayError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: text) else {
            throw .configuration("\(what): '\(text)' is not a log level (\(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return level
    }

    static func pattern(_ text: String, what: String) throws(RelayError) -> StreamPattern {
        guard let pattern = StreamPattern(rawValue: text) else {
            throw .configuration("\(what): '\(text)' is not a pattern (pubsub or pushpull)")
        }
        return pattern
    }

    static func fastPath(_ text: String, what: String) throws(RelayError) -> FastPath {
        guard let mode = FastPath(rawValue: text) else {
            throw .configuration("\(what): '\(text)' is not a fast-path mode (automatic, disabled or required)")
        }
        return mode
    }

    static func overflow(_ text: String, what: String) throws(RelayError) -> OverflowPolicy {
        guard let policy = OverflowPolicy(rawValue: text) else {
            throw .configuration("\(what): '\(text)' is not an overflow policy (block, fail or drop-oldest)")
        }
        return policy
    }

    /// Octal permission bits such as "660" or "0660".
    static func queueMode(_ text: String, what: String) throws(RelayError) -> UInt32 {
        guard let bits = UInt32(text, radix: 8), bits <= 0o777, bits & 0o600 == 0o600 else {
            throw .configuration("\(what): '\(text)' is not octal permission bits that let the owner read and write (like \"600\" or \"660\")")
        }
        return bits
    }
}
