import ArrayQueues
import ArrayQueuesTestSupport
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

    @Test("--envelopes: two relayed streams in one local queue keep their names, epochs and sequence numbers")
    func streamsStayApart() throws {
        let scratch = try Scratch("streams")
        defer { scratch.cleanUp() }
        var sources: [String] = []
        var endpoints: [String] = []
        var relays: [Spawned] = []
        for side in ["left", "right"] {
            let source = scratch.queue(side)
            let endpoint = "tcp://127.0.0.1:\(try freeLoopbackPort())"
            _ = try ArrayQueue.create(name: source, capacity: 16 << 20)
            let relay = try scratch.start(["serve", "--queue", "\(source)=\(endpoint)", "--pattern", "pushpull", "--name", "relay-\(side)"], label: "relay-\(side)")
            #expect(relay.waitForLog("relaying queue"), "\(relay.errors)")
            sources.append(source)
            endpoints.append(endpoint)
            relays.append(relay)
        }
        let target = scratch.queue("both")
        let subscriber = try scratch.start(
            ["subscribe"] + endpoints + ["--queue", target, "--capacity", "16MiB", "--pattern", "pushpull", "--envelopes", "--name", "subscriber"],
            label: "subscriber")
        #expect(subscriber.waitForLog("receiving"), "\(subscriber.errors)")
        for (number, source) in sources.enumerated() {
            let queue = try ArrayQueue.open(name: source)
            for value in 0..<3 { try queue.put(try NDArray<Int32>(shape: [2], elements: [Int32(number), Int32(value)])) }
        }
        let receiver = try SharedMemoryReceiver(name: target)
        defer { receiver.close() }
        var byStream: [String: [ArrayMessage]] = [:]
        for _ in 0..<6 {
            let message = try #require(try receiver.receive(timeout: .seconds(20)))
            byStream[message.stream, default: []].append(message)
        }
        #expect(Set(byStream.keys) == Set(sources))
        for (number, source) in sources.enumerated() {
            let messages = byStream[source] ?? []
            #expect(messages.map(\.sequence) == [0, 1, 2])
            #expect(Set(messages.map(\.epoch)).count == 1)
            #expect(try messages.map { try $0.arrays[0].array.typed(as: Int32.self).elements } == (0..<3).map { [Int32(number), Int32($0)] })
        }
        #expect(byStream[sources[0]]?.first?.epoch != byStream[sources[1]]?.first?.epoch)
        for process in relays + [subscriber] {
            process.signal(SIGTERM)
            #expect(process.wait(timeout: 15) == 0, "\(process.label): \(process.errors)")
        }
    }

    @Test("CURVE: an encrypted stream reaches the subscriber that knows the relay's public key", .enabled(if: ZMQContext.supportsCurve))
    func curve() throws {
        let scratch = try Scratch("curve")
        defer { scratch.cleanUp() }
        let keys = try CurveKeys.generate()
        let secretFile = try scratch.write("server.key", keys.secretKey + "\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: secretFile)   // a key others can read is refused
        var pair = try RelayTests.Pair(scratch, pattern: "pushpull")
        try pair.startRelay(["--curve-secret-key-file", secretFile])
        try pair.startSubscriber(["--curve-server-key=\(keys.publicKey)"])
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
