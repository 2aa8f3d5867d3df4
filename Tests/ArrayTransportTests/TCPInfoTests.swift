import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
@preconcurrency import Glibc
import Testing

/// `ZMQ.tcpBytes` (CTCPInfo's `ctcpinfo_bytes`, which the inbound guard and the relay's metrics
/// watchdog both use) against a real loopback connection: each count is the right field of the
/// kernel's `struct tcp_info`, in the right direction.
@Suite("TCP_INFO byte counts", .timeLimit(.minutes(3)))
struct TCPInfoTests {
    @Test("a loopback connection: the receiver's bytes received and the sender's bytes acknowledged are what was sent")
    func loopbackCounts() throws {
        let (client, server) = try connectedLoopbackPair()
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
}
