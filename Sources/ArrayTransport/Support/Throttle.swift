import Synchronization

/// Lets a repeated message through at most once per interval and counts what it held back,
/// so that a flood of identical warnings becomes one line every few seconds.
public final class Throttle: Sendable {
    private struct State {
        var last: ContinuousClock.Instant?
        var suppressed = 0
    }

    private let interval: Duration
    private let state = Mutex(State())

    /// Lets one message through per `interval`.
    public init(every interval: Duration = .seconds(10)) {
        self.interval = interval
    }

    /// nil when the message should be held back; otherwise how many were held back since the last one.
    public func admit() -> Int? {
        let now = ContinuousClock.now
        return state.withLock { state in
            if let last = state.last, now - last < interval {
                state.suppressed += 1
                return nil
            }
            state.last = now
            defer { state.suppressed = 0 }
            return state.suppressed
        }
    }
}

extension Int {
    /// ` (and 12 more since the last report)`, or nothing.
    public var andMore: String { self > 0 ? " (and \(self) more since the last report)" : "" }
}
