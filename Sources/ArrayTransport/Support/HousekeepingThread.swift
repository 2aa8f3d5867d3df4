import Synchronization

/// A thread that runs its owner's housekeeping at a fixed interval until ``stop()``, which wakes
/// it and returns only once it has ended: an owner that stops it before releasing what the
/// housekeeping touches leaves no thread behind that could still touch it.
///
/// The thread holds this object, not its owner: `tick` should capture the owner weakly, so that
/// an owner nobody else holds is still deinitialized (and stops the thread from its `deinit`).
final class HousekeepingThread: Sendable {
    /// The thread started, and the process that started it.
    private struct Started {
        let thread: UInt
        let processID: UInt32
    }

    /// Nanoseconds between two ticks.
    let intervalNanoseconds: Int64
    private let events = EventCount()
    private let stopping = Atomic<Bool>(false)
    private let started = Mutex<Started?>(nil)
    /// Set by the thread as it returns (for tests: after ``stop()``, it is always set).
    private let ended = Atomic<Bool>(false)

    /// A thread that, once started, ticks every `intervalNanoseconds`.
    init(everyNanoseconds intervalNanoseconds: Int64) {
        self.intervalNanoseconds = intervalNanoseconds
    }

    /// Starts the thread: it calls `tick` once per interval (the first after one interval) until
    /// ``stop()``. Call it once.
    ///
    /// - Throws: ``TransportError/Code/systemCall`` naming `pthread_create`.
    func start(name: String, _ tick: @escaping @Sendable () -> Void) throws(TransportError) {
        // Under the lock, so that a stop() (even from the first tick) finds the thread.
        try started.withLock { (started: inout Started?) throws(TransportError) in
            let thread = try Sys.spawnJoinableThread(name: name) { [self] in run(tick) }
            started = Started(thread: thread, processID: Sys.currentProcessID)
        }
    }

    /// Whether the thread has returned (false if it never started).
    var hasEnded: Bool { ended.load(ordering: .acquiring) }

    /// Ends the thread: a tick under way finishes first. Returns once the thread has ended, except
    /// when called from a tick (the thread then ends as that tick returns) or in a child forked
    /// after the start (which has no such thread). Later calls do nothing.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        events.signal()
        guard let started = started.withLock({ $0.take() }), started.processID == Sys.currentProcessID else { return }
        // From a tick: the owner's last reference went away on the thread itself, whose deinit
        // stops it. Joining would wait for ourselves.
        if started.thread == Sys.currentThread {
            Sys.detachThread(started.thread)
        } else {
            Sys.joinThread(started.thread)
        }
    }

    private func run(_ tick: @Sendable () -> Void) {
        defer { ended.store(true, ordering: .releasing) }
        while true {
            let ticket = events.ticket()
            if stopping.load(ordering: .acquiring) { return }
            events.wait(ticket, deadline: Sys.monotonicNanoseconds() + intervalNanoseconds)
            if stopping.load(ordering: .acquiring) { return }
            tick()
        }
    }
}
