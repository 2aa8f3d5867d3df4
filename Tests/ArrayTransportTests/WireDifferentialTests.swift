import ArrayQueues
@testable import ArrayTransport
import Testing

/// The one-pass ``WireHeaderScanner`` against the generic interpretation
/// (``WireHeader/decodeGeneric(_:maximumArrays:)``, the JSON tree and the rules checked on it)
/// on many generated headers: valid ones in every spelling, spoiled ones, damaged bytes.
@Suite("Header scanner against the generic decoder")
struct WireDifferentialTests {
    /// What happened to the generated headers of one run.
    struct Tally {
        var scanned = 0
        var genericOnly = 0
        var rejected = 0
    }

    /// Decodes `bytes` both ways and records an issue if they disagree: a header the scanner
    /// takes must be exactly what the generic path makes of it, and `decode` (scanner, then
    /// generic path) must give the generic path's result or error. With a `cache` (kept between
    /// headers, as a receiver keeps it), `decode` through it must give the same, whatever the
    /// headers before left there.
    static func compare(
        _ bytes: [UInt8], maximumArrays: Int, mustScan: Bool, tally: inout Tally, cache: WireHeaderCache? = nil, label: @autoclosure () -> String
    ) {
        bytes.withUnsafeBytes { raw in
            if let cache {
                let cached = Result { () throws(TransportError) -> WireHeader in try WireHeader.decode(raw, maximumArrays: maximumArrays, cache: cache) }
                let generic = Result { () throws(TransportError) -> WireHeader in try WireHeader.decodeGeneric(raw, maximumArrays: maximumArrays) }
                switch (cached, generic) {
                case let (.success(a), .success(b)): #expect(sameHeader(a, b), "\(label()), through the cache: \(String(decoding: bytes, as: UTF8.self))")
                case let (.failure(a), .failure(b)): #expect(a == b, "\(label()), through the cache: \(a) instead of \(b)")
                default: Issue.record("\(label()): decode through the cache gave \(cached), the generic path \(generic) for \(String(decoding: bytes, as: UTF8.self))")
                }
            }
            let scanned = WireHeaderScanner.decode(raw, maximumArrays: maximumArrays)
            let generic = Result { () throws(TransportError) -> WireHeader in try WireHeader.decodeGeneric(raw, maximumArrays: maximumArrays) }
            let combined = Result { () throws(TransportError) -> WireHeader in try WireHeader.decode(raw, maximumArrays: maximumArrays) }
            let text = String(decoding: bytes, as: UTF8.self)
            switch (scanned, generic) {
            case let (header?, .success(expected)):
                tally.scanned += 1
                #expect(sameHeader(header, expected), "\(label()): the scanner read \(header), the generic path \(expected) from \(text)")
            case let (header?, .failure(error)):
                Issue.record("\(label()): the scanner took a header the generic path rejects (\(error)): \(header) from \(text)")
            case (nil, .success):
                tally.genericOnly += 1
                #expect(!mustScan, "\(label()): the scanner gave up on a plain valid header: \(text)")
            case (nil, .failure):
                tally.rejected += 1
            }
            switch (combined, generic) {
            case let (.success(a), .success(b)): #expect(sameHeader(a, b), "\(label()): \(text)")
            case let (.failure(a), .failure(b)): #expect(a == b, "\(label()): \(a) instead of \(b) for \(text)")
            default: Issue.record("\(label()): decode gave \(combined), the generic path \(generic) for \(text)")
            }
        }
    }

    @Test(arguments: 1...8 as ClosedRange<UInt64>)
    func generatedHeadersDecodeAlike(seed: UInt64) {
        var generator = HeaderTextGenerator(seed: seed)
        var tally = Tally()
        let cache = WireHeaderCache()
        for iteration in 0..<5000 {
            generator.plain = true
            let spoilsEntries = generator.chance(0.15)
            var members = generator.header(spoilingEntries: spoilsEntries)
            if generator.chance(0.3) {
                for _ in 0..<Int.random(in: 1...2, using: &generator.random) { generator.spoil(&members) }
            }
            var bytes = Array(generator.render(members).utf8)
            if generator.chance(0.15) { bytes = generator.damage(bytes) }
            let maximumArrays = generator.chance(0.9) ? 256 : generator.pick([0, 1, 2])
            let mustScan = generator.plain && maximumArrays >= 3
            Self.compare(bytes, maximumArrays: maximumArrays, mustScan: mustScan, tally: &tally, cache: cache, label: "seed \(seed), iteration \(iteration)")
        }
        // The generator reaches every outcome, or the comparison says little.
        #expect(tally.scanned > 2000 && tally.genericOnly > 100 && tally.rejected > 1000, "\(tally)")
    }

    /// Every prefix of some headers, and each with every byte left out in turn.
    @Test func cutAndShortenedHeaders() {
        var tally = Tally()
        let headers = [
            WireScannerTests.header(#""index":null,"meta":{"k":[1,{"a":"\u00e9"}]},"x":[true],"#),
            #" {"proto": "arrf/1.2", "kind": "heartbeat", "stream": "\ud83c\udfa5", "epoch": 1, "seq": -1, "t_ns": -5, "arrays": []} "#,
            #"{"proto":"arrf/1","kind":"data","stream":"s","epoch":9,"seq":12,"t_ns":0,"arrays":[{"name":"","dtype":"|b1","shape":[],"nbytes":1,"order":"C","codec":"raw"}]}"#,
        ]
        for header in headers {
            let bytes = Array(header.utf8)
            Self.compare(bytes, maximumArrays: 8, mustScan: true, tally: &tally, label: header)
            for cut in 0..<bytes.count {
                Self.compare(Array(bytes[..<cut]), maximumArrays: 8, mustScan: false, tally: &tally, label: "\(header) cut at \(cut)")
                var shortened = bytes
                shortened.remove(at: cut)
                Self.compare(shortened, maximumArrays: 8, mustScan: false, tally: &tally, label: "\(header) without byte \(cut)")
            }
        }
        #expect(tally.scanned >= 3 && tally.rejected > 400, "\(tally)")
    }

    /// Headers (and their entries) with one value replaced by every odd value in turn.
    @Test func everyOddValueInEveryPlace() {
        var tally = Tally()
        // One cache for all: most headers share their `arrays` text with the one before.
        let cache = WireHeaderCache()
        let base = #"{"proto":"arrf/1","kind":"data","stream":"s","epoch":5,"seq":0,"t_ns":1,"index":2,"arrays":[@],"meta":{},"fastpath":null,"x":1}"#
        let entry = #"{"name":"a","dtype":"<f4","shape":[2,3],"nbytes":24,"order":"C","codec":"raw","y":2}"#
        let keys = ["proto", "kind", "stream", "epoch", "seq", "t_ns", "index", "arrays", "meta", "fastpath", "x"]
        let entryKeys = ["name", "dtype", "shape", "nbytes", "order", "codec", "y"]
        let values = HeaderTextGenerator.oddValues + HeaderTextGenerator.oddValuesByKey.flatMap(\.1)
        for value in values {
            for key in keys {
                let text = replacing(key, with: value, in: base).replacingOccurrences("@", entry)
                Self.compare(Array(text.utf8), maximumArrays: 8, mustScan: false, tally: &tally, cache: cache, label: "\(key): \(value)")
                for kind in ["heartbeat", "end"] {
                    let control = replacing(key, with: value, in: replacing("kind", with: "\"\(kind)\"", in: base)).replacingOccurrences("@", "")
                    Self.compare(Array(control.utf8), maximumArrays: 8, mustScan: false, tally: &tally, cache: cache, label: "\(kind) \(key): \(value)")
                }
            }
            for key in entryKeys {
                let text = base.replacingOccurrences("@", replacing(key, with: value, in: entry))
                Self.compare(Array(text.utf8), maximumArrays: 8, mustScan: false, tally: &tally, cache: cache, label: "arrays[0].\(key): \(value)")
            }
        }
        #expect(tally.scanned > 50 && tally.genericOnly > 10 && tally.rejected > 1000, "\(tally)")
    }

    /// `template` with the value of `"key":` replaced by `value` (values there hold no commas).
    private func replacing(_ key: String, with value: String, in template: String) -> String {
        guard let keyRange = template.firstRange(of: "\"\(key)\":") else { return template }
        let rest = template[keyRange.upperBound...]
        var depth = 0
        var end = rest.startIndex
        for index in rest.indices {
            let character = rest[index]
            if depth == 0, character == "," || character == "}" { end = index; break }
            if character == "[" || character == "{" { depth += 1 }
            if character == "]" || character == "}" { depth -= 1 }
        }
        return String(template[..<keyRange.upperBound]) + value + String(rest[end...])
    }
}

/// Headers compared field by field, `meta` with NaN equal to NaN (both paths read `meta` with
/// the same parser, so a NaN there is the same NaN).
func sameHeader(_ a: WireHeader, _ b: WireHeader) -> Bool {
    var a = a
    var b = b
    guard sameJSON(.object(a.meta), .object(b.meta)) else { return false }
    a.meta = [:]
    b.meta = [:]
    return a == b
}

func sameJSON(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case let (.number(x), .number(y)): return x == y || (x.isNaN && y.isNaN)
    case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy(sameJSON)
    case let (.object(x), .object(y)):
        return x.count == y.count && x.allSatisfy { key, value in y[key].map { sameJSON(value, $0) } ?? false }
    default: return a == b
    }
}

extension String {
    /// Every `target` replaced by `replacement` (without Foundation's overload resolution).
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
