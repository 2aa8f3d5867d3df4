import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Testing

/// What a sender does about peers that subscribe to other things or stop reading
/// (docs/RELIABILITY.md, "Hostile remote peers").
@Suite("Senders bound what peers can make them hold", .timeLimit(.minutes(2)))
struct HostilePeerBoundsTests {
    @Test("a publisher applies only subscriptions that are prefixes of its stream, and counts the others")
    func subscriptionsOutsideTheStreamAreRejected() throws {
        let sender = try ZeroMQSender(.publish, stream: "camera0", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: .milliseconds(20)))
        let receiver = try ZeroMQReceiver(.subscribe(prefixes: ["cam", "lidar", "camera0-and-more"]), connect: sender.boundEndpoints)
        defer { sender.close(); receiver.close() }
        try awaitHeartbeat(receiver)
        try sender.send(try patternArray(.uint8, [16]))
        #expect(try receiver.receive(timeout: .seconds(10))?.stream == "camera0")
        #expect(sender.statistics.rejectedSubscriptions == 2)
        #expect(sender.statistics.peers == 1)
    }

    @Test("a subscription longer than the limit for inbound frames gets its peer disconnected, not stored")
    func oversizedSubscriptionDisconnects() throws {
        let sender = try ZeroMQSender(.publish, stream: "s", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: .milliseconds(20)))
        defer { sender.close() }
        let huge = String(repeating: "s", count: ZeroMQSender.maximumInboundFrame + 2)
        let receiver = try ZeroMQReceiver(.subscribe(prefixes: [huge]), connect: sender.boundEndpoints)
        defer { receiver.close() }
        let deadline = ContinuousClock.now + .seconds(10)
        while sender.statistics.peersDisconnected == 0 && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(sender.statistics.peersDisconnected >= 1)
        #expect(sender.statistics.rejectedSubscriptions == 0)
    }

    /// libzmq keeps every subscription a peer sends, refused or not, until it cancels it or
    /// leaves (in its XPUB's trie): a peer with more than 4 KiB of refused ones outstanding is
    /// dropped, and one with a few is served.
    @Test("a subscriber with more than 4 KiB of subscriptions outside the stream is disconnected; one with a few is served")
    func manyRefusedSubscriptionsDisconnect() throws {
        let sender = try ZeroMQSender(.publish, stream: "camera0", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: .milliseconds(20)))
        defer { sender.close() }
        let healthy = try ZeroMQReceiver(.subscribe(prefixes: ["camera0", "lidar", "radar"]), connect: sender.boundEndpoints)
        defer { healthy.close() }
        try awaitHeartbeat(healthy)
        // 40 distinct subscriptions of 1000 bytes: 40 KB, about 1.5 MB in libzmq's trie.
        let prefixes = (0..<40).map { String(format: "%03d", $0) + String(repeating: "x", count: 997) }
        let hostile = try ZeroMQReceiver(.subscribe(prefixes: prefixes), connect: sender.boundEndpoints)
        defer { hostile.close() }
        let deadline = ContinuousClock.now + .seconds(10)
        while sender.statistics.peersDisconnected == 0 && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let statistics = sender.statistics
        #expect(statistics.peersDisconnected >= 1, "\(statistics)")
        #expect(statistics.rejectedSubscriptions >= 5, "\(statistics)")
        try sender.send(try patternArray(.uint8, [16]))
        #expect(try healthy.receive(timeout: .seconds(10))?.stream == "camera0")
    }

    @Test("an idle sender without heartbeats still reads its monitor's events: peers are counted, and nothing piles up")
    func idleSenderCountsPeers() throws {
        let sender = try ZeroMQSender(.publish, stream: "idle", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: nil, fastPath: .disabled))
        defer { sender.close() }
        let receiver = try ZeroMQReceiver(.subscribeAll, connect: sender.boundEndpoints)
        #expect(eventually(within: 10) { sender.statistics.peers == 1 })
        receiver.close()
        #expect(eventually(within: 10) { sender.statistics.peersDisconnected == 1 && sender.statistics.peers == 0 })
    }

    @Test("a message whose header is too long for any reader is refused, not sent for the receivers to drop")
    func oversizedHeaderIsRefused() throws {
        let sender = try ZeroMQSender(.publish, stream: "big", bind: [try loopbackWildcard()], options: .init(fastPath: .disabled))
        defer { sender.close() }
        let meta: [String: JSONValue] = ["note": .string(String(repeating: "x", count: WireHeader.maximumHeaderBytes))]
        #expect { try sender.send(try patternArray(.uint8, [16]), meta: meta) } throws: { ($0 as? TransportError)?.code == .invalidArgument }
        #expect(sender.statistics.nextSequence == 0 && sender.statistics.sent == 0)
        // Just under the limit is sent.
        let fitting: [String: JSONValue] = ["note": .string(String(repeating: "x", count: WireHeader.maximumHeaderBytes - 400))]
        #expect(try sender.send(try patternArray(.uint8, [16]), meta: fitting) == .sent(sequence: 0))
    }

    @Test("a tcp peer whose window stays closed is disconnected after the stalled-peer timeout, and counted")
    func stalledPeerIsDisconnected() throws {
        let options = ZeroMQSender.Options(expectedMessageBytes: 1 << 20, heartbeatInterval: .milliseconds(50), stalledPeerTimeout: .seconds(1))
        let sender = try ZeroMQSender(.publish, stream: "stall", bind: [try loopbackWildcard()], options: options)
        defer { sender.close() }
        // A real process that subscribes and never reads.
        let peer = try startPython(["-c", """
            import sys, time, zmq
            s = zmq.Context().socket(zmq.SUB)
            s.setsockopt(zmq.RCVHWM, 1)
            s.setsockopt(zmq.RCVBUF, 65536)
            s.setsockopt(zmq.RECONNECT_IVL, 60000)
            s.setsockopt(zmq.SUBSCRIBE, b"")
            s.connect(sys.argv[1])
            time.sleep(60)
            """, sender.boundEndpoints[0].description])
        defer { peer.kill() }
        var deadline = ContinuousClock.now + .seconds(20)
        while sender.statistics.peers == 0 && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(sender.statistics.peers == 1)
        Thread.sleep(forTimeInterval: 0.3)   // its subscription is applied at the next heartbeat
        // 64 MiB, far more than the peer's and the kernel's buffers: its window closes.
        let frame = try NDArray<UInt8>(shape: [1 << 20], repeating: 1)
        for _ in 0..<64 { try sender.send(frame) }
        deadline = ContinuousClock.now + .seconds(15)
        while sender.statistics.peersDisconnected == 0 && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.1) }
        let statistics = sender.statistics
        #expect(statistics.peersDisconnected == 1 && statistics.peers == 0, "\(statistics)")
        // What libzmq held for the peer is released with it.
        #expect(statistics.inFlightBytes == 0)
    }
}
