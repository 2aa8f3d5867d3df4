import AQCommandLine
import ArrayRelay
import ArrayTransport
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// Runs pipelines under swift-service-lifecycle: SIGTERM and SIGINT start a graceful
/// shutdown, in reverse order of start — the pipelines first (stop reading, flush, send `end`),
/// then the statistics (a last line), then the metrics server.
enum Daemon {
    static func run(mode: String, settings: CommonSettings, pipelines: [any Pipeline], logger: Logger) async throws {
        _ = ProcessMetrics.started  // the uptime counts from here
        // One registry for /metrics, the metrics file and anything the process records through
        // swift-metrics.
        let export = PrometheusExport()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: export.registry))
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let control = settings.control {
            services.append(.init(service: try await MetricsService(endpoint: control, name: settings.name, mode: mode, sources: pipelines, export: export, logger: logger)))
        }
        services.append(.init(service: StatsReporter(
            interval: settings.statsInterval, metricsFile: settings.metricsFile, name: settings.name, mode: mode, sources: pipelines, export: export, logger: logger)))
        services.append(.init(service: PipelineService(pipelines: pipelines), successTerminationBehavior: .gracefullyShutdownGroup))
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Generous: the pipelines bound their own flushing by the linger period.
        configuration.maximumGracefulShutdownDuration = .seconds(30)
        let group = ServiceGroup(configuration: configuration)
        logger.info("aq-relay \(arrayQueuesVersion) \(mode) '\(settings.name)' running (pid \(getpid())); SIGTERM or SIGINT stops it gracefully")
        try await group.run()
        logger.info("aq-relay \(mode) '\(settings.name)' stopped")
    }
}

/// The pipelines as one service.
struct PipelineService: Service {
    let pipelines: [any Pipeline]

    func run() async throws {
        for pipeline in pipelines { pipeline.start() }
        try? await gracefulShutdown()
        await withTaskGroup(of: Void.self) { group in
            for pipeline in pipelines { group.addTask { await pipeline.shutdown() } }
        }
    }
}

extension RelayError {
    /// A pipeline that could not start: a bad endpoint or option is the configuration's fault
    /// (exit status 2), anything else the run's.
    init(startingPipeline error: TransportError, _ prefix: String = "") {
        self.init(error.code == .invalidEndpoint || error.code == .invalidArgument ? .configuration : .runtime, prefix + error.description)
    }
}
