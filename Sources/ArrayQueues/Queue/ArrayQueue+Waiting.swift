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
    /// How often, queue-wide, producers that lack room sweep for dead peers holding it
    /// (`last_recovery_ns` spaces the sweeps, whoever runs them).
    static let deadPeerCheckInterval: Int64 = 200_000_000
    /// The longest a waiter sleeps before re-checking its condition, whatever its deadline:
    /// a process killed between making a change and notifying leaves its waiters asleep
    /// for at most this long.
    static let recheckInterval: Int64 = 100_000_000

    /// Retries `attempt` until it returns a record, like ``waitUntil(_:deadline:checkingDeadPeers:cancellation:spinning:describe:_:)``
    /// on the data signal, but spins first on the ring itself (``Ring/hasArrival(_:)`` with
    /// `probe`, which the caller's last attempt filled) without registering on the signal: a
    /// producer's notify then finds no watcher and reads no line the consumer wrote. It registers
    /// only once the spin is over, before it sleeps; from then on the event count's argument
    /// (docs/LAYOUT.md) applies unchanged. `probe` is passed to each attempt rather than
    /// captured by it: a variable captured by a closure that is also called directly is boxed
    /// on the heap, one allocation per get.
    ///
    /// The spin reads the clock only every 64 pauses: a record that arrives before then (a
    /// consumer that keeps up waits a fraction of a microsecond) costs no clock read at all.
    /// `deadline` is fixed at the first read, within microseconds of the wait's start; an
    /// attempt before then fixes it itself if the lock keeps it waiting.
    func waitForRecord<T>(
        probe: inout Ring.ArrivalProbe, deadline: inout Deadline, cancellation: Cancellation?, describe: () -> String,
        _ attempt: (inout Ring.ArrivalProbe, inout Deadline) throws(ArrayQueueError) -> T?
    ) throws(ArrayQueueError) -> T {
        let spinNanoseconds = self.spinNanoseconds
        if spinNanoseconds > 0 {
            /// Whether the spin is over, at `now`: the first call fixes the deadline and the spin's end.
            var spinEnd: Int64?
            func spinIsOver(now: Int64) -> Bool {
                if spinEnd == nil { spinEnd = min(now + spinNanoseconds, deadline.fix(now: now) ?? .max) }
                return now >= spinEnd!
            }
            var spins = 0
            spinning: while true {
                while !ring.hasArrival(&probe) {
                    Sys.cpuRelax()
                    spins &+= 1
                    if spins & 63 == 0 {
                        if cancellation?.isCancelled == true { break spinning }
                        if spinIsOver(now: Sys.monotonicNanoseconds()) { break spinning }
                    }
                }
                if let value = try attempt(&probe, &deadline) { return value }
                if spinIsOver(now: Sys.monotonicNanoseconds()) { break }
            }
        }
        // Spun once already: the registered wait needs no second spin on the word.
        let fixed = deadline.fix()
        return try waitUntil(
            ring.header.dataSignal, deadline: fixed, checkingDeadPeers: false, cancellation: cancellation, spinning: false,
            describe: describe) { () throws(ArrayQueueError) in
            var lockDeadline = Deadline(fixedAt: fixed)
            return try attempt(&probe, &lockDeadline)
        }
    }

    /// Retries `attempt` until it returns a value, waiting on `signal` in between: first a
    /// short spin while the word is unchanged (answers within a microsecond when the peer is
    /// quick; not when `spinning` is false), then a futex sleep that costs no CPU, at most
    /// ``recheckInterval`` at a time. Producers (`checkingDeadPeers`) sweep for dead peers
    /// holding room whenever the queue-wide timer is due, including right before they would
    /// time out, so that room comes back whatever their timeout. Callers have just made one
    /// attempt that failed: the first here comes after registering.
    func waitUntil<T>(
        _ signal: WakeSignal, deadline: Int64?, checkingDeadPeers: Bool, cancellation: Cancellation?, spinning: Bool = true,
        describe: () -> String, _ attempt: () throws(ArrayQueueError) -> T?
    ) throws(ArrayQueueError) -> T {
        let spinNanoseconds = spinning ? self.spinNanoseconds : 0
        signal.beginWatching()
        defer { signal.endWatching() }
        while true {
            // Read the word, then re-check: a change after this read makes the sleep return at once.
            let seen = signal.current
            if let value = try attempt() { return value }
            if checkingDeadPeers, try recoverIfDue(deadline: deadline), let value = try attempt() { return value }
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
            let sleep = min(deadline.map { max($0 - now, 0) } ?? .max, Self.recheckInterval)
            signal.sleep(seen: seen, nanoseconds: sleep)
        }
    }

    /// One sweep for dead peers if none ran in the last ``deadPeerCheckInterval``, by any
    /// process (for every call that found no room: blocked, timing out, or non-blocking).
    /// Returns whether anything was freed. The stamp is read from shared memory: any value,
    /// even one in the future or far in the past, means "due" or "not due", never a trap.
    func recoverIfDue(deadline: Int64? = nil) throws(ArrayQueueError) -> Bool {
        let last = Int64(bitPattern: ring.header.lastRecovery.pointee.load(ordering: .relaxed))
        let (elapsed, overflow) = Sys.monotonicNanoseconds().subtractingReportingOverflow(last)
        guard overflow || elapsed < 0 || elapsed >= Self.deadPeerCheckInterval else { return false }
        return try ring.withLock(deadline: deadline) { () throws(ArrayQueueError) in try ring.sweepDeadPeersAndSubscribers() }
    }

    /// Wakes every consumer of this queue (in every process) so that they re-check their
    /// condition; used to deliver cancellation to a thread blocked in `get`.
    @_spi(Transport)
    public func wakeConsumers() {
        ring.header.dataSignal.wakeAll()
    }
}
