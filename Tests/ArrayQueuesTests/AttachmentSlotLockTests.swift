@_spi(Transport) @testable import ArrayQueues
import Foundation
import Glibc
import Testing

/// The attachment table's slot locks (issue 12 review): a process whose slot bytes are all locked
/// by someone else is still recorded, so that `gc` does not take its queue for unused.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct AttachmentSlotLockTests {
    @Test("with every slot's byte locked by another open file, a process that opens the queue is recorded (by pid)")
    func allSlotBytesLocked() throws {
        let name = uniqueQueueName("slotlocks")
        #expect(try HelperProcess(["create", name, "65536"]).finish(timeout: 30).output.contains("created"))
        defer { try? ArrayQueue.remove(name: name) }
        let locker = open("/dev/shm/aq.\(name)", O_RDWR | O_CLOEXEC)
        #expect(locker >= 0)
        defer { close(locker) }
        for slot in 0..<SegmentHeader.attachmentCapacity { #expect(Sys.lockByte(locker, UInt64(slot)) == true) }

        let queue = try ArrayQueue.open(name: name)
        let mine = queue.attachments().filter { $0.pid == getpid() }
        #expect(mine.count == 1 && mine.allSatisfy { $0.isAlive && !$0.isInAnotherPIDNamespace })
        #expect(Attachments.entries(queue.ring).contains { $0.isCurrentProcess && $0.pidNamespace == 0 })
    }
}
