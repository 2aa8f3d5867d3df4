/// Bounds what libzmq may hold for one tcp connection of a receiver.
///
/// libzmq (4.3) keeps every frame of a multipart message until the last one arrives, and
/// `ZMQ_MAXMSGSIZE` bounds one frame only: a peer that never ends a message would make it hold
/// memory without limit. The guard compares, for each connection, the bytes the kernel received
/// (`TCP_INFO`) with the bytes libzmq delivered from it (`ZMQ_SRCFD`, each frame with its exact
/// ZMTP framing), the bytes still unread in the kernel (`FIONREAD`) and the bytes the peer
/// acknowledged of ours with what its commands have more than ours (``commandBytes(acknowledged:curve:)``):
/// the difference is what libzmq holds.
///
/// Two limits, both in bytes on the wire:
/// - ``allowance``: the queue's worth of complete messages plus one message (and 1 MiB).
/// - ``unfinishedAllowance``: one message (and 256 KiB), for a connection that holds no complete
///   message. libzmq holds a frame in a 64-byte message however small it is, so a message of
///   empty frames (2 bytes each on the wire) costs 32 times its wire bytes; this limit keeps
///   that to 32 times one message. A connection holds no complete message when nothing was
///   delivered from it since the last check while a receive found nothing to deliver: libzmq
///   would have delivered a message that was complete then.
///
/// Checked while the application is in a receive call, every 5 to 10 ms
/// (`ZeroMQReceiver.waitSliceNanoseconds`), and otherwise (between calls, or while a borrowing
/// receive's body runs) by the receiver's housekeeping thread, about every 0.1 s
/// (`ZeroMQReceiver.housekeepingNanoseconds`); only a receive finds a connection starved, so
/// ``unfinishedAllowance`` is applied only after one. ipc:// connections are not checked (there
/// is no byte count for them).
///
/// It also reads the socket monitor's events, and so applies its ``ConnectionLimit``: the
/// connections a listener accepted beyond it are shut down at the same checks. It never uses
/// the receiver's socket (only descriptors and the monitor's own socket), so it has a lock of
/// its own.
struct InboundGuard: ~Copyable {
    /// What the guard knows of one open connection.
    private struct Connection {
        /// Bytes on the wire of the frames delivered from it.
        var delivered: UInt64 = 0
        /// ``delivered`` at the last check.
        var deliveredAtCheck: UInt64 = 0
        /// What libzmq held of it at the last check (nil before its first).
        var heldAtCheck: UInt64?
    }

    /// A connection the guard shut down: what libzmq held of it, and the limit it was over.
    struct Drop {
        var held: UInt64
        var limit: UInt64
        /// Whether the connection held no complete message (``unfinishedAllowance`` applied).
        var unfinished: Bool
    }

    private var monitor: PeerMonitor
    private var connections: [Int32: Connection] = [:]
    /// Bytes on the wire libzmq may hold for one connection.
    let allowance: UInt64
    /// Bytes on the wire libzmq may hold for one connection that holds no complete message.
    let unfinishedAllowance: UInt64
    /// Whether connections are CURVE-encrypted (every frame travels in a MESSAGE command).
    let curve: Bool
    /// Whether a receive found no message since the last check.
    private var starvedSinceCheck = false
    /// Connections shut down for holding more than they may.
    private(set) var dropped: UInt64 = 0
    /// When ``check()`` last looked (monotonic ns): it costs three system calls per connection, so
    /// a receiver busy with small messages looks at most every ``checkInterval``.
    private var lastCheck: Int64 = 0
    static let checkInterval: Int64 = 5_000_000

    /// Bytes on the wire of one frame of `size` bytes: ZMTP's flags and size (2 bytes up to 255,
    /// 9 beyond), and under CURVE the MESSAGE command around it ("\x07MESSAGE", an 8-byte nonce,
    /// a 16-byte MAC and a flags byte: 33 bytes; libzmq 4.3's `curve_mechanism_base.cpp`).
    /// Exact, not generous: counting more than arrived would let a peer of many tiny frames build
    /// a credit for a later message that never ends.
    static func wireBytes(frame size: Int, curve: Bool) -> UInt64 {
        let body = UInt64(size) + (curve ? 33 : 0)
        return body + (body <= 255 ? 2 : 9)
    }

    /// The bytes on the wire of the commands a peer sent, which libzmq consumes without
    /// delivering, given `acknowledged` bytes of ours that the peer acknowledged.
    ///
    /// A receiver sends only its handshake (about the size of the peer's), its subscriptions and
    /// the PONGs that answer the peer's PINGs. libzmq 4.3 answers a PING ("\x04PING",
    /// a 2-byte TTL, up to 16 bytes of context) with a PONG that echoes the context without the
    /// TTL: 2 bytes shorter on the wire, under CURVE too (each is one command, 33 bytes more).
    /// Counted as the same size, that difference drifted into what the connection seemed to
    /// hold, 2 bytes per PING: with ZMTP heartbeats of one a second, an idle connection with
    /// 1 MiB messages was cut after about a week. Each PONG's worth of our bytes counts 2 bytes
    /// more here: exact for PINGs without a context, libzmq's (and so pyzmq's, czmq's…); the
    /// handshake counts a few tens of bytes too many, as PONGs. A PONG that echoes a context of
    /// `c` bytes counts as (7 + c) / 7 PONGs: a peer that sends such PINGs gains up to 2c/7 bytes
    /// per PING (at most 4.6 of its 25), which docs/RELIABILITY.md lists as not defended.
    static func commandBytes(acknowledged: UInt64, curve: Bool) -> UInt64 {
        let pong = wireBytes(frame: 5, curve: curve), ping = wireBytes(frame: 7, curve: curve)
        return acknowledged.saturatingAdd(acknowledged / pong * (ping - pong))
    }

    init(monitor: consuming PeerMonitor, queuedMessages: Int, maximumMessageBytes: Int, maximumFrames: Int, curve: Bool) {
        self.monitor = monitor
        self.curve = curve
        // One message on the wire: its bytes and at most `maximumFrames` frames' framing (42
        // bytes each at most, under CURVE), in saturating arithmetic (both are caller's options).
        let (framing, framingOverflow) = maximumFrames.multipliedReportingOverflow(by: 42)
        let (message, messageOverflow) = maximumMessageBytes.addingReportingOverflow(framing)
        let oneMessage = framingOverflow || messageOverflow ? UInt64.max : UInt64(message)
        let (queued, overflow) = UInt64(max(0, queuedMessages) + 1).multipliedReportingOverflow(by: oneMessage)
        // 1 MiB more for the handshake and commands; 256 KiB for one without complete messages.
        allowance = overflow ? .max : queued.saturatingAdd(1 << 20)
        unfinishedAllowance = oneMessage.saturatingAdd(256 << 10)
    }

    /// Connections whose end the monitor's events reported so far (read at each ``check()``).
    var connectionsEnded: UInt64 { monitor.disconnected }

    /// Counts a message read from the connection `descriptor`: `wireBytes` on the wire (the sum
    /// of ``wireBytes(frame:curve:)`` over its frames).
    mutating func noteDelivered(descriptor: Int32?, wireBytes: UInt64) {
        guard let descriptor, let connection = connections[descriptor] else { return }
        connections[descriptor]?.delivered = connection.delivered.saturatingAdd(wireBytes)
    }

    /// Records that a receive (or a wait for one) found no message ready: libzmq held no
    /// complete message then.
    mutating func noteStarved() {
        starvedSinceCheck = true
    }

    /// Shuts down the connections that hold more than they may, and those beyond the
    /// connection limit; returns what each of the former held, and the listener's endpoint of
    /// each of the latter.
    mutating func check() -> (drops: [Drop], cut: [String]) {
        let now = Sys.monotonicNanoseconds()
        guard now - lastCheck >= Self.checkInterval else { return ([], []) }
        lastCheck = now
        let starved = starvedSinceCheck
        starvedSinceCheck = false
        var connections = self.connections
        let cut = monitor.drain { event, descriptor in
            switch event {
            case ZMQ.eventAccepted, ZMQ.eventConnected: connections[descriptor] = Connection()
            case ZMQ.eventDisconnected: connections[descriptor] = nil
            default: break
            }
        }
        for (descriptor, _) in cut { connections[descriptor] = nil }
        var drops: [Drop] = []
        for (descriptor, var connection) in connections {
            // A message complete at the last check would have been delivered since, by the
            // receive that found none: what libzmq held then was one unfinished message.
            if starved, connection.delivered == connection.deliveredAtCheck,
               let held = connection.heldAtCheck, held > unfinishedAllowance {
                drops.append(Drop(held: held, limit: unfinishedAllowance, unfinished: true))
                ZMQ.shutdownConnection(descriptor)
                connections[descriptor] = nil
                continue
            }
            // Unread bytes first: bytes that arrive between the two calls count as held (the
            // safe side), not as read.
            guard let unread = ZMQ.unreadBytes(descriptor), let traffic = ZMQ.tcpBytes(descriptor) else {
                connections[descriptor] = nil   // not tcp (ipc://), or gone
                continue
            }
            let accounted = connection.delivered.saturatingAdd(Self.commandBytes(acknowledged: traffic.acknowledged, curve: curve))
                .saturatingAdd(UInt64(max(0, unread)))
            let held = traffic.received > accounted ? traffic.received - accounted : 0
            if held > allowance {
                drops.append(Drop(held: held, limit: allowance, unfinished: false))
                ZMQ.shutdownConnection(descriptor)
                connections[descriptor] = nil
                continue
            }
            connection.heldAtCheck = held
            connection.deliveredAtCheck = connection.delivered
            connections[descriptor] = connection
        }
        dropped += UInt64(drops.count)
        self.connections = connections
        return (drops, cut.map(\.endpoint))
    }

    mutating func close() {
        monitor.close()
    }
}
