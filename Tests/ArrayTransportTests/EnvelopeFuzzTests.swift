@_spi(Transport) import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Testing

/// Envelope records come from shared memory, which any process with write access may have
/// written: every declared size is hostile. A bad envelope is counted and skipped, never a trap.
@Suite("Crafted envelope records", .timeLimit(.minutes(10)))
struct EnvelopeFuzzTests {
    /// An envelope record: the u32 header length, the header's JSON, then `payloadBytes` bytes.
    static func record(header: [String: JSONValue], payloadBytes: Int) -> [UInt8] {
        let text = Array(JSONValue.object(header).jsonText.utf8)
        var bytes = withUnsafeBytes(of: UInt32(text.count).littleEndian) { Array($0) } + text
        bytes += [UInt8](repeating: 0x5A, count: payloadBytes)
        return bytes
    }

    /// A header declaring arrays of `nbytes` uint8 elements each (shape [nbytes]).
    static func header(declaring sizes: [Int64]) -> [String: JSONValue] {
        var header = wireHeader(arrays: [])
        header["arrays"] = .array(sizes.enumerated().map { position, size in
            .object(["name": .string("a\(position)"), "dtype": "|u1", "shape": [.integer(size)], "nbytes": .integer(size)])
        })
        return header
    }

    static func read(_ bytes: [UInt8]) -> Result<Int, TransportError> {
        bytes.withUnsafeBytes { buffer in
            do throws(TransportError) {
                return .success(try Envelope.read(buffer, maximumArrays: 256).1.count)
            } catch {
                return .failure(error)
            }
        }
    }

    /// Sizes whose sum, or whose sum with the header and padding, wraps around Int.
    static let hostileSizes: [[Int64]] = [
        [1 << 62, 1 << 62],
        [1 << 62, 1 << 62, 1 << 62, 1 << 62],
        [Int64.max],
        [Int64.max - 63, 1],
        [Int64.max / 2, Int64.max / 2, 64],
        [8, Int64.max - 8],
        [Int64.max - 4096],
    ]

    @Test("declared sizes that overflow when summed are rejected, not trapped on", arguments: hostileSizes)
    func overflowingSizes(sizes: [Int64]) {
        let result = Self.read(Self.record(header: Self.header(declaring: sizes), payloadBytes: 256))
        guard case .failure(let error) = result else {
            Issue.record("a record of 256 payload bytes declaring \(sizes) was accepted")
            return
        }
        #expect(error.code == .malformedMessage)
    }

    @Test("a valid envelope still reads, and one byte more or less is rejected")
    func exactFit() throws {
        let header = Self.header(declaring: [3, 5])
        let text = Array(JSONValue.object(header).jsonText.utf8)
        let layout = Envelope.layout(headerBytes: text.count, payloadSizes: [3, 5])
        let exact = Self.record(header: header, payloadBytes: layout.total - 4 - text.count)
        #expect(try Self.read(exact).get() == 2)
        #expect(throws: TransportError.self) { try Self.read(Array(exact.dropLast())).get() }
        #expect(throws: TransportError.self) { try Self.read(exact + [0]).get() }
    }

    @Test("the publisher's envelope writer (header bytes from its template, named arrays) writes what the general one writes")
    func templateEnvelopeIsTheSame() throws {
        let arrays = [
            NamedArray("odd", try NDArray<UInt8>(shape: [3], repeating: 3).erased),
            NamedArray("f", try NDArray<Double>(shape: [2, 5], repeating: 1.5).erased),
            NamedArray("empty", try NDArray<Int16>(shape: [0], repeating: 0).erased),
            NamedArray("tail", try NDArray<UInt16>(shape: [7], repeating: 9).erased),
        ]
        var template = DataHeaderTemplate(stream: "cam", epoch: 42)
        for (sequence, meta) in [(0 as UInt64, [:] as [String: JSONValue]), (1, ["k": .string("v")]), (70_000, ["n": .integer(-3)])] {
            var bytes: [UInt8] = []
            template.write(arrays, sequence: sequence, timestampNanoseconds: 123, index: 9, meta: meta, into: &bytes)
            let header = WireHeader(
                kind: .data, stream: "cam", epoch: 42, sequence: Int64(sequence), timestampNanoseconds: 123, index: 9,
                arrays: arrays.map { .init(name: $0.name, dtype: $0.array.dtype, shape: $0.array.shape, byteCount: $0.array.byteCount) }, meta: meta)
            let text = header.encoded()
            let layout = Envelope.layout(headerBytes: text.utf8.count, payloadSizes: arrays.map(\.array.byteCount))
            #expect(Envelope.size(headerBytes: bytes.count, arrays: arrays) == layout.total)
            var general = [UInt8](repeating: 0xEE, count: layout.total)
            var fast = [UInt8](repeating: 0xEE, count: layout.total)
            general.withUnsafeMutableBytes { Envelope.write(header: text, arrays: arrays.map(\.array), into: $0) }
            fast.withUnsafeMutableBytes { Envelope.write(header: bytes, arrays: arrays, into: $0) }
            #expect(fast == general, "seq \(sequence)")
            #expect(try Self.read(fast).get() == arrays.count)
        }
    }

    /// Seeded mutations of valid and hostile envelopes: random declared sizes near the edges of
    /// Int, flipped bytes, header lengths and truncations. Each either reads or is malformed.
    @Test("seeded fuzzing of envelope records never traps")
    func fuzz() {
        // AQ_FUZZ_SEED replays a run.
        let seed = ProcessInfo.processInfo.environment["AQ_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        print("EnvelopeFuzzTests.fuzz seed: \(seed) (AQ_FUZZ_SEED=\(seed) replays it)")
        var random = SplitMix(seed: seed)
        let edges: [Int64] = [0, 1, 63, 64, 65, 1 << 31, 1 << 32, 1 << 53, 1 << 61, 1 << 62, Int64.max - 64, Int64.max - 1, Int64.max]
        var accepted = 0, rejected = 0
        for _ in 0..<2_000 {
            let count = Int.random(in: 0...4, using: &random)
            let sizes = (0..<count).map { _ -> Int64 in
                Bool.random(using: &random) ? edges.randomElement(using: &random)! : Int64.random(in: 0...512, using: &random)
            }
            var bytes = Self.record(header: Self.header(declaring: sizes), payloadBytes: Int.random(in: 0...2_048, using: &random))
            switch Int.random(in: 0..<4, using: &random) {
            case 0:
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            case 1:
                let length = UInt32.random(in: 0...UInt32.max, using: &random).littleEndian
                withUnsafeBytes(of: length) { for i in 0..<4 { bytes[i] = $0[i] } }
            case 2:
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random)))
            default:
                break
            }
            switch Self.read(bytes) {
            case .success: accepted += 1
            case .failure(let error):
                rejected += 1
                #expect(error.code == .malformedMessage || error.code == .unsupportedVersion, "seed \(seed): \(error)")
            }
        }
        #expect(accepted + rejected == 2_000)
        #expect(rejected > 0)
    }

    @Test("a shm:// receiver counts and skips a crafted envelope and goes on to the next record")
    func receiverSkips() throws {
        let name = "t-envfuzz-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? ArrayQueue.remove(name: name) }
        let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
        let receiver = try SharedMemoryReceiver(name: name)
        let crafted = Self.record(header: Self.header(declaring: [1 << 62, 1 << 62]), payloadBytes: 128)
        try queue.putEnvelope(byteCount: crafted.count, timestamp: .now(), index: nil, timeout: .seconds(1)) { buffer in
            crafted.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        try queue.put(try NDArray<Int32>(shape: [2], elements: [4, 2]))
        let message = try #require(try receiver.receive(timeout: .seconds(5)))
        #expect(try message["array"]?.typed(as: Int32.self).elements == [4, 2])
        #expect(receiver.statistics.malformed == 1)
    }
}
