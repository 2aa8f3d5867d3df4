import Synchronization

/// The threads inside a receiver's ``ArrayReceiver/lendEvent(timeout:to:)`` now, so that a
/// receive called from inside the borrowing `body` is refused on every endpoint alike: on
/// tcp/ipc it would take the receives' lock again (a trap), on `shm://` take the next record
/// while the lent one is still held, or fail later with the queue's own error.
///
/// A thread inside `lendEvent` can run nothing of the caller's but `body`, so "the calling thread
/// is inside" means "called from `body`". A set, not one thread: receives of a plain `shm://` queue
/// from several threads run side by side. The first thread takes a slot of its own by one
/// compare-exchange, so that a lone receiving thread, the common case, pays no lock per receive.
struct LendingThreads: ~Copyable, Sendable {
    /// The thread inside, if only one is (0: none).
    private let first = Atomic<UInt>(0)
    /// The others; the array keeps its capacity, so entering allocates once.
    private let others = Mutex<[UInt]>([])
    /// How many are in `others`, so that a check need not lock it when it is empty.
    private let otherCount = Atomic<Int>(0)

    /// Marks the calling thread as inside a receive; pair with ``leave()``.
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` if it is inside one already (a receive
    ///   from `body`).
    func enter() throws(TransportError) {
        let me = Sys.currentThread
        // Only this thread puts itself in either place, so no other thread changes the answers.
        // In `others` (another thread held `first` when it entered): the count includes its own
        // increment then, so a 0 means it is not there.
        let inOthers = otherCount.load(ordering: .relaxed) > 0 && others.withLock { $0.contains(me) }
        let (claimed, holder) = inOthers ? (false, 0) : first.compareExchange(expected: 0, desired: me, ordering: .acquiringAndReleasing)
        if claimed { return }
        guard !inOthers, holder != me else {
            throw TransportError(.invalidArgument, "a receive from inside a borrowing receive's body on the same receiver: finish with the message first")
        }
        others.withLock { others in
            others.append(me)
            otherCount.add(1, ordering: .relaxed)
        }
    }

    /// Ends what ``enter()`` began on the calling thread.
    func leave() {
        let me = Sys.currentThread
        if first.load(ordering: .relaxed) == me {
            first.store(0, ordering: .releasing)
            return
        }
        others.withLock { others in
            if let position = others.firstIndex(of: me) {
                others.remove(at: position)
                otherCount.subtract(1, ordering: .relaxed)
            }
        }
    }

    /// Whether the calling thread is inside a receive: a ``ArrayReceiver/close()`` from `body`
    /// then leaves the release of what `body` reads to the receive.
    var includesCurrentThread: Bool {
        let me = Sys.currentThread
        if first.load(ordering: .relaxed) == me { return true }
        // As in enter(): if this thread is in `others`, the count includes its own increment.
        guard otherCount.load(ordering: .relaxed) > 0 else { return false }
        return others.withLock { $0.contains(me) }
    }
}
