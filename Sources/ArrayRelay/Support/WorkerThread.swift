import Foundation
import Synchronization

/// A dedicated thread for blocking work (queue waits, socket waits), so that the cooperative
/// thread pool is never blocked; async code awaits its end with ``join()``.
public final class WorkerThread: Sendable {
    private struct State {
        var finished = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    private init() {}

    /// Starts `body` on a new thread named `name`.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) -> WorkerThread {
        let worker = WorkerThread()
        let thread = Thread {
            body()
            worker.finish()
        }
        thread.name = name
        thread.start()
        return worker
    }

    /// Whether the body has returned.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Suspends until the body has returned.
    public func join() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.finished { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Blocks the calling (non-async) thread until the body returned or `timeout` passed;
    /// returns whether it returned.
    public func join(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isFinished {
            if ContinuousClock.now >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return true
    }

    private func finish() {
        let waiters = state.withLock { state in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A one-shot flag that threads wait on with a bound (the relay's "stop now").
public final class StopFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    /// A flag not yet raised.
    public init() {}

    /// Whether ``raise()`` was called.
    public var isRaised: Bool { raised.load(ordering: .acquiring) }

    /// Raises the flag; idempotent.
    public func raise() { raised.store(true, ordering: .releasing) }

    /// Sleeps up to `duration`, waking early (within 10 ms) when the flag is raised.
    public func sleep(_ duration: Duration) {
        let deadline = ContinuousClock.now + duration
        while !isRaised, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: min(0.01, max(0, (deadline - ContinuousClock.now).seconds)))
        }
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// A duration of `seconds`, clamped to 0 ... about 30 years (NaN: 0).
    public static func seconds(double seconds: Double) -> Duration {
        // `max(NaN, 0)` is NaN, which `Int64(_:)` traps on.
        seconds.isNaN ? .zero : .nanoseconds(Int64(min(max(seconds, 0), 1e9) * 1e9))
    }
}
