import Synchronization

/// A ZeroMQ context: the I/O threads and the sockets that share them.
///
/// Most programs use ``shared()``; make your own to give a busy sender more I/O threads.
/// Senders and receivers keep their context alive; the context is terminated (`zmq_ctx_term`)
/// when the last of them and the last other reference are gone.
public final class ZMQContext {
    let handle: UnsafeMutableRawPointer
    private let terminated = Atomic<Bool>(false)
    /// The context's ZAP handler, started by the first socket with a ``CurveAllowList``.
    let zap = Mutex<ZAPHandler?>(nil)

    /// A new context with `ioThreads` I/O threads (libzmq's rule of thumb: one per GB/s).
    ///
    /// Its sockets receive without zero-copy (`ZMQ_ZERO_COPY_RECV` 0) unless `zeroCopyReceive`,
    /// so that a peer's small frames cannot pin libzmq's read buffers. Zero-copy receive saves
    /// receivers a copy of every frame over 33 bytes (1 MiB messages over tcp loopback arrived
    /// at about a sixth more per second, 8 MiB ones no faster; docs/BENCHMARKS.md), but each such
    /// frame then keeps alive the whole
    /// read buffer it arrived in (8 KiB and more), so that a peer sending small frames a few at a
    /// time makes the receiver hold many times what it sends, beyond what the byte budget and
    /// the bound on unfinished messages allow for (docs/RELIABILITY.md): only for a context
    /// whose receivers hear trusted peers alone.
    ///
    /// - Throws: ``TransportError/Code/invalidArgument`` for fewer than 1 thread, or a
    ///   ``TransportError/Code/zeroMQ`` error naming `zmq_ctx_new` or `zmq_ctx_set`.
    public init(ioThreads: Int = 1, zeroCopyReceive: Bool = false) throws(TransportError) {
        guard (1...64).contains(ioThreads) else {
            throw TransportError(.invalidArgument, "a ZeroMQ context needs 1 to 64 I/O threads, not \(ioThreads)")
        }
        let handle = try ZMQ.contextNew()
        do {
            try ZMQ.contextSet(handle, ZMQ.ioThreads, Int32(ioThreads))
            // With zero-copy receive (libzmq's default) a frame over 33 bytes points into the
            // buffer (8 KiB + bookkeeping) of the read that brought it and keeps it alive: a peer
            // that sends small frames a few per read pins far more than it sends (measured: 3 MB
            // of 34-byte frames in bursts of 100 pinned 92 MB; 13 MB without zero-copy). Off,
            // each frame owns its bytes: a 64-byte message, plus an allocation of its size and
            // about 56 bytes when it is over 33 bytes (docs/RELIABILITY.md).
            try ZMQ.contextSet(handle, ZMQ.zeroCopyReceive, zeroCopyReceive ? 1 : 0)
        } catch {
            ZMQ.contextTerminate(handle)
            throw error
        }
        self.handle = handle
    }

    private static let sharedContext = Mutex<ZMQContext?>(nil)

    /// The process-wide context that senders and receivers use unless given another one.
    /// Made on first use and never terminated.
    public static func shared() throws(TransportError) -> ZMQContext {
        try sharedContext.withLock { (context: inout ZMQContext?) throws(TransportError) -> ZMQContext in
            if let context { return context }
            let made = try ZMQContext()
            context = made
            return made
        }
    }

    /// Whether the context's sockets receive with zero-copy, as libzmq reports it
    /// (`ZMQ_ZERO_COPY_RECV`; see ``init(ioThreads:zeroCopyReceive:)``).
    public var receivesWithZeroCopy: Bool {
        get throws(TransportError) { try ZMQ.contextGet(handle, ZMQ.zeroCopyReceive) != 0 }
    }

    /// The version of the libzmq library in use, as `major.minor.patch`.
    public static var libraryVersion: String {
        let version = ZMQ.version()
        return "\(version.major).\(version.minor).\(version.patch)"
    }

    /// Whether libzmq supports CURVE security (it needs libsodium or its built-in tweetnacl).
    public static var supportsCurve: Bool { ZMQ.has("curve") }

    /// Terminates the context now (`zmq_ctx_term`): returns once every socket is closed and
    /// its unsent messages are sent or its linger period has passed. Terminating again does nothing.
    func terminate() {
        guard !terminated.exchange(true, ordering: .acquiringAndReleasing) else { return }
        ZMQ.contextTerminate(handle)
    }

    deinit {
        terminate()
    }
}

// A libzmq context is thread-safe: its documentation allows sharing it among any number of
// threads. The handle is set once in `init` and only passed to libzmq afterwards.
extension ZMQContext: @unchecked Sendable {}
