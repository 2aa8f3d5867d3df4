import ArrayQueues
import ArrayQueuesTestSupport
@preconcurrency import Glibc

/// Hostile-segment fuzzing: random bytes written into a live segment, then every operation
/// a reader or a tool performs. Each must return or throw `ArrayQueueError`, quickly.
extension Helper {
    /// The lock's own bytes are left alone: a lock word naming a live thread that never
    /// releases it is indistinguishable from a busy queue (see docs/RELIABILITY.md).
    static let lockBytes = SegmentLayout.lockBytes
    /// Offsets below come from `CArrayQueuesShims.h`.
    private typealias L = SegmentLayout

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
            // Mostly the header page and the first records (2 KiB of them), where the structure is.
            for _ in 0..<(1 + Int(random.next() % 8)) {
                var offset = Int(random.next() % UInt64(random.next() % 3 == 0 ? size : min(size, L.headerSize + 2048)))
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

    /// Header fields and record fields (relative to a record start) worth a u64 edge value:
    /// the sizes, cursors and counters; the two wake-up words (with their watcher counts); the
    /// first attached process's start time; the broadcast part: its first counter, then cursor,
    /// lost and the staged skip of subscriber slot 0, and cursor and skip cursor of slot 1.
    static let headerFields = [
        L.header(\.capacity), L.header(\.segment_size), L.header(\.created_ns), L.header(\.read), L.header(\.tail), L.header(\.head),
        L.header(\.next_seq), L.header(\.shape_signature), L.header(\.puts), L.header(\.drops), L.header(\.resets), L.header(\.clears),
        L.header(\.abandoned_writes), L.header(\.gets), L.header(\.lost_reads), L.header(\.last_recovery_ns),
        L.header(\.data_signal), L.header(\.space_signal), L.attachment(0, \.start_time),
        L.header(\.subscribers_joined), L.subscriber(0, \.cursor), L.subscriber(0, \.lost), L.subscriber(0, \.skip_cursor),
        L.subscriber(0, \.skip_lost), L.subscriber(1, \.cursor), L.subscriber(1, \.skip_cursor),
    ]
    /// Length, sequence number, timestamp, index, payload size and the first two extents.
    static let recordFields = [L.record(\.length), L.record(\.seq), L.record(\.timestamp_ns), L.record(\.index), L.record(\.payload_bytes), L.extent(0), L.extent(1)]

    /// Writes one hostile value: a field set to an edge value, the capacity and segment size
    /// made consistent with each other at an edge, or all three cursors at one edge value (a
    /// ring that looks empty and valid, 2^64 − a few bytes along).
    static func writeEdgeValue(_ base: UnsafeMutableRawPointer, size: Int, random: inout SplitMix) {
        let value = edgeValues[Int(random.next() % UInt64(edgeValues.count))]
        switch random.next() % 4 {
        case 0:
            base.storeBytes(of: value, toByteOffset: headerFields[Int(random.next() % UInt64(headerFields.count))], as: UInt64.self)
        case 1:
            base.storeBytes(of: value, toByteOffset: L.header(\.capacity), as: UInt64.self)
            base.storeBytes(of: value &+ UInt64(L.headerSize), toByteOffset: L.header(\.segment_size), as: UInt64.self)
        case 2:
            let cursor = value & ~UInt64(L.alignment - 1)
            for offset in [L.header(\.read), L.header(\.tail), L.header(\.head)] { base.storeBytes(of: cursor, toByteOffset: offset, as: UInt64.self) }
        default:
            // A record header among the first 64 places of the ring (records start aligned).
            let places = min(64, (size - L.headerSize) / L.alignment - 2)
            let record = L.headerSize + L.alignment * Int(random.next() % UInt64(places))
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
