@testable import ArrayTransport
import Testing

/// Stream names are compared byte for byte, as the wire and libzmq's topic filter see them:
/// two Unicode normalisation forms of one name, equal as Swift strings, are two streams.
@Suite("Stream names are their UTF-8 bytes")
struct StreamNameTests {
    /// "café" with a precomposed é (U+00E9) and with e + a combining acute accent (U+0301).
    static let composed = "caf\u{E9}", decomposed = "cafe\u{301}"

    static func data(_ stream: String, _ sequence: Int64, epoch: UInt64 = 7) -> WireHeader {
        WireHeader(kind: .data, stream: stream, epoch: epoch, sequence: sequence, timestampNanoseconds: 0, index: nil, arrays: [], meta: [:])
    }

    @Test("the two forms are equal Swift strings but different streams")
    func forms() {
        #expect(Self.composed == Self.decomposed, "Swift's String compares by canonical equivalence")
        #expect(!Self.composed.isSameStream(as: Self.decomposed))
        #expect(Set([StreamName(Self.composed), StreamName(Self.decomposed), StreamName(Self.composed)]).count == 2)
    }

    @Test("sequence tracking: the same epoch under the other form is another sender, not a message out of order")
    func sequenceTracking() {
        var tracker = SequenceTracker()
        for sequence in Int64(0)...4 { _ = tracker.observe(Self.data(Self.composed, sequence), now: 1) }
        let other = tracker.observe(Self.data(Self.decomposed, 0), now: 2)
        #expect(other.newEpoch && !other.restart && !other.outOfOrder && other.lost == 0, "\(other)")
        #expect(tracker.observe(Self.data(Self.composed, 5), now: 3) == SequenceTracker.Observation())
        #expect(tracker.observe(Self.data(Self.decomposed, 1), now: 4) == SequenceTracker.Observation())
    }

    @Test("the fast path's deduplication: a message of the other form was not delivered already")
    func fastPathDeduplication() {
        var link = FastPathLink(mode: .automatic)
        for sequence in Int64(0)...9 { link.noteDelivered(Self.data(Self.composed, sequence)) }
        #expect(link.wasDelivered(Self.data(Self.composed, 3)))
        #expect(!link.wasDelivered(Self.data(Self.decomposed, 3)), "a message of another stream would be dropped as a duplicate")
    }

    @Test("a receiver counts the two forms as two senders, neither out of order")
    func receiver() throws {
        let (peer, receiver) = try SequenceTests.rawPair()
        defer { receiver.close() }
        for sequence: Int64 in 0...2 { try SequenceTests.sendData(peer, epoch: 900, seq: sequence, stream: Self.composed) }
        for sequence: Int64 in 0...2 { try SequenceTests.sendData(peer, epoch: 900, seq: sequence, stream: Self.decomposed) }
        var streams: [[UInt8]] = []
        for _ in 0..<6 { streams.append(Array(try #require(try receiver.receive(timeout: .seconds(10))).stream.utf8)) }
        #expect(streams == Array(repeating: Array(Self.composed.utf8), count: 3) + Array(repeating: Array(Self.decomposed.utf8), count: 3))
        let statistics = receiver.statistics
        #expect(statistics.outOfOrder == 0 && statistics.epochsSeen == 2 && statistics.lost == 0, "\(statistics)")
    }
}
