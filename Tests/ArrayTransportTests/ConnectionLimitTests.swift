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
