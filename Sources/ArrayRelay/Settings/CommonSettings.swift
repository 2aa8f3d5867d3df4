public import ArrayTransport
import Foundation
public import Logging

/// What a command line sets for every long-running command: each value that is not nil (or
/// a flag that is true) overrides the configuration file's.
public struct CommonOverrides: Sendable {
    /// This instance's name.
    public var name: String?
    /// The log level.
    public var logLevel: Logger.Level?
    /// Seconds between statistics lines; zero turns them off.
    public var statsInterval: Duration?
    /// The control endpoint, or `none`.
    public var control: String?
    /// Allow a tcp:// control address beyond loopback.
    public var allowTCPControl = false
    /// Where to write the counters in Prometheus text format.
    /// A file to rewrite with the counters at every statistics interval.
    public var metricsFile: String?
    /// The same-host fast path.
    public var fastPath: FastPath?
    /// Open queues of other users.
    public var allowOtherOwner = false
    /// Octal permission bits of created queues, as typed.
    public var queueMode: String?

    /// Nothing overridden.
    public init() {}
}

/// Settings of the daemon itself, whatever it relays.
public struct CommonSettings: Sendable {
    /// The instance name (labels logs and metrics; names the control socket).
    public var name: String
    /// The log level.
    public var logLevel: Logger.Level = .info
    /// nil: no periodic statistics.
    public var statsInterval: Duration? = .seconds(10)
    /// Where the counters are served over HTTP (an ipc:// socket file or a tcp:// address); nil: nowhere.
    public var control: Endpoint?
    /// A file rewritten with the counters at every statistics interval (node_exporter's textfile collector).
    public var metricsFile: String?
    /// The same-host fast path (docs/WIRE.md): pubsub only; serve offers it, subscribe takes it.
    public var fastPath: FastPath = .automatic
    /// Whether a tcp:// control address beyond loopback was asked for explicitly (it has no authentication).
    public var allowTCPControl = false
    /// Whose local queues the relay opens and the mode of those it creates; fast-path queues
    /// ignore it (they always belong to the relay's user).
    public var queueAccess = SharedMemoryAccess()

    /// Defaults, under `name`.
    public init(name: String) { self.name = name }

    /// Resolves the settings from the file's top level, then the command line.
    public static func resolve(file: ConfigTable?, options: CommonOverrides, defaultName: String) throws(RelayError) -> CommonSettings {
        let fileName = try file?.string("name")
        let name = options.name ?? fileName ?? defaultName
        try checkName(name, what: options.name != nil ? "--name" : (file?.has("name") == true ? "\(file!.file) name" : "the instance name"))
        var settings = CommonSettings(name: name)
        // The file's values are read (and checked) even when an option overrides them.
        let fileLevel = try file?.string("log_level").map { text throws(RelayError) in try Values.logLevel(text, what: "\(file!.file) log_level") }
        settings.logLevel = options.logLevel ?? fileLevel ?? settings.logLevel
        let fileInterval = try file?.seconds("stats_interval")
        if let interval = options.statsInterval ?? fileInterval {
            settings.statsInterval = interval == .zero ? nil : interval
        }
        let fileControl = try file?.string("control")
        let controlText = options.control ?? fileControl
        switch controlText {
        case "none"?: settings.control = nil
        case let text?: settings.control = try Values.endpoint(text, what: options.control != nil ? "--control" : "\(file!.file) control")
        case nil: settings.control = try defaultControl(name: name)
        }
        let fileAllowsTCP = try file?.bool("allow_tcp_control")
        settings.allowTCPControl = options.allowTCPControl || (fileAllowsTCP ?? false)
        if case let .tcp(host, _)? = settings.control, !isLoopback(host), !settings.allowTCPControl {
            throw .configuration("the control endpoint \(settings.control!) is tcp:// beyond this host, which has no authentication (anyone who reaches it reads the counters): use 127.0.0.1, an ipc:// path, or opt in with --allow-tcp-control (allow_tcp_control = true)")
        }
        let fileMetrics = try file?.string("metrics_file")
        settings.metricsFile = options.metricsFile ?? fileMetrics
        let fileFastPath = try file?.string("fast_path").map { text throws(RelayError) in try Values.fastPath(text, what: "\(file!.file) fast_path") }
        settings.fastPath = options.fastPath ?? fileFastPath ?? settings.fastPath
        let fileAllowsOthers = try file?.bool("allow_other_owner")
        settings.queueAccess.allowOtherOwner = options.allowOtherOwner || (fileAllowsOthers ?? false)
        let fileMode = try file?.string("queue_mode").map { text throws(RelayError) in try Values.queueMode(text, what: "\(file!.file) queue_mode") }
        let optionMode = try options.queueMode.map { text throws(RelayError) in try Values.queueMode(text, what: "--queue-mode") }
        settings.queueAccess.mode = optionMode ?? fileMode ?? settings.queueAccess.mode
        return settings
    }

    /// Whether `host` names this host's loopback interface (127.0.0.0/8, ::1, localhost).
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }

    /// Throws unless `name` is a plain name (names are used in file names and metric labels).
    public static func checkName(_ name: String, what: String) throws(RelayError) {
        let allowed = name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
        guard !name.isEmpty, name.utf8.count <= 64, allowed, !name.hasPrefix(".") else {
            throw .configuration("\(what): '\(name)' is not a valid name: use 1 to 64 letters, digits, '.', '_' or '-'")
        }
    }

    /// The directory for control sockets: systemd's RuntimeDirectory, the user's runtime
    /// directory, or else ``privateDirectory``.
    public static var runtimeDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let directory = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first { return String(directory) }
        if let directory = environment["XDG_RUNTIME_DIR"], !directory.isEmpty { return directory }
        return privateDirectory
    }

    /// `/tmp/aq-relay-UID`: made with mode 0700 by the relay and used only if it belongs to this
    /// user and no one else may enter it (as tmux and ssh-agent do), so that another user can
    /// neither squat the control socket nor answer in its place.
    public static var privateDirectory: String { "/tmp/aq-relay-\(getuid())" }

    /// The control endpoint of the relay called `name`, where `aq-relay stats` looks for it.
    public static func defaultControl(name: String) throws(RelayError) -> Endpoint {
        try Values.endpoint("ipc://\(runtimeDirectory)/aq-relay-\(name).sock", what: "the default control endpoint (choose another with --control)")
    }

    /// The settings as TOML lines (for `--check`).
    public var toml: [String] {
        [
            "name = \(quoted(name))",
            "log_level = \(quoted(logLevel.rawValue))",
            "stats_interval = \(statsInterval?.seconds ?? 0)",
            "control = \(quoted(control?.description ?? "none"))",
            "fast_path = \(quoted(fastPath.rawValue))",
            "allow_other_owner = \(queueAccess.allowOtherOwner)",
            "queue_mode = \(quoted("0" + String(queueAccess.mode, radix: 8)))",
        ] + (allowTCPControl ? ["allow_tcp_control = true"] : []) + (metricsFile.map { ["metrics_file = \(quoted($0))"] } ?? [])
    }
}

/// A TOML basic string.
public func quoted(_ text: String) -> String {
    var escaped = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": escaped += "\\\""
        case "\\": escaped += "\\\\"
        case "\n": escaped += "\\n"
        case "\t": escaped += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                escaped += String(format: "\\u%04X", scalar.value)
            } else {
                escaped.unicodeScalars.append(scalar)
            }
        }
    }
    return "\"\(escaped)\""
}

/// A TOML array of strings.
public func quotedList(_ items: [String]) -> String {
    "[" + items.map(quoted).joined(separator: ", ") + "]"
}
