/// The element type of an array, with its numpy array-interface typestr.
///
/// The raw value is the code stored in every record of a shared-memory segment
/// (docs/LAYOUT.md); it never changes for an existing case.
public enum DType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case bool = 1
    case int8 = 2
    case uint8 = 3
    case int16 = 4
    case uint16 = 5
    case int32 = 6
    case uint32 = 7
    case int64 = 8
    case uint64 = 9
    case float16 = 10
    case float32 = 11
    case float64 = 12
    /// Two little-endian `float32`s, real then imaginary (numpy `complex64`).
    case complex64 = 13
    /// Two little-endian `float64`s, real then imaginary (numpy `complex128`).
    case complex128 = 14

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .bool, .int8, .uint8: 1
        case .int16, .uint16, .float16: 2
        case .int32, .uint32, .float32: 4
        case .int64, .uint64, .float64, .complex64: 8
        case .complex128: 16
        }
    }

    /// The numpy array-interface typestr, little-endian: `|b1`, `<u2`, `<f4`, `<c16`, ...
    public var typestr: String {
        let byteOrder = itemSize == 1 ? "|" : "<"
        return "\(byteOrder)\(kindCharacter)\(itemSize)"
    }

    /// numpy's name for the type: `uint16`, `float32`, ...
    public var name: String {
        switch self {
        case .bool: "bool"
        case .int8: "int8"
        case .uint8: "uint8"
        case .int16: "int16"
        case .uint16: "uint16"
        case .int32: "int32"
        case .uint32: "uint32"
        case .int64: "int64"
        case .uint64: "uint64"
        case .float16: "float16"
        case .float32: "float32"
        case .float64: "float64"
        case .complex64: "complex64"
        case .complex128: "complex128"
        }
    }

    public var description: String { name }

    private var kindCharacter: Character {
        switch self {
        case .bool: "b"
        case .int8, .int16, .int32, .int64: "i"
        case .uint8, .uint16, .uint32, .uint64: "u"
        case .float16, .float32, .float64: "f"
        case .complex64, .complex128: "c"
        }
    }

    /// Parses a numpy typestr. Accepts `<` (little-endian), `=` (native, which is little-endian
    /// on every platform ArrayQueues supports) and `|`; big-endian (`>`) is not supported.
    ///
    /// - Throws: ``ArrayQueueError/Code/unsupportedDType`` for anything else.
    public init(typestr: String) throws(ArrayQueueError) {
        var text = Substring(typestr)
        if let order = text.first, "<=|".contains(order) { text = text.dropFirst() }
        if let match = DType.allCases.first(where: { $0.typestr.dropFirst() == text }) {
            self = match
        } else {
            throw ArrayQueueError(.unsupportedDType, "unsupported dtype '\(typestr)': expected one of \(DType.allCases.map(\.typestr).joined(separator: " ")) (little-endian)")
        }
    }

    /// Decodes the code stored in a record, throwing ``ArrayQueueError/Code/unsupportedDType`` for unknown codes.
    init(code: UInt8) throws(ArrayQueueError) {
        guard let value = DType(rawValue: code) else {
            throw ArrayQueueError(.unsupportedDType, "unknown dtype code \(code)")
        }
        self = value
    }
}
