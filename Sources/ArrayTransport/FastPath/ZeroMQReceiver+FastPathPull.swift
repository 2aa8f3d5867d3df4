import ArrayQueues

extension ZeroMQReceiver {
    /// One bounded step of a puller on shared memory: the socket first, at most once a
    /// millisecond (it brings heartbeats, and any message the pusher sent there before the
    /// puller's cut), then the pusher's shared queue, waiting until `sliceDeadline`; when that
    /// brought nothing, the puller's own queue (a `leave`, which the pusher puts only once the
    /// shared queue is empty).
    ///
    /// `end` on the socket is not delivered: the shared queue brings one for each puller after
    /// the data, and the socket's would overtake them.
    func receiveFromSharedQueue(_ state: inout State, _ attempt: FastPathLink.Attempt, until sliceDeadline: Int64, to body: Lend) throws(TransportError) -> Bool {
        let now = Sys.monotonicNanoseconds()
        if now - (state.link?.lastSocketCheck ?? 0) >= Self.socketCheckNanoseconds {
            state.link?.lastSocketCheck = now
            if let incoming = try readMessage(&state) {
                guard incoming.header.kind != .end else {
                    lastActivity.store(now, ordering: .relaxed)
                    return false
                }
                return admitFromNetwork(incoming, &state, to: body)
            }
        }
        guard let shared = attempt.shared else {
            leaveFastPath(&state, reason: "the pusher's shared queue is not open")
            return false
        }
        let wait = Duration.nanoseconds(max(0, sliceDeadline - Sys.monotonicNanoseconds()))
        let maximumArrays = options.maximumArrays
        let cache = state.link?.headerCache ?? WireHeaderCache()
        let lent: Bool
        do {
            // A value and untyped errors: see `take(from:waiting:_:)`.
            lent = try shared.get(timeout: wait) { (record: borrowing BorrowedRecord) throws -> Bool in
                let incoming = try Self.message(in: record, of: "the pusher's shared queue", maximumArrays: maximumArrays, cache: cache)
                return admitFromSharedQueue(incoming, &state, attempt, to: body)
            }
        } catch let error as ArrayQueueError where error.code == .timeout {
            state.link?.lastSocketCheck = 0
            var waiting = attempt
            if waiting.pendingEnd == nil {
                switch FastPathLink.departure(for: attempt) {
                case let .notice(.leave(reason))?:
                    leaveFastPath(&state, reason: "the pusher stopped feeding this host's pullers: \(reason)")
                    return false
                case let .notice(.end(header))?:
                    // The shared queue had no room for this puller's `end`: it comes after the records there.
                    waiting.pendingEnd = header
                    state.link?.phase = .sharedMemory(waiting)
                case let .gone(reason)?:
                    if shared.isEmpty {
                        leaveFastPath(&state, reason: reason)
                        return false
                    }
                case nil:
                    break
                }
            }
            if let end = waiting.pendingEnd, shared.isEmpty {
                let lent = accept(IncomingMessage(header: end, payloads: []), &state, throughSharedMemory: true, to: body)
                leaveFastPath(&state, reason: "the pusher closed the stream", quietly: true)
                return lent
            }
            return false
        } catch let error as TransportError {
            reject(error)
            return false
        } catch {
            leaveFastPath(&state, reason: "the shared queue '\(shared.name)' cannot be read: \(error)")
            return false
        }
        return lent
    }

    /// A record of the pusher's shared queue, while it is lent: lent on to `body` if it is data
    /// (or `end`) of the stream the hello was for.
    private func admitFromSharedQueue(_ incoming: IncomingMessage, _ state: inout State, _ attempt: FastPathLink.Attempt, to body: Lend) -> Bool {
        let header = incoming.header
        guard header.stream.isSameStream(as: attempt.stream), header.epoch == attempt.epoch, header.fastPath == nil else {
            reject(.malformed("the pusher's shared queue brought stream '\(header.stream)' epoch \(header.epoch) (\(header.fastPath == nil ? "data" : "a handshake record")), not data of '\(attempt.stream)' epoch \(attempt.epoch)"))
            return false
        }
        let lent = accept(incoming, &state, throughSharedMemory: true, to: body)
        if header.kind == .end {
            leaveFastPath(&state, reason: "the pusher closed the stream", quietly: true)
        }
        return lent
    }

    /// How often a puller on shared memory looks at its socket.
    static let socketCheckNanoseconds: Int64 = 1_000_000
}
