import ArrayQueues
import Foundation
public import Synchronization

/// The counters of one relayed queue, written by its threads.
public final class ServeCounters: Sendable {
    /// Records taken from the queue.
    public let taken = Atomic<UInt64>(0)
    /// Records handed to ZeroMQ.
    public let sent = Atomic<UInt64>(0)
    /// Payload bytes handed to ZeroMQ.
    public let bytesSent = Atomic<UInt64>(0)
    /// Records dropped over the byte budget.
    public let droppedBudget = Atomic<UInt64>(0)
    /// Records dropped after a timeout.
    public let droppedTimeout = Atomic<UInt64>(0)
    /// Records lost to errors.
    public let failed = Atomic<UInt64>(0)
    /// Age of the last record when handed on.
    public let lagNanoseconds = Atomic<Int64>(0)
}

/// The counters of a subscription, written by its thread.
public final class SubscribeCounters: Sendable {
    /// Records put into the local queue.
    public let put = Atomic<UInt64>(0)
    /// Payload bytes put.
    public let bytesPut = Atomic<UInt64>(0)
    /// Records dropped: queue full.
    public let droppedFull = Atomic<UInt64>(0)
    /// Records dropped after a timeout.
    public let droppedTimeout = Atomic<UInt64>(0)
    /// Records lost to errors.
    public let failed = Atomic<UInt64>(0)
    /// Age of the last record when handed on.
    public let lagNanoseconds = Atomic<Int64>(0)
}

/// Frames and bytes per second between two sets of samples.
struct Rates {
    let frames: String
    let bytes: String

    init(now: [Sample], previous: [Sample]?, seconds: Double) {
        guard let previous, seconds > 0 else {
            frames = "-/s"
            bytes = "- GB/s"
            return
        }
        let frameRate = (now.value("aq_relay_records_out_total") - previous.value("aq_relay_records_out_total")) / seconds
        let byteRate = (now.value("aq_relay_bytes_out_total") - previous.value("aq_relay_bytes_out_total")) / seconds
        frames = String(format: "%.1f/s", frameRate)
        bytes = String(format: "%.2f GB/s", byteRate / 1e9)
    }
}

/// The local queue's own state, as samples.
enum QueueMetrics {
    static func samples(_ statistics: QueueStatistics, labels: [(String, String)]) -> [Sample] {
        [
            .gauge("aq_relay_queue_records", "Records waiting in the local queue.", labels: labels, Double(statistics.count)),
            .gauge("aq_relay_queue_bytes_used", "Bytes of the local queue's ring in use.", labels: labels, Double(statistics.bytesUsed)),
            .gauge("aq_relay_queue_capacity_bytes", "Bytes of the local queue's ring.", labels: labels, Double(statistics.capacity)),
            .counter("aq_relay_queue_drops_total", "Records the local queue dropped (drop-oldest, clear, reset).", labels: labels, statistics.drops),
        ]
    }
}
