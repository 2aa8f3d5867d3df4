import ArrayQueues
@testable import ArrayTransport
import Testing

/// Edge cases of header decoding, each checked on both paths: the scanner's result (when it
/// takes the header) must be the generic decoder's, and errors keep their messages.
@Suite("Header scanner edge cases")
struct WireScannerTests {
    static let entry = #"{"name":"a","dtype":"<f4","shape":[2,3],"nbytes":24}"#

    /// A data header with one array, `extra` members added before `arrays`.
    static func header(_ extra: String = "", kind: String = "data", seq: String = "0", arrays: String = "[\(entry)]") -> String {
        #"{"proto":"arrf/1","kind":"\#(kind)","stream":"s","epoch":7,"seq":\#(seq),"t_ns":1,\#(extra)"arrays":\#(arrays)}"#
    }

    /// Decodes `text` both ways and checks that they agree; returns what `decode` returns.
    @discardableResult
    func decode(_ text: String, maximumArrays: Int = 8, scanned: Bool? = nil) throws -> WireHeader {
        let bytes = Array(text.utf8)
        var tally = WireDifferentialTests.Tally()
        WireDifferentialTests.compare(bytes, maximumArrays: maximumArrays, mustScan: false, tally: &tally, label: text)
        if let scanned { #expect((tally.scanned == 1) == scanned, "the scanner \(scanned ? "gave up on" : "took") \(text)") }
        return try bytes.withUnsafeBytes { try WireHeader.decode($0, maximumArrays: maximumArrays) }
    }

    func expectMalformed(_ text: String, _ reason: String, maximumArrays: Int = 8) {
        #expect("\(reason)") {
            try decode(text, maximumArrays: maximumArrays, scanned: false)
        } throws: { error in
            (error as? TransportError)?.message.contains(reason) == true
        }
    }

    @Test func escapesInStreamsAndNames() throws {
        let stream = #"cam\u00e9ra \u00C9 \ud83c\udfa5 \"q\" \\ \/ \n\t\u0001 \u4e2d"#
        let name = #"e\u0301\uD834\uDD1E"#
        let entry = #"{"name":"\#(name)","dtype":"<u2","shape":[1],"nbytes":2}"#
        let text = #"{"proto":"arrf/1","kind":"data","stream":"\#(stream)","epoch":1,"seq":0,"t_ns":0,"arrays":[\#(entry)]}"#
        let header = try decode(text, scanned: true)
        #expect(header.stream == "caméra É 🎥 \"q\" \\ / \n\t\u{01} 中")
        #expect(header.stream.unicodeScalars.contains("\u{E9}"))
        #expect(header.arrays.first?.name.unicodeScalars.elementsEqual(["e", "\u{301}", "\u{1D11E}"]) == true)
        for bad in [#"\ud800"#, #"\udc00"#, #"\ud83c\u0041"#, #"\ud83c"#, #"\x"#, #"\u12"#, #"\u12G4"#] {
            expectMalformed(text.replacingOccurrences(#"\u4e2d"#, bad), "not valid JSON")
        }
        expectMalformed(text.replacingOccurrences(#"\u4e2d"#, "\u{01}"), "control character")
    }

    @Test func rawUTF8IsValidated() throws {
        var bytes = Array(Self.header().utf8)
        let value = Array(#""stream":"s""#.utf8)
        let at = bytes.indices.first { bytes[$0...].starts(with: value) }! + value.count - 2
        for invalid: [UInt8] in [[0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF]] {
            bytes.replaceSubrange(at..<(at + 1), with: invalid)
            let text = String(decoding: bytes, as: UTF8.self)
            var tally = WireDifferentialTests.Tally()
            WireDifferentialTests.compare(bytes, maximumArrays: 8, mustScan: false, tally: &tally, label: text)
            #expect(tally.rejected == 1)
            bytes = Array(Self.header().utf8)
        }
        bytes.replaceSubrange(at..<(at + 1), with: Array("é🎥".utf8))
        let decoded = try bytes.withUnsafeBytes { raw throws(TransportError) in try WireHeader.decode(raw, maximumArrays: 8) }
        #expect(decoded.stream == "é🎥")
    }

    @Test func escapedKeysAreTheKeysTheySpell() throws {
        let text = Self.header().replacingOccurrences(#""proto""#, #""\u0070roto""#).replacingOccurrences(#""dtype""#, #""dt\u0079pe""#)
        #expect(try decode(text, scanned: true).arrays.first?.dtype == .float32)
        expectMalformed(Self.header(#""\u0070roto":"arrf/1","#), "duplicate key 'proto'")
        expectMalformed(Self.header(#""s\u0065q":3,"#), "duplicate key 'seq'")
    }

    @Test func unknownKeysAreSkippedWithTheirNestedValues() throws {
        let future = #""future":{"a":[1,{"b":null,"c":[[]],"d":"x}]"}],"e":-1.5e-3,"f":NaN},"list":[{"proto":"arrf/2"}],"#
        let entry = #"{"hint":{"x":[1.5,{"nbytes":1}]},"name":"a","dtype":"<f4","shape":[2,3],"nbytes":24,"more":[]}"#
        let header = try decode(Self.header(future, arrays: "[\(entry)]"), scanned: true)
        #expect(header.arrays.first?.byteCount == 24)
        expectMalformed(Self.header(#""future":{"a":1,"a":2},"#), "duplicate key 'a'")
        expectMalformed(Self.header(#""x":1,"x":2,"#), "duplicate key 'x'")
        expectMalformed(Self.header(#""é":1,"e\#u{301}":2,"#), "duplicate key")
        expectMalformed(Self.header(#""x":[1,],"#), "not valid JSON")
        // Nesting counts from the top of the header: 64 levels in all.
        try decode(Self.header(#""deep":\#(HeaderTextGenerator.nested(63)),"#), scanned: true)
        expectMalformed(Self.header(#""deep":\#(HeaderTextGenerator.nested(64)),"#), "nesting deeper than 64")
        let deepEntry = { (levels: Int) in #"{"deep":\#(HeaderTextGenerator.nested(levels)),"name":"a","dtype":"<f4","shape":[],"nbytes":4}"# }
        try decode(Self.header(arrays: "[\(deepEntry(61))]"), scanned: true)
        expectMalformed(Self.header(arrays: "[\(deepEntry(62))]"), "nesting deeper than 64")
    }

    @Test func whiteSpaceEverywhere() throws {
        let text = "\n\t {\r\n \"proto\" : \"arrf/1\" ,\t\"kind\":\"data\" , \"stream\" :\"s\", \"epoch\": 7, \"seq\": 0, \"t_ns\": 1,"
            + " \"index\" : null , \"arrays\" : [ { \"name\" : \"a\" , \"dtype\" : \"<f4\" , \"shape\" : [ 2 , 3 ] , \"nbytes\" : 24 } ] ,"
            + " \"meta\" : { \"k\" : [ 1 , 2 ] } } \r\n"
        let header = try decode(text, scanned: true)
        #expect(header.meta == ["k": [1, 2]] && header.index == nil)
        expectMalformed(text + "x", "unexpected text after")
        expectMalformed(text.replacingOccurrences("\t", "\u{0B}"), "not valid JSON")
    }

    @Test func bigAndOddIntegers() throws {
        #expect(try decode(Self.header(#""index":-9223372036854775808,"#) .replacingOccurrences(#""t_ns":1"#, #""t_ns":9223372036854775807"#), scanned: true).timestampNanoseconds == .max)
        #expect(try decode(Self.header(seq: "9223372036854775806"), scanned: true).sequence == .max - 1)
        expectMalformed(Self.header(seq: "9223372036854775807"), "below 2^63 - 1")
        expectMalformed(Self.header(seq: "9223372036854775808"), "'seq' in the header must be an integer")
        expectMalformed(Self.header(seq: "-0.5"), "must be an integer")
        expectMalformed(Self.header(seq: "01"), "leading zero")
        // Integral numbers in other spellings: the generic path reads them (up to 2^53).
        #expect(try decode(Self.header(seq: "1e3"), scanned: false).sequence == 1000)
        #expect(try decode(Self.header(seq: "2.0"), scanned: false).sequence == 2)
        #expect(try decode(Self.header(seq: "-0"), scanned: true).sequence == 0)
        expectMalformed(Self.header(seq: "1e300"), "must be an integer")
        let overflowing = #"{"name":"a","dtype":"<f8","shape":[4294967296,4294967296],"nbytes":0}"#
        expectMalformed(Self.header(arrays: "[\(overflowing)]"), "more elements than fit")
        let tooBig = #"{"name":"a","dtype":"<c16","shape":[3037000499,3037000499],"nbytes":0}"#
        expectMalformed(Self.header(arrays: "[\(tooBig)]"), "needs more bytes than fit")
    }

    @Test func negativeSequenceNumbers() throws {
        #expect(try decode(Self.header(kind: "heartbeat", seq: "-1", arrays: "[]"), scanned: true).sequence == -1)
        #expect(try decode(Self.header(kind: "end", seq: "-1", arrays: "null"), scanned: true).kind == .end)
        expectMalformed(Self.header(kind: "end", seq: "-2", arrays: "[]"), "needs -1 or more")
        expectMalformed(Self.header(seq: "-1"), "a data message needs 0 or more")
        expectMalformed(Self.header(kind: "heartbeat", seq: "3"), "cannot carry arrays")
        expectMalformed(Self.header(arrays: "null"), "'arrays' must be a list")
    }

    @Test func versionsAndKinds() throws {
        for proto in ["arrf/1", "arrf/1.0", "arrf/01", "arrf/1.", "arrf/1.x-y", #"arrf\/1"#, "arrf/1.é"] {
            try decode(Self.header().replacingOccurrences("arrf/1", proto))
        }
        for proto in ["arrf/2", "arrf/10", "arrf/0"] {
            #expect(throws: TransportError.self) { try decode(Self.header().replacingOccurrences("arrf/1", proto), scanned: false) }
            #expect {
                try decode(Self.header().replacingOccurrences("arrf/1", proto))
            } throws: { error in
                (error as? TransportError)?.code == .unsupportedVersion && "\(error)".contains("'\(proto)'")
            }
        }
        for proto in ["arrf/", "arrf/x", "arrf/1\u{301}", "arrf/+1", "arrf/\u{661}", "arrf/1.\u{301}", "ARRF/1"] {
            expectMalformed(Self.header().replacingOccurrences("arrf/1", proto), "'proto' is")
        }
        expectMalformed(Self.header(kind: "Data"), "unknown message kind 'Data'")
        #expect(try decode(Self.header(kind: #"d\u0061ta"#), scanned: true).kind == .data)
    }

    @Test func sizeAndArrayLimits() throws {
        let padded = { (count: Int) in
            let text = Self.header()
            return text + String(repeating: " ", count: count - text.utf8.count)
        }
        try decode(padded(WireHeader.maximumHeaderBytes))
        expectMalformed(padded(WireHeader.maximumHeaderBytes + 1), "at most 65536")
        let three = "[" + Array(repeating: Self.entry, count: 3).joined(separator: ",") + "]"
        #expect(try decode(Self.header(arrays: three), maximumArrays: 3, scanned: true).arrays.count == 3)
        expectMalformed(Self.header(arrays: three), "lists 3 arrays; at most 2", maximumArrays: 2)
        let extents = { (count: Int) in Array(repeating: "1", count: count).joined(separator: ",") }
        try decode(Self.header(arrays: #"[{"name":"a","dtype":"|u1","shape":[\#(extents(32))],"nbytes":1}]"#), scanned: true)
        expectMalformed(Self.header(arrays: #"[{"name":"a","dtype":"|u1","shape":[\#(extents(33))],"nbytes":1}]"#), "33 dimensions")
    }

    @Test func dtypeSpellingsMatchDType() {
        let alphabet: [UInt8] = Array("<=|>biufc12468 ".utf8)
        var strings: [[UInt8]] = [[]]
        var all: [[UInt8]] = [[]]
        for _ in 0..<4 {
            strings = strings.flatMap { prefix in alphabet.map { prefix + [$0] } }
            all += strings
        }
        for bytes in all {
            let text = String(decoding: bytes, as: UTF8.self)
            let scanned = bytes.withUnsafeBytes { WireHeaderScanner.dtype($0) }
            let expected = try? DType(typestr: text)
            #expect(scanned == expected, "\(text)")
        }
    }

    @Test func keyWordsSpellTheKeys() {
        let word = { (name: String) in Array(name.utf8).withUnsafeBytes { WireHeaderScanner.word($0) } }
        typealias K = WireHeaderScanner.KeyWord
        typealias E = WireHeaderScanner.EntryWord
        let top: [(String, UInt64)] = [
            ("seq", K.seq), ("kind", K.kind), ("t_ns", K.tNs), ("meta", K.meta), ("proto", K.proto), ("epoch", K.epoch),
            ("index", K.index), ("stream", K.stream), ("arrays", K.arrays), ("fastpath", K.fastpath),
        ]
        let entry: [(String, UInt64)] = [
            ("name", E.name), ("dtype", E.dtype), ("shape", E.shape), ("nbytes", E.nbytes), ("order", E.order), ("codec", E.codec),
        ]
        for (name, value) in top + entry { #expect(word(name) == value, "\(name)") }
    }
    /// A receiver's ``WireHeaderCache`` gives what reading gives: the same header when the
    /// `stream` and `arrays` text is the one before, and the reader's result or error when it
    /// differs, is only a prefix of what follows, or was read under another array limit.
    @Test func cacheGivesWhatReadingGives() throws {
        let cache = WireHeaderCache()
        func decode(_ text: String, maximumArrays: Int = 8) -> Result<WireHeader, TransportError> {
            Array(text.utf8).withUnsafeBytes { raw in
                Result { () throws(TransportError) -> WireHeader in try WireHeader.decode(raw, maximumArrays: maximumArrays, cache: cache) }
            }
        }
        func expectAlike(_ text: String, maximumArrays: Int = 8) {
            let cached = decode(text, maximumArrays: maximumArrays)
            let read = Array(text.utf8).withUnsafeBytes { raw in
                Result { () throws(TransportError) -> WireHeader in try WireHeader.decode(raw, maximumArrays: maximumArrays) }
            }
            switch (cached, read) {
            case let (.success(a), .success(b)): #expect(sameHeader(a, b), "\(text)")
            case let (.failure(a), .failure(b)): #expect(a == b, "\(text)")
            default: Issue.record("\(text): through the cache \(cached), read \(read)")
            }
        }
        let two = #"{"name":"b","dtype":"<u1","shape":[4],"nbytes":4}"#
        expectAlike(Self.header())
        let again = try decode(Self.header(seq: "5")).get()
        #expect(again.sequence == 5 && again.stream == "s" && again.arrays.map(\.shape) == [[2, 3]])
        expectAlike(Self.header(arrays: "[\(Self.entry),\(two)]"))
        expectAlike(Self.header(arrays: "[\(Self.entry),\(two)]"), maximumArrays: 1)
        expectAlike(Self.header(arrays: "[\(Self.entry)]"))
        // The cached text followed by more than the header allows: the reader's error.
        expectAlike(Self.header(arrays: "[\(Self.entry)]]"))
        expectAlike(Self.header(arrays: "[\(Self.entry)] 1"))
        expectAlike(Self.header(arrays: "[\(Self.entry)],\"meta\":{}"))
        // Another stream, escaped or not, after the cached one.
        expectAlike(Self.header().replacingOccurrences(#""stream":"s""#, #""stream":"t""#))
        expectAlike(Self.header().replacingOccurrences(#""stream":"s""#, #""stream":"\u0073""#))
        expectAlike(Self.header().replacingOccurrences(#""stream":"s""#, #""stream":"s\u0073""#))
        #expect(try decode(Self.header()).get().stream == "s")
        // The head (everything before `seq`'s value): spaced otherwise, a key repeated after it,
        // another kind, and `arrays` inside it read under another limit.
        expectAlike(Self.header(seq: "  3"))
        expectAlike(Self.header(seq: "  4"))
        expectAlike(Self.header(seq: "5"))
        expectAlike(Self.header(#""seq":6,"#))
        expectAlike(Self.header(#""epoch":6,"#))
        expectAlike(Self.header(kind: "heartbeat", seq: "-1", arrays: "[]"))
        let arraysFirst = #"{"arrays":[\#(Self.entry),\#(two)],"proto":"arrf/1","kind":"data","stream":"s","epoch":7,"seq":"#
        expectAlike(arraysFirst + #"0,"t_ns":1}"#)
        expectAlike(arraysFirst + #"1,"t_ns":1}"#)
        expectAlike(arraysFirst + #"1,"t_ns":1}"#, maximumArrays: 1)
        expectAlike(arraysFirst + #"1,"t_ns":1,"arrays":[]}"#)
    }
}
