import CArrayQueuesShims
import Synchronization

/// A subscriber of a broadcast queue (``ArrayQueue/subscribe(policy:start:)``): it reads every
/// record in order, exactly once, in place.
///
/// ```swift
/// let queue = try ArrayQueue.open(name: "camera0")
/// let viewer = try queue.subscribe(policy: .drop, start: .newest)
/// try viewer.get(timeout: .seconds(1)) { frame in show(frame.bytes) }
/// ```
///
/// It holds its slot in the queue until ``detach()`` or until it goes away. It reads one record
/// at a time; its calls may come from any thread, but one record must be released before the
/// next is taken (a second read meanwhile throws ``ArrayQueueError/Code/invalidArgument``).
public final class BroadcastSubscriber: Sendable {
    /// The queue it reads.
    public let queue: ArrayQueue
    /// Its policy when it falls behind.
    public let policy: SubscriberPolicy
    /// Its slot in the queue's subscriber table.
    public let slot: Int
    /// Tells its slot from one another subscription of this process takes after a peer freed it.
    private let token: UInt64
    /// Which subscription of this process holds each slot (nil through a handle inherited by `fork()`).
    private let tokens: SubscriptionTokens?
    /// Whether a loan is out, and whether `detach()` was called: the slot is given up only once
    /// no loan is out, since a give-back takes no queue lock and must not touch a slot given up.
    /// `counts` keeps `lost` and `delivered` from the moment it was given up: the slot may then
    /// hold another subscriber.
    private let lifecycle = Mutex<(lent: Bool, detached: Bool, left: Bool, counts: (lost: UInt64, delivered: UInt64)?)>(
        (false, false, false, nil))
    /// Where the shape of the record on loan is kept while it is lent (``BorrowedRecord`` points
    /// at it). Unchecked for sending: one loan is out at a time (`lifecycle.lent`), and only the
    /// call that starts it writes here.
    nonisolated(unsafe) private let extentStorage = UnsafeMutableBufferPointer<Int>.allocate(capacity: Shape.maxDimensions)

    init(queue: ArrayQueue, slot: Int, policy: SubscriberPolicy, token: UInt64, tokens: SubscriptionTokens?) {
        self.queue = queue
        self.slot = slot
        self.policy = policy
        self.token = token
        self.tokens = tokens
    }

    deinit {
        detach()
        extentStorage.deallocate()
    }

    /// Gives up the subscription: producers stop waiting for it. Done when it goes away, too;
    /// further reads throw ``ArrayQueueError/Code/notFound``.
    public func detach() {
        let leaveNow = lifecycle.withLock { state in
            state.detached = true
            guard !state.lent, !state.left else { return false }
            state.left = true
            return true
        }
        if leaveNow { leave() }
    }

    /// Frees the slot and its lock byte, if the slot is still this subscription's.
    private func leave() {
        let ring = queue.ring
        let slot = slot
        let token = token
        let tokens = tokens
        let lock = Attachments.lockDescriptor(ring)
        // The byte is unlocked under the queue lock: once the lock is released, another thread of
        // this process may take the slot and "lock" the byte through the same descriptor, a lock
        // an unlock afterwards would drop. Without the queue lock the slot stays until this
        // process exits (its byte lock goes with it).
        try? ring.withLock { () throws(ArrayQueueError) in
            let counts = Self.counts(of: ring.header.subscriber(slot))
            // Not a slot another subscription of this process took since a peer freed it.
            let freed = (tokens?.release(slot, token: token) ?? true) && ring.leave(slot)
            // Kept before the queue lock is released, after which another subscriber may take the
            // slot (`counts()` reads the slot only while none are kept). A slot that was not this
            // subscription's any more (a peer freed it) held no count of its.
            lifecycle.withLock { $0.counts = freed ? counts : (0, 0) }
            if freed, let lock { Sys.unlockByte(lock, ring.header.subscriber(slot).lockByte) }
        }
    }

    /// `lost` and `delivered` as `slot` holds them now.
    private static func counts(of slot: SubscriberSlot) -> (lost: UInt64, delivered: UInt64) {
        (slot.lost.pointee.load(ordering: .relaxed), slot.delivered.pointee.load(ordering: .relaxed))
    }

    /// Its `lost` and `delivered`: from its slot while it holds one, else as they were when it
    /// gave it up.
    private func counts() -> (lost: UInt64, delivered: UInt64) {
        let slot = queue.ring.header.subscriber(slot)
        return lifecycle.withLock { $0.counts ?? Self.counts(of: slot) }
    }

    /// Records producers skipped it past (drop policy), `clear()` dropped before it read them, or
    /// it could not read (corrupt). After ``detach()``, the count at that moment (0 if another
    /// process had freed its slot).
    public var lost: UInt64 { counts().lost }
    /// Records it has read. After ``detach()``, the count at that moment (0 if another process
    /// had freed its slot).
    public var delivered: UInt64 { counts().delivered }

    // MARK: - Reading

    /// The next record, copied out (its room is freed for producers once every subscriber is past it).
    ///
    /// - Parameter timeout: how long to wait for one; nil waits without limit.
    /// - Throws: ``ArrayQueueError/Code/timeout``, ``ArrayQueueError/Code/notFound`` once detached.
    public func get(timeout: Duration? = nil) throws(ArrayQueueError) -> ArrayRecord {
        let loan = try borrow(timeout: timeout)
        return loan.record.copy(shapes: queue.shapes)
    }

    /// The next record copied out, if one is waiting; never waits.
    public func tryGet() throws(ArrayQueueError) -> ArrayRecord? {
        guard let loan = try tryBorrow() else { return nil }
        return loan.record.copy(shapes: queue.shapes)
    }

    /// Lends the next record to `body`, in place in shared memory (other subscribers may be
    /// reading it at the same time), and releases it when `body` returns.
    public func get<Result>(timeout: Duration? = nil, _ body: (borrowing BorrowedRecord) throws -> Result) throws -> Result {
        let loan = try borrow(timeout: timeout)
        return try body(loan.record)
    }

    /// Lends the next record to `body` if one is waiting; never waits.
    public func tryGet<Result>(_ body: (borrowing BorrowedRecord) throws -> Result) throws -> Result? {
        guard let loan = try tryBorrow() else { return nil }
        return try body(loan.record)
    }

    /// `get(timeout:_:)`, giving up with ``ArrayQueueError/Code/cancelled`` once `cancellation`
    /// is cancelled (and the queue's readers woken with ``ArrayQueue/wakeConsumers()``).
    @_spi(Transport)
    public func get<Result>(timeout: Duration?, cancellation: Cancellation, _ body: (borrowing BorrowedRecord) throws -> Result) throws -> Result {
        let loan = try lend(blocking: true, timeout: timeout, cancellation: cancellation)!
        return try body(loan.record)
    }

    /// Borrows the next record until the loan is released (``BroadcastLoan/release()``, or when
    /// it goes away): for readers that hand a record on before they are done with it.
    public func borrow(timeout: Duration? = nil) throws(ArrayQueueError) -> BroadcastLoan {
        try lend(blocking: true, timeout: timeout, cancellation: nil)!
    }

    /// Borrows the next record if one is waiting; never waits.
    public func tryBorrow() throws(ArrayQueueError) -> BroadcastLoan? {
        try lend(blocking: false, timeout: nil, cancellation: nil)
    }

    private func lend(blocking: Bool, timeout: Duration?, cancellation: Cancellation?) throws(ArrayQueueError) -> BroadcastLoan? {
        // Marked lent before the slot is touched, so that a concurrent `detach()` waits for the loan.
        let mayLend = lifecycle.withLock { state -> Bool? in
            guard !state.detached else { return nil }
            guard !state.lent else { return false }
            state.lent = true
            return true
        }
        guard let mayLend else {
            throw ArrayQueueError(.notFound, "subscriber \(slot) of broadcast queue '\(queue.name)' was detached")
        }
        guard mayLend else {
            throw ArrayQueueError(.invalidArgument, "subscriber \(slot) of broadcast queue '\(queue.name)' is already reading a record; release it first")
        }
        let found: Ring.Loan?
        do {
            found = try nextLoan(blocking: blocking, timeout: timeout, cancellation: cancellation)
        } catch {
            endLoan()
            throw error
        }
        guard let found else {
            endLoan()
            return nil
        }
        let record: BorrowedRecord
        do {
            record = try queue.borrowed(found.record, extentsIn: extentStorage)
        } catch {
            // Passed by and counted lost, never delivered: its dtype, shape and size disagree.
            defer { endLoan() }
            let ring = queue.ring
            let slot = slot
            try? ring.withLock { () throws(ArrayQueueError) in try ring.giveBackUnread(slot, found) }
            throw error
        }
        return BroadcastLoan(subscriber: self, loan: found, record: record)
    }

    /// The next record lent by the ring, waiting for one if `blocking`.
    private func nextLoan(blocking: Bool, timeout: Duration?, cancellation: Cancellation?) throws(ArrayQueueError) -> Ring.Loan? {
        let ring = queue.ring
        let slot = slot
        var lazyDeadline = try Deadline(after: timeout)
        let token = token
        let tokens = tokens
        func attempt(_ deadline: inout Deadline) throws(ArrayQueueError) -> Ring.Loan? {
            try ring.withLock(deadline: &deadline) { () throws(ArrayQueueError) in
                // Under the lock, where joins store who holds the slot: after a peer freed it (judging
                // this process dead), another subscription of this process may have taken it.
                if let tokens, tokens.holder(of: slot) != token {
                    throw ArrayQueueError(.notFound, "subscriber \(slot) of broadcast queue '\(ring.name)' was detached by another process (it judged this one dead), and its slot was taken again; subscribe again")
                }
                return try ring.borrow(slot)
            }
        }
        if let found = try attempt(&lazyDeadline) { return found }
        guard blocking else { return nil }
        let deadline = lazyDeadline.fix()
        func retry() throws(ArrayQueueError) -> Ring.Loan? {
            var fixed = Deadline(fixedAt: deadline)
            return try attempt(&fixed)
        }
        // Producers' sweeps free records of dead writers; a subscriber waiting at one sweeps too.
        let loan: Ring.Loan = try queue.waitUntil(
            ring.header.dataSignal, deadline: deadline, checkingDeadPeers: true, cancellation: cancellation,
            describe: { "get from broadcast queue '\(queue.name)' by subscriber \(slot) (nothing new)" }, retry)
        return loan
    }

    /// Ends a loan: the cursor moves past its record (without the queue lock).
    func give(back loan: Ring.Loan) throws(ArrayQueueError) {
        defer { endLoan() }
        try queue.ring.giveBack(slot, loan)
    }

    /// Marks no loan out; gives up the slot if `detach()` was called meanwhile.
    private func endLoan() {
        let leaveNow = lifecycle.withLock { state in
            state.lent = false
            guard state.detached, !state.left else { return false }
            state.left = true
            return true
        }
        if leaveNow { leave() }
    }
}

/// A record borrowed by a ``BroadcastSubscriber``, read in place in shared memory. Producers
/// cannot reuse its room until it is released: by ``release()`` or when the loan goes away.
public struct BroadcastLoan: ~Copyable {
    let subscriber: BroadcastSubscriber
    let loan: Ring.Loan
    /// The record (valid until the loan ends; do not let its buffers escape).
    public let record: BorrowedRecord

    init(subscriber: BroadcastSubscriber, loan: Ring.Loan, record: consuming BorrowedRecord) {
        self.subscriber = subscriber
        self.loan = loan
        self.record = record
    }

    /// Releases the record: the subscriber's cursor moves past it.
    public consuming func release() {}

    deinit {
        // A loan of a detached subscriber has nothing to give back.
        try? subscriber.give(back: loan)
    }
}
