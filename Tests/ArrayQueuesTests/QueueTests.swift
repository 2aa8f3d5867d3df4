@testable import ArrayQueues
import ArrayQueuesTestSupport
import ComplexModule
import Foundation
import Testing

@Suite("Queue semantics in one process")
struct QueueTests {
    @Test("every dtype round-trips bit-exact with its metadata", arguments: DType.allCases)
    func roundTrip(dtype: DType) throws {
        try withQueue { queue in
            let array = try Pattern.array(dtype: dtype, shape: [3, 5, 7], seed: 42)
            try queue.put(array, timestamp: Timestamp(nanosecondsSinceEpoch: 1_764_028_800_123_456_789), index: 99)
            let record = try queue.get(timeout: .seconds(1))
            #expect(record.array == array)
            #expect(record.array.dtype == dtype)
            #expect(record.array.shape == [3, 5, 7])
            #expect(record.timestamp.nanosecondsSinceEpoch == 1_764_028_800_123_456_789)
            #expect(record.index == 99)
            #expect(record.sequence == 0)
        }
    }

    @Test("typed arrays in, typed arrays out; a scalar and an empty array too")
    func typedRoundTrip() throws {
        try withQueue { queue in
            let image = try NDArray<Float>(shape: [2, 3], elements: [1, 2, 3, 4, 5, .nan])
            try queue.put(image)
            try queue.put(try NDArray<Complex<Double>>(shape: [], elements: [Complex(1.5, -2)]))
            try queue.put(try NDArray<Int16>(shape: [0, 4], elements: []))
            // No bytes whatever the other extent: the consumer counts elements first, as the producer does.
            try queue.put(try AnyNDArray(dtype: .float64, shape: [1 << 61, 0]) { _ in })
            let back = try queue.get(as: Float.self)
            #expect(back == image)
            #expect(back[1, 2].isNaN && back[0, 1] == 2)
            #expect(try queue.get(as: Complex<Double>.self).elements == [Complex(1.5, -2)])
            let empty = try queue.get(as: Int16.self)
            #expect(empty.shape == [0, 4] && empty.count == 0)
            #expect(try queue.get().array.shape == [1 << 61, 0])
        }
    }

    @Test("get(as:) with the wrong type fails clearly and leaves the record in the queue")
    func dtypeMismatchKeepsRecord() throws {
        try withQueue { queue in
            try queue.put(try NDArray<UInt16>(shape: [4], repeating: 7))
            let error = #expect(throws: ArrayQueueError.self) { try queue.get(as: Float.self, timeout: .zero) }
            #expect(error?.code == .dtypeMismatch)
            #expect(error?.message.contains("uint16") == true)
            #expect(queue.count == 1)
            #expect(try queue.get(as: UInt16.self).elements == [7, 7, 7, 7])
            #expect(throws: ArrayQueueError.self) { try NDArray<UInt16>(shape: [1], repeating: 1).erased.typed(as: Int8.self) }
        }
    }

    @Test("an array larger than the whole queue is an immediate oversize error")
    func oversize() throws {
        try withQueue(capacity: 64 << 10) { queue in
            let error = #expect(throws: ArrayQueueError.self) {
                try queue.put(try NDArray<Float>(shape: [64 << 10], repeating: 0), timeout: nil)
            }
            #expect(error?.code == .oversize)
            #expect(queue.isEmpty)
            // The largest array that fits does fit, into an empty queue.
            let largest = (queue.capacity - RecordHeader.payloadOffset(dimensions: 1)) / 4
            try queue.put(try NDArray<Float>(shape: [largest], repeating: 1), timeout: .zero)
            #expect(try queue.get(as: Float.self).count == largest)
        }
    }

    @Test("a full queue: tryPut returns false, put times out, the fail policy throws full")
    func fullQueue() throws {
        try withQueue(capacity: 8192) { queue in
            let array = try NDArray<UInt8>(shape: [1000], repeating: 1)
            var accepted = 0
            while try queue.tryPut(array) { accepted += 1 }
            #expect(accepted >= 6)
            #expect(queue.count == accepted)
            let start = ContinuousClock.now
            let error = #expect(throws: ArrayQueueError.self) { try queue.put(array, timeout: .milliseconds(100)) }
            #expect(error?.code == .timeout)
            #expect(ContinuousClock.now - start >= .milliseconds(100))
            let failing = try ArrayQueue.open(name: queue.name, options: QueueOptions(overflow: .fail))
            #expect((#expect(throws: ArrayQueueError.self) { try failing.put(array) })?.code == .full)
            _ = try queue.get()
            #expect(try queue.tryPut(array))
        }
    }

    @Test("the drop-oldest policy drops the oldest records and counts them")
    func dropOldest() throws {
        try withQueue(capacity: 8192, options: QueueOptions(overflow: .dropOldest)) { queue in
            for counter in 0..<20 {
                try queue.put(try NDArray<UInt8>(shape: [1000], repeating: UInt8(counter)), index: Int64(counter), timeout: .zero)
            }
            let statistics = try queue.statistics()
            #expect(statistics.drops > 0)
            #expect(Int(statistics.drops) + queue.count == 20)
            var indices: [Int64] = []
            while let record = try queue.tryGet() { indices.append(record.index!) }
            // What is left is the newest records, in order.
            #expect(indices == Array(Int64(20 - indices.count)..<20))
        }
    }

    @Test("records of different shapes and dtypes coexist by default")
    func mixedShapesKept() throws {
        try withQueue { queue in
            let arrays = try (0..<30).map { try Pattern.array(dtype: [.uint8, .float32, .complex128][$0 % 3], shape: Pattern.varyingShape(counter: $0, elements: 50), seed: UInt64($0)) }
            for array in arrays { try queue.put(array) }
            for array in arrays { #expect(try queue.get().array == array) }
            #expect(try queue.statistics().drops == 0)
        }
    }

    @Test("the reset policy drops waiting records when the shape or dtype changes, and counts it")
    func resetPolicy() throws {
        try withQueue(creating: CreateOptions(shapeChange: .reset)) { queue in
            #expect(queue.info.shapeChange == .reset)
            for _ in 0..<3 { try queue.put(try NDArray<Float>(shape: [4], repeating: 1)) }
            try queue.put(try NDArray<Float>(shape: [5], repeating: 2))
            #expect(queue.count == 1)
            try queue.put(try NDArray<Double>(shape: [5], repeating: 3))
            #expect(queue.count == 1)
            let statistics = try queue.statistics()
            #expect(statistics.resets == 2 && statistics.drops == 4)
            #expect(try queue.get(as: Double.self).elements == [3, 3, 3, 3, 3])
        }
    }

    @Test("zero-copy put writes in place; zero-copy get reads in place and frees after the closure")
    func zeroCopyPaths() throws {
        try withQueue(capacity: 1 << 20) { queue in
            let address = try queue.put(UInt32.self, shape: [256, 256], index: 5) { buffer -> UInt? in
                for i in buffer.indices { buffer[i] = UInt32(i) }
                return UInt(bitPattern: buffer.baseAddress)
            }
            // The payload is 64-byte aligned inside the mapping.
            #expect(address.map { $0 % 64 == 0 } == true)
            let sum = try queue.get { record -> UInt64 in
                #expect(record.shape == [256, 256] && record.index == 5)
                #expect(UInt(bitPattern: record.bytes.baseAddress) == address)
                return try record.elements(as: UInt32.self).reduce(0) { $0 + UInt64($1) }
            }
            #expect(sum == UInt64(65536 * 65535 / 2))
            #expect(try queue.statistics().bytesUsed == 0)
        }
    }

    @Test("a fill closure that throws discards its record; the queue goes on")
    func failedFillDiscarded() throws {
        struct CameraError: Error {}
        try withQueue { queue in
            #expect(throws: CameraError.self) {
                try queue.put(dtype: .uint8, shape: [10]) { _ in throw CameraError() }
            }
            #expect(queue.isEmpty)
            try queue.put(try NDArray<UInt8>(shape: [2], elements: [1, 2]))
            #expect(try queue.get(as: UInt8.self).elements == [1, 2])
            #expect(try queue.statistics().bytesUsed == 0)
        }
    }

    @Test("a copying get returns an array that later puts never overwrite")
    func copiesAreStable() throws {
        try withQueue(capacity: 8192) { queue in
            try queue.put(try NDArray<UInt8>(shape: [1000], repeating: 1))
            let first = try queue.get(as: UInt8.self)
            for counter in 0..<50 { try queue.put(try NDArray<UInt8>(shape: [1000], repeating: UInt8(counter + 2))); _ = try queue.get() }
            #expect(first.elements.allSatisfy { $0 == 1 })
        }
    }

    @Test("count, isEmpty, bytes used, counters and clear")
    func statisticsAndClear() throws {
        try withQueue(capacity: 1 << 20) { queue in
            #expect(queue.isEmpty && queue.count == 0)
            for counter in 0..<5 { try queue.put(try NDArray<Double>(shape: [100], repeating: Double(counter))) }
            var statistics = try queue.statistics()
            #expect(statistics.count == 5 && statistics.puts == 5 && statistics.nextSequence == 5)
            #expect(statistics.bytesUsed == 5 * (try ArrayQueue.recordSize(dtype: .float64, shape: [100])))
            _ = try queue.get()
            #expect(try queue.clear() == 4)
            statistics = try queue.statistics()
            #expect(statistics.gets == 1 && statistics.drops == 4 && statistics.clears == 1 && statistics.bytesUsed == 0)
            #expect(queue.isEmpty)
        }
    }

    @Test("the time between two timestamps is exact where it fits in Int64 and held at its bounds where it does not (timestamps are whatever a writer chose)")
    func timestampDifferences() {
        func since(_ later: Int64, _ earlier: Int64) -> Int64 {
            Timestamp(nanosecondsSinceEpoch: later).nanoseconds(since: Timestamp(nanosecondsSinceEpoch: earlier))
        }
        #expect(since(5, 3) == 2 && since(3, 5) == -2)
        #expect(since(0, .min + 1) == .max)
        #expect(since(1_000, .min) == .max)
        #expect(since(.min, 1_000) == .min)
        #expect(since(.max, -1) == .max)
        #expect(since(-2, .max) == .min)
        #expect(since(.max, .max) == 0 && since(.min, .min) == 0)
    }

    @Test("sequence numbers increase and taken timestamps follow the clock")
    func sequenceAndTimestamps() throws {
        try withQueue { queue in
            let before = Timestamp.now()
            for _ in 0..<10 { try queue.put(try NDArray<UInt8>(shape: [1], repeating: 0)) }
            let after = Timestamp.now()
            var previous = before
            for expected in 0..<10 {
                let record = try queue.get()
                #expect(record.sequence == UInt64(expected))
                #expect(record.timestamp >= previous && record.timestamp <= after)
                #expect(record.index == nil)
                previous = record.timestamp
            }
        }
    }

    @Test("get on an empty queue times out; tryGet returns nil; negative timeouts are rejected")
    func emptyQueue() throws {
        try withQueue { queue in
            let nothing = try queue.tryGet()
            #expect(nothing == nil)
            #expect((#expect(throws: ArrayQueueError.self) { try queue.get(timeout: .milliseconds(50)) })?.code == .timeout)
            #expect((#expect(throws: ArrayQueueError.self) { try queue.get(timeout: .seconds(-1)) })?.code == .invalidArgument)
        }
    }

    @Test("records wrap around the ring many times, intact: every payload, shape and index comes back in order")
    func wrapAround() throws {
        let count = 2000
        func shape(_ counter: Int) -> [Int] { [1 + (counter * 37) % 3000] }
        try withQueue(capacity: 16 << 10) { queue in
            var next = 0
            var bad: [Int] = []
            /// Takes one record and checks it is the next one, whole.
            func takeAndVerify(_ record: borrowing BorrowedRecord) {
                let counter = next
                next += 1
                guard record.index == Int64(counter), record.shape == shape(counter), record.dtype == .uint8,
                      Pattern.verify(record.bytes, seed: UInt64(counter)) else { bad.append(counter); return }
            }
            for counter in 0..<count {
                let array = try Pattern.array(dtype: .uint8, shape: shape(counter), seed: UInt64(counter))
                try queue.put(array, index: Int64(counter), timeout: .zero)
                if counter % 3 == 2 {
                    for _ in 0..<3 { try queue.get(timeout: .zero) { takeAndVerify($0) } }
                }
            }
            while try queue.tryGet({ takeAndVerify($0) }) != nil {}
            #expect(bad.isEmpty, "records that came back wrong: \(bad.prefix(20))")
            #expect(next == count)
            let statistics = try queue.statistics()
            #expect(statistics.puts == UInt64(count) && statistics.gets == UInt64(count))
            // 2000 records of up to ~3 KiB through a 16 KiB ring: it wrapped hundreds of times.
            #expect((0..<count).reduce(0) { $0 + shape($1)[0] } > 100 * (16 << 10))
        }
    }

    @Test("threads: 3 producers with their own handles and 3 consumers sharing one deliver everything once")
    func threadsExactlyOnce() throws {
        let name = uniqueQueueName("threads")
        let shared = try ArrayQueue.create(name: name, capacity: 64 << 10)
        defer { try? ArrayQueue.remove(name: name) }
        let perProducer = 2000
        // NSLock rather than Synchronization.Mutex: Thread Sanitizer understands pthread locks.
        let results = Locked<[Int64]>([])
        let failures = Locked<[String]>([])
        // Real threads: blocking calls must not run on Swift's small cooperative pool.
        let roles = (0..<6).map { role in
            { @Sendable in
                do {
                    if role < 3 {
                        let queue = try ArrayQueue.open(name: name)
                        for counter in 0..<perProducer {
                            let index = Pattern.index(producer: role, counter: counter)
                            try queue.put(dtype: .uint8, shape: [100 + counter % 300], index: index, timeout: .seconds(30)) { Pattern.fill($0, seed: UInt64(index)) }
                        }
                    } else {
                        for _ in 0..<perProducer {
                            let index = try shared.get(timeout: .seconds(30)) { record -> Int64 in
                                Pattern.verify(record.bytes, seed: UInt64(record.index!)) ? record.index! : -1
                            }
                            results.withLock { $0.append(index) }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("thread \(role): \(error)") }
                }
            }
        }
        #expect(runOnThreads(roles, seconds: 120))
        #expect(failures.withLock { $0 } == [])
        let all = results.withLock { $0 }
        #expect(all.count == 3 * perProducer)
        #expect(!all.contains(-1), "a record arrived corrupted")
        #expect(Set(all).count == 3 * perProducer)
    }

    @Test("the async sequence yields records as they arrive and ends on cancellation")
    func asyncSequence() async throws {
        let name = uniqueQueueName("async")
        let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
        defer { try? ArrayQueue.remove(name: name) }
        let reader = Task {
            var received: [Int64] = []
            for try await record in queue.records() {
                received.append(record.index!)
                if received.count == 20 { break }
            }
            return received
        }
        for counter in 0..<20 { try queue.put(try NDArray<Int32>(shape: [8], repeating: Int32(counter)), index: Int64(counter)) }
        #expect(try await reader.value == Array(0..<20))

        let idle = Task {
            var count = 0
            for try await _ in queue.records() { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(100))
        idle.cancel()
        #expect(try await idle.value == 0)
    }
}
