import ArrayQueues

/// What `serve` (``QueueRelay``) and `subscribe` (``Subscription``) both report, made into
/// samples in one place: each metric has one name and one help text whichever side reports it
/// (Prometheus wants one help text per name), and the local queue's state follows.
struct PipelineSamples {
    /// Records taken from the local queue (serve) or received from the network (subscribe).
    var recordsIn: UInt64
    /// Records handed to ZeroMQ (serve) or put into the local queue (subscribe).
    var recordsOut: UInt64
    /// Payload bytes of the records out.
    var bytesOut: UInt64
    /// Records dropped, by reason.
    var dropped: [(reason: String, count: UInt64)]
    /// Records that could not be relayed because of an error.
    var errors: UInt64
    /// Heartbeats sent (serve) or received (subscribe).
    var heartbeats: UInt64
    /// Age of the last record when it was handed on.
    var lagNanoseconds: Int64
    /// Connections the socket shut down (the sender's or receiver's `peersDropped`).
    var peersDropped: UInt64

    /// The samples under `labels`, with those of `queue` (`aq_relay_queue_…`) if it can be read.
    func samples(labels: [(String, String)], queue: ArrayQueue?) -> [Sample] {
        var samples: [Sample] = [
            .counter("aq_relay_records_in_total", "Records taken from the local queue (serve) or received from the network (subscribe).", labels: labels, recordsIn),
            .counter("aq_relay_records_out_total", "Records handed to ZeroMQ (serve) or put into the local queue (subscribe).", labels: labels, recordsOut),
            .counter("aq_relay_bytes_out_total", "Payload bytes of the records out.", labels: labels, bytesOut),
            .counter("aq_relay_errors_total", "Records that could not be relayed because of an error (see the log).", labels: labels, errors),
            .counter("aq_relay_heartbeats_total", "Heartbeats sent (serve) or received (subscribe).", labels: labels, heartbeats),
            .gauge("aq_relay_lag_seconds", "Age of the last record when it was handed on: now minus its timestamp.", labels: labels, Double(lagNanoseconds) / 1e9),
            .counter("aq_relay_peers_dropped_total", "Connections the relay shut down: beyond max_connections on a bound endpoint, or holding too much (serve: more than 4 KiB of refused subscriptions; subscribe: more than a queue of messages and one more, or a message that does not end).", labels: labels, peersDropped),
        ]
        for (reason, count) in dropped {
            samples.append(.counter("aq_relay_dropped_total", "Records the relay dropped, by reason.", labels: labels + [("reason", reason)], count))
        }
        if let queue, let statistics = try? queue.statistics() {
            samples += QueueMetrics.samples(statistics, labels: labels)
        }
        return samples
    }
}
