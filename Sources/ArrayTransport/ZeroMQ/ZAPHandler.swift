import Logging
import Synchronization

/// A context's ZAP handler (ZeroMQ's authentication protocol, RFC 27): a REP socket bound to
/// `inproc://zeromq.zap.01` in the context, answered by a thread of its own. libzmq asks it
/// about every CURVE handshake of a server socket in the context; the answer depends on the
/// socket's ZAP domain:
///
/// - no domain (a CURVE server without a ``CurveAllowList``): accepted, as libzmq does when no
///   handler is bound;
/// - the domain of a ``CurveAllowList``: accepted if the client's public key is on the list;
/// - anything else (a list that is gone, another mechanism): refused.
///
/// The thread ends when the context terminates (libzmq then fails its receive with `ETERM`).
final class ZAPHandler: Sendable {
    static let endpoint = "inproc://zeromq.zap.01"

    private struct Registration {
        weak var list: CurveAllowList?
        let logger: Logger
        /// Refusals are logged at most once a second per allow-list.
        let refusalLogs = Throttle(every: .seconds(1))
    }

    private let registrations = Mutex<[String: Registration]>([:])

    /// Starts the handler of `context`.
    ///
    /// - Throws: the failing libzmq call; `zmq_bind` fails with `EADDRINUSE` if the program bound
    ///   a ZAP handler of its own to the context.
    fileprivate init(context: ZMQContext) throws(TransportError) {
        let socket = try ZMQ.socket(context.handle, type: ZMQ.reply)
        do {
            try ZMQ.setOption(socket, ZMQ.linger, int: 0, name: "ZMQ_LINGER")
            try ZMQ.bind(socket, Self.endpoint)
        } catch {
            ZMQ.close(socket)
            throw TransportError(error.code, "cannot start the ZAP handler that enforces a CURVE allow-list (is another bound to \(Self.endpoint) in this context?): \(error.message)",
                                 function: error.function, errno: error.errno)
        }
        let handle = SocketHandle(pointer: socket)
        do {
            try Sys.spawnThread(name: "aq-zap") { [self] in serve(handle.pointer) }
        } catch {
            ZMQ.close(socket)
            throw error
        }
    }

    /// Lets sockets with `list`'s domain be decided by `list`; refusals are logged to `logger`.
    func register(_ list: CurveAllowList, logger: Logger) {
        registrations.withLock { registrations in
            registrations = registrations.filter { $0.value.list != nil }
            if registrations[list.domain] == nil {
                registrations[list.domain] = Registration(list: list, logger: logger)
            }
        }
    }

    // MARK: The thread

    private func serve(_ socket: UnsafeMutableRawPointer) {
        defer { ZMQ.close(socket) }
        while true {
            var frames: [[UInt8]] = []
            do throws(TransportError) {
                while true {
                    let frame = ZMQMessage()
                    switch try ZMQ.messageReceive(frame.pointer, socket, dontWait: false) {
                    case .done: break
                    case .wouldBlock, .interrupted: continue
                    }
                    // A request has 7 frames (or more with other mechanisms); keep at most 16.
                    if frames.count < 16 { frames.append(Array(frame.bytes)) }
                    if !frame.hasMore { break }
                }
                let (status, text) = decide(frames)
                let requestID = frames.count > 1 ? frames[1] : []
                let reply: [[UInt8]] = [Array("1.0".utf8), requestID, Array(status.utf8), Array(text.utf8), [], []]
                for (index, part) in reply.enumerated() {
                    let message = try ZMQMessage(size: part.count)
                    if let target = message.baseAddress, !part.isEmpty { part.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
                    while try ZMQ.messageSend(message.pointer, socket, more: index < reply.count - 1, dontWait: false) == .interrupted {}
                }
            } catch {
                // ETERM: the context is terminating and waits for this socket to close.
                return
            }
        }
    }

    /// The status code and text for one request: version, request id, domain, address,
    /// routing id, mechanism, credentials.
    private func decide(_ frames: [[UInt8]]) -> (String, String) {
        guard frames.count >= 6, String(decoding: frames[0], as: UTF8.self) == "1.0" else { return ("400", "not a ZAP 1.0 request") }
        let domain = String(decoding: frames[2], as: UTF8.self)
        let address = String(decoding: frames[3], as: UTF8.self)
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        if domain.isEmpty { return ("200", "OK") }
        let found = registrations.withLock { $0[domain] }
        guard let registration = found, let list = registration.list else { return ("400", "no allow-list for this socket") }
        guard mechanism == "CURVE", frames.count >= 7,
              let key = frames[6].withUnsafeBytes({ ZMQ.z85Encode($0) }) else {
            refused(domain, "a \(mechanism) client from \(address) (only CURVE clients on the allow-list are accepted)", list: list)
            return ("400", "CURVE required")
        }
        guard list.admit(key) else {
            refused(domain, "the CURVE client \(key) from \(address): its public key is not on the allow-list \(list.path.map { "'\($0)'" } ?? "given in code")", list: list)
            return ("400", "client key not allowed")
        }
        return ("200", "OK")
    }

    /// Logs a refusal at `warning` level, at most once a second per allow-list.
    private func refused(_ domain: String, _ what: String, list: CurveAllowList) {
        guard let registration = registrations.withLock({ $0[domain] }), let suppressed = registration.refusalLogs.admit() else { return }
        let more = suppressed > 0 ? " (and \(suppressed) more refusals since the last report)" : ""
        registration.logger.warning("refused \(what)\(more); \(list.deniedCount) refused so far")
    }
}

/// The ZAP socket's handle, handed to the handler's thread once; only that thread uses it.
private struct SocketHandle: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
}

extension ZMQContext {
    /// The context's ZAP handler, started on first use.
    func zapHandler() throws(TransportError) -> ZAPHandler {
        try zap.withLock { (handler: inout ZAPHandler?) throws(TransportError) -> ZAPHandler in
            if let handler { return handler }
            let started = try ZAPHandler(context: self)
            handler = started
            return started
        }
    }
}

extension ZMQSocket {
    /// Makes this CURVE server socket accept only the clients on `list` (`ZMQ_ZAP_DOMAIN`); call
    /// it before binding, after ``configure(_:)``.
    func restrict(to list: CurveAllowList, logger: Logger) throws(TransportError) {
        try context.zapHandler().register(list, logger: logger)
        try setOption(ZMQ.zapDomain, string: list.domain, name: "ZMQ_ZAP_DOMAIN")
    }
}
