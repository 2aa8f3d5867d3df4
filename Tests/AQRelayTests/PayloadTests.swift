import ArrayQueues
import ArrayTransport
import Foundation
import Testing

/// What travels besides plain frames: envelopes (several arrays with metadata), CURVE
/// encryption, the zero-copy mode, and the metrics file.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct PayloadTests {
    @Test("records of several named arrays with metadata (shared-memory envelopes) arrive whole in the remote queue")
    func envelopes() throws {
        let scratch = try Scratch("envelope")
        defer { scratch.cleanUp() }
        var pair = try RelayTests.Pair(scratch, pattern: "pushpull")
        try pair.startRelay()
        try pair.startSubscriber()
        let sender = try SharedMemorySender(name: pair.source)
        func arrays(_ number: Int) throws -> [NamedArray] {
            [NamedArray("image", try NDArray<Float>(shape: [3, 4], elements: (0..<12).map { Float($0 * number) / 3 }).erased),
             NamedArray("mask", try NDArray<UInt8>(shape: [5], elements: [1, 0, 1, 0, UInt8(number)]).erased)]
        }
        for number in 0..<5 {
            try sender.send(try arrays(number), timestamp: Timestamp(nanosecondsSinceEpoch: 1_000 + Int64(number)), index: Int64(number),
                            meta: ["number": .integer(Int64(number)), "camera": "left"])
        }
        sender.close()
        let receiver = try SharedMemoryReceiver(name: pair.target)
        defer { receiver.close() }
        for number in 0..<5 {
            let message = try #require(try receiver.receive(timeout: .seconds(20)))
            #expect(message.arrays == (try arrays(number)))
            #expect(message.index == Int64(number) && message.timestamp.nanosecondsSinceEpoch == 1_000 + Int64(number))
            #expect(message.meta == ["number": .integer(Int64(number)), "camera": "left"])
        }
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
    }

    @Test("CURVE: an encrypted stream reaches the subscriber that knows the relay's public key", .enabled(if: ZMQContext.supportsCurve))
    func curve() throws {
        let scratch = try Scratch("curve")
        defer { scratch.cleanUp() }
        let keys = try CurveKeys.generate()
        let secretFile = try scratch.write("server.key", keys.secretKey + "\n")
        var pair = try RelayTests.Pair(scratch, pattern: "pushpull")
        try pair.startRelay(["--curve-secret-key-file", secretFile])
        try pair.startSubscriber(["--curve-server-key", keys.publicKey])
        _ = try pair.produce(count: 20)
        let received = try pair.verify(count: 20)
        #expect(received["frames"] == 20 && received["bad"] == 0 && received["disorder"] == 0, "\(received)")
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
    }

    @Test("zero-copy mode relays every frame bit-exact and frees the slots", arguments: ["pushpull", "pubsub"])
    func zeroCopy(pattern: String) throws {
        let scratch = try Scratch("zero-copy")
        defer { scratch.cleanUp() }
        var pair = try RelayTests.Pair(scratch, pattern: pattern)
        try pair.startRelay(["--zero-copy"])
        try pair.startSubscriber()
        try pair.awaitConnection()
        _ = try pair.produce(count: 100, size: 512)
        let received = try pair.verify(count: 100, size: 512)
        #expect(received["frames"] == 100 && received["bad"] == 0 && received["disorder"] == 0 && received["gaps"] == 0, "\(received)")
        #expect(try eventually(within: 5) { try scratch.metric("aq_relay_queue_bytes_used", instance: "relay") == 0 }, "slots still held")
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
    }

    @Test("the metrics file is rewritten in Prometheus text format")
    func metricsFile() throws {
        let scratch = try Scratch("metrics")
        defer { scratch.cleanUp() }
        let file = scratch.path("relay.prom")
        var pair = try RelayTests.Pair(scratch, pattern: "pushpull")
        try pair.startRelay(["--metrics-file", file, "--stats-interval", "0.2"])
        try pair.startSubscriber()
        _ = try pair.produce(count: 10)
        _ = try pair.verify(count: 10)
        let written = eventually(within: 10) {
            ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").contains("aq_relay_records_out_total{stream=\"\(pair.source)\",queue=\"\(pair.source)\"} 10")
        }
        #expect(written, "\((try? String(contentsOfFile: file, encoding: .utf8)) ?? "no file")")
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
    }
}
