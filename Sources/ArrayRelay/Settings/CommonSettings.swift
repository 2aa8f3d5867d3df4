import ArgumentParser
import ArrayTransport
import Foundation
import Logging

/// Options every long-running command takes; each overrides the configuration file's value.
struct CommonOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("A TOML configuration file (see deploy/aq-relay.example.toml); command-line options override its values.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("This instance's name: it names the control socket and labels logs and metrics. (default: derived from the queue)", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error or critical. (default: info)", valueName: "level"))
    var logLevel: Logger.Level?

    @Option(help: ArgumentHelp("Seconds between statistics log lines; 0 turns them off. (default: 10)", valueName: "seconds"))
    var statsInterval: Seconds?

    @Option(help: ArgumentHelp("Where `aq-relay stats` reads the counters: ipc:///PATH, tcp://HOST:PORT (only with --allow-tcp-control), or none. (default: ipc://$RUNTIME_DIRECTORY/aq-relay-NAME.sock, else $XDG_RUNTIME_DIR, else the private directory /tmp/aq-relay-UID)", valueName: "endpoint"))
    var control: String?

    @Flag(help: "Allow a tcp:// control endpoint, which has no authentication: anyone who can reach it can read the relay's counters.")
    var allowTcpControl = false

    @Option(help: ArgumentHelp("Also write the counters to this file in Prometheus text format at every statistics interval (for node_exporter's textfile collector).", valueName: "file"))
    var metricsFile: String?

    @Option(help: ArgumentHelp("Same-host fast path of pubsub streams: automatic (a subscriber on the relay's own host takes the stream through shared memory), disabled (always the network) or required. (default: automatic)", valueName: "mode"))
    var fastPath: FastPath?

    @Flag(help: "Open local queues whose shared-memory object belongs to another user (a producer or consumer of another user sharing a group with the relay). By default such a queue is refused: any local user can create a queue's name first.")
    var allowOtherOwner = false

    @Option(help: ArgumentHelp("Octal permission bits of the local queues the relay creates (subscribe's queue, serve's with --create-capacity); 660 lets the relay user's group in. (default: 600)", valueName: "bits"))
    var queueMode: String?

    @Flag(help: "Check the configuration, print the effective settings as TOML and exit.")
    var check = false
}

/// Settings of the daemon itself, whatever it relays.
struct CommonSettings: Sendable {
    var name: String
    var logLevel: Logger.Level = .info
    /// nil: no periodic statistics.
    var statsInterval: Duration? = .seconds(10)
    /// nil: no control socket.
    var control: Endpoint?
    var metricsFile: String?
    /// The same-host fast path (docs/WIRE.md): pubsub only; serve offers it, subscribe takes it.
    var fastPath: FastPath = .automatic
    /// Whether a tcp:// control endpoint was asked for explicitly (it has no authentication).
    var allowTCPControl = false
    /// Whose local queues the relay opens and the mode of those it creates; fast-path queues
    /// ignore it (they always belong to the relay's user).
    var queueAccess = SharedMemoryAccess()

    /// Resolves the settings from the file's top level, then the command line.
    static func resolve(file: ConfigTable?, options: CommonOptions, defaultName: String) throws(RelayError) -> CommonSettings {
        let fileName = try file?.string("name")
        let name = options.name ?? fileName ?? defaultName
        try checkName(name, what: options.name != nil ? "--name" : (file?.has("name") == true ? "\(file!.file) name" : "the instance name"))
        var settings = CommonSettings(name: name)
        // The file's values are read (and checked) even when an option overrides them.
        let fileLevel = try file?.string("log_level").map { text throws(RelayError) in try Values.logLevel(text, what: "\(file!.file) log_level") }
        settings.logLevel = options.logLevel ?? fileLevel ?? settings.logLevel
        let fileInterval = try file?.seconds("stats_interval")
        if let interval = options.statsInterval?.duration ?? fileInterval {
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
        settings.allowTCPControl = options.allowTcpControl || (fileAllowsTCP ?? false)
        if case .tcp? = settings.control, !settings.allowTCPControl {
            throw .configuration("the control endpoint \(settings.control!) is tcp://, which has no authentication (anyone who reaches it reads the counters): use an ipc:// path, or opt in with --allow-tcp-control (allow_tcp_control = true)")
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

    /// Names are used in file names and metric labels: keep them plain.
    static func checkName(_ name: String, what: String) throws(RelayError) {
        let allowed = name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
        guard !name.isEmpty, name.utf8.count <= 64, allowed, !name.hasPrefix(".") else {
            throw .configuration("\(what): '\(name)' is not a valid name: use 1 to 64 letters, digits, '.', '_' or '-'")
        }
    }

    /// The directory for control sockets: systemd's RuntimeDirectory, the user's runtime
    /// directory, or else ``privateDirectory``.
    static var runtimeDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let directory = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first { return String(directory) }
        if let directory = environment["XDG_RUNTIME_DIR"], !directory.isEmpty { return directory }
        return privateDirectory
    }

    /// `/tmp/aq-relay-UID`: made with mode 0700 by the relay and used only if it belongs to this
    /// user and no one else may enter it (as tmux and ssh-agent do), so that another user can
    /// neither squat the control socket nor answer in its place.
    static var privateDirectory: String { "/tmp/aq-relay-\(getuid())" }

    static func defaultControl(name: String) throws(RelayError) -> Endpoint {
        try Values.endpoint("ipc://\(runtimeDirectory)/aq-relay-\(name).sock", what: "the default control endpoint (choose another with --control)")
    }

    /// The settings as TOML lines (for `--check`).
    var toml: [String] {
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
func quoted(_ text: String) -> String {
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
func quotedList(_ items: [String]) -> String {
    "[" + items.map(quoted).joined(separator: ", ") + "]"
}
