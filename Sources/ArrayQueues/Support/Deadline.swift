/// When a call's waiting must end: its timeout, turned into a monotonic instant only when the
/// call first has to wait.
///
/// Reading the clock costs 23–62 ns on the benchmark VM, and turning a `Duration` into
/// nanoseconds, a 128-bit division, 17–28 ns (BENCHMARKS.md, "A clock read per call"):
/// together a tenth to a fifth of a small put. A call that finds room or a record at once never
/// waits, so it never needs the instant. The timeout therefore counts from when the call first
/// waits (for the lock, for room, or the first clock read of a consumer's spin): within
/// microseconds of the call's start.
struct Deadline {
    /// The longest timeout that is a limit (``Swift/Duration/longestNanoseconds``, 36 years), as
    /// a computed property: a `static let` costs a `swift_once` check at every call.
    private static var longest: Duration { .nanoseconds(Duration.longestNanoseconds) }
    /// The timeout, until the instant is fixed; nil for none.
    private let timeout: Duration?
    /// The instant, once fixed.
    private var instant: Int64?
    private var isFixed: Bool

    /// A deadline `timeout` after the call first waits; nil waits without limit.
    /// - Throws: ``ArrayQueueError/Code/invalidArgument`` for a negative timeout.
    @inline(__always)
    init(after timeout: Duration?) throws(ArrayQueueError) {
        if let timeout, timeout < .zero { throw Self.negative(timeout) }
        // A timeout beyond what the arithmetic holds (centuries) means no limit, as nil does: lock
        // waits then keep their 10 s bound rather than a deadline 36 years away.
        // (A comparison of durations: no conversion to nanoseconds before the call waits.)
        self.timeout = timeout.flatMap { $0 < Self.longest ? $0 : nil }
        self.instant = nil
        self.isFixed = false
    }

    /// The error for a negative timeout (out of line: every put and get inlines the check).
    @inline(never)
    private static func negative(_ timeout: Duration) -> ArrayQueueError {
        ArrayQueueError(.invalidArgument, "a timeout cannot be negative (\(timeout))")
    }

    /// A deadline already fixed at `instant` (monotonic nanoseconds; nil for none).
    init(fixedAt instant: Int64?) {
        self.timeout = nil
        self.instant = instant
        self.isFixed = true
    }

    /// The instant in monotonic nanoseconds (nil for none), fixing it now if it is not yet:
    /// `now` if the caller has just read the clock, otherwise the clock is read here, and only
    /// when there is a timeout.
    mutating func fix(now: Int64? = nil) -> Int64? {
        guard !isFixed else { return instant }
        isFixed = true
        if let timeout {
            // No overflow: monotonic time and the clamped timeout are each below 2^62.
            instant = (now ?? Sys.monotonicNanoseconds()) + timeout.clampedNanoseconds
        }
        return instant
    }
}
