/// Follows the sequence numbers of every (stream, epoch) a receiver hears from, to count lost
/// and out-of-order messages and to notice new senders (docs/WIRE.md, "Sequence numbers").
struct SequenceTracker {
    /// What one message revealed.
    struct Observation: Equatable {
        var lost: UInt64 = 0
        var outOfOrder = false
        var newEpoch = false
        var restart = false
    }

    /// By the stream name's bytes: two normalisation forms of one name are two streams.
    private struct Key: Hashable {
        var stream: StreamName
        var epoch: UInt64
    }

    private struct Entry {
        /// The sequence number the next data message should carry (past what heartbeats and
        /// `end` announced too): below it, a gap was counted as lost.
        var expected: Int64
        /// One past the highest data sequence number delivered (0 before the first): below it,
        /// a message is out of order. Not `expected`: a pusher's heartbeats announce records
        /// still in its shared queue, which a puller on the network may get after them, in order
        /// (docs/WIRE.md, "Order").
        var delivered: Int64
        var lastSeen: Int64
    }

    /// Most (stream, epoch) pairs followed at once; the least recently heard is forgotten first.
    static let capacity = 1024

    private var entries: [Key: Entry] = [:]
    /// Streams that had an epoch before (bounded like `entries`).
    private var knownStreams: [StreamName: Int64] = [:]

    /// Accounts for one valid message received at monotonic time `now`.
    mutating func observe(_ header: WireHeader, now: Int64) -> Observation {
        var observation = Observation()
        let key = Key(stream: StreamName(header.stream), epoch: header.epoch)
        let following = header.sequence + 1   // no overflow: `WireHeader.decode` keeps seq below Int64.max
        if var entry = entries[key] {
            switch header.kind {
            case .data:
                if header.sequence > entry.expected {
                    observation.lost = UInt64(header.sequence - entry.expected)
                }
                observation.outOfOrder = header.sequence < entry.delivered
                entry.expected = max(entry.expected, following)
                entry.delivered = max(entry.delivered, following)
            case .heartbeat, .end:
                if following > entry.expected {
                    observation.lost = UInt64(following - entry.expected)
                    entry.expected = following
                }
                observation.outOfOrder = following < entry.delivered
            }
            entry.lastSeen = now
            entries[key] = entry
        } else {
            observation.newEpoch = true
            observation.restart = knownStreams[key.stream] != nil
            knownStreams[key.stream] = now
            entries[key] = Entry(expected: following, delivered: header.kind == .data ? following : 0, lastSeen: now)
            evictIfNeeded()
        }
        if header.kind == .end { entries[key] = nil }
        return observation
    }

    private mutating func evictIfNeeded() {
        if entries.count > Self.capacity, let oldest = entries.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key {
            entries[oldest] = nil
        }
        if knownStreams.count > Self.capacity, let oldest = knownStreams.min(by: { $0.value < $1.value })?.key {
            knownStreams[oldest] = nil
        }
    }
}
