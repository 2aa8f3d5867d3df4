import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Synchronization
import Testing

/// A publisher's `end` on the same-host fast path when its broadcast queue has no room for it.
@Suite("Same-host fast path: end always arrives", .serialized, .timeLimit(.minutes(2)))
struct FastPathEndTests {
    static let quick = Duration.milliseconds(100)
    static let shape = [256, 512]   // 256 KiB of uint16: the 1 MiB broadcast queue holds three

    @Test("a subscriber that holds the oldest record while its publisher closes still gets end, after every record the queue kept, and counts the tail as lost")
    func endWhenTheBroadcastQueueIsFull() throws {
        let sender = try ZeroMQSender(
            .publish, stream: "fpend", bind: [try loopbackWildcard()],
            options: .init(heartbeatInterval: Self.quick, fastPathCapacity: 1 << 20))
        let receiver = try ZeroMQReceiver(
            .subscribeAll, connect: sender.boundEndpoints,
            options: .init(heartbeatInterval: Self.quick, fastPathTimeout: .seconds(5)), logger: quietLogger)
        defer { sender.close(); receiver.close() }
        try awaitHeartbeat(receiver)
        try sender.send(try patternArray(.uint16, Self.shape, message: 0))
        let switchDeadline = Date().addingTimeInterval(20)
        while receiver.path != .sharedMemory, Date() < switchDeadline {
            try sender.send(try patternArray(.uint16, Self.shape, message: Int(sender.statistics.nextSequence)))
            while try receiver.receive(timeout: .milliseconds(20)) != nil {}
        }
        try #require(receiver.path == .sharedMemory)
        while try receiver.receive(timeout: .milliseconds(50)) != nil {}

        // The subscriber holds the next record while the publisher fills the queue and closes.
        let holding = Atomic<Bool>(false), release = Atomic<Bool>(false)
        let held = Mutex<UInt64?>(nil)
        let done = Atomic<Bool>(false)
        Thread.detachNewThread {
            _ = try? receiver.receive(timeout: .seconds(10)) { message in
                held.withLock { $0 = message.sequence }
                holding.store(true, ordering: .releasing)
                _ = eventually(within: 10) { release.load(ordering: .acquiring) }
            }
            done.store(true, ordering: .releasing)
        }
        for _ in 0..<20 {
            try sender.send(try patternArray(.uint16, Self.shape, message: Int(sender.statistics.nextSequence)))
            if holding.load(ordering: .acquiring) { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        try #require(eventually(within: 10) { holding.load(ordering: .acquiring) })
        for _ in 0..<20 {
            try sender.send(try patternArray(.uint16, Self.shape, message: Int(sender.statistics.nextSequence)))
        }
        let total = sender.statistics.nextSequence
        #expect(sender.statistics.sharedMemoryDropped > 0, "the broadcast queue should have been full")
        sender.close()
        release.store(true, ordering: .releasing)
        try #require(eventually(within: 15) { done.load(ordering: .acquiring) })

        var sequences: [UInt64] = [try #require(held.withLock { $0 })]
        var end: StreamMark?
        let deadline = Date().addingTimeInterval(10)
        while end == nil, Date() < deadline {
            switch try receiver.receiveEvent(timeout: .milliseconds(200)) {
            case let .message(message)?: sequences.append(message.sequence)
            case let .end(mark)?: end = mark
            default: break
            }
        }
        let mark = try #require(end, "no end arrived after \(sequences)")
        #expect(mark.lastSequence == total - 1)
        #expect(zip(sequences, sequences.dropFirst()).allSatisfy { $0 < $1 })
        #expect((sequences.last ?? 0) < total - 1, "the tail was dropped")
        let statistics = receiver.statistics
        #expect(statistics.ends == 1)
        #expect(statistics.received + statistics.lost == total, "received \(statistics.received) + lost \(statistics.lost) of \(total)")
    }
}
