import AQCommandLine
import ArrayQueues
import ArrayRelay
import ArrayTransport
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Serves the relay's counters over HTTP on its control endpoint: `/metrics` (Prometheus text,
/// the same numbers `aq-relay stats` prints), `/summary` (one line per pipeline with rates over
/// the last second or two) and `/ping` (who is running).
///
/// The endpoint is an `ipc://` socket file by default — HTTP over a Unix socket, which file
/// permissions protect and `aq-relay stats` finds by the relay's name — or a `tcp://` address
/// for Prometheus to scrape (loopback freely; other addresses with --allow-tcp-control).
final class MetricsService: Service {
    private let server: MetricsServer
    private let endpoint: Endpoint
    private let logger: Logger
    private let snapshots: SnapshotsBox

    /// Checks the way to the endpoint and starts serving, so that a busy or taken endpoint fails
    /// at start-up. An `ipc://` socket file left by a relay of this user that died is replaced;
    /// one that answers means the name is taken; one of another user is never trusted or
    /// touched. The private fallback directory is made (0700) and checked first.
    init(endpoint: Endpoint, name: String, mode: String, sources: [any MetricsSource], export: PrometheusExport, logger: Logger) async throws(RelayError) {
        switch endpoint {
        case let .ipc(path):
            try await Self.prepareSocketFile(path, endpoint: endpoint)
        case let .tcp(host, _) where !CommonSettings.isLoopback(host):
            logger.warning("control endpoint \(endpoint) has no authentication: anyone who can reach it can read the counters (--allow-tcp-control)")
        default:
            break
        }
        let snapshots = SnapshotsBox(Snapshots(sources: sources))
        let pages: [MetricsServer.Page] = [
            .init("/metrics", contentType: MetricsServer.Page.prometheusContentType) {
                export.render(ProcessMetrics.samples(name: name, mode: mode, version: arrayQueuesVersion) + sources.flatMap { $0.samples() })
            },
            .init("/summary") { snapshots.state.withLock { $0.summary(name: name, mode: mode) } },
            .init("/ping") { "\(mode) \(name), pid \(getpid())" },
        ]
        server = try MetricsServer(endpoint: endpoint, pages: pages)
        do throws(RelayError) {
            try await server.start()
        } catch {
            throw .runtime("\(error.message); choose another with --control, or --control none")
        }
        self.endpoint = endpoint
        self.logger = logger
        self.snapshots = snapshots
    }

    /// Makes the private directory if the socket goes there, and clears the way for the socket.
    private static func prepareSocketFile(_ path: String, endpoint: Endpoint) async throws(RelayError) {
        let directory = (path as NSString).deletingLastPathComponent
        if directory == CommonSettings.privateDirectory { try preparePrivateDirectory(directory) }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return }
        let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value
        guard owner == getuid() else {
            throw .runtime("the control socket \(path) belongs to user \(owner.map(String.init) ?? "?"), not to this user (\(getuid())): another user may have put it there to answer in this relay's place; remove it, or give this relay another --name or --control")
        }
        if let answer = try? await MetricsClient.get("/ping", from: endpoint, timeout: .milliseconds(300)) {
            throw .runtime("another aq-relay (\(answer.prefix(200))) is already running with control socket \(path); give this one another --name or --control")
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Creates `directory` with mode 0700 if it is missing, then checks that it is a directory
    /// (not a link) of this user that no one else may enter.
    private static func preparePrivateDirectory(_ directory: String) throws(RelayError) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: directory) else {
            throw .runtime("cannot create the control socket directory \(directory); set RUNTIME_DIRECTORY or give --control")
        }
        let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value
        let permissions = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        guard attributes[.type] as? FileAttributeType == .typeDirectory, owner == getuid(), permissions & 0o077 == 0 else {
            throw .runtime("the control socket directory \(directory) is not a private directory of this user (owner \(owner.map(String.init) ?? "?"), mode \(String(permissions, radix: 8))): another user may have made it; remove it, or set RUNTIME_DIRECTORY or give --control")
        }
    }

    func run() async throws {
        let shown = await server.listeningEndpoint ?? endpoint.description
        logger.info("metrics on \(shown) (aq-relay stats --control \(shown)\(shown.hasPrefix("tcp://") ? ", or http://…/metrics" : ""))")
        // Keeps a reading of a second or two ago for the summary's rates.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            snapshots.state.withLock { $0.rotate() }
        }
        await server.stop()
        // The socket file is ours (a live owner was ruled out at start).
        if case let .ipc(path) = endpoint { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// The snapshots, shared by the summary page and the loop that rotates them.
final class SnapshotsBox: Sendable {
    let state: Mutex<Snapshots>
    init(_ snapshots: Snapshots) { state = Mutex(snapshots) }
}

/// The samples of one to two seconds ago, so that a summary can show rates.
struct Snapshots: Sendable {
    let sources: [any MetricsSource]
    private var previous: [[Sample]]?
    private var previousTime = ContinuousClock.now

    init(sources: [any MetricsSource]) {
        self.sources = sources
    }

    mutating func rotate() {
        previous = sources.map { $0.samples() }
        previousTime = .now
    }

    func summary(name: String, mode: String) -> String {
        let seconds = (ContinuousClock.now - previousTime).seconds
        var lines = ["aq-relay \(mode) \(name), up \(Int(saturating: ProcessMetrics.samples(name: name, mode: mode, version: arrayQueuesVersion).value("aq_relay_uptime_seconds"))) s, resident \(ByteCount.format(ProcessMetrics.residentBytes()))"]
        for (position, source) in sources.enumerated() {
            lines.append("  " + source.summary(previous: previous?[position], seconds: seconds))
        }
        return lines.joined(separator: "\n")
    }
}
