import Foundation
import Glibc

/// An HTTP answer as a plain client sees it.
public struct HTTPAnswer: Sendable {
    /// The status code (200).
    public let status: Int
    /// The header lines, lowercased names.
    public let headers: [String: String]
    /// The body.
    public let body: String
}

/// Where an HTTP server listens, for ``httpGet(_:path:request:timeout:)``.
public enum HTTPTarget: Sendable {
    /// 127.0.0.1 (or another IPv4 address) and a port.
    case tcp(host: String, port: UInt16)
    /// A Unix socket file.
    case unix(path: String)

    /// `tcp://127.0.0.1:4000` → `.tcp`, `http://127.0.0.1:4000/metrics` → `.tcp`,
    /// `ipc:///path` → `.unix`; nil for anything else.
    public init?(_ text: String) {
        if text.hasPrefix("ipc://") { self = .unix(path: String(text.dropFirst(6))); return }
        var rest = Substring(text)
        for scheme in ["tcp://", "http://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]) else { return nil }
        self = .tcp(host: String(rest[..<colon]), port: port)
    }
}

/// GETs `path` with a plain socket and HTTP/1.1 (`Connection: close`), as curl would: no
/// library between the test and the server's bytes. `request` replaces the whole request when
/// given (for malformed ones). Every wait is bounded by `timeout`; nil if nothing answered.
public func httpGet(_ target: HTTPTarget, path: String, request: String? = nil, timeout: Double = 5) -> HTTPAnswer? {
    let descriptor: Int32
    switch target {
    case .tcp: descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    case .unix: descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    }
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    let connected: Bool
    switch target {
    case let .tcp(host, port):
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    case let .unix(path):
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
    }
    guard connected else { return nil }
    let text = request ?? "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    var sent = 0
    let data = Array(text.utf8)
    while sent < data.count {
        let count = data[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if count <= 0 { break }
        sent += count
    }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        received += buffer[0..<count]
        // A complete answer with a Content-Length need not wait for the close.
        if let answer = parse(received), answer.complete { return answer.answer }
    }
    return parse(received)?.answer
}

private func parse(_ bytes: [UInt8]) -> (answer: HTTPAnswer, complete: Bool)? {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return nil }
    let head = text[..<split.lowerBound].components(separatedBy: "\r\n")
    guard let statusLine = head.first, statusLine.hasPrefix("HTTP/1."), let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else { return nil }
    var headers: [String: String] = [:]
    for line in head.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let body = String(text[split.upperBound...])
    let complete = headers["content-length"].flatMap(Int.init).map { body.utf8.count >= $0 } ?? false
    return (HTTPAnswer(status: status, headers: headers, body: body), complete)
}
