/// Text from outside (names found in `/dev/shm`, which any local user can create; stream names
/// from the network) made safe to print: control characters, Unicode format characters (such as
/// bidirectional overrides) and other unprintable ones appear as `\x1b` or `\u{202e}` escapes, so
/// that nobody can move the cursor, rewrite the screen or hide text in our output. A backslash
/// is doubled, so the escaped form is unambiguous.
public func printable(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator:
            result += scalar.value < 0x80 ? "\\x" + hex(scalar.value, digits: 2) : "\\u{" + hex(scalar.value, digits: 4) + "}"
        default:
            if scalar == "\\" { result += "\\\\" } else { result.unicodeScalars.append(scalar) }
        }
    }
    return result
}

private func hex(_ value: UInt32, digits: Int) -> String {
    let text = String(value, radix: 16)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
}
