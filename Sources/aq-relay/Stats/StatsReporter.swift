import AQCommandLine
import ArrayRelay
import Foundation
@preconcurrency import Glibc
import Logging
import ServiceLifecycle

/// Logs one line per pipeline every statistics interval (and once more at shutdown), and
/// rewrites the Prometheus metrics file, if one is configured.
struct StatsReporter: Service {
    let interval: Duration?
    let metricsFile: String?
    let name: String
    let mode: String
    let sources: [any MetricsSource]
    let export: PrometheusExport
    let logger: Logger
    let warnings = Throttle(every: .seconds(60))

    func run() async throws {
        guard interval != nil || metricsFile != nil else {
            try? await gracefulShutdown()
            return
        }
        var previous: [[Sample]]? = sources.map { $0.samples() }
        var previousTime = ContinuousClock.now
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval ?? .seconds(10)) }
            let now = ContinuousClock.now
            report(previous: previous, seconds: (now - previousTime).seconds)
            previous = sources.map { $0.samples() }
            previousTime = now
        }
    }

    private func report(previous: [[Sample]]?, seconds: Double) {
        if interval != nil {
            for (position, source) in sources.enumerated() {
                logger.info("\(source.summary(previous: previous?[position], seconds: seconds))")
            }
        }
        if let metricsFile {
            let text = export.render(ProcessMetrics.samples(name: name, mode: mode, version: arrayQueuesVersion) + sources.flatMap { $0.samples() })
            // Written beside and renamed, so that readers never see half a file.
            let temporary = metricsFile + ".tmp"
            do {
                try text.write(toFile: temporary, atomically: false, encoding: .utf8)
                guard rename(temporary, metricsFile) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            } catch {
                if let more = warnings.admit() { logger.warning("cannot write the metrics file \(metricsFile): \(error.localizedDescription)\(more.andMore)") }
            }
        }
    }
}
