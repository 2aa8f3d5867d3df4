// Every C library call of ArrayTransport other than libzmq's is wrapped here, once (libzmq's are
// in ZeroMQ/LibZMQ/ZMQ.swift), or forwarded to ArrayQueues' wrappers. Nothing else in the module calls C.
@_spi(Transport) import ArrayQueues
@preconcurrency import Glibc
import SystemPackage

enum Sys {
    // MARK: Clocks and files (wrapped in ArrayQueues)

    /// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds.
    static func monotonicNanoseconds() -> Int64 { ArrayQueues.Sys.monotonicNanoseconds() }

    /// `nanosleep`, restarted after signals until the time has passed.
    static func sleep(nanoseconds: Int64) { ArrayQueues.Sys.sleep(nanoseconds: nanoseconds) }

    /// This process's pid, cached (looked up again after `fork()`).
    static var currentProcessID: UInt32 { ArrayQueues.Sys.currentProcessID }

    /// The first `limit` bytes of a small file such as `/proc/sys/kernel/random/boot_id`; nil
    /// if it cannot be read.
    static func readSmallFile(_ path: String, limit: Int = 4096) -> [UInt8]? { ArrayQueues.Sys.readSmallFile(path, limit: limit) }

    /// The contents of a file (at most `limit` bytes), with its mode and owner from `fstat`
    /// on the same descriptor (so the checks apply to what was read).
    ///
    /// - Throws: ``TransportError/Code/systemCall`` naming `open`, `fstat` or `read`, or
    ///   ``TransportError/Code/invalidArgument`` for a file that is not regular or is too large.
    static func readFile(_ path: String, limit: Int) throws(TransportError) -> (bytes: [UInt8], mode: mode_t, owner: uid_t) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw TransportError(.systemCall, "cannot open '\(path)'", function: "open", errno: Errno(rawValue: errno)) }
        defer { _ = Glibc.close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw TransportError(.systemCall, "cannot inspect '\(path)'", function: "fstat", errno: Errno(rawValue: errno)) }
        guard status.st_mode & S_IFMT == S_IFREG else { throw TransportError(.invalidArgument, "'\(path)' is not a regular file") }
        guard status.st_size <= limit else { throw TransportError(.invalidArgument, "'\(path)' is larger than \(limit) bytes") }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw TransportError(.systemCall, "cannot read '\(path)'", function: "read", errno: Errno(rawValue: errno)) }
            if count == 0 { break }
            filled += count
        }
        bytes.removeLast(bytes.count - filled)
        return (bytes, status.st_mode, status.st_uid)
    }

    /// Whether `path` itself is a regular file (`lstat`: a symbolic link is not followed), its
    /// owner and size; nil if it does not exist or cannot be inspected.
    static func linkStatus(_ path: String) -> (isRegularFile: Bool, owner: uid_t, size: Int)? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return (status.st_mode & S_IFMT == S_IFREG, status.st_uid, Int(status.st_size))
    }

    /// Whether `path` is a directory (`stat`, following links); false if it cannot be inspected.
    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
    }

    /// The names in a directory, without `.` and `..` (`opendir`, `readdir`).
    ///
    /// - Throws: ``TransportError/Code/systemCall`` naming `opendir`.
    static func directoryEntries(_ path: String) throws(TransportError) -> [String] {
        switch ArrayQueues.Sys.listDirectory(path) {
        case .success(let names): return names
        case .failure(let code):
            throw TransportError(.systemCall, "cannot list the directory '\(path)'", function: "opendir", errno: code)
        }
    }

    /// `getuid`.
    static var userID: uid_t { getuid() }

    // MARK: Processes

    /// `getpid`.
    static var processID: Int32 { getpid() }

    // MARK: Threads

    /// `pthread_self`: the calling thread, never 0 (for telling whether a lock's holder is this thread).
    static var currentThread: UInt { UInt(pthread_self()) }

    /// Starts a detached thread running `body` (`pthread_create`, `pthread_detach`); `name` is
    /// used in the error message if the thread cannot be started.
    static func spawnThread(name: String, _ body: @escaping @Sendable () -> Void) throws(TransportError) {
        detachThread(try spawnJoinableThread(name: name, body))
    }

    /// Starts a thread running `body` (`pthread_create`) and returns it, for ``joinThread(_:)``
    /// or ``detachThread(_:)`` (one of the two, once); `name` is used in the error message if the
    /// thread cannot be started.
    static func spawnJoinableThread(name: String, _ body: @escaping @Sendable () -> Void) throws(TransportError) -> UInt {
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
            throw TransportError(.systemCall, "cannot start thread '\(name)'", function: "pthread_create", errno: Errno(rawValue: rc))
        }
        return UInt(thread)
    }

    /// `pthread_join`: waits until `thread` (from ``spawnJoinableThread(name:_:)``, of this
    /// process, not the calling thread) has ended, and frees what it kept.
    static func joinThread(_ thread: UInt) {
        _ = pthread_join(pthread_t(thread), nil)
    }

    /// `pthread_detach`: `thread` frees what it kept when it ends, with nobody waiting for it.
    static func detachThread(_ thread: UInt) {
        _ = pthread_detach(pthread_t(thread))
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
