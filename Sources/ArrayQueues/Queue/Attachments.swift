import Synchronization

/// The table of attached processes in each segment, and this process's share of it.
///
/// A process appears once per segment however many handles it opens: a process-wide count
/// of open handles per segment decides when to add and remove its entry.
enum Attachments {
    private static let openHandles = Mutex<[String: Int]>([:])

    /// Identifies a segment, not just a name: a queue removed and created again is another one.
    private static func key(_ ring: Ring) -> String {
        "\(ring.name)@\(ring.header.createdNanoseconds)"
    }

    static func attach(_ ring: Ring) {
        let key = key(ring)
        let first = openHandles.withLock { counts in
            counts[key, default: 0] += 1
            return counts[key] == 1
        }
        guard first else { return }
        let me = ProcessIdentity.current
        try? ring.withLock { () throws(ArrayQueueError) in
            crashPoint(.attachBegin)
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
                    crashPoint(.attachEntryCleared)
                    if free == nil { free = slot }
                }
            }
            // Watchers killed while waiting leave their counts behind, which only costs notifiers
            // needless wake-ups; with nobody else alive, no one can be waiting: start afresh.
            if !othersAlive && free != nil {
                ring.header.dataSignal.resetWatchers()
                crashPoint(.attachWatchersReset)
                ring.header.spaceSignal.resetWatchers()
                crashPoint(.attachWatchersReset)
            }
            // A full table only costs `aq ls` some information; the queue works regardless.
            guard let free else { return }
            let entry = ring.header.attachment(free)
            entry.startTime.pointee.store(me.startTime, ordering: .relaxed)
            crashPoint(.attachStartTimeStored)
            entry.pid.pointee.store(me.pid, ordering: .releasing)
            crashPoint(.attachPIDStored)
        }
    }

    static func detach(_ ring: Ring) {
        let key = key(ring)
        let last = openHandles.withLock { counts in
            counts[key, default: 1] -= 1
            if counts[key] == 0 { counts[key] = nil; return true }
            return false
        }
        guard last else { return }
        let me = ProcessIdentity.current
        try? ring.withLock { () throws(ArrayQueueError) in
            crashPoint(.detachBegin)
            for slot in 0..<SegmentHeader.attachmentCapacity where identity(ring.header.attachment(slot)) == me {
                ring.header.attachment(slot).pid.pointee.store(0, ordering: .releasing)
                crashPoint(.detachPIDCleared)
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
        othersAlive(ring) || openHandles.withLock { $0[key(ring), default: 0] } > 1
    }

    /// The processes recorded as attached.
    static func list(_ ring: Ring) -> [ProcessIdentity] {
        (0..<SegmentHeader.attachmentCapacity).map { identity(ring.header.attachment($0)) }.filter { $0.pid != 0 }
    }

    private static func identity(_ entry: (pid: UnsafeMutablePointer<Atomic<UInt32>>, startTime: UnsafeMutablePointer<Atomic<UInt64>>)) -> ProcessIdentity {
        ProcessIdentity(pid: entry.pid.pointee.load(ordering: .acquiring), startTime: entry.startTime.pointee.load(ordering: .relaxed))
    }
}
