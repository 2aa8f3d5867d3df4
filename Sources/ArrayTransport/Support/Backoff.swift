/// The pauses of a wait that polls: 20 µs first (unless told otherwise), doubling up to 1 ms,
/// so that a short wait ends soon and a long one costs little CPU.
struct Backoff {
    private var nanoseconds: Int64

    init(firstNanoseconds: Int64 = 20_000) {
        nanoseconds = firstNanoseconds
    }

    /// Sleeps for the next pause, cut short at `deadline` (monotonic ns) if one is given.
    mutating func pause(notPast deadline: Int64? = nil) {
        let pause = deadline.map { min(nanoseconds, max(0, $0 &- Sys.monotonicNanoseconds())) } ?? nanoseconds
        Sys.sleep(nanoseconds: pause)
        nanoseconds = min(nanoseconds * 2, 1_000_000)
    }
}
