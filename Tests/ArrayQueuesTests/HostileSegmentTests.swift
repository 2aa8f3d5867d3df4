import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// Segments crafted with the values that used to trap (issue 12, finding 1): every reader
/// gets a typed error or a working queue, never a crash, and the lock is never left owner-dead.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct HostileSegmentTests {
    /// (description, [(offset, u64 value)]): header offsets from docs/LAYOUT.md; the first record is at 4096.
    static let crafted: [(String, [(Int, UInt64)])] = [
        ("capacity 0x7FFFFFFFFFFFF000 with a matching segment size", [(16, 0x7FFF_FFFF_FFFF_F000), (24, 0x8000_0000_0000_0000)]),
        ("capacity 0x7FFFFFFFFFFFF000 alone", [(16, 0x7FFF_FFFF_FFFF_F000)]),
        ("capacity UInt64.max − 63", [(16, UInt64.max - 63), (24, UInt64.max - 63 &+ 4096)]),
        ("capacity 2^40 + 4096, just over the limit", [(16, (1 << 40) + 4096), (24, (1 << 40) + 8192)]),
        ("cursors at 2^64 − 64 (an empty ring at the end of the number line)", [(112, UInt64.max - 63), (120, UInt64.max - 63), (128, UInt64.max - 63)]),
        ("cursors at Int.max rounded to 64", [(112, 0x7FFF_FFFF_FFFF_FFC0), (120, 0x7FFF_FFFF_FFFF_FFC0), (128, 0x7FFF_FFFF_FFFF_FFC0)]),
        ("tail near 2^64, head and read 0", [(120, 0xFFFF_FFFF_FFFF_FFC0)]),
        ("last_recovery_ns = Int64.min", [(208, 0x8000_0000_0000_0000)]),
        ("first record length UInt64.max − 63", [(4096 + 8, UInt64.max - 63)]),
        ("first record payload size 2^63", [(4096 + 40, 0x8000_0000_0000_0000)]),
        ("first record payload size −64", [(4096 + 40, UInt64.max - 63)]),
        ("first record timestamp Int64.min", [(4096 + 24, 0x8000_0000_0000_0000)]),
        ("first record shape 2^62 × …", [(4096 + 64, 1 << 62)]),
        ("counters at UInt64.max", [(136, UInt64.max), (152, UInt64.max), (192, UInt64.max)]),
        // Broadcast queues: flags (offset 44) = broadcast; subscriber slot 0 at 2048 (state, policy,
        // pid, pid_ns, start time, cursor, delivered, lost, skip cursor, skip lost).
        ("broadcast, subscriber 0 of no process with cursor 2^64 − 64", [(40, 2 << 32), (2048, 1 << 32 | 0x5355_4249), (2056, 0x3FFF_FFF0), (2072, UInt64.max - 63)]),
        ("broadcast, subscriber 0 reading at cursor Int.max rounded to 64, policy garbage", [(40, 2 << 32), (2048, 0xDEAD << 32 | 0x5355_4242), (2056, 1), (2072, 0x7FFF_FFFF_FFFF_FFC0)]),
        ("broadcast, a staged skip to 2^63 with lost UInt64.max", [(40, 2 << 32), (2048, 2 << 32 | 0x5355_4249), (2056, 1), (2096, 1 << 63), (2104, UInt64.max)]),
        ("broadcast, a staged skip to 64 past the tail, counters at UInt64.max", [(40, 2 << 32), (2048, 2 << 32 | 0x5355_4249), (2056, 1), (2080, UInt64.max), (2088, UInt64.max), (2096, 1 << 20), (1536, UInt64.max)]),
        ("broadcast, subscriber 31 unaligned cursor 63", [(40, 2 << 32), (2048 + 31 * 64, 1 << 32 | 0x5355_4249), (2048 + 31 * 64 + 8, 1), (2048 + 31 * 64 + 24, 63)]),
        ("flags with every bit set (broadcast and reset both)", [(40, 0xFFFF_FFFF << 32)]),
    ]

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
        for (offset, value) in writes {
            try handle.seek(toOffset: UInt64(offset))
            handle.write(withUnsafeBytes(of: value.littleEndian) { Data($0) })
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
