/// Demo frames that carry their own checksum, so the consumer can prove each one arrived
/// intact without knowing how it was made: the last 8 bytes hold a hash of all the others.
///
/// Shared by `aq demo` and `aq-relay demo`, so their frames are interchangeable;
/// deploy/two-hosts-subscriber.py checks the same formulas in Python.
public enum Frames {
    /// Writes frame `number`'s content and checksum into `bytes` (a multiple of 8 bytes, at least 16).
    public static func fill(_ bytes: UnsafeMutableRawBufferPointer, number: Int) {
        let words = bytes.bindMemory(to: UInt64.self)
        let seed = seed(number)
        // A cheap, vectorizable pattern that differs in every word and every frame.
        for index in 0..<(words.count - 1) {
            words[index] = (UInt64(index) &* 0x9E37_79B9_7F4A_7C15) ^ seed
        }
        words[words.count - 1] = checksum(UnsafeBufferPointer(rebasing: words.dropLast()))
    }

    /// Whether `bytes` hold a frame whose checksum matches its content.
    public static func verify(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 16, bytes.count % 8 == 0 else { return false }
        let words = bytes.bindMemory(to: UInt64.self)
        return words[words.count - 1] == checksum(UnsafeBufferPointer(rebasing: words.dropLast()))
    }

    /// Whether `bytes` hold exactly frame `number` (content and checksum).
    public static func verify(_ bytes: UnsafeRawBufferPointer, number: Int) -> Bool {
        guard verify(bytes) else { return false }
        let words = bytes.bindMemory(to: UInt64.self)
        return words[0] == seed(number) && (words.count < 3 || words[1] == 0x9E37_79B9_7F4A_7C15 ^ seed(number))
    }

    private static func seed(_ number: Int) -> UInt64 {
        UInt64(truncatingIfNeeded: number) &* 0xD1B5_4A32_D192_ED03
    }

    /// A 64-bit multiply-xor hash over four independent lanes (fast enough not to be the bottleneck).
    public static func checksum(_ words: UnsafeBufferPointer<UInt64>) -> UInt64 {
        let prime: UInt64 = 0x100_0000_01B3
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (1, 2, 3, 4)
        var index = 0
        while index + 4 <= words.count {
            lanes.0 = (lanes.0 ^ words[index]) &* prime
            lanes.1 = (lanes.1 ^ words[index + 1]) &* prime
            lanes.2 = (lanes.2 ^ words[index + 2]) &* prime
            lanes.3 = (lanes.3 ^ words[index + 3]) &* prime
            index += 4
        }
        while index < words.count {
            lanes.0 = (lanes.0 ^ words[index]) &* prime
            index += 1
        }
        return (lanes.0 &* 31 &+ lanes.1) &* 31 &+ (lanes.2 &* 31 &+ lanes.3) ^ UInt64(words.count)
    }
}
