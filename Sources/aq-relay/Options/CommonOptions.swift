import AQCommandLine
import ArgumentParser
import ArrayQueues
import ArrayRelay
import ArrayTransport
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

    @Option(help: ArgumentHelp("Where the relay serves its counters over HTTP (GET /metrics, Prometheus text; also read by `aq-relay stats`): ipc:///PATH (HTTP over a Unix socket), tcp://HOST:PORT (beyond loopback only with --allow-tcp-control), or none. (default: ipc://$RUNTIME_DIRECTORY/aq-relay-NAME.sock, else $XDG_RUNTIME_DIR, else the private directory /tmp/aq-relay-UID)", valueName: "endpoint"))
    var control: String?

    @Flag(help: "Allow a tcp:// control address beyond loopback, which has no authentication: anyone who can reach it can read the relay's counters.")
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

    /// The configuration file, parsed (nil without --config).
    func document() throws(RelayError) -> ConfigTable? {
        try config.map { path throws(RelayError) in try TOMLFile.load(path) }
    }

    /// With --check, prints the effective settings (`toml`) and returns nil: the command stops
    /// there. Otherwise sets up logging at the settings' level and returns the logger.
    func checkOrStartLogging(_ settings: CommonSettings, toml: @autoclosure () -> String) -> Logger? {
        if check {
            print(toml())
            return nil
        }
        return LogSetup.bootstrap(level: settings.logLevel)
    }

    /// What these options override.
    var overrides: CommonOverrides {
        var overrides = CommonOverrides()
        overrides.name = name
        overrides.logLevel = logLevel
        overrides.statsInterval = statsInterval?.duration
        overrides.control = control
        overrides.allowTCPControl = allowTcpControl
        overrides.metricsFile = metricsFile
        overrides.fastPath = fastPath
        overrides.allowOtherOwner = allowOtherOwner
        overrides.queueMode = queueMode
        return overrides
    }
}
