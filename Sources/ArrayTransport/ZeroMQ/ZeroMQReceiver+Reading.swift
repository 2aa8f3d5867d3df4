import ArrayQueues

/// A message that passed every check of docs/WIRE.md, not yet accounted for.
struct IncomingMessage {
    var header: WireHeader
    /// Each array's bytes, in place (in a received frame, or lent by a queue), aligned for its dtype.
    var payloads: [LentPayload]
    /// Large payloads that had to be copied (misaligned frames).
    var copiedPayloads: UInt64 = 0
}

extension ZeroMQReceiver {
    // MARK: - Reading and checking

    /// Reads one whole multipart message; nil if there was none or it was malformed (counted).
    func readMessage(_ state: inout State) throws(TransportError) -> IncomingMessage? {
        let maximumFrames = 2 + options.maximumArrays
        var frames: [ReceivedFrame] = []
        var frameCount = 0
        var totalBytes = 0
        var wireBytes: UInt64 = 0
        var source: Int32?
        let curve = options.curve != nil
        defer { inbound.withLock { $0.noteDelivered(descriptor: source, wireBytes: wireBytes) } }
        while true {
            guard let message = try state.socket.receive(dontWait: true) else {
                if frameCount == 0 { inbound.withLock { $0.noteStarved() } }
                break
            }
            if frameCount == 0 { source = message.sourceDescriptor }
            let more = message.hasMore
            frameCount += 1
            totalBytes += message.count
            wireBytes = wireBytes.saturatingAdd(InboundGuard.wireBytes(frame: message.count, curve: curve))
            // Past the limits, frames are read and dropped at once so that memory stays bounded
            // and the next message starts at its first frame.
            if frameCount <= maximumFrames && totalBytes <= options.maximumMessageBytes {
                frames.append(ReceivedFrame(message))
            }
            if !more { break }
        }
        guard frameCount > 0 else { return nil }
        do throws(TransportError) {
            guard frameCount <= maximumFrames else {
                throw .malformed("the message has \(frameCount) frames; at most \(maximumFrames) are allowed (topic, header and up to \(options.maximumArrays) arrays)")
            }
            guard totalBytes <= options.maximumMessageBytes else {
                throw .malformed("the message is \(totalBytes) bytes long; at most \(options.maximumMessageBytes) are allowed")
            }
            return try decode(frames)
        } catch {
            reject(error)
            return nil
        }
    }

    private func decode(_ frames: [ReceivedFrame]) throws(TransportError) -> IncomingMessage {
        guard frames.count >= 2 else {
            throw .malformed("the message has \(frames.count) frame; an arrf message has a topic frame, a header frame and one frame per array")
        }
        guard let topic = String(validating: frames[0].bytes, as: UTF8.self) else {
            throw .malformed("the topic frame is not valid UTF-8")
        }
        let header = try WireHeader.decode(frames[1].bytes, maximumArrays: options.maximumArrays)
        // Byte for byte, as libzmq filtered the topic: String's == would take a stream in another
        // Unicode normalisation form for the same name.
        guard header.stream.utf8.elementsEqual(topic.utf8) else {
            throw .malformed("the header names stream '\(header.stream)' but the topic frame says '\(topic)'")
        }
        let payloads = frames.count - 2
        guard payloads == header.arrays.count else {
            throw .malformed("the header lists \(header.arrays.count) arrays but \(payloads) payload frames follow")
        }
        var incoming = IncomingMessage(header: header, payloads: [])
        incoming.payloads.reserveCapacity(payloads)
        for (position, wire) in header.arrays.enumerated() {
            let frame = frames[2 + position]
            guard frame.count == wire.byteCount else {
                throw .malformed("arrays[\(position)] ('\(wire.name)') says nbytes \(wire.byteCount), but its payload frame has \(frame.count) bytes")
            }
            let (payload, copiedLarge) = try frame.payload(dtype: wire.dtype, shape: wire.shape)
            if copiedLarge { incoming.copiedPayloads += 1 }
            incoming.payloads.append(payload)
        }
        return incoming
    }

    // MARK: - Accounting

    /// The housekeeping thread's tick (every ``ZeroMQReceiver/housekeepingNanoseconds``): if no
    /// receive has checked the connections for that long (none runs, or its `body` takes that
    /// long), checks them here, so that the connection limit holds, and the monitor's events
    /// are read, whether or not the application receives. A receive that runs checks far more
    /// often (every wait slice), and then this does nothing.
    func lookAfterConnections() {
        guard !closed.load(ordering: .acquiring),
              Sys.monotonicNanoseconds() - lastGuarded.load(ordering: .relaxed) >= Self.housekeepingNanoseconds else { return }
        guardInbound(ifAvailable: true)
    }

    /// Drops the connections for which libzmq holds more than it may (``InboundGuard``), and
    /// those beyond the connection limit: counted and logged. Each receive's wait slice calls
    /// it, and the housekeeping thread between receives (``lookAfterConnections()``); with
    /// `ifAvailable`, it does nothing while another thread checks or notes a delivery.
    func guardInbound(ifAvailable: Bool = false) {
        lastGuarded.store(Sys.monotonicNanoseconds(), ordering: .relaxed)
        let checked = ifAvailable ? inbound.withLockIfAvailable { $0.check() } : inbound.withLock { $0.check() }
        guard case let (drops, cut)? = checked, !drops.isEmpty || !cut.isEmpty else { return }
        counters.withLock { $0.statistics.peersDropped += UInt64(drops.count + cut.count) }
        for drop in drops {
            let what = drop.unfinished ? "of one unfinished message" : "not yet delivered"
            logger.warning("dropped a connection: libzmq held \(drop.held) bytes of it \(what), more than \(drop.limit) allowed (a message that does not end?)")
        }
        if let endpoint = cut.first, let more = connectionLimitLogs.admit() {
            logger.warning("\(ConnectionLimit.warning(cut: cut.count, endpoint: endpoint, maximum: options.maximumConnections, andMore: more.andMore))")
        }
    }

    /// Counts a valid message (sequence tracking, statistics) and lends its event to `body`;
    /// returns true (it was lent).
    func accept(_ incoming: IncomingMessage, _ state: inout State, throughSharedMemory: Bool, to body: Lend) -> Bool {
        let header = incoming.header
        let now = Sys.monotonicNanoseconds()
        let observation = state.tracker.observe(header, now: now)
        lastActivity.store(now, ordering: .relaxed)
        let bytes = header.arrays.reduce(0) { $0 + $1.byteCount }
        if header.kind == .data { state.link?.noteDelivered(header) }
        counters.withLock { counters in
            var statistics = counters.statistics
            // A peer chooses its sequence numbers: a few forged jumps of 2^63 would overflow a sum.
            if options.detectsLoss { statistics.lost = statistics.lost.saturatingAdd(observation.lost) }
            if observation.outOfOrder { statistics.outOfOrder += 1 }
            if observation.newEpoch { statistics.epochsSeen += 1 }
            if observation.restart { statistics.restarts += 1 }
            statistics.copiedPayloads += incoming.copiedPayloads
            switch header.kind {
            case .data:
                statistics.received += 1
                statistics.bytesReceived = statistics.bytesReceived.saturatingAdd(UInt64(bytes))
                if throughSharedMemory { statistics.receivedThroughSharedMemory += 1 }
            case .heartbeat: statistics.heartbeats += 1
            case .end: statistics.ends += 1
            }
            counters.statistics = statistics
        }
        // At most one line per 10 s: a peer that sends a fresh epoch with every message must not flood the log.
        if observation.restart, let more = restartLogs.admit() {
            logger.info("stream '\(header.stream)' has a new sender (epoch \(header.epoch))\(more.andMore)")
        }
        if observation.lost > 0 && options.detectsLoss {
            logger.debug("stream '\(header.stream)' lost \(observation.lost) messages before seq \(header.sequence)")
        }
        body(header.lentEvent(payloads: incoming.payloads))
        return true
    }

    /// Counts a malformed message and logs it, at most once a second.
    func reject(_ error: TransportError) {
        counters.withLock { counters in
            counters.statistics.malformed += 1
            counters.statistics.lastMalformedReason = error.message
        }
        if let more = malformedLogs.admit() { logger.warning("skipped a malformed message: \(error.message)\(more.andMore)") }
    }
}
