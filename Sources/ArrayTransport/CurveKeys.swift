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

extension ZMQSocket {
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
