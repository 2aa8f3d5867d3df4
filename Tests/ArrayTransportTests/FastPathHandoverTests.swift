import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Testing

/// The switch from the socket to the queue, played step by step by a hand-made publisher, so
/// that the socket can be made to run ahead of the queue or behind it on purpose.
@Suite("Same-host fast path: the handover", .timeLimit(.minutes(10)))
struct FastPathHandoverTests {
    static let stream = "handover"
    static let epoch: UInt64 = 4242

    /// A publisher played by the test: a raw PUB socket, a registry queue and a broadcast queue.
    struct FakePublisher {
        let peer: RawPeer
        let nonce = HostIdentity.randomHex()
        let registry: ArrayQueue
        let shared: ArrayQueue

        init(broadcast: Bool = true) throws {
            peer = try RawPeer(type: ZMQ.pub, bind: try loopbackWildcard())
            registry = try ArrayQueue.create(name: HostIdentity.registryName(nonce: nonce), capacity: 64 << 10)
            shared = try ArrayQueue.create(name: HostIdentity.sharedQueueName(nonce: nonce), capacity: 1 << 20, creating: CreateOptions(broadcast: broadcast))
        }

        func remove() {
            try? ArrayQueue.remove(name: registry.name)
            try? ArrayQueue.remove(name: shared.name)
        }

        /// A subscriber connected to this publisher, registered after its offer: its own queue.
        func connectSubscriber() throws -> (ZeroMQReceiver, ArrayQueue) {
            let receiver = try ZeroMQReceiver(
                .subscribeAll, connect: [try #require(peer.bound)], options: .init(heartbeatInterval: .milliseconds(100)), logger: quietLogger)
            // Subscribed once a plain heartbeat gets through; then the offer makes the receiver register.
            #expect(eventually(within: 10) {
                try? sendOnNetwork(heartbeat(after: -1, offer: false))
                return (try? receiver.receiveEvent(timeout: .milliseconds(20))).flatMap { $0 } != nil
            })
            try sendOnNetwork(heartbeat(after: -1, offer: true))
            _ = try receiver.receiveEvent(timeout: .milliseconds(200))
            return (receiver, try takeRegistration())
        }

        func data(_ sequence: Int) throws -> (WireHeader, [AnyNDArray]) {
            let array = try patternArray(.uint8, [16], message: sequence)
            let header = WireHeader(
                kind: .data, stream: FastPathHandoverTests.stream, epoch: FastPathHandoverTests.epoch, sequence: Int64(sequence),
                timestampNanoseconds: 1, index: nil, arrays: [.init(name: "array", dtype: .uint8, shape: [16], byteCount: 16)], meta: [:])
            return (header, [array])
        }

        func sendOnNetwork(_ header: WireHeader, _ arrays: [AnyNDArray] = []) throws {
            try peer.send(topic: FastPathHandoverTests.stream, header: header.encoded(), payloads: arrays.map { $0.withUnsafeBytes { Array($0) } })
        }

        func heartbeat(after sequence: Int, offer: Bool) -> WireHeader {
            WireHeader.mark(
                .heartbeat, stream: FastPathHandoverTests.stream, epoch: FastPathHandoverTests.epoch, nextSequence: UInt64(sequence + 1),
                fastPath: offer ? .offer(bootID: HostIdentity.bootID ?? "", registry: registry.name, nonce: nonce) : nil)
        }

        /// The subscriber's queue, once it has registered.
        func takeRegistration() throws -> ArrayQueue {
            let name = try registry.get(timeout: .seconds(5)) { record throws(TransportError) -> String in
                guard case let .register(queue)? = try Envelope.read(record.bytes, maximumArrays: 0).0.fastPath else { throw .malformed("not a registration") }
                return queue
            }
            return try ArrayQueue.open(name: name)
        }
    }

    /// Which path is ahead when the receiver learns the cut.
    enum Race: String, CaseIterable, CustomStringConvertible {
        /// The socket delivered 0...9 before the hello (cut 5) showed up: the queue's 5...9 are repeats.
        case networkAhead
        /// The hello (cut 10) and the queue's messages come first; the socket still brings 0...12.
        case networkBehind
        var description: String { rawValue }
    }

    @Test("nothing lost, repeated or reordered whether the socket runs ahead of the queue or behind it", arguments: Race.allCases)
    func handover(race: Race) throws {
        let publisher = try FakePublisher()
        defer { publisher.remove() }
        let (receiver, queue) = try publisher.connectSubscriber()
        defer { receiver.close() }

        let cut = race == .networkAhead ? 5 : 10
        let hello = WireHeader.mark(.heartbeat, stream: Self.stream, epoch: Self.epoch, nextSequence: UInt64(cut), fastPath: .hello(nonce: publisher.nonce, queue: publisher.shared.name))
        func sendOnNetwork(_ range: Range<Int>) throws {
            for sequence in range {
                let (header, arrays) = try publisher.data(sequence)
                try publisher.sendOnNetwork(header, arrays)
            }
        }
        var delivered: [UInt64] = []
        switch race {
        case .networkAhead:
            try sendOnNetwork(0..<10)
            while delivered.count < 10, let message = try receiver.receive(timeout: .seconds(5)) { delivered.append(message.sequence) }
            try queue.putEnvelope(hello, arrays: [], timeout: .seconds(1))
        case .networkBehind:
            try queue.putEnvelope(hello, arrays: [], timeout: .seconds(1))
            _ = try receiver.receiveEvent(timeout: .milliseconds(50))   // sees the hello, starts draining
            try sendOnNetwork(0..<13)
        }
        for sequence in cut..<15 {
            let (header, arrays) = try publisher.data(sequence)
            try publisher.shared.putEnvelope(header, arrays: arrays, timeout: .seconds(1))
        }
        while delivered.count < 15, let message = try receiver.receive(timeout: .seconds(5)) {
            #expect(message.arrays[0].array == (try publisher.data(Int(message.sequence)).1[0]))
            delivered.append(message.sequence)
        }
        #expect(delivered == Array(0..<15))
        #expect(try receiver.receive(timeout: .milliseconds(300)) == nil, "a message came twice")
        let statistics = receiver.statistics
        #expect(receiver.path == .sharedMemory)
        #expect(statistics.lost == 0 && statistics.outOfOrder == 0)
        #expect(statistics.receivedThroughSharedMemory == 5)
    }

    /// What is wrong with the data queue a hello names.
    enum BadDataQueue: String, CaseIterable, CustomStringConvertible {
        /// A plain queue under the publisher's data queue name (a pusher's kind).
        case notBroadcast
        /// Another name than the one made for the publisher's nonce.
        case otherName
        var description: String { rawValue }
    }

    @Test("a hello naming a data queue that fails a check leaves the subscriber on the network, with the reason", arguments: BadDataQueue.allCases)
    func badDataQueue(_ bad: BadDataQueue) throws {
        let publisher = try FakePublisher(broadcast: bad != .notBroadcast)
        defer { publisher.remove() }
        let (receiver, queue) = try publisher.connectSubscriber()
        defer { receiver.close() }
        let named = bad == .otherName ? publisher.shared.name + "2" : publisher.shared.name
        let hello = WireHeader.mark(.heartbeat, stream: Self.stream, epoch: Self.epoch, nextSequence: 0, fastPath: .hello(nonce: publisher.nonce, queue: named))
        try queue.putEnvelope(hello, arrays: [], timeout: .seconds(1))
        #expect(eventually(within: 5) {
            _ = try? receiver.receiveEvent(timeout: .milliseconds(20))
            return receiver.statistics.fastPathProblem != nil
        })
        let problem = receiver.statistics.fastPathProblem ?? ""
        #expect(problem.contains(bad == .notBroadcast ? "is not a broadcast queue" : "not the publisher's broadcast queue"), "\(problem)")
        #expect(receiver.path == .network)
        #expect(!ArrayQueue.exists(name: queue.name), "the subscriber removed its own queue")
    }
}
