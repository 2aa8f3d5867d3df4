import AQCommandLine
import ArgumentParser
import ArrayQueues
import ArrayRelay
import ArrayTransport
import Dispatch
import Foundation

/// `aq metrics`: every queue of this host on an HTTP `/metrics` page for Prometheus.
struct Metrics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the state and counters of every queue of this host as Prometheus metrics over HTTP.",
        discussion: """
            GET /metrics answers with, per queue (label queue): capacity, bytes used and records waiting (aq_queue_capacity_bytes, aq_queue_bytes_used, aq_queue_records), puts, gets, drops, resets and clears (aq_queue_*_total), the dead-peer counters (aq_queue_abandoned_writes_total: a producer died mid-write; aq_queue_lost_reads_total: a consumer died mid-read) and the attached processes (aq_queue_attached_processes{state="alive"|"dead"}); and aq_queues, aq_queues_unreadable{reason}. Each scrape reads the queues' headers afresh. Runs until SIGINT or SIGTERM.

            Examples:
              aq metrics --listen 127.0.0.1:9465
              curl -s http://127.0.0.1:9465/metrics
            """)

    @Option(help: ArgumentHelp("Where to listen: HOST:PORT with an IP address or localhost (port * picks a free one), or ipc:///PATH for a Unix socket.", valueName: "address"))
    var listen = "127.0.0.1:9465"

    @OptionGroup var owner: OwnerOptions

    func run() async throws {
        try await reportingErrors("aq") {
            let endpoint = try Values.endpoint(listen.contains("://") ? listen : "tcp://\(listen)", what: "--listen")
            let export = PrometheusExport()
            let options = owner.queueOptions()
            let server = try MetricsServer(endpoint: endpoint, pages: [
                .init("/metrics", contentType: MetricsServer.Page.prometheusContentType) { export.render(HostQueueMetrics.samples(options: options)) },
            ])
            try await server.start()
            let shown = await server.listeningEndpoint ?? endpoint.description
            // Written at once (not buffered), for scripts that wait for it to learn the port.
            FileHandle.standardOutput.write(Data("aq metrics: serving \(shown.replacingOccurrences(of: "tcp://", with: "http://"))/metrics (SIGINT or SIGTERM stops)\n".utf8))
            await Self.waitForTermination()
            await server.stop()
        }
    }

    /// Returns when the process gets SIGINT or SIGTERM.
    static func waitForTermination() async {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        let sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield() }
            source.resume()
            return source
        }
        for await _ in stream { break }
        for source in sources { source.cancel() }
    }
}
