import ArrayQueues
@testable import ArrayTransport
import Foundation
import Testing

@Suite("Malformed messages are counted and skipped")
struct MalformedTests {
    /// A spoiled message: its frames, and a piece of the reason the receiver must give.
    struct Case: CustomStringConvertible, Sendable {
        let label: String
        let frames: @Sendable () -> [[UInt8]]
        let reason: String
        var description: String { label }
    }

    static func frames(_ header: [String: JSONValue], topic: String = "raw", payloads: [[UInt8]]) -> [[UInt8]] {
        [Array(topic.utf8), Array(JSONValue.object(header).jsonText.utf8)] + payloads
    }

    static let valid = wireHeader(arrays: [("x", .float32, [2, 3])])
    static let payload = [UInt8](repeating: 7, count: 24)

    static func spoiled(_ change: (inout [String: JSONValue]) -> Void) -> [String: JSONValue] {
        var header = valid
        change(&header)
        return header
    }

    static func spoiledArray(_ key: String, _ value: JSONValue) -> [String: JSONValue] {
        spoiled { WireTests.setArrayField(&$0, key, value) }
    }

    static let cases: [Case] = [
        Case(label: "bad JSON", frames: { [Array("raw".utf8), Array("{\"proto\": \"arrf/1\", ".utf8), payload] }, reason: "not valid JSON"),
        Case(label: "header not an object", frames: { [Array("raw".utf8), Array("[1, 2]".utf8)] }, reason: "not a JSON object"),
        Case(label: "header not UTF-8", frames: { [Array("raw".utf8), [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]] }, reason: "not valid UTF-8"),
        Case(label: "wrong nbytes", frames: { frames(spoiledArray("nbytes", 25), payloads: [payload]) }, reason: "says nbytes 25"),
        Case(label: "payload size differs from nbytes", frames: { frames(valid, payloads: [Array(payload.dropLast())]) }, reason: "payload frame has 23 bytes"),
        Case(label: "unknown major", frames: { frames(spoiled { $0["proto"] = "arrf/2" }, payloads: [payload]) }, reason: "'arrf/2'"),
        Case(label: "unknown codec", frames: { frames(spoiledArray("codec", "lz4"), payloads: [payload]) }, reason: "codec \"lz4\""),
        Case(label: "too many frames", frames: { frames(valid, payloads: Array(repeating: payload, count: 9)) }, reason: "11 frames; at most 6"),
        Case(label: "huge shape", frames: { frames(spoiledArray("shape", [.integer(1 << 62), .integer(1 << 62)]), payloads: [payload]) }, reason: "more elements than fit"),
        Case(label: "too many dimensions", frames: { frames(spoiledArray("shape", .array(Array(repeating: 1, count: 40))), payloads: [payload]) }, reason: "40 dimensions"),
        Case(label: "missing payload", frames: { frames(valid, payloads: []) }, reason: "lists 1 arrays but 0 payload frames"),
        Case(label: "extra payload", frames: { frames(valid, payloads: [payload, payload]) }, reason: "lists 1 arrays but 2 payload frames"),
        Case(label: "topic only", frames: { [Array("raw".utf8)] }, reason: "has 1 frame"),
        Case(label: "topic mismatch", frames: { frames(valid, topic: "other", payloads: [payload]) }, reason: "topic frame says 'other'"),
        // The same name to String's ==, other bytes to libzmq's topic filter: compared byte for byte.
        Case(label: "topic in another Unicode form", frames: {
            frames(spoiled { $0["stream"] = "caf\u{E9}" }, topic: "cafe\u{301}", payloads: [payload])
        }, reason: "but the topic frame says"),
        Case(label: "missing key", frames: { frames(spoiled { $0["t_ns"] = nil }, payloads: [payload]) }, reason: "no 't_ns' key"),
        Case(label: "unknown kind", frames: { frames(spoiled { $0["kind"] = "pause" }, payloads: [payload]) }, reason: "unknown message kind"),
        Case(label: "big-endian dtype", frames: { frames(spoiledArray("dtype", ">f4"), payloads: [payload]) }, reason: "unsupported dtype '>f4'"),
        Case(label: "deep nesting", frames: {
            [Array("raw".utf8), Array((String(JSONValue.object(valid).jsonText.dropLast()) + ",\"deep\":" + String(repeating: "[", count: 500) + String(repeating: "]", count: 500) + "}").utf8), payload]
        }, reason: "nesting deeper than 64"),
        Case(label: "oversized header", frames: { frames(spoiled { $0["meta"] = ["pad": .string(String(repeating: "p", count: 70_000))] }, payloads: [payload]) }, reason: "at most 65536"),
    ]

    @Test(arguments: cases)
    func malformedMessageIsSkipped(_ spoiled: Case) throws {
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(maximumArrays: 4), logger: quietLogger)
        defer { receiver.close() }
        let peer = try RawPeer(connect: receiver.boundEndpoints[0])
        try peer.send(spoiled.frames())
        try peer.send(Self.frames(Self.valid, payloads: [Self.payload]))
        // The valid message after the spoiled one still arrives.
        let message = try #require(try receiver.receive(timeout: .seconds(10)))
        #expect(message.arrays[0].array.shape == [2, 3])
        let statistics = receiver.statistics
        #expect(statistics.malformed == 1)
        #expect(statistics.received == 1)
        #expect(statistics.lastMalformedReason?.contains(spoiled.reason) == true, "reason: \(statistics.lastMalformedReason ?? "none")")
    }

    @Test func messagesOverTheSizeLimitAreSkipped() throws {
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(maximumMessageBytes: 64 << 10), logger: quietLogger)
        defer { receiver.close() }
        let sender = try ZeroMQSender(.push, stream: "big", connect: receiver.boundEndpoints, options: .init(heartbeatInterval: nil))
        defer { sender.close() }
        // Several frames, each under the limit (libzmq would drop the connection for one over
        // it), that add up to more than the limit.
        let part = try patternArray(.uint8, [30 << 10])
        try sender.send([NamedArray("a", part), NamedArray("b", part), NamedArray("c", part)], timestamp: .now(), index: nil, meta: [:])
        try sender.send(try patternArray(.uint8, [10]))
        let message = try #require(try receiver.receive(timeout: .seconds(10)))
        #expect(message.sequence == 1)
        #expect(receiver.statistics.malformed == 1)
        #expect(receiver.statistics.lastMalformedReason?.contains("at most 65536") == true)
        // Sequence tracking starts at the first valid message, so nothing counts as lost here.
        #expect(receiver.statistics.lost == 0)
    }

    @Test func aBurstOfGarbageDoesNotStopTheReceiver() throws {
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(maximumArrays: 4), logger: quietLogger)
        defer { receiver.close() }
        let peer = try RawPeer(connect: receiver.boundEndpoints[0])
        var generator = SystemRandomNumberGenerator()
        for round in 0..<300 {
            let frameCount = Int.random(in: 1...8, using: &generator)
            let frames = (0..<frameCount).map { _ in (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) } }
            try peer.send(round % 2 == 0 ? frames : [Array("raw".utf8)] + frames)
        }
        try peer.send(Self.frames(Self.valid, payloads: [Self.payload]))
        let message = try #require(try receiver.receive(timeout: .seconds(20)))
        #expect(message.stream == "raw")
        #expect(receiver.statistics.malformed == 300)
    }
}
