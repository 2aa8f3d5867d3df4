public import ArrayTransport
import FlyingFox
import FlyingSocks
import Foundation
import Synchronization

/// Serves text pages over HTTP: `/metrics` (the Prometheus text format) and whatever else its
/// owner adds, on a tcp:// address (what Prometheus scrapes; localhost unless told otherwise) or
/// an ipc:// socket file (HTTP over a Unix socket, protected by the file's permissions:
/// `curl --unix-socket PATH http://localhost/metrics`).
///
/// Built on FlyingFox, a small HTTP/1.1 server on Swift concurrency without SwiftNIO: a
/// metrics page needs no more, and the package builds in seconds.
public final class MetricsServer: Sendable {
    /// A page: its path and a function that makes its text when someone asks.
    public struct Page: Sendable {
        /// `/metrics`.
        public let path: String
        /// The page's `Content-Type`.
        public let contentType: String
        /// Makes the text.
        public let text: @Sendable () -> String

        /// A page at `path`.
        public init(_ path: String, contentType: String = "text/plain; charset=utf-8", text: @escaping @Sendable () -> String) {
            self.path = path
            self.contentType = contentType
            self.text = text
        }

        /// The Prometheus text exposition format, version 0.0.4.
        public static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"
    }

    /// The most bytes of one request body the server buffers; a connection may receive at most
    /// this many bytes in all, and stay open at most 10 s (FlyingFox bounds neither the headers
    /// nor a client's time: a watchdog thread shuts such connections down).
    public static let maximumRequestBytes = 64 << 10

    /// Where the server listens, as given.
    public let endpoint: Endpoint
    private let server: HTTPServer
    private let task = Locked<Task<Void, any Error>?>(nil)
    /// Why the server's run ended, once it has.
    private let ended = Locked<String?>(nil)

    /// Prepares a server for `pages` on `endpoint` (tcp://HOST:PORT with an IP address,
    /// `localhost` or `*`, and port 0 or `*` for any free port; or ipc:///PATH).
    ///
    /// - Throws: a configuration error for another kind of endpoint or a host name.
    public init(endpoint: Endpoint, pages: [Page]) throws(RelayError) {
        self.endpoint = endpoint
        let address = try Self.socketAddress(endpoint)
        // A handler gets 5 s, and a request body at most 64 KiB of buffer (GETs need a few hundred
        // bytes). FlyingFox bounds neither the request line and headers nor a slow client's
        // time: `ConnectionWatchdog` does, from outside (docs/RELIABILITY.md).
        server = HTTPServer(config: HTTPServer.Configuration(
            address: address, timeout: 5, sharedRequestReplaySize: Self.maximumRequestBytes, logger: .disabled))
        handler = PagesHandler(pages: pages)
    }

    private let handler: PagesHandler
    /// Shuts down connections that last or send too long, once the server listens.
    private let watchdog = Locked<ConnectionWatchdog?>(nil)
    /// Connections shut down for lasting longer than 10 s or receiving more than 64 KiB.
    var connectionsCut: Int { watchdog.get()?.cut.load(ordering: .relaxed) ?? 0 }

    /// Starts listening and serving; returns once the socket is bound.
    ///
    /// - Throws: a runtime error when the address cannot be bound (in use, no permission) or
    ///   is not bound within 5 s.
    public func start() async throws(RelayError) {
        let server = self.server
        await server.appendRoute("*", to: handler)
        let ended = self.ended
        task.set(Task {
            do {
                try await server.run()
                ended.set("the server stopped")
            } catch {
                ended.set("\(error)")
            }
        })
        let deadline = ContinuousClock.now + .seconds(5)
        while await !server.isListening {
            // A failed bind ends run() at once.
            if let reason = ended.get() { throw .runtime("cannot serve metrics on \(endpoint): \(reason)") }
            if ContinuousClock.now >= deadline {
                task.get()?.cancel()
                throw .runtime("cannot serve metrics on \(endpoint): not listening after 5 s")
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        let listening: ConnectionWatchdog.Listening?
        switch await server.listeningAddress {
        case let .ip4(host, port)?: listening = .tcp(port: port, host: host == "0.0.0.0" ? nil : host)
        case let .ip6(host, port)?: listening = .tcp(port: port, host: host == "::" ? nil : host)
        case let .unix(path)?: listening = .unix(path: path)
        case nil: listening = nil
        }
        if let listening {
            let watchdog = ConnectionWatchdog(listening, limits: .init(receivedBytes: UInt64(Self.maximumRequestBytes)))
            self.watchdog.set(watchdog)
            watchdog.start()
        }
    }

    /// The address the server listens on (`tcp://127.0.0.1:40123` with the port resolved), or
    /// nil before ``start()``.
    public var listeningEndpoint: String? {
        get async {
            switch await server.listeningAddress {
            case let .ip4(host, port)?: "tcp://\(host):\(port)"
            case let .ip6(host, port)?: "tcp://[\(host)]:\(port)"
            case let .unix(path)?: "ipc://\(path)"
            case nil: nil
            }
        }
    }

    /// Stops listening; requests in progress may finish for up to `timeout` seconds.
    public func stop(timeout: Double = 1) async {
        await server.stop(timeout: timeout)
        task.get()?.cancel()
        await watchdog.get()?.stop()
    }

    static func socketAddress(_ endpoint: Endpoint) throws(RelayError) -> any SocketAddress {
        switch endpoint {
        case let .ipc(path):
            return sockaddr_un.unix(path: path)
        case let .tcp(host, port):
            let port = port ?? 0
            do {
                switch host {
                case "*": return try sockaddr_in.inet(ip4: "0.0.0.0", port: port)
                case "localhost": return try sockaddr_in.inet(ip4: "127.0.0.1", port: port)
                default:
                    if host.contains(":") { return try sockaddr_in6.inet6(ip6: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port) }
                    return try sockaddr_in.inet(ip4: host, port: port)
                }
            } catch {
                throw .configuration("metrics address \(endpoint): '\(host)' is not an IP address (give one, or localhost or *)")
            }
        case .sharedMemory:
            throw .configuration("metrics address \(endpoint): give tcp://HOST:PORT or ipc:///PATH")
        }
    }
}

/// Answers GET for the pages, 404 for other paths, 405 for other methods.
private struct PagesHandler: HTTPHandler {
    let pages: [MetricsServer.Page]

    func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
        guard request.method == .GET || request.method == .HEAD else {
            var headers = HTTPHeaders()
            headers[HTTPHeader("Allow")] = "GET, HEAD"
            return HTTPResponse(statusCode: .methodNotAllowed, headers: headers)
        }
        guard let page = pages.first(where: { $0.path == request.path }) else {
            let known = pages.map(\.path).joined(separator: ", ")
            return HTTPResponse(statusCode: .notFound, headers: Self.headers("text/plain; charset=utf-8"), body: Data("no page \(request.path.prefix(100)); try \(known)\n".utf8))
        }
        return HTTPResponse(statusCode: .ok, headers: Self.headers(page.contentType), body: Data(page.text().utf8))
    }

    private static func headers(_ contentType: String) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers[.contentType] = contentType
        return headers
    }
}

/// A value that tasks share: the server's task, and why it ended.
private final class Locked<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func set(_ newValue: Value) { value.withLock { $0 = newValue } }
    func get() -> Value { value.withLock { $0 } }
}
