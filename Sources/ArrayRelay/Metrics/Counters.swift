public import ArrayQueues
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
    /// Records of a broadcast queue that the relay's subscriber was skipped past (its `drop`
    /// policy, or a `clear`): the subscriber's own count, read after each take.
    public let skipped = Atomic<UInt64>(0)
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
    /// Records dropped because the queue cannot hold them as they are: NaN or infinite numbers
    /// in `meta` (JSON cannot carry them; Python's `json.dumps` writes them), or a header over
    /// 64 KiB once encoded again.
    public let droppedInvalid = Atomic<UInt64>(0)
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

/// A queue's state and counters, as samples: the relay's local queue (`aq_relay_queue_…`) and
/// every queue of the host in `aq metrics` (`aq_queue_…`) read the same header fields.
public enum QueueMetrics {
    /// The samples of `statistics` under `labels`, named `prefix_…`; `attachments`, when given,
    /// adds the attached processes (alive and dead).
    public static func samples(_ statistics: QueueStatistics, attachments: [QueueAttachment]? = nil, labels: [(String, String)], prefix: String = "aq_relay_queue") -> [Sample] {
        var samples: [Sample] = [
            .gauge("\(prefix)_records", "Records waiting in the queue.", labels: labels, Double(statistics.count)),
            .gauge("\(prefix)_bytes_used", "Bytes of the queue's ring in use.", labels: labels, Double(statistics.bytesUsed)),
            .gauge("\(prefix)_capacity_bytes", "Bytes of the queue's ring.", labels: labels, Double(statistics.capacity)),
            .counter("\(prefix)_drops_total", "Records the queue dropped (drop-oldest, clear, reset).", labels: labels, statistics.drops),
        ]
        guard let attachments else { return samples }
        samples += [
            .counter("\(prefix)_puts_total", "Records committed since the queue was created.", labels: labels, statistics.puts),
            .counter("\(prefix)_gets_total", "Records consumed since the queue was created.", labels: labels, statistics.gets),
            .counter("\(prefix)_resets_total", "Resets by the reset-on-shape-change policy.", labels: labels, statistics.resets),
            .counter("\(prefix)_clears_total", "Calls of clear().", labels: labels, statistics.clears),
            .counter("\(prefix)_abandoned_writes_total", "Records discarded because their producer died before finishing them.", labels: labels, statistics.abandonedWrites),
            .counter("\(prefix)_lost_reads_total", "Records lost because their consumer died while reading them.", labels: labels, statistics.lostReads),
            .gauge("\(prefix)_attached_processes", "Processes attached to the queue, by whether they are still running.", labels: labels + [("state", "alive")], Double(attachments.filter(\.isAlive).count)),
            .gauge("\(prefix)_attached_processes", "Processes attached to the queue, by whether they are still running.", labels: labels + [("state", "dead")], Double(attachments.filter { !$0.isAlive }.count)),
        ]
        return samples
    }
}

extension Int {
    /// `value` rounded toward zero and held within `Int`'s range (0 for NaN): samples are
    /// doubles, and a counter a peer drives (messages lost by forged sequence numbers) can
    /// pass `Int.max`, where `Int(_:)` traps.
    package init(saturating value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 0x1p63 {
            self = .max
        } else if value < -0x1p63 {
            self = .min
        } else {
            self = Int(value)
        }
    }
}
