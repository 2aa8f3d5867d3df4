import CTCPInfo
import Foundation
import Glibc
import Synchronization

/// Bounds what one client can make the metrics server hold, which FlyingFox 0.27 does not: it
/// reads a request line and headers without a size limit or a deadline (its `timeout` covers
/// only the handler), and no configuration or socket pool it takes can see the bytes it reads.
///
/// A thread looks at the server's connections every 100 ms, found as this process's connected
/// sockets whose local address is the listening one (`/proc/self/fd`, `getsockname`), and shuts
/// down (`shutdown(SHUT_RDWR)`, after which FlyingFox reads the end and closes it) every
/// connection that is older than ``Limits/lifetime``, that received more than
/// ``Limits/receivedBytes`` (tcp, `TCP_INFO`), or that is beyond the first
/// ``Limits/connections``. So a client that sends an endless header line holds at most the
/// byte limit plus what arrives in 100 ms, one that trickles is cut at the lifetime, and
/// Prometheus, which scrapes with a few hundred bytes and reconnects when its connection is
/// closed, is not affected.
final class ConnectionWatchdog: Sendable {
    /// The bounds on each connection.
    struct Limits: Sendable {
        /// How long a connection may stay open, requests and idle time together.
        var lifetime: Duration = .seconds(10)
        /// Bytes a tcp connection may receive (a GET is a few hundred).
        var receivedBytes: UInt64 = 64 << 10
        /// Connections served at once; later ones are shut down at once.
        var connections = 64
    }

    /// Which sockets are the server's connections.
    enum Listening: Sendable {
        /// A tcp listener: its port, and its IPv4 or IPv6 address unless it is a wildcard.
        case tcp(port: UInt16, host: String?)
        /// A Unix socket listener at this path.
        case unix(path: String)
    }

    private let listening: Listening
    private let limits: Limits
    private let stopped = Atomic<Bool>(false)
    /// Connections shut down so far.
    let cut = Atomic<Int>(0)
    private let worker = Mutex<WorkerThread?>(nil)

    init(_ listening: Listening, limits: Limits = Limits()) {
        self.listening = listening
        self.limits = limits
    }

    /// Starts watching (once).
    func start() {
        worker.withLock { worker in
            guard worker == nil else { return }
            worker = WorkerThread.start(name: "aq-metrics-watchdog") { [self] in run() }
        }
    }

    /// Stops watching; returns once the thread has (at most one 100 ms sleep).
    func stop() async {
        stopped.store(true, ordering: .releasing)
        await worker.withLock { $0 }?.join()
    }

    private func run() {
        /// First seen (monotonic ns), by descriptor, with the socket's inode: a descriptor
        /// closed and reused for a new connection is a new connection.
        var seen: [Int32: (inode: UInt64, since: UInt64)] = [:]
        while !stopped.load(ordering: .acquiring) {
            let now = DispatchTime.now().uptimeNanoseconds
            var current: [Int32: (inode: UInt64, since: UInt64)] = [:]
            for descriptor in Self.openDescriptors() {
                guard let inode = serverConnection(descriptor) else { continue }
                let since = seen[descriptor].flatMap { $0.inode == inode ? $0.since : nil } ?? now
                current[descriptor] = (inode, since)
            }
            seen = current
            let lifetime = UInt64(max(0, limits.lifetime / .nanoseconds(1)))
            // The oldest keep their place under the connection limit.
            for (rank, entry) in current.sorted(by: { $0.value.since < $1.value.since }).enumerated() {
                let (descriptor, connection) = (entry.key, entry.value)
                let tooOld = now - connection.since > lifetime
                let tooMuch = Self.bytesReceived(descriptor).map { $0 > limits.receivedBytes } ?? false
                guard tooOld || tooMuch || rank >= limits.connections else { continue }
                // Checked again just before: the descriptor may have been closed and reused.
                guard Self.inode(descriptor) == connection.inode else { continue }
                _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
                cut.add(1, ordering: .relaxed)
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    // MARK: - System calls

    /// This process's open file descriptors (`/proc/self/fd`).
    private static func openDescriptors() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
    }

    /// `fstat`: the inode of a socket descriptor; nil for anything else.
    private static func inode(_ descriptor: Int32) -> UInt64? {
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else { return nil }
        return UInt64(status.st_ino)
    }

    /// The socket's inode if `descriptor` is a connection accepted by the watched listener
    /// (`getsockopt(SO_ACCEPTCONN)`, `getsockname`, `getpeername`).
    private func serverConnection(_ descriptor: Int32) -> UInt64? {
        guard let inode = Self.inode(descriptor) else { return nil }
        var accepting: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) == 0, accepting == 0 else { return nil }
        var local = sockaddr_storage(), peer = sockaddr_storage()
        var localSize = socklen_t(MemoryLayout<sockaddr_storage>.size), peerSize = localSize
        let named = withUnsafeMutableBytes(of: &local) { getsockname(descriptor, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &localSize) }
        let connected = withUnsafeMutableBytes(of: &peer) { getpeername(descriptor, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &peerSize) }
        guard named == 0, connected == 0 else { return nil }
        return Self.matches(local, listening) ? inode : nil
    }

    private static func matches(_ local: sockaddr_storage, _ listening: Listening) -> Bool {
        let family = Int32(local.ss_family)
        return withUnsafeBytes(of: local) { bytes -> Bool in
            switch (family, listening) {
            case (AF_INET, let .tcp(port, host)):
                let address = bytes.loadUnaligned(as: sockaddr_in.self)
                guard UInt16(bigEndian: address.sin_port) == port else { return false }
                return host.map { Self.text(of: address) == $0 } ?? true
            case (AF_INET6, let .tcp(port, host)):
                let address = bytes.loadUnaligned(as: sockaddr_in6.self)
                guard UInt16(bigEndian: address.sin6_port) == port else { return false }
                return host.map { Self.text(of: address) == $0 } ?? true
            case (AF_UNIX, let .unix(path)):
                let offset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
                let name = bytes[offset...].prefix { $0 != 0 }
                return name.elementsEqual(path.utf8)
            default:
                return false
            }
        }
    }

    private static func text(of address: sockaddr_in) -> String {
        var address = address.sin_addr
        var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        guard inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count)) != nil else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func text(of address: sockaddr_in6) -> String {
        var address = address.sin6_addr
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `getsockopt(TCP_INFO)`'s `tcpi_bytes_received`, read by the shim that knows the kernel's
    /// `struct tcp_info` (CTCPInfo, shared with ArrayTransport's inbound guard); nil if not tcp.
    private static func bytesReceived(_ descriptor: Int32) -> UInt64? {
        var acknowledged: UInt64 = 0, received: UInt64 = 0
        return ctcpinfo_bytes(descriptor, &acknowledged, &received) == 0 ? received : nil
    }
}
