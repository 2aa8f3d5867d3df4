import CArrayQueuesShims
import Synchronization
@preconcurrency import Glibc

/// A process, identified across pid reuse by its start time.
///
/// A pid means something only in its pid namespace: a process in another one (a container
/// sharing `/dev/shm` but not pids) may look dead here, or look like an unrelated process.
/// ``isAlive`` answers for this namespace; `Attachments` knows which processes live elsewhere.
struct ProcessIdentity: Hashable, Sendable {
    let pid: UInt32
    /// Start time in clock ticks since boot (`/proc/PID/stat`, field 22); 0 if unknown.
    let startTime: UInt64

    /// This process; the start time is read once per process. A child made by `fork()`
    /// without `exec` (Python's multiprocessing, a C program) gets its own identity: records
    /// it reserves or claims must carry its pid, or its death would go unnoticed.
    static var current: ProcessIdentity {
        let pid = cachedPID.load(ordering: .acquiring)
        if pid != 0 { return ProcessIdentity(pid: pid, startTime: cachedStartTime.load(ordering: .relaxed)) }
        if !forkHandlerInstalled.exchange(true, ordering: .relaxed) {
            // Runs in the child right after fork(), when it has one thread: forget the parent.
            pthread_atfork(nil, nil) { ProcessIdentity.cachedPID.store(0, ordering: .releasing) }
        }
        let me = UInt32(Sys.processID)
        cachedStartTime.store(startTime(of: me) ?? 0, ordering: .relaxed)
        cachedPID.store(me, ordering: .releasing)
        return ProcessIdentity(pid: me, startTime: cachedStartTime.load(ordering: .relaxed))
    }

    private static let cachedPID = Atomic<UInt32>(0)
    private static let cachedStartTime = Atomic<UInt64>(0)
    private static let forkHandlerInstalled = Atomic<Bool>(false)

    /// This process's pid namespace, as recorded in the attachment table: the low 32 bits of the
    /// inode of `/proc/self/ns/pid`, or `CAQ_PID_NS_UNKNOWN` when it cannot be read (never 0,
    /// which marks entries of processes that do not record it).
    static let currentPIDNamespace: UInt32 = {
        guard let inode = Sys.inode(at: "/proc/self/ns/pid"), case let low = UInt32(truncatingIfNeeded: inode), low != 0 else {
            return CAQ_PID_NS_UNKNOWN
        }
        return low
    }()

    /// Whether the process is still running (not gone, not a zombie, and not a newer
    /// process that reused the pid). A start time of 0 matches any process with that pid.
    var isAlive: Bool {
        guard pid != 0, pid <= UInt32(Int32.max), Sys.processExists(Int32(pid)) else { return false }
        guard let stat = Self.stat(of: pid) else {
            // /proc hidden (another pid namespace, hidepid): trust kill(2).
            return true
        }
        if stat.state == UInt8(ascii: "Z") || stat.state == UInt8(ascii: "X") { return false }
        return startTime == 0 || Self.sameStartTime(startTime, stat.startTime)
    }

    /// Whether `stored` (possibly truncated to 32 bits, as record headers keep it) is `actual`.
    static func sameStartTime(_ stored: UInt64, _ actual: UInt64) -> Bool {
        stored <= UInt64(UInt32.max) ? stored == actual & 0xFFFF_FFFF : stored == actual
    }

    static func startTime(of pid: UInt32) -> UInt64? { stat(of: pid)?.startTime }

    /// Fields 3 (state) and 22 (start time) of `/proc/PID/stat`. The command name (field 2)
    /// may contain spaces and parentheses, so parsing starts after its last ')'.
    private static func stat(of pid: UInt32) -> (state: UInt8, startTime: UInt64)? {
        guard let bytes = Sys.readSmallFile("/proc/\(pid)/stat"),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state); field 22 is fields[19].
        guard fields.count > 19, let state = fields[0].first,
              let start = UInt64(String(decoding: fields[19], as: UTF8.self)) else { return nil }
        return (state, start)
    }
}
