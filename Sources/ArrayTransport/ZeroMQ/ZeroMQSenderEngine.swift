import ArrayQueues
import Logging
import Synchronization

/// The engine of a ``ZeroMQSender``: its socket, byte budget, sequence numbers and heartbeats,
/// shared with the sender's heartbeat and fast-path threads.
final class ZeroMQSenderEngine: Sendable {
    private struct State: ~Copyable {
        var socket: ZMQSocket
        /// Counts the connected peers, each of which gets its own share of the byte budget.
        var peers: PeerMonitor
        /// When ``service(_:)`` last ran (monotonic ns).
        var lastService: Int64 = 0
        var nextSequence: UInt64 = 0
        /// The data headers' text that stays the same from one message to the next.
        var template: DataHeaderTemplate
        /// The header being sent, its capacity kept between messages.
        var header: [UInt8] = []
        /// A pusher with the fast path: the cut the hellos of this host's pullers name, the first
        /// `seq` that went into the shared queue since they attached (or later: see
        /// `leftoverCut`); nil while the socket carries the data.
        var sharedSince: UInt64?
        /// A pusher's least cut for pullers that attach from now on: one past the next `seq` when
        /// a record of the shared queue last went on the socket. A heartbeat sent before that
        /// record may carry a later `seq` (it reports the last message, which was in the shared
        /// queue then), so a puller that saw it has not yet seen everything before that `seq`.
        var leftoverCut: UInt64 = 0
        /// A pusher's: the cut of an attach whose marks wait for the message before it.
        var marksDue: UInt64?
        /// A pusher's record taken out of the shared queue for the socket that the socket has
        /// not taken yet (its send timed out, or the sender is closing): it goes before anything
        /// else, so that a failed send loses none of what the shared queue held.
        var leftover: FastPathPublisher.Leftover?
        /// The socket's ZMQ_SNDHWM (messages each peer's pipe may hold), following the largest
        /// recent message (see ``boundPeerQueues(_:payloadBytes:)``).
        var highWaterMark: Int32
        /// The largest payload of the current and of the previous window of messages.
        var largestInWindow = 0
        var largestInPreviousWindow = 0
        var messagesInWindow = 0
        /// A publisher's refused subscriptions, by connection (libzmq stores them all).
        var refused = RefusedSubscriptions()
    }

    let stream: String
    /// The topic frame's bytes (the stream's UTF-8).
    private let topic: [UInt8]
    let pattern: ZeroMQSender.Pattern
    let epoch: UInt64
    private let options: ZeroMQSender.Options
    private let logger: Logger
    private let state: Mutex<State>
    private let inFlight = InFlightBytes()
    private let closing = Atomic<Bool>(false)
    private let lastActivity = Atomic<Int64>(Sys.monotonicNanoseconds())
    /// When a heartbeat with the fast path's offer last went out.
    private let lastOffer = Atomic<Int64>(Sys.monotonicNanoseconds())
    private let heartbeatEvents = EventCount()
    private let sentCount = Atomic<UInt64>(0)
    private let droppedCount = Atomic<UInt64>(0)
    private let bytesSent = Atomic<UInt64>(0)
    private let heartbeatCount = Atomic<UInt64>(0)
    private let nextSequence = Atomic<UInt64>(0)
    private let peerCount = Atomic<Int>(0)
    private let peersDisconnected = Atomic<UInt64>(0)
    /// Connections shut down for refused subscriptions or beyond the connection limit.
    private let peersDropped = Atomic<UInt64>(0)
    /// Connections cut for the connection limit are logged at most once every 10 s.
    private let connectionLimitLogs = Throttle(every: .seconds(10))
    private let rejectedSubscriptions = Atomic<UInt64>(0)
    /// Peers dropped for their refused subscriptions are logged at most once every 10 s.
    private let refusedPeerLogs = Throttle(every: .seconds(10))
    private let sharedMemoryLost = Atomic<UInt64>(0)

    /// Registrations the fast-path thread handed over: attached by whoever holds the lock next
    /// (that thread itself when the sender is idle; a send before its message, or while it
    /// waits for room), so that a pusher waiting for its pullers attaches new ones at once.
    private let pendingAttaches = Mutex<[(queue: ArrayQueue, name: String)]>([])
    private let attachRequested = Atomic<Bool>(false)
    /// When ``service(_:)`` last ran (monotonic ns), for the heartbeat thread.
    private let lastServiced = Atomic<Int64>(0)
    /// While payload bytes are in flight, the socket is serviced at least this often, idle or not.
    static let serviceIntervalNanoseconds: Int64 = 10_000_000
    /// How long the heartbeat thread sleeps at most, to look whether bytes are in flight; an idle
    /// socket is serviced this often too.
    static let housekeepingNanoseconds: Int64 = 100_000_000

    /// libzmq's ZMQ_SNDHWM unless set.
    static let defaultHighWaterMark: Int32 = 1000

    /// How many messages of `messageBytes` fit in one byte budget (at least 1): the per-peer
    /// high-water mark (ZMQ_SNDHWM) that bounds what a peer's pipe holds in bytes.
    static func messages(of messageBytes: Int, fittingIn budget: Int) -> Int32 {
        Int32(clamping: max(1, budget / max(1, messageBytes)))
    }

    /// How long one wait for room lasts before `close()` is checked again.
    private static let waitSliceNanoseconds: Int64 = 100_000_000

    /// The sender's own context, terminated by `close()` to flush what is queued.
    private let ownedContext: ZMQContext?
    /// The same-host fast path, if this publisher offers it.
    private let fastPath: FastPathPublisher?
    /// The fast path's nonce (``ZeroMQSender/fastPathNonce``).
    var fastPathNonce: String? {
        guard case let .offer(_, _, nonce, _)? = fastPath?.offer else { return nil }
        return nonce
    }
    /// Whether data messages go on the socket (not with a required fast path).
    private let sendsDataOnNetwork: Bool
    /// Heartbeats go out after this much idleness, and offers at least this often.
    private let heartbeatNanoseconds: Int64
    /// One data header in this many carries the fast path's offer.
    static let offerEvery: UInt64 = 16

    init(
        stream: String, pattern: ZeroMQSender.Pattern, epoch: UInt64, socket: consuming sending ZMQSocket, peers: consuming sending PeerMonitor,
        options: ZeroMQSender.Options,
        logger: Logger, ownedContext: ZMQContext?, fastPath: FastPathPublisher?
    ) {
        self.ownedContext = ownedContext
        self.fastPath = fastPath
        self.sendsDataOnNetwork = options.fastPath != .required || fastPath == nil
        // The fast path's offer still goes out every second when no idle heartbeats are sent.
        self.heartbeatNanoseconds = max(1_000_000, (options.idleHeartbeatInterval ?? .seconds(1)).clampedNanoseconds)
        self.stream = stream
        self.topic = Array(stream.utf8)
        self.pattern = pattern
        self.epoch = epoch
        self.options = options
        self.logger = logger
        let highWaterMark = options.expectedMessageBytes.map { Self.messages(of: $0, fittingIn: options.byteBudget) } ?? Self.defaultHighWaterMark
        self.state = Mutex(State(
            socket: socket, peers: peers, template: DataHeaderTemplate(stream: stream, epoch: epoch, offer: fastPath?.offer),
            highWaterMark: highWaterMark))
    }

    var statistics: SenderStatistics {
        // Before the peer counts: a cut counted here is already out of `peers` (see drainPeerEvents).
        let dropped = peersDropped.load(ordering: .acquiring)
        var statistics = SenderStatistics(
            epoch: epoch, sent: sentCount.load(ordering: .relaxed), dropped: droppedCount.load(ordering: .relaxed),
            bytesSent: bytesSent.load(ordering: .relaxed), heartbeats: heartbeatCount.load(ordering: .relaxed),
            inFlightBytes: inFlight.current, nextSequence: nextSequence.load(ordering: .relaxed),
            sharedMemorySubscribers: fastPath?.subscriberTotal ?? 0, sharedMemoryDropped: fastPath?.drops ?? 0,
            peers: peerCount.load(ordering: .relaxed), peersDisconnected: peersDisconnected.load(ordering: .relaxed),
            rejectedSubscriptions: rejectedSubscriptions.load(ordering: .relaxed))
        statistics.sharedMemoryLost = sharedMemoryLost.load(ordering: .relaxed)
        statistics.peersDropped = dropped
        return statistics
    }

    // MARK: Data

    func send(_ arrays: [NamedArray], timestamp: Timestamp, index: Int64?, meta: [String: JSONValue]) throws(TransportError) -> SendOutcome {
        guard !closing.load(ordering: .acquiring) else { throw TransportError(.closed, "the sender of stream '\(stream)' is closed") }
        try OutgoingMessage.check(arrays, meta: meta, maximumArrays: options.maximumArrays)
        var payloadBytes = 0
        var countsAgainstBudget = false
        for named in arrays {
            payloadBytes += named.array.byteCount
            if named.array.byteCount >= zeroCopyThreshold { countsAgainstBudget = true }
        }
        let deadline = Duration.deadline(after: options.sendTimeout)
        func deliverToFastPath(_ fastPath: FastPathPublisher, sequence: UInt64) {
            guard fastPath.subscriberTotal > 0 else { return }
            fastPath.deliver(arrays, sequence: sequence, timestamp: timestamp, index: index, meta: meta)
        }

        return try state.withLock { (state: inout State) throws(TransportError) -> SendOutcome in
            guard state.socket.isOpen else { throw TransportError(.closed, "the sender of stream '\(stream)' is closed") }
            let sequence = state.nextSequence
            func writeHeader(_ state: inout State, offering: Bool) {
                state.template.write(
                    arrays, sequence: sequence, timestampNanoseconds: timestamp.nanosecondsSinceEpoch, index: index, meta: meta,
                    offering: offering, into: &state.header)
            }
            // The header is written once (again only to add or drop the offer): one longer than
            // any reader accepts is refused before a path is chosen, since none could carry it
            // (a pusher's shared queue would otherwise take it for a message it can never hold).
            writeHeader(&state, offering: false)
            let plainHeaderBytes = state.header.count
            guard plainHeaderBytes <= WireHeader.maximumHeaderBytes else {
                throw TransportError(.invalidArgument, "the message's header (its arrays' names and shapes, and meta) encodes to \(plainHeaderBytes) bytes; at most \(WireHeader.maximumHeaderBytes) are allowed")
            }
            var headerOffers = false
            fastPath?.noteMessage(bytes: payloadBytes)
            // At most once a millisecond: a fast stream of small messages should not pay for it each time.
            if Sys.monotonicNanoseconds() - state.lastService >= 1_000_000 { service(&state) }
            // A pusher's wait for room on the socket ends when pullers of this host attach: the
            // message then goes into their shared queue.
            while true {
                // Taken from the shared queue by a send that failed: it keeps its place first.
                if state.leftover != nil { try transmitLeftover(&state, deadline: deadline) }
                attachPending(&state)
                // Waits for room on the socket keep the offers going, and end for an attach.
                let rerouting: UInt64? = pattern == .push && fastPath != nil ? sequence : nil
                if pattern == .push, let fastPath, fastPath.subscriberTotal > 0 || state.sharedSince != nil {
                    // The shared queue's pullers take no offer.
                    if headerOffers { writeHeader(&state, offering: false) }
                    headerOffers = false
                    if try pushThroughSharedMemory(fastPath, &state, sequence: sequence, arrays: arrays, timestamp: timestamp, index: index, deadline: deadline) {
                        offerIfDue(&state.socket, nextSequence: sequence + 1)
                        return countSent(&state, sequence: sequence, payloadBytes: payloadBytes)
                    }
                }
                if sendsDataOnNetwork && countsAgainstBudget && !hasBudget(for: payloadBytes) {
                    switch pattern {
                    case .publish:
                        // Over the network's budget: subscribers on this host still get it.
                        if let fastPath { deliverToFastPath(fastPath, sequence: sequence) }
                        state.nextSequence += 1
                        nextSequence.store(state.nextSequence, ordering: .relaxed)
                        droppedCount.add(1, ordering: .relaxed)
                        return .dropped(sequence: sequence)
                    case .push:
                        guard try waitForBudget(payloadBytes, deadline: deadline, &state.socket, rerouting: rerouting) else { continue }
                    }
                }
                if sendsDataOnNetwork {
                    if options.expectedMessageBytes == nil { boundPeerQueues(&state, payloadBytes: payloadBytes) }
                    // Every so often a data header carries the offer too: a subscriber that cannot keep
                    // up loses most messages at the high-water mark, heartbeats included, and it is
                    // the one that gains most from shared memory. (Not if it would make the header too long.)
                    let offering = fastPath?.currentOffer != nil && sequence % Self.offerEvery < offerSpread
                        && plainHeaderBytes + state.template.offerByteCount <= WireHeader.maximumHeaderBytes
                    if offering != headerOffers { writeHeader(&state, offering: offering) }
                    headerOffers = offering
                    guard try transmit(&state.socket, header: state.header, arrays: arrays, deadline: deadline, rerouting: rerouting) else { continue }
                }
                if let fastPath {
                    if pattern == .publish { deliverToFastPath(fastPath, sequence: sequence) }
                    offerIfDue(&state.socket, nextSequence: sequence + 1)
                }
                return countSent(&state, sequence: sequence, payloadBytes: payloadBytes)
            }
        }
    }

    /// How many consecutive data headers in every ``offerEvery`` carry the offer: one for a
    /// publisher (every subscriber gets every message); one per peer for a pusher, whose
    /// messages are dealt round robin (one in 16 would reach only some of its pullers).
    private var offerSpread: UInt64 {
        pattern == .push ? UInt64(max(1, peerCount.load(ordering: .relaxed))) : 1
    }

    /// Counts message `sequence` as sent, whichever way it went (socket or shared memory): the
    /// next sequence number, the counters and the time of the last activity.
    private func countSent(_ state: inout State, sequence: UInt64, payloadBytes: Int) -> SendOutcome {
        state.nextSequence += 1
        nextSequence.store(state.nextSequence, ordering: .relaxed)
        if let cut = state.marksDue, state.nextSequence >= cut {
            state.marksDue = nil
            sendMarks(&state)
        }
        sentCount.add(1, ordering: .relaxed)
        bytesSent.add(UInt64(payloadBytes), ordering: .relaxed)
        lastActivity.store(Sys.monotonicNanoseconds(), ordering: .relaxed)
        return .sent(sequence: sequence)
    }

    /// A pusher's fast path: puts the message into the shared queue while pullers of this host
    /// are attached (true). Otherwise (false: the caller sends it on the socket) first moves
    /// what they left in the queue onto the socket, in order; and if the queue can never take
    /// this message, waits until the pullers emptied it and retires the fast path, so that
    /// nothing on the socket overtakes a record still in the queue.
    ///
    /// The message's header is `state.header` (written without the offer).
    private func pushThroughSharedMemory(
        _ fastPath: FastPathPublisher, _ state: inout State, sequence: UInt64, arrays: [NamedArray], timestamp: Timestamp, index: Int64?,
        deadline: Int64?
    ) throws(TransportError) -> Bool {
        if fastPath.subscriberTotal > 0 {
            if state.sharedSince == nil { state.sharedSince = state.nextSequence }
            let header = state.header
            // While the pullers have no room, new ones attach and the offers go on.
            let outcome = try fastPath.push(header: header, arrays: arrays, timestamp: timestamp, index: index, deadline: deadline) { () -> Bool in
                attachPending(&state)
                offerIfDue(&state.socket, nextSequence: state.nextSequence)
                return !closing.load(ordering: .relaxed)
            }
            switch outcome {
            case .put:
                return true
            case .noPullers:
                break
            case let .unusable(reason):
                try waitUntilSharedQueueEmpties(fastPath, deadline: deadline)
                fastPath.retire(reason: "the shared queue cannot take seq \(sequence): \(reason)", nextSequence: state.nextSequence)
                state.sharedSince = nil
                return false
            }
        }
        guard state.sharedSince != nil else { return false }
        try moveLeftoversToSocket(fastPath, &state, deadline: deadline)
        return false
    }

    /// Sends what the shared queue still holds on the socket, oldest first, once no puller of
    /// this host is attached; then the socket carries the data again (`sharedSince` is nil).
    /// A record is taken out of the queue only after the one before it went out: one whose send
    /// fails stays in `state.leftover` for the next try.
    private func moveLeftoversToSocket(
        _ fastPath: FastPathPublisher, _ state: inout State, deadline: Int64?, whileClosing: Bool = false
    ) throws(TransportError) {
        while true {
            if state.leftover == nil { state.leftover = fastPath.takeLeftover() }
            guard state.leftover != nil else { break }
            try transmitLeftover(&state, deadline: deadline, whileClosing: whileClosing)
        }
        state.sharedSince = nil
    }

    /// Sends `state.leftover` on the socket, waiting for room until `deadline`, and lets go of it
    /// only once the socket took it (raising `leftoverCut`). `whileClosing`: for ``close()``,
    /// which sends it anyway.
    private func transmitLeftover(_ state: inout State, deadline: Int64?, whileClosing: Bool = false) throws(TransportError) {
        guard let leftover = state.leftover else { return }
        try transmit(&state.socket, header: leftover.header, arrays: leftover.arrays, deadline: deadline, whileClosing: whileClosing)
        state.leftover = nil
        state.leftoverCut = state.nextSequence + 1
    }

    /// What the heartbeat thread does with the socket while no send holds it: reads its events,
    /// attaches the receivers of this host that registered, and moves a pusher's leftovers on.
    private func lookAfterIdleSocket(_ state: inout State) {
        service(&state)
        attachPending(&state)
        moveLeftoversWhileIdle(&state)
    }

    /// An idle pusher's: once no puller of this host is attached, moves what its shared queue
    /// still holds onto the socket as far as the socket has room now, so that the pullers on
    /// the network need not wait for the next send (the rest goes at the next look, or first
    /// in the next send).
    private func moveLeftoversWhileIdle(_ state: inout State) {
        guard pattern == .push, let fastPath, fastPath.subscriberTotal == 0, state.sharedSince != nil || state.leftover != nil else { return }
        try? moveLeftoversToSocket(fastPath, &state, deadline: Sys.monotonicNanoseconds())
    }

    /// A closing pusher's: sends what its shared queue still holds on the socket, before `end`,
    /// waiting for room until `deadline` (the end of the linger period), unless pullers of this
    /// host are attached (they read it, then their `end`). What the socket did not take by then
    /// is counted (``SenderStatistics/sharedMemoryLost``) and logged: the queue goes with the sender.
    private func moveLeftoversAtClose(_ state: inout State, until deadline: Int64) {
        guard pattern == .push, let fastPath, state.sharedSince != nil || state.leftover != nil else { return }
        // A puller that closed since the registry thread last looked is noticed now.
        fastPath.sweep()
        let local = fastPath.subscriberTotal > 0
        do throws(TransportError) {
            if local {
                try transmitLeftover(&state, deadline: deadline, whileClosing: true)
            } else {
                try moveLeftoversToSocket(fastPath, &state, deadline: deadline, whileClosing: true)
            }
        } catch {
            let first = state.leftover?.sequence
            let lost = (first == nil ? 0 : 1) + (local ? 0 : fastPath.sharedQueue?.count ?? 0)
            sharedMemoryLost.add(UInt64(lost), ordering: .relaxed)
            logger.warning("stream '\(stream)': \(lost) messages left in the shared queue (from seq \(first.map(String.init) ?? "?")) are lost: the socket did not take them before the linger period ended: \(error.message)")
        }
    }

    private func waitUntilSharedQueueEmpties(_ fastPath: FastPathPublisher, deadline: Int64?) throws(TransportError) {
        var backoff = Backoff()
        while !fastPath.sharedQueueIsEmpty && fastPath.subscriberTotal > 0 {
            guard !closing.load(ordering: .relaxed) else { throw TransportError(.closed, "the sender of stream '\(stream)' was closed while waiting") }
            if let deadline, Sys.monotonicNanoseconds() >= deadline {
                throw TransportError(.timeout, "the pullers on this host did not empty the shared queue of stream '\(stream)' in time")
            }
            backoff.pause()
        }
    }

    /// Whether `bytes` more fit the budget: the byte budget for each connected peer, so that
    /// peers that stop reading (libzmq keeps up to a high-water mark of messages for each) cannot
    /// use up the others' share. One message always fits when nothing is in flight, however
    /// large, so that a budget smaller than a message cannot stall the stream.
    private func hasBudget(for bytes: Int) -> Bool {
        let current = inFlight.current
        let (budget, overflow) = options.byteBudget.multipliedReportingOverflow(by: max(1, peerCount.load(ordering: .relaxed)))
        return current == 0 || overflow || current + bytes <= budget
    }

    /// Keeps what one peer's pipe may hold within one byte budget: ZMQ_SNDHWM (counted in
    /// messages) follows byte budget ÷ the largest message of the last ``highWaterMarkWindow``
    /// to ``highWaterMarkWindow`` × 2 messages (at most libzmq's 1000), for the pipes that exist
    /// too (libzmq updates them). It goes down at once when a larger message comes, and back up
    /// only at the end of a window, so that it changes at most twice a window. A peer that stops
    /// reading then holds at most about its own share (plus the message being written and the
    /// kernel's socket buffer, which are no longer libzmq's), whatever the others do; libzmq
    /// drops the rest for that peer alone.
    private func boundPeerQueues(_ state: inout State, payloadBytes: Int) {
        func fitting(_ bytes: Int) -> Int32 {
            min(Self.defaultHighWaterMark, Self.messages(of: bytes, fittingIn: options.byteBudget))
        }
        state.largestInWindow = max(state.largestInWindow, payloadBytes)
        state.messagesInWindow += 1
        var target = fitting(payloadBytes)
        if state.messagesInWindow >= Self.highWaterMarkWindow {
            target = fitting(max(state.largestInWindow, state.largestInPreviousWindow))
            (state.largestInPreviousWindow, state.largestInWindow, state.messagesInWindow) = (state.largestInWindow, 0, 0)
        } else if target >= state.highWaterMark {
            return
        }
        guard target != state.highWaterMark else { return }
        do throws(TransportError) {
            try state.socket.setOption(ZMQ.sendHighWaterMark, target, name: "ZMQ_SNDHWM")
            state.highWaterMark = target
        } catch {
            logger.warning("stream '\(stream)': cannot set the high-water mark to \(target) messages: \(error)")
        }
    }

    /// Messages in one window of ``boundPeerQueues(_:payloadBytes:)``.
    static let highWaterMarkWindow = 256

    /// Reads what peers sent since the last call: connection events, which count the peers
    /// that share the budget, and a publisher's subscriptions.
    ///
    /// It also lets libzmq handle its pending commands, which it does only inside a call on the
    /// socket: a peer that left keeps its pipe, and the zero-copy frames queued in it (counted in
    /// the byte budget), until the socket acknowledges the pipe's termination.
    private func service(_ state: inout State) {
        state.lastService = Sys.monotonicNanoseconds()
        lastServiced.store(state.lastService, ordering: .relaxed)
        state.socket.handleCommands()
        drainPeerEvents(&state)
        if pattern == .publish { readSubscriptions(&state) }
    }

    /// Reads the monitor's connection events, which also shuts down the connections beyond the
    /// limit (counted and logged), and publishes the peer counts; a descriptor that opened or
    /// closed starts afresh in ``State/refused``.
    private func drainPeerEvents(_ state: inout State) {
        var changed: [Int32] = []
        let cut = state.peers.drain { _, descriptor in changed.append(descriptor) }
        for descriptor in changed { state.refused.forget(descriptor) }
        peerCount.store(state.peers.peers, ordering: .relaxed)
        peersDisconnected.store(state.peers.disconnected, ordering: .relaxed)
        guard let endpoint = cut.first?.endpoint else { return }
        // After the peer count: statistics that show these cuts show them out of `peers` too.
        peersDropped.add(UInt64(cut.count), ordering: .releasing)
        if let more = connectionLimitLogs.admit() {
            logger.warning("stream '\(stream)': \(ConnectionLimit.warning(cut: cut.count, endpoint: endpoint, maximum: options.maximumConnections, andMore: more.andMore))")
        }
    }

    /// Reads the (un)subscriptions libzmq applied and passed up (ZMQ_XPUB_VERBOSER), and counts
    /// those that are not prefixes of this stream's name: nothing else could match our topic.
    /// libzmq keeps every one until its peer cancels it or leaves, so a connection with more than
    /// ``RefusedSubscriptions/limitBytes`` of refused ones outstanding is shut down.
    private func readSubscriptions(_ state: inout State) {
        while let message = try? state.socket.receive(dontWait: true) {
            let bytes = message.bytes
            guard let kind = bytes.first, kind <= 1, !message.hasMore else {
                rejectedSubscriptions.add(1, ordering: .relaxed)
                continue
            }
            let prefix = Array(bytes.dropFirst())
            if prefix.count <= topic.count && topic.starts(with: prefix) { continue }
            if kind == 1 { rejectedSubscriptions.add(1, ordering: .relaxed) }
            if let descriptor = message.sourceDescriptor, state.refused.note(prefix, subscribe: kind == 1, descriptor: descriptor) {
                ZMQ.shutdownConnection(descriptor)
                peersDropped.add(1, ordering: .relaxed)
                if let more = refusedPeerLogs.admit() {
                    logger.warning("stream '\(stream)': dropped a peer with more than \(RefusedSubscriptions.limitBytes) bytes of subscriptions outside the stream\(more.andMore)")
                }
            }
        }
    }

    /// Waits until `bytes` more fit the budget; false if it stopped for an attach (only with
    /// `rerouting`, the sequence of a pusher's message: the wait sends the offer when due).
    private func waitForBudget(_ bytes: Int, deadline: Int64?, _ socket: inout ZMQSocket, rerouting: UInt64?) throws(TransportError) -> Bool {
        var backoff = Backoff()
        while !hasBudget(for: bytes) {
            guard !closing.load(ordering: .relaxed) else { throw TransportError(.closed, "the sender of stream '\(stream)' was closed while waiting") }
            if attachInterrupts(&socket, rerouting: rerouting) { return false }
            if let deadline, Sys.monotonicNanoseconds() >= deadline {
                throw TransportError(.timeout, "no room to send on stream '\(stream)' in time: \(inFlight.current) bytes are still in flight and the budget is \(options.byteBudget)")
            }
            backoff.pause()
        }
        return true
    }

    /// In a pusher's wait for room (`rerouting`: its message's sequence, nil for other waits):
    /// whether an attach was requested, which ends the wait; otherwise sends the offer when due.
    private func attachInterrupts(_ socket: inout ZMQSocket, rerouting: UInt64?) -> Bool {
        guard let sequence = rerouting else { return false }
        if attachRequested.load(ordering: .acquiring) { return true }
        offerIfDue(&socket, nextSequence: sequence)
        return false
    }

    /// Sends topic, header and payload frames as one multipart message. The first frame waits for
    /// room (pushers) until `deadline`; once libzmq took it, it takes the rest of the message too.
    /// With `rerouting` (see ``waitForBudget(_:deadline:_:rerouting:)``), returns false, having
    /// sent nothing, when an attach is requested while it waits. `whileClosing`: it waits even
    /// though the sender closes (``close()`` sending leftovers).
    @discardableResult
    private func transmit(
        _ socket: inout ZMQSocket, header: [UInt8], arrays: [NamedArray], deadline: Int64?, rerouting: UInt64? = nil, whileClosing: Bool = false
    ) throws(TransportError) -> Bool {
        var topic = try Self.frame(copying: topic)
        var headerFrame = try Self.frame(copying: header)
        guard try sendFirstFrame(&socket, &topic, more: true, deadline: deadline, rerouting: rerouting, whileClosing: whileClosing) else { return false }
        _ = try socket.send(&headerFrame, more: !arrays.isEmpty, dontWait: true)
        for (position, named) in arrays.enumerated() {
            let more = position < arrays.count - 1
            var frame: ZMQMessage
            do {
                frame = try ZMQMessage(payload: named.array, inFlight: inFlight)
            } catch {
                // The message is under way and cannot be recalled: finish it with empty frames,
                // which receivers reject as malformed, and report the failure.
                for remaining in position..<arrays.count {
                    var empty = ZMQMessage()
                    _ = try? socket.send(&empty, more: remaining < arrays.count - 1, dontWait: true)
                }
                throw error
            }
            // `false` here means the peer vanished mid-message; libzmq discards the rest.
            _ = try socket.send(&frame, more: more, dontWait: true)
        }
        return true
    }

    private func sendFirstFrame(
        _ socket: inout ZMQSocket, _ frame: inout ZMQMessage, more: Bool, deadline: Int64?, rerouting: UInt64?, whileClosing: Bool
    ) throws(TransportError) -> Bool {
        while true {
            if try socket.send(&frame, more: more, dontWait: true) { return true }
            // Only a pusher without room gets here (a publisher never blocks).
            guard whileClosing || !closing.load(ordering: .relaxed) else { throw TransportError(.closed, "the sender of stream '\(stream)' was closed while waiting") }
            if attachInterrupts(&socket, rerouting: rerouting) { return false }
            let now = Sys.monotonicNanoseconds()
            if let deadline, now >= deadline {
                throw TransportError(.timeout, "no puller took the message on stream '\(stream)' in time")
            }
            let slice = now + Self.waitSliceNanoseconds
            _ = try socket.wait(for: ZMQ.pollOut, deadline: deadline.map { min($0, slice) } ?? slice)
        }
    }

    /// A frame holding a copy of `bytes` (a topic or a header).
    private static func frame(copying bytes: [UInt8]) throws(TransportError) -> ZMQMessage {
        let frame = try ZMQMessage(size: bytes.count)
        if let target = frame.baseAddress {
            bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        return frame
    }

    // MARK: Control messages

    /// A heartbeat (with the fast path's offer, if any) or end.
    private func controlHeader(_ kind: WireHeader.Kind, nextSequence: UInt64) -> WireHeader {
        WireHeader.mark(kind, stream: stream, epoch: epoch, nextSequence: nextSequence, fastPath: kind == .heartbeat ? fastPath?.currentOffer : nil)
    }

    /// Sends a heartbeat with the fast path's offer if none went out for a heartbeat interval:
    /// a subscriber that joins a busy stream learns of the offer too.
    private func offerIfDue(_ socket: inout ZMQSocket, nextSequence: UInt64) {
        let now = Sys.monotonicNanoseconds()
        guard now - lastOffer.load(ordering: .relaxed) >= heartbeatNanoseconds else { return }
        lastOffer.store(now, ordering: .relaxed)
        if (try? sendControl(&socket, header: controlHeader(.heartbeat, nextSequence: nextSequence).encodedBytes())) == true {
            heartbeatCount.add(1, ordering: .relaxed)
        }
    }

    /// Starts feeding a subscriber queue of the fast path, between two messages (see
    /// ``attach(_:name:_:)``).
    ///
    /// Called by the fast path's thread: hands the queue over to whoever holds the sender's lock
    /// next, and waits until it is attached (taking the lock itself when it is free), at most
    /// as long as the receiver waits for its hello.
    func attachFastPathSubscriber(_ queue: ArrayQueue, name: String) {
        pendingAttaches.withLock { $0.append((queue, name)) }
        attachRequested.store(true, ordering: .releasing)
        let deadline = Sys.monotonicNanoseconds() + FastPathLink.helloTimeoutNanoseconds
        while attachRequested.load(ordering: .acquiring) && !closing.load(ordering: .relaxed) {
            _ = state.withLockIfAvailable { (state: inout State) in attachPending(&state) }
            guard attachRequested.load(ordering: .acquiring) else { return }
            if Sys.monotonicNanoseconds() >= deadline {
                pendingAttaches.withLock { list in
                    list.removeAll { $0.name == name }
                    if list.isEmpty { attachRequested.store(false, ordering: .releasing) }
                }
                logger.info("stream '\(stream)': the receiver on this host with the queue '\(name)' stays on the network: it was not attached before its wait for the hello ended (the sender was busy, or a record left in the shared queue found no room on the socket)")
                return
            }
            Sys.sleep(nanoseconds: 1_000_000)
        }
    }

    /// Attaches the queues handed over by ``attachFastPathSubscriber(_:name:)``, under the lock;
    /// a pusher's not while it holds a record taken from the shared queue that the socket has
    /// no room for now: a puller attached before it goes out could read the shared queue's later
    /// records first, and then get it on its socket.
    private func attachPending(_ state: inout State) {
        guard attachRequested.load(ordering: .acquiring) else { return }
        if state.leftover != nil { try? transmitLeftover(&state, deadline: Sys.monotonicNanoseconds()) }
        guard state.leftover == nil else { return }
        let pending = pendingAttaches.withLock { list in
            defer { list = [] }
            attachRequested.store(false, ordering: .releasing)
            return list
        }
        for (queue, name) in pending { attach(queue, name: name, &state) }
    }

    /// Attaches a receiver's queue. A puller reads the shared queue once its socket has shown a
    /// message or mark at its cut − 1 or later: the cut is past every record that went on the
    /// socket (and, since a heartbeat sent before a record of the shared queue went on the socket
    /// may report a later `seq`, past `leftoverCut`). A mark at the last `seq` sent goes to every
    /// connected peer (``sendMarks(_:)``); if that is before the cut − 1, after the next message.
    private func attach(_ queue: ArrayQueue, name: String, _ state: inout State) {
        guard state.socket.isOpen, let fastPath else { return }
        guard pattern == .push else {
            fastPath.attach(queue, name: name, nextSequence: state.nextSequence)
            return
        }
        let cut = max(state.sharedSince ?? state.nextSequence, state.leftoverCut)
        guard fastPath.attach(queue, name: name, nextSequence: cut) else { return }
        state.sharedSince = cut
        if state.nextSequence >= cut { sendMarks(&state) } else { state.marksDue = cut }
    }

    /// Sends a mark, a heartbeat at the last `seq` sent, to every connected peer (PUSH deals them
    /// round robin, one per peer): a puller has read all the socket brought it before that
    /// `seq` once it sees one.
    private func sendMarks(_ state: inout State) {
        drainPeerEvents(&state)
        let mark = controlHeader(.heartbeat, nextSequence: state.nextSequence).encodedBytes()
        for _ in 0..<max(1, state.peers.peers) { _ = try? sendControl(&state.socket, header: mark) }
    }

    /// Sends a two-frame control message if the socket has room now; returns whether it did.
    /// A `tracked` header is counted in the bytes in flight until libzmq releases it.
    private func sendControl(_ socket: inout ZMQSocket, header: [UInt8], tracked: Bool = false) throws(TransportError) -> Bool {
        var topic = try Self.frame(copying: topic)
        var headerFrame = tracked ? try ZMQMessage(tracking: header, inFlight: inFlight) : try Self.frame(copying: header)
        guard try socket.send(&topic, more: true, dontWait: true) else { return false }
        _ = try socket.send(&headerFrame, more: false, dontWait: true)
        return true
    }

    /// The heartbeat thread's loop: sleeps until the stream has been idle for the interval (or,
    /// with the fast path, until no offer went out for that long), sends a heartbeat on the
    /// socket and into the fast path's queues, and ends when the sender closes.
    ///
    /// With or without heartbeats, it also services the socket every
    /// ``serviceIntervalNanoseconds`` while payload bytes are in flight and no send did: an idle
    /// sender otherwise never gets back the byte budget that a departed peer's frames hold. At
    /// least every ``housekeepingNanoseconds`` it services it anyway, so that the monitor's
    /// events (which the monitor socket holds without limit) are read while nothing is sent.
    func runHeartbeats() {
        let idleHeartbeats = options.idleHeartbeatInterval != nil
        var notBefore: Int64 = 0
        while true {
            let ticket = heartbeatEvents.ticket()
            if closing.load(ordering: .acquiring) { return }
            let idleDue = idleHeartbeats ? lastActivity.load(ordering: .relaxed) + heartbeatNanoseconds : .max
            let offerDue = fastPath != nil ? lastOffer.load(ordering: .relaxed) + heartbeatNanoseconds : .max
            let due = max(min(idleDue, offerDue), notBefore)
            let start = Sys.monotonicNanoseconds()
            if start < due {
                let serviceDue = lastServiced.load(ordering: .relaxed)
                    + (inFlight.current > 0 ? Self.serviceIntervalNanoseconds : Self.housekeepingNanoseconds)
                if start >= serviceDue {
                    state.withLockIfAvailable { (state: inout State) in
                        guard state.socket.isOpen else { return }
                        lookAfterIdleSocket(&state)
                    }
                    heartbeatEvents.wait(ticket, deadline: min(due, start + Self.serviceIntervalNanoseconds))
                } else {
                    heartbeatEvents.wait(ticket, deadline: min(due, serviceDue))
                }
                continue
            }
            // A send in progress holds the lock: the stream is not idle (and the send itself
            // sends the offer when due), so skip the heartbeat.
            let sent = state.withLockIfAvailable { (state: inout State) -> Bool in
                guard state.socket.isOpen else { return false }
                lookAfterIdleSocket(&state)
                var header = controlHeader(.heartbeat, nextSequence: state.nextSequence)
                if let fastPath {
                    header.fastPath = nil   // the offer is for the network
                    fastPath.deliver(mark: header)
                    header.fastPath = fastPath.offer
                }
                do throws(TransportError) {
                    return try sendControl(&state.socket, header: header.encodedBytes())
                } catch {
                    logger.warning("cannot send a heartbeat on stream '\(stream)': \(error)")
                    return false
                }
            }
            let now = Sys.monotonicNanoseconds()
            if sent == true {
                heartbeatCount.add(1, ordering: .relaxed)
                lastOffer.store(now, ordering: .relaxed)
            }
            lastActivity.store(now, ordering: .relaxed)
            notBefore = now + heartbeatNanoseconds
        }
    }

    /// Waits, at most until `deadline`, until libzmq has released every frame counted in flight,
    /// `end` among them: each connection then took what was queued for it, or ended.
    ///
    /// The socket's linger is still 0 here, so a connection that ends while this waits has its
    /// queue dropped as the socket learns of it (`handleCommands`), and never holds the close
    /// up. Given the linger period instead, libzmq 4.3 would keep a queue that no connection
    /// can take for all of it: for ever with a linger of "forever" (see ``ZMQSocket``).
    private func awaitRelease(_ socket: inout ZMQSocket, until deadline: Int64) {
        var backoff = Backoff()
        while inFlight.current > 0 && Sys.monotonicNanoseconds() < deadline {
            socket.handleCommands()
            backoff.pause(notPast: deadline)
        }
    }

    /// Sends "end" and closes the socket; only the first call does anything.
    func close() {
        guard !closing.exchange(true, ordering: .acquiringAndReleasing) else { return }
        heartbeatEvents.signal()
        let lingerDeadline = Sys.monotonicNanoseconds() + options.linger.clampedNanoseconds
        state.withLock { (state: inout State) in
            guard state.socket.isOpen else { return }
            service(&state)
            moveLeftoversAtClose(&state, until: lingerDeadline)
            fastPath?.close(nextSequence: state.nextSequence)
            do throws(TransportError) {
                let header = controlHeader(.end, nextSequence: state.nextSequence).encodedBytes()
                var sent = try sendControl(&state.socket, header: header, tracked: true)
                while !sent && pattern == .push && Sys.monotonicNanoseconds() < lingerDeadline {
                    _ = try state.socket.wait(for: ZMQ.pollOut, deadline: lingerDeadline)
                    sent = try sendControl(&state.socket, header: header, tracked: true)
                }
                if !sent { logger.debug("no room to send 'end' on stream '\(stream)'; closing without it") }
            } catch {
                logger.warning("cannot send 'end' on stream '\(stream)': \(error)")
            }
            if ownedContext != nil { awaitRelease(&state.socket, until: lingerDeadline) }
            state.socket.stopMonitor()
            // What is left of the linger period: leftovers and `end` may have spent some of it.
            state.socket.close(lingerMilliseconds: Int32(clamping: ZMQSocket.millisecondsLeft(until: lingerDeadline)))
            state.peers.close()
        }
        // Waits (at most the linger period) until libzmq has sent what is still queued.
        ownedContext?.terminate()
    }
}
