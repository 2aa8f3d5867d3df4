import ArrayQueues
import Synchronization

extension Subscription {
    /// The subscription's counters and its queue's state.
    public func samples() -> [Sample] {
        let labels = [("stream", settings.streams == [""] ? "*" : settings.streams.joined(separator: ",")), ("queue", settings.queue)]
        let statistics = receiver.statistics
        func load(_ counter: borrowing Atomic<UInt64>) -> UInt64 { counter.load(ordering: .relaxed) }
        let common = PipelineSamples(
            recordsIn: statistics.received, recordsOut: load(counters.put), bytesOut: load(counters.bytesPut),
            dropped: [("queue_full", load(counters.droppedFull)), ("put_timeout", load(counters.droppedTimeout)), ("invalid_message", load(counters.droppedInvalid))],
            errors: load(counters.failed), heartbeats: statistics.heartbeats, lagNanoseconds: counters.lagNanoseconds.load(ordering: .relaxed),
            peersDropped: statistics.peersDropped)
        return common.samples(labels: labels, queue: queue) + [
            .counter("aq_relay_lost_total", "Records missing from the sequence numbers: lost on the way (a slow subscriber, a publisher over budget).", labels: labels, statistics.lost),
            .counter("aq_relay_malformed_total", "Messages rejected because they break the arrf/1 wire format.", labels: labels, statistics.malformed),
            .counter("aq_relay_restarts_total", "Times a stream came back with a new epoch (its relay restarted).", labels: labels, statistics.restarts),
            .counter("aq_relay_ends_total", "End messages received (a relay shut down cleanly).", labels: labels, statistics.ends),
            .gauge("aq_relay_peer_silent", "1 when nothing arrived for 3 heartbeat intervals.", labels: labels, statistics.peerIsSilent ? 1 : 0),
            .gauge("aq_relay_silence_seconds", "Seconds since the last message of any kind.", labels: labels, statistics.silence.seconds),
        ]
    }

    /// One line for the periodic log.
    public func summary(previous: [Sample]?, seconds: Double) -> String {
        let now = samples()
        let rate = Rates(now: now, previous: previous, seconds: seconds)
        let dropped = Int(saturating: now.total("aq_relay_dropped_total"))
        return "→ queue \(settings.queue): \(Int(saturating: now.value("aq_relay_records_out_total"))) frames in (\(rate.frames), \(rate.bytes)), lost \(Int(saturating: now.value("aq_relay_lost_total"))), dropped \(dropped), malformed \(Int(saturating: now.value("aq_relay_malformed_total"))), relay restarts \(Int(saturating: now.value("aq_relay_restarts_total"))), lag \(formatLag(now.value("aq_relay_lag_seconds"))), queue \(Int(saturating: now.value("aq_relay_queue_records"))) waiting"
    }
}
