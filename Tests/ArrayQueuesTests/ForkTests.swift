@testable import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// Processes forked after opening a queue, that go on using (or dropping) the inherited handle, as
/// Python's multiprocessing does (issue 12 review): a child is a process of its own.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ForkTests {
    @Test("a forked child writing through its parent's handle is not swept when the parent exits")
    func childWriterOutlivesParent() throws {
        try withQueue { queue in
            let parent = try HelperProcess(["fork-hold-write", queue.name, "5"])
            defer { _ = parent.waitForExit(timeout: 30) }
            // The parent exits at once; its child is inside the fill for 5 s.
            let parentPID = UInt32(parent.process.processIdentifier)
            #expect(eventually(within: 20) {
                (try? queue.recordSummaries())?.first?.state == .writing && !ProcessIdentity(pid: parentPID, startTime: 0).isAlive
            })
            #expect(try queue.recoverFromDeadPeers() == false)
            #expect(try queue.statistics().abandonedWrites == 0)
            #expect(try queue.get(as: UInt8.self, timeout: .seconds(10)).elements == Array(repeating: 7, count: 100))
        }
    }

    @Test("a forked child that drops its inherited handle leaves its parent's attachment alone")
    func childDetachKeepsParentsEntry() throws {
        try withQueue { queue in
            let (status, output) = try HelperProcess(["fork-child-detaches", queue.name]).finish(timeout: 30)
            #expect(status == 0 && output.contains("attached") && !output.contains("detached"), "the helper said: \(output)")
        }
    }
}
