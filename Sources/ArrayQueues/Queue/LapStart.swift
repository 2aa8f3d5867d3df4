import Synchronization

/// Where in the ring a cursor position falls, found without a division.
///
/// Positions grow without bound and the ring's capacity is not a power of two, so an offset is
/// `position % capacity`: a 64-bit division of 3–14 ns on the benchmark VM, several in every put
/// and get (BENCHMARKS.md, "A clock read per call"). This keeps the start of the lap where this
/// process last located a position, and finds a position in that lap by a subtraction.
/// Process memory, not shared memory. Every value stored is a multiple of the capacity, so
/// a thread that stores an older lap than another's leaves a value as correct as any: the
/// next position outside it pays one division.
final class LapStart: Sendable {
    private let start = Atomic<UInt64>(0)
    private let capacity: UInt64

    /// For a ring of `capacity` bytes (validated: positive).
    init(capacity: Int) {
        self.capacity = UInt64(truncatingIfNeeded: max(capacity, 1))
    }

    /// `position % capacity`, for a position at most `UInt64.max - capacity` (every caller's is a
    /// validated cursor, at most `Ring.maximumPosition`): a lap cached above that could make the
    /// wrapped distance of a smaller position look like an offset.
    @inline(__always)
    func offset(of position: UInt64) -> Int {
        let lap = start.load(ordering: .relaxed)
        // Wraps to a huge value when `position` precedes the lap: then the division decides.
        let distance = position &- lap
        if distance < capacity { return Int(truncatingIfNeeded: distance) }
        let offset = position % capacity
        start.store(position - offset, ordering: .relaxed)
        return Int(truncatingIfNeeded: offset)
    }
}
