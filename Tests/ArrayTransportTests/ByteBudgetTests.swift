import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Synchronization
import Testing

/// A publisher's byte budget after a flood: it must come back once its subscribers have read
/// (or left), whatever libzmq did with the frames. `AQ_BUDGET_ROUNDS` repeats each test (a soak).
@Suite("A publisher's byte budget comes back", .serialized, .timeLimit(.minutes(3)))
struct ByteBudgetTests {
    static let rounds = Int(ProcessInfo.processInfo.environment["AQ_BUDGET_ROUNDS"] ?? "") ?? 5
    static let messageBytes = 512 << 10
    static let budget = 2 << 20

    /// Reads `receiver` on a thread of its own until stopped, pausing `pause` after each message.
    final class Reader: Sendable {
        let receiver: ZeroMQReceiver
        private let stopped = Atomic<Bool>(false)
        private let finished = Atomic<Bool>(false)
        let received = Atomic<Int>(0)

        init(_ receiver: ZeroMQReceiver, pause: Double) {
            self.receiver = receiver
            Thread.detachNewThread { [self] in
                while !stopped.load(ordering: .acquiring) {
                    if case .message? = try? receiver.receiveEvent(timeout: .milliseconds(20)) {
                        received.add(1, ordering: .relaxed)
                        if pause > 0 { Thread.sleep(forTimeInterval: pause) }
                    }
                }
                finished.store(true, ordering: .releasing)
            }
        }

        func stop() {
            stopped.store(true, ordering: .releasing)
            _ = eventually(within: 5) { finished.load(ordering: .acquiring) }
        }
    }

    func publisher(heartbeats: Bool = true, budget: Int = Self.budget) throws -> ZeroMQSender {
        try ZeroMQSender(.publish, stream: "flood", bind: [try loopbackWildcard()], options: .init(
            byteBudget: budget, heartbeatInterval: heartbeats ? .milliseconds(20) : nil, fastPath: .disabled))
    }

    func subscriber(of sender: ZeroMQSender) throws -> ZeroMQReceiver {
        try ZeroMQReceiver(.subscribeAll, connect: sender.boundEndpoints, options: .init(
            byteBudget: Self.budget, expectedMessageBytes: Self.messageBytes, fastPath: .disabled), logger: quietLogger)
    }

    /// A publisher and one subscriber of it that has seen a heartbeat (its subscription is applied).
    func connectedPair() throws -> (ZeroMQSender, ZeroMQReceiver) {
        let sender = try publisher()
        let receiver = try subscriber(of: sender)
        try awaitHeartbeat(receiver)
        return (sender, receiver)
    }

    /// Expects the publisher's in-flight bytes to reach 0 within 10 s; `detail` describes the round.
    func expectBudgetBack(_ sender: ZeroMQSender, round: Int, _ detail: @autoclosure () -> String) {
        let recovered = eventually(within: 10) { sender.statistics.inFlightBytes == 0 }
        #expect(recovered, "round \(round): \(sender.statistics.inFlightBytes) bytes still in flight after 10 s (\(detail()))")
    }

    /// Sends `count` messages as fast as it can; returns how many were dropped.
    func flood(_ sender: ZeroMQSender, _ payload: AnyNDArray, count: Int) throws -> Int {
        var dropped = 0
        for _ in 0..<count {
            if case .dropped = try sender.send(payload) { dropped += 1 }
        }
        return dropped
    }

    @Test("after a flood, a subscriber that keeps reading gives the whole budget back")
    func readingSubscriberGivesTheBudgetBack() throws {
        let payload = try patternArray(.uint8, [Self.messageBytes])
        for round in 0..<Self.rounds {
            let (sender, receiver) = try connectedPair()
            defer { sender.close(); receiver.close() }
            let reader = Reader(receiver, pause: 0.002)
            defer { reader.stop() }
            let dropped = try flood(sender, payload, count: 300)
            let start = Date()
            expectBudgetBack(sender, round: round, "\(dropped) dropped, \(reader.received.load(ordering: .relaxed)) read")
            #expect(try sender.send(payload) == .sent(sequence: 300), "round \(round): took \(Date().timeIntervalSince(start)) s")
        }
    }

    @Test("after a flood, a subscriber that stalled for a while and then reads gives the whole budget back")
    func stalledThenReadingSubscriber() throws {
        let payload = try patternArray(.uint8, [Self.messageBytes])
        for round in 0..<Self.rounds {
            let (sender, receiver) = try connectedPair()
            defer { sender.close(); receiver.close() }
            let dropped = try flood(sender, payload, count: 300)
            Thread.sleep(forTimeInterval: 0.3)
            let reader = Reader(receiver, pause: 0)
            defer { reader.stop() }
            _ = try flood(sender, payload, count: 100)
            expectBudgetBack(sender, round: round, "\(dropped) dropped, \(reader.received.load(ordering: .relaxed)) read")
        }
    }

    @Test("after a flood, subscribers that left give their share back, and one that keeps reading the rest")
    func departedSubscribersGiveTheirShareBack() throws {
        let payload = try patternArray(.uint8, [Self.messageBytes])
        for round in 0..<Self.rounds {
            let (sender, receiver) = try connectedPair()
            defer { sender.close(); receiver.close() }
            let reader = Reader(receiver, pause: 0.001)
            defer { reader.stop() }
            for _ in 0..<3 {
                let leaving = try subscriber(of: sender)
                try awaitHeartbeat(leaving)
                _ = try flood(sender, payload, count: 100)
                leaving.close()
            }
            _ = try flood(sender, payload, count: 100)
            expectBudgetBack(sender, round: round, "peers \(sender.statistics.peers), \(reader.received.load(ordering: .relaxed)) read")
        }
    }

    @Test("an idle publisher without heartbeats gets back what subscribers that left held")
    func idlePublisherGetsTheBudgetBack() throws {
        let payload = try patternArray(.uint8, [Self.messageBytes])
        for round in 0..<Self.rounds {
            // A budget that leaves libzmq's high-water mark at 1000 messages: what the pipe of a
            // subscriber that left keeps is then up to libzmq, not to the budget.
            let sender = try publisher(heartbeats: false, budget: 1 << 30)
            defer { sender.close() }
            let leaving = try subscriber(of: sender)
            // No heartbeats: wait until the subscription is applied (the first message arrives).
            var arrived = false
            let deadline = Date().addingTimeInterval(10)
            while !arrived, Date() < deadline {
                try sender.send(try patternArray(.uint8, [16]))
                arrived = try leaving.receive(timeout: .milliseconds(20)) != nil
            }
            try #require(arrived)
            // Until libzmq holds some of it for the subscriber, which reads nothing.
            var floods = 0
            repeat {
                _ = try flood(sender, payload, count: 50)
                floods += 1
            } while sender.statistics.inFlightBytes == 0 && floods < 20
            try #require(sender.statistics.inFlightBytes > 0)
            leaving.close()
            expectBudgetBack(sender, round: round, "the subscriber left; peers \(sender.statistics.peers)")
            #expect(try sender.send(payload) != .dropped(sequence: sender.statistics.nextSequence))
        }
    }

    @Test("a subscriber that stops reading holds at most its share: a publisher without an expected message size keeps feeding the one that reads")
    func stalledSubscriberHoldsOnlyItsShare() throws {
        let payload = try patternArray(.uint8, [Self.messageBytes])
        let sender = try publisher()
        let stalled = try subscriber(of: sender)
        let reading = try subscriber(of: sender)
        defer { sender.close(); stalled.close(); reading.close() }
        try awaitHeartbeat(stalled)
        try awaitHeartbeat(reading)
        let reader = Reader(reading, pause: 0)
        defer { reader.stop() }
        // Far more than the kernel's socket buffers and libzmq's default high-water mark of 1000
        // messages would need to fill up for the stalled one.
        var sent = 0
        for _ in 0..<400 {
            if case .sent = try sender.send(payload) { sent += 1 }
            Thread.sleep(forTimeInterval: 0.002)
        }
        let lastHalf = sender.statistics
        #expect(eventually { reader.received.load(ordering: .relaxed) >= sent * 9 / 10 },
                "the reading subscriber got \(reader.received.load(ordering: .relaxed)) of \(sent) sent (\(lastHalf.dropped) dropped, \(lastHalf.inFlightBytes) bytes in flight)")
        #expect(sent >= 300, "the publisher dropped \(400 - sent) of 400 messages for a subscriber that reads")
        // The stalled subscriber's pipe holds at most byte budget ÷ message size messages.
        #expect(sender.statistics.inFlightBytes <= 2 * Self.budget + Self.messageBytes)
    }
}
