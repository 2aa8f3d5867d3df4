import CArrayQueuesShims
import Synchronization

/// One subscriber of a broadcast queue, as ``ArrayQueue/broadcastState()`` reports it.
public struct SubscriberInfo: Sendable, Hashable {
    /// Its slot in the subscriber table (0 ..< 32).
    public var slot: Int
    /// The process that subscribed (its pid in its own pid namespace).
    public var pid: Int32
    /// Whether that process is still running (checked when this value was made).
    public var isAlive: Bool
    /// What producers do when it falls a ring behind.
    public var policy: SubscriberPolicy
    /// Whether it is reading a record in place right now.
    public var isReading: Bool
    /// Records it has read.
    public var delivered: UInt64
    /// Records it was skipped past (drop policy, `clear()`).
    public var lost: UInt64
    /// Committed records it has yet to read.
    public var pending: Int
}

/// A broadcast queue's subscribers and counters, as a snapshot taken under the queue lock.
public struct BroadcastState: Sendable, Hashable {
    /// The subscribers, by slot.
    public var subscribers: [SubscriberInfo]
    /// Subscriptions taken since the queue was created.
    public var joined: UInt64
    /// Subscriptions given up by their process.
    public var left: UInt64
    /// Subscriptions freed because their process died.
    public var reaped: UInt64
}

extension ArrayQueue {
    /// Whether this is a broadcast queue (``CreateOptions/broadcast``): every subscriber reads
    /// every record. Read it through ``subscribe(policy:start:)``; `get` refuses it.
    public var isBroadcast: Bool { ring.isBroadcast }

    /// Subscribes to this broadcast queue: the subscriber reads every record committed from its
    /// start on, in order, exactly once, in place, while other subscribers read the same records.
    ///
    /// A subscriber holds one of 32 slots until it is detached (``BroadcastSubscriber/detach()``,
    /// or when it goes away); the slot of a process that dies is freed by the next producer or
    /// subscriber that waits, and whatever it was reading is released with it.
    ///
    /// - Parameters:
    ///   - policy: `.block` (lossless: producers wait for it) or `.drop` (live: skipped ahead, counting what it lost).
    ///   - start: `.newest` committed record, `.oldest` one the ring holds, or `.next` one reserved.
    /// - Throws: ``ArrayQueueError/Code/invalidArgument`` for a queue that is not a broadcast
    ///   queue, ``ArrayQueueError/Code/full`` when all slots are taken, ``ArrayQueueError/Code/corruptSegment``.
    public func subscribe(policy: SubscriberPolicy = .block, start: SubscriberStart = .newest) throws(ArrayQueueError) -> BroadcastSubscriber {
        guard isBroadcast else {
            throw ArrayQueueError(.invalidArgument, "queue '\(name)' is not a broadcast queue: take its records with get (or create a broadcast queue: CreateOptions(broadcast: true), `aq create --broadcast`)")
        }
        let lock = Attachments.lockDescriptor(ring)
        let token = Attachments.newSubscriptionToken()
        let tokens = Attachments.subscriptionTokens(ring)
        let slot = try ring.withLock { () throws(ArrayQueueError) in
            let slot = try ring.join(policy: policy, start: start, lockDescriptor: lock)
            tokens?.setHolder(of: slot, to: token)
            return slot
        }
        return BroadcastSubscriber(queue: self, slot: slot, policy: policy, token: token, tokens: tokens)
    }

    /// The subscribers and counters of this broadcast queue (empty for other queues).
    public func broadcastState() throws(ArrayQueueError) -> BroadcastState {
        let header = ring.header
        let lock = Attachments.lockDescriptor(ring)
        let subscribers = try ring.withLock { () throws(ArrayQueueError) -> [SubscriberInfo] in
            guard ring.isBroadcast else { return [] }
            let (head, _, tail) = try ring.cursors()
            return try ring.subscribers(head: head, tail: tail).map { subscriber throws(ArrayQueueError) in
                var pending = 0
                var position = subscriber.cursor
                while position < tail {
                    let (_, state, length) = try ring.validatedRecord(at: position, tail: tail)
                    if state == .ready { pending += 1 }
                    position += UInt64(length)
                }
                let slot = subscriber.slot
                return SubscriberInfo(
                    slot: slot.index, pid: Int32(bitPattern: slot.owner.pid),
                    isAlive: Attachments.subscriberLiveness(slot.owner, lockDescriptor: lock) == .alive, policy: subscriber.policy,
                    isReading: subscriber.isBorrowing, delivered: slot.delivered.pointee.load(ordering: .relaxed),
                    lost: slot.lost.pointee.load(ordering: .relaxed), pending: pending)
            }
        }
        return BroadcastState(
            subscribers: subscribers, joined: header.subscribersJoined.pointee.load(ordering: .relaxed),
            left: header.subscribersLeft.pointee.load(ordering: .relaxed), reaped: header.subscribersReaped.pointee.load(ordering: .relaxed))
    }

    /// Throws for a consumer's `get` on a broadcast queue: it would take records from the subscribers.
    @inline(__always)
    func refuseConsumerOfBroadcast() throws(ArrayQueueError) {
        guard isBroadcast else { return }
        throw consumerOfBroadcast()
    }

    /// The error of ``refuseConsumerOfBroadcast()`` (out of line: every get inlines the check).
    @inline(never)
    private func consumerOfBroadcast() -> ArrayQueueError {
        ArrayQueueError(.invalidArgument, "queue '\(name)' is a broadcast queue: read it as a subscriber (ArrayQueue.subscribe, `aq get --policy block|drop`), not with get, which would take records from its subscribers")
    }

    /// `clear()` of a broadcast queue (see ``clear()``).
    func broadcastClear() throws(ArrayQueueError) -> Int {
        try ring.withLock { () throws(ArrayQueueError) in try ring.broadcastClear() }
    }
}

extension Ring {
    /// The dead-peer sweep, and on a broadcast queue the reaping of dead subscribers too.
    @discardableResult
    func sweepDeadPeersAndSubscribers() throws(ArrayQueueError) -> Bool {
        let swept = try sweepDeadPeers()
        guard isBroadcast else { return swept }
        let reaped = try reapDeadSubscribers()
        return swept || reaped
    }
}
