import ArrayQueues
import ArrayQueuesTestSupport
import CArrayQueuesShims
import Foundation
import Glibc
import Testing

/// Segments crafted with the values that used to trap (issue 12, finding 1): every reader
/// gets a typed error or a working queue, never a crash, and the lock is never left owner-dead.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct HostileSegmentTests {
    /// A little-endian value written at an offset of the segment.
    struct Write {
        let offset: Int
        let bytes: [UInt8]

        static func u64(_ offset: Int, _ value: UInt64) -> Write { Write(offset: offset, bytes: withUnsafeBytes(of: value.littleEndian) { Array($0) }) }
        static func u32(_ offset: Int, _ value: UInt32) -> Write { Write(offset: offset, bytes: withUnsafeBytes(of: value.littleEndian) { Array($0) }) }
    }

    /// (description, writes), with offsets from `CArrayQueuesShims.h` (``SegmentLayout``).
    static let crafted: [(String, [Write])] = {
        typealias L = SegmentLayout
        let page = UInt64(L.headerSize)
        /// The broadcast flag, as a queue of no creator (pid 0) carries it.
        func flags(_ value: UInt32) -> [Write] { [.u32(L.header(\.creator_pid), 0), .u32(L.header(\.flags), value)] }
        /// Subscriber `slot` taken (state, policy) by pid `pid` of no pid namespace.
        func subscriber(_ slot: Int, state: UInt32, policy: UInt32, pid: UInt32) -> [Write] {
            [.u32(L.subscriber(slot, \.state), state), .u32(L.subscriber(slot, \.policy), policy),
             .u32(L.subscriber(slot, \.pid), pid), .u32(L.subscriber(slot, \.pid_ns), 0)]
        }
        func cursors(_ value: UInt64) -> [Write] { [\caq_segment_header.read, \.tail, \.head].map { .u64(L.header($0), value) } }
        let broadcast = flags(CAQ_FLAG_BROADCAST)
        let lastSlot = Int(CAQ_MAX_SUBSCRIBERS) - 1
        return [
            ("capacity 0x7FFFFFFFFFFFF000 with a matching segment size", [.u64(L.header(\.capacity), 0x7FFF_FFFF_FFFF_F000), .u64(L.header(\.segment_size), 0x8000_0000_0000_0000)]),
            ("capacity 0x7FFFFFFFFFFFF000 alone", [.u64(L.header(\.capacity), 0x7FFF_FFFF_FFFF_F000)]),
            ("capacity UInt64.max − 63", [.u64(L.header(\.capacity), UInt64.max - 63), .u64(L.header(\.segment_size), UInt64.max - 63 &+ page)]),
            ("capacity 2^40 + a page, just over the limit", [.u64(L.header(\.capacity), (1 << 40) + page), .u64(L.header(\.segment_size), (1 << 40) + 2 * page)]),
            ("cursors at 2^64 − 64 (an empty ring at the end of the number line)", cursors(UInt64.max - 63)),
            ("cursors at Int.max rounded to 64", cursors(0x7FFF_FFFF_FFFF_FFC0)),
            ("tail near 2^64, head and read 0", [.u64(L.header(\.tail), 0xFFFF_FFFF_FFFF_FFC0)]),
            ("last_recovery_ns = Int64.min", [.u64(L.header(\.last_recovery_ns), 0x8000_0000_0000_0000)]),
            ("first record length UInt64.max − 63", [.u64(L.firstRecord(\.length), UInt64.max - 63)]),
            ("first record payload size 2^63", [.u64(L.firstRecord(\.payload_bytes), 0x8000_0000_0000_0000)]),
            ("first record payload size −64", [.u64(L.firstRecord(\.payload_bytes), UInt64.max - 63)]),
            ("first record timestamp Int64.min", [.u64(L.firstRecord(\.timestamp_ns), 0x8000_0000_0000_0000)]),
            ("first record shape 2^62 × …", [.u64(L.headerSize + L.extent(0), 1 << 62)]),
            ("counters at UInt64.max", [.u64(L.header(\.next_seq), UInt64.max), .u64(L.header(\.puts), UInt64.max), .u64(L.header(\.gets), UInt64.max)]),
            ("broadcast, subscriber 0 of no process with cursor 2^64 − 64",
             broadcast + subscriber(0, state: CAQ_SUBSCRIBER_IDLE, policy: CAQ_POLICY_BLOCK, pid: 0x3FFF_FFF0) + [.u64(L.subscriber(0, \.cursor), UInt64.max - 63)]),
            ("broadcast, subscriber 0 reading at cursor Int.max rounded to 64, policy garbage",
             broadcast + subscriber(0, state: CAQ_SUBSCRIBER_BORROWING, policy: 0xDEAD, pid: 1) + [.u64(L.subscriber(0, \.cursor), 0x7FFF_FFFF_FFFF_FFC0)]),
            ("broadcast, a staged skip to 2^63 with lost UInt64.max",
             broadcast + subscriber(0, state: CAQ_SUBSCRIBER_IDLE, policy: CAQ_POLICY_DROP, pid: 1)
                + [.u64(L.subscriber(0, \.skip_cursor), 1 << 63), .u64(L.subscriber(0, \.skip_lost), UInt64.max)]),
            ("broadcast, a staged skip to 64 past the tail, counters at UInt64.max",
             broadcast + subscriber(0, state: CAQ_SUBSCRIBER_IDLE, policy: CAQ_POLICY_DROP, pid: 1)
                + [.u64(L.subscriber(0, \.delivered), UInt64.max), .u64(L.subscriber(0, \.lost), UInt64.max),
                   .u64(L.subscriber(0, \.skip_cursor), 1 << 20), .u64(L.header(\.subscribers_joined), UInt64.max)]),
            ("broadcast, subscriber 31 unaligned cursor 63",
             broadcast + subscriber(lastSlot, state: CAQ_SUBSCRIBER_IDLE, policy: CAQ_POLICY_BLOCK, pid: 1) + [.u64(L.subscriber(lastSlot, \.cursor), 63)]),
            ("flags with every bit set (broadcast and reset both)", flags(0xFFFF_FFFF)),
        ]
    }()

    @Test("every crafted segment: open, inspect, statistics, get and put each return or throw a typed error, and the lock stays usable", arguments: 0..<crafted.count)
    func craftedSegment(index: Int) throws {
        let (label, writes) = Self.crafted[index]
        let name = uniqueQueueName("hostile")
        defer { try? ArrayQueue.remove(name: name) }
        do {
            let queue = try ArrayQueue.create(name: name, capacity: 64 << 10)
            for counter in 0..<3 { try queue.put(try NDArray<UInt8>(shape: [100], repeating: UInt8(counter)), index: Int64(counter)) }
        }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: "/dev/shm/aq.\(name)"))
        for write in writes {
            try handle.seek(toOffset: UInt64(write.offset))
            handle.write(Data(write.bytes))
        }
        try handle.close()
        // Twice: the second run would crash too if the first left the lock owner-dead by a trap.
        for _ in 0..<2 {
            let run = try runProcess(HelperProcess.executable.path, ["exercise", name], timeout: 60)
            #expect(run.status == 0, "\(label): the reader crashed (status \(run.status)): \(run.errors)")
            print("crafted segment, \(label): \(run.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
