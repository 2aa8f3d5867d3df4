extension UInt64 {
    /// `self + other`, held at `UInt64.max`: for counters a peer can drive, such as messages
    /// lost by forged sequence numbers, which a few messages could otherwise overflow.
    func saturatingAdd(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
