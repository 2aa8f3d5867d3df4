extension WireHeaderScanner {
    /// A string as read: its bytes in the text when it has no escapes (not yet checked as
    /// UTF-8), else the string the generic parser decoded.
    enum StringToken {
        /// The bytes between the quotes, in the header's text.
        case raw(UnsafeRawBufferPointer)
        /// The string with its escapes decoded.
        case decoded(String)

        /// Calls `body` with the string's UTF-8 bytes.
        func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
            switch self {
            case let .raw(bytes): return body(bytes)
            case var .decoded(text): return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
            }
        }
    }

    /// Reads the string at the cursor. Without escapes the bytes stay where they are; with
    /// escapes the generic parser decodes it (the same rules for `\uXXXX`, surrogate pairs and
    /// invalid UTF-8 everywhere).
    mutating func string() throws(GiveUp) -> StringToken {
        let bytes = parser.bytes
        guard parser.peek() == UInt8(ascii: "\"") else { throw GiveUp() }
        let start = parser.position + 1
        var scan = start
        while scan < bytes.count {
            let byte = bytes[scan]
            if byte == UInt8(ascii: "\"") {
                parser.position = scan + 1
                return .raw(UnsafeRawBufferPointer(rebasing: bytes[start..<scan]))
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw GiveUp() }
            scan += 1
        }
        do throws(JSONSyntaxError) {
            return .decoded(try parser.parseString())
        } catch {
            throw GiveUp()
        }
    }

    /// The token as a `String`; raw bytes must be valid UTF-8.
    func text(_ token: StringToken) throws(GiveUp) -> String {
        switch token {
        case let .decoded(text): return text
        case let .raw(bytes):
            // ASCII is valid UTF-8 as it is; anything else is validated.
            if bytes.allSatisfy({ $0 < 0x80 }) {
                return bytes.withMemoryRebound(to: UInt8.self) { String(decoding: $0, as: UTF8.self) }
            }
            guard let text = String(validating: bytes, as: UTF8.self) else { throw GiveUp() }
            return text
        }
    }

    /// Reads an integer written as one (no fraction or exponent) that fits `Int64`. Others —
    /// `5.0`, `1e3`, 2^63 — are left to the generic path, which knows which of them to accept.
    mutating func integer() throws(GiveUp) -> Int64 {
        let bytes = parser.bytes
        var position = parser.position
        let negative = position < bytes.count && bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        let first = position
        var magnitude: UInt64 = 0
        while position < bytes.count, case let digit = bytes[position] &- UInt8(ascii: "0"), digit < 10 {
            magnitude = magnitude &* 10 &+ UInt64(digit)
            position += 1
        }
        // 19 digits cannot overflow a UInt64 (and more do not fit an Int64); no leading zeros.
        let digits = position - first
        guard digits > 0, digits <= 19, digits == 1 || bytes[first] != UInt8(ascii: "0") else { throw GiveUp() }
        if position < bytes.count {
            let next = bytes[position]
            guard next != UInt8(ascii: "."), next != UInt8(ascii: "e"), next != UInt8(ascii: "E") else { throw GiveUp() }
        }
        let value: Int64
        if negative {
            guard magnitude <= Int64.min.magnitude else { throw GiveUp() }
            value = magnitude == Int64.min.magnitude ? .min : -Int64(magnitude)
        } else {
            guard magnitude <= UInt64(Int64.max) else { throw GiveUp() }
            value = Int64(magnitude)
        }
        parser.position = position
        return value
    }

    /// Reads `null` if it is next and says whether it was.
    mutating func nullLiteral() throws(GiveUp) -> Bool {
        guard parser.peek() == UInt8(ascii: "n") else { return false }
        let end = parser.position + 4
        guard end <= parser.bytes.count, Self.matches(UnsafeRawBufferPointer(rebasing: parser.bytes[parser.position..<end]), "null") else {
            throw GiveUp()
        }
        parser.position = end
        return true
    }

    /// Moves past white space; compact JSON has none, so the usual case is one comparison.
    @inline(__always)
    mutating func skipSpace() {
        if parser.position < parser.bytes.count, parser.bytes[parser.position] > 0x20 { return }
        parser.skipWhiteSpace()
    }

    /// Reads `byte`.
    mutating func expect(_ byte: UInt8) throws(GiveUp) {
        guard parser.peek() == byte else { throw GiveUp() }
        parser.position += 1
    }

    /// After a member of an object or list: true after a comma, false after `closing`.
    mutating func nextMember(closing: UInt8) throws(GiveUp) -> Bool {
        skipSpace()
        switch parser.peek() {
        case UInt8(ascii: ","): parser.position += 1; return true
        case closing: parser.position += 1; return false
        default: throw GiveUp()
        }
    }

    /// Reads any value with the generic parser; `depth` counts the arrays and objects around it.
    mutating func genericValue(depth: Int) throws(GiveUp) -> JSONValue {
        do throws(JSONSyntaxError) {
            return try parser.parseValue(depth: depth)
        } catch {
            throw GiveUp()
        }
    }

    /// Skips the value of a key the scanner does not know, checking it as the generic parser
    /// does. `seen` holds the object's unknown keys so far: a repeated key is malformed. A set, so
    /// that a header of thousands of distinct unknown keys costs linear time, not quadratic.
    mutating func skipUnknown(_ name: StringToken, seen: inout Set<String>, depth: Int) throws(GiveUp) {
        let key = try text(name)
        guard seen.insert(key).inserted else { throw GiveUp() }
        _ = try genericValue(depth: depth)
    }

    /// Up to 8 bytes as one integer, first byte lowest: short keys compare in one step (their
    /// lengths are compared apart, so that a key padded with NUL bytes does not match).
    static func word(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var word: UInt64 = 0
        for index in 0..<min(bytes.count, 8) { word |= UInt64(bytes[index]) << (8 * index) }
        return word
    }

    /// Whether `bytes` are exactly the ASCII text `literal`.
    static func matches(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { expected in
            guard bytes.count == expected.count else { return false }
            for index in 0..<expected.count where bytes[index] != expected[index] { return false }
            return true
        }
    }
}
