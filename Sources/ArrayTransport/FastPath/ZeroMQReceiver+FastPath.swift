import ArrayQueues

/// The subscriber's (and puller's) side of the same-host fast path, driven from `receiveEvent`
/// under the receiver's lock (docs/WIRE.md, "The same-host fast path").
///
/// 1. *Network*: messages come from the socket. A heartbeat offering the fast path with this
///    host's boot id starts an attempt: a queue of the receiver's own, registered in the
///    publisher's registry (``FastPathLink/start(stream:epoch:bootID:registry:nonce:offeredServerKey:)``).
/// 2. *Awaiting hello*: the socket still delivers. The publisher's first record in the queue must
///    be its hello, with the nonce of the offer; it tells the first `seq` (the cut) the queue brings.
/// 3. *Draining*: the socket delivers the messages before the cut and no others, until it has
///    shown the message before the cut (or a mark at or past it).
/// 4. *Shared memory*: the socket's subscriptions are dropped; messages come from the queue,
///    and one that the socket delivered already is discarded. `end`, a `leave` from the
///    publisher, or the publisher's disappearance send the receiver back to step 1.
///
/// A puller differs: a pusher sends each message one way only, so nothing is discarded as
/// delivered and the socket delivers all it brings; its hello names the shared queue, whose
/// records start at the cut; and on shared memory the socket stays connected (it brings the
/// heartbeats) — see ``receiveFromSharedQueue(_:_:until:)``.
///
/// A failure at any step is logged with its reason and leaves the receiver on the network
/// (with ``FastPath/required``, it delivers nothing from the network and reports the reason
/// if it has not switched within ``ZeroMQReceiver/Options/fastPathTimeout``).
extension ZeroMQReceiver {
    /// One bounded step of `lendEvent` for a receiver that may take the fast path; whether it
    /// lent an event to `body`.
    func receiveWithFastPath(_ state: inout State, until sliceDeadline: Int64, to body: Lend) throws(TransportError) -> Bool {
        try advanceFastPath(&state)
        // A subscriber on shared memory (every message, once switched): no copy of the attempt.
        if let feed = state.link?.feed {
            return receiveFromQueue(&state, feed, until: sliceDeadline, to: body)
        }
        if case let .sharedMemory(attempt)? = state.link?.phase {
            guard attempt.pull else {
                leaveFastPath(&state, reason: "not subscribed to the publisher's broadcast queue")
                return false
            }
            return try receiveFromSharedQueue(&state, attempt, until: sliceDeadline, to: body)
        }
        var deadline = sliceDeadline
        if case .awaitingHello? = state.link?.phase {
            deadline = min(deadline, Sys.monotonicNanoseconds() + 2_000_000)   // look for the hello often
        }
        guard try state.socket.wait(for: ZMQ.pollIn, deadline: deadline) else {
            inbound.withLock { $0.noteStarved() }
            return false
        }
        guard let incoming = try readMessage(&state) else { return false }
        return admitFromNetwork(incoming, &state, to: body)
    }

    // MARK: Phases

    /// Moves on when the hello arrived or a deadline passed.
    private func advanceFastPath(_ state: inout State) throws(TransportError) {
        // On shared memory (every message, once switched) there is nothing to advance: no copy of the link.
        guard state.link?.isOnSharedMemory == false, let link = state.link else { return }
        let now = Sys.monotonicNanoseconds()
        switch link.phase {
        case .network:
            if let deadline = link.requiredDeadline, now >= deadline {
                state.link?.requiredDeadline = now + options.fastPathTimeout.clampedNanoseconds
                let why = link.problem ?? "no publisher on this host offered it"
                throw TransportError(.fastPathUnavailable, "the fast path is required but the receiver could not switch to shared memory within \(options.fastPathTimeout): \(why)")
            }
        case let .awaitingHello(attempt):
            do throws(TransportError) {
                var greeted = attempt
                if let cut = try FastPathLink.readHello(&greeted) {
                    var draining = greeted
                    draining.deadline = now + max(FastPathLink.helloTimeoutNanoseconds, 2 * options.heartbeatInterval.clampedNanoseconds)
                    state.link?.phase = .draining(draining, cut: cut)
                    if link.mode == .required || cut == 0 || link.networkSeen >= Int64(cut) - 1 { completeSwitch(&state) }
                } else if now >= attempt.deadline {
                    throw TransportError(.fastPathUnavailable, "the publisher wrote no hello into the queue '\(attempt.queueName)' within \(Duration.nanoseconds(FastPathLink.helloTimeoutNanoseconds)), so it does not see this process's /dev/shm")
                }
            } catch {
                leaveFastPath(&state, reason: error.message)
            }
        case let .draining(attempt, cut):
            guard now >= attempt.deadline else { break }
            // A puller first delivers all its socket holds: PUSH loses none of it (a subscriber
            // counts what is missing as lost), and the shared queue brings what followed it.
            if attempt.pull, try state.socket.wait(for: ZMQ.pollIn, deadline: now) { break }
            logger.debug("stream '\(attempt.stream)': the network did not show seq \(Int64(cut) - 1) in time; switching anyway (a gap counts as lost)")
            completeSwitch(&state)
        case .sharedMemory:
            break
        }
    }

    /// The network's part: takes offers, and lends to `body` what the phase lets through.
    func admitFromNetwork(_ incoming: IncomingMessage, _ state: inout State, to body: Lend) -> Bool {
        let header = incoming.header
        // Heartbeats carry the offer, and so do some data headers (a busy stream's heartbeats
        // may be lost at the high-water mark).
        if header.kind != .end, case let .offer(bootID, registry, nonce, serverKey)? = header.fastPath {
            consider(header, bootID: bootID, registry: registry, nonce: nonce, serverKey: serverKey, &state)
        }
        guard let link = state.link else { return accept(incoming, &state, throughSharedMemory: false, to: body) }
        var admit = true
        if let attempt = link.attempt, attempt.stream.isSameStream(as: header.stream), attempt.epoch == header.epoch {
            state.link?.networkSeen = max(link.networkSeen, header.sequence)
            if link.pull {
                // A pusher's marks on the socket may run ahead of the shared queue's records
                // (which the sequence tracker would count as lost): a heartbeat is delivered only
                // while the shared queue is empty (everything before it was taken), and `end`
                // comes through the queue once the hello is there. The socket's data always is.
                var isAwaitingHello = false
                if case .awaitingHello = link.phase { isAwaitingHello = true }
                switch header.kind {
                case .data: admit = true
                case .end: admit = isAwaitingHello
                case .heartbeat: admit = attempt.shared?.isEmpty ?? false
                }
                if !admit { lastActivity.store(Sys.monotonicNanoseconds(), ordering: .relaxed) }
            } else if case let .draining(_, cut) = link.phase {
                // While draining, the queue brings the cut and what follows (marks at the message
                // before the cut included: the queue may bring them too).
                admit = header.sequence < Int64(cut) - (header.kind == .data ? 0 : 1)
            }
        }
        if link.mode == .required || (!link.pull && link.wasDelivered(header)) {
            admit = false
            lastActivity.store(Sys.monotonicNanoseconds(), ordering: .relaxed)
        }
        let lent = admit && accept(incoming, &state, throughSharedMemory: false, to: body)
        switch state.link?.phase {
        case let .draining(_, cut)? where (state.link?.networkSeen ?? -1) >= Int64(cut) - 1:
            completeSwitch(&state)
        case let .awaitingHello(attempt)? where header.kind == .end && attempt.stream.isSameStream(as: header.stream) && attempt.epoch == header.epoch:
            leaveFastPath(&state, reason: "the publisher closed the stream", quietly: true)
        default:
            break
        }
        return lent
    }

    /// Starts an attempt for an offer on the network, unless one is under way, this
    /// publisher's offer was tried already, or a failed attempt was too recent.
    private func consider(_ header: WireHeader, bootID: String, registry: String, nonce: String, serverKey: String?, _ state: inout State) {
        let now = Sys.monotonicNanoseconds()
        guard let link = state.link, case .network = link.phase, !link.hasSettled(nonce), link.mayAttempt(now: now) else { return }
        state.link?.settle(nonce)
        do throws(TransportError) {
            let attempt = try link.start(
                stream: header.stream, epoch: header.epoch, bootID: bootID, registry: registry, nonce: nonce, offeredServerKey: serverKey)
            state.link?.phase = .awaitingHello(attempt)
            state.link?.networkSeen = header.sequence
            // From now on, what the socket delivers of this epoch is remembered: the queue may
            // bring it again.
            if !(link.delivered?.stream.isSameStream(as: header.stream) ?? false) || link.delivered?.epoch != header.epoch {
                state.link?.delivered = (header.stream, header.epoch, -1)
            }
            logger.debug("stream '\(header.stream)': registered the queue '\(attempt.queueName)' for the fast path; waiting for the publisher")
        } catch {
            state.link?.noteAttempt(succeeded: false, now: now)
            note(error.message, &state)
            logger.info("stream '\(header.stream)': staying on the network: \(error.message)")
        }
    }

    /// Drops the socket's subscriptions and takes messages from the queue from now on.
    private func completeSwitch(_ state: inout State) {
        guard case let .draining(attempt, cut)? = state.link?.phase else { return }
        do throws(TransportError) {
            for prefix in prefixes { try state.socket.unsubscribe(prefix) }
        } catch {
            for prefix in prefixes { try? state.socket.subscribe(prefix) }
            leaveFastPath(&state, reason: "cannot unsubscribe from the network: \(error.message)")
            return
        }
        state.link?.phase = .sharedMemory(attempt)
        state.link?.noteAttempt(succeeded: true, now: Sys.monotonicNanoseconds())
        counters.withLock { counters in
            counters.statistics.path = .sharedMemory
            counters.statistics.switchesToSharedMemory += 1
        }
        logger.info("stream '\(attempt.stream)': switched to shared memory (queue '\(attempt.queueName)'); messages from seq \(cut) on arrive through it")
    }

    /// Goes back to (or stays on) the network: removes the attempt's queue and, if the socket's
    /// subscriptions were dropped, restores them.
    func leaveFastPath(_ state: inout State, reason: String, quietly: Bool = false) {
        guard let link = state.link, let attempt = link.attempt else { return }
        let wasSwitched = link.isOnSharedMemory
        FastPathLink.discard(attempt)
        state.link?.phase = .network
        if !wasSwitched && !quietly { state.link?.noteAttempt(succeeded: false, now: Sys.monotonicNanoseconds()) }
        if wasSwitched && !link.pull {
            // What reached the socket while it had no subscriptions is dropped by libzmq when
            // read now; afterwards, new messages arrive again.
            while (try? state.socket.receive(dontWait: true)) != nil {}
            for prefix in prefixes { try? state.socket.subscribe(prefix) }
        }
        if link.mode == .required {
            state.link?.requiredDeadline = Sys.monotonicNanoseconds() + options.fastPathTimeout.clampedNanoseconds
        }
        counters.withLock { $0.statistics.path = .network }
        if !quietly { note(reason, &state) }
        let verb = wasSwitched ? "back on the network" : "staying on the network"
        logger.info("stream '\(attempt.stream)': \(verb): \(reason)")
    }

    private func note(_ problem: String, _ state: inout State) {
        state.link?.problem = problem
        counters.withLock { $0.statistics.fastPathProblem = problem }
    }

    // MARK: Shared memory

    /// Lends the next record of the publisher's broadcast queue to `body`, in place, waiting
    /// until `sliceDeadline`; whether it lent one. A `leave` in the subscriber's own queue is
    /// looked for when the broadcast queue brought nothing: the publisher puts nothing there after it.
    private func receiveFromQueue(_ state: inout State, _ feed: FastPathLink.Feed, until sliceDeadline: Int64, to body: Lend) -> Bool {
        let wait = Duration.nanoseconds(max(0, sliceDeadline - Sys.monotonicNanoseconds()))
        let cache = state.link?.headerCache ?? WireHeaderCache()
        var lent = false
        do {
            if try take(from: feed.subscription, cache: cache, waiting: wait, { lent = admitFromQueue($0, &state, feed, to: body) }) { return lent }
            guard case var .sharedMemory(leaving)? = state.link?.phase else { return false }
            if leaving.pendingLeave == nil {
                switch FastPathLink.departure(for: leaving) {
                case let .notice(.leave(reason))?: leaving.pendingLeave = "the publisher stopped feeding the queue: \(reason)"
                case let .notice(.end(header))?: (leaving.pendingLeave, leaving.pendingEnd) = ("the publisher closed the stream", header)
                case let .gone(reason)?: leaving.pendingLeave = reason
                case nil: break
                }
            }
            guard let reason = leaving.pendingLeave else { return false }
            // Nothing came during the wait, and nothing more will. But the publisher puts a
            // `leave` after its last record, and `end` before it removes its registry: records
            // may have come since the wait ended, and what the queue holds comes first.
            state.link?.phase = .sharedMemory(leaving)
            if try take(from: feed.subscription, cache: cache, waiting: nil, { lent = admitFromQueue($0, &state, feed, to: body) }) { return lent }
            if let end = leaving.pendingEnd {
                // The broadcast queue had no room for `end`: it came through the own queue.
                lent = accept(IncomingMessage(header: end, payloads: []), &state, throughSharedMemory: true, to: body)
                leaveFastPath(&state, reason: reason, quietly: true)
                return lent
            }
            leaveFastPath(&state, reason: reason)
            return false
        } catch let error as TransportError {
            reject(error)
            return false
        } catch {
            leaveFastPath(&state, reason: "the queue '\(state.link?.attempt?.queueName ?? "?")' cannot be read: \(error)")
            return false
        }
    }

    /// A record of the broadcast queue, while it is lent: lent on to `body` unless it is a
    /// handshake record, of another stream, or delivered by the network already.
    private func admitFromQueue(_ incoming: IncomingMessage, _ state: inout State, _ feed: FastPathLink.Feed, to body: Lend) -> Bool {
        let header = incoming.header
        guard header.stream.isSameStream(as: feed.stream), header.epoch == feed.epoch else {
            reject(.malformed("the fast path's queue brought stream '\(header.stream)' epoch \(header.epoch), not '\(feed.stream)' epoch \(feed.epoch)"))
            return false
        }
        if case let .leave(reason)? = header.fastPath {
            leaveFastPath(&state, reason: "the publisher stopped feeding the queue: \(reason)")
            return false
        }
        if case .hello? = header.fastPath { return false }
        guard !(state.link?.wasDelivered(header) ?? false) else { return false }
        let lent = accept(incoming, &state, throughSharedMemory: true, to: body)
        if header.kind == .end {
            leaveFastPath(&state, reason: "the publisher closed the stream", quietly: true)
        }
        return lent
    }

    /// Lends the next record of the broadcast queue as a message to `handle`, waiting up to
    /// `wait` for one (nil: not at all); false if none came.
    private func take(from subscription: BroadcastSubscriber, cache: WireHeaderCache, waiting wait: Duration?, _ handle: (IncomingMessage) -> Void) throws -> Bool {
        let maximumArrays = options.maximumArrays
        // The closures return a value and throw untyped errors: a typed-throwing closure
        // returning Void crashes Swift 6.3's IR generation when it is passed as a generic body.
        guard let wait else {
            return try subscription.tryGet { (record: borrowing BorrowedRecord) throws -> Bool in
                handle(try Self.message(in: record, of: "the fast path's queue", maximumArrays: maximumArrays, cache: cache))
                return true
            } ?? false
        }
        do {
            return try subscription.get(timeout: wait) { (record: borrowing BorrowedRecord) throws -> Bool in
                handle(try Self.message(in: record, of: "the fast path's queue", maximumArrays: maximumArrays, cache: cache))
                return true
            }
        } catch let error as ArrayQueueError where error.code == .timeout {
            return false
        }
    }

    /// A record of a fast-path data queue (named `queue` in the error) as a message whose
    /// arrays are read in place (valid while the record is lent): the queue carries transport
    /// envelopes only. `cache` keeps parts of the header before (see ``WireHeaderCache``).
    static func message(in record: borrowing BorrowedRecord, of queue: String, maximumArrays: Int, cache: WireHeaderCache) throws(TransportError) -> IncomingMessage {
        guard record.isEnvelope else { throw .malformed("\(queue) holds a plain array record; it carries envelopes only") }
        let (header, payloads) = try Envelope.parse(record.bytes, maximumArrays: maximumArrays, cache: cache)
        return IncomingMessage(header: header, payloads: payloads)
    }
}
