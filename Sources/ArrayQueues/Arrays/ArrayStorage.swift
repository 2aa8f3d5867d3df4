/// The bytes of an array: 64-byte aligned, owned, or adopted from another owner (for example
/// a received network message) together with the closure that releases them.
final class ArrayStorage {
    /// Alignment of storage this class allocates: a cache line, and enough for every SIMD load.
    static let alignment = 64

    let bytes: UnsafeMutableRawPointer
    let byteCount: Int
    private let release: (@Sendable (UnsafeMutableRawPointer) -> Void)?

    /// Arrays at least this large are aligned to huge pages and advised to use them.
    static let hugePageThreshold = 4 << 20
    static let hugePageSize = 2 << 20

    /// Allocates `byteCount` uninitialized bytes.
    init(byteCount: Int) {
        if byteCount >= Self.hugePageThreshold {
            let size = alignUp(byteCount, to: Self.hugePageSize)
            if let reused = LargeBufferPool.take(size: size) {
                self.bytes = reused
            } else {
                // A fresh 64 MiB array otherwise costs 16 384 page faults on first write.
                self.bytes = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: Self.hugePageSize)
                Sys.adviseHugePages(bytes, size: size)
            }
        } else {
            // Allocate at least one byte so that empty arrays still have a valid, unique pointer.
            self.bytes = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: Self.alignment)
        }
        self.byteCount = byteCount
        self.release = nil
    }

    /// Adopts memory owned elsewhere; `release` runs once, when the last array using it goes away.
    init(adopting bytes: UnsafeMutableRawPointer, byteCount: Int, release: @escaping @Sendable (UnsafeMutableRawPointer) -> Void) {
        self.bytes = bytes
        self.byteCount = byteCount
        self.release = release
    }

    /// A new storage holding a copy of these bytes.
    func copy() -> ArrayStorage {
        let clone = ArrayStorage(byteCount: byteCount)
        clone.bytes.copyMemory(from: bytes, byteCount: byteCount)
        return clone
    }

    /// Whether these bytes were allocated here (not adopted), so that they may be rewritten.
    var ownsBytes: Bool { release == nil }

    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: bytes, count: byteCount) }

    deinit {
        if let release {
            release(bytes)
        } else if byteCount >= Self.hugePageThreshold {
            LargeBufferPool.give(bytes, size: alignUp(byteCount, to: Self.hugePageSize))
        } else {
            bytes.deallocate()
        }
    }
}

// Safe to share: arrays only write to a storage they reference uniquely (copy-on-write in
// `NDArray`), so a storage visible to several threads is never written; `release` is Sendable.
extension ArrayStorage: @unchecked Sendable {}
