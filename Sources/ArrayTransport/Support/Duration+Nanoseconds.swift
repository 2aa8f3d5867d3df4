import ArrayQueues

extension Duration {
    /// The monotonic deadline this long from now, or nil for `nil` (no limit).
    static func deadline(after timeout: Duration?) -> Int64? {
        guard let timeout else { return nil }
        let (deadline, overflow) = Sys.monotonicNanoseconds().addingReportingOverflow(timeout.clampedNanoseconds)
        return overflow ? nil : deadline
    }
}
