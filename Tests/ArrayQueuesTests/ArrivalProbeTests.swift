@testable import ArrayQueues
import Testing

/// A consumer's spin watches `tail` and the place of the next record (``Ring/hasArrival(_:)``):
/// these tests drive the hint by hand, storing into the ring as a producer would.
@Suite("The spinning consumer's arrival hint")
struct ArrivalProbeTests {
    /// A queue with one record put and taken, and a probe at its tail as an empty claim leaves it.
    private func emptyQueue(_ label: String) throws -> (ArrayQueue, Ring, Ring.ArrivalProbe) {
        let queue = try ArrayQueue.create(name: uniqueQueueName(label), capacity: 64 << 10)
        try queue.put(try NDArray<UInt8>(shape: [8], repeating: 1))
        _ = try queue.get()
        let tail = queue.ring.header.tail.pointee.load(ordering: .relaxed)
        return (queue, queue.ring, Ring.ArrivalProbe(tail: tail))
    }

    @Test("a record turning READY at the old tail is news before the tail moves; other states are not")
    func readyAtTheOldTail() throws {
        let (queue, ring, start) = try emptyQueue("arrival-ready")
        defer { try? ArrayQueue.remove(name: queue.name) }
        var probe = start
        #expect(!ring.hasArrival(&probe), "nothing changed yet (the first look takes the baseline)")
        #expect(!ring.hasArrival(&probe))
        let slot = ring.record(at: probe.tail)
        slot.setState(.writing)
        #expect(!ring.hasArrival(&probe), "a record being written is not claimable")
        slot.setState(.ready)
        #expect(ring.hasArrival(&probe), "a small put publishes READY before it stores tail")
        // The claim that follows finds `tail` unmoved: nothing is taken from the hint alone.
        slot.setState(.done)
        #expect(try queue.tryGet() == nil)
    }

    @Test("a READY word already at the old tail (a producer killed before its tail store) is no news")
    func staleReadyIsTheBaseline() throws {
        let (queue, ring, start) = try emptyQueue("arrival-stale")
        defer { try? ArrayQueue.remove(name: queue.name) }
        var probe = start
        ring.record(at: probe.tail).setState(.ready)
        for _ in 0..<8 { #expect(!ring.hasArrival(&probe)) }
        // A real put moves `tail`: news, and the claim takes the real record.
        ring.record(at: probe.tail).setState(.done)
        try queue.put(try NDArray<UInt8>(shape: [8], repeating: 2))
        #expect(ring.hasArrival(&probe))
        #expect(try queue.tryGet()?.array.byteCount == 8)
    }
}
