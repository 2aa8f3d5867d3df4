import AQCommandLine
import ArrayRelay
import ArrayQueues
@_spi(Control) import ArrayTransport
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Answers `aq-relay stats` on the control endpoint: `metrics` gets the Prometheus text of
/// every pipeline, `summary` one line per pipeline with rates over the last second or two,
/// `ping` the instance's name.
///
/// Why ZeroMQ REQ/REP rather than HTTP: the relay already speaks ZeroMQ, the endpoint syntax is
/// the same as for streams (an `ipc://` socket file that file permissions protect, or `tcp://`),
/// and REQ/REP gives request framing for free. Prometheus itself reads the text file that
/// `metrics_file` writes (node_exporter's textfile collector).
final class ControlServer: Service {
    private let socket: ZMQTextSocket
    private let endpoint: String
    private let name: String
    private let mode: String
    private let sources: [any MetricsSource]
    private let logger: Logger
    private let stop = StopFlag()

    /// Largest request accepted (ZMQ_MAXMSGSIZE): requests are single words.
    static let maximumRequestBytes = 256

    /// Binds the control endpoint now, so that a busy one fails at start-up. An `ipc://` socket
    /// file left by a relay of this user that died is replaced; one that answers means the name
    /// is taken; one of another user is never trusted or touched. The private fallback
    /// directory is made (0700) and checked first.
    init(endpoint: String, name: String, mode: String, sources: [any MetricsSource], logger: Logger) throws(RelayError) {
        if endpoint.hasPrefix("ipc://") {
            try Self.prepareSocketFile(String(endpoint.dropFirst("ipc://".count)), endpoint: endpoint)
        } else {
            logger.warning("control endpoint \(endpoint) has no authentication: anyone who can reach it can read the counters (--allow-tcp-control)")
        }
        do throws(TransportError) {
            socket = try ZMQTextSocket(.replier, timeout: .milliseconds(250), maximumMessageBytes: Self.maximumRequestBytes)
            try socket.bind(Endpoint(endpoint))
        } catch {
            throw .runtime("cannot listen for control requests on \(endpoint): \(error); choose another with --control, or --control none")
        }
        self.endpoint = endpoint
        self.name = name
        self.mode = mode
        self.sources = sources
        self.logger = logger
    }

    /// Makes the private directory if the socket goes there, and clears the way for the socket.
    private static func prepareSocketFile(_ path: String, endpoint: String) throws(RelayError) {
        let directory = (path as NSString).deletingLastPathComponent
        if directory == CommonSettings.privateDirectory { try preparePrivateDirectory(directory) }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return }
        let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value
        guard owner == getuid() else {
            throw .runtime("the control socket \(path) belongs to user \(owner.map(String.init) ?? "?"), not to this user (\(getuid())): another user may have put it there to answer in this relay's place; remove it, or give this relay another --name or --control")
        }
        if let answer = try? ControlClient.request("ping", endpoint: endpoint, timeoutMilliseconds: 300) {
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
        logger.info("control endpoint \(endpoint) (aq-relay stats --control \(endpoint))")
        let thread = WorkerThread.start(name: "aq-relay control") { [self] in serve() }
        try? await gracefulShutdown()
        stop.raise()
        await thread.join()
        socket.close()
        // libzmq leaves the socket file behind; it is ours (a live owner was ruled out at start).
        if endpoint.hasPrefix("ipc://") { try? FileManager.default.removeItem(atPath: String(endpoint.dropFirst("ipc://".count))) }
    }

    private func serve() {
        var snapshots = Snapshots(sources: sources)
        while !stop.isRaised {
            snapshots.rotateIfDue()
            let request: String
            do throws(TransportError) {
                guard let received = try socket.receive() else { continue }
                request = received
            } catch {
                logger.error("the control endpoint failed: \(error)")
                return
            }
            let reply: String
            switch request.trimmingCharacters(in: .whitespacesAndNewlines) {
            case "metrics":
                reply = PrometheusText.render(ProcessMetrics.samples(name: name, mode: mode, version: arrayQueuesVersion) + sources.flatMap { $0.samples() })
            case "summary":
                reply = snapshots.summary(name: name, mode: mode)
            case "ping":
                reply = "\(mode) \(name), pid \(getpid())"
            default:
                reply = "error: unknown request '\(request.prefix(40))'; ask for metrics, summary or ping"
            }
            if (try? socket.send(reply)) != true { logger.debug("a stats client left before its answer") }
        }
    }
}

// The socket is created and bound by the thread that starts the relay, then used by the
// control thread only; the other stored properties are immutable or Sendable.
extension ControlServer: @unchecked Sendable {}

/// The samples of one to two seconds ago, so that a summary can show rates.
struct Snapshots {
    let sources: [any MetricsSource]
    private var previous: [[Sample]]?
    private var previousTime = ContinuousClock.now
    private var current: [[Sample]]
    private var currentTime = ContinuousClock.now

    init(sources: [any MetricsSource]) {
        self.sources = sources
        current = sources.map { $0.samples() }
    }

    mutating func rotateIfDue() {
        let now = ContinuousClock.now
        guard now - currentTime >= .seconds(1) else { return }
        previous = current
        previousTime = currentTime
        current = sources.map { $0.samples() }
        currentTime = now
    }

    func summary(name: String, mode: String) -> String {
        let seconds = (ContinuousClock.now - previousTime).seconds
        var lines = ["aq-relay \(mode) \(name), up \(Int(ProcessMetrics.samples(name: name, mode: mode, version: arrayQueuesVersion).value("aq_relay_uptime_seconds"))) s, \(ByteCount.formatResident())"]
        for (position, source) in sources.enumerated() {
            lines.append("  " + source.summary(previous: previous?[position], seconds: seconds))
        }
        return lines.joined(separator: "\n")
    }
}

extension ByteCount {
    /// `resident 42 MiB`.
    static func formatResident() -> String {
        "resident \(format(ProcessMetrics.residentBytes()))"
    }
}

/// The client side: one request, one answer.
enum ControlClient {
    static func request(_ text: String, endpoint: String, timeoutMilliseconds: Int32) throws(RelayError) -> String {
        let answer: String?
        do throws(TransportError) {
            let socket = try ZMQTextSocket(.requester, timeout: .milliseconds(timeoutMilliseconds))
            defer { socket.close() }
            try socket.connect(Endpoint(endpoint))
            answer = try socket.send(text) ? try socket.receive() : nil
        } catch {
            throw .configuration("cannot reach the control endpoint \(endpoint): \(error)")
        }
        guard let answer else {
            throw .runtime("no answer from \(endpoint) within \(Double(timeoutMilliseconds) / 1000) s: is the relay running?")
        }
        return answer
    }
}
