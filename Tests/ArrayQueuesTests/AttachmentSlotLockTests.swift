@_spi(Transport) @testable import ArrayQueues
import Foundation
import Glibc
import Synchronization
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

extension AttachmentSlotLockTests {
    @Test("a thread that opens a queue while another closes its last handle keeps an entry; the last close leaves none")
    func reopenWhileClosing() throws {
        let name = uniqueQueueName("reopen")
        #expect(try HelperProcess(["create", name, "65536"]).finish(timeout: 30).output.contains("created"))
        defer { try? ArrayQueue.remove(name: name) }
        // The queue lock, taken through a mapping of our own that is no handle (it attaches nothing).
        guard let raw = try SharedMemorySegment.open(objectName: "/aq.\(name)", minimumSize: 4096, allowOtherOwner: false) else {
            Issue.record("no segment")
            return
        }
        let ring = Ring(header: SegmentHeader(raw: raw.base), mappedSize: raw.size, name: name)
        for _ in 0..<8 {
            let closing = Mutex<ArrayQueue?>(try ArrayQueue.open(name: name))
            let reopened = Mutex<ArrayQueue?>(nil)
            let group = DispatchGroup()
            try ring.withLock { () throws(ArrayQueueError) in
                // Both wait for the lock: the last close to clear this process's entry, the open to add it.
                DispatchQueue.global().async(group: group) { closing.withLock { $0 = nil } }
                usleep(100_000)  // the close has given up the process's share of the queue, and waits
                DispatchQueue.global().async(group: group) { reopened.withLock { $0 = try? ArrayQueue.open(name: name) } }
                usleep(100_000)
            }
            #expect(group.wait(timeout: .now() + 30) == .success)
            // At least one entry while the new handle is open (two, briefly, when the close left its own
            // because the open had come in meanwhile); none once it is closed.
            let entries = reopened.withLock { queue in queue.map { Attachments.entries($0.ring).filter(\.isCurrentProcess).count } }
            #expect(entries.map { $0 >= 1 } == true)
            reopened.withLock { $0 = nil }
            #expect(Attachments.entries(ring).filter(\.isCurrentProcess).isEmpty)
        }
    }
}
