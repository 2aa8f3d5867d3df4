import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Synchronization
import Testing

/// The same-host fast path with publisher and subscriber in this process (they share /dev/shm).
@Suite("Same-host fast path, in one process", .timeLimit(.minutes(2)))
struct FastPathTests {
    static let quick = Duration.milliseconds(100)

    func publisher(_ fastPath: FastPath = .automatic, stream: String = "fp", capacity: Int = 64 << 20) throws -> ZeroMQSender {
        try ZeroMQSender(
            .publish, stream: stream, bind: [try loopbackWildcard()], options: .init(heartbeatInterval: Self.quick, fastPath: fastPath, fastPathCapacity: capacity))
    }

    func subscriber(to sender: ZeroMQSender, _ fastPath: FastPath = .automatic) throws -> ZeroMQReceiver {
        try ZeroMQReceiver(
            .subscribeAll, connect: sender.boundEndpoints,
            options: .init(heartbeatInterval: Self.quick, fastPath: fastPath, fastPathTimeout: .seconds(5)),
            logger: quietLogger)
    }

    /// Receives `count` messages (at most 30 s), checking each one's bytes against its sequence number.
    func receive(_ count: Int, from receiver: ZeroMQReceiver, shape: [Int] = [64, 64]) throws -> [UInt64] {
        var sequences: [UInt64] = []
        let deadline = Date().addingTimeInterval(30)
        while sequences.count < count, Date() < deadline {
            guard let message = try receiver.receive(timeout: .seconds(5)) else { break }
            let expected = try patternArray(.uint16, shape, message: Int(message.sequence))
            #expect(message.arrays[0].array == expected, "message \(message.sequence) differs")
            sequences.append(message.sequence)
        }
        #expect(sequences.count == count)
        return sequences
    }

    /// Receives (and drops) messages until the receiver is on shared memory, at most 20 s.
    func receiveUntilSwitched(_ receiver: ZeroMQReceiver) throws -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            _ = try receiver.receive(timeout: .milliseconds(50))
            if receiver.path == .sharedMemory { return true }
        }
        return false
    }

    /// The registry thread made the data queue while `close` ran, after `close` had looked for
    /// it: 64 MiB stayed in /dev/shm after the process ended (3 of 3 runs from Python).
    @Test("a sender closed right after its first subscriber registers leaves no queue in /dev/shm")
    func closeDuringRegistrationLeavesNothing() throws {
        let watcher = try SharedMemoryCreations()
        var prefixes: [String] = []   // other tests make fast path queues meanwhile
        for round in 0..<10 {
            let sender = try publisher(stream: "fp-close-\(round)", capacity: 1 << 20)
            prefixes.append("aq.aqfp.\(try #require(sender.fastPathNonce))")
            let receiver = try subscriber(to: sender)
            // Offers reach the subscriber with the heartbeats; it registers with its first message.
            Thread.sleep(forTimeInterval: 0.3)
            #expect(eventually(within: 10) {
                _ = try? sender.send(try patternArray(.uint16, [64, 64], message: 0))
                return ((try? receiver.receive(timeout: .milliseconds(20))) ?? nil) != nil
            })
            sender.close()
            receiver.close()
        }
        let fastPathNames = watcher.names().filter { name in prefixes.contains { name.hasPrefix($0) } }
        #expect(!fastPathNames.isEmpty, "no fast path queue was ever made: the test did not race anything")
        let left = fastPathNames.filter { FileManager.default.fileExists(atPath: "/dev/shm/\($0)") }
        #expect(left.isEmpty, "left in /dev/shm: \(left)")
        for name in left { unlink("/dev/shm/\(name)") }
    }

    @Test("a subscriber switches to shared memory mid-stream: nothing lost, repeated or reordered")
    func switchesMidStream() throws {
        let sender = try publisher()
        let receiver = try subscriber(to: sender)
        let paced = PacedPublisher(sender, pause: 0.0005)
        paced.start()
        defer { paced.stop(); sender.close(); receiver.close() }

        let sequences = try receive(1000, from: receiver)
        paced.stop()
        expectConsecutive(sequences)
        let statistics = receiver.statistics
        #expect(receiver.path == .sharedMemory)
        #expect(statistics.path == .sharedMemory && statistics.switchesToSharedMemory == 1)
        #expect(statistics.receivedThroughSharedMemory > 0, "nothing came through shared memory")
        #expect(statistics.receivedThroughSharedMemory < statistics.received, "nothing came through the network before the switch")
        #expect(statistics.lost == 0 && statistics.outOfOrder == 0 && statistics.malformed == 0)
        #expect(sender.statistics.sharedMemorySubscribers == 1)
    }

    @Test("subscribers joining one after another share the publisher's one broadcast queue, and each gets everything in order from its switch on")
    func subscribersShareOneBroadcastQueue() throws {
        let sender = try publisher()
        let paced = PacedPublisher(sender, pause: 0.0005)
        paced.start()
        defer { paced.stop(); sender.close() }
        var receivers: [ZeroMQReceiver] = []
        defer { receivers.forEach { $0.close() } }
        var sequences: [[UInt64]] = []
        for _ in 0..<3 {
            // Each joins while the others read the queue: it subscribes before it registers.
            receivers.append(try subscriber(to: sender))
            sequences.append([])
            let deadline = Date().addingTimeInterval(20)
            while receivers.last?.path != .sharedMemory || sequences.last!.count < 50, Date() < deadline {
                for (position, receiver) in receivers.enumerated() {
                    while let message = try receiver.receive(timeout: .milliseconds(1)) { sequences[position].append(message.sequence) }
                }
            }
        }
        for _ in 0..<200 {
            for (position, receiver) in receivers.enumerated() {
                while let message = try receiver.receive(timeout: .milliseconds(1)) { sequences[position].append(message.sequence) }
            }
        }
        paced.stop()
        for (position, receiver) in receivers.enumerated() {
            while let message = try receiver.receive(timeout: .milliseconds(300)) { sequences[position].append(message.sequence) }
            expectConsecutive(sequences[position])
            let statistics = receiver.statistics
            #expect(receiver.path == .sharedMemory && statistics.receivedThroughSharedMemory > 0)
            #expect(statistics.lost == 0 && statistics.outOfOrder == 0, "subscriber \(position): lost \(statistics.lost)")
        }
        #expect(sender.statistics.sharedMemorySubscribers == 3)
        let shared = ArrayQueue.allNames().filter { name in
            guard name.hasPrefix("aqfp."), name.hasSuffix(".shared"), let queue = try? ArrayQueue.open(name: name) else { return false }
            return queue.info.creatorPID == getpid() && (try? queue.broadcastState())?.subscribers.count == 3
        }
        #expect(shared.count == 1, "one broadcast queue for the three subscribers: \(shared)")
    }

    @Test("end reaches a switched subscriber through shared memory, which then goes back to the network")
    func endThroughSharedMemory() throws {
        let sender = try publisher()
        let receiver = try subscriber(to: sender)
        let paced = PacedPublisher(sender, pause: 0.001)
        paced.start()
        defer { paced.stop(); sender.close(); receiver.close() }
        #expect(try receiveUntilSwitched(receiver))
        let sent = paced.stop()
        sender.close()
        var last: UInt64?
        var end: StreamMark?
        let deadline = Date().addingTimeInterval(10)
        while end == nil, Date() < deadline {
            switch try receiver.receiveEvent(timeout: .milliseconds(200)) {
            case let .message(message)?: last = message.sequence
            case let .end(mark)?: end = mark
            default: break
            }
        }
        let mark = try #require(end, "no end arrived")
        #expect(mark.lastSequence == UInt64(sent - 1) && (last == nil || last == mark.lastSequence))
        #expect(receiver.path == .network)
        #expect(receiver.statistics.lost == 0 && receiver.statistics.ends == 1)
    }

    @Test("end put while a switched subscriber polls without waiting still comes through shared memory (it reads the queue before it leaves for a publisher that is gone)")
    func endWhilePolling() throws {
        // Polling with a zero timeout, the subscriber spends most of its time between finding the
        // queue empty and looking for the publisher's registry: the close lands there in most rounds.
        for _ in 0..<5 {
            let sender = try publisher()
            let receiver = try subscriber(to: sender)
            let paced = PacedPublisher(sender, pause: 0.001)
            paced.start()
            defer { paced.stop(); sender.close(); receiver.close() }
            #expect(try receiveUntilSwitched(receiver))
            let sent = paced.stop()
            var end: StreamMark?
            let deadline = Date().addingTimeInterval(10)
            // Everything sent is taken (until 100 ms bring nothing), then the publisher closes.
            while Date() < deadline, try receiver.receiveEvent(timeout: .milliseconds(100)) != nil {}
            Thread.detachNewThread { Thread.sleep(forTimeInterval: 0.02); sender.close() }
            while end == nil, Date() < deadline {
                if case let .end(mark)? = try receiver.receiveEvent(timeout: .zero) { end = mark }
            }
            let mark = try #require(end, "no end arrived (sent \(sent), path \(receiver.path), \(receiver.statistics); sender \(sender.statistics))")
            #expect(mark.lastSequence == UInt64(sent - 1))
            #expect(receiver.statistics.lost == 0 && receiver.statistics.ends == 1)
        }
    }

    @Test("with the fast path disabled on either side, messages stay on the network", arguments: [(FastPath.disabled, FastPath.automatic), (.automatic, .disabled)])
    func disabled(publisherMode: FastPath, subscriberMode: FastPath) throws {
        let sender = try publisher(publisherMode)
        let receiver = try subscriber(to: sender, subscriberMode)
        let paced = PacedPublisher(sender, pause: 0.0005)
        paced.start()
        defer { paced.stop(); sender.close(); receiver.close() }
        expectConsecutive(try receive(600, from: receiver))
        #expect(receiver.path == .network)
        #expect(receiver.statistics.receivedThroughSharedMemory == 0 && receiver.statistics.fastPathProblem == nil)
        #expect(sender.statistics.sharedMemorySubscribers == 0)
    }

    @Test("a subscriber that requires the fast path delivers only what comes through shared memory")
    func required() throws {
        let sender = try publisher()
        let receiver = try subscriber(to: sender, .required)
        let paced = PacedPublisher(sender, pause: 0.0005)
        paced.start()
        defer { paced.stop(); sender.close(); receiver.close() }
        expectConsecutive(try receive(300, from: receiver))
        let statistics = receiver.statistics
        #expect(receiver.path == .sharedMemory && statistics.receivedThroughSharedMemory == statistics.received)
        #expect(statistics.lost == 0)
    }

    @Test("a publisher that requires the fast path sends data only through shared memory")
    func publisherRequiresFastPath() throws {
        let sender = try publisher(.required)
        let local = try subscriber(to: sender)
        let networkOnly = try subscriber(to: sender, .disabled)
        let paced = PacedPublisher(sender, pause: 0.0005)
        paced.start()
        defer { paced.stop(); sender.close(); local.close(); networkOnly.close() }
        expectConsecutive(try receive(200, from: local))
        #expect(local.statistics.receivedThroughSharedMemory == 200)
        #expect(try networkOnly.receive(timeout: .milliseconds(300)) == nil)
        #expect(networkOnly.statistics.heartbeats > 0)
    }

    @Test("requiring the fast path where it cannot work is an argument error")
    func requiredNeedsOneConnection() throws {
        #expect(throws: TransportError.self) {
            try ZeroMQSender(.push, stream: "x", bind: [try loopbackWildcard()], options: .init(fastPath: .required))
        }
        #expect(throws: TransportError.self) {
            try ZeroMQReceiver(.pull, connect: [try Endpoint("tcp://127.0.0.1:9")], options: .init(fastPath: .required))
        }
        let error = #expect(throws: TransportError.self) {
            try ZeroMQReceiver(.subscribeAll, bind: [try loopbackWildcard()], options: .init(fastPath: .required))
        }
        #expect(error?.code == .invalidArgument)
    }

    @Test("a message too large for the publisher's broadcast queue sends the subscriber back to the network, and the loss is counted")
    func oversizeGoesBackToNetwork() throws {
        let sender = try publisher(capacity: ArrayQueue.minimumCapacity)
        let receiver = try subscriber(to: sender)
        let paced = PacedPublisher(sender, pause: 0.001)
        paced.start()
        defer { paced.stop(); sender.close(); receiver.close() }
        #expect(try receiveUntilSwitched(receiver))
        paced.stop()
        while try receiver.receive(timeout: .milliseconds(200)) != nil {}
        // Four times the largest message sent before the first registration plus 64 KiB each: 4 MiB does not fit.
        let big = try patternArray(.uint16, [2048, 1024], message: 0)
        let bigSequence = try sender.send(big).sequence
        #expect(eventually(within: 10) { _ = try? receiver.receive(timeout: .milliseconds(10)); return receiver.path == .network })
        #expect(receiver.statistics.fastPathProblem?.contains("stopped feeding") == true)
        try awaitHeartbeat(receiver)   // subscribed again
        try sender.send(try patternArray(.uint16, [64, 64], message: Int(bigSequence + 1)))
        let after = try #require(try receiver.receive(timeout: .seconds(5)))
        #expect(after.sequence == bigSequence + 1)
        #expect(receiver.statistics.lost == 1 && receiver.statistics.outOfOrder == 0)
    }

    @Test("a message sent right before one too large for the broadcast queue reaches a subscriber polling without waiting before it leaves")
    func lastRecordBeforeLeave() throws {
        // As for `end`: the `leave` in its own queue lands, in most rounds, between the subscriber
        // finding the broadcast queue empty and its look at its own queue, in some rounds.
        for _ in 0..<10 {
            let sender = try publisher(capacity: ArrayQueue.minimumCapacity)
            let receiver = try subscriber(to: sender)
            let paced = PacedPublisher(sender, pause: 0.001)
            paced.start()
            defer { paced.stop(); sender.close(); receiver.close() }
            #expect(try receiveUntilSwitched(receiver))
            paced.stop()
            while try receiver.receive(timeout: .milliseconds(200)) != nil {}
            let small = try patternArray(.uint16, [64, 64], message: 0)
            let big = try patternArray(.uint16, [2048, 1024], message: 0)   // does not fit (see above)
            let smallSequence = Atomic<UInt64>(.max)
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: 0.02)
                if let sequence = try? sender.send(small).sequence { smallSequence.store(sequence, ordering: .relaxed) }
                _ = try? sender.send(big)
            }
            var received: [UInt64] = []
            let deadline = Date().addingTimeInterval(10)
            while receiver.path == .sharedMemory, Date() < deadline {
                if case let .message(message)? = try receiver.receiveEvent(timeout: .zero) { received.append(message.sequence) }
            }
            #expect(receiver.path == .network)
            #expect(received == [smallSequence.load(ordering: .relaxed)], "received \(received) through shared memory")
        }
    }

    @Test("the fastpath header key round-trips, and forms a reader does not know are ignored")
    func controlKey() throws {
        let controls: [FastPathControl] = [
            .offer(bootID: "b", registry: "aqfp.0123", nonce: "0123"), .register(queue: "aqfp.0123.ab"), .hello(nonce: "0123"),
            .hello(nonce: "0123", serverKey: "k", queue: "aqfp.0123.shared"), .leave(reason: "why"),
        ]
        for control in controls {
            let header = WireHeader.mark(.heartbeat, stream: "s", epoch: 7, nextSequence: 3, fastPath: control)
            let text = header.encoded()
            let decoded = try Array(text.utf8).withUnsafeBytes { bytes throws(TransportError) in try WireHeader.decode(bytes, maximumArrays: 0) }
            #expect(decoded.fastPath == control && decoded.sequence == 2)
        }
        let unknown = #"{"proto":"arrf/1","kind":"heartbeat","stream":"s","epoch":7,"seq":-1,"t_ns":1,"fastpath":{"future":1}}"#
        let decoded = try Array(unknown.utf8).withUnsafeBytes { bytes throws(TransportError) in try WireHeader.decode(bytes, maximumArrays: 0) }
        #expect(decoded.fastPath == nil)
    }

    @Test("deduplication: a message delivered on one path is not delivered again from the other")
    func deduplication() {
        var link = FastPathLink(mode: .automatic)
        func data(_ sequence: Int64, epoch: UInt64 = 5) -> WireHeader {
            WireHeader(kind: .data, stream: "s", epoch: epoch, sequence: sequence, timestampNanoseconds: 0, index: nil, arrays: [], meta: [:])
        }
        for sequence in Int64(0)...9 { link.noteDelivered(data(sequence)) }
        #expect(link.wasDelivered(data(9)) && link.wasDelivered(data(3)))
        #expect(!link.wasDelivered(data(10)))
        #expect(!link.wasDelivered(data(3, epoch: 6)), "another epoch is another sender")
        // A mark says which message was the last sent: one from before the last delivered is stale.
        func mark(_ kind: WireHeader.Kind, after sequence: Int64) -> WireHeader {
            .mark(kind, stream: "s", epoch: 5, nextSequence: UInt64(sequence + 1))
        }
        #expect(link.wasDelivered(mark(.heartbeat, after: 8)) && link.wasDelivered(mark(.heartbeat, after: 3)))
        #expect(!link.wasDelivered(mark(.heartbeat, after: 9)) && !link.wasDelivered(mark(.end, after: 9)))
        #expect(!link.wasDelivered(mark(.heartbeat, after: 12)))
    }

    @Test("subscribers joining a broadcast queue that others read while heartbeats are frequent: the heartbeats from before their cut, which their subscription brings, count as nothing")
    func joiningSubscribersSkipStaleHeartbeats() throws {
        // A heartbeat every millisecond: the broadcast queue holds some between a joining
        // subscriber's subscription (taken before it registers) and its cut.
        let sender = try ZeroMQSender(
            .publish, stream: "fp", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: .milliseconds(1), fastPath: .automatic))
        let paced = PacedPublisher(sender, pause: 0.0005)
        paced.start()
        defer { paced.stop(); sender.close() }
        var receivers: [ZeroMQReceiver] = []
        defer { receivers.forEach { $0.close() } }
        for _ in 0..<4 {
            let receiver = try subscriber(to: sender)
            receivers.append(receiver)
            let deadline = Date().addingTimeInterval(20)
            var afterSwitch = 0
            while afterSwitch < 50, Date() < deadline {
                for other in receivers {
                    for _ in 0..<64 {
                        guard let event = try other.receiveEvent(timeout: .milliseconds(1)) else { break }
                        if other === receiver, case .message = event, receiver.path == .sharedMemory { afterSwitch += 1 }
                    }
                }
            }
            #expect(afterSwitch >= 50, "the subscriber did not switch to shared memory and receive there")
        }
        for (position, receiver) in receivers.enumerated() {
            let statistics = receiver.statistics
            #expect(statistics.outOfOrder == 0 && statistics.lost == 0, "subscriber \(position): \(statistics.outOfOrder) out of order, \(statistics.lost) lost")
        }
    }
}
