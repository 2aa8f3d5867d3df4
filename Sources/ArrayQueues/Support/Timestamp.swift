/// A point in time: nanoseconds since the Unix epoch (UTC), as records carry it.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    public var nanosecondsSinceEpoch: Int64

    /// A timestamp of `nanosecondsSinceEpoch`.
    public init(nanosecondsSinceEpoch: Int64) {
        self.nanosecondsSinceEpoch = nanosecondsSinceEpoch
    }

    /// The current time of the system's real-time clock (`CLOCK_REALTIME`).
    public static func now() -> Timestamp {
        Timestamp(nanosecondsSinceEpoch: Sys.realtimeNanoseconds())
    }

    /// Nanoseconds from `earlier` to this time, held at `Int64.min` or `Int64.max` where the
    /// difference does not fit: a record's or a message's timestamp is whatever its writer
    /// chose, `Int64.min` included, and a lag computed from it must not trap.
    public func nanoseconds(since earlier: Timestamp) -> Int64 {
        let (difference, overflow) = nanosecondsSinceEpoch.subtractingReportingOverflow(earlier.nanosecondsSinceEpoch)
        guard overflow else { return difference }
        return earlier.nanosecondsSinceEpoch < 0 ? .max : .min
    }

    /// Seconds since the Unix epoch, as a floating-point number (Python's `time.time()`).
    public var secondsSinceEpoch: Double { Double(nanosecondsSinceEpoch) / 1e9 }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
    }

    public var description: String {
        // On the magnitude: a timestamp read from a crafted segment may be negative, even Int64.min.
        let sign = nanosecondsSinceEpoch < 0 ? "-" : ""
        let seconds = nanosecondsSinceEpoch.magnitude.quotientAndRemainder(dividingBy: 1_000_000_000)
        let fraction = String(seconds.remainder)
        return "\(sign)\(seconds.quotient).\(String(repeating: "0", count: 9 - fraction.count))\(fraction)"
    }
}
