import CArrayQueuesShims
import Synchronization

/// A process, identified across pid reuse by its start time.
///
/// A pid means something only in its pid namespace: a process in another one (a container
/// sharing `/dev/shm` but not pids) may look dead here, or look like an unrelated process.
/// ``isAlive`` answers for this namespace; `Attachments` knows which processes live elsewhere.
struct ProcessIdentity: Hashable, Sendable {
    let pid: UInt32
    /// Start time in clock ticks since boot (`/proc/PID/stat`, field 22); 0 if unknown.
    let startTime: UInt64

    /// This process; read once, and again in a child made by `fork()` (Python's multiprocessing
    /// forks processes that go on using their parent's queues): a child that stamped records or
    /// recognized attachment entries with its parent's identity would let the parent's death
    /// abandon the child's records, and its detach remove the parent's entry.
    /// Inlined: puts and gets ask two or three times each, and the cached answer is three loads.
    static var current: ProcessIdentity {
        @inline(__always) get {
            let forks = Fork.count.load(ordering: .acquiring)
            let known = Fork.pidAndCount.load(ordering: .acquiring)
            if known != 0, UInt32(truncatingIfNeeded: known >> 32) == forks {
                return ProcessIdentity(pid: UInt32(truncatingIfNeeded: known), startTime: Fork.startTime.load(ordering: .relaxed))
            }
            return identify(forks: forks)
        }
    }

    /// ``current`` on first use, or first use since a fork (`forks` is the count then): reads
    /// the pid and the start time, and caches them. Threads that get here together store the
    /// same values.
    @inline(never)
    private static func identify(forks: UInt32) -> ProcessIdentity {
        _ = Fork.watch
        let pid = UInt32(Sys.processID)
        let identity = ProcessIdentity(pid: pid, startTime: startTime(of: pid) ?? 0)
        Fork.startTime.store(identity.startTime, ordering: .relaxed)
        Fork.pidAndCount.store(UInt64(forks) << 32 | UInt64(pid), ordering: .releasing)
        return identity
    }

    /// The cache of ``current``, and a count of the forks this process's line went through (bumped
    /// in the child by a `pthread_atfork` handler), which tells whether the cache is this process's.
    /// Atomics, not a lock: a lock held by another thread at the fork would stay held in the child.
    private enum Fork {
        static let count = Atomic<UInt32>(0)
        /// The fork count when cached (high half) and the pid (low half); 0 until cached.
        static let pidAndCount = Atomic<UInt64>(0)
        static let startTime = Atomic<UInt64>(0)
        /// Installs the handler, once.
        static let watch: Void = {
            Sys.onForkInChild { _ = Fork.count.add(1, ordering: .releasing) }
        }()
    }

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
