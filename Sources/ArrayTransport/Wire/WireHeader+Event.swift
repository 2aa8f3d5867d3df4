import ArrayQueues

extension WireHeader {
    /// The event a receiver lends for this header and the bytes of its arrays (one payload per
    /// entry of ``arrays``, checked against it).
    func lentEvent(payloads: [LentPayload]) -> BorrowedReceiveEvent {
        let timestamp = Timestamp(nanosecondsSinceEpoch: timestampNanoseconds)
        switch kind {
        case .data:
            return .message(BorrowedArrayMessage(
                stream: stream, arrays: arrays.map { ArrayDescription(name: $0.name, dtype: $0.dtype, shape: $0.shape, byteCount: $0.byteCount) },
                payloads: payloads, timestamp: timestamp, index: index, meta: meta, sequence: UInt64(max(sequence, 0)), epoch: epoch))
        case .heartbeat, .end:
            let mark = StreamMark(
                stream: stream, epoch: epoch, lastSequence: sequence < 0 ? nil : UInt64(sequence), timestamp: timestamp)
            return kind == .end ? .end(mark) : .heartbeat(mark)
        }
    }

    /// A heartbeat or end of `stream` at `nextSequence` (the mark carries the last data `seq`),
    /// stamped now.
    static func mark(
        _ kind: Kind, stream: String, epoch: UInt64, nextSequence: UInt64, fastPath: FastPathControl? = nil
    ) -> WireHeader {
        WireHeader(
            kind: kind, stream: stream, epoch: epoch, sequence: nextSequence == 0 ? noSequence : Int64(nextSequence - 1),
            timestampNanoseconds: Timestamp.now().nanosecondsSinceEpoch, index: nil, arrays: [], meta: [:], fastPath: fastPath)
    }
}
