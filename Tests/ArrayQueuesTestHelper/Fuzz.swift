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
            // Half the time, also a hostile edge value where it hurts most.
            if random.next() % 2 == 0 { writeEdgeValue(base, size: size, random: &random) }
            outcomes[exercise(name: name), default: 0] += 1
        }
        print(outcomes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }

    /// 64-aligned values near Int.max and UInt64.max, and values just past the capacity limit:
    /// what overflows `a + b` checks that are not written with care.
    static let edgeValues: [UInt64] = [
        0x7FFF_FFFF_FFFF_F000, 0x7FFF_FFFF_FFFF_FFC0, UInt64(Int.max), 0x8000_0000_0000_0000, 0x8000_0000_0000_0040,
        0xFFFF_FFFF_FFFF_F000, 0xFFFF_FFFF_FFFF_FFC0, UInt64.max, UInt64.max - 63, 1 << 40, (1 << 40) + 4096, 1 << 62, 1 << 63 - 64,
    ]

    /// Header fields and record fields (relative to a record start) worth a u64 edge value.
    /// The broadcast part: its counters, then cursor, lost and the staged skip of subscriber slots 0 and 1.
    static let headerFields = [16, 24, 32, 112, 120, 128, 136, 144, 152, 160, 168, 176, 184, 192, 200, 208, 256, 320, 520,
                               1536, 2048 + 24, 2048 + 40, 2048 + 48, 2048 + 56, 2112 + 24, 2112 + 48]
    static let recordFields = [8, 16, 24, 32, 40, 64, 72]

    /// Writes one hostile value: a field set to an edge value, the capacity and segment size
    /// made consistent with each other at an edge, or all three cursors at one edge value (a
    /// ring that looks empty and valid, 2^64 − a few bytes along).
    static func writeEdgeValue(_ base: UnsafeMutableRawPointer, size: Int, random: inout SplitMix) {
        let value = edgeValues[Int(random.next() % UInt64(edgeValues.count))]
        switch random.next() % 4 {
        case 0:
            base.storeBytes(of: value, toByteOffset: headerFields[Int(random.next() % UInt64(headerFields.count))], as: UInt64.self)
        case 1:
            base.storeBytes(of: value, toByteOffset: 16, as: UInt64.self)
            base.storeBytes(of: value &+ 4096, toByteOffset: 24, as: UInt64.self)
        case 2:
            let cursor = value & ~63
            for offset in [112, 120, 128] { base.storeBytes(of: cursor, toByteOffset: offset, as: UInt64.self) }
        default:
            // A record header in the first few KiB of the ring (records start 64-aligned).
            let record = 4096 + 64 * Int(random.next() % UInt64(min(64, (size - 4096) / 64 - 2)))
            base.storeBytes(of: value, toByteOffset: record + recordFields[Int(random.next() % UInt64(recordFields.count))], as: UInt64.self)
        }
    }

    /// Opens the queue and runs every read and write operation once, and everything `aq ls`
    /// and `aq inspect` read; returns the first error code or "ok".
    static func exercise(name: String) -> String {
        do throws(ArrayQueueError) {
            let queue = try ArrayQueue.open(name: name, options: QueueOptions(overflow: .fail, spin: .zero))
            let info = queue.info
            _ = "\(info.name) \(info.capacity) \(info.segmentSize) \(info.created) \(info.creatorPID) \(ByteCount.format(info.capacity))"
            for record in try queue.recordSummaries() {
                _ = "\(record.timestamp) \(record.shape) \(ByteCount.format(record.byteCount)) \(String(describing: record.ownerPID))"
            }
            let statistics = try queue.statistics()
            _ = "\(ByteCount.format(statistics.bytesUsed)) \(statistics.count) \(statistics.puts) \(statistics.nextSequence)"
            _ = queue.attachments().map { "\($0.pid) \($0.isAlive)" }
            _ = queue.count
            _ = queue.bytesUsed
            if queue.isBroadcast { return try exerciseBroadcast(queue) }
            for _ in 0..<4 { _ = try queue.tryGet() }
            _ = try queue.tryPut(try NDArray<UInt8>(shape: [100], repeating: 1))
            _ = try queue.get(timeout: .zero)
            return "ok"
        } catch {
            return error.code.rawValue
        }
    }

    /// What `exercise` does on a broadcast queue: the table as `aq inspect` reads it, a
    /// subscriber of each policy reading, a put that may skip or wait, clear and the sweep.
    private static func exerciseBroadcast(_ queue: ArrayQueue) throws(ArrayQueueError) -> String {
        let state = try queue.broadcastState()
        _ = state.subscribers.map { "\($0.pid) \($0.delivered) \($0.lost) \($0.pending) \($0.isAlive)" }
        let viewer = try queue.subscribe(policy: .drop, start: .oldest)
        let recorder = try queue.subscribe(policy: .block, start: .newest)
        for _ in 0..<4 {
            _ = try viewer.tryGet()
            _ = try recorder.tryGet()
        }
        _ = try queue.tryPut(try NDArray<UInt8>(shape: [100], repeating: 1))
        _ = try viewer.get(timeout: .zero)
        _ = try queue.clear()
        try queue.recoverFromDeadPeers()
        viewer.detach()
        recorder.detach()
        return "ok"
    }
}
