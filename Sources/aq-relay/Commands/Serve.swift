import AQCommandLine
import ArrayRelay
import ArgumentParser
import ArrayTransport
import Logging

/// `aq-relay serve`: local queues → ZeroMQ streams.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish local queues as ZeroMQ streams (one stream per queue, named after it).",
        discussion: """
            Each queue is read with the zero-copy borrowing get on a thread of its own; under pubsub each record is copied once into a ZeroMQ message and its slot freed at once; under pushpull (or with --zero-copy) it is sent straight from shared memory and its slot freed when ZeroMQ is done with it. Under pubsub a slow or dead subscriber never blocks the producer: it loses frames at its peer queue, and the relay's memory stays under --byte-budget per stream and connected peer.

            CURVE: --curve-secret-key-file encrypts every stream; --curve-allowed-clients also refuses clients whose public key is not listed (each refusal is logged at warning level). SIGHUP reloads the allowed keys; clients already connected stay connected.

            SIGTERM or SIGINT: stop reading, send the frames in hand and `end`, flush within --linger, exit 0. A restarted relay sends under a new epoch, which subscribers recognise.

            Examples:
              aq-relay serve --queue camera0=tcp://*:5555
              aq-relay serve --queue camera0=tcp://*:5555 --queue camera1=tcp://*:5556
              aq-relay serve --queue camera0=tcp://collector:6000 --connect \\
                  --pattern pushpull
              aq-relay serve --config /etc/aq-relay/aq-relay.toml --log-level debug
              aq-relay serve --config aq-relay.toml --check
                  (print the effective settings and exit)
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var serve: ServeOptions

    func run() async throws {
        try await reportingErrors("aq-relay") {
            let settings = try ServeSettings.resolve(common: common, serve: serve)
            guard let logger = common.checkOrStartLogging(settings.common, toml: settings.toml) else { return }
            let reloader = settings.curveAllowList.map { AllowListReloader($0, logger: logger) }
            defer { withExtendedLifetime(reloader) {} }
            var relays: [QueueRelay] = []
            for route in settings.routes {
                do throws(TransportError) {
                    relays.append(try QueueRelay(route: route, settings: settings, curve: settings.curve, logger: logger))
                } catch {
                    throw RelayError(startingPipeline: error, "stream '\(route.stream)': ")
                }
            }
            try await Daemon.run(mode: "serve", settings: settings.common, pipelines: relays, logger: logger)
        }
    }
}
