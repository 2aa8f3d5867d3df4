import Synchronization

/// The data messages of an ``ArrayReceiver`` as an `AsyncSequence`; see
/// ``ArrayReceiver/messages(stopAtEnd:)``.
///
/// ```swift
/// for try await message in receiver.messages(stopAtEnd: true) {
///     print(message.sequence, message["frame"]!.shape)
/// }
/// ```
///
/// Each iterator owns a dedicated thread that makes the blocking receives, so iterating never
/// blocks a thread of Swift's cooperative pool. The thread works only while `next()` is waiting
/// (so the transport's backpressure still reaches the sender) and ends with the iterator.
public struct ArrayMessages: AsyncSequence, Sendable {
    /// The sequence delivers data messages.
    public typealias Element = ArrayMessage
    /// Receive errors other than the receiver being closed end the iteration with this error.
    public typealias Failure = TransportError

    let receiver: any ArrayReceiver
    let stopAtEnd: Bool

    /// An iterator with its own receiving thread (started on the first `next()`).
    public func makeAsyncIterator() -> Iterator {
        Iterator(handle: WorkerHandle(ReceiveWorker(receiver: receiver, stopAtEnd: stopAtEnd)))
    }

    /// Delivers the messages one by one.
    public struct Iterator: AsyncIteratorProtocol {
        let handle: WorkerHandle

        /// The next data message, or nil when the sequence has ended.
        public mutating func next() async throws(TransportError) -> ArrayMessage? {
            try await handle.worker.next()
        }

        /// The next data message, or nil when the sequence has ended.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(TransportError) -> ArrayMessage? {
            try await handle.worker.next()
        }
    }
}

/// Stops the worker's thread when the last copy of an iterator goes away.
final class WorkerHandle: Sendable {
    let worker: ReceiveWorker

    init(_ worker: ReceiveWorker) {
        self.worker = worker
    }

    deinit {
        worker.stop()
    }
}

/// A thread that serves one `next()` at a time with blocking receives.
final class ReceiveWorker: Sendable {
    /// How long one blocking receive may take before cancellation and closing are checked again.
    static var slice: Duration { .milliseconds(100) }

    private struct State {
        var pending: CheckedContinuation<Result<ArrayMessage?, TransportError>, Never>?
        var cancelled = false
        var stopped = false
        var finished = false
        var threadStarted = false
    }

    private enum Job {
        case serve(CheckedContinuation<Result<ArrayMessage?, TransportError>, Never>)
        case idle
        case exit
    }

    private let receiver: any ArrayReceiver
    private let stopAtEnd: Bool
    private let state = Mutex(State())
    private let events = EventCount()

    init(receiver: any ArrayReceiver, stopAtEnd: Bool) {
        self.receiver = receiver
        self.stopAtEnd = stopAtEnd
    }

    func next() async throws(TransportError) -> ArrayMessage? {
        let (finished, startThread) = state.withLock { state in
            defer { state.threadStarted = true }
            return (state.finished, !state.threadStarted)
        }
        if finished { return nil }
        if startThread {
            try Sys.spawnThread(name: "aq-receive") { self.run() }
        }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<ArrayMessage?, TransportError>, Never>) in
                state.withLock { $0.pending = continuation }
                events.signal()
            }
        } onCancel: {
            state.withLock { $0.cancelled = true }
            events.signal()
        }
        return try result.get()
    }

    /// Lets the thread end once it is idle.
    func stop() {
        state.withLock { $0.stopped = true }
        events.signal()
    }

    private func run() {
        while true {
            let ticket = events.ticket()
            let job = state.withLock { state -> Job in
                if let continuation = state.pending {
                    state.pending = nil
                    return .serve(continuation)
                }
                return state.stopped ? .exit : .idle
            }
            switch job {
            case .exit: return
            case .idle: events.wait(ticket, deadline: nil)
            case let .serve(continuation): continuation.resume(returning: serve())
            }
        }
    }

    private func serve() -> Result<ArrayMessage?, TransportError> {
        while true {
            if state.withLock({ $0.cancelled || $0.finished }) { return finish() }
            let event: ReceiveEvent?
            do throws(TransportError) {
                event = try receiver.receiveEvent(timeout: Self.slice)
            } catch {
                if error.code == .closed { return finish() }
                state.withLock { $0.finished = true }
                return .failure(error)
            }
            switch event {
            case let .message(message)?: return .success(message)
            case .end? where stopAtEnd: return finish()
            case .end?, .heartbeat?, nil: continue
            }
        }
    }

    private func finish() -> Result<ArrayMessage?, TransportError> {
        state.withLock { $0.finished = true }
        return .success(nil)
    }
}
