import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Testing

/// Push/pull's order at the switch: each puller delivers its messages in `seq` order, whichever
/// path brought them (docs/WIRE.md, "Push/pull on the same host").
extension FastPathPushPullTests {
    /// Sends one pattern array; its sequence number.
    func sendNumbered(_ sender: ZeroMQSender) throws -> UInt64 {
        let sequence = sender.statistics.nextSequence
        try #require(try sender.send(try patternArray(.uint16, [16, 16], message: Int(sequence))) == .sent(sequence: sequence))
        return sequence
    }

    /// Receives until `count` messages came (at most 20 s); their sequence numbers.
    func receive(_ count: Int, from receiver: ZeroMQReceiver) throws -> [UInt64] {
        var sequences: [UInt64] = []
        let deadline = Date().addingTimeInterval(20)
        while sequences.count < count, Date() < deadline {
            if let message = try receiver.receive(timeout: .milliseconds(100)) { sequences.append(message.sequence) }
        }
        return sequences
    }

    @Test("a puller that joins as the records the last local puller left go on its socket delivers them before the shared queue's later records")
    func joinWhileLeftoversAreOnTheSocket() throws {
        let sender = try ZeroMQSender(
            .push, stream: "pp", bind: [try loopbackWildcard()], options: .init(sendTimeout: .seconds(5), heartbeatInterval: Self.quick))
        defer { sender.close() }
        let first = try puller(of: sender)
        try sendUntilOnSharedMemory(sender, first)
        // The second puller connects while the first is on shared memory and reads nothing yet:
        // its socket gets the idle heartbeats (dealt round robin), whose offer it will take and
        // whose seq is the last message sent, though that one is in the shared queue.
        let second = try puller(of: sender)
        defer { second.close() }
        try #require(eventually(within: 10) { sender.statistics.peers == 2 })
        let heartbeats = sender.statistics.heartbeats
        try #require(eventually(within: 10) { sender.statistics.heartbeats >= heartbeats + 4 })
        // The first puller leaves records unread; with no local puller left, the pusher moves
        // them to the socket, after those heartbeats: all to the second puller, its only peer.
        let leftovers = try (0..<20).map { _ in try sendNumbered(sender) }
        first.close()
        let shared = try ArrayQueue.open(name: HostIdentity.sharedQueueName(nonce: try #require(sender.fastPathNonce)))
        try #require(eventually(within: 10) { sender.statistics.sharedMemorySubscribers == 0 && shared.isEmpty })
        // Its first message comes after a heartbeat: it registers, and the pusher attaches it.
        var received = try receive(1, from: second)
        try #require(eventually(within: 10) { sender.statistics.sharedMemorySubscribers == 1 })
        let later = try (0..<5).map { _ in try sendNumbered(sender) }
        received += try receive(leftovers.count + later.count - received.count, from: second)
        #expect(received == leftovers + later, "each once, in order: the socket's records before the shared queue's")
        #expect(second.path == .sharedMemory && second.statistics.receivedThroughSharedMemory == UInt64(later.count))
    }

    @Test("a puller of the pusher's host is attached only once the record the pusher holds for the socket went out, with a cut past it")
    func attachWaitsForTheHeldRecord() throws {
        let (sender, queued) = try pusherWithLeftovers()
        defer { sender.close() }
        try #require(eventually(within: 10) { sender.statistics.sharedMemorySubscribers == 0 })
        // No puller anywhere: the send times out moving the first record, which the pusher holds.
        #expect { try sender.send(try patternArray(.uint16, [16, 16])) } throws: { ($0 as? TransportError)?.code == .timeout }
        // A puller of this host registers (its socket matters not here, only its queue).
        let nonce = try #require(sender.fastPathNonce)
        var attempt = try FastPathLink(mode: .automatic, pull: true).start(
            stream: "pp", epoch: sender.epoch, bootID: try #require(HostIdentity.bootID), registry: HostIdentity.registryName(nonce: nonce),
            nonce: nonce, offeredServerKey: nil)
        defer { FastPathLink.discard(attempt) }
        // Before the fix it was attached at once, with the cut at the first record left: reading
        // the shared queue's later records, it could get the held one on its socket after them.
        Thread.sleep(forTimeInterval: 0.3)
        let helloTooSoon = try FastPathLink.readHello(&attempt)
        #expect(sender.statistics.sharedMemorySubscribers == 0 && helloTooSoon == nil, "attached while the record is held")
        // A puller on the network connects: the held record goes to it, then the registration is attached.
        let remote = try ZeroMQReceiver(
            .pull, connect: sender.boundEndpoints, options: .init(heartbeatInterval: Self.quick, fastPath: .disabled), logger: quietLogger)
        defer { remote.close() }
        try #require(eventually(within: 10) { sender.statistics.sharedMemorySubscribers == 1 })
        let cut = try #require(try FastPathLink.readHello(&attempt))
        #expect(cut > queued.last!, "past the held record and the heartbeats sent before it")
        #expect(try remote.receive(timeout: .seconds(5))?.sequence == queued[0])
        #expect(attempt.shared?.count == queued.count - 1, "the rest stays in the shared queue for the pullers of this host")
    }

    @Test("a puller still reading what its socket brought before its cut when its wait for the cut times out delivers that before the shared queue's records")
    func slowPullerReadsItsSocketFirst() throws {
        let sender = try ZeroMQSender(
            .push, stream: "pp", bind: [try loopbackWildcard()], options: .init(sendTimeout: .seconds(5), heartbeatInterval: Self.quick))
        defer { sender.close() }
        let receiver = try puller(of: sender)
        defer { receiver.close() }
        try #require(eventually(within: 10) { sender.statistics.peers == 1 })
        // Messages on the network that the puller reads one by one: it takes the offer of the first.
        let backlog = try (0..<60).map { _ in try sendNumbered(sender) }
        var received = try receive(1, from: receiver)
        try #require(eventually(within: 10) { sender.statistics.sharedMemorySubscribers == 1 })
        let later = try (0..<5).map { _ in try sendNumbered(sender) }
        // Slowly for longer than its wait for the cut (2 s from its hello), then at full speed.
        let slowUntil = Date().addingTimeInterval(3)
        while Date() < slowUntil, let message = try receiver.receive(timeout: .milliseconds(100)) {
            received.append(message.sequence)
            Thread.sleep(forTimeInterval: 0.1)
        }
        received += try receive(backlog.count + later.count - received.count, from: receiver)
        #expect(received == backlog + later, "each once, in order: the socket's records before the shared queue's")
        #expect(receiver.path == .sharedMemory && receiver.statistics.receivedThroughSharedMemory == UInt64(later.count))
    }
}
