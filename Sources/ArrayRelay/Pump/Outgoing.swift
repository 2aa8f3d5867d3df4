import ArrayQueues
import ArrayTransport

/// A record on its way to ZeroMQ.
struct Outgoing {
    var arrays: [NamedArray]
    var timestamp: Timestamp
    var index: Int64?
    var meta: [String: JSONValue]

    var byteCount: Int { arrays.reduce(0) { $0 + $1.array.byteCount } }

    /// A copy of a plain record, or the content of an envelope; nil for an envelope that
    /// carries no data (a local sender's `end`).
    init?(copying record: borrowing BorrowedRecord) throws(TransportError) {
        guard case .message(let message) = try record.event(stream: "", epoch: 0) else { return nil }
        self.init(arrays: message.arrays, timestamp: message.timestamp, index: message.index, meta: message.meta)
    }

    init(arrays: [NamedArray], timestamp: Timestamp, index: Int64?, meta: [String: JSONValue]) {
        self.arrays = arrays
        self.timestamp = timestamp
        self.index = index
        self.meta = meta
    }
}
