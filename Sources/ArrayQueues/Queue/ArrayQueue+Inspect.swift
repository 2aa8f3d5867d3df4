/// One record as `inspect` shows it, without its payload.
public struct RecordSummary: Sendable, Hashable {
    /// Where a record is in its life.
    public enum State: String, Sendable, Hashable {
        /// A producer is filling it.
        case writing
        /// Committed, waiting for a consumer.
        case ready
        /// A consumer is reading it.
        case reading
        /// Consumed, dropped or abandoned; its room is freed by the next producer that needs it.
        case done
    }

    /// The record's state.
    public var state: State
    /// Queue-wide sequence number.
    public var sequence: UInt64
    /// Element type, or nil if the record's dtype code is unknown.
    public var dtype: DType?
    /// Array shape.
    public var shape: [Int]
    /// Payload bytes.
    public var byteCount: Int
    /// The record's timestamp.
    public var timestamp: Timestamp
    /// The producer's frame number, if given.
    public var index: Int64?
    /// The process writing or reading it (for those states).
    public var ownerPID: Int32?
}

extension ArrayQueue {
    /// The records in the ring, oldest first (filler records left out), as a snapshot taken
    /// under the queue lock. For tools and diagnostics; it walks the whole ring.
    public func recordSummaries() throws(ArrayQueueError) -> [RecordSummary] {
        try ring.withLock { () throws(ArrayQueueError) in
            let (head, _, tail) = try ring.cursors()
            var summaries: [RecordSummary] = []
            var position = head
            while position < tail {
                let (record, _, length) = try ring.validatedRecord(at: position, tail: tail)
                position += UInt64(length)
                // State and owner from one load: consumers claim and producers publish without
                // the lock, and a READY record's owner half is a sequence number, not a pid.
                let word = record.stateAndOwner
                guard let state = RecordHeader.state(of: word) else { continue }
                let summaryState: RecordSummary.State
                switch state {
                case .skip: continue
                case .writing: summaryState = .writing
                case .ready: summaryState = .ready
                case .reading: summaryState = .reading
                case .done: summaryState = .done
                }
                let owned = state == .writing || state == .reading
                summaries.append(RecordSummary(
                    state: summaryState, sequence: record.sequence, dtype: DType(rawValue: record.dtypeCode), shape: record.shape,
                    byteCount: record.payloadByteCount, timestamp: Timestamp(nanosecondsSinceEpoch: record.timestampNanoseconds),
                    index: record.index, ownerPID: owned ? Int32(bitPattern: UInt32(truncatingIfNeeded: word >> 32)) : nil))
            }
            return summaries
        }
    }
}
