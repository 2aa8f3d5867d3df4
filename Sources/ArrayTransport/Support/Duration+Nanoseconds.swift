extension Duration {
    /// The duration in whole nanoseconds, clamped to `0...Int64.max` (negative durations are 0).
    var clampedNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (total, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? .max : total
    }

    /// The monotonic deadline this long from now, or nil for `nil` (no limit).
    static func deadline(after timeout: Duration?) -> Int64? {
        guard let timeout else { return nil }
        let (deadline, overflow) = Sys.monotonicNanoseconds().addingReportingOverflow(timeout.clampedNanoseconds)
        return overflow ? nil : deadline
    }
}
