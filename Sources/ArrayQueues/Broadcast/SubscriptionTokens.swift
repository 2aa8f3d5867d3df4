import Synchronization

/// Which subscription of this process holds each subscriber slot of one segment (0: none),
/// recorded at join and cleared at leave, under the queue lock.
///
/// A slot's pid tells only the process. A subscription whose slot a peer freed (judging this
/// process dead) and another subscription of this process then took must neither free that
/// slot nor read through it: it would take the other's records. It checks with one load at
/// every borrow. Process memory; the atomics are its only state.
final class SubscriptionTokens: @unchecked Sendable {
    private let tokens: UnsafeMutablePointer<Atomic<UInt64>>

    init() {
        tokens = .allocate(capacity: SegmentHeader.subscriberCapacity)
        for slot in 0..<SegmentHeader.subscriberCapacity { (tokens + slot).initialize(to: Atomic(0)) }
    }

    deinit {
        tokens.deinitialize(count: SegmentHeader.subscriberCapacity)
        tokens.deallocate()
    }

    /// The token of the subscription that holds slot `slot` (< the table's capacity), 0 if none.
    func holder(of slot: Int) -> UInt64 {
        (tokens + slot).pointee.load(ordering: .relaxed)
    }

    /// Records `token` (0: none) as the holder of slot `slot`.
    func setHolder(of slot: Int, to token: UInt64) {
        (tokens + slot).pointee.store(token, ordering: .relaxed)
    }

    /// Forgets that subscription `token` holds slot `slot`. Returns whether it may free the
    /// slot: false only if another subscription of this process took it since. With no holder
    /// recorded (a subscription made through a handle inherited by `fork()`, whose table is its
    /// parent's), nothing says otherwise: true.
    func release(_ slot: Int, token: UInt64) -> Bool {
        let holder = holder(of: slot)
        guard holder != 0 else { return true }
        guard holder == token else { return false }
        setHolder(of: slot, to: 0)
        return true
    }
}
