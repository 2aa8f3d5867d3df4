@_spi(Bindings) import ArrayQueues
import ArrayQueuesTestSupport
import CUserFaults
import Dispatch
import Glibc
import Testing

/// A small copying put copies under the queue's lock (docs/LAYOUT.md, Put step 2′): its bytes
/// must be in memory before it takes the lock, or a page fault on them (an mmap'd file, memory
/// swapped out) holds every other producer for as long as the fault takes.
@Suite(.timeLimit(.minutes(3)))
struct LockedCopyFaultTests {
    @Test("a small put whose bytes are on a page that is not mapped in takes its fault before the lock: another producer puts meanwhile")
    func faultBeforeTheLock() throws {
        let name = uniqueQueueName("fault")
        let queue = try ArrayQueue.create(name: name, capacity: 64 << 10)
        defer { try? ArrayQueue.remove(name: name) }
        let faults = cuf_open()
        try #require(faults >= 0, "userfaultfd: \(String(cString: strerror(-faults)))")
        defer { close(faults) }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let page = try #require(mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        try #require(page != MAP_FAILED)
        defer { munmap(page, pageSize) }
        try #require(cuf_register_missing(faults, page, pageSize) == 0)

        // The first touch of the page blocks this put until the test maps it.
        let done = DispatchSemaphore(value: 0)
        let blocked = Locked<Result<Bool, ArrayQueueError>?>(nil)
        let bytes = UInt(bitPattern: page)
        DispatchQueue.global().async {
            let outcome = Result { () throws(ArrayQueueError) in
                try queue.putCopy(
                    dtype: .uint8, shape: [100], bytes: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: bytes), count: 100),
                    timestamp: nil, index: nil, blocking: true, timeout: .seconds(30))
            }
            blocked.withLock { $0 = outcome }
            done.signal()
        }
        var address: UInt = 0
        try #require(cuf_wait_fault(faults, 10_000, &address) == 0, "the put never touched its bytes")
        // Its thread now waits in the fault: the lock must be free. (Were it held, this put would
        // wait for it 10 s and then throw.)
        let other = try AnyNDArray(dtype: .uint8, shape: [10]) { $0.initializeMemory(as: UInt8.self, repeating: 7) }
        #expect(try queue.tryPut(other), "no room in an empty queue?")
        #expect(cuf_zero_pages(faults, page, pageSize) == 0)
        #expect(done.wait(timeout: .now() + 30) == .success, "the put did not finish once its page was mapped")
        #expect(try blocked.withLock { $0 }?.get() == true)
        var got: [[UInt8]] = []
        try queue.drain(upTo: 4, blocking: false) { record in got.append(Array(record.bytes)) }
        #expect(got == [[UInt8](repeating: 7, count: 10), [UInt8](repeating: 0, count: 100)])
    }
}
