import Synchronization

/// A flag that makes a blocked `get` give up with ``ArrayQueueError/Code/cancelled``.
@_spi(Transport)
public final class Cancellation: Sendable {
    private let flag = Atomic<Bool>(false)
    /// A flag that is not set.
    public init() {}
    /// Whether `cancel()` was called.
    public var isCancelled: Bool { flag.load(ordering: .acquiring) }
    /// Sets the flag; pair with ``ArrayQueue/wakeConsumers()`` to end waits already under way.
    public func cancel() { flag.store(true, ordering: .releasing) }
}

extension ArrayQueue {
    /// How often a producer that waits for room checks for dead consumers holding it.
    static let deadPeerCheckInterval: Int64 = 250_000_000

    /// The monotonic deadline for `timeout`; nil waits without limit.
    static func deadline(after timeout: Duration?) throws(ArrayQueueError) -> Int64? {
        guard let timeout else { return nil }
        guard timeout >= .zero else {
            throw ArrayQueueError(.invalidArgument, "a timeout cannot be negative (\(timeout))")
        }
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !nanoseconds.overflow else { return nil }  // centuries: no limit
        let now = Sys.monotonicNanoseconds()
        let total = nanoseconds.partialValue.addingReportingOverflow(attoseconds / 1_000_000_000 + now)
        return total.overflow ? nil : total.partialValue
    }

    /// Retries `attempt` until it returns a value, waiting on `signal` in between: first a
    /// short spin (answers within a microsecond when the peer is quick), then a futex sleep
    /// that costs no CPU. Producers (`checkingDeadPeers`) wake up periodically to free room
    /// held by processes that died.
    func waitUntil<T>(
        _ signal: WakeSignal, deadline: Int64?, checkingDeadPeers: Bool, cancellation: Cancellation?,
        describe: () -> String, _ attempt: () throws(ArrayQueueError) -> T?
    ) throws(ArrayQueueError) -> T {
        if let value = try attempt() { return value }
        let spin = options.spin.components
        let spinNanoseconds = spin.seconds * 1_000_000_000 + spin.attoseconds / 1_000_000_000
        var lastCheck = Sys.monotonicNanoseconds()
        signal.beginWatching()
        defer { signal.endWatching() }
        while true {
            // Read the word, then re-check: a change after this read makes the sleep return at once.
            let seen = signal.current
            if let value = try attempt() { return value }
            if cancellation?.isCancelled == true {
                throw ArrayQueueError(.cancelled, "\(describe()) was cancelled")
            }
            var now = Sys.monotonicNanoseconds()
            if let deadline, now >= deadline {
                throw ArrayQueueError(.timeout, "\(describe()) timed out")
            }
            if spinNanoseconds > 0 {
                let spinEnd = min(now + spinNanoseconds, deadline ?? .max)
                var spins = 0
                while signal.current == seen {
                    Sys.cpuRelax()
                    spins &+= 1
                    if spins & 63 == 0 && Sys.monotonicNanoseconds() >= spinEnd { break }
                }
                if signal.current != seen { continue }
                now = Sys.monotonicNanoseconds()
            }
            var sleep = deadline.map { max($0 - now, 0) }
            if checkingDeadPeers { sleep = min(sleep ?? .max, Self.deadPeerCheckInterval) }
            signal.sleep(seen: seen, nanoseconds: sleep)
            if checkingDeadPeers, Sys.monotonicNanoseconds() - lastCheck >= Self.deadPeerCheckInterval {
                try recoverFromDeadPeers()
                lastCheck = Sys.monotonicNanoseconds()
            }
        }
    }

    /// One sweep for dead peers if none ran recently (for non-blocking calls that found the
    /// queue full, so that they too recover room held by dead consumers).
    func recoverIfDue() throws(ArrayQueueError) -> Bool {
        let last = Int64(bitPattern: ring.header.lastRecovery.pointee.load(ordering: .relaxed))
        guard Sys.monotonicNanoseconds() - last >= Self.deadPeerCheckInterval else { return false }
        return try recoverFromDeadPeers()
    }

    /// Wakes every consumer of this queue (in every process) so that they re-check their
    /// condition; used to deliver cancellation to a thread blocked in `get`.
    @_spi(Transport)
    public func wakeConsumers() {
        ring.header.dataSignal.wakeAll()
    }
}
