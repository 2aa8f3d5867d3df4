@preconcurrency import Glibc

/// Lets a thread sleep until another thread signals it or a deadline passes, without losing a
/// signal that arrives between checking for work and going to sleep:
///
/// ```swift
/// let ticket = events.ticket()
/// if nothingToDo() { events.wait(ticket, deadline: deadline) }   // returns at once if signalled since
/// ```
final class EventCount {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Guarded by `mutex`.
    private var generation: UInt64 = 0

    init() {
        Sys.conditionInit(mutex, condition)
    }

    deinit {
        Sys.conditionDestroy(mutex, condition)
        mutex.deallocate()
        condition.deallocate()
    }

    /// The current generation; pass it to ``wait(_:deadline:)``.
    func ticket() -> UInt64 {
        Sys.mutexLock(mutex)
        defer { Sys.mutexUnlock(mutex) }
        return generation
    }

    /// Sleeps until a ``signal()`` after `ticket` was taken, or until the monotonic `deadline`
    /// (nil: no limit). Returns at once if such a signal already happened.
    func wait(_ ticket: UInt64, deadline: Int64?) {
        Sys.mutexLock(mutex)
        defer { Sys.mutexUnlock(mutex) }
        while generation == ticket {
            if let deadline, Sys.monotonicNanoseconds() >= deadline { return }
            Sys.conditionWait(condition, mutex, deadline: deadline)
        }
    }

    /// Wakes every waiting thread.
    func signal() {
        Sys.mutexLock(mutex)
        generation &+= 1
        Sys.mutexUnlock(mutex)
        Sys.conditionBroadcast(condition)
    }
}

// `generation` is only read and written with `mutex` held; the mutex and condition variable
// are process-private pthread objects, made to be used from several threads, at fixed heap addresses.
extension EventCount: @unchecked Sendable {}
