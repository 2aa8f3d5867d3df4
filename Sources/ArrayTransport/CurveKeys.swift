import Logging

/// A CURVE key pair (ZeroMQ's public-key encryption and authentication), both keys Z85-encoded:
/// 40 printable characters each.
///
/// ```swift
/// let serverKeys = try CurveKeys.generate()
/// let sender = try ZeroMQSender(.publish, stream: "camera0", bind: [endpoint],
///                               options: .init(curve: .server(serverKeys)))
/// let receiver = try ZeroMQReceiver(.subscribe(prefixes: ["camera0"]), connect: [endpoint],
///                                   options: .init(curve: .client(try CurveKeys.generate(), serverPublicKey: serverKeys.publicKey)))
/// ```
///
/// `description` never shows the secret key.
public struct CurveKeys: Sendable, Hashable, CustomStringConvertible {
    /// The public key (Z85, 40 characters): give it to peers.
    public let publicKey: String
    /// The secret key (Z85, 40 characters): keep it to yourself.
    public let secretKey: String

    /// A new random key pair (`zmq_curve_keypair`).
    ///
    /// - Throws: ``TransportError/Code/unsupported`` if libzmq was built without CURVE, or the
    ///   failure of `zmq_curve_keypair`.
    public static func generate() throws(TransportError) -> CurveKeys {
        try requireCurve()
        let pair = try ZMQ.curveKeypair()
        return CurveKeys(checkedPublicKey: pair.publicKey, secretKey: pair.secretKey)
    }

    /// The key pair of a secret key, deriving its public key (`zmq_curve_public`).
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` for a key that is not 40 Z85 characters.
    public init(secretKey: String) throws(TransportError) {
        try Self.requireCurve()
        try Self.checkKey(secretKey, role: "secret")
        self.init(checkedPublicKey: try ZMQ.curvePublic(secretKey: secretKey), secretKey: secretKey)
    }

    /// The key pair of the secret key in a file: the 40 Z85 characters alone, or a line
    /// `secret-key = "…"` as in ZeroMQ's certificate files.
    ///
    /// Like ssh with its private keys, the file is refused if its group or others may read or
    /// write it (`chmod 600` fixes that), or if it belongs to another user than this process's
    /// (root's files are accepted too).
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` for a file that is too open, owned by
    ///   another user, or holds no valid key; ``TransportError/Code/systemCall`` if it cannot be read.
    public init(secretKeyFile path: String) throws(TransportError) {
        let file = try Sys.readFile(path, limit: 64 << 10)
        let openBits = file.mode & 0o077
        guard openBits == 0 else {
            throw TransportError(.invalidArgument, "the CURVE secret key file '\(path)' has permissions \(String(file.mode & 0o777, radix: 8)): it must be readable by its owner only (chmod 600 '\(path)')")
        }
        guard file.owner == Sys.userID || file.owner == 0 else {
            throw TransportError(.invalidArgument, "the CURVE secret key file '\(path)' belongs to user \(file.owner), not to this process's user \(Sys.userID)")
        }
        let lines = String(decoding: file.bytes, as: UTF8.self).split(separator: "\n")
        guard let key = lines.lazy.compactMap({ CurveKeyFile.value(of: $0, name: "secret-key") }).first else {
            throw TransportError(.invalidArgument, "the CURVE secret key file '\(path)' holds no key: write the 40 Z85 characters of the secret key into it")
        }
        do throws(TransportError) {
            try self.init(secretKey: key)
        } catch {
            throw TransportError(.invalidArgument, "\(path): \(error.message)")
        }
    }

    private init(checkedPublicKey: String, secretKey: String) {
        self.publicKey = checkedPublicKey
        self.secretKey = secretKey
    }

    /// The public key only.
    public var description: String { "CurveKeys(public: \(publicKey), secret: <redacted>)" }

    static func requireCurve() throws(TransportError) {
        guard ZMQ.has("curve") else {
            throw TransportError(.unsupported, "this libzmq (\(ZMQContext.libraryVersion)) was built without CURVE security")
        }
    }

    /// Checks that `key` is a Z85-encoded 32-byte key.
    static func checkKey(_ key: String, role: String) throws(TransportError) {
        let alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
        guard key.utf8.count == 40, key.utf8.allSatisfy({ alphabet.utf8.contains($0) }) else {
            throw TransportError(.invalidArgument, "the CURVE \(role) key must be 40 Z85 characters (as CurveKeys.generate() makes them); got \(key.utf8.count) characters")
        }
    }
}

/// CURVE security for a socket. The side that binds is usually the server.
public enum CurveSecurity: Sendable, Hashable {
    /// Accept clients that know this server's public key; encrypt everything.
    case server(CurveKeys)
    /// Connect to a server whose public key is `serverPublicKey`, with this client's own keys.
    case client(CurveKeys, serverPublicKey: String)
}

extension CurveSecurity {
    /// The server's public key: this side's own as a server, the peer's as a client.
    var serverPublicKey: String {
        switch self {
        case let .server(keys): keys.publicKey
        case let .client(_, serverPublicKey): serverPublicKey
        }
    }
}

extension ZMQSocket {
    /// Sets up a new socket's security before it binds or connects: CURVE, the allow-list of
    /// its clients, and a warning for each endpoint in `binding` that is reachable from other
    /// hosts without CURVE.
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` for an allow-list without CURVE server
    ///   security, or the failing libzmq call.
    func secure(_ security: CurveSecurity?, allowList: CurveAllowList?, binding: [Endpoint], logger: Logger) throws(TransportError) {
        if let security { try configure(security) }
        if let allowList {
            guard case .server? = security else {
                throw TransportError(.invalidArgument, "a CURVE allow-list needs CURVE server security (CurveSecurity.server) on the same socket")
            }
            try restrict(to: allowList, logger: logger)
        }
        if security == nil {
            for endpoint in binding where endpoint.isReachableFromOtherHosts {
                logger.warning("binding \(endpoint) without CURVE: anyone who can reach it may receive or send in plain text (give CURVE keys, or bind a loopback address)")
            }
        }
    }

    /// Sets the CURVE options for `security` (before binding or connecting).
    func configure(_ security: CurveSecurity) throws(TransportError) {
        try CurveKeys.requireCurve()
        switch security {
        case let .server(keys):
            try setOption(ZMQ.curveServer, 1, name: "ZMQ_CURVE_SERVER")
            try setOption(ZMQ.curveSecretKey, string: keys.secretKey, name: "ZMQ_CURVE_SECRETKEY")
        case let .client(keys, serverPublicKey):
            try CurveKeys.checkKey(serverPublicKey, role: "server public")
            try setOption(ZMQ.curveServerKey, string: serverPublicKey, name: "ZMQ_CURVE_SERVERKEY")
            try setOption(ZMQ.curvePublicKey, string: keys.publicKey, name: "ZMQ_CURVE_PUBLICKEY")
            try setOption(ZMQ.curveSecretKey, string: keys.secretKey, name: "ZMQ_CURVE_SECRETKEY")
        }
    }
}
