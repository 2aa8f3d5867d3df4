import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Glibc
import Testing

/// A bound endpoint keeps at most `maximumConnections` connections at once; the newest beyond it
/// are shut down and counted, and the peers already connected are still served
/// (docs/RELIABILITY.md, "Many connections").
@Suite("Listeners keep a bounded number of connections", .serialized, .timeLimit(.minutes(3)))
struct ConnectionLimitTests {
    /// Opens `count` raw connections to a loopback tcp endpoint, one after the other (libzmq
    /// accepts them in that order).
    static func flood(_ endpoint: Endpoint, count: Int) throws -> [Int32] {
        let port = try #require(endpoint.port)
        return try (0..<count).map { _ in try rawLoopbackConnection(port: Int(port)) }
    }

    /// Receives (which runs the receiver's checks) until `condition` holds, at most `seconds`.
    static func receiving(_ receiver: ZeroMQReceiver, within seconds: Double, until condition: () -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() && Date() < deadline { _ = try receiver.receive(timeout: .milliseconds(20)) }
        return condition()
    }

    @Test("a puller with a limit of 4 cuts the 17 newest of 20 raw connections; its pusher is still served, and a slot freed is taken again")
    func receiverCutsTheNewest() throws {
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(fastPath: .disabled, maximumConnections: 4), logger: quietLogger)
        let pusher = try ZeroMQSender(.push, stream: "legit", connect: receiver.boundEndpoints, options: .init(sendTimeout: .seconds(10), fastPath: .disabled))
        defer { pusher.close(); receiver.close() }
        try pusher.send(try patternArray(.uint8, [16]))
        #expect(try receiver.receive(timeout: .seconds(10))?.stream == "legit")

        let raw = try Self.flood(receiver.boundEndpoints[0], count: 20)
        defer { raw.forEach { close($0) } }
        #expect(try Self.receiving(receiver, within: 20) { receiver.statistics.peersDropped >= 17 }, "\(receiver.statistics)")
        for descriptor in raw[3...] { #expect(connectionEnds(descriptor, within: 10)) }
        for descriptor in raw[..<3] { #expect(!connectionEnds(descriptor, within: 0.2)) }
        #expect(receiver.statistics.peersDropped == 17)
        try pusher.send(try patternArray(.uint8, [16]))
        #expect(try receiver.receive(timeout: .seconds(10))?.stream == "legit")

        // The three oldest leave: a new peer takes a free place and is not cut.
        raw[..<3].forEach { shutdown($0, Int32(SHUT_RDWR)) }
        _ = try Self.receiving(receiver, within: 1) { false }
        let second = try ZeroMQSender(.push, stream: "second", connect: receiver.boundEndpoints, options: .init(sendTimeout: .seconds(10), fastPath: .disabled))
        defer { second.close() }
        try second.send(try patternArray(.uint8, [16]))
        var streams: Set<String> = []
        let deadline = Date().addingTimeInterval(20)
        while !streams.contains("second") && Date() < deadline {
            if let message = try receiver.receive(timeout: .milliseconds(100)) { streams.insert(message.stream) }
        }
        #expect(streams.contains("second"))
        #expect(receiver.statistics.peersDropped == 17)
    }

    @Test("a publisher with a limit of 4 cuts the 17 newest of 20 raw connections within its housekeeping; its subscriber is still served")
    func senderCutsTheNewest() throws {
        let sender = try ZeroMQSender(.publish, stream: "legit", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: .milliseconds(50), fastPath: .disabled, maximumConnections: 4), logger: quietLogger)
        let subscriber = try ZeroMQReceiver(.subscribeAll, connect: sender.boundEndpoints, options: .init(fastPath: .disabled))
        defer { subscriber.close(); sender.close() }
        try awaitHeartbeat(subscriber)

        let raw = try Self.flood(sender.boundEndpoints[0], count: 20)
        defer { raw.forEach { close($0) } }
        #expect(eventually(within: 20) { sender.statistics.peersDropped >= 17 }, "\(sender.statistics)")
        for descriptor in raw[3...] { #expect(connectionEnds(descriptor, within: 10)) }
        for descriptor in raw[..<3] { #expect(!connectionEnds(descriptor, within: 0.2)) }
        let statistics = sender.statistics
        #expect(statistics.peersDropped == 17 && statistics.peers == 4, "\(statistics)")
        #expect(eventually(within: 10) { sender.statistics.peersDisconnected >= 17 })
        try sender.send(try patternArray(.uint8, [16]))
        #expect(try subscriber.receive(timeout: .seconds(10))?.stream == "legit")
    }

    @Test("a ZeroMQ peer beyond the limit is cut again each time it reconnects; the peer inside it keeps delivering")
    func reconnectingPeerIsCutEachTime() throws {
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(fastPath: .disabled, maximumConnections: 1), logger: quietLogger)
        let first = try ZeroMQSender(.push, stream: "first", connect: receiver.boundEndpoints, options: .init(sendTimeout: .seconds(10), fastPath: .disabled))
        defer { first.close(); receiver.close() }
        try first.send(try patternArray(.uint8, [16]))
        #expect(try receiver.receive(timeout: .seconds(10))?.stream == "first")
        // libzmq reconnects every 100 ms after its connection ends.
        let extra = try ZeroMQSender(.push, stream: "extra", connect: receiver.boundEndpoints, options: .init(heartbeatInterval: nil, fastPath: .disabled))
        defer { extra.close() }
        #expect(try Self.receiving(receiver, within: 30) { receiver.statistics.peersDropped >= 3 }, "\(receiver.statistics)")
        try first.send(try patternArray(.uint8, [16]))
        #expect(try Self.receiving(receiver, within: 10) { receiver.statistics.received >= 2 })
    }

    @Test("ipc:// listeners are capped too: 3 of 5 raw Unix connections are cut with a limit of 2")
    func ipcListenerIsCapped() throws {
        let endpoint = try temporaryIPC("limit")
        defer { removeIPC(endpoint) }
        let receiver = try ZeroMQReceiver(.subscribeAll, bind: [endpoint], options: .init(fastPath: .disabled, maximumConnections: 2), logger: quietLogger)
        defer { receiver.close() }
        guard case let .ipc(path) = endpoint else { Issue.record("not ipc"); return }
        let raw = try (0..<5).map { _ in try rawUnixConnection(path: path) }
        defer { raw.forEach { close($0) } }
        #expect(try Self.receiving(receiver, within: 20) { receiver.statistics.peersDropped >= 3 }, "\(receiver.statistics)")
        for descriptor in raw[2...] { #expect(connectionEnds(descriptor, within: 10)) }
        #expect(receiver.statistics.peersDropped == 3)
    }

    @Test("connections a receiver makes itself are not counted: a limit of 1 still receives from 3 publishers")
    func ownConnectionsAreNotCounted() throws {
        let senders = try (0..<3).map { number in
            try ZeroMQSender(.publish, stream: "s\(number)", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: .milliseconds(20), fastPath: .disabled))
        }
        defer { senders.forEach { $0.close() } }
        let receiver = try ZeroMQReceiver(.subscribeAll, connect: senders.flatMap(\.boundEndpoints), options: .init(fastPath: .disabled, maximumConnections: 1))
        defer { receiver.close() }
        #expect(try Self.receiving(receiver, within: 20) { receiver.statistics.epochsSeen >= 3 }, "\(receiver.statistics)")
        #expect(receiver.statistics.peersDropped == 0)
    }

    @Test("a limit must be positive")
    func limitMustBePositive() throws {
        #expect { try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(maximumConnections: 0)) } throws: {
            ($0 as? TransportError)?.code == .invalidArgument
        }
        #expect { try ZeroMQSender(.push, stream: "s", bind: [try loopbackWildcard()], options: .init(maximumConnections: -1)) } throws: {
            ($0 as? TransportError)?.code == .invalidArgument
        }
    }
}

/// A receiver's housekeeping thread checks its connections while the application makes no
/// receive call: the limit holds and the monitor's events are read between receives, and the
/// thread ends with ``ZeroMQReceiver/close()`` (or with the receiver).
@Suite("A receiver looks after its connections between receives", .serialized, .timeLimit(.minutes(3)))
struct ReceiverHousekeepingTests {
    @Test("a puller with a limit of 4 that never receives cuts the 16 newest of 20 raw connections and counts them")
    func limitHoldsWithoutReceiving() throws {
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(fastPath: .disabled, maximumConnections: 4), logger: quietLogger)
        defer { receiver.close() }
        let raw = try ConnectionLimitTests.flood(receiver.boundEndpoints[0], count: 20)
        defer { raw.forEach { close($0) } }
        // Seen from the peers: one bounded wait for all of them (before, none ever ended).
        var ended: Set<Int32> = []
        #expect(eventually(within: 10) {
            for descriptor in raw[4...] where !ended.contains(descriptor) && connectionEnds(descriptor, within: 0) { ended.insert(descriptor) }
            return ended.count == 16
        }, "\(ended.count) of the 16 newest ended; \(receiver.statistics)")
        for descriptor in raw[..<4] { #expect(!connectionEnds(descriptor, within: 0.2)) }
        #expect(eventually(within: 10) { receiver.statistics.peersDropped >= 16 })
        #expect(receiver.statistics.peersDropped == 16, "\(receiver.statistics)")
    }

    @Test("the monitor's events are read while nobody receives: 30 connections opened and closed are all seen to end")
    func eventsAreReadWithoutReceiving() throws {
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(fastPath: .disabled, maximumConnections: nil), logger: quietLogger)
        defer { receiver.close() }
        let raw = try ConnectionLimitTests.flood(receiver.boundEndpoints[0], count: 30)
        raw.forEach { close($0) }
        #expect(eventually(within: 10) { receiver.inbound.withLock { $0.connectionsEnded } == 30 },
                "\(receiver.inbound.withLock { $0.connectionsEnded }) of 30 ends read")
        #expect(receiver.statistics.peersDropped == 0)
    }

    @Test("close() ends the housekeeping thread before it returns, from a borrowing receive's body too")
    func closeStopsTheThread() throws {
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(fastPath: .disabled), logger: quietLogger)
        Thread.sleep(forTimeInterval: 0.3)   // a few ticks go by
        #expect(!receiver.housekeeping.hasEnded)
        receiver.close()
        #expect(receiver.housekeeping.hasEnded)

        let lending = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(fastPath: .disabled), logger: quietLogger)
        let pusher = try ZeroMQSender(.push, stream: "s", connect: lending.boundEndpoints, options: .init(sendTimeout: .seconds(10), fastPath: .disabled))
        defer { pusher.close() }
        try pusher.send(try patternArray(.uint8, [16]))
        var stoppedInBody = false
        let lent: Void? = try lending.receive(timeout: .seconds(10)) { _ in
            lending.close()
            stoppedInBody = lending.housekeeping.hasEnded
        }
        #expect(lent != nil && stoppedInBody)
    }

    @Test("a receiver nobody holds goes away, and its thread with it")
    func releasedReceiverStopsTheThread() throws {
        weak var released: ZeroMQReceiver?
        let housekeeping = try {
            let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(fastPath: .disabled), logger: quietLogger)
            released = receiver
            return receiver.housekeeping
        }()
        // A tick may hold the receiver for a moment; then its own deinit stops the thread.
        #expect(eventually(within: 5) { released == nil && housekeeping.hasEnded })
    }
}
