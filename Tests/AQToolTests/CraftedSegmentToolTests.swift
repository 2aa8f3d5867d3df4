import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// `aq ls` and `aq inspect` against segments crafted with the values that used to trap
/// (capacity near 2^63, cursors near 2^64, a timestamp of Int64.min): a readable line or a
/// typed error, never a crash.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CraftedSegmentToolTests {
    static let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("aq")

    static let crafted: [(String, [(Int, UInt64)])] = [
        ("capacity 0x7FFFFFFFFFFFF000", [(SegmentLayout.header(\.capacity), 0x7FFF_FFFF_FFFF_F000), (SegmentLayout.header(\.segment_size), 0x8000_0000_0000_0000)]),
        ("cursors at 2^64 − 64", [(SegmentLayout.header(\.read), UInt64.max - 63), (SegmentLayout.header(\.tail), UInt64.max - 63), (SegmentLayout.header(\.head), UInt64.max - 63)]),
        ("first record timestamp Int64.min", [(SegmentLayout.firstRecord(\.timestamp_ns), 0x8000_0000_0000_0000)]),
        ("created_ns Int64.min", [(SegmentLayout.header(\.created_ns), 0x8000_0000_0000_0000)]),
    ]

    @Test("aq ls and aq inspect survive crafted segments", arguments: 0..<crafted.count)
    func lsAndInspect(index: Int) throws {
        let (label, writes) = Self.crafted[index]
        let name = "t-crafted-\(getpid())-\(index)"
        let aq = Self.executable.path
        #expect(try runProcess(aq, ["create", name, "--capacity", "64KiB"], timeout: 30).status == 0)
        defer { _ = try? runProcess(aq, ["rm", name], timeout: 30) }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: "/dev/shm/aq.\(name)"))
        for (offset, value) in writes {
            try handle.seek(toOffset: UInt64(offset))
            handle.write(withUnsafeBytes(of: value.littleEndian) { Data($0) })
        }
        try handle.close()
        let list = try runProcess(aq, ["ls"], timeout: 30)
        #expect(list.status == 0, "\(label): aq ls ended with \(list.status): \(list.errors)")
        #expect(list.output.contains(name))
        let inspect = try runProcess(aq, ["inspect", name], timeout: 30)
        // 0, or 1 with the one-line typed error: a trap would end with a signal and a backtrace.
        #expect(inspect.status == 0 || (inspect.status == 1 && inspect.errors.hasPrefix("aq: queue")), "\(label): aq inspect ended with \(inspect.status): \(inspect.errors)")
    }
}
