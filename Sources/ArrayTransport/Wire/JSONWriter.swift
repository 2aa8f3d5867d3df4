/// Writes compact JSON as UTF-8 bytes: object keys sorted, strings escaped as RFC 8259 requires
/// (plus DEL), non-ASCII characters written as they are.
enum JSONWriter {
    /// Appends `value` to `out`.
    static func write(_ value: JSONValue, to out: inout [UInt8]) {
        switch value {
        case .null: appendASCII("null", to: &out)
        case let .bool(flag): appendASCII(flag ? "true" : "false", to: &out)
        case let .integer(number): writeInteger(number, to: &out)
        case let .number(number):
            if number.isFinite { out.append(contentsOf: number.description.utf8) } else { appendASCII("null", to: &out) }
        case let .string(string): writeString(string, to: &out)
        case let .array(elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                write(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case let .object(members):
            writeObject(members, to: &out)
        }
    }

    /// Appends an object, its keys sorted.
    static func writeObject(_ members: [String: JSONValue], to out: inout [UInt8]) {
        guard !members.isEmpty else {
            appendASCII("{}", to: &out)
            return
        }
        out.append(UInt8(ascii: "{"))
        for (index, key) in members.keys.sorted().enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            writeString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            write(members[key]!, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Appends `string` in quotes. Bytes of multi-byte UTF-8 sequences are never ASCII, so
    /// escaping byte by byte escapes exactly the characters that need it.
    static func writeString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        if string.utf8.allSatisfy({ !needsEscape($0) }) {
            out.append(contentsOf: string.utf8)
        } else {
            for byte in string.utf8 {
                guard needsEscape(byte) else {
                    out.append(byte)
                    continue
                }
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
                case UInt8(ascii: "\n"): out.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): out.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): out.append(UInt8(ascii: "t"))
                default:
                    appendASCII("u00", to: &out)
                    out.append(hexDigit(byte >> 4))
                    out.append(hexDigit(byte & 0xF))
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `number` in decimal.
    static func writeInteger(_ number: Int64, to out: inout [UInt8]) {
        if number < 0 { out.append(UInt8(ascii: "-")) }
        writeInteger(number.magnitude, to: &out)
    }

    /// Appends `number` in decimal.
    static func writeInteger(_ number: UInt64, to out: inout [UInt8]) {
        // 20 digits hold any UInt64; written backwards into a stack buffer, then appended.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var rest = number
            var start = 20
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            } while rest > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start..<20]))
        }
    }

    /// Appends ASCII text given as a literal.
    static func appendASCII(_ text: StaticString, to out: inout [UInt8]) {
        text.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == 0x7F
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}
