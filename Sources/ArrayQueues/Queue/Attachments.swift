import CArrayQueuesShims
import Synchronization

/// The table of attached processes in each segment, and this process's share of it.
///
/// A process appears once per segment however many handles it opens: the process-wide set of
/// its open handles per segment decides when to add and remove its entry. A handle is known by
/// the address of its own mapping, so that a handle inherited through `fork()` (never attached
/// by the child) detaches nothing when the child closes it; the child registers itself when it
/// opens the queue.
///
/// A pid alone cannot tell whether a process lives: with `/dev/shm` shared between pid
/// namespaces (containers run with `--ipc=host`), an attached process's pid may name nothing,
/// or another process, here. So each process also records its pid namespace and holds an
/// advisory lock (an open-file-description lock, which the kernel drops when the process
/// exits, whatever its namespace) on the byte of the segment file that matches its slot.
/// An entry that records a namespace is alive exactly while its lock is held; only entries
/// without one (written by older builds) are judged by pid and start time. Broadcast subscribers
/// recorded in this namespace are judged by pid and start time too (``subscriberLiveness(_:lockDescriptor:)``).
enum Attachments {
    /// This process's share of one segment: its open handles, and the descriptor (a duplicate
    /// of the first handle's, so that it outlives that handle) through which it holds its
    /// slot's lock; nil if none could be made.
    private struct Share {
        /// The mapping addresses of the open handles.
        var handles: Set<UInt>
        let lockDescriptor: Int32?
        /// Which subscription of this process holds each subscriber slot.
        let subscriptions = SubscriptionTokens()
    }

    /// The next subscription token (never 0).
    private static let nextToken = Atomic<UInt64>(1)

    private static let shares = Mutex<[String: Share]>([:])

    /// Identifies a segment, not just a name: a queue removed and created again is another one.
    /// The pid keeps a child made by `fork()` from counting its parent's handles as its own.
    private static func key(_ ring: Ring) -> String {
        "\(ProcessIdentity.current.pid):\(ring.name)@\(ring.header.createdNanoseconds)"
    }

    private static func handle(_ ring: Ring) -> UInt {
        UInt(bitPattern: ring.header.raw)
    }

    /// One entry of the table, as read.
    struct Entry {
        let slot: Int
        let pid: UInt32
        let pidNamespace: UInt32
        let startTime: UInt64

        var identity: ProcessIdentity { ProcessIdentity(pid: pid, startTime: startTime) }

        /// Whether this is the calling process's own entry.
        var isCurrentProcess: Bool {
            let me = ProcessIdentity.current
            return pid == me.pid && startTime == me.startTime && (pidNamespace == 0 || pidNamespace == ProcessIdentity.currentPIDNamespace)
        }

        /// Whether its pid may mean another process here: it recorded another (or an unknown) namespace.
        var mayBeInAnotherPIDNamespace: Bool {
            pidNamespace != 0 && (pidNamespace != ProcessIdentity.currentPIDNamespace || pidNamespace == CAQ_PID_NS_UNKNOWN)
        }
    }

    /// What is known of an entry's process.
    enum Liveness {
        case alive
        /// Dead for certain: its slot's lock is free.
        case dead
        /// Looks dead by its pid and start time, which is all an entry without a lock offers.
        case deadByPID
    }

    static func attach(_ ring: Ring, descriptor: Int32) {
        let key = key(ring)
        let first: Share? = shares.withLock { shares in
            if var share = shares[key] {
                share.handles.insert(handle(ring))
                shares[key] = share
                return nil
            }
            let share = Share(handles: [handle(ring)], lockDescriptor: Sys.duplicate(descriptor))
            shares[key] = share
            return share
        }
        if let first { register(ring, lockDescriptor: first.lockDescriptor) }
    }

    /// Adds this process to the table (under the queue lock), clearing the entries of dead processes.
    private static func register(_ ring: Ring, lockDescriptor lock: Int32?) {
        try? ring.withLock { () throws(ArrayQueueError) in
            crashPoint(.attachBegin)
            var free: [Int] = []
            var othersAlive = false
            var unverifiedDeath = false
            for slot in 0..<SegmentHeader.attachmentCapacity {
                guard let entry = entry(ring, slot) else {
                    free.append(slot)
                    continue
                }
                // A leftover of this process (a detach that could not take the lock) is reused first.
                if entry.isCurrentProcess {
                    free.insert(slot, at: 0)
                    continue
                }
                switch liveness(entry, lockDescriptor: lock) {
                case .alive:
                    othersAlive = true
                case .dead:
                    ring.header.attachment(slot).pid.pointee.store(0, ordering: .relaxed)
                    crashPoint(.attachEntryCleared)
                    free.append(slot)
                case .deadByPID:
                    unverifiedDeath = true
                    ring.header.attachment(slot).pid.pointee.store(0, ordering: .relaxed)
                    crashPoint(.attachEntryCleared)
                    free.append(slot)
                }
            }
            // Watchers killed while waiting leave their counts behind, which only costs notifiers
            // needless wake-ups. With every other attached process dead for certain, no one can be
            // waiting: start afresh. A death told only by a pid may be a process in another pid
            // namespace, still waiting: never reset on that basis.
            if !othersAlive && !unverifiedDeath && !free.isEmpty {
                ring.header.dataSignal.resetWatchers()
                crashPoint(.attachWatchersReset)
                ring.header.spaceSignal.resetWatchers()
                crashPoint(.attachWatchersReset)
            }
            // A full table only costs `aq ls` some information; the queue works regardless.
            guard let first = free.first else { return }
            // Someone else may hold a free slot's byte (a forked child of a process that detached,
            // or a process that locks bytes it has no entry for): try the next slot. With no byte to
            // be had, or no lock at all, the entry records no namespace and is judged by its pid:
            // an unrecorded process would look absent to `gc`, which would remove its queue.
            let (slot, locked) = free.lazy.map { slot in (slot, lock.flatMap { Sys.lockByte($0, UInt64(slot)) }) }
                .first { $0.1 != false } ?? (first, nil)
            let me = ProcessIdentity.current
            let entry = ring.header.attachment(slot)
            entry.startTime.pointee.store(me.startTime, ordering: .relaxed)
            crashPoint(.attachStartTimeStored)
            entry.pidNamespace.pointee.store(locked == true ? ProcessIdentity.currentPIDNamespace : 0, ordering: .relaxed)
            crashPoint(.attachNamespaceStored)
            entry.pid.pointee.store(me.pid, ordering: .releasing)
            crashPoint(.attachPIDStored)
        }
    }

    static func detach(_ ring: Ring) {
        let key = key(ring)
        let last: Share? = shares.withLock { shares in
            // Not in the set: a handle this process inherited through fork() and never attached.
            guard var share = shares[key], share.handles.remove(handle(ring)) != nil else { return nil }
            shares[key] = share.handles.isEmpty ? nil : share
            return share.handles.isEmpty ? share : nil
        }
        guard let last else { return }
        try? ring.withLock { () throws(ArrayQueueError) in
            crashPoint(.detachBegin)
            // Another thread may have opened the queue again since: its entry is this process's too.
            guard shares.withLock({ $0[key] == nil }) else { return }
            for entry in entries(ring) where entry.isCurrentProcess {
                ring.header.attachment(entry.slot).pid.pointee.store(0, ordering: .releasing)
                crashPoint(.detachPIDCleared)
            }
        }
        // Closing the descriptor releases the slot's lock: should the entry still be there (the
        // queue lock could not be taken), it now reads as dead.
        if let descriptor = last.lockDescriptor { Sys.close(descriptor) }
    }

    /// The descriptor through which this process holds its lock bytes in `ring`'s segment (its
    /// attachment slot's, and its broadcast subscriptions'); nil if it has none.
    static func lockDescriptor(_ ring: Ring) -> Int32? {
        shares.withLock { $0[key(ring)]?.lockDescriptor }
    }

    /// A token for a new subscription, unique in this process.
    static func newSubscriptionToken() -> UInt64 {
        nextToken.add(1, ordering: .relaxed).oldValue
    }

    /// Which subscription of this process holds each subscriber slot of `ring`'s segment; nil
    /// without a share (a handle inherited through `fork()`).
    static func subscriptionTokens(_ ring: Ring) -> SubscriptionTokens? {
        shares.withLock { $0[key(ring)]?.subscriptions }
    }

    /// Whether an attached process is alive. Entries that hold a slot lock are judged by it;
    /// whatever cannot be checked counts as alive.
    static func liveness(_ entry: Entry, lockDescriptor: Int32?) -> Liveness {
        guard entry.pid != 0 else { return .dead }
        if entry.isCurrentProcess { return .alive }
        guard entry.pidNamespace != 0 else { return entry.identity.isAlive ? .alive : .deadByPID }
        guard let lockDescriptor, let locked = Sys.isByteLocked(lockDescriptor, UInt64(entry.slot)) else { return .alive }
        if locked { return .alive }
        // A lock that reads as free may still be held by this process's own open file description,
        // which `F_OFD_GETLK` does not report: a child forked after its parent attached shares it.
        // A pid of this namespace settles that (and a lock its owner dropped by closing descriptors
        // it did not open).
        return !entry.mayBeInAnotherPIDNamespace && entry.identity.isAlive ? .alive : .dead
    }

    /// Whether a broadcast subscriber's process is alive: as ``liveness(_:lockDescriptor:)``, except
    /// that an owner recorded in this pid namespace is judged by its pid and start time even while
    /// its byte is locked. A child it forked without exec holds that lock too (the descriptor
    /// survives `fork()`), and would keep a dead subscriber's slot, and with a `.block` one the
    /// producers, until it exits. Only for an owner of another namespace is the lock the authority.
    static func subscriberLiveness(_ entry: Entry, lockDescriptor: Int32?) -> Liveness {
        guard entry.pid != 0, entry.pidNamespace != 0, !entry.mayBeInAnotherPIDNamespace, !entry.isCurrentProcess else {
            return liveness(entry, lockDescriptor: lockDescriptor)
        }
        return entry.identity.isAlive ? .alive : .dead
    }

    /// Whether the owner of a record being written or read is alive (for the dead-peer sweep).
    ///
    /// A record keeps only a pid and the low bits of a start time. If that pid is not a live
    /// process here, the owner may still be a live process of another pid namespace: it is if
    /// an entry of the table from another namespace, with that pid and start time, is alive.
    /// A start time of 0 (a reader between its claim and storing its start time, or a writer
    /// between commit's two stores) matches any start time: such an owner is judged by its pid.
    static func isRecordOwnerAlive(_ owner: ProcessIdentity, in ring: Ring) -> Bool {
        if owner.isAlive { return true }
        let lock = shares.withLock { $0[key(ring)]?.lockDescriptor }
        return entries(ring).contains { entry in
            entry.pid == owner.pid && entry.mayBeInAnotherPIDNamespace
                && (owner.startTime == 0 || ProcessIdentity.sameStartTime(owner.startTime, entry.startTime))
                && liveness(entry, lockDescriptor: lock) == .alive
        }
    }

    /// Whether any process other than this one that is recorded as attached is alive.
    static func othersAlive(_ ring: Ring) -> Bool {
        let lock = shares.withLock { $0[key(ring)]?.lockDescriptor }
        return entries(ring).contains { !$0.isCurrentProcess && liveness($0, lockDescriptor: lock) == .alive }
    }

    /// Whether anyone but the one handle asking uses the segment: another live process, or
    /// another open handle in this process.
    static func usedBeyondOneHandle(_ ring: Ring) -> Bool {
        othersAlive(ring) || shares.withLock { $0[key(ring)]?.handles.count ?? 0 } > 1
    }

    /// The processes recorded as attached, with whether each is alive.
    static func list(_ ring: Ring) -> [(entry: Entry, isAlive: Bool)] {
        let lock = shares.withLock { $0[key(ring)]?.lockDescriptor }
        return entries(ring).map { ($0, liveness($0, lockDescriptor: lock) == .alive) }
    }

    /// The occupied entries of the table.
    static func entries(_ ring: Ring) -> [Entry] {
        (0..<SegmentHeader.attachmentCapacity).compactMap { entry(ring, $0) }
    }

    /// Entry `slot`, nil if it is free.
    private static func entry(_ ring: Ring, _ slot: Int) -> Entry? {
        let entry = ring.header.attachment(slot)
        let pid = entry.pid.pointee.load(ordering: .acquiring)
        guard pid != 0 else { return nil }
        return Entry(slot: slot, pid: pid, pidNamespace: entry.pidNamespace.pointee.load(ordering: .relaxed),
                     startTime: entry.startTime.pointee.load(ordering: .relaxed))
    }
}
