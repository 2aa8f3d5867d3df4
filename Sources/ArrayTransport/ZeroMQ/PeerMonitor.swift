/// Counts the peers connected to a socket, from libzmq's monitor events: a sender gives each
/// peer its own share of the byte budget, so that peers that stop reading cannot take all of it.
/// With a ``ConnectionLimit``, it also shuts down the connections a listener accepted beyond it.
///
/// The events arrive on an inproc PAIR socket; ``drain()`` reads those waiting without blocking.
/// Set up before the watched socket binds or connects, so that no connection goes uncounted;
/// the owner stops monitoring (`ZMQSocket.stopMonitor()`) before it closes this.
struct PeerMonitor: ~Copyable {
    private var socket: ZMQSocket
    /// Peers connected now.
    private(set) var peers = 0
    /// Connections that ended (the peer left, or was dropped: stalled, or broke the protocol).
    private(set) var disconnected: UInt64 = 0
    /// Caps the connections of each bound endpoint (nil: no cap).
    private var limit: ConnectionLimit?

    /// The events counted, for `ZMQSocket.monitor`.
    static let events = ZMQ.eventAccepted | ZMQ.eventConnected | ZMQ.eventDisconnected

    /// A fresh inproc address to monitor a socket on: 128 random bits, so that two monitors of
    /// one context never share an address. (No Foundation here: its UUID alone would link ICU's
    /// data, tens of megabytes, into the C library and the Python wheel.)
    static func newAddress() -> String {
        var generator = SystemRandomNumberGenerator()
        let words = (generator.next() as UInt64, generator.next() as UInt64)
        return "inproc://aq-peers-\(String(words.0, radix: 16))-\(String(words.1, radix: 16))"
    }

    /// Reads the events of a socket that `ZMQSocket.monitor(address, events: PeerMonitor.events)`
    /// publishes. (It takes the context, not the socket, so that the two stay separate values to
    /// the compiler's region checking.)
    /// With `maximumConnections`, each listener of the socket keeps at most that many
    /// connections (``ConnectionLimit``).
    init(context: ZMQContext, address: String, maximumConnections: Int? = nil) throws(TransportError) {
        let socket = try ZMQSocket(context, type: ZMQ.pair, lingerMilliseconds: 0)
        // libzmq's I/O thread sends events with a blocking send: a full queue would stop it, and
        // every socket of the context with it. No limit here (a lost event would miscount the
        // peers that share the budget): instead the owner reads them at least every 0.1 s, idle
        // or not (a sender's heartbeat thread, a receiver's housekeeping thread), so this queue
        // holds at most what arrives in that time, and no other queue keeps them.
        try socket.setOption(ZMQ.receiveHighWaterMark, 0, name: "ZMQ_RCVHWM")
        try socket.connect(inproc: address)
        self.socket = socket
        self.limit = maximumConnections.map { ConnectionLimit(maximum: $0) }
    }

    /// Reads the events waiting (each is two frames: a 6-byte event and value, and the endpoint),
    /// and hands each to `observe` with its value (for these events, the connection's descriptor).
    /// Then shuts down the connections beyond the limit, which no longer count as peers, and
    /// returns them with their listener's endpoint (their disconnection is still reported).
    @discardableResult
    mutating func drain(_ observe: (_ event: Int32, _ descriptor: Int32) -> Void = { _, _ in }) -> [(descriptor: Int32, endpoint: String)] {
        guard socket.isOpen else { return [] }
        while let event = try? socket.receive(dontWait: true) {
            var endpoint = ""
            if event.hasMore, let address = try? socket.receive(dontWait: true) {
                endpoint = String(decoding: address.bytes, as: UTF8.self)
                var more = address.hasMore
                while more, let rest = try? socket.receive(dontWait: true) { more = rest.hasMore }
            }
            guard event.count >= 6 else { continue }
            let number = Int32(event.bytes.loadUnaligned(as: UInt16.self))
            let descriptor = event.bytes.loadUnaligned(fromByteOffset: 2, as: Int32.self)
            switch number {
            case ZMQ.eventAccepted:
                peers += 1
                limit?.noteAccepted(descriptor, endpoint: endpoint)
            case ZMQ.eventConnected: peers += 1
            case ZMQ.eventDisconnected:
                // A connection cut by the limit stopped counting as a peer when it was cut.
                if limit?.noteDisconnected(descriptor) != true { peers = max(0, peers - 1) }
                disconnected += 1
            default: break
            }
            observe(number, descriptor)
        }
        guard let shut = limit?.enforce(), !shut.isEmpty else { return [] }
        peers = max(0, peers - shut.count)
        return shut
    }

    mutating func close() {
        socket.close()
    }
}
