@_spi(Transport) import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Synchronization
import Testing

/// The borrowing receives (`receive(timeout:_:)`, `receiveEvent(timeout:_:)`): messages lent in
/// place, over tcp, over the same-host fast path (pub/sub and push/pull) and over `shm://`.
@Suite("Borrowing receive", .serialized, .timeLimit(.minutes(2)))
struct BorrowingReceiveTests {
    static let quick = Duration.milliseconds(100)

    /// Whether the array at `position` of `message` holds exactly the bytes of `expected`.
    func holds(_ message: borrowing BorrowedArrayMessage, _ expected: AnyNDArray, at position: Int = 0) -> Bool {
        guard message.arrays[position].dtype == expected.dtype, message.arrays[position].shape == expected.shape else { return false }
        return message.withBytes(of: position) { span in
            span.withUnsafeBytes { lent in
                expected.withUnsafeBytes { lent.count == $0.count && (lent.isEmpty || memcmp(lent.baseAddress!, $0.baseAddress!, lent.count) == 0) }
            }
        }
    }

    /// Borrows data messages until `count` arrived (at most 30 s), checking each against the
    /// pattern of its sequence number; `idle` runs between receives (to read other receivers).
    func borrow(_ count: Int, from receiver: some ArrayReceiver, into sequences: inout [UInt64]) throws {
        let deadline = Date().addingTimeInterval(30)
        let target = sequences.count + count
        while sequences.count < target, Date() < deadline {
            let sequence = try receiver.receive(timeout: .milliseconds(100)) { message -> UInt64 in
                let sequence = message.sequence
                let same = holds(message, try patternArray(.uint16, [64, 64], message: Int(sequence)))
                #expect(same, "message \(sequence) differs")
                return sequence
            }
            if let sequence { sequences.append(sequence) }
        }
        #expect(sequences.count == target)
    }

    // MARK: - Network

    @Test("over tcp, a borrowed message's arrays are the received frames, checked like an owned one; the owned receive shares the path")
    func overTCP() throws {
        let sender = try ZeroMQSender(.push, stream: "borrow-tcp", bind: [try loopbackWildcard()], options: .init(fastPath: .disabled))
        let receiver = try ZeroMQReceiver(.pull, connect: sender.boundEndpoints, options: .init(fastPath: .disabled), logger: quietLogger)
        defer { sender.close(); receiver.close() }
        let large = try patternArray(.uint16, [64, 64], message: 0)          // 8 KiB: a frame of its own
        let small = try patternArray(.float32, [3], message: 0, array: 1)    // 12 bytes
        for index in 0..<3 {
            try sender.send([NamedArray("frame", large), NamedArray("gain", small)], timestamp: .now(), index: Int64(index), meta: ["exposure": .number(2.5)])
        }
        // Checked inside the loan; the expectations outside it (a lent message cannot be captured).
        let first = try receiver.receive(timeout: .seconds(10)) { message -> [Bool] in
            var mismatchThrown = false
            do {
                _ = try message.withElements(of: 0, as: Float.self) { $0.count }
            } catch let error as ArrayQueueError {
                mismatchThrown = error.code == .dtypeMismatch
            }
            let elements = try message.withElements(of: 0, as: UInt16.self) { elements in elements.count }
            let lastElement = try message.withElements(of: 0, as: UInt16.self) { elements in elements[elements.count - 1] }
            return [
                message.sequence == 0, message.stream == "borrow-tcp", message.index == 0, message.meta["exposure"] == .number(2.5),
                message.arrays.map(\.name) == ["frame", "gain"], message.position(of: "gain") == 1,
                message.arrays[0].byteCount == 8192, message.arrays[1].shape == [3],
                holds(message, large, at: 0), holds(message, small, at: 1),
                elements == 64 * 64, lastElement == (try large.typed(as: UInt16.self)).elements.last, mismatchThrown,
                message.copy().arrays == [NamedArray("frame", large), NamedArray("gain", small)],
            ]
        }
        #expect(first == Array(repeating: true, count: 14))
        // The body's error comes out after the message was released; the message counts as received.
        struct Refused: Error {}
        #expect(throws: Refused.self) { try receiver.receive(timeout: .seconds(10)) { _ in throw Refused() } }
        let owned = try #require(try receiver.receive(timeout: .seconds(10)))
        #expect(owned.sequence == 2 && owned["frame"] == large && owned["gain"] == small)
        let statistics = receiver.statistics
        #expect(statistics.received == 3 && statistics.bytesReceived == 3 * (8192 + 12) && statistics.lost == 0)
        #expect(try receiver.receive(timeout: .milliseconds(50)) { _ in true } == nil, "a timeout returns nil")
    }

    @Test("end is lent as an event, and a closed receiver throws closed")
    func endAndClose() throws {
        let sender = try ZeroMQSender(.push, stream: "borrow-end", bind: [try loopbackWildcard()], options: .init(fastPath: .disabled))
        let receiver = try ZeroMQReceiver(.pull, connect: sender.boundEndpoints, options: .init(fastPath: .disabled), logger: quietLogger)
        defer { receiver.close() }
        try sender.send(try patternArray(.uint16, [64, 64], message: 0))
        sender.close()
        var kinds: [String] = []
        let deadline = Date().addingTimeInterval(10)
        while kinds.last != "end", Date() < deadline {
            let kind = try receiver.receiveEvent(timeout: .milliseconds(100)) { event -> String in
                switch event {
                case .message: "data"
                case .heartbeat: "heartbeat"
                case .end(let mark): mark.lastSequence == 0 ? "end" : "end at \(String(describing: mark.lastSequence))"
                }
            }
            if let kind, kind != "heartbeat" { kinds.append(kind) }
        }
        #expect(kinds == ["data", "end"])
        #expect(receiver.statistics.ends == 1)
        receiver.close()
        #expect(throws: TransportError.self) { try receiver.receive(timeout: .milliseconds(10)) { _ in 0 } }
    }

    @Test("close() inside the body of a borrowing receive stops the receiver once the body returns; the message stays readable until then (it trapped: close waited for the lock the receive held)")
    func closeInsideTheBody() throws {
        let sender = try ZeroMQSender(.push, stream: "borrow-stop", bind: [try loopbackWildcard()], options: .init(fastPath: .disabled))
        let receiver = try ZeroMQReceiver(.pull, connect: sender.boundEndpoints, options: .init(fastPath: .disabled), logger: quietLogger)
        defer { sender.close(); receiver.close() }
        let frames = try (0..<2).map { try patternArray(.uint16, [64, 64], message: $0) }
        for frame in frames { try sender.send(frame) }
        let lent = try receiver.receive(timeout: .seconds(10)) { message -> Bool in
            receiver.close()
            return holds(message, frames[0])
        }
        #expect(lent == true)
        var code: TransportError.Code?
        do { _ = try receiver.receive(timeout: .milliseconds(10)) { _ in 0 } } catch let error as TransportError { code = error.code }
        #expect(code == .closed)
    }

    @Test("a receive from inside a borrowing receive's body on the same receiver is refused, not a trap on the receives' lock")
    func receiveInsideTheBody() throws {
        let sender = try ZeroMQSender(.push, stream: "borrow-nested", bind: [try loopbackWildcard()], options: .init(fastPath: .disabled))
        let receiver = try ZeroMQReceiver(.pull, connect: sender.boundEndpoints, options: .init(fastPath: .disabled), logger: quietLogger)
        defer { sender.close(); receiver.close() }
        let frames = try (0..<2).map { try patternArray(.uint16, [64, 64], message: $0) }
        for frame in frames { try sender.send(frame) }
        var nested: TransportError.Code?
        let first = try receiver.receive(timeout: .seconds(10)) { message -> Bool in
            do { _ = try receiver.receive(timeout: .milliseconds(10)) } catch let error as TransportError { nested = error.code } catch {}
            return holds(message, frames[0])
        }
        #expect(first == true)
        #expect(nested == .invalidArgument)
        // The receiver goes on: the second message is still there.
        #expect(try receiver.receive(timeout: .seconds(10)) { holds($0, frames[1]) } == true)
    }

    // MARK: - Same-host fast path

    @Test("pub/sub fast path: three local subscribers borrow every record of the one broadcast queue; each switches from tcp with nothing lost, repeated or reordered")
    func pubSubFastPath() throws {
        let sender = try ZeroMQSender(
            .publish, stream: "borrow-fp", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: Self.quick))
        let paced = PacedPublisher(sender, pause: 0.0005)
        paced.start()
        defer { paced.stop(); sender.close() }
        let receivers = try (0..<3).map { _ in
            try ZeroMQReceiver(.subscribeAll, connect: sender.boundEndpoints, options: .init(heartbeatInterval: Self.quick), logger: quietLogger)
        }
        defer { receivers.forEach { $0.close() } }
        var sequences: [[UInt64]] = [[], [], []]
        // Every subscriber borrows from its first message on, through its switch, and on.
        let deadline = Date().addingTimeInterval(30)
        while receivers.contains(where: { $0.path != .sharedMemory }) || sequences.contains(where: { $0.count < 300 }), Date() < deadline {
            for (position, receiver) in receivers.enumerated() { try borrow(1, from: receiver, into: &sequences[position]) }
        }
        paced.stop()
        for (position, receiver) in receivers.enumerated() {
            while let sequence = try receiver.receive(timeout: .milliseconds(300), { $0.sequence }) { sequences[position].append(sequence) }
            expectConsecutive(sequences[position])
            let statistics = receiver.statistics
            #expect(receiver.path == .sharedMemory && statistics.switchesToSharedMemory == 1)
            #expect(statistics.receivedThroughSharedMemory > 0 && statistics.receivedThroughSharedMemory < statistics.received,
                    "subscriber \(position) borrowed from both paths: \(statistics.receivedThroughSharedMemory) of \(statistics.received) through shared memory")
            #expect(statistics.lost == 0 && statistics.outOfOrder == 0 && statistics.malformed == 0, "subscriber \(position): \(statistics)")
        }
        #expect(sender.statistics.sharedMemorySubscribers == 3)
    }

    @Test("push/pull fast path: a puller borrows records of the pusher's shared queue in place, switching from tcp with nothing lost, repeated or reordered")
    func pushPullFastPath() throws {
        let sender = try ZeroMQSender(
            .push, stream: "borrow-pp", bind: [try loopbackWildcard()], options: .init(sendTimeout: .seconds(5), heartbeatInterval: Self.quick))
        let receiver = try ZeroMQReceiver(.pull, connect: sender.boundEndpoints, options: .init(heartbeatInterval: Self.quick), logger: quietLogger)
        let paced = PacedPublisher(sender, pause: 0.0005)
        paced.start()
        defer { paced.stop(); sender.close(); receiver.close() }
        var sequences: [UInt64] = []
        let deadline = Date().addingTimeInterval(30)
        while receiver.path != .sharedMemory || receiver.statistics.receivedThroughSharedMemory < 200, Date() < deadline {
            try borrow(1, from: receiver, into: &sequences)
        }
        let sent = paced.stop()
        try borrow(sent - sequences.count, from: receiver, into: &sequences)
        #expect(sequences == (0..<UInt64(sent)).map { $0 }, "every record once, in order")
        let statistics = receiver.statistics
        #expect(receiver.path == .sharedMemory && statistics.receivedThroughSharedMemory >= 200)
        #expect(statistics.malformed == 0)
    }

    @Test("a pusher process (aq send): this process's puller borrows every record, first from tcp, then in place from the shared queue, all bit-exact and in order")
    func pusherProcess() throws {
        let count = 600
        let array = try patternArray(.uint16, [512, 1024], message: 5)   // 1 MiB
        let directory = try temporaryDirectory("borrow")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("frame.npy").path
        try NPY.write(array, to: file)
        // A free port: bound, then given up (the pusher binds it again).
        let probe = try ZeroMQSender(.push, stream: "probe", bind: [try loopbackWildcard()], options: .init(fastPath: .disabled))
        let port = try #require(probe.boundEndpoints.first?.port)
        probe.close()
        let pusher = try ChildProcess(aqExecutable, ["send", "tcp://127.0.0.1:\(port)", file, "--repeat", "\(count)", "--stream", "borrow-proc"])
        defer { if pusher.isRunning { pusher.kill() } }
        let receiver = try ZeroMQReceiver(
            .pull, connect: [try Endpoint("tcp://127.0.0.1:\(port)")],
            options: .init(byteBudget: 4 << 20, expectedMessageBytes: 1 << 20), logger: quietLogger)
        defer { receiver.close() }
        var indices: [Int64] = []
        var intact = 0
        let deadline = Date().addingTimeInterval(60)
        while indices.count < count, Date() < deadline {
            // Slowly until on shared memory, so that the pusher (held back by its queue) is still sending then.
            if receiver.path != .sharedMemory { Thread.sleep(forTimeInterval: 0.002) }
            let index = try receiver.receive(timeout: .milliseconds(200)) { message -> Int64? in
                if holds(message, array) { intact += 1 }
                return message.index
            }
            if let index { indices.append(index ?? -1) }
        }
        #expect(indices == (0..<Int64(count)).map { $0 }, "every record once, in order")
        #expect(intact == count, "\(count - intact) records differ")
        let statistics = receiver.statistics
        #expect(receiver.path == .sharedMemory && statistics.receivedThroughSharedMemory > 0 && statistics.receivedThroughSharedMemory < UInt64(count),
                "the puller borrowed from both paths: \(statistics.receivedThroughSharedMemory) of \(count) through shared memory, problem: \(statistics.fastPathProblem ?? "none")")
        #expect(pusher.waitForExit(timeout: 30) == 0, "\(pusher.errors)")
    }

    // MARK: - shm://

    @Test("shm:// pub/sub: two subscribers borrow each envelope and plain record in place of a broadcast queue; push/pull borrows from a plain queue")
    func sharedMemoryEndpoints() throws {
        for pattern in [ZeroMQSender.Pattern.publish, .push] {
            let name = "aqt-borrow-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let endpoint = try Endpoint("shm://\(name)")
            defer { try? ArrayQueue.remove(name: name) }
            let sender = try endpoint.makeSender(stream: name, pattern: pattern, sharedMemory: .init(capacity: 8 << 20))
            let receivers = try (0..<(pattern == .publish ? 2 : 1)).map { _ in
                try endpoint.makeReceiver(pattern: pattern == .publish ? .subscribeAll : .pull)
            }
            defer { receivers.forEach { $0.close() } }
            let frame = try patternArray(.uint16, [64, 64], message: 7)
            let mask = try patternArray(.uint8, [100], message: 7, array: 1)
            try sender.send(frame, index: 7)                                                            // a plain record
            try sender.send([NamedArray("frame", frame), NamedArray("mask", mask)], timestamp: .now(), index: 8, meta: ["k": .string("v")])  // an envelope
            sender.close()
            for receiver in receivers {
                let plain = try receiver.receive(timeout: .seconds(5)) { message -> Bool in
                    message.arrays.map(\.name) == ["array"] && message.index == 7 && holds(message, frame)
                }
                #expect(plain == true, "\(pattern): the plain record")
                let envelope = try receiver.receive(timeout: .seconds(5)) { message -> Bool in
                    message.meta["k"] == .string("v") && message.index == 8 && holds(message, frame, at: 0) && holds(message, mask, at: 1)
                }
                #expect(envelope == true, "\(pattern): the envelope")
                let end = try receiver.receiveEvent(timeout: .seconds(5)) { event -> Bool in
                    switch event {
                    case .end: true
                    case .message: false
                    case .heartbeat: false
                    }
                }
                #expect(end == true, "\(pattern): end")
                #expect(receiver.statistics.received == 2 && receiver.statistics.ends == 1)
            }
        }
    }

    /// The receivers a nested receive is tried on: tcp push/pull, and `shm://` on a plain queue
    /// (push/pull) and on a broadcast queue (pub/sub).
    enum Lender: String, CaseIterable, CustomStringConvertible {
        case tcp, sharedMemoryPlain = "shm push/pull", sharedMemoryBroadcast = "shm pub/sub"
        var description: String { rawValue }

        /// A sender and a receiver (subscribed already), and the queue's name for `shm://`.
        func pair() throws -> (sender: any ArraySender, receiver: any ArrayReceiver, queue: String?) {
            switch self {
            case .tcp:
                let sender = try ZeroMQSender(.push, stream: "borrow-nested", bind: [try loopbackWildcard()], options: .init(fastPath: .disabled))
                let receiver = try ZeroMQReceiver(.pull, connect: sender.boundEndpoints, options: .init(fastPath: .disabled), logger: quietLogger)
                return (sender, receiver, nil)
            case .sharedMemoryPlain, .sharedMemoryBroadcast:
                let name = "aqt-borrow-nested-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                let endpoint = try Endpoint("shm://\(name)")
                let broadcast = self == .sharedMemoryBroadcast
                // The receiver first: a subscriber reads from the next record on.
                let receiver = try endpoint.makeReceiver(pattern: broadcast ? .subscribeAll : .pull)
                let sender = try endpoint.makeSender(stream: name, pattern: broadcast ? .publish : .push, sharedMemory: .init(capacity: 1 << 20))
                return (sender, receiver, name)
            }
        }
    }

    @Test("a receive from inside a borrowing receive's body is refused alike on every endpoint (on shm:// it took the next record), and the receiver goes on", arguments: Lender.allCases)
    func nestedReceiveIsRefusedEverywhere(_ lender: Lender) throws {
        let (sender, receiver, queue) = try lender.pair()
        defer { sender.close(); receiver.close(); if let queue { try? ArrayQueue.remove(name: queue) } }
        let frames = try (0..<2).map { try patternArray(.uint16, [64, 64], message: $0) }
        for frame in frames { try sender.send(frame) }
        var nested: [TransportError] = []
        let first = try receiver.receive(timeout: .seconds(10)) { message -> Bool in
            // The copying, borrowing and event receives all go through lendEvent.
            do { _ = try receiver.receive(timeout: .milliseconds(10)) } catch let error as TransportError { nested.append(error) } catch {}
            do { _ = try receiver.receive(timeout: .milliseconds(10)) { _ in 0 } } catch let error as TransportError { nested.append(error) } catch {}
            do { _ = try receiver.receiveEvent(timeout: .milliseconds(10)) } catch let error as TransportError { nested.append(error) } catch {}
            return holds(message, frames[0])
        }
        #expect(first == true)
        #expect(nested.map(\.code) == [.invalidArgument, .invalidArgument, .invalidArgument])
        #expect(nested.allSatisfy { $0.message == "a receive from inside a borrowing receive's body on the same receiver: finish with the message first" && $0.queueError == nil })
        // Nothing was taken meanwhile: the second message comes next.
        #expect(try receiver.receive(timeout: .seconds(10)) { holds($0, frames[1]) } == true)
        #expect(receiver.statistics.received == 2)
    }

    @Test("close() from inside a borrowing receive's body takes effect when the body returns, on every endpoint: the message stays readable, a broadcast subscriber keeps its place until then", arguments: Lender.allCases)
    func closeInsideTheBodyEverywhere(_ lender: Lender) throws {
        let (sender, receiver, queue) = try lender.pair()
        defer { sender.close(); receiver.close(); if let queue { try? ArrayQueue.remove(name: queue) } }
        let frames = try (0..<2).map { try patternArray(.uint16, [64, 64], message: $0) }
        for frame in frames { try sender.send(frame) }
        let broadcast = try queue.map { try ArrayQueue.open(name: $0) }.flatMap { $0.isBroadcast ? $0 : nil }
        func subscribers() -> Int? { broadcast.map { (try? $0.broadcastState().subscribers.count) ?? -1 } }
        #expect(subscribers() == (lender == .sharedMemoryBroadcast ? 1 : nil))
        var subscribedInside: Int?
        let lent = try receiver.receive(timeout: .seconds(10)) { message -> Bool in
            receiver.close()
            subscribedInside = subscribers()
            return holds(message, frames[0])
        }
        #expect(lent == true)
        if lender == .sharedMemoryBroadcast {
            #expect(subscribedInside == 1, "the subscriber keeps its place while the body reads the record")
            #expect(subscribers() == 0, "and gives it up when the body returns")
        }
        let error = #expect(throws: TransportError.self) { try receiver.receive(timeout: .milliseconds(10)) { _ in 0 } }
        #expect(error?.code == .closed)
    }

    @Test("shm://: a malformed envelope is counted and skipped by a borrowing receive, which then lends the next record")
    func sharedMemoryMalformed() throws {
        let name = "aqt-borrow-bad-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
        defer { try? ArrayQueue.remove(name: name) }
        let receiver = try SharedMemoryReceiver(name: name)
        defer { receiver.close() }
        // An envelope whose header length points past the record.
        try queue.putEnvelope(byteCount: 16, timestamp: .now(), index: nil, timeout: .seconds(1)) { buffer in
            buffer.storeBytes(of: UInt32(1000).littleEndian, toByteOffset: 0, as: UInt32.self)
        }
        try queue.put(try patternArray(.uint16, [64, 64], message: 3), timeout: .seconds(1))
        let lent = try receiver.receive(timeout: .seconds(5)) { message in holds(message, try patternArray(.uint16, [64, 64], message: 3)) }
        #expect(lent == true)
        #expect(receiver.statistics.malformed == 1 && receiver.statistics.received == 1)
    }
}
