import Synchronization

/// Short text requests and replies over a ZeroMQ REQ or REP socket: the control channel
/// between a running `aq-relay` and `aq-relay stats`, on the same libzmq wrappers as the streams.
///
/// It owns a private context, so closing it never waits on other sockets.
@_spi(Control)
public final class ZMQTextSocket {
    /// Which end of the conversation.
    public enum Role: Sendable {
        /// Answers requests (`ZMQ_REP`); binds.
        case replier
        /// Asks (`ZMQ_REQ`); connects.
        case requester
    }

    private let context: ZMQContext
    private let socket: Mutex<ZMQSocket>
    private let timeout: Duration

    /// A socket whose sends and receives give up after `timeout`; a peer that sends a message
    /// larger than `maximumMessageBytes` (ZMQ_MAXMSGSIZE) is disconnected.
    public init(_ role: Role, timeout: Duration, maximumMessageBytes: Int? = nil) throws(TransportError) {
        context = try ZMQContext()
        let socket = try ZMQSocket(context, type: role == .replier ? ZMQ.reply : ZMQ.request, lingerMilliseconds: 0)
        if let maximumMessageBytes {
            try socket.setOption(ZMQ.maximumMessageSize, int64: Int64(maximumMessageBytes), name: "ZMQ_MAXMSGSIZE")
        }
        self.socket = Mutex(socket)
        self.timeout = timeout
    }

    /// Listens on `endpoint`.
    public func bind(_ endpoint: Endpoint) throws(TransportError) {
        _ = try socket.withLock { (socket: inout ZMQSocket) throws(TransportError) in try socket.bind(endpoint) }
    }

    /// Connects to `endpoint` (in the background).
    public func connect(_ endpoint: Endpoint) throws(TransportError) {
        try socket.withLock { (socket: inout ZMQSocket) throws(TransportError) in try socket.connect(endpoint) }
    }

    /// Sends `text` as one message; false if the socket could not take it within the timeout.
    public func send(_ text: String) throws(TransportError) -> Bool {
        try socket.withLock { (socket: inout ZMQSocket) throws(TransportError) -> Bool in
            guard try socket.wait(for: ZMQ.pollOut, deadline: deadline()) else { return false }
            var message = try ZMQMessage(copying: text)
            return try socket.send(&message, more: false, dontWait: true)
        }
    }

    /// Receives one message (as UTF-8 text); nil if none came within the timeout.
    public func receive() throws(TransportError) -> String? {
        try socket.withLock { (socket: inout ZMQSocket) throws(TransportError) -> String? in
            guard try socket.wait(for: ZMQ.pollIn, deadline: deadline()),
                  let message = try socket.receive(dontWait: true) else { return nil }
            return String(decoding: message.bytes, as: UTF8.self)
        }
    }

    /// Closes the socket and its context; later calls throw ``TransportError/Code/closed``.
    public func close() {
        socket.withLock { $0.close() }
        context.terminate()
    }

    private func deadline() -> Int64 {
        Sys.monotonicNanoseconds() + timeout.clampedNanoseconds
    }
}

// Every use of the socket goes through its mutex.
extension ZMQTextSocket: @unchecked Sendable {}
