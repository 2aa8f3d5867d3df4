import CBenchShims
@preconcurrency import Glibc

/// Every C call aq-bench makes, each wrapped once here; the rest of the tool calls these.
enum Sys {
    /// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process of the host.
    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    static func sleep(nanoseconds: Int64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    }

    static func cpuRelax() { cbench_cpu_relax() }

    /// Sleeps while the 32-bit word at `word` equals `expected`, at most `timeoutNanoseconds`.
    /// The corresponding C call is `futex(FUTEX_WAIT)`, shared between processes.
    static func futexWait(_ word: UnsafeMutableRawPointer, expected: UInt32, timeoutNanoseconds: Int64) {
        _ = cbench_futex_wait(word, expected, timeoutNanoseconds)
    }

    /// Wakes every waiter on `word`, in any process (`futex(FUTEX_WAKE)`).
    static func futexWake(_ word: UnsafeMutableRawPointer) {
        _ = cbench_futex_wake(word, Int32.max)
    }

    /// Creates and maps the shared-memory object `name` of `size` bytes, zero-filled.
    /// The corresponding C calls are `shm_open(O_CREAT|O_EXCL)`, `ftruncate` and `mmap`.
    static func sharedMemoryCreate(name: String, size: Int) throws(BenchError) -> UnsafeMutableRawPointer {
        let fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        guard fd >= 0 else { throw .system("shm_open", "cannot create shared-memory object \(name)") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else {
            let error = BenchError.system("ftruncate", "cannot size shared-memory object \(name) to \(size) bytes")
            shm_unlink(name)
            throw error
        }
        do {
            return try map(fd, size: size, name: name)
        } catch {
            shm_unlink(name)
            throw error
        }
    }

    /// Maps the existing shared-memory object `name`; returns its address and size.
    /// The corresponding C calls are `shm_open`, `fstat` and `mmap`.
    static func sharedMemoryOpen(name: String) throws(BenchError) -> (UnsafeMutableRawPointer, Int) {
        let fd = shm_open(name, O_RDWR, 0)
        guard fd >= 0 else { throw .system("shm_open", "cannot open shared-memory object \(name)") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system("fstat", "cannot size shared-memory object \(name)") }
        let size = Int(info.st_size)
        return (try map(fd, size: size, name: name), size)
    }

    private static func map(_ fd: Int32, size: Int, name: String) throws(BenchError) -> UnsafeMutableRawPointer {
        let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let address, address != MAP_FAILED else { throw .system("mmap", "cannot map shared-memory object \(name)") }
        return address
    }

    static func unmap(_ address: UnsafeMutableRawPointer, size: Int) {
        munmap(address, size)
    }

    static func sharedMemoryUnlink(name: String) {
        shm_unlink(name)
    }

    /// Bytes that unprivileged users may still allocate on the file system holding `path` (`statvfs`).
    static func availableBytes(at path: String) -> Int? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// Starts a copy of this executable (`/proc/self/exe`) with `arguments` (`posix_spawn`).
    static func spawnSelf(arguments: [String]) throws(BenchError) -> pid_t {
        let argv: [UnsafeMutablePointer<CChar>?] = (["aq-bench"] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/proc/self/exe", nil, nil, argv, cbench_environ())
        guard rc == 0 else { throw .system("posix_spawn", "cannot start a worker process", errno: rc) }
        return pid
    }

    /// The process's exit status if it has ended, without waiting (`waitpid(WNOHANG)`).
    /// Returns 0 for a clean exit, the exit code, or 128 + the signal that killed it.
    static func exitStatus(of pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == 0 { return nil }
        if rc < 0 { return errno == ECHILD ? 255 : nil }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Kills a process this one started and reaps it (`kill(SIGKILL)`, `waitpid`).
    static func killAndReap(_ pid: pid_t) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }

    static func processID() -> pid_t { getpid() }

    /// Removes a file if it exists (`unlink`).
    static func removeFile(_ path: String) {
        unlink(path)
    }

    /// Whether `path` names a file this process may execute (`access(X_OK)`).
    static func isExecutable(_ path: String) -> Bool {
        access(path, X_OK) == 0
    }

    /// The directory of this executable (`realpath("/proc/self/exe")`).
    static func executableDirectory() -> String? {
        guard let resolved = realpath("/proc/self/exe", nil) else { return nil }
        defer { free(resolved) }
        let path = String(cString: resolved)
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }

    /// The value of the environment variable `name` (`getenv`), if set and not empty.
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name), value.pointee != 0 else { return nil }
        return String(cString: value)
    }
}

/// The one error type of aq-bench: a readable sentence, naming the C call and `errno` if any.
struct BenchError: Error, CustomStringConvertible {
    let message: String

    init(_ message: String) { self.message = message }

    /// An error from the C function `function`, which reported `errno` (or returned it).
    static func system(_ function: String, _ message: String, errno code: Int32 = errno) -> BenchError {
        BenchError("\(message) (\(function): \(String(cString: strerror(code))), errno \(code))")
    }

    var description: String { message }
}
