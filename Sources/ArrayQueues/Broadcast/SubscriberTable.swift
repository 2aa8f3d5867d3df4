import CArrayQueuesShims
import Synchronization

/// What a producer does about a broadcast subscriber that has fallen a ring behind.
public enum SubscriberPolicy: String, Sendable, Hashable, CaseIterable {
    /// Lossless: producers wait for it (each up to its put's timeout), as a recorder wants.
    case block
    /// Live: producers skip it ahead past the records it has not read, and it counts them
    /// (``BroadcastSubscriber/lost``), as a viewer wants.
    case drop

    var code: UInt32 { self == .drop ? CAQ_POLICY_DROP : CAQ_POLICY_BLOCK }

    /// The policy a slot records; anything but DROP reads as BLOCK (producers then wait,
    /// bounded by their timeouts: the safe reading of garbage).
    init(code: UInt32) { self = code == CAQ_POLICY_DROP ? .drop : .block }
}

/// Where a new broadcast subscriber starts reading.
public enum SubscriberStart: String, Sendable, Hashable, CaseIterable {
    /// At the oldest record the ring still holds (records others have read stay until room is needed).
    case oldest
    /// At the newest committed record the ring holds (a viewer gets the current frame at once),
    /// or at the next one if it holds none.
    case newest
    /// At the next record reserved after subscribing.
    case next
}

/// A view of one subscriber slot (`caq_subscriber`) in the segment header.
struct SubscriberSlot {
    let raw: UnsafeMutableRawPointer
    let index: Int

    private static func offset<T>(_ field: KeyPath<caq_subscriber, T>) -> Int {
        MemoryLayout<caq_subscriber>.offset(of: field)!
    }

    private func atomic32(_ field: KeyPath<caq_subscriber, UInt32>) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (raw + Self.offset(field)).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    private func atomic64(_ field: KeyPath<caq_subscriber, UInt64>) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (raw + Self.offset(field)).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    var state: UnsafeMutablePointer<Atomic<UInt32>> { atomic32(\.state) }
    var policy: UnsafeMutablePointer<Atomic<UInt32>> { atomic32(\.policy) }
    var pid: UnsafeMutablePointer<Atomic<UInt32>> { atomic32(\.pid) }
    var pidNamespace: UnsafeMutablePointer<Atomic<UInt32>> { atomic32(\.pid_ns) }
    var startTime: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(\.start_time) }
    var cursor: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(\.cursor) }
    var delivered: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(\.delivered) }
    var lost: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(\.lost) }
    var skipCursor: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(\.skip_cursor) }
    var skipLost: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(\.skip_lost) }

    /// The advisory-lock byte that tells whether its owner lives (docs/LAYOUT.md).
    var lockByte: UInt64 { UInt64(CAQ_SUBSCRIBER_LOCK_BYTE) + UInt64(index) }

    /// Whether the slot holds a subscriber (any other state word means free).
    var isTaken: Bool {
        let value = state.pointee.load(ordering: .acquiring)
        return value == CAQ_SUBSCRIBER_IDLE || value == CAQ_SUBSCRIBER_BORROWING
    }

    /// The owner, as an attachment-table entry (the slot's lock byte standing for its slot), so
    /// that `Attachments.subscriberLiveness` judges it as attached processes are judged.
    var owner: Attachments.Entry {
        Attachments.Entry(
            slot: Int(lockByte), pid: pid.pointee.load(ordering: .relaxed),
            pidNamespace: pidNamespace.pointee.load(ordering: .relaxed), startTime: startTime.pointee.load(ordering: .relaxed))
    }

    /// Whether the calling process owns it.
    var isOwnedByCurrentProcess: Bool { isTaken && owner.isCurrentProcess }

    /// Writes a whole free slot (state left free) for a new subscriber; `state` is stored after.
    func writeSubscriber(policy: SubscriberPolicy, owner: ProcessIdentity, pidNamespace: UInt32, cursor: UInt64) {
        var fields = caq_subscriber()
        fields.policy = policy.code
        fields.pid = owner.pid
        fields.pid_ns = pidNamespace
        fields.start_time = owner.startTime
        fields.cursor = cursor
        raw.assumingMemoryBound(to: caq_subscriber.self).pointee = fields
    }
}

extension SegmentHeader {
    static let subscriberCapacity = Int(CAQ_MAX_SUBSCRIBERS)

    private static let subscribersOffset = MemoryLayout<caq_segment_header>.offset(of: \.subscribers)!

    /// Subscriber slot `index` (0 ..< ``subscriberCapacity``).
    func subscriber(_ index: Int) -> SubscriberSlot {
        SubscriberSlot(raw: raw + Self.subscribersOffset + index * MemoryLayout<caq_subscriber>.stride, index: index)
    }

    private func counter(_ field: KeyPath<caq_segment_header, UInt64>) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (raw + MemoryLayout<caq_segment_header>.offset(of: field)!).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    var subscribersJoined: UnsafeMutablePointer<Atomic<UInt64>> { counter(\.subscribers_joined) }
    var subscribersLeft: UnsafeMutablePointer<Atomic<UInt64>> { counter(\.subscribers_left) }
    var subscribersReaped: UnsafeMutablePointer<Atomic<UInt64>> { counter(\.subscribers_reaped) }

    /// Whether the segment is a broadcast queue. Read at each use: a hostile writer flipping it
    /// can confuse the protocol (errors, timeouts) but cannot make any access leave the mapping.
    var isBroadcast: Bool { flags & CAQ_FLAG_BROADCAST != 0 }
}
