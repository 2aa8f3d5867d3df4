import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Testing

@Suite("Sequence numbers, epochs, heartbeats and end")
struct SequenceTests {
    /// A puller bound to loopback and a raw pusher connected to it.
    static func rawPair(_ options: ZeroMQReceiver.Options = .init()) throws -> (RawPeer, ZeroMQReceiver) {
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: options)
        let peer = try RawPeer(connect: receiver.boundEndpoints[0])
        return (peer, receiver)
    }

    static func sendData(_ peer: RawPeer, epoch: Int64, seq: Int64, stream: String = "raw") throws {
        let header = wireHeader(stream: stream, epoch: epoch, seq: seq, arrays: [("x", .uint8, [2])])
        try peer.send(topic: stream, header: .object(header), payloads: [[UInt8(seq & 0xFF), 0]])
    }

    static func sendHeartbeat(_ peer: RawPeer, epoch: Int64, seq: Int64) throws {
        var header = wireHeader(kind: "heartbeat", epoch: epoch, seq: seq)
        header["arrays"] = []
        try peer.send(topic: "raw", header: .object(header))
    }

    @Test func gapsAreCountedAsLost() throws {
        let (peer, receiver) = try Self.rawPair()
        defer { receiver.close() }
        for seq: Int64 in [0, 1, 2, 5, 6, 10] { try Self.sendData(peer, epoch: 900, seq: seq) }
        var sequences: [UInt64] = []
        for _ in 0..<6 { sequences.append(try #require(try receiver.receive(timeout: .seconds(10))).sequence) }
        #expect(sequences == [0, 1, 2, 5, 6, 10])
        #expect(receiver.statistics.lost == 5)
        #expect(receiver.statistics.received == 6)

        // A duplicate is out of order, not lost.
        try Self.sendData(peer, epoch: 900, seq: 6)
        _ = try #require(try receiver.receive(timeout: .seconds(10)))
        #expect(receiver.statistics.outOfOrder == 1)
        #expect(receiver.statistics.lost == 5)
    }

    /// A peer picks its sequence numbers: three forged jumps of almost 2^63 overflowed the
    /// `lost` sum and trapped the receiver (and `aq-relay subscribe` with it).
    @Test func forgedJumpsSaturateLost() throws {
        let (peer, receiver) = try Self.rawPair()
        defer { receiver.close() }
        for epoch: Int64 in 1...3 {
            try Self.sendData(peer, epoch: epoch, seq: 0)
            try Self.sendHeartbeat(peer, epoch: epoch, seq: Int64.max - 1)
        }
        var heartbeats = 0
        while heartbeats < 3, let event = try receiver.receiveEvent(timeout: .seconds(10)) {
            if case .heartbeat = event { heartbeats += 1 }
        }
        #expect(heartbeats == 3)
        #expect(receiver.statistics.lost == .max)
    }

    @Test func epochChangeIsARestartNotALoss() throws {
        let (peer, receiver) = try Self.rawPair()
        defer { receiver.close() }
        try Self.sendData(peer, epoch: 1, seq: 0)
        try Self.sendData(peer, epoch: 1, seq: 1)
        try Self.sendData(peer, epoch: 2, seq: 0)   // the sender restarted
        try Self.sendData(peer, epoch: 2, seq: 1)
        var epochs: [UInt64] = []
        for _ in 0..<4 { epochs.append(try #require(try receiver.receive(timeout: .seconds(10))).epoch) }
        #expect(epochs == [1, 1, 2, 2])
        let statistics = receiver.statistics
        #expect(statistics.epochsSeen == 2)
        #expect(statistics.restarts == 1)
        #expect(statistics.lost == 0)
    }

    @Test func heartbeatAndEndRevealALostTail() throws {
        let (peer, receiver) = try Self.rawPair()
        defer { receiver.close() }
        try Self.sendData(peer, epoch: 5, seq: 0)
        try Self.sendHeartbeat(peer, epoch: 5, seq: 3)
        try peer.send(topic: "raw", header: .object(wireHeader(kind: "end", epoch: 5, seq: 3)))

        #expect(try receiver.receiveEvent(timeout: .seconds(10)).map { if case .message = $0 { true } else { false } } == true)
        guard case let .heartbeat(mark)? = try receiver.receiveEvent(timeout: .seconds(10)) else {
            Issue.record("expected a heartbeat")
            return
        }
        #expect(mark == StreamMark(stream: "raw", epoch: 5, lastSequence: 3, timestamp: Timestamp(nanosecondsSinceEpoch: 1_000)))
        guard case let .end(endMark)? = try receiver.receiveEvent(timeout: .seconds(10)) else {
            Issue.record("expected an end")
            return
        }
        #expect(endMark.lastSequence == 3)
        let statistics = receiver.statistics
        #expect(statistics.lost == 3)
        #expect(statistics.heartbeats == 1 && statistics.ends == 1)
    }

    /// Out of order means below a `seq` delivered before, not below one a heartbeat announced:
    /// a pusher's heartbeats may announce records it still holds in its shared queue.
    @Test("data that a heartbeat announced and that then arrive in order are not out of order; a repeat, or a heartbeat behind the data, is")
    func outOfOrderIsBelowDeliveredData() throws {
        let (peer, receiver) = try Self.rawPair(.init(detectsLoss: false))
        defer { receiver.close() }
        try Self.sendHeartbeat(peer, epoch: 7, seq: 2)   // the epoch's first message: nothing delivered yet
        for seq: Int64 in [0, 1] { try Self.sendData(peer, epoch: 7, seq: seq) }
        try Self.sendHeartbeat(peer, epoch: 7, seq: 5)
        for seq: Int64 in [2, 3, 4, 5] { try Self.sendData(peer, epoch: 7, seq: seq) }
        try Self.sendData(peer, epoch: 7, seq: 4)        // a repeat
        try Self.sendHeartbeat(peer, epoch: 7, seq: 3)   // behind data 5
        var events = 0
        while events < 10, try receiver.receiveEvent(timeout: .seconds(10)) != nil { events += 1 }
        #expect(events == 10)
        #expect(receiver.statistics.outOfOrder == 2)
    }

    @Test func senderHeartbeatsWhenIdleAndEndsOnClose() throws {
        let sender = try ZeroMQSender(.publish, stream: "hb", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: .milliseconds(50)))
        let receiver = try ZeroMQReceiver(.subscribeAll, connect: sender.boundEndpoints, options: .init(
            heartbeatInterval: .milliseconds(50), missedHeartbeatsBeforeSilent: 4))
        defer { receiver.close() }

        // Before any data, heartbeats carry no sequence number.
        var firstMark: StreamMark?
        let deadline = Date().addingTimeInterval(10)
        while firstMark == nil && Date() < deadline {
            if case let .heartbeat(mark)? = try receiver.receiveEvent(timeout: .milliseconds(100)) { firstMark = mark }
        }
        #expect(firstMark?.lastSequence == nil)
        #expect(firstMark?.epoch == sender.epoch)

        for i in 0..<3 { try sender.send(try patternArray(.uint8, [4], message: i)) }
        for _ in 0..<3 { _ = try #require(try receiver.receive(timeout: .seconds(10))) }
        var idleMark: StreamMark?
        while idleMark == nil && Date() < deadline {
            if case let .heartbeat(mark)? = try receiver.receiveEvent(timeout: .milliseconds(100)) { idleMark = mark }
        }
        #expect(idleMark?.lastSequence == 2)
        #expect(receiver.statistics.peerIsSilent == false)
        // The sender counts a heartbeat after handing it to libzmq, so the receiver may see it first.
        while sender.statistics.heartbeats < 2 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(sender.statistics.heartbeats >= 2)

        sender.close()
        var endMark: StreamMark?
        while endMark == nil && Date() < deadline {
            if case let .end(mark)? = try receiver.receiveEvent(timeout: .milliseconds(100)) { endMark = mark }
        }
        #expect(endMark?.lastSequence == 2)
        #expect(receiver.statistics.ends == 1)
        #expect(receiver.statistics.lost == 0)
        // With the sender gone, four missed heartbeats (200 ms) make the peer silent.
        #expect(eventually(within: 5) { receiver.statistics.peerIsSilent })
        #expect(receiver.statistics.silence >= .milliseconds(200))
    }

    @Test("a sender's heartbeat interval of zero (or less) sends no heartbeats, as nil does and as C's and Python's 0 do",
          arguments: [Duration.zero, .milliseconds(-5), nil] as [Duration?])
    func zeroHeartbeatIntervalSendsNone(_ interval: Duration?) throws {
        // fastPath disabled: a binding publisher would otherwise send its offer every second.
        let sender = try ZeroMQSender(
            .publish, stream: "quiet", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: interval, fastPath: .disabled))
        defer { sender.close() }
        let receiver = try ZeroMQReceiver(.subscribeAll, connect: sender.boundEndpoints, options: .init(fastPath: .disabled))
        defer { receiver.close() }
        #expect(eventually(within: 10) { sender.statistics.peers == 1 })
        // Zero used to mean 1 ms: about 300 heartbeats in this pause.
        Thread.sleep(forTimeInterval: 0.3)
        _ = try receiver.receiveEvent(timeout: .milliseconds(50))
        #expect(sender.statistics.heartbeats == 0)
        #expect(receiver.statistics.heartbeats == 0)
    }

    @Test("a receiver's heartbeat interval must be positive: zero is refused, not taken as none or as 1 ms")
    func receiverHeartbeatIntervalMustBePositive() throws {
        for interval in [Duration.zero, .milliseconds(-1)] {
            #expect { try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(heartbeatInterval: interval)) }
                throws: { ($0 as? TransportError)?.code == .invalidArgument }
        }
        #expect { try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(missedHeartbeatsBeforeSilent: 0)) }
            throws: { ($0 as? TransportError)?.code == .invalidArgument }
    }

    @Test func messagesSequenceEndsAtEnd() async throws {
        let sender = try ZeroMQSender(.push, stream: "async", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: .milliseconds(30)))
        let receiver = try ZeroMQReceiver(.pull, connect: sender.boundEndpoints)
        defer { receiver.close() }
        for i in 0..<10 { try sender.send(try patternArray(.float32, [16], message: i), index: Int64(i)) }
        sender.close()
        var indices: [Int64] = []
        for try await message in receiver.messages(stopAtEnd: true) {
            indices.append(message.index ?? -1)
            #expect(message.arrays[0].array == (try patternArray(.float32, [16], message: Int(message.index ?? 0))))
        }
        #expect(indices == Array(0..<10))
    }

    @Test func messagesSequenceEndsWhenReceiverCloses() async throws {
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()])
        let closer = Task.detached {
            try await Task.sleep(for: .milliseconds(200))
            receiver.close()
        }
        var count = 0
        for try await _ in receiver.messages() { count += 1 }
        #expect(count == 0)
        try await closer.value
    }

    @Test func messagesSequenceStopsOnCancellation() async throws {
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()])
        defer { receiver.close() }
        let iteration = Task {
            var count = 0
            for try await _ in receiver.messages() { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(150))
        iteration.cancel()
        #expect(try await iteration.value == 0)
    }
}
