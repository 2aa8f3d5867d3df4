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

    /// Puts one message (`header`: its data header, encoded, without the offer) into the shared
    /// queue, waiting for room until `deadline` (nil: no limit) while a local puller is
    /// attached; call it under the sender's lock. Between two slices of the wait it calls
    /// `whileWaiting` (which may attach more pullers).
    ///
    /// - Throws: ``TransportError/Code/timeout`` when the pullers took nothing in time,
    ///   ``TransportError/Code/closed`` when `whileWaiting` returns false (the sender closes).
    func push(
        header: [UInt8], arrays: [NamedArray], timestamp: Timestamp, index: Int64?, deadline: Int64?, whileWaiting: () -> Bool
    ) throws(TransportError) -> PushOutcome {
        guard let sharedQueue else { return .noPullers }
        while true {
            guard subscriberTotal > 0 else { return .noPullers }
            let now = Sys.monotonicNanoseconds()
            if let deadline, now >= deadline {
                throw TransportError(.timeout, "no puller on this host took the message on stream '\(stream)' in time (the shared queue '\(sharedQueue.name)' is full)")
            }
            let slice = min(deadline ?? .max, now + Self.pushSliceNanoseconds)
            do throws(ArrayQueueError) {
                try sharedQueue.putEnvelope(header: header, arrays: arrays, timestamp: timestamp, index: index, timeout: .nanoseconds(slice - now))
                return .put
            } catch where error.code == .timeout {
                if !whileWaiting() { throw TransportError(.closed, "the sender of stream '\(stream)' was closed while waiting") }
            } catch {
                return .unusable(error.message)
            }
        }
    }

    /// A data record taken out of the shared queue for the socket: its header encoded again,
    /// its arrays copied out of the queue.
    struct Leftover {
        let header: [UInt8]
        let arrays: [NamedArray]
        let sequence: Int64
    }

    /// Takes the oldest data record left in the shared queue, for the socket: records that no
    /// puller took before the last one left keep their place ahead of the messages that follow.
    /// Nil once the queue is empty. Records that are not data (or cannot be read) are skipped,
    /// not taken for the end of the queue, so that nothing after them is left behind.
    func takeLeftover() -> Leftover? {
        guard let sharedQueue else { return nil }
        while true {
            do {
                let taken = try sharedQueue.tryGet { record throws(TransportError) -> Leftover? in
                    guard record.isEnvelope else { return nil }
                    let (header, arrays) = try Envelope.read(record.bytes, maximumArrays: .max)
                    return header.kind == .data ? Leftover(header: header.encodedBytes(), arrays: arrays, sequence: header.sequence) : nil
                }
                switch taken {
                case nil: return nil
                case let leftover??: return leftover
                case .some(nil): continue
                }
            } catch let error as TransportError {
                // The record is taken (a lent record's room is freed when the lending throws).
                logger.warning("stream '\(stream)': skipped an unreadable record left in the shared queue '\(sharedQueue.name)': \(error)")
            } catch {
                logger.warning("stream '\(stream)': cannot read what is left in the shared queue '\(sharedQueue.name)': \(error)")
                return nil
            }
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
