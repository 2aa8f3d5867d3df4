import ArrayQueues
import Foundation
import Synchronization

/// The counters of one relayed queue, written by its threads.
final class ServeCounters: Sendable {
    let taken = Atomic<UInt64>(0)
    let sent = Atomic<UInt64>(0)
    let bytesSent = Atomic<UInt64>(0)
    let droppedBudget = Atomic<UInt64>(0)
    let droppedTimeout = Atomic<UInt64>(0)
    let failed = Atomic<UInt64>(0)
    let lagNanoseconds = Atomic<Int64>(0)
}

/// The counters of a subscription, written by its thread.
final class SubscribeCounters: Sendable {
    let put = Atomic<UInt64>(0)
    let bytesPut = Atomic<UInt64>(0)
    let droppedFull = Atomic<UInt64>(0)
    let droppedTimeout = Atomic<UInt64>(0)
    let failed = Atomic<UInt64>(0)
    let lagNanoseconds = Atomic<Int64>(0)
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
