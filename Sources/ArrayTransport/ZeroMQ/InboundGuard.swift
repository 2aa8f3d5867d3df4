/// Bounds what libzmq may hold for one tcp connection of a receiver.
///
/// libzmq (4.3) keeps every frame of a multipart message until the last one arrives, and
/// `ZMQ_MAXMSGSIZE` bounds one frame only: a peer that never ends a message would make it hold
/// memory without limit. The guard compares, for each connection, the bytes the kernel received
/// (`TCP_INFO`) with the bytes libzmq delivered from it (`ZMQ_SRCFD`, with a generous allowance
/// for framing): the difference is what libzmq and the kernel still hold. Past the queue's
/// worth of complete messages plus one message plus the kernel's receive buffer, the connection is
/// shut down, and libzmq drops it with the unfinished message. Checked while the application is
/// in a receive call, every 5 to 10 ms (`ZeroMQReceiver.waitSliceNanoseconds`); ipc://
/// connections are not checked (there is no byte count for them).
struct InboundGuard: ~Copyable {
    private var monitor: PeerMonitor
    /// Bytes delivered from each open connection, by descriptor, framing included.
    private var delivered: [Int32: UInt64] = [:]
    /// Bytes libzmq may hold for one connection (beyond the kernel's receive buffer).
    let allowance: UInt64
    /// Connections shut down for holding more than the allowance.
    private(set) var dropped: UInt64 = 0
    /// When ``check()`` last looked (monotonic ns): it costs two system calls per connection, so
    /// a receiver busy with small messages looks at most every ``checkInterval``.
    private var lastCheck: Int64 = 0
    static let checkInterval: Int64 = 5_000_000

    /// Bytes counted per delivered frame for the framing: ZMTP's 9-byte header, and CURVE's box
    /// and command name (about 42 bytes) when it is on.
    static let framingBytes = 64

    init(monitor: consuming PeerMonitor, queuedMessages: Int, maximumMessageBytes: Int) {
        self.monitor = monitor
        let (queued, overflow) = (queuedMessages + 1).multipliedReportingOverflow(by: maximumMessageBytes)
        // 1 MiB more for the handshake and heartbeats.
        allowance = overflow ? .max : UInt64(queued) + (1 << 20)
    }

    /// Counts a message read from the connection `descriptor`: `bytes` of payload in `frames`.
    mutating func noteDelivered(descriptor: Int32?, bytes: Int, frames: Int) {
        guard let descriptor, let sum = delivered[descriptor] else { return }
        // Both are bounded by the receiver's own limits, far below 2^63.
        let added = UInt64(bytes) + UInt64(frames) * UInt64(Self.framingBytes)
        let (total, overflow) = sum.addingReportingOverflow(added)
        delivered[descriptor] = overflow ? .max : total
    }

    /// Shuts down the connections that hold more than the allowance; returns how much each held.
    mutating func check() -> [UInt64] {
        let now = Sys.monotonicNanoseconds()
        guard now - lastCheck >= Self.checkInterval else { return [] }
        lastCheck = now
        var delivered = self.delivered
        monitor.drain { event, descriptor in
            switch event {
            case ZMQ.eventAccepted, ZMQ.eventConnected: delivered[descriptor] = 0
            case ZMQ.eventDisconnected: delivered[descriptor] = nil
            default: break
            }
        }
        var held: [UInt64] = []
        for (descriptor, sent) in delivered {
            guard let received = ZMQ.tcpBytesReceived(descriptor), received > sent else { continue }
            let kernelBuffer = UInt64(max(0, ZMQ.receiveBufferBytes(descriptor) ?? 0))
            let (limit, overflow) = allowance.addingReportingOverflow(kernelBuffer)
            guard !overflow, received - sent > limit else { continue }
            ZMQ.shutdownConnection(descriptor)
            delivered[descriptor] = nil
            dropped += 1
            held.append(received - sent)
        }
        self.delivered = delivered
        return held
    }

    mutating func close() {
        monitor.close()
    }
}
