import Synchronization

/// The table of attached processes in each segment, and this process's share of it.
///
/// A process appears once per segment however many handles it opens: a process-wide count
/// of open handles per segment decides when to add and remove its entry.
enum Attachments {
    private static let openHandles = Mutex<[String: Int]>([:])

    static func attach(_ ring: Ring) {
        let first = openHandles.withLock { counts in
            counts[ring.name, default: 0] += 1
            return counts[ring.name] == 1
        }
        guard first else { return }
        let me = ProcessIdentity.current
        try? ring.withLock { () throws(ArrayQueueError) in
            var free: Int?
            for slot in 0..<SegmentHeader.attachmentCapacity {
                let entry = ring.header.attachment(slot)
                let pid = entry.pid.pointee.load(ordering: .relaxed)
                if pid == me.pid { return }
                if free == nil, pid == 0 || !identity(entry).isAlive { free = slot }
            }
            // A full table only costs `aq ls` some information; the queue works regardless.
            guard let free else { return }
            let entry = ring.header.attachment(free)
            entry.startTime.pointee.store(me.startTime, ordering: .relaxed)
            entry.pid.pointee.store(me.pid, ordering: .releasing)
        }
    }

    static func detach(_ ring: Ring) {
        let last = openHandles.withLock { counts in
            counts[ring.name, default: 1] -= 1
            if counts[ring.name] == 0 { counts[ring.name] = nil; return true }
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

    /// The processes recorded as attached.
    static func list(_ ring: Ring) -> [ProcessIdentity] {
        (0..<SegmentHeader.attachmentCapacity).map { identity(ring.header.attachment($0)) }.filter { $0.pid != 0 }
    }

    private static func identity(_ entry: (pid: UnsafeMutablePointer<Atomic<UInt32>>, startTime: UnsafeMutablePointer<Atomic<UInt64>>)) -> ProcessIdentity {
        ProcessIdentity(pid: entry.pid.pointee.load(ordering: .acquiring), startTime: entry.startTime.pointee.load(ordering: .relaxed))
    }
}
