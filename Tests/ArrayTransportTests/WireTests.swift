import ArrayQueues
@testable import ArrayTransport
import Testing

@Suite("JSON and the arrf/1 header")
struct WireTests {
    // MARK: JSON

    @Test func jsonRoundTrip() throws {
        let value: JSONValue = [
            "int": 9_007_199_254_740_993, "min": .integer(.min), "neg": -5, "double": 0.1, "tiny": .number(.leastNonzeroMagnitude), "big": 1e300,
            "negzero": -0.0, "text": "quote\" backslash\\ newline\n tab\t ctrl\u{01} ünïcødé ✓ 🎥", "null": nil,
            "flags": [true, false], "nested": ["a": [1, [2, [3]]], "": "empty key"],
        ]
        let text = value.jsonText
        #expect(try JSONValue(parsing: text) == value)
        #expect(text.hasPrefix("{\"big\":1e+300,"))   // keys sorted
    }

    @Test func jsonParsesPythonOutput() throws {
        let value = try JSONValue(parsing: #" {"a": [1, 2.5, -3e2, "\u00e9\ud83c\udfa5"], "b": NaN, "c": -Infinity, "d": Infinity} "#)
        #expect(value["a"] == [1, 2.5, -300.0, "é🎥"])
        #expect(value["b"]?.doubleValue?.isNaN == true)
        #expect(value["c"] == .number(-.infinity))
        #expect(value["d"] == .number(.infinity))
        #expect(try JSONValue(parsing: "18446744073709551616") == .number(18446744073709551616.0))
    }

    @Test(arguments: [
        "", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "01", "1.", "-", "1e", "\"unterminated", "\"bad \\x escape\"",
        "\"\\ud800\"", "\"\\udc00\"", "\"raw \u{01} control\"", "{\"a\":1,\"a\":2}", "[1] 2", "tru", "nul", "{1:2}",
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ])
    func jsonRejectsInvalidText(text: String) {
        #expect(throws: TransportError.self) { try JSONValue(parsing: text) }
    }

    @Test func jsonRejectsInvalidUTF8() {
        let bytes: [UInt8] = [0x22, 0xFF, 0xFE, 0x22]
        #expect(throws: JSONSyntaxError.self) { try bytes.withUnsafeBytes { try JSONParser.parse($0) } }
    }

    // MARK: Header

    private func decode(_ value: [String: JSONValue], maximumArrays: Int = 8) throws -> WireHeader {
        var text = JSONValue.object(value).jsonText
        return try text.withUTF8 { utf8 in
            try WireHeader.decode(UnsafeRawBufferPointer(utf8), maximumArrays: maximumArrays)
        }
    }

    @Test func headerRoundTrip() throws {
        let header = WireHeader(
            kind: .data, stream: "camera \"0\"", epoch: (1 << 53) - 1, sequence: 41, timestampNanoseconds: 1_764_028_800_123_456_789,
            index: -3, arrays: [.init(name: "frame", dtype: .uint16, shape: [2048, 2048], byteCount: 8_388_608),
                                .init(name: "scalar", dtype: .complex128, shape: [], byteCount: 16)],
            meta: ["exposure": 1.5, "tags": ["a", "b"]])
        var text = header.encoded()
        let decoded = try text.withUTF8 { try WireHeader.decode(UnsafeRawBufferPointer($0), maximumArrays: 8) }
        #expect(decoded == header)
        let json = try JSONValue(parsing: header.encoded())
        #expect(json["proto"] == "arrf/1")
        #expect(json["arrays"]?.arrayValue?.first?["dtype"] == "<u2")
        #expect(json["arrays"]?.arrayValue?.first?["codec"] == "raw")
        #expect(json["arrays"]?.arrayValue?.first?["order"] == "C")
    }

    @Test func headerControlMessages() throws {
        var heartbeat = wireHeader(kind: "heartbeat", seq: -1)
        heartbeat["arrays"] = nil
        #expect(try decode(heartbeat).kind == .heartbeat)
        #expect(try decode(heartbeat).sequence == -1)
        var end = wireHeader(kind: "end", seq: 12)
        end["arrays"] = []
        #expect(try decode(end).kind == .end)
    }

    @Test func headerAcceptsUnknownKeysAndMissingOptionalOnes() throws {
        var value = wireHeader(arrays: [("x", .float32, [2, 3])])
        value["future_feature"] = ["anything": [1, 2]]
        value["meta"] = nil
        value["index"] = nil
        var arrays = value["arrays"]!.arrayValue!
        var first = arrays[0].objectValue!
        first["order"] = nil
        first["codec"] = nil
        first["compression_hint"] = "none"
        arrays[0] = .object(first)
        value["arrays"] = .array(arrays)
        value["proto"] = "arrf/1.3"
        let header = try decode(value)
        #expect(header.arrays.first?.byteCount == 24)
        #expect(header.meta.isEmpty && header.index == nil)
    }

    static let malformedCases: [(String, @Sendable (inout [String: JSONValue]) -> Void, String)] = [
        ("unknown major", { $0["proto"] = "arrf/2" }, "'arrf/2'"),
        ("not arrf", { $0["proto"] = "zmtp/1" }, "'proto' is 'zmtp/1'"),
        ("proto not a string", { $0["proto"] = 1 }, "must be a string"),
        ("unknown kind", { $0["kind"] = "pause" }, "unknown message kind 'pause'"),
        ("missing epoch", { $0["epoch"] = nil }, "no 'epoch' key"),
        ("zero epoch", { $0["epoch"] = 0 }, "positive"),
        ("string seq", { $0["seq"] = "3" }, "'seq' in the header must be an integer"),
        ("negative seq", { $0["seq"] = -1 }, "needs 0 or more"),
        ("fractional t_ns", { $0["t_ns"] = 1.5 }, "'t_ns' in the header must be an integer"),
        ("bool index", { $0["index"] = true }, "'index' must be an integer"),
        ("missing arrays", { $0["arrays"] = nil }, "no 'arrays' key"),
        ("arrays not a list", { $0["arrays"] = ["x": 1] }, "must be a list"),
        ("meta not an object", { $0["meta"] = [1] }, "'meta' must be a JSON object"),
        ("array not an object", { $0["arrays"] = [1] }, "arrays[0] is not a JSON object"),
        ("big-endian dtype", { setArrayField(&$0, "dtype", ">f4") }, "unsupported dtype '>f4'"),
        ("object dtype", { setArrayField(&$0, "dtype", "|O") }, "unsupported dtype"),
        ("negative extent", { setArrayField(&$0, "shape", [2, -3]) }, "non-negative integers"),
        ("float extent", { setArrayField(&$0, "shape", [2, 3.5]) }, "non-negative integers"),
        ("33 dimensions", { setArrayField(&$0, "shape", .array(Array(repeating: 1, count: 33))) }, "33 dimensions"),
        ("overflowing shape", { setArrayField(&$0, "shape", [.integer(1 << 40), .integer(1 << 40), .integer(1 << 40)]) }, "more elements than fit"),
        ("wrong nbytes", { setArrayField(&$0, "nbytes", 23) }, "says nbytes 23"),
        ("unknown codec", { setArrayField(&$0, "codec", "zstd") }, "codec \"zstd\""),
        ("Fortran order", { setArrayField(&$0, "order", "F") }, "C-order"),
        ("missing name", { setArrayField(&$0, "name", nil) }, "no 'name' key"),
        ("heartbeat with arrays", { $0["kind"] = "heartbeat" }, "cannot carry arrays"),
    ]

    static func setArrayField(_ header: inout [String: JSONValue], _ key: String, _ value: JSONValue?) {
        var arrays = header["arrays"]!.arrayValue!
        var first = arrays[0].objectValue!
        first[key] = value
        arrays[0] = .object(first)
        header["arrays"] = .array(arrays)
    }

    @Test(arguments: 0..<malformedCases.count)
    func headerRejectsMalformed(caseIndex: Int) {
        let (label, spoil, reason) = Self.malformedCases[caseIndex]
        var value = wireHeader(arrays: [("x", .float32, [2, 3])])
        spoil(&value)
        #expect("\(label)") {
            _ = try decode(value)
        } throws: { error in
            guard let error = error as? TransportError else { return false }
            let codeMatches = label == "unknown major" ? error.code == .unsupportedVersion : error.code == .malformedMessage
            return codeMatches && error.message.contains(reason)
        }
    }

    @Test func headerLimits() {
        #expect(throws: TransportError.self) { _ = try decode(wireHeader(arrays: Array(repeating: ("x", .uint8, [1]), count: 9)), maximumArrays: 8) }
        let huge: [String: JSONValue] = wireHeader().merging(["meta": ["pad": .string(String(repeating: "x", count: 70_000))]]) { $1 }
        #expect { _ = try decode(huge) } throws: { ($0 as? TransportError)?.message.contains("at most 65536") == true }
    }

    // MARK: Sequence tracking

    @Test func trackerCountsGapsEpochsAndTails() {
        var tracker = SequenceTracker()
        func header(_ kind: WireHeader.Kind, _ epoch: UInt64, _ seq: Int64, stream: String = "s") -> WireHeader {
            WireHeader(kind: kind, stream: stream, epoch: epoch, sequence: seq, timestampNanoseconds: 0, index: nil, arrays: [], meta: [:])
        }
        #expect(tracker.observe(header(.data, 1, 10), now: 0) == .init(newEpoch: true))   // joined mid-stream: no loss
        #expect(tracker.observe(header(.data, 1, 11), now: 1) == .init())
        #expect(tracker.observe(header(.data, 1, 14), now: 2) == .init(lost: 2))
        #expect(tracker.observe(header(.data, 1, 12), now: 3) == .init(outOfOrder: true))
        #expect(tracker.observe(header(.heartbeat, 1, 16), now: 4) == .init(lost: 2))   // 15 and 16 never came
        #expect(tracker.observe(header(.end, 1, 16), now: 5) == .init())
        #expect(tracker.observe(header(.data, 2, 0), now: 6) == .init(newEpoch: true, restart: true))
        #expect(tracker.observe(header(.heartbeat, 3, -1, stream: "other"), now: 7) == .init(newEpoch: true))
        #expect(tracker.observe(header(.data, 3, 0, stream: "other"), now: 8) == .init())
    }
}
