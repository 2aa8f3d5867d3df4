import Synchronization

/// The CURVE clients a server accepts, by public key: ZeroMQ's ZAP authentication (RFC 27).
///
/// Without an allow-list, any client that knows the server's public key can connect (CURVE
/// encrypts, but authenticates only the server). Give one to a sender or receiver that is a
/// CURVE server (``ZeroMQSender/Options/curveAllowList``, ``ZeroMQReceiver/Options/curveAllowList``)
/// and clients whose public key is not on it are refused during the handshake: they receive
/// nothing and can send nothing. Each refusal is counted (``deniedCount``) and logged at
/// `warning` level (at most once a second).
///
/// ```swift
/// let clients = try CurveAllowList(contentsOf: "/etc/aq-relay/clients")   // a file or a directory
/// let sender = try ZeroMQSender(.publish, stream: "camera0", bind: [endpoint],
///                               options: .init(curve: .server(serverKeys), curveAllowList: clients))
/// try clients.reload()    // after the files changed (aq-relay does it on SIGHUP)
/// ```
///
/// A key file holds public keys, one per line, each either the 40 Z85 characters alone or as
/// ZeroMQ's certificate files write it (`public-key = "…"`); blank lines, `#` comments and
/// other `name = value` lines (`secret-key` among them) are ignored. A directory's files are
/// all read (not its hidden files or subdirectories). Changes take effect for new connections.
public final class CurveAllowList: Sendable, CustomStringConvertible {
    /// The file or directory the keys come from, or nil for a list given in code.
    public let path: String?
    /// The ZAP domain of the sockets that use this list: unique in the process.
    let domain: String

    private let keys: Mutex<Set<String>>
    private let denied = Atomic<UInt64>(0)
    private let accepted = Atomic<UInt64>(0)

    private static let nextNumber = Atomic<UInt64>(1)

    /// A list of `publicKeys` (each 40 Z85 characters).
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` for a key that is not 40 Z85 characters.
    public init(publicKeys: some Sequence<String>) throws(TransportError) {
        var checked: Set<String> = []
        for key in publicKeys {
            try CurveKeys.checkKey(key, role: "client public")
            checked.insert(key)
        }
        path = nil
        keys = Mutex(checked)
        domain = Self.newDomain()
    }

    /// The keys of a file, or of every file in a directory (see the type's documentation).
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` naming the file and line of a key that
    ///   is not 40 Z85 characters, ``TransportError/Code/systemCall`` if a file cannot be read.
    public init(contentsOf path: String) throws(TransportError) {
        self.path = path
        keys = Mutex(try Self.load(path))
        domain = Self.newDomain()
    }

    /// Reads the file or directory again and replaces the keys; on an error the old keys stay.
    /// Does nothing for a list given in code.
    ///
    /// - Returns: the number of keys now on the list.
    @discardableResult
    public func reload() throws(TransportError) -> Int {
        guard let path else { return count }
        let loaded = try Self.load(path)
        keys.withLock { $0 = loaded }
        return loaded.count
    }

    /// Replaces the keys with `publicKeys`.
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` for a key that is not 40 Z85 characters
    ///   (the list is then unchanged).
    public func replace(with publicKeys: some Sequence<String>) throws(TransportError) {
        var checked: Set<String> = []
        for key in publicKeys {
            try CurveKeys.checkKey(key, role: "client public")
            checked.insert(key)
        }
        keys.withLock { $0 = checked }
    }

    /// Whether a client with the Z85 `publicKey` may connect.
    public func allows(_ publicKey: String) -> Bool {
        keys.withLock { $0.contains(publicKey) }
    }

    /// The number of keys on the list.
    public var count: Int { keys.withLock { $0.count } }

    /// Handshakes refused because the client's key was not on the list.
    public var deniedCount: UInt64 { denied.load(ordering: .relaxed) }

    /// Handshakes accepted.
    public var acceptedCount: UInt64 { accepted.load(ordering: .relaxed) }

    /// The path and the number of keys.
    public var description: String { "CurveAllowList(\(path ?? "in code"), \(count) keys)" }

    /// Decides one handshake and counts it.
    func admit(_ publicKey: String) -> Bool {
        let allowed = allows(publicKey)
        if allowed { accepted.add(1, ordering: .relaxed) } else { denied.add(1, ordering: .relaxed) }
        return allowed
    }

    private static func newDomain() -> String {
        "arraytransport.allow.\(nextNumber.add(1, ordering: .relaxed).oldValue)"
    }

    // MARK: Files

    /// Largest key file read, in bytes (a few thousand keys).
    static let maximumFileBytes = 1 << 20

    private static func load(_ path: String) throws(TransportError) -> Set<String> {
        var keys: Set<String> = []
        if Sys.isDirectory(path) {
            for name in try Sys.directoryEntries(path).sorted() where !name.hasPrefix(".") {
                let file = path.hasSuffix("/") ? path + name : path + "/" + name
                guard !Sys.isDirectory(file) else { continue }
                keys.formUnion(try parse(file))
            }
        } else {
            keys = try parse(path)
        }
        return keys
    }

    private static func parse(_ file: String) throws(TransportError) -> Set<String> {
        let contents = try Sys.readFile(file, limit: maximumFileBytes)
        var keys: Set<String> = []
        for (number, line) in String(decoding: contents.bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let key = CurveKeyFile.value(of: line, name: "public-key") else { continue }
            do throws(TransportError) {
                try CurveKeys.checkKey(key, role: "client public")
            } catch {
                throw TransportError(.invalidArgument, "\(file) line \(number + 1): \(error.message)")
            }
            keys.insert(key)
        }
        return keys
    }
}

/// The line format of key files: a bare key, or `name = "key"` as ZeroMQ's certificates write it.
enum CurveKeyFile {
    /// The key on `line` if it is a bare key or a `name = …` line; nil for blank lines,
    /// comments and other names.
    static func value(of line: Substring, name: String) -> String? {
        let text = line.trimmingSpaces()
        // Z85's alphabet has '=' and '#', so a bare key is told apart by its length: 40
        // characters without spaces or quotes. Other lines without '=' ("curve", "metadata")
        // and comments are ignored.
        if text.count == 40, !text.contains(" "), !text.contains("\"") { return String(text) }
        guard !text.isEmpty, !text.hasPrefix("#") else { return nil }
        guard let equals = text.firstIndex(of: "=") else { return nil }
        guard text[..<equals].trimmingSpaces() == Substring(name) else { return nil }
        var value = text[text.index(after: equals)...].trimmingSpaces()
        if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
        return String(value)
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var slice = self
        while let first = slice.first, first == " " || first == "\t" || first == "\r" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" || last == "\r" { slice.removeLast() }
        return slice
    }
}
