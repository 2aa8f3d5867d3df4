import AQCommandLine
import ArrayRelay
import ArgumentParser

/// `aq-relay`: bridges local ArrayQueues queues and remote machines over ZeroMQ.
@main
struct AQRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aq-relay",
        abstract: "Bridge local shared-memory array queues to remote machines over ZeroMQ, and back.",
        discussion: """
            A camera process writes frames into a local queue; `aq-relay serve` publishes the queue as a stream; on another machine `aq-relay subscribe` writes the stream into a local queue there.

            Examples:
              aq-relay demo
                  producer → queue → relay → subscriber on loopback, all verified
              aq-relay serve --queue camera0=tcp://*:5555
                  publish queue camera0 as stream camera0 (pub/sub fan-out)
              aq-relay serve --config /etc/aq-relay/aq-relay.toml
                  everything from a TOML file
              aq-relay subscribe tcp://camera-host:5555 --queue camera0
                  (on another machine) the stream → local queue camera0
              aq-relay stats --summary
                  counters of every relay running here

            Exit status: 0 success, 1 failure while running, 2 bad configuration or options. See deploy/aq-relay.example.toml for every setting and deploy/aq-relay.service for systemd.
            """,
        version: arrayQueuesVersion,
        subcommands: [Serve.self, Subscribe.self, Stats.self, Demo.self, Bench.self, DemoWorker.self]
    )
}
