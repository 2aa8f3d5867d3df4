extension Duration {
    /// The duration in whole nanoseconds, clamped to `0...Duration.longestNanoseconds`
    /// (negative durations are 0). Options are durations a caller chose, `Int64.max` ns meaning
    /// "forever" included: clamped so, twice one of them plus a monotonic time still fits in
    /// an `Int64`, and the deadlines and intervals computed from them cannot overflow.
    package var clampedNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return Self.longestNanoseconds }
        let (total, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? Self.longestNanoseconds : min(total, Self.longestNanoseconds)
    }

    /// The longest duration the packages compute with: 2^60 ns, about 36 years.
    package static let longestNanoseconds: Int64 = 1 << 60
}
