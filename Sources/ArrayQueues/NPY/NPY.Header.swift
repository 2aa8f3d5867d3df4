extension NPY {
    /// The header of a `.npy` file: what its data holds and where the data starts.
    public struct Header: Sendable, Hashable {
        /// The element type, from the header's `descr`.
        public let dtype: DType
        /// Extent of each dimension, from the header's `shape`; `[]` is a scalar.
        public let shape: [Int]
        /// Whether the data is in Fortran (column-major) order. ArrayQueues reads only C order.
        public let fortranOrder: Bool
        /// Where the data starts, counted from the start of the file.
        public let dataOffset: Int
        /// Size of the data in bytes: element count × item size.
        public let payloadByteCount: Int
        /// The format's major version: 1, 2 or 3.
        public let majorVersion: Int

        /// Parses the header at the start of a `.npy` file.
        ///
        /// `bytes` is the start of the file, at least up to ``dataOffset``; what follows is ignored,
        /// so the length of the data is not checked. Fortran order is reported in ``fortranOrder``
        /// rather than rejected, so that a caller can say what the file holds.
        ///
        /// - Throws: ``ArrayQueueError/Code/invalidNPY``, ``ArrayQueueError/Code/unsupportedDType``
        ///   or ``ArrayQueueError/Code/invalidShape``, as ``NPY/decode(_:)`` does.
        public static func parse(_ bytes: UnsafeRawBufferPointer) throws(ArrayQueueError) -> Header {
            let preamble = try Preamble(bytes)
            guard bytes.count >= preamble.dataOffset else {
                throw NPY.invalid("the file is truncated: it ends after \(bytes.count) bytes, inside the .npy header, which ends at byte \(preamble.dataOffset)")
            }
            let text = UnsafeRawBufferPointer(rebasing: bytes[preamble.headerStart..<preamble.dataOffset])
            var parser = HeaderParser(text: text, isUTF8: preamble.majorVersion >= 3, acceptsLongSuffix: preamble.majorVersion < 3)
            let entries = try parser.parse()
            let dtype = try NPY.dtype(descr: entries.descr)
            let payloadByteCount = try Shape.byteCount(entries.shape, dtype: dtype)
            return Header(
                dtype: dtype, shape: entries.shape, fortranOrder: entries.fortranOrder,
                dataOffset: preamble.dataOffset, payloadByteCount: payloadByteCount,
                majorVersion: preamble.majorVersion)
        }

        /// Throws unless ArrayQueues can use the data as it is: C order.
        func checkReadable() throws(ArrayQueueError) {
            guard !fortranOrder else {
                throw NPY.invalid("Fortran-order arrays are not supported; save with np.ascontiguousarray")
            }
        }

        /// Throws unless exactly the data's bytes follow the header.
        func checkPayload(availableBytes: Int) throws(ArrayQueueError) {
            if availableBytes < payloadByteCount {
                throw NPY.invalid("the file is truncated: its data is \(availableBytes) bytes, but a \(dtype) array of shape \(shape) needs \(payloadByteCount)")
            }
            if availableBytes > payloadByteCount {
                throw NPY.invalid("the file has \(availableBytes - payloadByteCount) bytes more than its header describes: a \(dtype) array of shape \(shape) is \(payloadByteCount) bytes")
            }
        }
    }

    /// Magic string, version and header length: the fixed-size start of every `.npy` file.
    struct Preamble {
        /// Enough bytes to read any preamble: magic, version and a 32-bit length.
        static let maximumLength = 12

        let majorVersion: Int
        /// Where the header dictionary starts.
        let headerStart: Int
        /// Where the header ends and the data starts.
        let dataOffset: Int

        /// Reads the preamble from the start of a file; `bytes` may be shorter than the preamble
        /// (then it throws a message that says so).
        init(_ bytes: UnsafeRawBufferPointer) throws(ArrayQueueError) {
            let magic = NPY.magic
            guard bytes.prefix(magic.count).elementsEqual(magic.prefix(bytes.count)) else {
                if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
                    throw NPY.invalid("this is a zip archive (an .npz file?), not a .npy file")
                }
                throw NPY.invalid("not a .npy file: it does not start with the .npy magic string \\x93NUMPY")
            }
            let versionEnd = magic.count + 2
            guard bytes.count >= versionEnd else {
                throw NPY.invalid("the file is truncated: it ends after \(bytes.count) bytes, before the .npy format version")
            }
            let (major, minor) = (bytes[magic.count], bytes[magic.count + 1])
            let lengthFieldSize: Int
            switch (major, minor) {
            case (1, 0): lengthFieldSize = 2
            case (2, 0), (3, 0): lengthFieldSize = 4
            default:
                throw NPY.invalid("unsupported .npy format version \(major).\(minor); versions 1.0, 2.0 and 3.0 are supported")
            }
            headerStart = versionEnd + lengthFieldSize
            guard bytes.count >= headerStart else {
                throw NPY.invalid("the file is truncated: it ends after \(bytes.count) bytes, inside the .npy header length")
            }
            var headerLength = 0
            for index in (versionEnd..<headerStart).reversed() {
                headerLength = headerLength << 8 | Int(bytes[index])
            }
            majorVersion = Int(major)
            dataOffset = headerStart + headerLength
        }
    }

    /// The dtype a header's `descr` names, with an error that says why for those ArrayQueues cannot hold.
    static func dtype(descr: String) throws(ArrayQueueError) -> DType {
        let bytes = Array(descr.utf8)
        guard bytes.count <= 16, bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ArrayQueueError(.unsupportedDType, "unsupported dtype '\(printable(bytes))' in the .npy header")
        }
        if descr.hasPrefix(">") {
            // Byte order means nothing for one-byte types; numpy itself writes them with `|`.
            if let dtype = try? DType(typestr: "|" + descr.dropFirst()), dtype.itemSize == 1 {
                return dtype
            }
            throw ArrayQueueError(.unsupportedDType, "big-endian dtype '\(descr)' is not supported; save a little-endian array, for example with a.astype(a.dtype.newbyteorder('<'))")
        }
        if descr.drop(while: { "<>=|".contains($0) }).hasPrefix("O") {
            throw ArrayQueueError(.unsupportedDType, "object arrays (dtype '\(descr)') are not supported: their data is pickled Python objects, not numbers")
        }
        return try DType(typestr: descr)
    }

    static func invalid(_ message: String) -> ArrayQueueError {
        ArrayQueueError(.invalidNPY, message)
    }

    /// Bytes from a file, readable in an error message: printable ASCII as is, others as `\xNN`,
    /// cut off after `limit` bytes.
    static func printable(_ bytes: some Collection<UInt8>, limit: Int = 100) -> String {
        var text = ""
        for byte in bytes.prefix(limit) {
            switch byte {
            case 0x20...0x7E where byte != UInt8(ascii: "\\"): text.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "\\"): text += "\\\\"
            case UInt8(ascii: "\n"): text += "\\n"
            default:
                let hex = String(byte, radix: 16)
                text += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        if bytes.count > limit { text += "…" }
        return text
    }
}

/// A strict parser for the Python dict literal of a `.npy` header.
///
/// It accepts what numpy writes and what Python's `ast.literal_eval` reads for the three keys:
/// keys in any order, single or double quotes, whitespace between tokens, an optional trailing
/// comma, shapes `()`, `(5,)` and `(2, 3)`. Every byte is read through ``current``, which checks
/// bounds, and nesting is bounded, so no input can make it read out of bounds or recurse deeply.
struct HeaderParser {
    struct Entries {
        var descr: String
        var fortranOrder: Bool
        var shape: [Int]
    }

    /// The header dictionary and its padding, without the preamble.
    let text: UnsafeRawBufferPointer
    /// Format 3.0 headers are UTF-8; 1.0 and 2.0 are Latin-1.
    let isUTF8: Bool
    /// Python 2 wrote long integers as `3L`; numpy still reads such 1.0 and 2.0 files.
    let acceptsLongSuffix: Bool
    private(set) var position = 0

    init(text: UnsafeRawBufferPointer, isUTF8: Bool, acceptsLongSuffix: Bool) {
        self.text = text
        self.isUTF8 = isUTF8
        self.acceptsLongSuffix = acceptsLongSuffix
    }

    mutating func parse() throws(ArrayQueueError) -> Entries {
        var descr: String?
        var fortranOrder: Bool?
        var shape: [Int]?
        skipWhitespace()
        guard consume("{") else { throw fail("expected '{'") }
        entries: while true {
            skipWhitespace()
            if consume("}") { break }
            let keyStart = position
            let key = try parseString()
            skipWhitespace()
            guard consume(":") else { throw fail("expected ':' after '\(NPY.printable(key.utf8))'") }
            skipWhitespace()
            switch key {
            case "descr" where descr == nil: descr = try parseDescr()
            case "fortran_order" where fortranOrder == nil: fortranOrder = try parseBool()
            case "shape" where shape == nil: shape = try parseShape()
            case "descr", "fortran_order", "shape":
                position = keyStart
                throw fail("'\(key)' appears twice")
            default:
                position = keyStart
                throw fail("unexpected key '\(NPY.printable(key.utf8))'; the keys are 'descr', 'fortran_order' and 'shape'")
            }
            skipWhitespace()
            if consume(",") { continue }
            if consume("}") { break }
            throw fail("expected ',' or '}'")
        }
        skipWhitespace()
        guard position == text.count else { throw fail("unexpected text after the dictionary") }
        guard let descr else { throw missing("descr") }
        guard let fortranOrder else { throw missing("fortran_order") }
        guard let shape else { throw missing("shape") }
        return Entries(descr: descr, fortranOrder: fortranOrder, shape: shape)
    }

    // MARK: Values

    private mutating func parseDescr() throws(ArrayQueueError) -> String {
        if current == UInt8(ascii: "[") {
            // A list of fields: a structured dtype. Name it in the error, but do not parse it.
            let start = position
            try skipBracketed()
            let descr = NPY.printable(text[start..<position])
            throw ArrayQueueError(.unsupportedDType, "structured dtype \(descr) is not supported; ArrayQueues reads arrays of one numeric dtype")
        }
        guard current == UInt8(ascii: "'") || current == UInt8(ascii: "\"") else {
            throw fail("'descr' must be a string such as '<f4'")
        }
        return try parseString()
    }

    private mutating func parseBool() throws(ArrayQueueError) -> Bool {
        if consumeWord("True") { return true }
        if consumeWord("False") { return false }
        throw fail("'fortran_order' must be True or False")
    }

    private mutating func parseShape() throws(ArrayQueueError) -> [Int] {
        guard consume("(") else { throw fail("'shape' must be a tuple of integers such as (2, 3)") }
        var shape: [Int] = []
        skipWhitespace()
        if consume(")") { return shape }
        while true {
            guard shape.count < Shape.maxDimensions else {
                throw ArrayQueueError(.invalidShape, "the .npy header's shape has more than \(Shape.maxDimensions) dimensions; at most \(Shape.maxDimensions) are supported")
            }
            shape.append(try parseExtent())
            skipWhitespace()
            if consume(",") {
                skipWhitespace()
                if consume(")") { return shape }
            } else if consume(")") {
                // Without a comma, Python reads `(5)` as the integer 5, which numpy rejects too.
                guard shape.count > 1 else { throw fail("'shape' must be a tuple; a one-dimensional shape is written (\(shape[0]),)") }
                return shape
            } else {
                throw fail("expected ',' or ')' in 'shape'")
            }
        }
    }

    /// A Python integer literal that is a valid extent: decimal, no leading zeros, not negative.
    private mutating func parseExtent() throws(ArrayQueueError) -> Int {
        let start = position
        let negative = consume("-")
        if !negative { _ = consume("+") }
        guard let first = current, isDigit(first) else { throw fail("expected an integer in 'shape'") }
        let digitsStart = position
        var value = 0
        var overflow = false
        while let digit = current, isDigit(digit) {
            let (product, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = product.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            overflow = overflow || overflow1 || overflow2
            value = sum
            position += 1
        }
        if first == UInt8(ascii: "0"), position - digitsStart > 1 { throw fail("Python integers have no leading zeros") }
        if acceptsLongSuffix, current == UInt8(ascii: "L") || current == UInt8(ascii: "l") { position += 1 }
        if let next = current, isWordByte(next) || next == UInt8(ascii: ".") {
            throw fail("expected an integer in 'shape'")
        }
        let literal = NPY.printable(text[start..<position])
        guard !overflow else {
            throw ArrayQueueError(.invalidShape, "the .npy header's shape has an extent of \(literal), which is too large")
        }
        guard !negative || value == 0 else {
            throw ArrayQueueError(.invalidShape, "the .npy header's shape has a negative extent, \(literal)")
        }
        return value
    }

    /// A quoted string without escapes (no `descr` or key needs them).
    private mutating func parseString() throws(ArrayQueueError) -> String {
        guard let quote = current, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
            throw fail("expected a quoted string")
        }
        let start = position + 1
        position = start
        while true {
            guard let byte = current, byte != UInt8(ascii: "\n"), byte != UInt8(ascii: "\r") else {
                position = start - 1
                throw fail("unterminated string")
            }
            if byte == quote { break }
            if byte == UInt8(ascii: "\\") { throw fail("escapes in strings are not supported") }
            position += 1
        }
        let content = UnsafeRawBufferPointer(rebasing: text[start..<position])
        position += 1
        if isUTF8 {
            guard let string = String(validating: content, as: UTF8.self) else { throw fail("the string is not valid UTF-8") }
            return string
        }
        var string = String.UnicodeScalarView()
        for byte in content { string.append(Unicode.Scalar(byte)) } // Latin-1 is the first 256 code points
        return String(string)
    }

    /// Skips a bracketed value, nested at most a few levels, with strings in it.
    private mutating func skipBracketed() throws(ArrayQueueError) {
        var closers: [UInt8] = []
        repeat {
            guard let byte = current else { throw fail("unterminated '['") }
            switch byte {
            case UInt8(ascii: "["), UInt8(ascii: "("), UInt8(ascii: "{"):
                guard closers.count < 16 else { throw fail("'descr' is nested too deeply") }
                closers.append(byte == UInt8(ascii: "[") ? UInt8(ascii: "]") : byte == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "}"))
                position += 1
            case UInt8(ascii: "]"), UInt8(ascii: ")"), UInt8(ascii: "}"):
                guard byte == closers.last else { throw fail("unbalanced brackets") }
                closers.removeLast()
                position += 1
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                _ = try parseString()
            default:
                position += 1
            }
        } while !closers.isEmpty
    }

    // MARK: Bytes

    /// The byte at ``position``, or nil at the end. Every read of `text` checks its index first.
    private var current: UInt8? {
        position >= 0 && position < text.count ? text[position] : nil
    }

    private mutating func consume(_ character: Unicode.Scalar) -> Bool {
        guard current == UInt8(ascii: character) else { return false }
        position += 1
        return true
    }

    /// Consumes `word` if it is next and not the start of a longer name.
    private mutating func consumeWord(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard position <= text.count - count else { return false }
        let matches = word.withUTF8Buffer { expected in
            expected.elementsEqual(text[position..<(position + count)])
        }
        guard matches else { return false }
        let end = position + count
        if end < text.count, isWordByte(text[end]) { return false }
        position = end
        return true
    }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C {
            position += 1
        }
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private func isWordByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || byte == UInt8(ascii: "_") || byte >= 0x80
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
    }

    // MARK: Errors

    private func fail(_ problem: String) -> ArrayQueueError {
        NPY.invalid("the .npy header is not a valid Python dict literal (\(problem), at byte \(position)): \(quotedText)")
    }

    private func missing(_ key: String) -> ArrayQueueError {
        NPY.invalid("the .npy header has no '\(key)' entry: \(quotedText)")
    }

    /// The header as it would appear in the file, without its padding.
    private var quotedText: String {
        var end = text.count
        while end > 0, text[end - 1] == 0x20 || text[end - 1] == 0x0A { end -= 1 }
        return NPY.printable(text[..<end], limit: 160)
    }
}
