public import ArrayQueues

/// Payloads derived from a seed, so that any process can check a record it did not write.
public enum Pattern {
    /// Fills `bytes` with a pseudo-random sequence determined by `seed` (xorshift64*).
    public static func fill(_ bytes: UnsafeMutableRawBufferPointer, seed: UInt64) {
        var state = seed | 1
        var offset = 0
        while offset + 8 <= bytes.count {
            bytes.storeBytes(of: next(&state), toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        let last = next(&state)
        for index in offset..<bytes.count { bytes[index] = UInt8(truncatingIfNeeded: last >> ((index - offset) * 8)) }
    }

    /// Whether `bytes` hold exactly what `fill` writes for `seed`.
    public static func verify(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> Bool {
        var state = seed | 1
        var offset = 0
        while offset + 8 <= bytes.count {
            if bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != next(&state) { return false }
            offset += 8
        }
        let last = next(&state)
        for index in offset..<bytes.count where bytes[index] != UInt8(truncatingIfNeeded: last >> ((index - offset) * 8)) {
            return false
        }
        return true
    }

    /// An array of `dtype` and `shape` filled for `seed`.
    public static func array(dtype: DType, shape: [Int], seed: UInt64) throws -> AnyNDArray {
        try AnyNDArray(dtype: dtype, shape: shape) { (bytes: UnsafeMutableRawBufferPointer) throws(Never) in fill(bytes, seed: seed) }
    }

    /// The index a producer gives its `counter`-th record: producer in the high 32 bits.
    public static func index(producer: Int, counter: Int) -> Int64 {
        Int64(producer) << 32 | Int64(counter)
    }

    /// The shape of a producer's `counter`-th record when shapes vary (they cycle through 1-3 dimensions).
    public static func varyingShape(counter: Int, elements: Int) -> [Int] {
        switch counter % 3 {
        case 0: [elements]
        case 1: [2, elements / 2 + counter % 5]
        default: [1, 3, elements / 3 + counter % 7]
        }
    }

    private static func next(_ state: inout UInt64) -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}
