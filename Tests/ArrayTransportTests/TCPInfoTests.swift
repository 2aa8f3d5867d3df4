@testable import ArrayTransport
import Foundation
@preconcurrency import Glibc
import Testing

/// `ZMQ.tcpBytes` (CTCPInfo's `ctcpinfo_bytes`, which the inbound guard and the relay's metrics
/// watchdog both use) against a real loopback connection: each count is the right field of the
/// kernel's `struct tcp_info`, in the right direction.
@Suite("TCP_INFO byte counts", .timeLimit(.minutes(1)))
struct TCPInfoTests {
    @Test("a loopback connection: the receiver's bytes received and the sender's bytes acknowledged are what was sent")
    func loopbackCounts() throws {
        let (client, server) = try Self.connectedPair()
        defer { close(client); close(server) }
        // Counted from here: the handshake's SYN counts as one byte acknowledged on one side.
        let clientBefore = try #require(ZMQ.tcpBytes(client))
        let serverBefore = try #require(ZMQ.tcpBytes(server))
        let sent = 1000
        let payload = [UInt8](repeating: 7, count: sent)
        #expect(payload.withUnsafeBytes { write(client, $0.baseAddress, $0.count) } == sent)
        var buffer = [UInt8](repeating: 0, count: sent)
        var read = 0
        while read < sent {
            let count = buffer.withUnsafeMutableBytes { recv(server, $0.baseAddress! + read, sent - read, 0) }
            try #require(count > 0)
            read += count
        }
        // The peer's acknowledgement may be delayed (delayed ACKs wait up to 40 ms).
        let deadline = Date().addingTimeInterval(5)
        var clientAfter = try #require(ZMQ.tcpBytes(client))
        while clientAfter.acknowledged - clientBefore.acknowledged < UInt64(sent) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.01)
            clientAfter = try #require(ZMQ.tcpBytes(client))
        }
        let serverAfter = try #require(ZMQ.tcpBytes(server))
        #expect(serverAfter.received - serverBefore.received == UInt64(sent))
        #expect(serverAfter.acknowledged == serverBefore.acknowledged)
        #expect(clientAfter.acknowledged - clientBefore.acknowledged == UInt64(sent))
        #expect(clientAfter.received == clientBefore.received)
    }

    @Test("not a TCP socket: no counts")
    func notTCP() throws {
        var pair: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        #expect(ZMQ.tcpBytes(pair[0]) == nil)
        #expect(ZMQ.tcpBytes(-1) == nil)
    }

    /// A connected client socket and the server side of its connection, on 127.0.0.1.
    static func connectedPair() throws -> (client: Int32, server: Int32) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 && listen(listener, 1) == 0
            }
        }
        try #require(listening)
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(client >= 0)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) == 0 }
        }
        guard connected else {
            close(client)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        let server = accept(listener, nil, nil)
        guard server >= 0 else {
            close(client)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        return (client, server)
    }
}
