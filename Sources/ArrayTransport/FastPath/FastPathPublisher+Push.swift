import ArrayQueues

/// A pusher's shared data queue (see ``FastPathPublisher``): all its messages go there while a
/// puller of this host is attached.
extension FastPathPublisher {
    /// How a message offered to the shared queue went.
    enum PushOutcome {
        /// It is in the shared queue.
        case put
        /// No local puller is attached (any more): the message goes on the socket.
        case noPullers
        /// The queue can never take it (larger than the queue, or broken), for this reason.
        case unusable(String)
    }

    /// How long one wait for room lasts before `close()`, the deadline, the pullers and new
    /// registrations are looked at again.
    static let pushSliceNanoseconds: Int64 = 20_000_000

    /// Puts one message into the shared queue, waiting for room until `deadline` (nil: no
    /// limit) while a local puller is attached; call it under the sender's lock. Between two
    /// slices of the wait it calls `whileWaiting` (which may attach more pullers).
    ///
    /// - Throws: ``TransportError/Code/timeout`` when the pullers took nothing in time,
    ///   ``TransportError/Code/closed`` when `whileWaiting` returns false (the sender closes).
    func push(_ header: WireHeader, arrays: [AnyNDArray], deadline: Int64?, whileWaiting: () -> Bool) throws(TransportError) -> PushOutcome {
        guard let sharedQueue else { return .noPullers }
        while true {
            guard subscriberTotal > 0 else { return .noPullers }
            let now = Sys.monotonicNanoseconds()
            if let deadline, now >= deadline {
                throw TransportError(.timeout, "no puller on this host took the message on stream '\(stream)' in time (the shared queue '\(sharedQueue.name)' is full)")
            }
            let slice = min(deadline ?? .max, now + Self.pushSliceNanoseconds)
            do throws(ArrayQueueError) {
                try sharedQueue.putEnvelope(header, arrays: arrays, timeout: .nanoseconds(slice - now))
                return .put
            } catch where error.code == .timeout {
                if !whileWaiting() { throw TransportError(.closed, "the sender of stream '\(stream)' was closed while waiting") }
            } catch {
                return .unusable(error.message)
            }
        }
    }

    /// Takes the oldest record left in the shared queue, for the socket: records that no puller
    /// took before the last one left keep their place ahead of the messages that follow.
    func takeLeftover() -> (header: WireHeader, arrays: [NamedArray])? {
        guard let sharedQueue else { return nil }
        do {
            return try sharedQueue.tryGet { record throws(TransportError) -> (header: WireHeader, arrays: [NamedArray])? in
                guard record.isEnvelope else { return nil }
                let (header, arrays) = try Envelope.read(record.bytes, maximumArrays: .max)
                return header.kind == .data ? (header, arrays) : nil
            } ?? nil
        } catch {
            logger.warning("stream '\(stream)': skipped an unreadable record left in the shared queue '\(sharedQueue.name)': \(error)")
            return nil
        }
    }

    /// Whether the shared queue holds nothing (true for a publisher).
    var sharedQueueIsEmpty: Bool { sharedQueue?.isEmpty ?? true }

    /// Gives up the shared queue for good (a message it cannot take must go on the socket, and
    /// the socket's order must stay the queue's): every attached puller gets a `leave` and goes
    /// back to the network, and no offer is made any more. Call it under the sender's lock,
    /// once the shared queue is empty.
    func retire(reason: String, nextSequence: UInt64) {
        guard !retired.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let leaving = detachAll()
        let leave = WireHeader.mark(.heartbeat, stream: stream, epoch: epoch, nextSequence: nextSequence, fastPath: .leave(reason: reason))
        for subscriber in leaving {
            _ = try? subscriber.queue.tryPutEnvelope(leave, arrays: [])
        }
        if let sharedQueue { try? ArrayQueue.remove(name: sharedQueue.name) }
        logger.warning("stream '\(stream)': the pullers on this host go back to the network for good: \(reason)")
    }
}
