/// A JSON value: what the `meta` object of an arrf/1 message holds.
///
/// ```swift
/// let meta: [String: JSONValue] = ["exposure_us": 1200, "gain": 2.5, "camera": "left", "roi": [0, 0, 640, 480]]
/// ```
///
/// Integers written without a fraction or exponent that fit `Int64` are ``integer(_:)`` and
/// survive a round trip exactly (JSON parsers that use doubles lose precision above 2^53);
/// other numbers are ``number(_:)``. Objects are written with their keys sorted.
public enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// An integer that fits `Int64`.
    case integer(Int64)
    /// Any other number. Non-finite values are not JSON: they are written as `null`
    /// (senders reject them), though `NaN` and `Infinity` from Python peers are read.
    case number(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object; keys are unique.
    case object([String: JSONValue])

    /// Parses JSON text (one value, optionally surrounded by white space).
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` naming the problem and its byte offset.
    public init(parsing text: String) throws(TransportError) {
        var text = text
        let result = text.withUTF8 { utf8 -> Result<JSONValue, JSONSyntaxError> in
            do throws(JSONSyntaxError) {
                return .success(try JSONParser.parse(UnsafeRawBufferPointer(utf8)))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case let .success(value): self = value
        case let .failure(error): throw TransportError(.invalidArgument, "invalid JSON: \(error)")
        }
    }

    /// The value as compact JSON text, object keys sorted.
    public var jsonText: String {
        var bytes: [UInt8] = []
        JSONWriter.write(self, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The member `key` of an object (nil for other values or a missing key).
    public subscript(key: String) -> JSONValue? {
        if case let .object(members) = self { return members[key] }
        return nil
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case let .string(value) = self { return value }
        return nil
    }

    /// The integer, if this is an integer or a number with an integral value that fits `Int64`.
    public var integerValue: Int64? {
        switch self {
        case let .integer(value): return value
        case let .number(value):
            guard value.rounded() == value, value >= -0x1p63, value < 0x1p63 else { return nil }
            return Int64(value)
        default: return nil
        }
    }

    /// The number as a `Double`, if this is an integer or a number.
    public var doubleValue: Double? {
        switch self {
        case let .integer(value): return Double(value)
        case let .number(value): return value
        default: return nil
        }
    }

    /// The Boolean, if this is one.
    public var boolValue: Bool? {
        if case let .bool(value) = self { return value }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case let .array(value) = self { return value }
        return nil
    }

    /// The members, if this is an object.
    public var objectValue: [String: JSONValue]? {
        if case let .object(value) = self { return value }
        return nil
    }

    /// Whether every number inside is finite (only such values can be written as JSON).
    var isFinite: Bool {
        switch self {
        case let .number(value): return value.isFinite
        case let .array(elements): return elements.allSatisfy(\.isFinite)
        case let .object(members): return members.values.allSatisfy(\.isFinite)
        default: return true
        }
    }
}

extension JSONValue: CustomStringConvertible {
    /// The JSON text of the value.
    public var description: String { jsonText }
}

extension JSONValue: ExpressibleByNilLiteral {
    /// `nil` is `null`.
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: ExpressibleByBooleanLiteral {
    /// A Boolean literal.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    /// An integer literal.
    public init(integerLiteral value: Int64) { self = .integer(value) }
}

extension JSONValue: ExpressibleByFloatLiteral {
    /// A floating-point literal.
    public init(floatLiteral value: Double) { self = .number(value) }
}

extension JSONValue: ExpressibleByStringLiteral {
    /// A string literal.
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSONValue: ExpressibleByArrayLiteral {
    /// An array literal.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    /// An object literal; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
