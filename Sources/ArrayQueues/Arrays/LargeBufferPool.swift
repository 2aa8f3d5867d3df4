import Synchronization

/// Freed storage of large arrays, kept for reuse.
///
/// A fresh multi-megabyte allocation comes from the kernel as new pages that it must zero and
/// fault in before the first copy; a copying `get()` of 8 MiB frames would pay that on every
/// frame. Streams reuse the same few sizes, so keeping a few freed buffers makes copy-out run at
/// copy speed. The pool is bounded: at most ``maximumBuffers`` buffers and ``maximumBytes`` bytes.
enum LargeBufferPool {
    static let maximumBuffers = 8
    static let maximumBytes = 256 << 20

    fileprivate struct Buffer {
        let pointer: UnsafeMutableRawPointer
        let size: Int
    }

    private struct Pool: Sendable {
        var buffers: [Buffer] = []
        var bytes = 0
    }

    private static let pool = Mutex(Pool())

    /// A pooled buffer of exactly `size` bytes, if one is free.
    static func take(size: Int) -> UnsafeMutableRawPointer? {
        pool.withLock { pool in
            guard let index = pool.buffers.lastIndex(where: { $0.size == size }) else { return nil }
            pool.bytes -= size
            return pool.buffers.remove(at: index).pointer
        }
    }

    /// Keeps `pointer` for reuse if the pool has room; otherwise frees it.
    static func give(_ pointer: UnsafeMutableRawPointer, size: Int) {
        let kept = pool.withLock { pool in
            guard pool.buffers.count < maximumBuffers, pool.bytes + size <= maximumBytes else { return false }
            pool.buffers.append(Buffer(pointer: pointer, size: size))
            pool.bytes += size
            return true
        }
        if !kept { pointer.deallocate() }
    }
}

// Safe to share: a pooled buffer belongs to no array; the pool hands each one to a single taker.
extension LargeBufferPool.Buffer: @unchecked Sendable {}
