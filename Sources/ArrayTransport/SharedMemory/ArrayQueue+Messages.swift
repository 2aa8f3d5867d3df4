@_spi(Transport) public import ArrayQueues

/// Transport messages in queue records (docs/WIRE.md, "Over shared memory"): the one codec that
/// the `shm://` transport, the same-host fast path and `aq-relay` share.
///
/// A message of one array under the default name without metadata can travel as a plain
/// record, which any `ArrayQueue` consumer reads; everything else (several arrays, another name,
/// metadata, `end`, or a message whose stream, epoch and sequence must survive) travels as an
/// envelope.
extension ArrayQueue {
    /// Puts `event` as one record, waiting up to `timeout` for room (nil: no limit).
    ///
    /// A message becomes a plain record only if that loses nothing a `shm://` receiver delivers:
    /// one array under ``NamedArray/defaultName``, no `meta`. The `shm://` sender and
    /// `aq-relay subscribe` both decide here.
    ///
    /// - Parameter asEnvelope: Keep the stream, epoch and sequence even for a message that
    ///   could be a plain record. Marks (`end`, `heartbeat`) are always envelopes.
    /// - Throws: ``ArrayQueueError/Code/invalidArgument`` for a message that cannot be written
    ///   as it is: NaN or infinite numbers in `meta` (which a receiver takes from Python peers,
    ///   but JSON cannot carry: every sender refuses them too), or a header over
    ///   64 KiB once encoded; and the queue's errors:
    ///   ``ArrayQueueError/Code/timeout``, ``ArrayQueueError/Code/full`` (with the `fail`
    ///   overflow policy), ``ArrayQueueError/Code/oversize``, ...
    public func put(_ event: ReceiveEvent, asEnvelope: Bool = false, timeout: Duration?) throws(ArrayQueueError) {
        switch event {
        case .message(let message):
            if !asEnvelope, message.fitsPlainRecord {
                try put(message.arrays[0].array, timestamp: message.timestamp, index: message.index, timeout: timeout)
                return
            }
            // Refused, not written as `null`: the reader would get a value the sender never sent.
            if let problem = OutgoingMessage.metaProblem(message.meta) { throw ArrayQueueError(.invalidArgument, problem) }
            let header = WireHeader(
                kind: .data, stream: message.stream, epoch: message.epoch, sequence: Int64(clamping: message.sequence),
                timestampNanoseconds: message.timestamp.nanosecondsSinceEpoch, index: message.index,
                arrays: message.arrays.map { .init(name: $0.name, dtype: $0.array.dtype, shape: $0.array.shape, byteCount: $0.array.byteCount) },
                meta: message.meta)
            try putEnvelope(header, arrays: message.arrays.map(\.array), timeout: timeout)
        case .heartbeat(let mark), .end(let mark):
            let header = WireHeader(
                kind: event.isEnd ? .end : .heartbeat, stream: mark.stream, epoch: mark.epoch,
                sequence: mark.lastSequence.map { Int64(clamping: $0) } ?? WireHeader.noSequence,
                timestampNanoseconds: mark.timestamp.nanosecondsSinceEpoch, index: nil, arrays: [], meta: [:])
            try putEnvelope(header, arrays: [], timeout: timeout)
        }
    }

    /// Puts `header` and `arrays` as one envelope (the same-host fast path writes its handshake
    /// records, which carry the header's `fastpath` key, this way too).
    func putEnvelope(_ header: WireHeader, arrays: [AnyNDArray], timeout: Duration?) throws(ArrayQueueError) {
        _ = try putEnvelope(header, arrays: arrays, waiting: true, timeout: timeout)
    }

    /// Puts `header` and `arrays` as one envelope if the queue has room now; never waits, and
    /// returns false if it is full. For publishers that drop rather than wait (the fast path).
    func tryPutEnvelope(_ header: WireHeader, arrays: [AnyNDArray]) throws(ArrayQueueError) -> Bool {
        try putEnvelope(header, arrays: arrays, waiting: false, timeout: nil)
    }

    /// Puts an envelope of `header` (a data header already encoded, as a ``DataHeaderTemplate``
    /// writes it) and `arrays` if the queue has room now; never waits, returns false if it is full.
    /// The same-host fast path's publisher puts every message this way: no header to encode again,
    /// no list of arrays or offsets to make.
    func tryPutEnvelope(header: [UInt8], arrays: [NamedArray], timestamp: Timestamp, index: Int64?) throws(ArrayQueueError) -> Bool {
        try putEnvelope(header: header, arrays: arrays, timestamp: timestamp, index: index, waiting: false, timeout: nil)
    }

    /// Puts an envelope of `header` (a data header already encoded, within
    /// ``WireHeader/maximumHeaderBytes``) and `arrays`, waiting up to `timeout` for room (nil:
    /// no limit). A pusher's same-host fast path puts every message this way.
    func putEnvelope(header: [UInt8], arrays: [NamedArray], timestamp: Timestamp, index: Int64?, timeout: Duration?) throws(ArrayQueueError) {
        _ = try putEnvelope(header: header, arrays: arrays, timestamp: timestamp, index: index, waiting: true, timeout: timeout)
    }

    private func putEnvelope(
        header: [UInt8], arrays: [NamedArray], timestamp: Timestamp, index: Int64?, waiting: Bool, timeout: Duration?
    ) throws(ArrayQueueError) -> Bool {
        try putEnvelope(
            byteCount: Envelope.size(headerBytes: header.count, arrays: arrays), timestamp: timestamp, index: index, waiting: waiting,
            timeout: timeout) { buffer in Envelope.write(header: header, arrays: arrays, into: buffer) }
    }

    private func putEnvelope(_ header: WireHeader, arrays: [AnyNDArray], waiting: Bool, timeout: Duration?) throws(ArrayQueueError) -> Bool {
        let text = header.encoded()
        // Readers refuse a longer header: refused here, where it is made, rather than written for
        // every reader to skip as malformed. A header received within the limit can pass it when
        // encoded again (escapes, the keys this encoder always writes).
        guard text.utf8.count <= WireHeader.maximumHeaderBytes else {
            throw ArrayQueueError(.invalidArgument, "the message's header encodes to \(text.utf8.count) bytes; an envelope holds at most \(WireHeader.maximumHeaderBytes)")
        }
        return try putEnvelope(
            byteCount: Envelope.size(headerBytes: text.utf8.count, payloadSizes: arrays.lazy.map(\.byteCount)),
            timestamp: Timestamp(nanosecondsSinceEpoch: header.timestampNanoseconds), index: header.index, waiting: waiting,
            timeout: timeout) { buffer in Envelope.write(header: text, arrays: arrays, into: buffer) }
    }

    /// Puts an envelope of `byteCount` bytes that `write` fills, waiting for room up to `timeout`
    /// when `waiting`; whether it was put.
    private func putEnvelope(
        byteCount: Int, timestamp: Timestamp, index: Int64?, waiting: Bool, timeout: Duration?,
        write: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(ArrayQueueError) -> Bool {
        do {
            guard waiting else { return try tryPutEnvelope(byteCount: byteCount, timestamp: timestamp, index: index, fill: write) != nil }
            try putEnvelope(byteCount: byteCount, timestamp: timestamp, index: index, timeout: timeout, fill: write)
            return true
        } catch let error as ArrayQueueError {
            throw error
        } catch {
            preconditionFailure("writing an envelope cannot fail: \(error)")
        }
    }
}

extension BorrowedRecord {
    /// The transport event this record holds, with its arrays copied out of the queue.
    ///
    /// A plain record becomes a message of one array named `"array"` in `stream`, with the
    /// record's queue-wide sequence number and `epoch`; an envelope becomes what its sender put.
    ///
    /// - Throws: ``TransportError/Code/malformedMessage`` for an envelope that breaks the rules
    ///   (each length is checked against the record), with more than `maximumArrays` arrays.
    public func event(stream: String, epoch: UInt64, maximumArrays: Int = ArrayMessage.defaultMaximumArrays) throws(TransportError) -> ReceiveEvent {
        try lentEvent(stream: stream, epoch: epoch, maximumArrays: maximumArrays).copy()
    }

    /// The transport event this record holds, its arrays read in place (valid while the record
    /// is lent); see ``event(stream:epoch:maximumArrays:)``.
    func lentEvent(stream: String, epoch: UInt64, maximumArrays: Int) throws(TransportError) -> BorrowedReceiveEvent {
        guard isEnvelope else {
            let description = ArrayDescription(name: NamedArray.defaultName, dtype: dtype, shape: shape, byteCount: bytes.count)
            return .message(BorrowedArrayMessage(
                stream: stream, arrays: [description], payloads: [LentPayload(bytes: bytes, keeper: .record)], timestamp: timestamp,
                index: index, meta: [:], sequence: sequence, epoch: epoch))
        }
        let (header, payloads) = try Envelope.parse(bytes, maximumArrays: maximumArrays)
        return header.lentEvent(payloads: payloads)
    }
}

extension ArrayMessage {
    /// Whether a plain queue record carries everything of this message that a `shm://` receiver
    /// delivers: one array under ``NamedArray/defaultName`` (the name a plain record, which
    /// carries none, is read back with) and no `meta`. Stream, epoch and sequence are not
    /// kept (see ``ArrayQueue/put(_:asEnvelope:timeout:)``'s `asEnvelope`).
    var fitsPlainRecord: Bool {
        arrays.count == 1 && arrays[0].name == NamedArray.defaultName && meta.isEmpty
    }
}

extension ReceiveEvent {
    /// Whether this is an `end` mark.
    var isEnd: Bool {
        if case .end = self { return true }
        return false
    }
}
