/// The bytes of an array: 64-byte aligned, owned, or adopted from another owner (for example
/// a received network message) together with the closure that releases them.
///
/// Arrays below ``hugePageThreshold`` keep their bytes in the object itself, after its header: one
/// heap allocation for both (a copying `get` of a small record paid one for the object and one
/// for its bytes). Larger ones take huge-page-aligned memory of their own, reused through
/// ``LargeBufferPool``; adopted memory stays where its owner put it.
final class ArrayStorage: ManagedBuffer<ArrayStorage.Header, UInt8> {
    /// Where the bytes are and who frees them (a `ManagedBuffer` keeps its state in its header).
    struct Header {
        let bytes: UnsafeMutableRawPointer
        let byteCount: Int
        let ownership: Ownership
        /// An adopted storage's release closure.
        let release: (@Sendable (UnsafeMutableRawPointer) -> Void)?
    }

    /// Who frees the bytes.
    enum Ownership {
        /// The object itself (its tail): nothing to free.
        case inline
        /// Huge-page memory of this storage's own, given back to ``LargeBufferPool``.
        case pooled
        /// Another owner, whose closure (`release`) runs once, when the last array using them goes away.
        case adopted
    }

    /// Alignment of storage this class allocates: a cache line, and enough for every SIMD load.
    static let alignment = 64

    /// Arrays at least this large are aligned to huge pages and advised to use them.
    static let hugePageThreshold = 4 << 20
    static let hugePageSize = 2 << 20

    // Read through the header's address: a read of `header` copies it whole, closure included
    // (a retain and a release per access, which a profile of `get(into:)` caught).
    var bytes: UnsafeMutableRawPointer { withUnsafeMutablePointerToHeader { $0.pointee.bytes } }
    var byteCount: Int { withUnsafeMutablePointerToHeader { $0.pointee.byteCount } }
    private var ownership: Ownership { withUnsafeMutablePointerToHeader { $0.pointee.ownership } }

    /// Allocates `byteCount` uninitialized bytes.
    static func make(byteCount: Int) -> ArrayStorage {
        if byteCount >= hugePageThreshold {
            let size = alignUp(byteCount, to: hugePageSize)
            let bytes: UnsafeMutableRawPointer
            if let reused = LargeBufferPool.take(size: size) {
                bytes = reused
            } else {
                // A fresh 64 MiB array otherwise costs 16 384 page faults on first write.
                bytes = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: hugePageSize)
                Sys.adviseHugePages(bytes, size: size)
            }
            return make(tail: 0) { _ in Header(bytes: bytes, byteCount: byteCount, ownership: .pooled, release: nil) }
        }
        // At least one byte, so that empty arrays still have a valid, unique pointer; the tail
        // is aligned by hand (its elements are bytes, aligned to 1). The object never moves, so
        // the tail's address stays valid as long as it lives.
        return make(tail: max(byteCount, 1) + alignment - 1) { tail in
            Header(bytes: tail.alignedUp(toMultipleOf: alignment), byteCount: byteCount, ownership: .inline, release: nil)
        }
    }

    /// Adopts memory owned elsewhere; `release` runs once, when the last array using it goes away.
    static func adopting(_ bytes: UnsafeMutableRawPointer, byteCount: Int, release: @escaping @Sendable (UnsafeMutableRawPointer) -> Void) -> ArrayStorage {
        make(tail: 0) { _ in Header(bytes: bytes, byteCount: byteCount, ownership: .adopted, release: release) }
    }

    /// An object with room for `tail` bytes after its header, which `header` makes from the
    /// address of those bytes.
    private static func make(tail: Int, header: (UnsafeMutableRawPointer) -> Header) -> ArrayStorage {
        let buffer = create(minimumCapacity: tail) { buffer in
            header(buffer.withUnsafeMutablePointerToElements { UnsafeMutableRawPointer($0) })
        }
        return unsafeDowncast(buffer, to: ArrayStorage.self)
    }

    /// A new storage holding a copy of `source` (its size).
    static func copying(_ source: UnsafeRawBufferPointer) -> ArrayStorage {
        let storage = make(byteCount: source.count)
        if let start = source.baseAddress, source.count > 0 { storage.bytes.copyMemory(from: start, byteCount: source.count) }
        return storage
    }

    /// A new storage holding a copy of these bytes.
    func copy() -> ArrayStorage { .copying(buffer) }

    /// Whether these bytes were allocated here (not adopted), so that they may be rewritten.
    var ownsBytes: Bool { ownership != .adopted }

    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: bytes, count: byteCount) }

    deinit {
        switch ownership {
        case .inline:
            break
        case .pooled:
            LargeBufferPool.give(bytes, size: alignUp(byteCount, to: Self.hugePageSize))
        case .adopted:
            header.release?(bytes)
        }
    }
}

/// An ``ArrayStorage`` as arrays hold it. Safe to share: arrays only write to a storage they
/// reference uniquely (copy-on-write in `AnyNDArray` and `NDArray`), so a storage visible to several
/// threads is never written, and an adopted storage's release closure is Sendable.
struct SharedStorage: @unchecked Sendable {
    var storage: ArrayStorage
}
