import CArrayQueuesShims
import Synchronization

/// The broadcast protocol over a ring (docs/LAYOUT.md, "Broadcast queues").
///
/// Records keep `Ring`'s format, reservation and commit. A committed record stays READY while
/// any subscriber may still read it: each subscriber has its own cursor in the subscriber
/// table, and a record's room is reclaimed only once every subscriber's cursor is past it
/// (a subscriber reading a record in place keeps its cursor at it until it releases it, so
/// many subscribers read one record at once). Records every subscriber has passed stay
/// until a producer needs their room, for subscribers that join at the oldest record.
///
/// Every function here runs under the queue lock, and every store leaves a state that a
/// newcomer accepts (the crash-point walk checks each). Every value read from the table is
/// validated before use: cursors against the ring's, states and policies against their codes.
extension Ring {
    /// A taken subscriber slot as read (and validated) under the lock.
    struct Subscriber {
        let slot: SubscriberSlot
        let policy: SubscriberPolicy
        let isBorrowing: Bool
        /// Its cursor, moved up to `head` if it lags (everything before `head` is done or filler).
        let cursor: UInt64
    }

    /// Slot `index` as a validated subscriber, nil if free. Finishes first a skip its producer
    /// died in the middle of, so that `cursor` and `lost` agree.
    func subscriber(_ index: Int, head: UInt64, tail: UInt64) throws(ArrayQueueError) -> Subscriber? {
        let slot = header.subscriber(index)
        // One acquiring load of the state, then the cursor: a give-back (which takes no lock)
        // stores its cursor before it stores IDLE, so IDLE here comes with the cursor past the record.
        let state = slot.state.pointee.load(ordering: .acquiring)
        guard state == CAQ_SUBSCRIBER_IDLE || state == CAQ_SUBSCRIBER_BORROWING else { return nil }
        // Only IDLE slots are skipped by others. A skip staged in a BORROWING slot is its owner's
        // own (of a record it could not read), left by its death: the slot goes to the reaper. Or
        // a peer wrote it: finishing it would move the cursor under the reader, whose give-back
        // would then never match it, and the slot would stay BORROWING for good.
        if state == CAQ_SUBSCRIBER_IDLE { try finishSkip(slot, tail: tail) }
        let cursor = slot.cursor.pointee.load(ordering: .relaxed)
        guard cursor <= tail, cursor % UInt64(RecordHeader.alignment) == 0 else {
            throw broadcastCorrupt("subscriber \(index) has cursor \(cursor) beyond the ring's end \(tail)")
        }
        return Subscriber(
            slot: slot, policy: SubscriberPolicy(code: slot.policy.pointee.load(ordering: .relaxed)),
            isBorrowing: state == CAQ_SUBSCRIBER_BORROWING, cursor: max(cursor, head))
    }

    /// Every taken slot, validated.
    func subscribers(head: UInt64, tail: UInt64) throws(ArrayQueueError) -> [Subscriber] {
        var found: [Subscriber] = []
        for index in 0..<SegmentHeader.subscriberCapacity {
            if let subscriber = try subscriber(index, head: head, tail: tail) { found.append(subscriber) }
        }
        return found
    }

    func broadcastCorrupt(_ detail: String) -> ArrayQueueError {
        ArrayQueueError(.corruptSegment, "broadcast queue '\(name)' is corrupt: \(detail)")
    }

    // MARK: - Producers

    /// `reserve` for a broadcast queue: when there is no room, frees the oldest record if every
    /// subscriber is past it or may be skipped past it, and tries again. Nil when a lossless
    /// subscriber (or one reading in place, or an unfinished write) holds a record that must go
    /// to make room; then nothing is freed and no subscriber is skipped, so that a producer
    /// refused again and again (one that only tries) takes no records from drop subscribers.
    func broadcastReserve(_ request: Request, owner: ProcessIdentity) throws(ArrayQueueError) -> Reservation? {
        if let reservation = try reserve(request, dropOldest: false, owner: owner) { return reservation }
        guard try roomCanBeMade(for: request.length) else { return nil }
        while true {
            guard try freeOldest() else { return nil }
            if let reservation = try reserve(request, dropOldest: false, owner: owner) { return reservation }
        }
    }

    /// Whether freeing records from the head one after another, as ``freeOldest()`` does, makes
    /// room for a record of `length` bytes before it reaches one it may not free. Frees nothing
    /// (reading the table only finishes skips that dead producers left half-done).
    private func roomCanBeMade(for length: Int) throws(ArrayQueueError) -> Bool {
        let (head, _, tail) = try cursors()
        let subscribers = try subscribers(head: head, tail: tail)
        var position = head
        while position < tail {
            // `reserve`'s test, with the head at `position`.
            let offset = offset(of: tail)
            let gap = offset + length > capacity ? capacity - offset : 0
            if Int(tail - position) + gap + length <= capacity { return true }
            let (_, state, recordLength) = try validatedRecord(at: position, tail: tail)
            switch state {
            case .done, .skip:
                break
            case .ready:
                // Every subscriber not past it must be a drop subscriber that is not reading in place.
                let holds = subscribers.contains { $0.cursor <= position && ($0.policy != .drop || $0.isBorrowing) }
                if holds { return false }
            case .writing, .reading:
                return false
            }
            position += UInt64(recordLength)
        }
        // Everything freed: `reclaim` starts the next record at the next lap's start.
        return length <= capacity
    }

    /// Records freed at most per call once every subscriber is past them: enough that most puts
    /// then find room at once, few enough to keep the lock hold short and the history that
    /// subscribers joining at `.oldest` see.
    static let freeBatch = 64

    /// Frees the record at `head` (after `reserve`'s reclaim, one that is not done or filler) if
    /// no subscriber needs it any more: lossless subscribers must be past it; drop-policy
    /// subscribers still at it are skipped past it and count it lost. When every subscriber is
    /// past it, also frees the records after it that they all passed (up to ``freeBatch``).
    /// Returns whether it freed any.
    private func freeOldest() throws(ArrayQueueError) -> Bool {
        let (head, _, tail) = try cursors()
        guard head < tail else { return false }
        let (record, state, length) = try validatedRecord(at: head, tail: tail)
        guard state == .ready else { return false }
        let next = head + UInt64(length)
        let subscribers = try subscribers(head: head, tail: tail)
        // The subscribers still at `head` (no list made: a producer that outruns its `drop`
        // subscribers comes here for every record).
        let isBehind = { (subscriber: Subscriber) in subscriber.cursor <= head }
        guard !subscribers.contains(where: { isBehind($0) && ($0.policy != .drop || $0.isBorrowing) }) else { return false }
        let anyBehind = subscribers.contains(where: isBehind)
        for subscriber in subscribers where isBehind(subscriber) {
            try skip(subscriber.slot, to: next, losing: 1)
        }
        crashPoint(.broadcastFreeBegin)
        if anyBehind {
            record.addFlags(CAQ_RECORD_DROPPED)
            crashPoint(.broadcastFreeFlagged)
        }
        record.setState(.done)
        crashPoint(.broadcastFreeDone)
        if anyBehind {
            header.drops.pointee.wrappingAdd(1, ordering: .relaxed)
            crashPoint(.broadcastFreeCounted)
            return true
        }
        // Every subscriber is past `head` (with none, history is kept: one record at a time).
        guard let passed = subscribers.lazy.map(\.cursor).min() else { return true }
        var position = next
        var freed = 1
        while position < passed && freed < Self.freeBatch {
            let (record, state, length) = try validatedRecord(at: position, tail: tail)
            if state == .ready {
                crashPoint(.broadcastFreeBegin)
                record.setState(.done)
                crashPoint(.broadcastFreeDone)
                freed += 1
            }
            position += UInt64(length)
        }
        return true
    }

    /// Moves `slot`'s cursor to `cursor`, adding `count` to what it lost. Staged first, so that a
    /// process killed in between leaves a skip the next reader of the slot finishes.
    private func skip(_ slot: SubscriberSlot, to cursor: UInt64, losing count: UInt64) throws(ArrayQueueError) {
        let lost = slot.lost.pointee.load(ordering: .relaxed) &+ count
        crashPoint(.broadcastSkipBegin)
        slot.skipLost.pointee.store(lost, ordering: .relaxed)
        crashPoint(.broadcastSkipLostStaged)
        slot.skipCursor.pointee.store(cursor, ordering: .relaxed)
        crashPoint(.broadcastSkipCursorStaged)
        slot.lost.pointee.store(lost, ordering: .relaxed)
        crashPoint(.broadcastSkipLostStored)
        slot.cursor.pointee.store(cursor, ordering: .relaxed)
        crashPoint(.broadcastSkipCursorStored)
        slot.skipCursor.pointee.store(0, ordering: .relaxed)
        crashPoint(.broadcastSkipFinished)
    }

    /// Completes a skip staged in `slot` by a process that died before finishing it (a staged
    /// cursor of 0 means none: no skip moves a cursor to the ring's very start).
    private func finishSkip(_ slot: SubscriberSlot, tail: UInt64) throws(ArrayQueueError) {
        let cursor = slot.skipCursor.pointee.load(ordering: .relaxed)
        guard cursor != 0 else { return }
        guard cursor <= tail, cursor % UInt64(RecordHeader.alignment) == 0 else {
            throw broadcastCorrupt("subscriber \(slot.index) has a staged cursor \(cursor) beyond the ring's end \(tail)")
        }
        crashPoint(.broadcastFinishBegin)
        slot.lost.pointee.store(slot.skipLost.pointee.load(ordering: .relaxed), ordering: .relaxed)
        crashPoint(.broadcastFinishLostStored)
        slot.cursor.pointee.store(cursor, ordering: .relaxed)
        crashPoint(.broadcastFinishCursorStored)
        slot.skipCursor.pointee.store(0, ordering: .relaxed)
        crashPoint(.broadcastFinishCleared)
    }

    // MARK: - Subscribing and leaving

    /// Takes a free slot for the calling process, locking its byte through `lockDescriptor` so that
    /// its death is seen whatever its pid namespace. Returns the slot's index.
    func join(policy: SubscriberPolicy, start: SubscriberStart, lockDescriptor: Int32?) throws(ArrayQueueError) -> Int {
        var free = (0..<SegmentHeader.subscriberCapacity).filter { !header.subscriber($0).isTaken }
        if free.isEmpty, try reapDeadSubscribers() {
            free = (0..<SegmentHeader.subscriberCapacity).filter { !header.subscriber($0).isTaken }
        }
        guard !free.isEmpty else {
            throw ArrayQueueError(.full, "broadcast queue '\(name)' has \(SegmentHeader.subscriberCapacity) subscribers already, the most it holds")
        }
        let (head, _, tail) = try cursors()
        let cursor = try startPosition(start, head: head, tail: tail)
        // A byte someone else holds (a forked child of a former subscriber) calls for the next slot;
        // without any lock the slot records no namespace and is judged by its pid.
        let (index, locked) = free.lazy.map { index in
            (index, lockDescriptor.flatMap { Sys.lockByte($0, UInt64(CAQ_SUBSCRIBER_LOCK_BYTE) + UInt64(index)) })
        }.first { $0.1 != false } ?? (free[0], nil)
        let slot = header.subscriber(index)
        crashPoint(.broadcastJoinBegin)
        slot.writeSubscriber(
            policy: policy, owner: .current, pidNamespace: locked == true ? ProcessIdentity.currentPIDNamespace : 0, cursor: cursor)
        crashPoint(.broadcastJoinSlotWritten)
        slot.state.pointee.store(CAQ_SUBSCRIBER_IDLE, ordering: .releasing)
        crashPoint(.broadcastJoinActive)
        header.subscribersJoined.pointee.wrappingAdd(1, ordering: .relaxed)
        crashPoint(.broadcastJoinCounted)
        return index
    }

    /// The cursor a new subscriber starts at.
    private func startPosition(_ start: SubscriberStart, head: UInt64, tail: UInt64) throws(ArrayQueueError) -> UInt64 {
        switch start {
        case .oldest:
            return head
        case .next:
            return tail
        case .newest:
            var newest = tail
            var position = head
            while position < tail {
                let (_, state, length) = try validatedRecord(at: position, tail: tail)
                if state == .ready { newest = position }
                position += UInt64(length)
            }
            return newest
        }
    }

    /// Frees the calling process's slot `index`; returns whether it did (only then may the caller
    /// unlock its byte, still under the lock). The caller has checked that the slot is still its
    /// subscription's (``SubscriptionTokens/release(_:token:)``).
    func leave(_ index: Int) -> Bool {
        let slot = header.subscriber(index)
        guard slot.isOwnedByCurrentProcess else { return false }
        crashPoint(.broadcastLeaveBegin)
        slot.state.pointee.store(0, ordering: .releasing)
        crashPoint(.broadcastLeaveFreed)
        header.subscribersLeft.pointee.wrappingAdd(1, ordering: .relaxed)
        crashPoint(.broadcastLeaveCounted)
        header.spaceSignal.notify()
        crashPoint(.broadcastLeaveNotified)
        return true
    }

    /// Frees the slots of subscribers whose process died (whatever they were reading is then
    /// released with them). Returns whether it freed any.
    @discardableResult
    func reapDeadSubscribers() throws(ArrayQueueError) -> Bool {
        let lock = Attachments.lockDescriptor(self)
        var reaped = false
        for index in 0..<SegmentHeader.subscriberCapacity {
            let slot = header.subscriber(index)
            guard slot.isTaken, Attachments.subscriberLiveness(slot.owner, lockDescriptor: lock) != .alive else { continue }
            crashPoint(.broadcastReapBegin)
            slot.state.pointee.store(0, ordering: .releasing)
            crashPoint(.broadcastReapFreed)
            header.subscribersReaped.pointee.wrappingAdd(1, ordering: .relaxed)
            crashPoint(.broadcastReapCounted)
            reaped = true
        }
        if reaped {
            header.spaceSignal.notify()
            crashPoint(.broadcastReapNotified)
        }
        return reaped
    }

    // MARK: - Reading

    /// A record lent to a subscriber: where it is, and its length as validated when it was lent.
    struct Loan {
        let record: RecordHeader
        let position: UInt64
        let length: Int
    }

    /// The calling process's slot `index`, or an error if it is no longer its (reaped as dead:
    /// only a hostile or confused peer does that to a live process).
    private func ownSlot(_ index: Int) throws(ArrayQueueError) -> SubscriberSlot {
        let slot = header.subscriber(index)
        guard slot.isOwnedByCurrentProcess else {
            throw ArrayQueueError(.notFound, "subscriber \(index) of broadcast queue '\(name)' was detached by another process (it judged this one dead); subscribe again")
        }
        return slot
    }

    /// Lends the next committed record at or after subscriber `index`'s cursor, moving the cursor
    /// over done and filler records; nil if there is none yet (or an unfinished write comes first).
    func borrow(_ index: Int) throws(ArrayQueueError) -> Loan? {
        let slot = try ownSlot(index)
        let (head, _, tail) = try cursors()
        guard let subscriber = try subscriber(index, head: head, tail: tail), !subscriber.isBorrowing else {
            throw ArrayQueueError(.invalidArgument, "subscriber \(index) of broadcast queue '\(name)' is already reading a record; release it first")
        }
        var position = subscriber.cursor
        var found: Loan?
        walk: while position < tail {
            let (record, state, length) = try validatedRecord(at: position, tail: tail)
            switch state {
            case .ready:
                found = Loan(record: record, position: position, length: length)
                break walk
            case .writing, .reading:
                break walk
            case .done, .skip:
                position += UInt64(length)
            }
        }
        if position != slot.cursor.pointee.load(ordering: .relaxed) {
            crashPoint(.broadcastBorrowBegin)
            slot.cursor.pointee.store(position, ordering: .relaxed)
            crashPoint(.broadcastBorrowCursorStored)
        }
        if found != nil {
            crashPoint(.broadcastBorrowBegin)
            slot.state.pointee.store(CAQ_SUBSCRIBER_BORROWING, ordering: .releasing)
            crashPoint(.broadcastBorrowBorrowing)
        }
        return found
    }

    /// Gives back subscriber `index`'s loan: its cursor moves past the record, and producers
    /// waiting for room are told. Takes no lock: while a slot is BORROWING only its owner writes
    /// it (skips and clears pass a reading subscriber by, and only a dead owner's slot is
    /// reaped). The cursor is stored before the state, so whoever sees IDLE sees the new cursor.
    func giveBack(_ index: Int, _ loan: Loan) throws(ArrayQueueError) {
        let slot = try ownSlot(index)
        guard slot.state.pointee.load(ordering: .acquiring) == CAQ_SUBSCRIBER_BORROWING,
              slot.cursor.pointee.load(ordering: .relaxed) == loan.position else { return }
        crashPoint(.broadcastReleaseBegin)
        slot.cursor.pointee.store(loan.position + UInt64(loan.length), ordering: .relaxed)
        crashPoint(.broadcastReleaseCursorStored)
        slot.state.pointee.store(CAQ_SUBSCRIBER_IDLE, ordering: .releasing)
        crashPoint(.broadcastReleaseIdle)
        slot.delivered.pointee.wrappingAdd(1, ordering: .relaxed)
        crashPoint(.broadcastReleaseCounted)
        header.spaceSignal.notify()
        crashPoint(.broadcastReleaseNotified)
    }

    /// Gives back subscriber `index`'s loan of a record it could not read (its dtype, shape and
    /// size disagree): its cursor moves past the record, counted lost, not delivered. Under the
    /// lock, since a producer may skip the slot and store `lost` once it is IDLE again.
    func giveBackUnread(_ index: Int, _ loan: Loan) throws(ArrayQueueError) {
        let slot = try ownSlot(index)
        guard slot.state.pointee.load(ordering: .acquiring) == CAQ_SUBSCRIBER_BORROWING,
              slot.cursor.pointee.load(ordering: .relaxed) == loan.position else { return }
        crashPoint(.broadcastGiveBackUnreadBegin)
        // Staged as any skip; should this process die in it, the BORROWING slot is reaped. The
        // skip's own points mark its stores, the last one right before IDLE.
        try skip(slot, to: loan.position + UInt64(loan.length), losing: 1)
        slot.state.pointee.store(CAQ_SUBSCRIBER_IDLE, ordering: .releasing)
        crashPoint(.broadcastGiveBackUnreadIdle)
        header.spaceSignal.notify()
        crashPoint(.broadcastGiveBackUnreadNotified)
    }

    // MARK: - Clearing

    /// `clear()` on a broadcast queue: every subscriber not reading in place skips the committed
    /// records from its cursor up to the first record still being written (or to the end),
    /// counting them as lost. Returns the records skipped, summed.
    ///
    /// A record being written is not cleared (as on a plain queue): a subscriber skipped past it
    /// would neither read it nor count it lost once it is committed.
    func broadcastClear() throws(ArrayQueueError) -> Int {
        let (head, _, tail) = try cursors()
        crashPoint(.broadcastClearBegin)
        header.clears.pointee.wrappingAdd(1, ordering: .relaxed)
        crashPoint(.broadcastClearCounted)
        var skipped = 0
        for subscriber in try subscribers(head: head, tail: tail) where !subscriber.isBorrowing && subscriber.cursor < tail {
            var count: UInt64 = 0
            var position = subscriber.cursor
            walk: while position < tail {
                let (_, state, length) = try validatedRecord(at: position, tail: tail)
                switch state {
                case .ready: count += 1
                case .done, .skip: break
                // Never READING on a broadcast queue unless a peer wrote it: stop there, as `borrow` does.
                case .writing, .reading: break walk
                }
                position += UInt64(length)
            }
            guard position > subscriber.cursor else { continue }
            try skip(subscriber.slot, to: position, losing: count)
            skipped += Int(count)
        }
        if skipped > 0 {
            header.spaceSignal.notify()
            crashPoint(.broadcastClearNotified)
        }
        return skipped
    }
}
