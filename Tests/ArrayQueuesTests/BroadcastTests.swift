@_spi(Transport) @testable import ArrayQueues
import ArrayQueuesTestSupport
import CArrayQueuesShims
import Foundation
import Glibc
import Synchronization
import Testing

/// Broadcast queues in one process: delivery, policies, joining and leaving, the table's bounds.
@Suite("Broadcast queues in one process")
struct BroadcastTests {
    private static let broadcast = CreateOptions(broadcast: true)

    private func frame(_ counter: Int, bytes: Int = 1000) throws -> AnyNDArray {
        try Pattern.array(dtype: .uint8, shape: [bytes], seed: UInt64(counter))
    }

    @Test("every block subscriber gets every record, in order, exactly once, while the ring wraps many times")
    func everySubscriberGetsEverything() throws {
        try withQueue(capacity: 16 << 10, creating: Self.broadcast) { queue in
            let subscribers = try (0..<3).map { _ in try queue.subscribe(policy: .block, start: .next) }
            var next = [Int](repeating: 0, count: subscribers.count)
            let total = 200
            var put = 0
            // A ring of 16 KiB holds about 14 records: the producer must wait for the slowest reader.
            while next.contains(where: { $0 < total }) {
                while put < total, try queue.tryPut(frame(put), index: Int64(put)) { put += 1 }
                for (i, subscriber) in subscribers.enumerated() where Int.random(in: 0..<3) > 0 {
                    while let record = try subscriber.tryGet() {
                        #expect(record.index == Int64(next[i]))
                        #expect(record.array == (try frame(next[i])))
                        next[i] += 1
                    }
                }
            }
            #expect(put == total)
            for subscriber in subscribers {
                #expect(subscriber.delivered == UInt64(total) && subscriber.lost == 0)
            }
        }
    }

    @Test("a block subscriber makes a producer wait (bounded by its timeout); detaching it lets the producer go on")
    func blockSubscriberHoldsProducer() throws {
        try withQueue(capacity: 8 << 10, creating: Self.broadcast) { queue in
            let slow = try queue.subscribe(policy: .block, start: .next)
            var put = 0
            while try queue.tryPut(frame(put), index: Int64(put)) { put += 1 }
            #expect(put > 2)
            #expect(throws: ArrayQueueError.self) { try queue.put(try frame(put), timeout: .milliseconds(50)) }
            slow.detach()
            try queue.put(try frame(put), timeout: .seconds(5))
            #expect(throws: ArrayQueueError.self) { _ = try slow.tryGet() }
        }
    }

    @Test("a drop subscriber is skipped ahead and counts exactly what it lost; a block subscriber beside it loses nothing")
    func dropCountsExactly() throws {
        try withQueue(capacity: 8 << 10, creating: Self.broadcast) { queue in
            let viewer = try queue.subscribe(policy: .drop, start: .next)
            let recorder = try queue.subscribe(policy: .block, start: .next)
            var seen: [Int64] = []
            for counter in 0..<100 {
                try queue.put(frame(counter), index: Int64(counter), timeout: .seconds(5))
                // The recorder keeps up; the viewer reads one record in ten.
                #expect(try recorder.get(timeout: .seconds(1)).index == Int64(counter))
                if counter % 10 == 9, let record = try viewer.tryGet() { seen.append(record.index!) }
            }
            while let record = try viewer.tryGet() { seen.append(record.index!) }
            #expect(seen == seen.sorted() && Set(seen).count == seen.count)
            #expect(UInt64(seen.count) + viewer.lost == 100, "delivered \(seen.count), lost \(viewer.lost)")
            #expect(viewer.lost > 0 && recorder.lost == 0)
            let state = try queue.broadcastState()
            #expect(state.subscribers.map(\.lost).sorted() == [0, viewer.lost])
        }
    }

    @Test("many subscribers borrow one record at once; its room comes back only after the last releases it")
    func sharedBorrow() throws {
        try withQueue(capacity: 8 << 10, creating: Self.broadcast) { queue in
            let readers = try (0..<3).map { _ in try queue.subscribe(start: .next) }
            try queue.put(frame(0, bytes: 3000), index: 0)
            let first = try readers[0].borrow(timeout: .seconds(1))
            let second = try readers[1].borrow(timeout: .seconds(1))
            let third = try readers[2].borrow(timeout: .seconds(1))
            #expect(first.record.bytes.baseAddress == second.record.bytes.baseAddress, "every subscriber reads the same bytes in place")
            #expect(first.record.bytes.baseAddress == third.record.bytes.baseAddress)
            #expect(try queue.broadcastState().subscribers.allSatisfy(\.isReading))
            first.release()
            second.release()
            // One loan still holds record 0: a second record fits, a third as large does not.
            try queue.put(frame(1, bytes: 3000), index: 1)
            let fitsWhileHeld = try queue.tryPut(frame(2, bytes: 3000))
            #expect(!fitsWhileHeld)
            third.release()
            let fitsBeforeRead = try queue.tryPut(frame(2, bytes: 3000))
            #expect(fitsBeforeRead, "record 0's room came back with its last release")
            for reader in readers { #expect(try reader.get(timeout: .seconds(1)).index == 1) }
            try queue.put(frame(2, bytes: 3000), timeout: .seconds(1))
        }
    }

    @Test("detach while a record is lent: the slot is kept until the loan ends, then given up; a second borrow meanwhile is refused")
    func detachWhileLent() throws {
        try withQueue(capacity: 8 << 10, creating: Self.broadcast) { queue in
            let subscriber = try queue.subscribe(start: .next)
            try queue.put(frame(0), index: 0)
            let loan = try subscriber.borrow(timeout: .seconds(1))
            #expect { _ = try subscriber.tryBorrow() } throws: { ($0 as? ArrayQueueError)?.code == .invalidArgument }
            subscriber.detach()
            #expect(try queue.broadcastState().subscribers.map(\.isReading) == [true], "the loan still holds its record")
            #expect(loan.record.index == 0)
            loan.release()
            #expect(try queue.broadcastState().subscribers.isEmpty)
            #expect { try subscriber.tryGet() } throws: { ($0 as? ArrayQueueError)?.code == .notFound }
        }
    }

    @Test("start positions: oldest retained, newest committed, next reserved")
    func startPositions() throws {
        try withQueue(capacity: 64 << 10, creating: Self.broadcast) { queue in
            for counter in 0..<5 { try queue.put(frame(counter), index: Int64(counter)) }
            let oldest = try queue.subscribe(start: .oldest)
            let newest = try queue.subscribe(start: .newest)
            let next = try queue.subscribe(start: .next)
            try queue.put(frame(5), index: 5)
            #expect(try oldest.get(timeout: .seconds(1)).index == 0)
            #expect(try newest.get(timeout: .seconds(1)).index == 4)
            #expect(try next.get(timeout: .seconds(1)).index == 5)
        }
    }

    @Test("subscribers join and leave while records stream; each sees a gap-free run from its start")
    func joinAndLeave() throws {
        try withQueue(capacity: 16 << 10, creating: Self.broadcast) { queue in
            var active: [(subscriber: BroadcastSubscriber, next: Int64?)] = []
            for counter in 0..<300 {
                if counter % 25 == 0 { active.append((try queue.subscribe(start: .next), nil)) }
                if counter % 40 == 39, !active.isEmpty { active.removeFirst().subscriber.detach() }
                try queue.put(frame(counter, bytes: 500), index: Int64(counter), timeout: .seconds(5))
                for i in active.indices {
                    while let record = try active[i].subscriber.tryGet() {
                        if let expected = active[i].next { #expect(record.index == expected) }
                        active[i].next = record.index! + 1
                    }
                }
            }
            let state = try queue.broadcastState()
            #expect(state.subscribers.count == active.count && state.joined == 12 && state.left == 7)
        }
    }

    @Test("the table holds 32 subscribers; the 33rd gets a clear error, and a freed slot is reused")
    func tableBound() throws {
        try withQueue(capacity: 8 << 10, creating: Self.broadcast) { queue in
            var subscribers = try (0..<32).map { _ in try queue.subscribe() }
            #expect { try queue.subscribe() } throws: { ($0 as? ArrayQueueError)?.code == .full }
            subscribers.removeLast()
            subscribers.append(try queue.subscribe())
        }
    }

    @Test("clear() while a record is being written: subscribers lose what is before it, then read it once committed")
    func clearDuringWrite() throws {
        try withQueue(capacity: 64 << 10, creating: Self.broadcast) { queue in
            let viewer = try queue.subscribe(policy: .drop, start: .next)
            let recorder = try queue.subscribe(policy: .block, start: .next)
            try queue.put(frame(0), index: 0)
            var cleared = -1
            try queue.put(dtype: .uint8, shape: [100], index: 1) { (bytes: UnsafeMutableRawBufferPointer) in
                cleared = try queue.clear()
                bytes.initializeMemory(as: UInt8.self, repeating: 1)
            }
            try queue.put(frame(2), index: 2)
            #expect(cleared == 2, "record 0, once for each subscriber")
            for subscriber in [viewer, recorder] {
                var got: [Int64] = []
                while let record = try subscriber.tryGet() { got.append(record.index!) }
                #expect(got == [1, 2], "the record being written survives the clear")
                #expect(subscriber.lost == 1 && subscriber.delivered == 2, "delivered + lost is every record committed after its start")
            }
        }
    }

    /// Whether subscriber slot `slot`'s lock byte is held, as another open file description sees it.
    private func isSlotByteLocked(_ queue: ArrayQueue, _ slot: Int) throws -> Bool? {
        let descriptor = open("/dev/shm/aq.\(queue.name)", O_RDWR | O_CLOEXEC)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        return Sys.isByteLocked(descriptor, queue.ring.header.subscriber(slot).lockByte)
    }

    @Test("a subscription whose slot a peer freed, then another of this process took, detaches without freeing or unlocking that slot")
    func detachAfterSlotTakenAgain() throws {
        try withQueue(capacity: 64 << 10, creating: Self.broadcast) { queue in
            let first = try queue.subscribe(policy: .block, start: .next)
            // A peer judges this process dead and frees the slot (as a hostile or confused one may).
            queue.ring.header.subscriber(first.slot).state.pointee.store(0, ordering: .releasing)
            let second = try queue.subscribe(policy: .block, start: .next)
            #expect(second.slot == first.slot)
            first.detach()
            #expect(try queue.broadcastState().subscribers.map(\.slot) == [second.slot], "the second subscription keeps its slot")
            #expect(try isSlotByteLocked(queue, second.slot) == true, "and its byte stays locked")
            try queue.put(frame(0), index: 0)
            #expect(try second.tryGet()?.index == 0)
        }
    }

    /// A subscription whose slot a peer freed, and another subscription of this process took,
    /// went on reading through the slot: it took the other one's records.
    @Test("a subscription whose slot was freed by a peer and taken again reads nothing of the new one's")
    func staleSubscriptionReadsNothing() throws {
        try withQueue(capacity: 64 << 10, creating: Self.broadcast) { queue in
            let first = try queue.subscribe(policy: .block, start: .next)
            // As a peer's sweep does when it judges this process dead.
            try queue.ring.withLock { () throws(ArrayQueueError) in queue.ring.header.subscriber(first.slot).state.pointee.store(0, ordering: .releasing) }
            let second = try queue.subscribe(policy: .block, start: .next)
            #expect(second.slot == first.slot)
            try queue.put(frame(0), index: 0)
            try queue.put(frame(1), index: 1)
            #expect(throws: ArrayQueueError.self) { try first.tryGet() }
            #expect(try second.tryGet()?.index == 0)
            #expect(try second.tryGet()?.index == 1)
        }
    }

    @Test("threads subscribing and detaching at once: a subscription's byte is never found unlocked")
    func detachSubscribeRace() throws {
        try withQueue(capacity: 64 << 10, creating: Self.broadcast) { queue in
            let unlocked = Atomic<Int>(0)
            let stop = Atomic<Bool>(false)
            let group = DispatchGroup()
            for _ in 0..<3 {
                DispatchQueue.global().async(group: group) {
                    while !stop.load(ordering: .relaxed) {
                        guard let subscriber = try? queue.subscribe(policy: .block, start: .next) else { continue }
                        // Detaching releases the byte after freeing the slot; a join in between would lose its lock.
                        if (try? isSlotByteLocked(queue, subscriber.slot)) != true { unlocked.add(1, ordering: .relaxed) }
                        subscriber.detach()
                    }
                }
            }
            usleep(1_500_000)
            stop.store(true, ordering: .relaxed)
            #expect(group.wait(timeout: .now() + 30) == .success)
            #expect(unlocked.load(ordering: .relaxed) == 0, "subscriptions whose byte was free while they were subscribed")
        }
    }

    @Test("a record whose dtype, shape and size disagree is passed by and counted lost, not delivered")
    func corruptRecordCountsLost() throws {
        try withQueue(capacity: 64 << 10, creating: Self.broadcast) { queue in
            let subscriber = try queue.subscribe(policy: .block, start: .next)
            try queue.put(frame(0), index: 0)
            // A peer writes garbage into the committed record's dtype.
            let (head, _, _) = try queue.ring.cursors()
            queue.ring.record(at: head).raw.assumingMemoryBound(to: caq_record_header.self).pointee.dtype = 250
            try queue.put(frame(1), index: 1)
            #expect { try subscriber.tryGet() } throws: { ($0 as? ArrayQueueError)?.code == .corruptSegment }
            #expect(subscriber.lost == 1 && subscriber.delivered == 0)
            #expect(try subscriber.tryGet()?.index == 1)
            #expect(subscriber.lost == 1 && subscriber.delivered == 1)
        }
    }

    @Test("a skip a peer staged in the slot of a subscriber reading in place moves nothing under it; its give-back goes through")
    func skipStagedWhileBorrowing() throws {
        try withQueue(capacity: 64 << 10, creating: Self.broadcast) { queue in
            let subscriber = try queue.subscribe(policy: .block, start: .next)
            for counter in 0..<3 { try queue.put(frame(counter), index: Int64(counter)) }
            let loan = try subscriber.borrow(timeout: .seconds(1))
            #expect(loan.record.index == 0)
            let (_, _, tail) = try queue.ring.cursors()
            queue.ring.header.subscriber(subscriber.slot).skipCursor.pointee.store(tail, ordering: .relaxed)
            // Anyone reading the table under the lock (here: the state, a producer).
            _ = try queue.broadcastState()
            try queue.put(frame(3), index: 3)
            loan.release()
            #expect(try queue.broadcastState().subscribers.map(\.isReading) == [false], "the give-back matched its cursor")
            // The staged skip, now on an IDLE slot, may be finished; the subscriber is not stuck.
            #expect(throws: Never.self) { _ = try subscriber.tryGet() }
        }
    }

    @Test("lost and delivered after detach are the subscriber's own, not those of whoever takes its slot next")
    func countsAfterDetach() throws {
        try withQueue(capacity: 64 << 10, creating: Self.broadcast) { queue in
            let first = try queue.subscribe(policy: .drop, start: .next)
            for counter in 0..<3 { try queue.put(frame(counter), index: Int64(counter)) }
            _ = try first.get(timeout: .seconds(1))
            #expect(try queue.clear() == 2)
            first.detach()
            let second = try queue.subscribe(policy: .drop, start: .next)
            #expect(second.slot == first.slot)
            try queue.put(frame(3), index: 3)
            _ = try second.get(timeout: .seconds(1))
            #expect(first.delivered == 1 && first.lost == 2)
            #expect(second.delivered == 1 && second.lost == 0)
        }
    }

    @Test("get and clear on a broadcast queue; subscribe on a plain one; broadcast with the reset policy")
    func misuse() throws {
        try withQueue(capacity: 8 << 10, creating: Self.broadcast) { queue in
            try queue.put(frame(0))
            #expect { try queue.tryGet() } throws: { ($0 as? ArrayQueueError)?.code == .invalidArgument }
            let subscriber = try queue.subscribe(start: .oldest)
            try queue.put(frame(1))
            #expect(try queue.clear() == 2)
            let after = try subscriber.tryGet()
            #expect(subscriber.lost == 2 && after == nil)
            #expect(queue.info.isBroadcast)
        }
        _ = try withQueue(capacity: 8 << 10) { queue in
            #expect { try queue.subscribe() } throws: { ($0 as? ArrayQueueError)?.code == .invalidArgument }
        }
        #expect { try ArrayQueue.create(name: uniqueQueueName("bcast-reset"), capacity: 8192, creating: CreateOptions(shapeChange: .reset, broadcast: true)) }
            throws: { ($0 as? ArrayQueueError)?.code == .invalidArgument }
    }
}
