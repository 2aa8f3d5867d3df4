import Synchronization

/// The threads inside a receiver's ``ArrayReceiver/lendEvent(timeout:to:)`` now, so that a
/// receive called from inside the borrowing `body` is refused on every endpoint alike: on
/// tcp/ipc it would take the receives' lock again (a trap), on `shm://` take the next record
/// while the lent one is still held, or fail later with the queue's own error.
///
/// A thread inside `lendEvent` can run nothing of the caller's but `body`, so "the calling thread
/// is inside" means "called from `body`". A set, not one thread: receives of a plain `shm://` queue
/// from several threads run side by side.
struct LendingThreads: ~Copyable, Sendable {
    /// Usually no or one thread; the array keeps its capacity, so entering allocates once.
    private let threads = Mutex<[UInt]>([])

    /// Marks the calling thread as inside a receive; pair with ``leave()``.
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` if it is inside one already (a receive
    ///   from `body`).
    func enter() throws(TransportError) {
        let me = Sys.currentThread
        let nested = threads.withLock { threads in
            if threads.contains(me) { return true }
            threads.append(me)
            return false
        }
        if nested {
            throw TransportError(.invalidArgument, "a receive from inside a borrowing receive's body on the same receiver: finish with the message first")
        }
    }

    /// Ends what ``enter()`` began on the calling thread.
    func leave() {
        let me = Sys.currentThread
        threads.withLock { threads in
            if let position = threads.firstIndex(of: me) { threads.remove(at: position) }
        }
    }

    /// Whether the calling thread is inside a receive: a ``ArrayReceiver/close()`` from `body`
    /// then leaves the release of what `body` reads to the receive.
    var includesCurrentThread: Bool {
        let me = Sys.currentThread
        return threads.withLock { $0.contains(me) }
    }
}
