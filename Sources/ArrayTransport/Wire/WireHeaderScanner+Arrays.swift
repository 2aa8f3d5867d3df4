import ArrayQueues

extension WireHeaderScanner {
    /// The keys of an `arrays` entry the scanner knows, as bits of a set.
    private enum EntryKey: UInt8 {
        case name = 1, dtype = 2, shape = 4, nbytes = 8, order = 16, codec = 32

        static let required: UInt8 = EntryKey.name.rawValue | EntryKey.dtype.rawValue | EntryKey.shape.rawValue | EntryKey.nbytes.rawValue
    }

    /// Reads the `arrays` list; a list longer than `maximumArrays` is left to the generic path.
    mutating func arrayList(maximumArrays: Int) throws(GiveUp) -> [WireHeader.WireArray] {
        try expect(UInt8(ascii: "["))
        skipSpace()
        var arrays: [WireHeader.WireArray] = []
        if parser.peek() == UInt8(ascii: "]") {
            parser.position += 1
            return arrays
        }
        repeat {
            guard arrays.count < maximumArrays else { throw GiveUp() }
            skipSpace()
            arrays.append(try entry())
        } while try nextMember(closing: UInt8(ascii: "]"))
        return arrays
    }

    /// Reads one entry of `arrays` and checks it: a supported dtype, at most 32 non-negative
    /// extents, and `nbytes` equal to product(shape) × item size without overflow.
    private mutating func entry() throws(GiveUp) -> WireHeader.WireArray {
        var seen: UInt8 = 0
        var unknownKeys: Set<String> = []
        var name = ""
        var dtype = DType.uint8
        var shape: [Int] = []
        var byteCount: Int64 = 0
        try expect(UInt8(ascii: "{"))
        repeat {
            skipSpace()
            let keyName = try string()
            skipSpace()
            try expect(UInt8(ascii: ":"))
            skipSpace()
            guard let key = keyName.withBytes(Self.entryKey) else {
                try skipUnknown(keyName, seen: &unknownKeys, depth: 3)
                continue
            }
            guard seen & key.rawValue == 0 else { throw GiveUp() }
            seen |= key.rawValue
            switch key {
            case .name: name = try text(try string())
            case .dtype:
                guard let known = try string().withBytes(Self.dtype) else { throw GiveUp() }
                dtype = known
            case .shape: shape = try extents()
            case .nbytes: byteCount = try integer()
            case .order: guard try string().withBytes({ Self.matches($0, "C") }) else { throw GiveUp() }
            case .codec: guard try string().withBytes({ Self.matches($0, "raw") }) else { throw GiveUp() }
            }
        } while try nextMember(closing: UInt8(ascii: "}"))
        guard seen & EntryKey.required == EntryKey.required else { throw GiveUp() }

        // Item size first: a prefix that overflows here may not overflow in `Shape.byteCount`
        // (when a later extent is 0), but then the scanner only gives up, never accepts more.
        var expected = dtype.itemSize
        for extent in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw GiveUp() }
            expected = product
        }
        guard byteCount == expected else { throw GiveUp() }
        return WireHeader.WireArray(name: name, dtype: dtype, shape: shape, byteCount: expected)
    }

    /// Reads `shape`: at most ``Shape/maxDimensions`` non-negative integers.
    private mutating func extents() throws(GiveUp) -> [Int] {
        try expect(UInt8(ascii: "["))
        skipSpace()
        var shape: [Int] = []
        if parser.peek() == UInt8(ascii: "]") {
            parser.position += 1
            return shape
        }
        repeat {
            guard shape.count < Shape.maxDimensions else { throw GiveUp() }
            skipSpace()
            let extent = try integer()
            guard extent >= 0 else { throw GiveUp() }
            shape.append(Int(extent))
        } while try nextMember(closing: UInt8(ascii: "]"))
        return shape
    }

    private static func entryKey(_ bytes: UnsafeRawBufferPointer) -> EntryKey? {
        switch (bytes.count, word(bytes)) {
        case (4, EntryWord.name): .name
        case (5, EntryWord.dtype): .dtype
        case (5, EntryWord.shape): .shape
        case (6, EntryWord.nbytes): .nbytes
        case (5, EntryWord.order): .order
        case (5, EntryWord.codec): .codec
        default: nil
        }
    }

    /// The keys of an entry as ``word(_:)``s, written out (a test checks them).
    enum EntryWord {
        static let name: UInt64 = 0x656d_616e
        static let dtype: UInt64 = 0x65_7079_7464
        static let shape: UInt64 = 0x65_7061_6873
        static let nbytes: UInt64 = 0x7365_7479_626e
        static let order: UInt64 = 0x72_6564_726f
        static let codec: UInt64 = 0x63_6564_6f63
    }

    /// A dtype as `DType(typestr:)` reads it: an optional `<`, `=` or `|`, then a kind and an
    /// item size. Other spellings are left to the generic path.
    static func dtype(_ bytes: UnsafeRawBufferPointer) -> DType? {
        var start = 0
        if let order = bytes.first, order == UInt8(ascii: "<") || order == UInt8(ascii: "=") || order == UInt8(ascii: "|") {
            start = 1
        }
        let code = UnsafeRawBufferPointer(rebasing: bytes[start...])
        guard code.count == 2 || code.count == 3 else { return nil }
        let kind = code[0]
        var size = Int(code[1] &- UInt8(ascii: "0"))
        if code.count == 3 {
            guard size == 1, code[2] == UInt8(ascii: "6") else { return nil }
            size = 16
        }
        switch (kind, size) {
        case (UInt8(ascii: "b"), 1): return .bool
        case (UInt8(ascii: "i"), 1): return .int8
        case (UInt8(ascii: "u"), 1): return .uint8
        case (UInt8(ascii: "i"), 2): return .int16
        case (UInt8(ascii: "u"), 2): return .uint16
        case (UInt8(ascii: "f"), 2): return .float16
        case (UInt8(ascii: "i"), 4): return .int32
        case (UInt8(ascii: "u"), 4): return .uint32
        case (UInt8(ascii: "f"), 4): return .float32
        case (UInt8(ascii: "i"), 8): return .int64
        case (UInt8(ascii: "u"), 8): return .uint64
        case (UInt8(ascii: "f"), 8): return .float64
        case (UInt8(ascii: "c"), 8): return .complex64
        case (UInt8(ascii: "c"), 16): return .complex128
        default: return nil
        }
    }
}
