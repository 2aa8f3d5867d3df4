import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Testing

@Suite("Publish/subscribe and push/pull")
struct PatternTests {
    @Test func publishSubscribeWithTopicFilter() throws {
        let fast = ZeroMQSender.Options(heartbeatInterval: .milliseconds(20))
        let camera = try ZeroMQSender(.publish, stream: "camera0", bind: [try loopbackWildcard()], options: fast)
        let lidar = try ZeroMQSender(.publish, stream: "lidar", bind: [try loopbackWildcard()], options: fast)
        let receiver = try ZeroMQReceiver(.subscribe(prefixes: ["cam"]), connect: camera.boundEndpoints + lidar.boundEndpoints)
        defer { camera.close(); lidar.close(); receiver.close() }
        try awaitHeartbeat(receiver)

        for i in 0..<5 { try lidar.send(try patternArray(.uint8, [10], message: i)) }
        for i in 0..<5 { try camera.send(try patternArray(.uint16, [4, 4], message: i), index: Int64(i)) }
        for i in 0..<5 {
            let message = try #require(try receiver.receive(timeout: .seconds(10)))
            #expect(message.stream == "camera0")
            #expect(message.index == Int64(i))
            #expect(message.arrays[0].array == (try patternArray(.uint16, [4, 4], message: i)))
        }
        #expect(try receiver.receive(timeout: .milliseconds(200)) == nil)
        #expect(receiver.statistics.received == 5)
        #expect(receiver.statistics.lost == 0)
    }

    @Test func severalSubscribersEachGetEverything() throws {
        let sender = try ZeroMQSender(.publish, stream: "fan", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: .milliseconds(20)))
        let receivers = try (0..<3).map { _ in try ZeroMQReceiver(.subscribeAll, connect: sender.boundEndpoints) }
        defer { sender.close(); receivers.forEach { $0.close() } }
        for receiver in receivers { try awaitHeartbeat(receiver) }
        for i in 0..<10 { try sender.send(try patternArray(.int32, [100], message: i)) }
        for receiver in receivers {
            for i in 0..<10 {
                let message = try #require(try receiver.receive(timeout: .seconds(10)))
                #expect(message.arrays[0].array == (try patternArray(.int32, [100], message: i)))
            }
        }
    }

    @Test func subscriberBindsAndPublisherConnects() throws {
        let receiver = try ZeroMQReceiver(.subscribeAll, bind: [try loopbackWildcard()])
        let sender = try ZeroMQSender(.publish, stream: "reverse", connect: receiver.boundEndpoints, options: .init(heartbeatInterval: .milliseconds(20)))
        defer { sender.close(); receiver.close() }
        try awaitHeartbeat(receiver)
        try sender.send(try patternArray(.float32, [3]))
        #expect(try receiver.receive(timeout: .seconds(10))?.stream == "reverse")
    }

    @Test func pushPullSpreadsWork() throws {
        let sender = try ZeroMQSender(.push, stream: "jobs", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: nil))
        let options = ZeroMQReceiver.Options(detectsLoss: false)
        let workers = try (0..<2).map { _ in try ZeroMQReceiver(.pull, connect: sender.boundEndpoints, options: options) }
        defer { sender.close(); workers.forEach { $0.close() } }
        // Give both pullers time to connect, so that round robin reaches both.
        Thread.sleep(forTimeInterval: 0.5)
        for i in 0..<20 { try sender.send(try patternArray(.uint8, [8], message: i), index: Int64(i)) }
        var seen: Set<Int64> = []
        let deadline = Date().addingTimeInterval(10)
        while seen.count < 20 && Date() < deadline {
            for worker in workers {
                if let message = try worker.receive(timeout: .milliseconds(20)) { seen.insert(message.index!) }
            }
        }
        #expect(seen == Set(0..<20))
        #expect(workers.allSatisfy { $0.statistics.received > 0 })
        #expect(workers.allSatisfy { $0.statistics.lost == 0 })
    }

    @Test func pushWithoutPullerTimesOut() throws {
        let sender = try ZeroMQSender(.push, stream: "nobody", bind: [try loopbackWildcard()],
                                      options: .init(sendTimeout: .milliseconds(200), heartbeatInterval: nil))
        defer { sender.close() }
        let start = Date()
        #expect { try sender.send(try patternArray(.uint8, [1])) } throws: { ($0 as? TransportError)?.code == .timeout }
        #expect(Date().timeIntervalSince(start) >= 0.19)
        #expect(sender.statistics.nextSequence == 0)   // a timed-out message uses no sequence number

        let receiver = try ZeroMQReceiver(.pull, connect: sender.boundEndpoints)
        defer { receiver.close() }
        #expect(try sender.send(try patternArray(.uint8, [1])) == .sent(sequence: 0))
        #expect(try receiver.receive(timeout: .seconds(10))?.sequence == 0)
    }

    @Test func pushBlocksAtTheByteBudgetAndLosesNothing() throws {
        let messageBytes = 256 << 10
        let sender = try ZeroMQSender(.push, stream: "budget", bind: [try loopbackWildcard()], options: .init(
            byteBudget: 1 << 20, expectedMessageBytes: messageBytes, sendTimeout: .milliseconds(300), heartbeatInterval: nil))
        let receiver = try ZeroMQReceiver(.pull, connect: sender.boundEndpoints, options: .init(
            byteBudget: 1 << 20, expectedMessageBytes: messageBytes))
        defer { sender.close(); receiver.close() }
        let payload = try patternArray(.uint8, [messageBytes])
        var sent = 0
        var timedOut = false
        for _ in 0..<400 {
            do throws(TransportError) {
                try sender.send(payload)
                sent += 1
                #expect(sender.statistics.inFlightBytes <= (1 << 20) + messageBytes)
            } catch {
                #expect(error.code == .timeout)
                timedOut = true
                break
            }
        }
        #expect(timedOut, "the sender never blocked: \(sent) messages of \(messageBytes) bytes went out")
        for sequence in 0..<sent {
            let message = try #require(try receiver.receive(timeout: .seconds(10)))
            #expect(message.sequence == UInt64(sequence))
        }
        #expect(receiver.statistics.lost == 0)
        #expect(eventually { sender.statistics.inFlightBytes == 0 })
        #expect(try sender.send(payload) == .sent(sequence: UInt64(sent)))
    }

    @Test func floodedSubscriberLosesMessagesWithinTheByteBudgetAndSeesTheLoss() throws {
        let messageBytes = 512 << 10
        let sender = try ZeroMQSender(.publish, stream: "flood", bind: [try loopbackWildcard()], options: .init(
            byteBudget: 2 << 20, heartbeatInterval: .milliseconds(20)))
        let receiver = try ZeroMQReceiver(.subscribeAll, connect: sender.boundEndpoints, options: .init(
            byteBudget: 2 << 20, expectedMessageBytes: messageBytes))
        defer { sender.close(); receiver.close() }
        try awaitHeartbeat(receiver)
        let payload = try patternArray(.uint8, [messageBytes])
        var dropped = 0
        for _ in 0..<300 {
            if case .dropped = try sender.send(payload) { dropped += 1 }
            #expect(sender.statistics.inFlightBytes <= (2 << 20) + messageBytes)
        }
        // The subscriber's pipe holds at most byte budget ÷ message size messages (the publisher
        // lowers ZMQ_SNDHWM to that): libzmq drops the rest for it, or the publisher does.
        #expect(sender.statistics.dropped == UInt64(dropped))
        #expect(sender.statistics.sent + sender.statistics.dropped == 300)
        // Drain what arrived; the gaps show up as lost, and the end message reveals a lost tail.
        sender.close()
        var received = 0
        var sawEnd = false
        while let event = try receiver.receiveEvent(timeout: .seconds(2)) {
            if case .message = event { received += 1 }
            if case .end = event { sawEnd = true; break }
        }
        let statistics = receiver.statistics
        #expect(statistics.received == UInt64(received))
        // Drops between received messages are gaps; a dropped tail shows only through the end
        // message, which the publisher may drop too when its budget is still full (a CI run
        // once saw no end and `lost` 0): then every drop was in the tail.
        #expect(statistics.lost > 0 || !sawEnd)
        #expect(statistics.received < 300, "a subscriber that did not read during the flood got every message")
        #expect(statistics.received + statistics.lost <= 300)
    }
}
