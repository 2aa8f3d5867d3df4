import CZeroMQ

/// The owner of one ZeroMQ socket. Closed (`zmq_close`) by ``close()`` or on deinit, with the
/// linger period given at creation, so that closing never holds up the context's termination
/// for longer than that. Every operation on a closed socket throws ``TransportError/Code/closed``.
///
/// Until it closes, the socket's libzmq linger is 0. libzmq 4.3 gives a connection that ends
/// (a peer that left) the socket's linger period as it stands then, and keeps the messages
/// queued for it that long although no connection can ever take them: a publisher whose
/// subscriber left just before the publisher closed, with a linger of "forever", waited in
/// `zmq_ctx_term` for ever (seen in CI, 2026-12-07). With 0, those messages go at once; the
/// linger period applies from ``close()`` on, to the connections still open.
///
/// ZeroMQ sockets are not thread-safe: the owner uses it from one thread at a time (senders and
/// receivers keep theirs inside a `Mutex`). The socket keeps its context alive.
struct ZMQSocket: ~Copyable {
    private var handle: UnsafeMutableRawPointer?
    let context: ZMQContext
    /// The linger period ``close()`` gives libzmq.
    private let closingLingerMilliseconds: Int32

    /// A socket of `type` (`ZMQ.pub`, `ZMQ.sub`, ...) whose unsent messages are kept at most
    /// `lingerMilliseconds` after it is closed.
    init(_ context: ZMQContext, type: Int32, lingerMilliseconds: Int32) throws(TransportError) {
        let handle = try ZMQ.socket(context.handle, type: type)
        do {
            try ZMQ.setOption(handle, ZMQ.linger, int: 0, name: "ZMQ_LINGER")
        } catch {
            ZMQ.close(handle)
            throw error
        }
        self.handle = handle
        self.context = context
        self.closingLingerMilliseconds = lingerMilliseconds
    }

    deinit {
        if let handle { Self.close(handle, lingerMilliseconds: closingLingerMilliseconds) }
    }

    /// Whether ``close()`` has not been called.
    var isOpen: Bool { handle != nil }

    /// Closes the socket now; messages not yet sent are kept for the linger period.
    mutating func close() {
        close(lingerMilliseconds: closingLingerMilliseconds)
    }

    /// Closes the socket now; messages not yet sent are kept for `lingerMilliseconds` (a sender
    /// that already spent part of its linger period passes what is left).
    mutating func close(lingerMilliseconds: Int32) {
        if let handle { Self.close(handle, lingerMilliseconds: lingerMilliseconds) }
        handle = nil
    }

    /// Lets the socket first end the connections that ended so far (with the linger of 0 they
    /// had), then sets the linger period and closes.
    private static func close(_ handle: UnsafeMutableRawPointer, lingerMilliseconds: Int32) {
        handleCommands(handle)
        // A failure leaves the linger at 0: the close then drops what is unsent, never waits.
        try? ZMQ.setOption(handle, ZMQ.linger, int: lingerMilliseconds, name: "ZMQ_LINGER")
        ZMQ.close(handle)
    }

    private func open() throws(TransportError) -> UnsafeMutableRawPointer {
        guard let handle else { throw TransportError(.closed, "the socket is closed") }
        return handle
    }

    // MARK: Options

    func setOption(_ option: Int32, _ value: Int32, name: String) throws(TransportError) {
        try ZMQ.setOption(try open(), option, int: value, name: name)
    }

    func setOption(_ option: Int32, int64 value: Int64, name: String) throws(TransportError) {
        try ZMQ.setOption(try open(), option, int64: value, name: name)
    }

    func setOption(_ option: Int32, string: String, name: String) throws(TransportError) {
        try ZMQ.setOption(try open(), option, bytes: Array(string.utf8), name: name)
    }

    /// `ZMQ_SUBSCRIBE`: deliver messages whose first frame starts with `prefix`.
    func subscribe(_ prefix: String) throws(TransportError) {
        try ZMQ.setOption(try open(), ZMQ.subscribe, bytes: Array(prefix.utf8), name: "ZMQ_SUBSCRIBE")
    }

    /// `ZMQ_UNSUBSCRIBE`: undo one ``subscribe(_:)`` of `prefix`.
    func unsubscribe(_ prefix: String) throws(TransportError) {
        try ZMQ.setOption(try open(), ZMQ.unsubscribe, bytes: Array(prefix.utf8), name: "ZMQ_UNSUBSCRIBE")
    }

    /// Publishes this socket's connection `events` on an inproc PAIR socket bound at `address`.
    func monitor(_ address: String, events: Int32) throws(TransportError) {
        try ZMQ.monitor(try open(), address: address, events: events)
    }

    /// Stops publishing connection events (see ``monitor(_:events:)``); harmless if there are none.
    func stopMonitor() {
        if let handle { ZMQ.monitorStop(handle) }
    }

    /// Connects to an `inproc://` address (endpoints between sockets of one context).
    func connect(inproc address: String) throws(TransportError) {
        precondition(address.hasPrefix("inproc://"))
        try ZMQ.connect(try open(), address)
    }

    // MARK: Endpoints

    /// Binds to `endpoint` and returns the address actually bound (a wildcard port resolved).
    func bind(_ endpoint: Endpoint) throws(TransportError) -> Endpoint {
        let address = try endpoint.zeroMQAddress()
        if endpoint.isIPv6 { try setOption(ZMQ.ipv6, 1, name: "ZMQ_IPV6") }
        let handle = try open()
        try ZMQ.bind(handle, address)
        let bound = try ZMQ.stringOption(handle, ZMQ.lastEndpoint, name: "ZMQ_LAST_ENDPOINT")
        return (try? Endpoint(bound)) ?? endpoint
    }

    /// Connects to `endpoint` (ZeroMQ connects in the background and reconnects by itself).
    func connect(_ endpoint: Endpoint) throws(TransportError) {
        let address = try endpoint.zeroMQAddress()
        if endpoint.isWildcard {
            throw TransportError(.invalidEndpoint, "cannot connect to '\(endpoint)': '*' is only meaningful when binding")
        }
        if endpoint.isIPv6 { try setOption(ZMQ.ipv6, 1, name: "ZMQ_IPV6") }
        try ZMQ.connect(try open(), address)
    }

    /// The time left until the monotonic `deadline`, in milliseconds (libzmq's unit for waits
    /// and the linger period), rounded up so that nothing ends before the deadline; 0 once it
    /// has passed.
    static func millisecondsLeft(until deadline: Int64) -> Int64 {
        let remaining = max(0, deadline &- Sys.monotonicNanoseconds())
        return remaining / 1_000_000 + (remaining % 1_000_000 > 0 ? 1 : 0)
    }

    // MARK: Transfer

    /// Waits until `events` (`ZMQ.pollIn`/`ZMQ.pollOut`) are possible, at most until the
    /// monotonic `deadline` (nil: no limit). Returns whether they are.
    func wait(for events: Int16, deadline: Int64?) throws(TransportError) -> Bool {
        let handle = try open()
        while true {
            let timeout = deadline.map { Int(Self.millisecondsLeft(until: $0)) } ?? -1
            if try ZMQ.poll(handle, events: events, timeoutMilliseconds: timeout) & events != 0 { return true }
            if let deadline, Sys.monotonicNanoseconds() >= deadline { return false }
        }
    }

    /// Lets libzmq handle the commands its I/O threads sent this socket (it does so only inside
    /// calls on the socket): among them the end of a departed peer's pipe, which releases the
    /// messages queued for that peer.
    func handleCommands() {
        if let handle { Self.handleCommands(handle) }
    }

    private static func handleCommands(_ handle: UnsafeMutableRawPointer) {
        _ = try? ZMQ.poll(handle, events: ZMQ.pollIn | ZMQ.pollOut, timeoutMilliseconds: 0)
    }

    /// Sends one frame. Returns false, leaving `message` intact, if the socket cannot take it now
    /// (only with `dontWait`); on success libzmq owns the content.
    func send(_ message: inout ZMQMessage, more: Bool, dontWait: Bool) throws(TransportError) -> Bool {
        let handle = try open()
        while true {
            switch try ZMQ.messageSend(message.pointer, handle, more: more, dontWait: dontWait) {
            case .done: return true
            case .wouldBlock: return false
            case .interrupted: continue
            }
        }
    }

    /// Receives one frame, or nil if none is waiting (only with `dontWait`).
    func receive(dontWait: Bool) throws(TransportError) -> ZMQMessage? {
        let handle = try open()
        let message = ZMQMessage()
        while true {
            switch try ZMQ.messageReceive(message.pointer, handle, dontWait: dontWait) {
            case .done: return message
            case .wouldBlock: return nil
            case .interrupted: continue
            }
        }
    }
}
