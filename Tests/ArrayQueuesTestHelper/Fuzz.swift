import ArrayQueues
import ArrayQueuesTestSupport
@preconcurrency import Glibc

/// Hostile-segment fuzzing: random bytes written into a live segment, then every operation
/// a reader or a tool performs. Each must return or throw `ArrayQueueError`, quickly.
extension Helper {
    /// The lock's own bytes are left alone: a lock word naming a live thread that never
    /// releases it is indistinguishable from a busy queue (see docs/RELIABILITY.md).
    static let lockBytes = 64..<112

    static func fuzz(name: String, seed: UInt64, iterations: Int) throws {
        let path = "/dev/shm/aq.\(name)"
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { fail("cannot open \(path)") }
        var status = stat()
        fstat(fd, &status)
        let size = Int(status.st_size)
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else { fail("mmap failed") }
        let pristine = [UInt8](UnsafeRawBufferPointer(start: base, count: size))
        var random = SplitMix(seed: seed)
        var outcomes: [String: Int] = [:]
        for _ in 0..<iterations {
            pristine.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: size) }
            // Mostly the header page and the first records, where the structure is.
            for _ in 0..<(1 + Int(random.next() % 8)) {
                var offset = Int(random.next() % UInt64(random.next() % 3 == 0 ? size : min(size, 4096 + 2048)))
                if lockBytes.contains(offset) { offset = lockBytes.upperBound }
                let value = random.next()
                base.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: offset, as: UInt8.self)
                // Sometimes a whole plausible 64-bit value (lengths, cursors, shapes).
                if value % 5 == 0, offset + 8 <= size, !lockBytes.overlaps(offset..<offset + 8) {
                    base.storeBytes(of: value >> 40, toByteOffset: offset & ~7, as: UInt64.self)
                }
            }
            outcomes[exercise(name: name), default: 0] += 1
        }
        print(outcomes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }

    /// Opens the queue and runs every read and write operation once; returns the first error code or "ok".
    private static func exercise(name: String) -> String {
        do throws(ArrayQueueError) {
            let queue = try ArrayQueue.open(name: name, options: QueueOptions(overflow: .fail, spin: .zero))
            _ = try queue.recordSummaries()
            _ = try queue.statistics()
            _ = queue.attachments()
            for _ in 0..<4 { _ = try queue.tryGet() }
            _ = try queue.tryPut(try NDArray<UInt8>(shape: [100], repeating: 1))
            _ = try queue.get(timeout: .zero)
            return "ok"
        } catch {
            return error.code.rawValue
        }
    }
}
