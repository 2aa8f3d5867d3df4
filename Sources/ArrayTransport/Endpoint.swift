/// Where a stream of arrays is sent or received: a parsed, checked endpoint string.
///
/// ```swift
/// try Endpoint("tcp://*:5555")            // bind on every interface, port 5555
/// try Endpoint("tcp://127.0.0.1:*")       // bind on loopback, port chosen by the system
/// try Endpoint("tcp://[::1]:5555")        // IPv6 literals go in brackets
/// try Endpoint("tcp://camera-host:5555")  // a host name (resolved when connecting)
/// try Endpoint("ipc:///run/aq/camera0")   // a Unix-domain socket: an absolute path
/// try Endpoint("shm://camera0")           // a shared-memory queue on this host
/// ```
///
/// ZeroMQ senders and receivers take `tcp://` and `ipc://`; `shm://` names a shared-memory
/// queue (same rules as ArrayQueues queue names) for the shared-memory transport.
public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// TCP: `host` is `*` (every interface, bind only), an IPv4 address, an IPv6 address
    /// (stored without brackets) or a host name; `port` nil stands for `*` (the system picks a
    /// free port when binding).
    case tcp(host: String, port: UInt16?)
    /// A Unix-domain socket at an absolute path.
    case ipc(path: String)
    /// A shared-memory queue on this host, by queue name.
    case sharedMemory(name: String)

    /// Longest `ipc://` path: the size of `sockaddr_un.sun_path` less its terminating NUL.
    public static let maximumIPCPathLength = 107
    /// Longest shared-memory queue name (`NAME_MAX` less ArrayQueues' `aq.` prefix).
    public static let maximumQueueNameLength = 252

    /// Parses `tcp://HOST:PORT`, `ipc:///ABSOLUTE/PATH` or `shm://NAME`.
    ///
    /// - Throws: ``TransportError/Code/invalidEndpoint`` with a message naming what is wrong.
    public init(_ text: String) throws(TransportError) {
        guard let separator = text.firstRange(of: "://") else {
            throw Self.invalid(text, "it has no transport: expected tcp://HOST:PORT, ipc:///PATH or shm://NAME")
        }
        let scheme = text[..<separator.lowerBound]
        let rest = String(text[separator.upperBound...])
        switch scheme {
        case "tcp": self = try Self.parseTCP(rest, text: text)
        case "ipc": self = try Self.parseIPC(rest, text: text)
        case "shm": self = try Self.parseSharedMemory(rest, text: text)
        default:
            throw Self.invalid(text, "unknown transport '\(scheme)': expected tcp, ipc or shm")
        }
    }

    /// The endpoint as a string that ``init(_:)`` parses back to the same value.
    public var description: String {
        switch self {
        case let .tcp(host, port):
            let hostText = host.contains(":") ? "[\(host)]" : host
            return "tcp://\(hostText):\(port.map(String.init) ?? "*")"
        case let .ipc(path): return "ipc://\(path)"
        case let .sharedMemory(name): return "shm://\(name)"
        }
    }

    /// The TCP port, if this is a TCP endpoint with a fixed port.
    public var port: UInt16? {
        if case let .tcp(_, port) = self { return port }
        return nil
    }

    /// Whether the host or the port is `*`: such an endpoint can be bound but not connected to.
    public var isWildcard: Bool {
        if case let .tcp(host, port) = self { return host == "*" || port == nil }
        return false
    }

    /// Whether the host is an IPv6 literal (ZeroMQ needs `ZMQ_IPV6` for those).
    var isIPv6: Bool {
        if case let .tcp(host, _) = self { return host.contains(":") }
        return false
    }

    /// The address string libzmq takes.
    func zeroMQAddress() throws(TransportError) -> String {
        if case .sharedMemory = self {
            throw TransportError(.invalidEndpoint, "'\(self)' is a shared-memory endpoint; ZeroMQ senders and receivers take tcp:// and ipc:// endpoints")
        }
        return description
    }

    // MARK: - Parsing

    private static func invalid(_ text: String, _ reason: String) -> TransportError {
        TransportError(.invalidEndpoint, "invalid endpoint '\(text)': \(reason)")
    }

    private static func parseTCP(_ rest: String, text: String) throws(TransportError) -> Endpoint {
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw invalid(text, "the IPv6 address has no closing ']'")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            guard after.hasPrefix(":") else { throw invalid(text, "expected ':PORT' after the IPv6 address") }
            portText = after.dropFirst()
            try checkIPv6(host, text: text)
        } else {
            guard let colon = rest.lastIndex(of: ":") else {
                throw invalid(text, "no port: expected tcp://HOST:PORT (PORT 1-65535, or * to let the system choose when binding)")
            }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
            if host.contains(":") {
                throw invalid(text, "an IPv6 address must be written in brackets, as in tcp://[::1]:5555")
            }
            try checkHost(host, text: text)
        }
        return .tcp(host: String(host), port: try parsePort(portText, text: text))
    }

    private static func parsePort(_ text: Substring, text whole: String) throws(TransportError) -> UInt16? {
        if text == "*" { return nil }
        guard !text.isEmpty else { throw invalid(whole, "the port is empty: expected 1-65535, or *") }
        guard text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text) else {
            throw invalid(whole, "port '\(text)' is not a number: expected 1-65535, or *")
        }
        guard (1...65535).contains(value) else {
            throw invalid(whole, "port \(value) is out of range: expected 1-65535, or * to let the system choose")
        }
        return UInt16(value)
    }

    private static func checkIPv6(_ host: Substring, text: String) throws(TransportError) {
        guard !host.isEmpty else { throw invalid(text, "the IPv6 address in brackets is empty") }
        let allowed = host.utf8.allSatisfy { isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }
        guard allowed, host.contains(":"), host.utf8.count <= 45 else {
            throw invalid(text, "'[\(host)]' is not an IPv6 address")
        }
    }

    private static func checkHost(_ host: Substring, text: String) throws(TransportError) {
        guard !host.isEmpty else { throw invalid(text, "the host is empty: use * to bind every interface") }
        if host == "*" { return }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        if host.allSatisfy({ ($0.isASCII && $0.isNumber) || $0 == "." }) {
            // All digits and dots: it must be a dotted-quad IPv4 address.
            let valid = labels.count == 4 && labels.allSatisfy { label in
                guard let value = Int(label), label.count <= 3, (0...255).contains(value) else { return false }
                return label == "0" || !label.hasPrefix("0")
            }
            guard valid else { throw invalid(text, "'\(host)' is not an IPv4 address (four numbers 0-255)") }
            return
        }
        guard host.utf8.count <= 253 else { throw invalid(text, "the host name is longer than 253 characters") }
        for label in labels {
            let letters = label.utf8
            let valid = !letters.isEmpty && letters.count <= 63 && letters.first != UInt8(ascii: "-") && letters.last != UInt8(ascii: "-")
                && letters.allSatisfy { isLetterOrDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
            guard valid else {
                throw invalid(text, "'\(host)' is not a host name: use letters, digits and '-' in dot-separated parts of 1-63 characters")
            }
        }
    }

    private static func parseIPC(_ path: String, text: String) throws(TransportError) -> Endpoint {
        guard path.hasPrefix("/") else {
            throw invalid(text, "an ipc:// path must be absolute, as in ipc:///tmp/stream (three slashes)")
        }
        guard path.utf8.count > 1, !path.hasSuffix("/") else { throw invalid(text, "the ipc:// path names a directory, not a socket file") }
        guard path.utf8.count <= maximumIPCPathLength else {
            throw invalid(text, "the ipc:// path is \(path.utf8.count) bytes long; Unix-domain socket paths hold at most \(maximumIPCPathLength)")
        }
        guard !path.utf8.contains(0) else { throw invalid(text, "the ipc:// path contains a NUL character") }
        return .ipc(path: path)
    }

    private static func parseSharedMemory(_ name: String, text: String) throws(TransportError) -> Endpoint {
        guard !name.isEmpty else { throw invalid(text, "the queue name is empty") }
        guard name.utf8.count <= maximumQueueNameLength else {
            throw invalid(text, "the queue name is \(name.utf8.count) bytes long; at most \(maximumQueueNameLength) are allowed")
        }
        guard !name.hasPrefix(".") else { throw invalid(text, "a queue name cannot start with '.'") }
        let allowed = name.utf8.allSatisfy { isLetterOrDigit($0) || "._-@+=,:".utf8.contains($0) }
        guard allowed else {
            throw invalid(text, "a queue name may contain only letters, digits and . _ - @ + = , : (no '/', spaces or control characters)")
        }
        return .sharedMemory(name: name)
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
    }
}
