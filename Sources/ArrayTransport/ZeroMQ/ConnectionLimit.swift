/// Caps the connections each bound endpoint of a socket keeps at once: libzmq 4.3 accepts every
/// connection that reaches a listener (no option limits them), and each costs a descriptor, an
/// engine with its buffers, and for a sender its own share of the byte budget and high-water mark.
///
/// It follows the listener's connections through the socket monitor's events (``PeerMonitor``):
/// `ZMQ_EVENT_ACCEPTED` names the listener's endpoint and the new connection's descriptor,
/// `ZMQ_EVENT_DISCONNECTED` that descriptor again (libzmq sends it before it closes the
/// descriptor, so a descriptor is never reused before its disconnection is seen). After each
/// batch of events, the connections of a listener beyond the first ``maximum`` still open are
/// shut down, newest first: peers already served keep their place, and one that connects
/// again and again is cut again each time. Connections the socket made itself (`connect`) are
/// not counted. tcp:// and ipc:// listeners alike (both report their accepted connections).
struct ConnectionLimit {
    /// Connections one listener may keep.
    let maximum: Int
    /// The open connections of each listener (by its endpoint), oldest first.
    private var open: [String: [Int32]] = [:]
    /// The listener of each open accepted connection.
    private var listeners: [Int32: String] = [:]
    /// Connections shut down whose disconnection libzmq has not reported yet.
    private var cut: Set<Int32> = []

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// The warning for `count` connections to `endpoint` cut by a limit of `maximum`, as
    /// senders and receivers log it (at most every 10 s; `andMore` says how many went unlogged).
    static func warning(cut count: Int, endpoint: String, maximum: Int?, andMore: String) -> String {
        "dropped \(count) connection(s) to \(endpoint) beyond the limit of \(maximum ?? 0) per endpoint\(andMore)"
    }

    /// Records a connection that the listener at `endpoint` accepted.
    mutating func noteAccepted(_ descriptor: Int32, endpoint: String) {
        open[endpoint, default: []].append(descriptor)
        listeners[descriptor] = endpoint
    }

    /// Records a connection that ended; returns whether this limit had cut it (it was no longer
    /// counted as a peer).
    mutating func noteDisconnected(_ descriptor: Int32) -> Bool {
        if let endpoint = listeners.removeValue(forKey: descriptor) {
            open[endpoint]?.removeAll { $0 == descriptor }
            if open[endpoint]?.isEmpty == true { open[endpoint] = nil }
        }
        return cut.remove(descriptor) != nil
    }

    /// Shuts down the connections beyond ``maximum`` on each listener, newest first, and
    /// returns them with their listener's endpoint. Called once the waiting events are read: a
    /// descriptor still open then is this connection's (see the type's documentation).
    mutating func enforce() -> [(descriptor: Int32, endpoint: String)] {
        var shut: [(descriptor: Int32, endpoint: String)] = []
        for (endpoint, descriptors) in open where descriptors.count > maximum {
            for descriptor in descriptors[maximum...] {
                ZMQ.shutdownConnection(descriptor)
                listeners[descriptor] = nil
                cut.insert(descriptor)
                shut.append((descriptor, endpoint))
            }
            open[endpoint] = Array(descriptors[..<maximum])
        }
        return shut
    }
}
