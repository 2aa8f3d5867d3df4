@testable import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Synchronization
import Testing

/// A producer that outruns its `drop` subscribers (docs/BENCHMARKS.md, "Fan-out"): every
/// subscriber keeps receiving, and counts each record it was subscribed for as delivered or lost.
@Suite("Broadcast queues under overload")
struct BroadcastOverloadTests {
    /// How a producer puts: never waiting, or waiting a little.
    enum Putting: Sendable, CustomStringConvertible {
        case tryPut
        case shortTimeout

        var description: String { self == .tryPut ? "tryPut" : "put with a 1 ms timeout" }
    }

    /// One overload run's shape: record size, ring capacity (the fast path makes its ring four
    /// records and 256 KiB), and how the producer puts.
    struct Load: Sendable, CustomStringConvertible {
        let recordBytes: Int
        let capacity: Int
        let putting: Putting

        var description: String { "\(recordBytes) B records, \(capacity) B ring, \(putting)" }
    }

    static let loads: [Load] = [
        Load(recordBytes: 1000, capacity: 64 << 10, putting: .tryPut),
        Load(recordBytes: 1000, capacity: 64 << 10, putting: .shortTimeout),
        Load(recordBytes: 200 << 10, capacity: 4 * (200 << 10) + 256 << 10, putting: .tryPut),
        Load(recordBytes: 200 << 10, capacity: 4 * (200 << 10) + 256 << 10, putting: .shortTimeout),
    ]

    @Test("a put that cannot make room takes no record from a drop subscriber; one that can takes only what it needs")
    func refusedPutTakesNothing() throws {
        try withQueue(capacity: 64 << 10, creating: CreateOptions(broadcast: true)) { queue in
            // Three small records fill most of the ring; a large one needs the first two freed
            // (it does not fit in the rest of the lap, and after the first alone it does not fit
            // at the lap's start either).
            let capacity = queue.ring.capacity
            let smallBytes = capacity / 4 + capacity / 32
            let small = try ArrayQueue.recordSize(dtype: .uint8, shape: [smallBytes])
            let large = try ArrayQueue.recordSize(dtype: .uint8, shape: [smallBytes * 3 / 2])
            try #require(3 * small <= capacity && 3 * small + large > capacity && large > small && large <= 2 * small)
            let lagging = try queue.subscribe(policy: .drop, start: .next)
            let reader = try queue.subscribe(policy: .drop, start: .next)
            for index in 0..<3 {
                #expect(try queue.tryPut(Pattern.array(dtype: .uint8, shape: [smallBytes], seed: UInt64(index)), index: Int64(index)))
            }
            let big = try Pattern.array(dtype: .uint8, shape: [smallBytes * 3 / 2], seed: 3)
            #expect(try reader.get(timeout: .seconds(1)).index == 0)
            var loan: BroadcastLoan? = try reader.borrow(timeout: .seconds(1))
            #expect(loan?.record.index == 1)
            // The reader holds record 1, so no put can make room: none may skip `lagging` past record 0.
            #expect(try !queue.tryPut(big, index: 3))
            let error = #expect(throws: ArrayQueueError.self) { try queue.put(big, index: 3, timeout: .milliseconds(20)) }
            #expect(error?.code == .timeout)
            #expect(lagging.lost == 0)
            #expect(try lagging.get(timeout: .seconds(1)).index == 0)
            // Released, record 1 may go: `lagging`, still at it, loses it and nothing else.
            loan = nil
            try queue.put(big, index: 3, timeout: .seconds(1))
            #expect(try lagging.get(timeout: .seconds(1)).index == 2)
            #expect(try lagging.get(timeout: .seconds(1)).index == 3)
            #expect(lagging.lost == 1 && lagging.delivered == 3)
            #expect(try reader.get(timeout: .seconds(1)).index == 2)
            #expect(try reader.get(timeout: .seconds(1)).index == 3)
            #expect(reader.lost == 0)
        }
    }

    /// What one subscriber thread saw.
    struct Seen: Sendable {
        var indices: [Int64] = []
        var duringOverload = 0
        var failure: String?
    }

    @Test("drop subscribers of a producer that outruns them all keep receiving; delivered + lost covers every record", arguments: loads)
    func dropSubscribersKeepReceiving(load: Load) throws {
        try withQueue(capacity: load.capacity, creating: CreateOptions(broadcast: true)) { queue in
            let array = try Pattern.array(dtype: .uint8, shape: [load.recordBytes], seed: 7)
            // Two readers that read at once, one that takes a millisecond over each record (in
            // place, as the transport's receiver decodes it).
            let delays: [UInt32] = [0, 0, 1000]
            let subscribers = try delays.map { _ in try queue.subscribe(policy: .drop, start: .next) }
            let producing = Atomic<Bool>(true)
            let finished = DispatchGroup()
            let seen = Mutex<[Seen]>(Array(repeating: Seen(), count: delays.count))
            for (i, subscriber) in subscribers.enumerated() {
                finished.enter()
                Thread.detachNewThread { [delay = delays[i]] in
                    defer { finished.leave() }
                    var mine = Seen()
                    // Until the producer stops, then until the queue has nothing left for it.
                    while true {
                        let stillProducing = producing.load(ordering: .acquiring)
                        do {
                            let index = try subscriber.get(timeout: .milliseconds(20)) { record -> Int64? in
                                if delay > 0 { usleep(delay) }
                                return record.index
                            }
                            mine.indices.append(index ?? -1)
                            if stillProducing { mine.duringOverload += 1 }
                        } catch let error as ArrayQueueError where error.code == .timeout {
                            if !stillProducing { break }
                        } catch {
                            mine.failure = "\(error)"
                            break
                        }
                    }
                    seen.withLock { $0[i] = mine }
                }
            }
            // The producer puts as fast as it can for a while (a bounded run, not a measurement).
            var put: Int64 = 0
            var refused = 0
            let end = Date().addingTimeInterval(0.6)
            while Date() < end {
                let done: Bool
                switch load.putting {
                case .tryPut:
                    done = try queue.tryPut(array, index: put)
                case .shortTimeout:
                    do {
                        try queue.put(array, index: put, timeout: .milliseconds(1))
                        done = true
                    } catch let error as ArrayQueueError where error.code == .timeout {
                        done = false
                    }
                }
                if done { put += 1 } else { refused += 1 }
            }
            producing.store(false, ordering: .releasing)
            #expect(finished.wait(timeout: .now() + 30) == .success, "the subscribers did not finish")
            let results = seen.withLock { $0 }
            // An overload shows as refused puts (a reader holds the oldest record) or as skipped subscribers.
            #expect(put > 0 && (refused > 0 || subscribers.contains { $0.lost > 0 }), "the producer put \(put) and was refused \(refused) times, nobody lost anything: not an overload")
            for (i, subscriber) in subscribers.enumerated() {
                let mine = results[i]
                let report = "subscriber \(i) (delay \(delays[i]) µs): \(mine.duringOverload) read during the overload, delivered \(subscriber.delivered), lost \(subscriber.lost) of \(put) put (\(refused) refused)"
                #expect(mine.failure == nil, "\(report): \(mine.failure ?? "")")
                #expect(mine.duringOverload > 0, "\(report): starved")
                #expect(subscriber.delivered == UInt64(mine.indices.count), "\(report)")
                #expect(subscriber.delivered + subscriber.lost == UInt64(put), "\(report)")
                #expect(mine.indices == mine.indices.sorted() && Set(mine.indices).count == mine.indices.count, "\(report): out of order")
                #expect(mine.indices.allSatisfy { $0 >= 0 && $0 < put }, "\(report)")
            }
        }
    }
}
