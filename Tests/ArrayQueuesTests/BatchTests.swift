@testable import ArrayQueues
import ArrayQueuesTestSupport
import Dispatch
import Glibc
import Synchronization
import Testing

@Suite("Batches, get(into:) and the inline shape")
struct BatchTests {
    /// `count` distinct arrays of mixed dtypes and shapes.
    private func arrays(_ count: Int, seed: UInt64 = 1) throws -> [AnyNDArray] {
        try (0..<count).map { number in
            let dtype: DType = number % 3 == 0 ? .float32 : number % 3 == 1 ? .uint8 : .int64
            return try Pattern.array(dtype: dtype, shape: [1 + number % 4, 3], seed: seed &+ UInt64(number))
        }
    }

    @Test("put(contentsOf:) then get(upTo:) round-trips 600 records in order, in batches of at most 256")
    func putManyGetMany() throws {
        try withQueue(capacity: 1 << 20) { queue in
            let sent = try arrays(600)
            try queue.put(contentsOf: sent, timeout: .seconds(5))
            #expect(queue.count == 600)
            var received: [ArrayRecord] = []
            while received.count < 600 {
                let batch = try queue.get(upTo: 1000, timeout: .seconds(5))
                #expect(!batch.isEmpty && batch.count <= 1000)
                received += batch
            }
            #expect(received.map(\.array) == sent)
            #expect(received.map(\.sequence) == (0..<600).map(UInt64.init))
            #expect(Set(received.map(\.timestamp)).count == 1, "one timestamp per call")
            #expect(try queue.tryGet(upTo: 5).isEmpty)
            let statistics = try queue.statistics()
            #expect(statistics.puts == 600 && statistics.gets == 600)
        }
    }

    @Test("get(upTo:) takes at most its count and leaves the rest; tryGet(upTo:) never waits")
    func getUpToLeavesTheRest() throws {
        try withQueue { queue in
            let sent = try arrays(10)
            try queue.put(contentsOf: sent)
            #expect(try queue.get(upTo: 3).map(\.array) == Array(sent[0..<3]))
            #expect(try queue.tryGet(upTo: 100).map(\.array) == Array(sent[3...]))
            #expect(try queue.tryGet(upTo: 100).isEmpty)
            #expect(throws: ArrayQueueError.self) { try queue.get(upTo: 0) }
            let error = #expect(throws: ArrayQueueError.self) { try queue.get(upTo: 4, timeout: .milliseconds(20)) }
            #expect(error?.code == .timeout)
        }
    }

    @Test("a full queue: tryPut(contentsOf:) puts what fits and says how many; put(contentsOf:) waits for room")
    func putManyIntoAFullQueue() throws {
        try withQueue(capacity: 8192) { queue in
            let record = try NDArray<UInt8>(shape: [1000], repeating: 9).erased
            let size = try ArrayQueue.recordSize(dtype: .uint8, shape: [1000])
            let fitting = 8192 / size
            #expect(try queue.tryPut(contentsOf: Array(repeating: record, count: fitting + 3)) == fitting)
            #expect(try queue.tryPut(contentsOf: [record]) == 0)
            let error = #expect(throws: ArrayQueueError.self) { try queue.put(contentsOf: [record, record], timeout: .milliseconds(30)) }
            #expect(error?.code == .timeout)
            // Drained in pieces by another thread, the blocking put gets all of its records in.
            let drained = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                for _ in 0..<(fitting + 8) { _ = try? queue.get(timeout: .seconds(10)) }
                drained.signal()
            }
            try queue.put(contentsOf: Array(repeating: record, count: 8), timeout: .seconds(10))
            #expect(drained.wait(timeout: .now() + 20) == .success)
            #expect(queue.count == 0)
        }
    }

    @Test("an invalid array in a batch fails the call before anything of its batch is reserved")
    func invalidArrayInABatch() throws {
        try withQueue(capacity: 64 << 10) { queue in
            let small = try NDArray<UInt8>(shape: [8], repeating: 1).erased
            let huge = try NDArray<UInt8>(shape: [128 << 10], repeating: 1).erased
            let error = #expect(throws: ArrayQueueError.self) { try queue.put(contentsOf: [small, huge, small]) }
            #expect(error?.code == .oversize)
            #expect(queue.count == 0)
            #expect(try queue.statistics().puts == 0)
        }
    }

    @Test("drain lends records in place, in order, and frees each after it is lent")
    func drainLends() throws {
        try withQueue { queue in
            let sent = try arrays(300)
            try queue.put(contentsOf: sent)
            var seen: [AnyNDArray] = []
            var extents: [InlineShape] = []
            let lent = try queue.drain(upTo: 1000, blocking: false) { record in
                seen.append(record.copy().array)
                extents.append(record.extents)
            }
            #expect(lent == 300 && seen == sent)
            #expect(extents.map(Array.init) == sent.map(\.shape))
            #expect(try queue.drain(upTo: 10, blocking: false) { _ in } == 0)
            #expect(queue.count == 0)
            #expect(try queue.statistics().gets == 300)
        }
    }

    @Test("a record still being written between committed ones: one drain takes those before and after it (a batch's walk stops at it, the next one passes it), then the record once published")
    func drainAroundAnUnfinishedRecord() throws {
        try withQueue { queue in
            let before = try arrays(3, seed: 10)
            let after = try arrays(4, seed: 20)
            try queue.put(contentsOf: before)
            let entered = DispatchSemaphore(value: 0)
            let proceed = DispatchSemaphore(value: 0)
            let finished = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                _ = try? queue.put(dtype: .uint8, shape: [5]) { bytes in
                    entered.signal()
                    _ = proceed.wait(timeout: .now() + 10)
                    bytes.initializeMemory(as: UInt8.self, repeating: 42)
                }
                finished.signal()
            }
            #expect(entered.wait(timeout: .now() + 10) == .success)
            try queue.put(contentsOf: after)
            var seen: [AnyNDArray] = []
            #expect(try queue.drain(upTo: 100, blocking: false) { seen.append($0.copy().array) } == 7)
            #expect(seen == before + after)
            #expect(try queue.drain(upTo: 100, blocking: false) { _ in } == 0, "the unfinished record is not lent")
            proceed.signal()
            #expect(finished.wait(timeout: .now() + 10) == .success)
            var last: [UInt8] = []
            #expect(try queue.drain(upTo: 100, blocking: false) { last = Array($0.bytes) } == 1)
            #expect(last == Array(repeating: 42, count: 5))
            let statistics = try queue.statistics()
            #expect(statistics.puts == 8 && statistics.gets == 8)
        }
    }

    @Test("a consumer waiting in drain is woken by a batch put from another thread and gets the whole batch in order")
    func batchWakesAWaitingDrain() throws {
        try withQueue(capacity: 1 << 20) { queue in
            let sent = try arrays(64, seed: 30)
            let received = Mutex<[AnyNDArray]>([])
            let done = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                while received.withLock({ $0.count }) < sent.count {
                    let ok = (try? queue.drain(upTo: 256, timeout: .seconds(10)) { record in
                        let array = record.copy().array
                        received.withLock { $0.append(array) }
                    }) != nil
                    if !ok { break }
                }
                done.signal()
            }
            usleep(20_000)  // let the consumer register as a waiter (not needed for correctness)
            try queue.put(contentsOf: sent, timeout: .seconds(5))
            #expect(done.wait(timeout: .now() + 20) == .success)
            #expect(received.withLock { $0 } == sent)
        }
    }

    @Test("a batch walk that meets a corrupt record after claiming some passes those on and frees them, then throws")
    func corruptRecordAfterClaimedOnes() throws {
        try withQueue(capacity: 64 << 10) { queue in
            let array = try NDArray<UInt8>(shape: [8], repeating: 7).erased
            try queue.put(contentsOf: Array(repeating: array, count: 4))
            // Garbage in the fourth record's check word: the walk claims three, then fails there.
            let size = try ArrayQueue.recordSize(dtype: .uint8, shape: [8])
            let check = queue.ring.header.data + 3 * size + SegmentLayout.record(\.check)
            check.storeBytes(of: check.load(as: UInt32.self) ^ 0xFFFF, as: UInt32.self)
            var lent = 0
            let error = #expect(throws: ArrayQueueError.self) { try queue.drain(upTo: 10) { _ in lent += 1 } }
            #expect(error?.code == .corruptSegment)
            #expect(lent == 3, "the records claimed before the corrupt one are lent, not kept claimed")
            #expect(queue.ring.header.gets.pointee.load(ordering: .relaxed) == 3, "and freed (statistics() would walk into the corrupt record)")
        }
    }

    @Test("get(into:) reuses the caller's memory for records of the same size and replaces it otherwise")
    func getInto() throws {
        try withQueue { queue in
            let first = try Pattern.array(dtype: .float32, shape: [4, 4], seed: 1)
            let second = try Pattern.array(dtype: .int32, shape: [16], seed: 2)
            let third = try Pattern.array(dtype: .uint8, shape: [5], seed: 3)
            try queue.put(contentsOf: [first, second, third])
            var record = ArrayRecord(array: try AnyNDArray(dtype: .float32, shape: [4, 4]) { $0.initializeMemory(as: UInt8.self, repeating: 0) }, sequence: 0, timestamp: .now(), index: nil)
            let memory = record.array.storage.bytes
            try queue.get(into: &record)
            #expect(record.array == first && record.sequence == 0)
            #expect(record.array.storage.bytes == memory, "same size, sole owner: rewritten in place")
            try queue.get(into: &record)
            #expect(record.array == second && record.array.shape == [16] && record.sequence == 1)
            #expect(record.array.storage.bytes == memory, "same byte size, another dtype and shape")
            let kept = record.array
            try queue.get(into: &record)
            #expect(record.array == third && kept == second, "a shared array is never written")
            let error = #expect(throws: ArrayQueueError.self) { try queue.get(into: &record, timeout: .milliseconds(10)) }
            #expect(error?.code == .timeout)
            #expect(record.array == third, "unchanged by a failed call")
        }
    }

    @Test("InlineShape: a collection equal to its [Int], printed like one")
    func inlineShape() {
        let shape = InlineShape([480, 640, 3])
        #expect(shape.count == 3 && Array(shape) == [480, 640, 3] && shape[1] == 640)
        #expect(shape == InlineShape([480, 640, 3]) && shape != InlineShape([480, 640]))
        #expect(shape.description == "[480, 640, 3]" && InlineShape([Int]()).description == "[]")
        #expect(Set([shape, InlineShape([480, 640, 3])]).count == 1)
        #expect(InlineShape(Array(repeating: 1, count: Shape.maxDimensions)).count == Shape.maxDimensions)
    }
}
