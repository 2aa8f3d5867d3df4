// Every C call ArrayQueues makes is wrapped here, once. Wrappers return Swift values or throw
// an `ArrayQueueError` naming the C function and its errno; nothing else in the module calls C.
// The few that ArrayTransport needs too are SPI, so that they stay wrapped once.
import CArrayQueuesShims
@preconcurrency import Glibc
public import SystemPackage

@_spi(Transport)
public enum Sys {
    // MARK: Shared-memory objects

    /// `shm_open`; returns the file descriptor.
    static func shmOpen(_ name: String, flags: Int32, mode: mode_t) -> Result<Int32, Errno> {
        let fd = shm_open(name, flags, mode)
        return fd >= 0 ? .success(fd) : .failure(Errno(rawValue: errno))
    }

    /// `shm_unlink`; returns errno on failure.
    static func shmUnlink(_ name: String) -> Int32? {
        shm_unlink(name) == 0 ? nil : errno
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// `fchmod`: sets the exact mode (`shm_open` applies the umask, which would drop group bits).
    static func fchmod(_ fd: Int32, _ mode: mode_t) throws(ArrayQueueError) {
        guard Glibc.fchmod(fd, mode) == 0 else {
            throw .system("fchmod", errno, "cannot set the mode of the shared-memory object to 0\(String(mode, radix: 8))")
        }
    }

    static func ftruncate(_ fd: Int32, _ size: Int) throws(ArrayQueueError) {
        guard Glibc.ftruncate(fd, off_t(size)) == 0 else {
            throw .system("ftruncate", errno, "cannot size the shared-memory object to \(size) bytes")
        }
    }

    /// `posix_fallocate`: reserves the pages now, so that running out of memory is an error
    /// here rather than a SIGBUS later. Returns the error number (it does not set errno).
    static func fallocate(_ fd: Int32, _ size: Int) -> Int32 {
        posix_fallocate(fd, 0, off_t(size))
    }

    /// `fstat`: the size, mode, owner, identity and last status change (ns since the epoch) of an open file.
    static func fileStatus(_ fd: Int32) throws(ArrayQueueError) -> (size: Int, mode: mode_t, owner: uid_t, identity: FileIdentity, changedNanoseconds: Int64) {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .system("fstat", errno, "cannot query the shared-memory object") }
        // Saturating: a file system may hold any time stamp.
        let seconds = Int64(status.st_ctim.tv_sec).multipliedReportingOverflow(by: 1_000_000_000)
        let changed = seconds.overflow ? (status.st_ctim.tv_sec < 0 ? .min : .max) : seconds.partialValue.addingReportingOverflow(Int64(status.st_ctim.tv_nsec)).partialValue
        return (Int(status.st_size), status.st_mode, status.st_uid, FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino)), changed)
    }

    /// `stat` (following links): the inode of the file at `path`, nil if it cannot be read.
    static func inode(at path: String) -> UInt64? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return UInt64(status.st_ino)
    }

    /// `dup` with `FD_CLOEXEC` (`fcntl(F_DUPFD_CLOEXEC)`): a second descriptor of the same open
    /// file description; nil if the process is out of descriptors.
    static func duplicate(_ fd: Int32) -> Int32? {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        return copy >= 0 ? copy : nil
    }

    // MARK: Open-file-description locks (liveness across pid namespaces)

    /// `fcntl(F_OFD_SETLK)`: write-locks one byte of the file through `fd`'s open file description,
    /// without waiting. Returns true if locked, false if another open file description holds it,
    /// nil if the kernel cannot lock it.
    static func lockByte(_ fd: Int32, _ byte: UInt64) -> Bool? {
        switch caq_ofd_lock(fd, byte) {
        case 0: true
        case -EAGAIN, -EACCES: false
        default: nil
        }
    }

    /// `fcntl(F_OFD_SETLK, F_UNLCK)`.
    static func unlockByte(_ fd: Int32, _ byte: UInt64) {
        _ = caq_ofd_unlock(fd, byte)
    }

    /// `fcntl(F_OFD_GETLK)`: whether an open file description other than `fd`'s holds a lock on the
    /// byte; nil if the kernel cannot tell.
    static func isByteLocked(_ fd: Int32, _ byte: UInt64) -> Bool? {
        switch caq_ofd_is_locked(fd, byte) {
        case 0: false
        case 1: true
        default: nil
        }
    }

    /// `stat`: the identity of the file at `path`, nil if there is none (or it cannot be seen).
    static func fileIdentity(at path: String) -> FileIdentity? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    /// `statvfs`: free bytes available to this user in the file system holding `path`.
    static func freeBytes(at path: String) -> Int? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// `mmap(MAP_SHARED)` for reading and writing.
    static func mapShared(_ fd: Int32, size: Int) throws(ArrayQueueError) -> UnsafeMutableRawPointer {
        let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw .system("mmap", errno, "cannot map \(size) bytes of shared memory")
        }
        return address
    }

    /// `madvise(MADV_HUGEPAGE)`: asks for transparent huge pages (fewer page faults and TLB
    /// misses for large buffers). Only advice: ignored where the kernel does not offer them.
    static func adviseHugePages(_ address: UnsafeMutableRawPointer, size: Int) {
        _ = madvise(address, size, MADV_HUGEPAGE)
    }

    static func unmap(_ address: UnsafeMutableRawPointer, size: Int) {
        _ = munmap(address, size)
    }

    // MARK: Files

    /// Reads a whole small file (such as `/proc/PID/stat`); nil if it cannot be read.
    @_spi(Transport)
    public static func readSmallFile(_ path: String, limit: Int = 4096) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = Glibc.close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, limit) }
        guard count >= 0 else { return nil }
        bytes.removeLast(limit - count)
        return bytes
    }

    /// `fsync`: flushes a file's data to disk, so that a rename cannot outlive its contents in a crash.
    static func fsync(_ fd: Int32, path: String) throws(ArrayQueueError) {
        while Glibc.fsync(fd) != 0 {
            guard errno == EINTR else { throw .system("fsync", errno, "cannot write '\(path)' to disk") }
        }
    }

    /// `rename`: atomically replaces `target` with `source`.
    static func rename(_ source: String, to target: String) throws(ArrayQueueError) {
        guard Glibc.rename(source, target) == 0 else {
            throw .system("rename", errno, "cannot move the new file to '\(target)'")
        }
    }

    /// `unlink`, ignoring errors: for cleaning up after another failure.
    static func unlink(_ path: String) {
        _ = Glibc.unlink(path)
    }

    /// Names in a directory (without `.` and `..`); empty if it cannot be read.
    static func directoryEntries(_ path: String) -> [String] {
        (try? listDirectory(path).get()) ?? []
    }

    /// `opendir`/`readdir`: the names in a directory (without `.` and `..`), or `opendir`'s errno.
    @_spi(Transport)
    public static func listDirectory(_ path: String) -> Result<[String], Errno> {
        guard let directory = opendir(path) else { return .failure(Errno(rawValue: errno)) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return .success(names)
    }

    /// Whether a file exists (`access(F_OK)`).
    static func fileExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    // MARK: Processes

    static var processID: Int32 { getpid() }

    /// This process's pid without a system call: cached, and looked up again in a child made by
    /// `fork()` (for the package's other modules).
    package static var currentProcessID: UInt32 { ProcessIdentity.current.pid }

    static var userID: uid_t { getuid() }

    /// `pthread_atfork`: runs `handler` in the child of every later `fork()`, before `fork` returns there.
    static func onForkInChild(_ handler: @convention(c) () -> Void) {
        _ = pthread_atfork(nil, nil, handler)
    }

    /// The user that owns the files this process creates (`geteuid`).
    static var effectiveUserID: uid_t { geteuid() }

    /// `kill(pid, 0)`: false only when no such process exists (ESRCH).
    static func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }

    // MARK: Clocks

    /// `clock_gettime(CLOCK_REALTIME)` in nanoseconds since the Unix epoch.
    static func realtimeNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds.
    @_spi(Transport)
    public static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// `nanosleep`, restarted after signals until the time has passed.
    @_spi(Transport)
    public static func sleep(nanoseconds: Int64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    // MARK: Robust process-shared mutex

    /// Initializes a pthread mutex in shared memory as process-shared and robust.
    static func mutexInitSharedRobust(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) throws(ArrayQueueError) {
        var attributes = pthread_mutexattr_t()
        var rc = pthread_mutexattr_init(&attributes)
        guard rc == 0 else { throw .system("pthread_mutexattr_init", rc, "cannot initialize the queue lock") }
        defer { pthread_mutexattr_destroy(&attributes) }
        rc = pthread_mutexattr_setpshared(&attributes, Int32(PTHREAD_PROCESS_SHARED))
        guard rc == 0 else { throw .system("pthread_mutexattr_setpshared", rc, "cannot make the queue lock process-shared") }
        rc = pthread_mutexattr_setrobust(&attributes, Int32(PTHREAD_MUTEX_ROBUST))
        guard rc == 0 else { throw .system("pthread_mutexattr_setrobust", rc, "cannot make the queue lock robust") }
        rc = pthread_mutex_init(mutex, &attributes)
        guard rc == 0 else { throw .system("pthread_mutex_init", rc, "cannot initialize the queue lock") }
    }

    /// `pthread_mutex_timedlock` for at most `nanoseconds`; returns 0, EOWNERDEAD, ETIMEDOUT
    /// or another error number.
    static func mutexLock(_ mutex: UnsafeMutablePointer<pthread_mutex_t>, nanoseconds: Int64) -> Int32 {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let total = Int64(deadline.tv_nsec) + nanoseconds
        deadline.tv_sec += Int(total / 1_000_000_000)
        deadline.tv_nsec = Int(total % 1_000_000_000)
        return pthread_mutex_timedlock(mutex, &deadline)
    }

    /// The kernel thread id that owns a robust mutex: the low 30 bits of its futex word
    /// (the kernel's FUTEX_TID_MASK), 0 if unlocked.
    static func mutexOwner(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) -> Int32 {
        Int32(bitPattern: UInt32(bitPattern: mutex.pointee.__data.__lock) & 0x3FFF_FFFF)
    }

    /// glibc's `__kind` of a mutex: its type and robust/shared flags.
    static func mutexKind(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) -> Int32 {
        mutex.pointee.__data.__kind
    }

    /// The `__kind` that `mutexInitSharedRobust` produces.
    static let sharedRobustMutexKind: Int32 = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        defer { mutex.deallocate() }
        mutex.initialize(to: pthread_mutex_t())
        try? mutexInitSharedRobust(mutex)
        return mutexKind(mutex)
    }()

    /// `pthread_mutex_trylock`; returns 0, EBUSY, EOWNERDEAD or another error number.
    static func mutexTryLock(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) -> Int32 {
        pthread_mutex_trylock(mutex)
    }

    static func mutexUnlock(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
        _ = pthread_mutex_unlock(mutex)
    }

    /// `pthread_mutex_consistent`: declares a mutex whose owner died repaired.
    static func mutexConsistent(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) -> Int32 {
        pthread_mutex_consistent(mutex)
    }

    // MARK: Futex

    enum FutexWaitResult { case woken, valueChanged, timedOut, interrupted }

    /// Sleeps while `*word == expected`, at most `timeoutNanoseconds` (nil: no limit).
    static func futexWait(_ word: UnsafeMutablePointer<UInt32>, expected: UInt32, timeoutNanoseconds: Int64?) -> FutexWaitResult {
        let rc: Int32
        if let timeoutNanoseconds {
            var timeout = timespec(tv_sec: Int(timeoutNanoseconds / 1_000_000_000), tv_nsec: Int(timeoutNanoseconds % 1_000_000_000))
            rc = caq_futex_wait(word, expected, &timeout)
        } else {
            rc = caq_futex_wait(word, expected, nil)
        }
        switch rc {
        case 0: return .woken
        case -EAGAIN: return .valueChanged
        case -ETIMEDOUT: return .timedOut
        default: return .interrupted
        }
    }

    /// Wakes every process waiting on `word`.
    static func futexWakeAll(_ word: UnsafeMutablePointer<UInt32>) {
        _ = caq_futex_wake(word, Int32.max)
    }

    static func cpuRelax() {
        caq_cpu_relax()
    }

    /// A hint to own `address`'s cache line before storing to it (``caq_prefetch_for_write``).
    @inline(__always)
    static func prefetchForWrite(_ address: UnsafeRawPointer) {
        caq_prefetch_for_write(address)
    }

    /// A hint to bring `address`'s cache line in for reading (``caq_prefetch_for_read``).
    @inline(__always)
    static func prefetchForRead(_ address: UnsafeRawPointer) {
        caq_prefetch_for_read(address)
    }

    /// Reads a byte at `address`, so that its page is faulted in now (``caq_touch``).
    @inline(__always)
    static func touch(_ address: UnsafeRawPointer) {
        caq_touch(address)
    }
}

/// Which file an object is: equal identities are the same file, whatever its name now.
struct FileIdentity: Hashable {
    var device: UInt64
    var inode: UInt64
}
