public import ArrayQueues

/// What a borrowed message says about one of its arrays. Its bytes are reached through the
/// message (``BorrowedArrayMessage/withBytes(of:_:)``), and only while the message is lent.
public struct ArrayDescription: Sendable, Hashable {
    /// The array's name within its message.
    public let name: String
    /// The element type.
    public let dtype: DType
    /// Extent of each dimension, outermost first.
    public let shape: [Int]
    /// Number of bytes of the elements.
    public let byteCount: Int
}

/// One data message lent by a borrowing receive (``ArrayReceiver/receive(timeout:_:)``): its
/// arrays are read where they arrived, without a copy — in the shared-memory queue's record
/// (`shm://`, the same-host fast path) or in the received ZeroMQ frames.
///
/// ```swift
/// try receiver.receive(timeout: .seconds(1)) { message in
///     try message.withElements(of: 0, as: UInt16.self) { pixels in show(pixels) }
/// }
/// ```
///
/// The message is valid only inside the closure it is lent to: it cannot be copied or kept
/// (`~Copyable`, lent as `borrowing`), and the views its `with…` methods give are spans, whose
/// lifetime the compiler checks, so no view outlives the loan. ``withUnsafeBytes(of:_:)`` is the
/// explicit exception (an unsafe pointer, as its name says). ``copy()`` makes an owned message.
public struct BorrowedArrayMessage: ~Copyable {
    /// The stream (the topic a subscriber filters on).
    public let stream: String
    /// The arrays' names, dtypes and shapes, in the order the sender gave them.
    public let arrays: [ArrayDescription]
    /// When the record was made (sender's clock).
    public let timestamp: Timestamp
    /// The producer's own frame number, if it gave one.
    public let index: Int64?
    /// Free-form application metadata.
    public let meta: [String: JSONValue]
    /// Position in the sender's epoch: 0, 1, 2 ... per data message.
    public let sequence: UInt64
    /// The sending instance: a random number fixed when the sender started.
    public let epoch: UInt64
    /// The arrays' bytes, each aligned for its dtype.
    let payloads: [LentPayload]

    init(
        stream: String, arrays: [ArrayDescription], payloads: [LentPayload], timestamp: Timestamp, index: Int64?,
        meta: [String: JSONValue], sequence: UInt64, epoch: UInt64
    ) {
        self.stream = stream
        self.arrays = arrays
        self.payloads = payloads
        self.timestamp = timestamp
        self.index = index
        self.meta = meta
        self.sequence = sequence
        self.epoch = epoch
    }

    /// The position of the first array named `name`, if any.
    public func position(of name: String) -> Int? {
        arrays.firstIndex { $0.name == name }
    }

    /// Calls `body` with the bytes of the array at `position` (C order, little-endian), read in place.
    ///
    /// - Precondition: `position` is in `arrays.indices`.
    public func withBytes<Result, Failure: Error>(of position: Int, _ body: (RawSpan) throws(Failure) -> Result) throws(Failure) -> Result {
        let bytes = payloads[position].bytes
        return try body(bytes.bytes)
    }

    /// Calls `body` with the elements of the array at `position`, read in place.
    ///
    /// - Precondition: `position` is in `arrays.indices`.
    /// - Throws: ``ArrayQueues/ArrayQueueError/Code/dtypeMismatch`` if `Element` is not the
    ///   array's dtype; otherwise what `body` throws.
    public func withElements<Element: ArrayElement, Result>(
        of position: Int, as _: Element.Type, _ body: (Span<Element>) throws -> Result
    ) throws -> Result {
        let dtype = arrays[position].dtype
        guard Element.dtype == dtype else {
            throw ArrayQueueError(.dtypeMismatch, "array \(position) ('\(arrays[position].name)') holds \(dtype) (\(dtype.typestr)), not \(Element.dtype) (\(Element.self))")
        }
        // Every payload is aligned for its dtype (checked when the message was read).
        let bytes = payloads[position].bytes
        let elements = UnsafeBufferPointer(start: bytes.baseAddress?.assumingMemoryBound(to: Element.self), count: bytes.count / dtype.itemSize)
        return try body(elements.span)
    }

    /// Calls `body` with a pointer to the bytes of the array at `position`. The pointer is valid
    /// only until `body` returns and must not be kept; prefer ``withBytes(of:_:)``, whose span
    /// the compiler keeps from escaping.
    ///
    /// - Precondition: `position` is in `arrays.indices`.
    public func withUnsafeBytes<Result, Failure: Error>(
        of position: Int, _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(payloads[position].bytes)
    }

    /// An owned copy of the array at `position`. A large payload in a received ZeroMQ frame is
    /// adopted without copying (the array keeps the frame); a record in shared memory is copied.
    ///
    /// - Precondition: `position` is in `arrays.indices`.
    public func copyArray(at position: Int) -> AnyNDArray {
        payloads[position].owned(dtype: arrays[position].dtype, shape: arrays[position].shape)
    }

    /// An owned copy of the message (see ``copyArray(at:)``).
    public func copy() -> ArrayMessage {
        ArrayMessage(
            stream: stream, arrays: arrays.indices.map { NamedArray(arrays[$0].name, copyArray(at: $0)) }, timestamp: timestamp,
            index: index, meta: meta, sequence: sequence, epoch: epoch)
    }
}

/// Everything a borrowing receive (``ArrayReceiver/receiveEvent(timeout:_:)``) can lend: a data
/// message read in place, or a control message of arrf/1.
public enum BorrowedReceiveEvent: ~Copyable {
    /// A data message, lent.
    case message(BorrowedArrayMessage)
    /// A sender said it is alive while idle.
    case heartbeat(StreamMark)
    /// A sender closed its stream on purpose.
    case end(StreamMark)

    /// An owned copy of the event (see ``BorrowedArrayMessage/copy()``).
    public func copy() -> ReceiveEvent {
        switch self {
        case .message(let message): .message(message.copy())
        case .heartbeat(let mark): .heartbeat(mark)
        case .end(let mark): .end(mark)
        }
    }
}

/// The bytes of one lent array, and who keeps them valid (which decides how an owned copy is made).
struct LentPayload {
    enum Keeper {
        /// A received ZeroMQ frame, aligned for the dtype: adopted without a copy when large.
        case frame(ReceivedFrame)
        /// An array of the receiver's own (a frame copied because it was misaligned).
        case array(AnyNDArray)
        /// A queue record, valid only while it is lent: copied.
        case record
    }

    let bytes: UnsafeRawBufferPointer
    let keeper: Keeper

    /// An owned array of these bytes.
    func owned(dtype: DType, shape: [Int]) -> AnyNDArray {
        do throws(ArrayQueueError) {
            switch keeper {
            case .array(let array):
                return array
            case .frame(let frame) where bytes.count >= zeroCopyThreshold:
                return try AnyNDArray(dtype: dtype, shape: shape, adopting: UnsafeMutableRawPointer(mutating: bytes.baseAddress!), byteCount: bytes.count) { _ in
                    withExtendedLifetime(frame) {}
                }
            case .frame, .record:
                return try AnyNDArray(dtype: dtype, shape: shape, copying: bytes)
            }
        } catch {
            // The shape's size was checked against the bytes when the message was read.
            preconditionFailure("a lent payload's shape and size disagree: \(error)")
        }
    }
}
