import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport

/// arrf/1 headers written as text piece by piece, so that a test controls what
/// `JSONValue.jsonText` always writes the same way: white space, key order, escapes, number
/// spellings, repeated keys — and can spoil any piece.
struct HeaderTextGenerator {
    /// A JSON object as (key as written, value as written) pairs, in order.
    typealias Members = [(key: String, value: String)]

    var random: SplitMix
    /// Whether everything written so far is what the scanner takes itself (no number written
    /// as `5.0`, no unusual `proto`); such a valid header must not go to the generic path.
    var plain = true

    init(seed: UInt64) {
        random = SplitMix(seed: seed)
    }

    mutating func chance(_ probability: Double) -> Bool {
        Double.random(in: 0..<1, using: &random) < probability
    }

    mutating func pick<T>(_ choices: [T]) -> T {
        choices.randomElement(using: &random)!
    }

    /// White space between tokens: usually none, sometimes what Python or a person writes.
    mutating func space() -> String {
        chance(0.8) ? "" : pick([" ", "  ", "\n", "\t", "\r\n", " \n\t "])
    }

    // MARK: Strings

    /// Characters names and streams are made of: ASCII, accents precomposed and combining,
    /// astral emoji, and what must be escaped.
    static let alphabet: [String] = [
        "a", "b", "Z", "0", "7", "_", "-", ".", " ", "é", "e\u{301}", "ü", "✓", "🎥", "𝄞", "\"", "\\", "/", "\n", "\t",
        "\u{01}", "\u{1F}", "\u{7F}", "\u{FFFF}", "中",
    ]

    mutating func name() -> String {
        let length = Int.random(in: 0...12, using: &random)
        return (0..<length).map { _ in chance(0.6) ? pick(["a", "b", "c", "x", "0", "_"]) : pick(Self.alphabet) }.joined()
    }

    /// `text` as a JSON string, each character escaped or not at random (characters that
    /// must be escaped always are), `\u` escapes in either case of hex, astral ones as pairs.
    mutating func quoted(_ text: String, escaping probability: Double = 0.15) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += chance(0.7) ? "\\\"" : unicodeEscape(scalar.value)
            case "\\": out += chance(0.7) ? "\\\\" : unicodeEscape(scalar.value)
            case "\u{08}" where chance(0.5): out += "\\b"
            case "\u{0C}" where chance(0.5): out += "\\f"
            case "\n" where chance(0.5): out += "\\n"
            case "\r" where chance(0.5): out += "\\r"
            case "\t" where chance(0.5): out += "\\t"
            case _ where scalar.value < 0x20: out += unicodeEscape(scalar.value)
            case "/" where chance(probability): out += "\\/"
            case _ where chance(probability): out += unicodeEscape(scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `\uXXXX`, or a surrogate pair of them for a character beyond U+FFFF.
    mutating func unicodeEscape(_ value: UInt32) -> String {
        if value > 0xFFFF {
            let offset = value - 0x10000
            return unicodeEscape(0xD800 + (offset >> 10)) + unicodeEscape(0xDC00 + (offset & 0x3FF))
        }
        let hex = String(value, radix: 16, uppercase: chance(0.5))
        return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }

    /// A key as written: usually plain, sometimes with escapes (`"\u0070roto"`).
    mutating func key(_ name: String) -> String {
        quoted(name, escaping: chance(0.1) ? 0.5 : 0)
    }

    // MARK: Numbers and other values

    /// An integer as written; sometimes (when allowed) in a spelling only the generic path
    /// reads as an integer, which makes the header not plain.
    mutating func integer(_ value: Int64, unusual: Bool = true) -> String {
        guard unusual, chance(0.03), value.magnitude <= 1 << 53 else { return String(value) }
        plain = false
        return pick(["\(value).0", "\(value)e0", "\(value).000E+0", "\(Double(value))"])
    }

    mutating func anyInt64() -> Int64 {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: pick([.min, .max, .max - 1, .min + 1, 0, -1, 1, 1 << 53, -(1 << 53)])
        case 1: Int64.random(in: -1000...1000, using: &random)
        default: Int64.random(in: .min ... .max, using: &random)
        }
    }

    /// Any JSON value, nested up to `depth` levels, with white space inside.
    mutating func anyValue(depth: Int = 3) -> String {
        let choice = Int.random(in: 0..<(depth > 0 ? 10 : 7), using: &random)
        switch choice {
        case 0: return "null"
        case 1: return pick(["true", "false"])
        case 2: return String(anyInt64())
        case 3: return pick(["0.5", "-2.25e-3", "1e300", "-0.0", "1E+2", "NaN", "Infinity", "-Infinity", "18446744073709551616"])
        case 4, 5: return quoted(name())
        case 6: return pick(["[]", "{}"])
        case 7: return "[" + (0..<Int.random(in: 1...3, using: &random)).map { _ in space() + anyValue(depth: depth - 1) + space() }.joined(separator: ",") + "]"
        default: return object(uniqueMembers(count: Int.random(in: 1...3, using: &random), depth: depth - 1))
        }
    }

    mutating func uniqueMembers(count: Int, depth: Int) -> Members {
        var names: Set<String> = []
        var members: Members = []
        for _ in 0..<count {
            let name = pick(["k", "x", "exposure_us", "gain", "é", "e\u{301}", "🎥", "", "seq", "name", "n\(names.count)"])
            // Canonically equivalent keys ("é" and "e" + U+0301) are the same key in Swift.
            guard !names.contains(where: { $0 == name }) else { continue }
            names.insert(name)
            members.append((key(name), anyValue(depth: depth)))
        }
        return members
    }

    mutating func object(_ members: Members) -> String {
        guard !members.isEmpty else { return "{" + space() + "}" }
        return "{" + members.map { space() + $0.key + space() + ":" + space() + $0.value + space() }.joined(separator: ",") + "}"
    }

    // MARK: Headers

    /// The members of a valid header (`maximumArrays` bounds its arrays).
    /// The members of a valid header with up to 3 arrays; with `spoilingEntries`, one entry of
    /// `arrays` is spoiled (``spoil(_:)``).
    mutating func header(spoilingEntries: Bool = false) -> Members {
        let kind = pick(["data", "data", "data", "heartbeat", "end"])
        var members: Members = [
            (key("proto"), protocolText()),
            (key("kind"), quoted(kind)),
            (key("stream"), quoted(name())),
            (key("epoch"), integer(chance(0.5) ? Int64.random(in: 1..<(1 << 53), using: &random) : pick([1, .max, .max - 1]))),
            (key("seq"), integer(kind == "data" ? pick([0, 1, .max - 1, Int64.random(in: 0..<(.max - 1), using: &random)])
                                                : pick([-1, 0, .max - 1, Int64.random(in: -1..<(.max - 1), using: &random)]))),
            (key("t_ns"), integer(anyInt64())),
        ]
        if chance(0.7) { members.append((key("index"), chance(0.2) ? "null" : integer(anyInt64()))) }
        if kind == "data" {
            let count = Int.random(in: 0...3, using: &random)
            var entries = (0..<count).map { _ in entry() }
            if spoilingEntries, !entries.isEmpty { spoil(&entries[Int.random(in: 0..<entries.count, using: &random)]) }
            members.append((key("arrays"), list(entries.map { object($0) })))
        } else if chance(0.7) {
            members.append((key("arrays"), chance(0.3) ? "null" : "[" + space() + "]"))
        }
        if chance(0.7) { members.append((key("meta"), chance(0.2) ? "null" : object(uniqueMembers(count: Int.random(in: 0...3, using: &random), depth: 2)))) }
        if chance(0.1) { members.append((key("fastpath"), fastPathValue())) }
        for index in 0..<(chance(0.2) ? Int.random(in: 1...2, using: &random) : 0) {
            members.append((key(pick(["future\(index)", "fastpath_v2", "Proto", "kinds", "🎥\(index)", "t_ms\(index)"])), anyValue()))
        }
        members.shuffle(using: &random)
        return members
    }

    mutating func protocolText() -> String {
        if chance(0.9) { return quoted("arrf/1") }
        let text = pick(["arrf/1.0", "arrf/1.3", "arrf/01", "arrf/001.7-beta", "arrf/1.é", "arrf/1."])
        if text == "arrf/1.é" { plain = false }
        return quoted(text)
    }

    mutating func fastPathValue() -> String {
        pick([
            #"{"boot_id": "b", "registry": "aqfp.1", "nonce": "1"}"#, #"{"hello":"n"}"#, #"{"register":"q"}"#,
            #"{"leave":"why"}"#, #"{"hello":1}"#, "[]", "7",
        ])
    }

    /// The members of a valid `arrays` entry.
    mutating func entry() -> Members {
        let dtype = pick(DType.allCases)
        var shape = (0..<Int.random(in: 0...4, using: &random)).map { _ in Int.random(in: 0...5, using: &random) }
        if !shape.isEmpty, chance(0.2) { shape[0] = Int.random(in: 0...70_000, using: &random) }
        let nbytes = shape.reduce(dtype.itemSize, *)
        var members: Members = [
            (key("name"), quoted(name())),
            (key("dtype"), quoted(dtypeSpelling(dtype))),
            (key("shape"), list(shape.map { integer(Int64($0)) })),
            (key("nbytes"), integer(Int64(nbytes))),
        ]
        if chance(0.8) { members.append((key("order"), quoted("C"))) }
        if chance(0.8) { members.append((key("codec"), quoted("raw"))) }
        if chance(0.1) { members.append((key(pick(["compression_hint", "unit", "Name"])), anyValue())) }
        members.shuffle(using: &random)
        return members
    }

    /// A spelling `DType(typestr:)` accepts: `<`, `=`, `|` or no byte order.
    mutating func dtypeSpelling(_ dtype: DType) -> String {
        let code = String(dtype.typestr.dropFirst())
        return pick(["", "=", "|", String(dtype.typestr.prefix(1))].map { $0 + code })
    }

    mutating func list(_ elements: [String]) -> String {
        guard !elements.isEmpty else { return "[" + space() + "]" }
        return "[" + elements.map { space() + $0 + space() }.joined(separator: ",") + "]"
    }

    /// The text of an object with white space around it.
    mutating func render(_ members: Members) -> String {
        space() + object(members) + space()
    }
}
