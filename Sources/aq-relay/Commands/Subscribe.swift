import AQCommandLine
import ArrayRelay
import ArgumentParser
import ArrayQueues
import ArrayTransport
import Logging

/// `aq-relay subscribe`: ZeroMQ streams → a local queue.
struct Subscribe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receive remote streams and write them into a local queue, for local consumers.",
        discussion: """
            The local queue is created if it does not exist. Its consumers read plain records (dtype, shape, timestamp and index as the producer gave them). When the relay restarts, the subscriber notices the new epoch and carries on; when the subscriber restarts, it reconnects and resumes. Frames lost on the way are counted (aq_relay_lost_total), never hidden.

            Examples:
              aq-relay subscribe tcp://camera-host:5555 --queue camera0
              aq-relay subscribe tcp://camera-host:5555 --queue camera0 \\
                  --overflow drop-oldest          (a live display: newest frames win)
              aq-relay subscribe tcp://camera-host:5555 --queue frames \\
                  --pattern pushpull              (lossless, with backpressure)
              aq-relay subscribe --config /etc/aq-relay/aq-relay.toml
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var subscribe: SubscribeOptions

    func run() async throws {
        try await reportingErrors("aq-relay") {
            let settings = try SubscribeSettings.resolve(common: common, subscribe: subscribe)
            guard let logger = common.checkOrStartLogging(settings.common, toml: settings.toml) else { return }
            if case let .client(keys, _)? = settings.curve, settings.curveSecretKeyFile == nil {
                logger.notice("CURVE: without --curve-secret-key-file this run uses a new key pair (public key \(keys.publicKey)); a relay with an allow-list (curve_allowed_clients) refuses it")
            }
            let subscription: Subscription
            do {
                subscription = try Subscription(settings: settings, curve: settings.curve, logger: logger)
            } catch let error as TransportError {
                throw RelayError(startingPipeline: error)
            }
            try await Daemon.run(mode: "subscribe", settings: settings.common, pipelines: [subscription], logger: logger)
        }
    }
}
