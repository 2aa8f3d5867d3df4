@_spi(Bindings) import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// The run claims at `read` (docs/LAYOUT.md, "Get", batch get): several batch
/// consumers claim runs against each other, the bindings' byte-budgeted takes, single claims,
/// batched producers of mixed shapes (shapes borrowed from one buffer) and clear().
@Suite(.timeLimit(.minutes(3)))
struct RunClaimTests {
    /// A payload: its id in the first 8 bytes, then the pattern for that id.
    private static func fill(_ bytes: UnsafeMutableRawBufferPointer, id: UInt64) {
        bytes.storeBytes(of: id.littleEndian, toByteOffset: 0, as: UInt64.self)
        Pattern.fill(UnsafeMutableRawBufferPointer(rebasing: bytes[8...]), seed: id)
    }

    /// The id of an intact payload, -1 for a corrupt one.
    private static func check(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        guard bytes.count >= 8 else { return -1 }
        let id = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        return Pattern.verify(UnsafeRawBufferPointer(rebasing: bytes[8...]), seed: id) ? Int64(bitPattern: id) : -1
    }

    /// Mixed shapes, in runs of equal ones (what put(contentsOf:) lays out once per run).
    private static func shape(_ counter: Int) -> [Int] {
        switch (counter / 3) % 4 {
        case 0: [2, 40]
        case 1: [3 + counter % 7, 16]
        case 2: [1, 2, 3, 4 + counter % 5]
        default: [96 + counter % 3]
        }
    }

    @Test("threads: run claimers race run claimers, byte-budgeted takeRecords, single gets, batched producers of mixed shapes and clear(): every record at most once, intact, in each producer's order per consumer; taken + dropped = put; nothing left stuck")
    func runsRaceEverything() throws {
        let name = uniqueQueueName("runs")
        let shared = try ArrayQueue.create(name: name, capacity: 48 << 10)
        defer { try? ArrayQueue.remove(name: name) }
        let perProducer = 4000
        let producers = 3
        let results = Locked<[Int64]>([])
        let orderBreaks = Locked<[String]>([])
        let failures = Locked<[String]>([])
        let producersDone = Locked<Int>(0)
        let roles = (0..<10).map { role in
            { @Sendable in
                do {
                    switch role {
                    case 0:
                        // put(contentsOf:) in batches of mixed shapes.
                        let queue = try ArrayQueue.open(name: name)
                        var counter = 0
                        while counter < perProducer {
                            let batch = min(1 + counter % 37, perProducer - counter)
                            let arrays = try (counter..<counter + batch).map { number in
                                let id = UInt64(Pattern.index(producer: role, counter: number))
                                return try AnyNDArray(dtype: .uint8, shape: Self.shape(number)) { (bytes: UnsafeMutableRawBufferPointer) throws(Never) in Self.fill(bytes, id: id) }
                            }
                            try queue.put(contentsOf: arrays, timeout: .seconds(60))
                            counter += batch
                        }
                        producersDone.withLock { $0 += 1 }
                    case 1:
                        // The bindings' putRecords: one borrowed shape for the batch.
                        let queue = try ArrayQueue.open(name: name)
                        var counter = 0
                        while counter < perProducer {
                            let batch = min(1 + counter % 23, perProducer - counter)
                            let base = counter
                            let put = try queue.putRecords(dtype: .uint8, shape: [4, 24], count: batch, timeout: .seconds(60), blocking: true) { number, payload in
                                Self.fill(payload, id: UInt64(Pattern.index(producer: role, counter: base + number)))
                            }
                            counter += put
                        }
                        producersDone.withLock { $0 += 1 }
                    case 2:
                        // Single puts of varying shapes.
                        let queue = try ArrayQueue.open(name: name)
                        for counter in 0..<perProducer {
                            let id = UInt64(Pattern.index(producer: role, counter: counter))
                            try queue.put(dtype: .uint8, shape: Self.shape(counter + 1), timeout: .seconds(60)) { Self.fill($0, id: id) }
                        }
                        producersDone.withLock { $0 += 1 }
                    case 3:
                        while producersDone.withLock({ $0 }) < producers {
                            _ = try shared.clear()
                            usleep(3000)
                        }
                    default:
                        let queue = try ArrayQueue.open(name: name)
                        var last: [Int: (Int64, UInt64, Int)] = [:]
                        var batchNumber = 0
                        while true {
                            var taken: [Int64] = []
                            var seqs: [UInt64] = []
                            batchNumber += 1
                            do {
                                switch role {
                                case 4, 5, 6:
                                    try queue.drain(upTo: 64 + role, blocking: true, timeout: .milliseconds(300)) { record in
                                        taken.append(Self.check(record.bytes)); seqs.append(record.sequence)
                                    }
                                case 7, 8:
                                    var previousEnd = 0
                                    let budget = 1500 + 700 * (role - 7)
                                    let (count, tooLarge) = try queue.takeRecords(
                                        upTo: 50, byteBudget: budget, alignment: 64, timeout: .milliseconds(300), blocking: true
                                    ) { view, offset in
                                        if offset < previousEnd || offset % 64 != 0 || offset + view.payload.count > budget {
                                            failures.withLock { $0.append("takeRecords offset \(offset) after \(previousEnd), \(view.payload.count) bytes, budget \(budget)") }
                                        }
                                        previousEnd = offset + view.payload.count
                                        taken.append(Self.check(UnsafeRawBufferPointer(view.payload))); seqs.append(view.sequence)
                                    }
                                    if tooLarge != nil { failures.withLock { $0.append("tooLarge") } }
                                    if count == 0, producersDone.withLock({ $0 }) == producers { break }
                                default:
                                    let (id, seq) = try queue.get(timeout: .milliseconds(300)) { record -> (Int64, UInt64) in (Self.check(record.bytes), record.sequence) }
                                    taken.append(id); seqs.append(seq)
                                }
                            } catch let error as ArrayQueueError where error.code == .timeout {
                                if producersDone.withLock({ $0 }) == producers { break }
                            }
                            for (position, index) in taken.enumerated() where index >= 0 {
                                let producer = Int(index >> 32)
                                if let previous = last[producer], previous.0 >= index {
                                    orderBreaks.withLock { $0.append("consumer \(role): \(index) (seq \(seqs[position]), batch \(batchNumber) #\(position) of \(taken.count)) after \(previous.0) (seq \(previous.1), batch \(previous.2))") }
                                }
                                last[producer] = (index, seqs[position], batchNumber)
                            }
                            results.withLock { $0.append(contentsOf: taken) }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("thread \(role): \(error)") }
                }
            }
        }
        #expect(runOnThreads(roles, seconds: 150))
        try expectRaceOutcome(
            shared, taken: results.withLock { $0 }, puts: producers * perProducer, orderBreaks: orderBreaks.withLock { $0 },
            failures: failures.withLock { $0 })
        // Nothing stuck: the ring still takes a put that needs all of it, and gives it back.
        let whole = try AnyNDArray(dtype: .uint8, shape: [40 << 10]) { (bytes: UnsafeMutableRawBufferPointer) throws(Never) in Self.fill(bytes, id: 7) }
        try shared.put(whole, timeout: .seconds(5))
        #expect(try shared.get(timeout: .seconds(5)) { Self.check($0.bytes) } == 7)
        #expect(try shared.recordSummaries().allSatisfy { $0.state == .done })
    }

    @Test("threads: one batch producer (putRecords), one consumer: the consumer sees the producer's records in the order it put them (the walk under the lock skips records still being written, and must not claim a later record of the same producer whose earlier one was published meanwhile)")
    func batchProducerOrderAtOneConsumer() throws {
        let name = uniqueQueueName("order")
        let shared = try ArrayQueue.create(name: name, capacity: 64 << 10)
        defer { try? ArrayQueue.remove(name: name) }
        let total = 2_000_000
        let orderBreaks = Locked<[String]>([])
        let failures = Locked<[String]>([])
        let received = Locked<Int>(0)
        let roles: [@Sendable () -> Void] = [
            {
                do {
                    let queue = try ArrayQueue.open(name: name)
                    var counter = 0
                    while counter < total, orderBreaks.withLock({ $0.isEmpty }) {
                        let base = counter
                        counter += try queue.putRecords(dtype: .uint8, shape: [8], count: min(200, total - counter), timeout: .seconds(30), blocking: true) { number, payload in
                            payload.storeBytes(of: UInt64(base + number), toByteOffset: 0, as: UInt64.self)
                        }
                    }
                } catch {
                    failures.withLock { $0.append("producer: \(error)") }
                }
            },
            {
                do {
                    let queue = try ArrayQueue.open(name: name)
                    var last: UInt64?
                    var count = 0
                    while count < total, orderBreaks.withLock({ $0.isEmpty }) {
                        let (id, sequence) = try queue.get(timeout: .seconds(10)) { record -> (UInt64, UInt64) in
                            (record.bytes.loadUnaligned(as: UInt64.self), record.sequence)
                        }
                        if let last, id <= last {
                            orderBreaks.withLock { $0.append("record \(id) (seq \(sequence)) after \(last), the \(count)th received") }
                        }
                        last = id
                        count += 1
                    }
                    received.withLock { $0 = count }
                } catch {
                    failures.withLock { $0.append("consumer: \(error)") }
                }
            },
        ]
        #expect(runOnThreads(roles, seconds: 150))
        #expect(failures.withLock { $0 } == [])
        #expect(orderBreaks.withLock { $0 } == [], "the consumer saw the producer's records out of order")
        _ = shared
    }

    @Test("put(contentsOf:) lays the shapes end to end, once per run of equal ones: 0-d arrays only, and 0-d arrays among others, round-trip")
    func borrowedShapesOfScalars() throws {
        let name = uniqueQueueName("scalars")
        let queue = try ArrayQueue.create(name: name, capacity: 1 << 16)
        defer { try? ArrayQueue.remove(name: name) }
        let scalars = try (0..<5).map { try Pattern.array(dtype: .float64, shape: [], seed: UInt64($0)) }
        try queue.put(contentsOf: scalars)
        #expect(try queue.get(upTo: 10, timeout: .seconds(1)).map(\.array) == scalars)
        let mixed = try [[], [2, 3], [2, 3], [], [], [4], [1, 1, 1]].enumerated().map { try Pattern.array(dtype: .int32, shape: $0.element, seed: UInt64($0.offset)) }
        try queue.put(contentsOf: mixed)
        #expect(try queue.get(upTo: 10, timeout: .seconds(1)).map(\.array) == mixed)
    }
}
