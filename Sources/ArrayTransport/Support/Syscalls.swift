// Every C library call of ArrayTransport other than libzmq's is wrapped here, once (libzmq's are
// in ZeroMQ/ZMQ.swift), or forwarded to ArrayQueues' wrappers. Nothing else in the module calls C.
@_spi(Transport) import ArrayQueues
@preconcurrency import Glibc

enum Sys {
    // MARK: Clocks and files (wrapped in ArrayQueues)

    /// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds.
    static func monotonicNanoseconds() -> Int64 { ArrayQueues.Sys.monotonicNanoseconds() }

    /// `nanosleep`, restarted after signals until the time has passed.
    static func sleep(nanoseconds: Int64) { ArrayQueues.Sys.sleep(nanoseconds: nanoseconds) }

    /// The first `limit` bytes of a small file such as `/proc/sys/kernel/random/boot_id`; nil
    /// if it cannot be read.
    static func readSmallFile(_ path: String, limit: Int = 4096) -> [UInt8]? { ArrayQueues.Sys.readSmallFile(path, limit: limit) }

    // MARK: Processes

    /// `getpid`.
    static var processID: Int32 { getpid() }

    // MARK: Threads

    /// Starts a detached thread running `body` (`pthread_create`, `pthread_detach`); `name` is
    /// used in the error message if the thread cannot be started.
    static func spawnThread(name: String, _ body: @escaping @Sendable () -> Void) throws(TransportError) {
        final class Start {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let start = Unmanaged.passRetained(Start(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            let start = Unmanaged<Start>.fromOpaque(context!).takeRetainedValue()
            start.body()
            return nil
        }, start)
        guard rc == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            throw TransportError(.systemCall, "cannot start thread '\(name)'", function: "pthread_create", errorNumber: rc)
        }
        pthread_detach(thread)
    }

    // MARK: Mutex and condition variable

    /// `pthread_mutex_init` and `pthread_cond_init` on `CLOCK_MONOTONIC`; they cannot fail with
    /// default attributes except for lack of memory, which is fatal anyway.
    static func conditionInit(_ mutex: UnsafeMutablePointer<pthread_mutex_t>, _ condition: UnsafeMutablePointer<pthread_cond_t>) {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    static func conditionDestroy(_ mutex: UnsafeMutablePointer<pthread_mutex_t>, _ condition: UnsafeMutablePointer<pthread_cond_t>) {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
    }

    static func mutexLock(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) { pthread_mutex_lock(mutex) }
    static func mutexUnlock(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) { pthread_mutex_unlock(mutex) }
    static func conditionBroadcast(_ condition: UnsafeMutablePointer<pthread_cond_t>) { pthread_cond_broadcast(condition) }

    /// `pthread_cond_timedwait` until the monotonic `deadline`, or `pthread_cond_wait` without one.
    static func conditionWait(
        _ condition: UnsafeMutablePointer<pthread_cond_t>, _ mutex: UnsafeMutablePointer<pthread_mutex_t>, deadline: Int64?
    ) {
        if let deadline {
            var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
            _ = pthread_cond_timedwait(condition, mutex, &time)
        } else {
            _ = pthread_cond_wait(condition, mutex)
        }
    }
}
