@_spi(Bindings) import ArrayQueues
import ArrayQueuesTestSupport
import CArrayQueuesShims
import Foundation
import Glibc
import Testing

/// Consumers claim the record at `read` without the lock (docs/LAYOUT.md, "Get"): these tests
/// race that claim against everything else that changes READY records, and check the owner
/// fields the dead-peer sweep judges a claimed record by.
@Suite(.timeLimit(.minutes(2)))
struct ClaimWithoutLockTests {
    /// Reads `count` bytes at `offset` of the queue's segment file.
    private func segmentBytes(_ name: String, at offset: Int, count: Int) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/shm/aq.\(name)"))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        return Array(try handle.read(upToCount: count) ?? Data())
    }

    private func writeSegment(_ name: String, at offset: Int, _ value: UInt32) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: "/dev/shm/aq.\(name)"))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        handle.write(withUnsafeBytes(of: value.littleEndian) { Data($0) })
    }

    private func u32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    @Test("commit leaves owner_start 0 on a READY record; a claim stores the reader's pid and start time; a start of 0 is judged by the pid alone")
    func ownerFields() throws {
        let name = uniqueQueueName("owner")
        let queue = try ArrayQueue.create(name: name, capacity: 64 << 10)
        defer { try? ArrayQueue.remove(name: name) }
        // Two records: the second (sequence number 1) shows that the owner half holds the sequence.
        try queue.put(try NDArray<UInt8>(shape: [100], repeating: 1))
        try queue.put(try NDArray<UInt8>(shape: [100], repeating: 1))
        _ = try queue.get()
        let second = try #require(try recordOffset(queue, name: name, state: .ready))
        #expect(u32(try segmentBytes(name, at: second + SegmentLayout.record(\.owner_start), count: 4)) == 0, "commit clears the writer's start time")
        #expect(u32(try segmentBytes(name, at: second + SegmentLayout.record(\.owner_pid), count: 4)) == 1, "a READY record holds the low bits of its sequence number, not its writer's pid")
        _ = try queue.get()
        try queue.put(try NDArray<UInt8>(shape: [100], repeating: 1))
        let third = try #require(try recordOffset(queue, name: name, state: .ready))
        let pidOffset = third + SegmentLayout.record(\.owner_pid)
        let startOffset = third + SegmentLayout.record(\.owner_start)
        try queue.get { _ in
            // Claimed (without the lock): this process's pid and start time.
            #expect(u32(try segmentBytes(name, at: pidOffset, count: 4)) == UInt32(getpid()))
            let start = u32(try segmentBytes(name, at: startOffset, count: 4))
            #expect(start != 0)
            // A reader between its claim and its start-time store: alive by its pid, never swept.
            try writeSegment(name, at: startOffset, 0)
            #expect(try queue.recoverFromDeadPeers() == false)
            #expect(try queue.recordSummaries().first?.state == .reading)
            // The same pid with another start time is a reused pid: swept (the contrast).
            try writeSegment(name, at: startOffset, start &+ 1)
            #expect(try queue.recoverFromDeadPeers() == true)
            #expect(try queue.recordSummaries().allSatisfy { $0.state != .reading })
        }
        let statistics = try queue.statistics()
        #expect(statistics.lostReads == 1 && statistics.gets == 2, "the two records taken before, and the one swept from a reader thought dead")
        // A dead pid with start 0 is dead: its record is swept.
        try queue.put(try NDArray<UInt8>(shape: [100], repeating: 2))
        try queue.get { _ in
            let base = try #require(try recordOffset(queue, name: name, state: .reading))
            try writeSegment(name, at: base + SegmentLayout.record(\.owner_pid), 4_194_305)  // above any pid_max
            try writeSegment(name, at: base + SegmentLayout.record(\.owner_start), 0)
            #expect(try queue.recoverFromDeadPeers() == true)
        }
        #expect(try queue.statistics().lostReads == 2)
    }

    @Test("a READY record whose word names another sequence number is not claimed without the lock, and the walk under the lock still delivers it")
    func claimTiedToSequence() throws {
        let name = uniqueQueueName("seqtie")
        let queue = try ArrayQueue.create(name: name, capacity: 64 << 10)
        defer { try? ArrayQueue.remove(name: name) }
        try queue.put(try NDArray<UInt8>(shape: [100], repeating: 9), index: 5)
        let record = try #require(try recordOffset(queue, name: name, state: .ready))
        // As if the room had been reused by the record after it: the claim without the lock expects sequence 0 and fails.
        try writeSegment(name, at: record + SegmentLayout.record(\.owner_pid), 1)
        // With the lock held elsewhere, only a claim without it could take the record: none does.
        let holder = try HelperProcess(["hold-lock", name])
        defer { holder.kill() }
        usleep(300_000)
        let error = #expect(throws: ArrayQueueError.self) { try queue.get(timeout: .milliseconds(100)) }
        #expect(error?.code == .timeout)
        holder.kill()
        let taken = try queue.tryGet()
        #expect(taken?.index == 5 && taken?.array.shape == [100], "the walk under the lock still delivers it")
        #expect(try queue.tryGet() == nil)
    }

    @Test("a record taken away while it was being written (its owner changed) is neither published nor given back by its first writer")
    func publishExpectsItsWriter() throws {
        let name = uniqueQueueName("writer")
        let queue = try ArrayQueue.create(name: name, capacity: 64 << 10)
        defer { try? ArrayQueue.remove(name: name) }
        let view = try #require(try queue.reserveRecord(dtype: .uint8, shape: [10], timestamp: nil, index: nil, timeout: nil, blocking: false))
        let record = try #require(try recordOffset(queue, name: name, state: .writing))
        // Another writer's now (as if a sweep had freed this one's and its room been reserved again).
        try writeSegment(name, at: record + SegmentLayout.record(\.owner_pid), UInt32(getpid()) &+ 1)
        let error = #expect(throws: ArrayQueueError.self) { try queue.commit(view) }
        #expect(error?.code == .corruptSegment)
        queue.abandon(view)
        #expect(try queue.recordSummaries().map(\.state) == [.writing], "the other writer's record is left alone")
    }

    @Test("a consumer frees only a record it still holds: one that another reader claimed since (after a sweep thought this one dead) stays READING, through get { } and the bindings' release alike")
    func releaseExpectsItsReader() throws {
        let name = uniqueQueueName("reader")
        let queue = try ArrayQueue.create(name: name, capacity: 64 << 10)
        defer { try? ArrayQueue.remove(name: name) }
        let stranger = UInt32(getpid()) &+ 1
        try queue.put(try NDArray<UInt8>(shape: [10], repeating: 1))
        try queue.get { _ in
            let record = try #require(try recordOffset(queue, name: name, state: .reading))
            // Another reader's now (as if a sweep had freed this one's and its room been claimed again).
            try writeSegment(name, at: record + SegmentLayout.record(\.owner_pid), stranger)
        }
        #expect(try queue.recordSummaries().map(\.state) == [.reading], "the other reader's record is left alone")
        #expect(try queue.statistics().gets == 0, "nothing this consumer freed")

        // The bindings' release, on a queue of its own (the first record stays READING above).
        let bindingsName = uniqueQueueName("reader-c")
        let bindings = try ArrayQueue.create(name: bindingsName, capacity: 64 << 10)
        defer { try? ArrayQueue.remove(name: bindingsName) }
        try bindings.put(try NDArray<UInt8>(shape: [10], repeating: 2))
        guard case let .claimed(view) = try bindings.claimRecord(maximumPayloadBytes: 1 << 10, timeout: nil, blocking: false) else {
            Issue.record("no record claimed")
            return
        }
        let record = try #require(try recordOffset(bindings, name: bindingsName, state: .reading))
        try writeSegment(bindingsName, at: record + SegmentLayout.record(\.owner_pid), stranger)
        bindings.release(view)
        #expect(try bindings.recordSummaries().map(\.state) == [.reading], "the bindings' release leaves it alone too")
        // The contrast: released by its own reader, a record is freed.
        try writeSegment(bindingsName, at: record + SegmentLayout.record(\.owner_pid), UInt32(getpid()))
        bindings.release(view)
        #expect(try bindings.recordSummaries().allSatisfy { $0.state != .reading })
        #expect(try bindings.statistics().gets == 1)
    }

    /// The segment-file offset of the first record in `state`, found by walking the ring's
    /// record lengths from `head` (the test owns the queue, nothing else changes it meanwhile).
    private func recordOffset(_ queue: ArrayQueue, name: String, state: RecordSummary.State) throws -> Int? {
        let head = try segmentBytes(name, at: SegmentLayout.header(\.head), count: 8)
        let tail = try segmentBytes(name, at: SegmentLayout.header(\.tail), count: 8)
        var position = head.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let end = tail.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let raw: UInt32 = switch state {
        case .reading: CAQ_STATE_READING
        case .writing: CAQ_STATE_WRITING
        default: CAQ_STATE_READY
        }
        while position < end {
            let offset = SegmentLayout.headerSize + position % queue.capacity
            if u32(try segmentBytes(name, at: offset, count: 4)) == raw { return offset }
            let length = try segmentBytes(name, at: offset + SegmentLayout.record(\.length), count: 8)
                .withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
            guard length > 0 else { return nil }
            position += length
        }
        return nil
    }

    @Test("threads: consumers claiming without the lock race batch takers, clear() and a drop-oldest producer; every record arrives at most once, intact and, for each consumer, in each producer's order; taken + dropped = put")
    func racesWithEverythingElse() throws {
        let name = uniqueQueueName("racing")
        let shared = try ArrayQueue.create(name: name, capacity: 32 << 10)
        defer { try? ArrayQueue.remove(name: name) }
        let perProducer = 3000
        let results = Locked<[Int64]>([])
        let orderBreaks = Locked<[String]>([])
        let failures = Locked<[String]>([])
        let producersDone = Locked<Int>(0)
        let roles = (0..<7).map { role in
            { @Sendable in
                do {
                    switch role {
                    case 0, 1:
                        // Producers; the second drops the oldest records when the ring is full.
                        let queue = try ArrayQueue.open(name: name, options: QueueOptions(overflow: role == 1 ? .dropOldest : .block))
                        for counter in 0..<perProducer {
                            let index = Pattern.index(producer: role, counter: counter)
                            try queue.put(dtype: .uint8, shape: [64 + counter % 700], index: index, timeout: .seconds(30)) { Pattern.fill($0, seed: UInt64(index)) }
                        }
                        producersDone.withLock { $0 += 1 }
                    case 2:
                        // clear() now and then, until the producers are done.
                        while producersDone.withLock({ $0 }) < 2 {
                            _ = try shared.clear()
                            usleep(200)
                        }
                    default:
                        // Three consumers claiming singly (mostly without the lock), one in batches;
                        // they stop once the producers are done and nothing came for 300 ms.
                        let queue = try ArrayQueue.open(name: name)
                        var last: [Int: Int64] = [:]
                        while true {
                            var taken: [Int64] = []
                            do {
                                if role == 6 {
                                    try queue.drain(upTo: 16, blocking: true, timeout: .milliseconds(300)) { record in
                                        taken.append(Pattern.verify(record.bytes, seed: UInt64(record.index!)) ? record.index! : -1)
                                    }
                                } else {
                                    taken.append(try queue.get(timeout: .milliseconds(300)) { record -> Int64 in
                                        Pattern.verify(record.bytes, seed: UInt64(record.index!)) ? record.index! : -1
                                    })
                                }
                            } catch let error as ArrayQueueError where error.code == .timeout {
                                if producersDone.withLock({ $0 }) == 2 { break }
                            }
                            // Within one consumer, each producer's records come in the order it put them.
                            for index in taken where index >= 0 {
                                let producer = Int(index >> 32)
                                if let previous = last[producer], previous >= index {
                                    orderBreaks.withLock { $0.append("consumer \(role): \(index) after \(previous)") }
                                }
                                last[producer] = index
                            }
                            results.withLock { $0.append(contentsOf: taken) }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("thread \(role): \(error)") }
                }
            }
        }
        #expect(runOnThreads(roles, seconds: 90))
        try expectRaceOutcome(
            shared, taken: results.withLock { $0 }, puts: 2 * perProducer, orderBreaks: orderBreaks.withLock { $0 }, failures: failures.withLock { $0 })
    }
}
