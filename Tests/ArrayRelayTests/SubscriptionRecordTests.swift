import ArrayQueues
import ArrayRelay
// For a raw ZeroMQ socket: the peer writes headers that ZeroMQSender never makes (NaN in meta).
@testable import ArrayTransport
import Foundation
import Testing

/// What `aq-relay subscribe` (without `--envelopes`) writes into its queue for messages that
/// Python peers send: a single array under its own name, and NaN in `meta`.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct SubscriptionRecordTests {
    /// A PUSH socket that sends hand-made arrf/1 messages of one `<i4` array.
    final class PythonLikePeer {
        private var socket: ZMQSocket

        init(connect endpoint: Endpoint) throws {
            socket = try ZMQSocket(ZMQContext.shared(), type: ZMQ.push, lingerMilliseconds: 1000)
            try socket.connect(endpoint)
        }

        /// Sends message `seq` of stream "cam" with one array `name` of `elements`, and `meta`
        /// as JSON text (Python's `json.dumps` writes `NaN` and `Infinity` there).
        func send(seq: Int, name: String, elements: [Int32], meta: String) throws {
            let header = #"{"proto": "arrf/1", "kind": "data", "stream": "cam", "epoch": 5, "seq": \#(seq), "t_ns": 1000, "index": \#(seq), "#
                + #""arrays": [{"name": "\#(name)", "dtype": "<i4", "shape": [\#(elements.count)], "order": "C", "nbytes": \#(elements.count * 4), "codec": "raw"}], "#
                + #""meta": \#(meta)}"#
            let payload = elements.withUnsafeBytes { Array($0) }
            let frames = [Array("cam".utf8), Array(header.utf8), payload]
            for (position, bytes) in frames.enumerated() {
                var message = try ZMQMessage(size: bytes.count)
                if let target = message.baseAddress { bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
                let deadline = Sys.monotonicNanoseconds() + 5_000_000_000
                while !(try socket.send(&message, more: position < frames.count - 1, dontWait: true)) {
                    guard try socket.wait(for: ZMQ.pollOut, deadline: deadline) else { throw TransportError(.timeout, "peer: no room") }
                }
            }
        }
    }

    @Test("without --envelopes, a single array keeps a name other than the default (an envelope, as shm:// sends it), the default name stays a plain record, and NaN meta is dropped and counted, never written as null")
    func namesAndNonFiniteMeta() async throws {
        let target = PumpTests.name("names")
        defer { try? ArrayQueue.remove(name: target) }
        var common = CommonSettings(name: target)
        common.fastPath = .disabled
        common.control = nil
        var settings = SubscribeSettings(common: common, queue: target)
        settings.pattern = .pushpull
        settings.bind = [try Endpoint("tcp://127.0.0.1:*")]
        settings.capacity = 1 << 20
        settings.putTimeout = .seconds(10)
        let subscription = try Subscription(settings: settings, curve: nil, logger: PumpTests.quiet)
        subscription.start()
        let peer = try PythonLikePeer(connect: subscription.receiver.boundEndpoints[0])
        try peer.send(seq: 0, name: "frame", elements: [1, 2, 3], meta: "{}")
        try peer.send(seq: 1, name: NamedArray.defaultName, elements: [4, 5], meta: "null")
        try peer.send(seq: 2, name: "frame", elements: [6], meta: #"{"exposure": NaN}"#)
        try peer.send(seq: 3, name: "frame", elements: [7], meta: #"{"gain": [1, -Infinity]}"#)
        try peer.send(seq: 4, name: "frame", elements: [8], meta: #"{"exposure": 0.5}"#)

        // The named array arrives under its name: an envelope, which the shm:// receiver reads.
        let receiver = try SharedMemoryReceiver(name: target)
        defer { receiver.close() }
        let named = try #require(try receiver.receive(timeout: .seconds(20)))
        #expect(named.arrays == [NamedArray("frame", try NDArray<Int32>(shape: [3], elements: [1, 2, 3]).erased)])
        #expect(named.stream == "cam" && named.sequence == 0 && named.index == 0)
        // The default name is a plain record, which any queue consumer reads.
        let plain = try subscription.queue.get(timeout: .seconds(20))
        #expect(!plain.isEnvelope && plain.index == 1)
        #expect(try plain.array.typed(as: Int32.self).elements == [4, 5])
        // Messages 2 and 3 (NaN, -Infinity) are not written; 4 is, with its meta.
        let last = try #require(try receiver.receive(timeout: .seconds(20)))
        #expect(last.sequence == 4 && last.meta == ["exposure": .number(0.5)])
        #expect(try receiver.receive(timeout: .milliseconds(200)) == nil)
        let samples = subscription.samples()
        let invalid = samples.first { $0.name == "aq_relay_dropped_total" && $0.labels.contains { $0 == ("reason", "invalid_message") } }
        #expect(invalid?.value == 2)
        #expect(samples.value("aq_relay_records_out_total") == 3)
        #expect(samples.value("aq_relay_errors_total") == 0 && samples.value("aq_relay_malformed_total") == 0)
        await subscription.shutdown()
    }
}
