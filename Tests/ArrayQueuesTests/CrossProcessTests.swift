import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Testing

/// Producers and consumers in separate, real processes.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct CrossProcessTests {
    @Test("100 arrays cross from a producer process to a consumer process intact, in order, timestamps monotonic")
    func producerToConsumer() throws {
        try withQueue(capacity: 1 << 20) { queue in
            let consumer = try HelperProcess(["consume", queue.name, "100"])
            let producer = try HelperProcess(["produce", queue.name, "7", "100", "5000"])
            #expect(producer.finish().status == 0)
            let (status, output) = consumer.finish()
            #expect(status == 0)
            let records = ConsumedRecord.parse(output)
            #expect(records.map(\.counter) == Array(0..<100))
            #expect(records.allSatisfy { $0.producer == 7 })
            #expect(records.map(\.sequence) == (0..<100).map(UInt64.init))
            #expect(zip(records, records.dropFirst()).allSatisfy { $0.timestamp <= $1.timestamp })
            let statistics = try queue.statistics()
            #expect(statistics.puts == 100 && statistics.gets == 100 && statistics.count == 0)
        }
    }

    @Test("shapes and dtypes that change between records all arrive, none lost")
    func mixedShapesAcrossProcesses() throws {
        try withQueue(capacity: 1 << 20) { queue in
            let producer = try HelperProcess(["produce", queue.name, "1", "60", "999", "varying"])
            #expect(producer.finish().status == 0)
            let consumer = try HelperProcess(["consume", queue.name, "60"])
            let records = ConsumedRecord.parse(consumer.finish().output)
            #expect(records.count == 60)
            for record in records {
                let expected = Pattern.varyingShape(counter: record.counter, elements: 999).map(String.init).joined(separator: "x")
                #expect(record.shape == expected)
                #expect(record.typestr == ["<u4", "<f8", "<i2"][record.counter % 3])
            }
        }
    }

    @Test("4 producer × 4 consumer processes × 10 000 records: each delivered exactly once, in order per producer")
    func manyProducersManyConsumers() throws {
        let producers = 4, consumers = 4, perProducer = 10_000
        let total = producers * perProducer
        try withQueue(capacity: 256 << 10) { queue in
            let consumerProcesses = try (0..<consumers).map { _ in try HelperProcess(["consume", queue.name, String(total / consumers)]) }
            let producerProcesses = try (0..<producers).map { try HelperProcess(["produce", queue.name, String($0), String(perProducer), "64"]) }
            for producer in producerProcesses { #expect(producer.finish(timeout: 240).status == 0) }
            var all: [ConsumedRecord] = []
            for consumer in consumerProcesses {
                let records = ConsumedRecord.parse(consumer.finish(timeout: 240).output)
                #expect(records.count == total / consumers)
                // Within one consumer, a producer's records arrive in the order it put them.
                for producer in 0..<producers {
                    let counters = records.filter { $0.producer == producer }.map(\.counter)
                    #expect(counters == counters.sorted(), "consumer saw producer \(producer)'s records out of order")
                }
                all += records
            }
            #expect(all.count == total)
            #expect(Set(all.map(\.index)).count == total, "a record was delivered twice")
            #expect(Set(all.map(\.sequence)).count == total)
            let expected = Set((0..<producers).flatMap { p in (0..<perProducer).map { Pattern.index(producer: p, counter: $0) } })
            #expect(Set(all.map(\.index)) == expected, "a record was lost")
            #expect(queue.isEmpty)
        }
    }

    @Test("clear() in one process empties the queue for every process")
    func clearSeenFromAnotherProcess() throws {
        try withQueue { queue in
            for counter in 0..<10 { try queue.put(try Pattern.array(dtype: .uint8, shape: [100], seed: UInt64(counter)), index: Int64(counter)) }
            #expect(queue.count == 10)
            let clearer = try HelperProcess(["clear", queue.name])
            let (status, output) = clearer.finish()
            #expect(status == 0)
            #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "cleared 10")
            #expect(queue.isEmpty)
            #expect(try queue.tryGet() == nil)
            #expect(try queue.statistics().drops == 10)
        }
    }

    @Test("a consumer process blocked in get wakes up when another process puts")
    func blockedConsumerWakes() throws {
        try withQueue { queue in
            let waiter = try HelperProcess(["wait-get", queue.name, "30"])
            // Give the helper time to start and park; correctness does not depend on it.
            Thread.sleep(forTimeInterval: 0.3)
            try queue.put(try NDArray<Float>(shape: [3], elements: [1, 2, 3]))
            let (status, output) = waiter.finish(timeout: 60)
            #expect(status == 0)
            #expect(output.hasPrefix("got 0"))
        }
    }

    @Test("a blocked get in another process times out on an empty queue")
    func blockedConsumerTimesOut() throws {
        try withQueue { queue in
            let waiter = try HelperProcess(["wait-get", queue.name, "1"])
            #expect(waiter.finish(timeout: 60).output.hasPrefix("timeout"))
        }
    }
}
