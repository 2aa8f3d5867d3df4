@testable import ArrayTransport

extension HeaderTextGenerator {
    /// Values that break a rule, or are valid but unusual, for any key.
    static let oddValues: [String] = [
        "0", "-0", "1", "-1", "-2", "9223372036854775807", "9223372036854775806", "-9223372036854775808",
        "9223372036854775808", "-9223372036854775809", "18446744073709551616", "99999999999999999999", "9007199254740992",
        "9007199254740993", "1.5", "2.0", "1e3", "1E+2", "-1e0", "01", "00", "-01", "1.", ".5", "-", "1e", "+1",
        "9007199254740992.0", "9.007199254740994e15", "true", "null", "\"5\"", "[]", "{}", "NaN", "Infinity", "-Infinity",
        "nul", "tru", "nulll", "\"\\ud800\"", "\"\\udc00x\"", "\"\\ud83c\\u0041\"", "\"a\\x\"", "\"\u{01}\"", "\"\\u12\"",
        "\"\\u12G4\"", "\"abc", "[1,]", "[1 2]", "{\"a\":1,\"a\":2}", "{\"é\":1,\"e\u{301}\":2}", "{\"a\":1,}", "{,}",
        nested(62), nested(63), nested(64), nested(65),
    ]

    /// `levels` nested lists.
    static func nested(_ levels: Int) -> String {
        String(repeating: "[", count: levels) + String(repeating: "]", count: levels)
    }

    /// Odd values for particular keys (as names: `key(_:)` writes them, maybe escaped).
    static let oddValuesByKey: [(String, [String])] = [
        ("proto", ["arrf/2", "arrf/10", "arrf/", "arrf", "arrf/1x", "ARRF/1", "arrf/1.\u{301}", "arrf/+1", "arrf/-1", "arrf/0",
                   "arrf/1\u{301}", "arrf/99999999999999999999", "zmtp/1", "arrf//1", " arrf/1", "arrf/\u{661}", "arrf/1.0",
                   "arrf/01", "arrf/1.é", "arrf\\/1", "arrf/1\\u002e5"].map { "\"\($0)\"" }),
        ("kind", ["Data", "dat", "data ", "heartbeat\\u0000", "end", "data", "heartbeat", "d\\u0061ta", ""].map { "\"\($0)\"" }),
        ("dtype", [">f4", "|O", "<u3", "f", "<f", "<<f4", "=b1", "b1", "<c16", "c32", "<i16", "u", "", "<f4 ", "<\u{301}f4",
                   "\\u003cf4", "|c8", "<b2", "i8", "=c16", "c1", "c16", "c160", "<u\u{661}"].map { "\"\($0)\"" }),
        ("order", ["F", "c", "", "CC", "C", "\\u0043"].map { "\"\($0)\"" }),
        ("codec", ["zstd", "RAW", "raw ", "raw", "r\\u0061w", ""].map { "\"\($0)\"" }),
        ("shape", ["[" + Array(repeating: "1", count: 33).joined(separator: ",") + "]",
                   "[" + Array(repeating: "1", count: 32).joined(separator: ",") + "]",
                   "[-1]", "[2, -3]", "[1099511627776, 1099511627776, 1099511627776]", "[4294967296, 4294967296]",
                   "[3037000500, 3037000500]", "[2.0, 3]", "[2.5]", "[[2]]", "[\"2\"]", "[null]", "[2,]", "[]", "2"]),
        ("nbytes", ["0", "-1", "24", "24.0", "2.4e1", "\"24\"", "null", "9223372036854775807"]),
        ("name", ["null", "1", "\"\"", "\"\\ud800\"", "\"ok\""]),
        ("stream", ["null", "\"\"", "\"s\\u0000\"", "1"]),
        ("index", ["null", "true", "1.5", "2.0", "-9223372036854775808"]),
        ("arrays", ["null", "[]", "{}", "[1]", "[{}]", "[null]", "\"x\""]),
        ("meta", ["null", "[]", "1", "{}", "\"m\"", "{\"a\":NaN}"]),
        ("fastpath", ["null", "{\"hello\":\"n\"}", "[", "{\"hello\":\"n\",\"hello\":\"m\"}"]),
        ("epoch", ["0", "-1", "1", "9223372036854775807", "9007199254740992.0", "9007199254740994.0"]),
        ("seq", ["-1", "-2", "9223372036854775807", "9223372036854775806", "0"]),
        ("t_ns", ["-9223372036854775808", "9223372036854775807", "1.0", "1e18"]),
    ]

    /// Spoils `members` (a header's or an entry's) in one of many ways: most results break a
    /// rule, some are valid but unusual.
    mutating func spoil(_ members: inout Members) {
        plain = false
        let position = members.isEmpty ? 0 : Int.random(in: 0..<members.count, using: &random)
        switch Int.random(in: 0..<8, using: &random) {
        case 0 where !members.isEmpty:
            members.remove(at: position)
        case 1 where !members.isEmpty:
            // The same key again, written the same way or escaped, with this or another value.
            let (key, value) = members[position]
            members.insert((chance(0.5) ? key : escapedAgain(key), chance(0.5) ? value : anyValue(depth: 1)), at: Int.random(in: 0...members.count, using: &random))
        case 2 where !members.isEmpty:
            members[position].value = pick(Self.oddValues)
        case 3 where !members.isEmpty:
            members[position].value = anyValue()
        default:
            let (name, values) = pick(Self.oddValuesByKey)
            let value = pick(values)
            if let index = members.firstIndex(where: { $0.key == "\"\(name)\"" }), chance(0.8) {
                members[index].value = value
            } else {
                members.insert((key(name), value), at: Int.random(in: 0...members.count, using: &random))
            }
        }
    }

    /// A key written with its first character as a `\u` escape (`"proto"` → `"\u0070roto"`).
    mutating func escapedAgain(_ key: String) -> String {
        let inner = key.dropFirst()
        guard let first = inner.unicodeScalars.first, first != "\"", first != "\\" else { return key }
        return "\"" + unicodeEscape(first.value) + String(inner.unicodeScalars.dropFirst())
    }

    /// Bytes of `text` with one byte deleted, inserted, replaced, or the end cut off.
    mutating func damage(_ text: [UInt8]) -> [UInt8] {
        plain = false
        var bytes = text
        let position = Int.random(in: 0...bytes.count, using: &random)
        let byte: UInt8 = pick(Array("\"\\,:{}[]0-9e. nNtfu".utf8) + [0x00, 0x01, 0x7F, 0x80, 0xC3, 0xE2, 0xED, 0xF0, 0xFF])
        switch Int.random(in: 0..<4, using: &random) {
        case 0 where position < bytes.count: bytes.remove(at: position)
        case 1: bytes.insert(byte, at: position)
        case 2 where position < bytes.count: bytes[position] = byte
        default: bytes.removeLast(bytes.count - position)
        }
        return bytes
    }
}
