import ArrayQueues
@testable import ArrayTransport

/// The header writer before the byte writer and ``DataHeaderTemplate`` (String-based, kept
/// verbatim as the reference the new writers must match byte for byte).
enum LegacyJSONWriter {
    static func write(_ value: JSONValue, to text: inout String) {
        switch value {
        case .null: text += "null"
        case let .bool(flag): text += flag ? "true" : "false"
        case let .integer(number): text += String(number)
        case let .number(number): text += number.isFinite ? number.description : "null"
        case let .string(string): writeString(string, to: &text)
        case let .array(elements):
            text += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { text += "," }
                write(element, to: &text)
            }
            text += "]"
        case let .object(members):
            text += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { text += "," }
                writeString(key, to: &text)
                text += ":"
                write(members[key]!, to: &text)
            }
            text += "}"
        }
    }

    static func writeString(_ string: String, to text: inout String) {
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

extension WireHeader {
    /// The header as the String-based writer wrote it.
    func legacyEncoded() -> String {
        var text = "{\"proto\":\"\(WireHeader.protocolName)\",\"kind\":\"\(kind.rawValue)\",\"stream\":"
        LegacyJSONWriter.writeString(stream, to: &text)
        text += ",\"epoch\":\(epoch),\"seq\":\(sequence),\"t_ns\":\(timestampNanoseconds)"
        if let index { text += ",\"index\":\(index)" }
        text += ",\"arrays\":["
        for (position, array) in arrays.enumerated() {
            if position > 0 { text += "," }
            text += "{\"name\":"
            LegacyJSONWriter.writeString(array.name, to: &text)
            text += ",\"dtype\":\"\(array.dtype.typestr)\",\"shape\":["
            text += array.shape.map(String.init).joined(separator: ",")
            text += "],\"order\":\"C\",\"nbytes\":\(array.byteCount),\"codec\":\"raw\"}"
        }
        text += "],\"meta\":"
        LegacyJSONWriter.write(.object(meta), to: &text)
        if let fastPath {
            text += ",\"fastpath\":"
            LegacyJSONWriter.write(fastPath.json, to: &text)
        }
        text += "}"
        return text
    }
}
