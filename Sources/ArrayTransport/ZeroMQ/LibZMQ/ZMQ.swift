// Every libzmq call ArrayTransport makes is wrapped here, once (and the few socket calls made on
// libzmq's own connections, by descriptor). Wrappers return Swift values or
// throw a `TransportError` that names the C function, `zmq_errno()` and `zmq_strerror`;
// nothing else in the module calls libzmq.
import CTCPInfo
import CZeroMQ
@preconcurrency import Glibc
import SystemPackage

enum ZMQ {
    // MARK: Errors and capabilities

    /// `zmq_errno()`: the calling thread's last libzmq error number.
    static func lastError() -> Int32 { zmq_errno() }

    /// `zmq_strerror`: libzmq's explanation of an error number (it knows the system's too).
    static func errorText(_ number: Int32) -> String {
        guard let text = zmq_strerror(number) else { return "error \(number)" }
        return String(cString: text)
    }

    /// A ``TransportError/Code/zeroMQ`` error for `function`, with the current `zmq_errno()`.
    static func failure(_ function: String, _ message: String, errorNumber: Int32 = zmq_errno()) -> TransportError {
        TransportError(.zeroMQ, message, function: function, errno: Errno(rawValue: errorNumber))
    }

    static let wouldBlock: Int32 = EAGAIN
    static let interrupted: Int32 = EINTR
    static let terminated: Int32 = czmq_eterm()

    /// `zmq_version`.
    static func version() -> (major: Int, minor: Int, patch: Int) {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (Int(major), Int(minor), Int(patch))
    }

    /// `zmq_has`: whether libzmq was built with a capability such as `"curve"` or `"ipc"`.
    static func has(_ capability: String) -> Bool {
        zmq_has(capability) == 1
    }

    // MARK: Contexts

    /// `zmq_ctx_new`.
    static func contextNew() throws(TransportError) -> UnsafeMutableRawPointer {
        guard let context = zmq_ctx_new() else { throw failure("zmq_ctx_new", "cannot create a ZeroMQ context") }
        return context
    }

    /// `zmq_ctx_set` (integer options such as `ZMQ_IO_THREADS`).
    static func contextSet(_ context: UnsafeMutableRawPointer, _ option: Int32, _ value: Int32) throws(TransportError) {
        guard zmq_ctx_set(context, option, value) == 0 else {
            throw failure("zmq_ctx_set", "cannot set option \(option) of the ZeroMQ context to \(value)")
        }
    }

    /// `zmq_ctx_get` (integer options); -1 with `errno` set for an unknown one.
    static func contextGet(_ context: UnsafeMutableRawPointer, _ option: Int32) throws(TransportError) -> Int32 {
        let value = zmq_ctx_get(context, option)
        guard value >= 0 else { throw failure("zmq_ctx_get", "cannot read option \(option) of the ZeroMQ context") }
        return value
    }

    /// `zmq_ctx_term`, restarted after signals. Blocks until every socket of the context is closed
    /// and their linger periods have passed.
    static func contextTerminate(_ context: UnsafeMutableRawPointer) {
        while zmq_ctx_term(context) != 0 && zmq_errno() == EINTR {}
    }

    // MARK: Sockets

    /// `zmq_socket`.
    static func socket(_ context: UnsafeMutableRawPointer, type: Int32) throws(TransportError) -> UnsafeMutableRawPointer {
        guard let socket = zmq_socket(context, type) else {
            throw failure("zmq_socket", "cannot create a ZeroMQ socket of type \(type)")
        }
        return socket
    }

    /// `zmq_close`; it cannot fail for a valid socket.
    static func close(_ socket: UnsafeMutableRawPointer) {
        _ = zmq_close(socket)
    }

    /// `zmq_setsockopt` with a C `int` value.
    static func setOption(_ socket: UnsafeMutableRawPointer, _ option: Int32, int value: Int32, name: String) throws(TransportError) {
        guard czmq_setsockopt_int(socket, option, value) == 0 else {
            throw failure("zmq_setsockopt", "cannot set socket option \(name) to \(value)")
        }
    }

    /// `zmq_setsockopt` with an `int64_t` value.
    static func setOption(_ socket: UnsafeMutableRawPointer, _ option: Int32, int64 value: Int64, name: String) throws(TransportError) {
        guard czmq_setsockopt_int64(socket, option, value) == 0 else {
            throw failure("zmq_setsockopt", "cannot set socket option \(name) to \(value)")
        }
    }

    /// `zmq_setsockopt` with a byte-string value (subscriptions, keys).
    static func setOption(_ socket: UnsafeMutableRawPointer, _ option: Int32, bytes: [UInt8], name: String) throws(TransportError) {
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(socket, option, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw failure("zmq_setsockopt", "cannot set socket option \(name)") }
    }

    /// `zmq_getsockopt` for a C `int` option.
    static func intOption(_ socket: UnsafeMutableRawPointer, _ option: Int32, name: String) throws(TransportError) -> Int32 {
        var value: Int32 = 0
        guard czmq_getsockopt_int(socket, option, &value) == 0 else {
            throw failure("zmq_getsockopt", "cannot read socket option \(name)")
        }
        return value
    }

    /// `zmq_getsockopt` for a string option such as `ZMQ_LAST_ENDPOINT`.
    static func stringOption(_ socket: UnsafeMutableRawPointer, _ option: Int32, name: String) throws(TransportError) -> String {
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        guard czmq_getsockopt_string(socket, option, &buffer, &size) == 0 else {
            throw failure("zmq_getsockopt", "cannot read socket option \(name)")
        }
        let bytes = buffer.prefix(max(0, min(size, buffer.count))).prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `zmq_bind`.
    static func bind(_ socket: UnsafeMutableRawPointer, _ address: String) throws(TransportError) {
        guard zmq_bind(socket, address) == 0 else { throw failure("zmq_bind", "cannot bind to '\(address)'") }
    }

    /// `zmq_connect`.
    static func connect(_ socket: UnsafeMutableRawPointer, _ address: String) throws(TransportError) {
        guard zmq_connect(socket, address) == 0 else { throw failure("zmq_connect", "cannot connect to '\(address)'") }
    }

    /// `zmq_poll` on one socket: the events that are ready (0 on timeout or when a signal
    /// interrupted the wait; callers recompute their deadline and poll again).
    static func poll(_ socket: UnsafeMutableRawPointer, events: Int16, timeoutMilliseconds: Int) throws(TransportError) -> Int16 {
        var item = zmq_pollitem_t(socket: socket, fd: 0, events: events, revents: 0)
        let rc = zmq_poll(&item, 1, timeoutMilliseconds)
        if rc < 0 {
            let number = zmq_errno()
            if number == EINTR { return 0 }
            throw failure("zmq_poll", "cannot wait on a ZeroMQ socket", errorNumber: number)
        }
        return rc == 0 ? 0 : item.revents
    }

    /// `zmq_socket_monitor`: publishes the socket's connection `events` on a PAIR socket bound
    /// at the inproc `address`.
    static func monitor(_ socket: UnsafeMutableRawPointer, address: String, events: Int32) throws(TransportError) {
        guard zmq_socket_monitor(socket, address, events) == 0 else {
            throw failure("zmq_socket_monitor", "cannot monitor a ZeroMQ socket on '\(address)'")
        }
    }

    /// `zmq_socket_monitor(socket, NULL, 0)`: stops monitoring (libzmq sends its last event and
    /// closes its side). Call it before the reading side closes: libzmq's I/O thread blocks on
    /// an event it cannot deliver.
    static func monitorStop(_ socket: UnsafeMutableRawPointer) {
        _ = zmq_socket_monitor(socket, nil, 0)
    }

    // MARK: Messages

    /// `zmq_msg_init`: an empty message.
    static func messageInit(_ message: UnsafeMutablePointer<zmq_msg_t>) {
        _ = zmq_msg_init(message)
    }

    /// `zmq_msg_init_size`: a message with room for `size` bytes, owned by libzmq.
    static func messageInit(_ message: UnsafeMutablePointer<zmq_msg_t>, size: Int) throws(TransportError) {
        guard zmq_msg_init_size(message, size) == 0 else {
            throw failure("zmq_msg_init_size", "cannot allocate a message of \(size) bytes")
        }
    }

    /// `zmq_msg_init_data`: a message over memory owned elsewhere, without copying it. libzmq calls
    /// `free(data, hint)` once, on one of its threads, when it no longer needs the memory.
    static func messageInit(
        _ message: UnsafeMutablePointer<zmq_msg_t>, data: UnsafeMutableRawPointer, size: Int,
        free: @escaping @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void,
        hint: UnsafeMutableRawPointer
    ) throws(TransportError) {
        guard zmq_msg_init_data(message, data, size, free, hint) == 0 else {
            throw failure("zmq_msg_init_data", "cannot make a message of \(size) bytes")
        }
    }

    /// `zmq_msg_close`; harmless on a message that was sent (libzmq emptied it).
    static func messageClose(_ message: UnsafeMutablePointer<zmq_msg_t>) {
        _ = zmq_msg_close(message)
    }

    /// `zmq_msg_data`.
    static func messageData(_ message: UnsafeMutablePointer<zmq_msg_t>) -> UnsafeMutableRawPointer? {
        zmq_msg_data(message)
    }

    /// `zmq_msg_size`.
    static func messageSize(_ message: UnsafeMutablePointer<zmq_msg_t>) -> Int {
        zmq_msg_size(message)
    }

    /// `zmq_msg_more`: whether more frames of the same multipart message follow.
    static func messageMore(_ message: UnsafeMutablePointer<zmq_msg_t>) -> Bool {
        zmq_msg_more(message) != 0
    }

    /// `zmq_msg_get(ZMQ_SRCFD)`: the file descriptor of the connection a received frame came
    /// from, or nil if libzmq does not know it.
    static func messageSourceDescriptor(_ message: UnsafeMutablePointer<zmq_msg_t>) -> Int32? {
        let descriptor = zmq_msg_get(message, ZMQ_SRCFD)
        return descriptor >= 0 ? descriptor : nil
    }

    /// `getsockopt(TCP_INFO)` on a connection's descriptor (a libzmq engine's): the bytes the
    /// peer acknowledged of those sent on it, and the bytes the kernel received on it; nil if it
    /// is not a TCP socket (any more).
    static func tcpBytes(_ descriptor: Int32) -> (acknowledged: UInt64, received: UInt64)? {
        var acknowledged: UInt64 = 0, received: UInt64 = 0
        return ctcpinfo_bytes(descriptor, &acknowledged, &received) == 0 ? (acknowledged, received) : nil
    }

    /// `ioctl(FIONREAD)` on a connection's descriptor: the bytes its kernel receive queue holds
    /// that libzmq has not read yet; nil on failure.
    static func unreadBytes(_ descriptor: Int32) -> Int? {
        var bytes: Int32 = 0
        return czmq_unread_bytes(descriptor, &bytes) == 0 ? Int(bytes) : nil
    }

    /// `shutdown(SHUT_RDWR)` on a connection's descriptor: libzmq sees the connection end and
    /// drops it, with whatever it held for it (it closes the descriptor itself).
    static func shutdownConnection(_ descriptor: Int32) {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// What a send or receive did.
    enum TransferResult { case done, wouldBlock, interrupted }

    /// `zmq_msg_send`. On success libzmq owns the content and empties `message`.
    static func messageSend(
        _ message: UnsafeMutablePointer<zmq_msg_t>, _ socket: UnsafeMutableRawPointer, more: Bool, dontWait: Bool
    ) throws(TransportError) -> TransferResult {
        let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        guard zmq_msg_send(message, socket, flags) < 0 else { return .done }
        switch zmq_errno() {
        case EAGAIN: return .wouldBlock
        case EINTR: return .interrupted
        case let number: throw failure("zmq_msg_send", "cannot send a message frame", errorNumber: number)
        }
    }

    /// `zmq_msg_recv` into an initialized message.
    static func messageReceive(
        _ message: UnsafeMutablePointer<zmq_msg_t>, _ socket: UnsafeMutableRawPointer, dontWait: Bool
    ) throws(TransportError) -> TransferResult {
        guard zmq_msg_recv(message, socket, dontWait ? ZMQ_DONTWAIT : 0) < 0 else { return .done }
        switch zmq_errno() {
        case EAGAIN: return .wouldBlock
        case EINTR: return .interrupted
        case let number: throw failure("zmq_msg_recv", "cannot receive a message frame", errorNumber: number)
        }
    }

    // MARK: CURVE keys

    /// `zmq_curve_keypair`: a new key pair, both keys Z85-encoded (40 characters).
    static func curveKeypair() throws(TransportError) -> (publicKey: String, secretKey: String) {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else {
            throw failure("zmq_curve_keypair", "cannot generate a CURVE key pair")
        }
        defer { for index in secretKey.indices { secretKey[index] = 0 } }
        return (z85String(publicKey), z85String(secretKey))
    }

    /// `zmq_curve_public`: the public key that belongs to a Z85-encoded secret key.
    static func curvePublic(secretKey: String) throws(TransportError) -> String {
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else {
            throw failure("zmq_curve_public", "cannot derive the public key: the secret key is not a valid Z85-encoded CURVE key")
        }
        return z85String(publicKey)
    }

    /// `zmq_z85_encode`: 32 binary key bytes (as ZAP hands them over) as 40 Z85 characters;
    /// nil for any other length.
    static func z85Encode(_ key: UnsafeRawBufferPointer) -> String? {
        guard key.count == 32, let base = key.baseAddress else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&text, base.assumingMemoryBound(to: UInt8.self), 32) != nil else { return nil }
        return z85String(text)
    }

    private static func z85String(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

// The option and socket-type numbers ArrayTransport uses, as Swift constants.
extension ZMQ {
    static let pub = ZMQ_PUB
    static let xpub = ZMQ_XPUB
    static let pair = ZMQ_PAIR
    static let sub = ZMQ_SUB
    static let push = ZMQ_PUSH
    static let pull = ZMQ_PULL
    static let request = ZMQ_REQ
    static let reply = ZMQ_REP

    static let pollIn = Int16(ZMQ_POLLIN)
    static let pollOut = Int16(ZMQ_POLLOUT)

    static let ioThreads = ZMQ_IO_THREADS
    static let zeroCopyReceive = czmq_zero_copy_receive_option()
    static let linger = ZMQ_LINGER
    static let sendHighWaterMark = ZMQ_SNDHWM
    static let receiveHighWaterMark = ZMQ_RCVHWM
    static let maximumMessageSize = ZMQ_MAXMSGSIZE
    /// An XPUB passes every subscription and cancel up to the application, repeated or not.
    static let xpubVerboser = ZMQ_XPUB_VERBOSER
    /// TCP_USER_TIMEOUT on Linux: a connection whose sent data (or zero-window probes) stays
    /// unacknowledged this many milliseconds is dropped by the kernel.
    static let tcpMaximumRetransmit = ZMQ_TCP_MAXRT

    static let eventConnected = ZMQ_EVENT_CONNECTED
    static let eventAccepted = ZMQ_EVENT_ACCEPTED
    static let eventDisconnected = ZMQ_EVENT_DISCONNECTED
    static let subscribe = ZMQ_SUBSCRIBE
    static let unsubscribe = ZMQ_UNSUBSCRIBE
    static let ipv6 = ZMQ_IPV6
    static let lastEndpoint = ZMQ_LAST_ENDPOINT
    static let curveServer = ZMQ_CURVE_SERVER
    static let curvePublicKey = ZMQ_CURVE_PUBLICKEY
    static let curveSecretKey = ZMQ_CURVE_SECRETKEY
    static let curveServerKey = ZMQ_CURVE_SERVERKEY
    static let zapDomain = ZMQ_ZAP_DOMAIN
}
