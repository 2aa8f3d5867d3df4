import Synchronization

/// The table of attached processes in each segment, and this process's share of it.
///
/// A process appears once per segment however many handles it opens: the process-wide set
/// of open handles per segment decides when to add and remove its entry. A handle is known by
/// the address of its own mapping, so that a handle inherited through `fork()` (never attached
/// by the child) detaches nothing when the child closes it.
enum Attachments {
    private static let openHandles = Mutex<[String: Set<UInt>]>([:])

    private static func handle(_ ring: Ring) -> UInt {
        UInt(bitPattern: ring.header.raw)
    }

    /// Identifies a segment, not just a name: a queue removed and created again is another one.
    /// The pid keeps a child made by `fork()` from counting its parent's handles as its own
    /// (it registers itself when it opens the queue).
    private static func key(_ ring: Ring) -> String {
        "\(ProcessIdentity.current.pid):\(ring.name)@\(ring.header.createdNanoseconds)"
    }

    static func attach(_ ring: Ring) {
        let key = key(ring)
        let first = openHandles.withLock { handles in
            handles[key, default: []].insert(handle(ring)).inserted && handles[key]!.count == 1
        }
        guard first else { return }
        let me = ProcessIdentity.current
        try? ring.withLock { () throws(ArrayQueueError) in
            var free: Int?
            var othersAlive = false
            for slot in 0..<SegmentHeader.attachmentCapacity {
                let entry = ring.header.attachment(slot)
                let pid = entry.pid.pointee.load(ordering: .relaxed)
                if pid == me.pid { return }
                let alive = pid != 0 && identity(entry).isAlive
                othersAlive = othersAlive || alive
                if !alive {
                    entry.pid.pointee.store(0, ordering: .relaxed)
                    if free == nil { free = slot }
                }
            }
            // Watchers killed while waiting leave their counts behind, which only costs notifiers
            // needless wake-ups; with nobody else alive, no one can be waiting: start afresh.
            if !othersAlive && free != nil {
                ring.header.dataSignal.resetWatchers()
                ring.header.spaceSignal.resetWatchers()
            }
            // A full table only costs `aq ls` some information; the queue works regardless.
            guard let free else { return }
            let entry = ring.header.attachment(free)
            entry.startTime.pointee.store(me.startTime, ordering: .relaxed)
            entry.pid.pointee.store(me.pid, ordering: .releasing)
        }
    }

    static func detach(_ ring: Ring) {
        let key = key(ring)
        let last = openHandles.withLock { handles in
            // Not in the set: a handle this process inherited through fork() and never attached.
            guard handles[key]?.remove(handle(ring)) != nil else { return false }
            if handles[key]!.isEmpty { handles[key] = nil; return true }
            return false
        }
        guard last else { return }
        let me = ProcessIdentity.current
        try? ring.withLock { () throws(ArrayQueueError) in
            for slot in 0..<SegmentHeader.attachmentCapacity where identity(ring.header.attachment(slot)) == me {
                ring.header.attachment(slot).pid.pointee.store(0, ordering: .releasing)
            }
        }
    }

    /// Whether any process other than this one that is recorded as attached is alive.
    static func othersAlive(_ ring: Ring) -> Bool {
        list(ring).contains { $0.pid != ProcessIdentity.current.pid && $0.isAlive }
    }

    /// Whether anyone but the one handle asking uses the segment: another live process, or
    /// another open handle in this process.
    static func usedBeyondOneHandle(_ ring: Ring) -> Bool {
        othersAlive(ring) || openHandles.withLock { $0[key(ring)]?.count ?? 0 } > 1
    }

    /// The processes recorded as attached.
    static func list(_ ring: Ring) -> [ProcessIdentity] {
        (0..<SegmentHeader.attachmentCapacity).map { identity(ring.header.attachment($0)) }.filter { $0.pid != 0 }
    }

    private static func identity(_ entry: (pid: UnsafeMutablePointer<Atomic<UInt32>>, startTime: UnsafeMutablePointer<Atomic<UInt64>>)) -> ProcessIdentity {
        ProcessIdentity(pid: entry.pid.pointee.load(ordering: .acquiring), startTime: entry.startTime.pointee.load(ordering: .relaxed))
    }
}
