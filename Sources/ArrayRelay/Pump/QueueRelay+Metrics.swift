import ArrayQueues
import Synchronization

extension QueueRelay {
    /// The stream's counters and its queue's state.
    public func samples() -> [Sample] {
        let labels = [("stream", route.stream), ("queue", route.queue)]
        let statistics = sender.statistics
        func load(_ counter: borrowing Atomic<UInt64>) -> UInt64 { counter.load(ordering: .relaxed) }
        let common = PipelineSamples(
            recordsIn: load(counters.taken), recordsOut: load(counters.sent), bytesOut: load(counters.bytesSent),
            dropped: [("byte_budget", load(counters.droppedBudget)), ("send_timeout", load(counters.droppedTimeout))],
            errors: load(counters.failed), heartbeats: statistics.heartbeats, lagNanoseconds: counters.lagNanoseconds.load(ordering: .relaxed),
            peersDropped: statistics.peersDropped)
        return common.samples(labels: labels, queue: queue.withLock { $0 }) + [
            .counter("aq_relay_subscriber_skipped_total", "Records of a broadcast queue the relay's subscriber was skipped past (drop policy, or clear).", labels: labels, load(counters.skipped)),
            .gauge("aq_relay_in_flight_bytes", "Payload bytes ZeroMQ holds and has not sent yet.", labels: labels, Double(statistics.inFlightBytes)),
            .gauge("aq_relay_byte_budget_bytes", "Most payload bytes ZeroMQ may hold for each peer of the stream.", labels: labels, Double(settings.byteBudget)),
            .gauge("aq_relay_peers", "Peers connected to the stream's socket now.", labels: labels, Double(statistics.peers)),
            .counter("aq_relay_peers_disconnected_total", "Connections that ended: peers that left, and peers dropped for taking nothing for the stalled-peer timeout or breaking the protocol.", labels: labels, statistics.peersDisconnected),
            .counter("aq_relay_subscriptions_rejected_total", "Subscriptions that were not prefixes of the stream name (dropped).", labels: labels, statistics.rejectedSubscriptions),
            .gauge("aq_relay_epoch", "The sending epoch: a new one at every start of the relay.", labels: labels, Double(statistics.epoch)),
        ]
    }

    /// One line for the periodic log.
    public func summary(previous: [Sample]?, seconds: Double) -> String {
        let now = samples()
        let rate = Rates(now: now, previous: previous, seconds: seconds)
        let dropped = Int(saturating: now.total("aq_relay_dropped_total"))
        return "\(route.queue) → \(route.stream): \(Int(saturating: now.value("aq_relay_records_out_total"))) frames out (\(rate.frames), \(rate.bytes)), dropped \(dropped), errors \(Int(saturating: now.value("aq_relay_errors_total"))), lag \(formatLag(now.value("aq_relay_lag_seconds"))), in flight \(ByteCount.format(Int(saturating: now.value("aq_relay_in_flight_bytes")))), queue \(Int(saturating: now.value("aq_relay_queue_records"))) waiting"
    }
}
