@preconcurrency import Glibc
import Synchronization

/// The named places in the queue protocol, before and after each store to shared memory,
/// where a test can make this process die (docs/LAYOUT.md, "Crash points").
///
/// Debug builds define `AQ_CRASH_POINTS` (Package.swift): there, a process started with
/// `AQ_CRASH_POINT=NAME` (or `NAME@N`) SIGKILLs itself the first (or Nth) time it reaches the
/// point. Release builds compile every ``crashPoint(_:)`` call to nothing.
///
/// Every store in `Ring` and `Attachments` has a point right before and right after it; the
/// crash-point tests check that, and walk every point with a real SIGKILL.
@_spi(Testing)
public enum CrashPoint: String, CaseIterable, Sendable {
    // Attaching and detaching (Attachments.swift).
    case attachBegin = "attach.begin"
    case attachEntryCleared = "attach.entry-cleared"
    case attachWatchersReset = "attach.watchers-reset"
    case attachStartTimeStored = "attach.start-time-stored"
    case attachNamespaceStored = "attach.namespace-stored"
    case attachPIDStored = "attach.pid-stored"
    case detachBegin = "detach.begin"
    case detachPIDCleared = "detach.pid-cleared"

    // Reserving (under the lock).
    case reserveBegin = "reserve.begin"
    case reserveGapSkipWritten = "reserve.gap-skip-written"
    case reserveGapTailStored = "reserve.gap-tail-stored"
    case reserveSequenceTaken = "reserve.sequence-taken"
    case reserveHeaderWritten = "reserve.header-written"
    case reserveTailStored = "reserve.tail-stored"
    // A small copying put published under the lock (Ring.reserve with `contents`).
    case reserveCounted = "reserve.counted"
    case publishBegin = "publish.begin"
    case publishNotified = "publish.notified"

    // The reset-on-shape-change policy (under the lock).
    case resetDropped = "reset.dropped"
    case resetCounted = "reset.counted"
    case resetSignatureStored = "reset.signature-stored"

    // Reclaiming freed room, and the jump to the next lap when the ring is empty (under the lock).
    case reclaimBegin = "reclaim.begin"
    case reclaimReadStored = "reclaim.read-stored"
    case reclaimHeadStored = "reclaim.head-stored"
    case reclaimWrapBegin = "reclaim.wrap-begin"
    case reclaimWrapSkipWritten = "reclaim.wrap-skip-written"
    case reclaimWrapTailStored = "reclaim.wrap-tail-stored"
    case reclaimWrapReadStored = "reclaim.wrap-read-stored"
    case reclaimWrapHeadStored = "reclaim.wrap-head-stored"

    // Dropping a READY record: drop-oldest, clear, reset (under the lock).
    case dropBegin = "drop.begin"
    case dropFlagged = "drop.flagged"
    case dropDone = "drop.done"
    case dropCounted = "drop.counted"
    case dropAllReclaimed = "drop-all.reclaimed"
    case dropAllNotified = "drop-all.notified"

    // Publishing a filled record, or giving it back (no lock).
    case commitBegin = "commit.begin"
    case commitCounted = "commit.counted"
    case commitOwnerCleared = "commit.owner-cleared"
    case commitReady = "commit.ready"
    case commitNotified = "commit.notified"
    case abandonBegin = "abandon.begin"
    case abandonFlagged = "abandon.flagged"
    case abandonDone = "abandon.done"
    case abandonNotified = "abandon.notified"

    // Claiming (under the lock, or without it at `read`) and releasing (no lock).
    case claimBegin = "claim.begin"
    case claimReading = "claim.reading"
    case claimOwnerSet = "claim.owner-set"
    case claimWalked = "claim.walked"
    case claimReadStored = "claim.read-stored"
    // Claiming the record at `read` without the lock.
    case claimQuickBegin = "claim-quick.begin"
    case claimQuickReading = "claim-quick.reading"
    case claimQuickOwnerSet = "claim-quick.owner-set"
    case claimQuickReadBegin = "claim-quick.read-begin"
    case claimQuickReadStored = "claim-quick.read-stored"
    // Moving `read` forward by compare-exchange (claim walks and reclaim).
    case readAdvanceBegin = "read.advance-begin"
    case readAdvanced = "read.advanced"
    case releaseBegin = "release.begin"
    case releaseDone = "release.done"
    case releaseCounted = "release.counted"
    case releaseNotified = "release.notified"

    // clear() (under the lock).
    case clearBegin = "clear.begin"
    case clearCounted = "clear.counted"

    // The dead-peer sweep (under the lock).
    case sweepBegin = "sweep.begin"
    case sweepRecoveryStamped = "sweep.recovery-stamped"
    case sweepFlagged = "sweep.flagged"
    case sweepFreed = "sweep.freed"
    case sweepCounted = "sweep.counted"
    case sweepNotified = "sweep.notified"

    // The repair by the next locker after a process died holding the lock.
    case repairBegin = "repair.begin"
    case repairReadStored = "repair.read-stored"
    case repairSwept = "repair.swept"
    case repairNotified = "repair.notified"

    // Broadcast queues (Broadcast/BroadcastRing.swift, under the lock): subscribing and leaving,
    // freeing the oldest record for a producer, skipping a drop-policy subscriber (and finishing
    // a skip a dead process left staged), lending and giving back (a record read, or one that could
    // not be), reaping dead subscribers, clear().
    case broadcastJoinBegin = "broadcast-join.begin"
    case broadcastJoinSlotWritten = "broadcast-join.slot-written"
    case broadcastJoinActive = "broadcast-join.active"
    case broadcastJoinCounted = "broadcast-join.counted"
    case broadcastLeaveBegin = "broadcast-leave.begin"
    case broadcastLeaveFreed = "broadcast-leave.freed"
    case broadcastLeaveCounted = "broadcast-leave.counted"
    case broadcastLeaveNotified = "broadcast-leave.notified"
    case broadcastFreeBegin = "broadcast-free.begin"
    case broadcastFreeFlagged = "broadcast-free.flagged"
    case broadcastFreeDone = "broadcast-free.done"
    case broadcastFreeCounted = "broadcast-free.counted"
    case broadcastSkipBegin = "broadcast-skip.begin"
    case broadcastSkipLostStaged = "broadcast-skip.lost-staged"
    case broadcastSkipCursorStaged = "broadcast-skip.cursor-staged"
    case broadcastSkipLostStored = "broadcast-skip.lost-stored"
    case broadcastSkipCursorStored = "broadcast-skip.cursor-stored"
    case broadcastSkipFinished = "broadcast-skip.finished"
    case broadcastFinishBegin = "broadcast-finish.begin"
    case broadcastFinishLostStored = "broadcast-finish.lost-stored"
    case broadcastFinishCursorStored = "broadcast-finish.cursor-stored"
    case broadcastFinishCleared = "broadcast-finish.cleared"
    case broadcastBorrowBegin = "broadcast-borrow.begin"
    case broadcastBorrowCursorStored = "broadcast-borrow.cursor-stored"
    case broadcastBorrowBorrowing = "broadcast-borrow.borrowing"
    case broadcastReleaseBegin = "broadcast-release.begin"
    case broadcastReleaseCursorStored = "broadcast-release.cursor-stored"
    case broadcastReleaseIdle = "broadcast-release.idle"
    case broadcastReleaseCounted = "broadcast-release.counted"
    case broadcastReleaseNotified = "broadcast-release.notified"
    // Giving back a record the subscriber could not read: a skip (its own points) between these.
    case broadcastGiveBackUnreadBegin = "broadcast-give-back-unread.begin"
    case broadcastGiveBackUnreadIdle = "broadcast-give-back-unread.idle"
    case broadcastGiveBackUnreadNotified = "broadcast-give-back-unread.notified"
    case broadcastReapBegin = "broadcast-reap.begin"
    case broadcastReapFreed = "broadcast-reap.freed"
    case broadcastReapCounted = "broadcast-reap.counted"
    case broadcastReapNotified = "broadcast-reap.notified"
    case broadcastClearBegin = "broadcast-clear.begin"
    case broadcastClearCounted = "broadcast-clear.counted"
    case broadcastClearNotified = "broadcast-clear.notified"

    /// Whether the point belongs to the broadcast protocol (walked on a broadcast queue).
    public var isBroadcast: Bool { rawValue.hasPrefix("broadcast-") }
}

/// Dies here if this process was started with `AQ_CRASH_POINT` naming `point` (debug builds
/// only; nothing at all in release builds).
@inline(__always)
func crashPoint(_ point: CrashPoint) {
    #if AQ_CRASH_POINTS
    CrashPoints.reached(point)
    #endif
}

#if AQ_CRASH_POINTS
/// The armed point, read once from the environment, and how often it was passed.
enum CrashPoints {
    static let armed: (point: CrashPoint, pass: Int)? = {
        guard let value = getenv("AQ_CRASH_POINT").map({ String(cString: $0) }), !value.isEmpty else { return nil }
        let parts = value.split(separator: "@", maxSplits: 1)
        guard let point = CrashPoint(rawValue: String(parts[0])) else {
            fputs("ArrayQueues: AQ_CRASH_POINT names no crash point: \(value)\n", stderr)
            return nil
        }
        let pass = parts.count > 1 ? Int(parts[1]) ?? 1 : 1
        return (point, max(pass, 1))
    }()

    static let passes = Atomic<Int>(0)

    static func reached(_ point: CrashPoint) {
        guard let armed, armed.point == point else { return }
        if passes.wrappingAdd(1, ordering: .relaxed).newValue == armed.pass {
            Sys.killSelf()
        }
    }
}

extension Sys {
    /// `kill(getpid(), SIGKILL)`: the crash-point tests' death, which nothing can intercept.
    static func killSelf() -> Never {
        kill(getpid(), SIGKILL)
        fatalError("SIGKILL did not kill")
    }
}
#endif
