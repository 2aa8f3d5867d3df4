import ArrayQueues
@testable import ArrayTransport
import Testing

/// The byte writer (``WireHeader/encodedBytes()``) and the sender's ``DataHeaderTemplate``
/// against the String-based writer they replace, and against the decoder.
@Suite("Header encoding")
struct WireEncodingTests {
    /// Random headers (values, not text) for the encoders.
    struct Headers {
        var text: HeaderTextGenerator

        init(seed: UInt64) {
            text = HeaderTextGenerator(seed: seed)
        }

        mutating func json(depth: Int, finite: Bool) -> JSONValue {
            switch Int.random(in: 0..<(depth > 0 ? 9 : 7), using: &text.random) {
            case 0: return .null
            case 1: return .bool(text.chance(0.5))
            case 2: return .integer(text.anyInt64())
            case 3:
                let values: [Double] = [0.1, -0.0, 1e300, -2.5e-8, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 2, 1e16]
                let odd: [Double] = finite ? [] : [.nan, .infinity, -.infinity]
                return .number(text.chance(0.5) ? text.pick(values + odd) : Double.random(in: -1e6...1e6, using: &text.random))
            case 4, 5, 6: return .string(text.name())
            case 7: return .array((0..<Int.random(in: 0...3, using: &text.random)).map { _ in json(depth: depth - 1, finite: finite) })
            default: return .object(meta(depth: depth - 1, finite: finite))
            }
        }

        mutating func meta(depth: Int, finite: Bool) -> [String: JSONValue] {
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...3, using: &text.random) { members[text.name()] = json(depth: depth, finite: finite) }
            return members
        }

        mutating func arrays(maximumElements: Int) -> [WireHeader.WireArray] {
            (0..<Int.random(in: 0...3, using: &text.random)).map { _ in
                let dtype = text.pick(DType.allCases)
                let shape = (0..<Int.random(in: 0...3, using: &text.random)).map { _ in Int.random(in: 0...maximumElements, using: &text.random) }
                return .init(name: text.name(), dtype: dtype, shape: shape, byteCount: shape.reduce(dtype.itemSize, *))
            }
        }

        mutating func header(finite: Bool = true) -> WireHeader {
            let kind = text.pick([WireHeader.Kind.data, .data, .heartbeat, .end])
            let fastPath: FastPathControl? = text.chance(0.8) ? nil : text.pick([
                .offer(bootID: text.name(), registry: text.name(), nonce: text.name()), .register(queue: text.name()),
                .hello(nonce: text.name()), .leave(reason: text.name()),
            ])
            return WireHeader(
                kind: kind, stream: text.name(), epoch: UInt64(text.chance(0.5) ? Int64.random(in: 1 ..< 1 << 53, using: &text.random) : .max),
                sequence: kind == .data ? Int64.random(in: 0 ..< .max, using: &text.random) : text.pick([-1, 0, .max - 1]),
                timestampNanoseconds: text.anyInt64(), index: text.chance(0.3) ? nil : text.anyInt64(),
                arrays: kind == .data ? arrays(maximumElements: 70_000) : [], meta: text.chance(0.5) ? [:] : meta(depth: 2, finite: finite),
                fastPath: fastPath)
        }
    }

    @Test func bytesMatchTheStringWriter() {
        var headers = Headers(seed: 11)
        for _ in 0..<2000 {
            let header = headers.header(finite: false)
            let legacy = header.legacyEncoded()
            #expect(header.encodedBytes() == Array(legacy.utf8), "\(legacy)")
            #expect(header.encoded() == legacy)
        }
        let value: JSONValue = ["text": "q\" b\\ n\n r\r t\t \u{01}\u{1F}\u{7F} é 🎥 /", "n": [1, -0.0, 1e300, .number(.nan)]]
        var legacyText = ""
        LegacyJSONWriter.write(value, to: &legacyText)
        #expect(value.jsonText == legacyText)
        #expect(value.jsonText == #"{"n":[1,-0.0,1e+300,null],"text":"q\" b\\ n\n r\r t\t \u0001\u001f\u007f é 🎥 /"}"#)
    }

    @Test func encodedHeadersDecodeToThemselves() {
        var headers = Headers(seed: 12)
        var tally = WireDifferentialTests.Tally()
        for iteration in 0..<2000 {
            let header = headers.header()
            WireDifferentialTests.compare(header.encodedBytes(), maximumArrays: 8, mustScan: true, tally: &tally, label: "iteration \(iteration)")
            let decoded = header.encodedBytes().withUnsafeBytes { WireHeaderScanner.decode($0, maximumArrays: 8) }
            #expect(decoded.map { sameHeader($0, header) } == true, "\(header.encoded())")
        }
        #expect(tally.scanned == 2000)
    }

    @Test func templateWritesWhatTheHeaderWould() throws {
        var headers = Headers(seed: 13)
        let sets: [[NamedArray]] = try (0..<4).map { _ in
            try headers.arrays(maximumElements: 6).map { wire in
                let zeros = [UInt8](repeating: 0, count: wire.byteCount)
                let array = try zeros.withUnsafeBytes { try AnyNDArray(dtype: wire.dtype, shape: wire.shape, copying: $0) }
                return NamedArray(wire.name, array)
            }
        }
        let stream = headers.text.name()
        let epoch = UInt64.random(in: 1 ..< 1 << 53, using: &headers.text.random)
        let offer = FastPathControl.offer(bootID: headers.text.name(), registry: "aqfp.\(headers.text.name())", nonce: "0123456789abcdef")
        var template = DataHeaderTemplate(stream: stream, epoch: epoch, offer: offer)
        var buffer: [UInt8] = []
        for sequence in UInt64(0)..<300 {
            let arrays = headers.text.chance(0.7) ? sets[Int(sequence / 50) % sets.count] : headers.text.pick(sets)
            let index = headers.text.chance(0.5) ? nil : headers.text.anyInt64()
            let meta = headers.text.chance(0.7) ? [:] : headers.meta(depth: 2, finite: true)
            let timestamp = headers.text.anyInt64()
            let offering = sequence % 7 == 0
            template.write(arrays, sequence: sequence, timestampNanoseconds: timestamp, index: index, meta: meta, offering: offering, into: &buffer)
            let header = WireHeader(
                kind: .data, stream: stream, epoch: epoch, sequence: Int64(sequence), timestampNanoseconds: timestamp, index: index,
                arrays: arrays.map { .init(name: $0.name, dtype: $0.array.dtype, shape: $0.array.shape, byteCount: $0.array.byteCount) },
                meta: meta, fastPath: offering ? offer : nil)
            #expect(buffer == header.encodedBytes(), "\(header.encoded())")
            let decoded = try buffer.withUnsafeBytes { bytes throws(TransportError) in try WireHeader.decode(bytes, maximumArrays: 16) }
            #expect(decoded.fastPath == (offering ? offer : nil))
        }
    }
}
