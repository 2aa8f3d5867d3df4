import Synchronization

/// A value that a shared-memory cursor which only grows (`read`, `tail`) had, as this process
/// last saw it: a lower bound of the cursor that spares a hot path the load of a line another
/// core writes. Process memory, not shared memory. The threads sharing a handle store what they
/// saw without a compare-exchange, so a racing thread may store an older value: still one the
/// cursor had, so still a lower bound. Acquire and release (plain moves on x86): a thread that
/// uses a value another thread saw also sees what that thread saw with it (the records a
/// producer wrote before it stored `tail`).
final class SeenCursor: Sendable {
    private let value = Atomic<UInt64>(0)

    /// A value the cursor had (0 before anything was seen).
    var lowerBound: UInt64 { value.load(ordering: .acquiring) }

    /// Notes a value just loaded from the cursor.
    func saw(_ cursor: UInt64) {
        if cursor > value.load(ordering: .relaxed) { value.store(cursor, ordering: .releasing) }
    }
}
