/// A record taken from a queue: an array that belongs to the caller, with its metadata.
public struct ArrayRecord: Sendable, Equatable {
    /// The array; it stays valid forever (it is a copy, never a view into the queue).
    public var array: AnyNDArray
    /// Queue-wide sequence number (0, 1, 2 … in the order producers reserved records).
    public var sequence: UInt64
    /// When the record was made (given to `put`, or taken by it).
    public var timestamp: Timestamp
    /// The producer's own frame number, if it gave one.
    public var index: Int64?
    /// Whether this `uint8` record is an envelope holding a whole ArrayTransport message
    /// (several named arrays and metadata) rather than an array of its own.
    public var isEnvelope: Bool

    /// A record of these values.
    public init(array: AnyNDArray, sequence: UInt64, timestamp: Timestamp, index: Int64?, isEnvelope: Bool = false) {
        self.array = array
        self.sequence = sequence
        self.timestamp = timestamp
        self.index = index
        self.isEnvelope = isEnvelope
    }
}

/// A record lent by `get { record in … }`: its payload is read in place, in shared memory.
///
/// The record is valid only inside the closure; the queue frees its slot when the closure
/// returns. Do not let the buffers escape: copy what you need (``copy()``).
public struct BorrowedRecord: ~Copyable {
    /// The element type.
    public let dtype: DType
    /// The array's shape, inline: reading it allocates nothing.
    public var extents: InlineShape { InlineShape(extentStorage) }
    /// The array's shape as an `[Int]` (allocates one; ``extents`` does not).
    public var shape: [Int] { Array(extentStorage) }
    /// The shape as copied out of the record when it was claimed, kept by whoever lent the
    /// record for as long as it is lent (the stack of the call that lends it, or a broadcast
    /// subscriber's one loan). Carrying the 32 extents an `InlineShape` holds made a borrowed
    /// record a 320-byte value, zero-filled and moved with a `memcpy` for every record lent.
    let extentStorage: UnsafeBufferPointer<Int>
    /// Queue-wide sequence number.
    public let sequence: UInt64
    /// When the record was made.
    public let timestamp: Timestamp
    /// The producer's frame number, if it gave one.
    public let index: Int64?
    /// Whether this `uint8` record is an ArrayTransport message envelope (see ``ArrayRecord/isEnvelope``).
    public let isEnvelope: Bool
    /// The payload, C order; 64-byte aligned.
    public let bytes: UnsafeRawBufferPointer

    /// The payload as elements of `Element`.
    ///
    /// - Throws: ``ArrayQueueError/Code/dtypeMismatch`` if `Element` is not the record's dtype.
    public func elements<Element: ArrayElement>(as _: Element.Type) throws(ArrayQueueError) -> UnsafeBufferPointer<Element> {
        guard Element.dtype == dtype else {
            throw ArrayQueueError(.dtypeMismatch, "the record holds \(dtype) (\(dtype.typestr)), not \(Element.dtype) (\(Element.self))")
        }
        return UnsafeBufferPointer(start: bytes.baseAddress?.assumingMemoryBound(to: Element.self), count: bytes.count / dtype.itemSize)
    }

    /// An owned copy of the record.
    public func copy() -> ArrayRecord { copy(shape: shape) }

    /// An owned copy of the record whose shape array comes from `shapes` (shared with the
    /// copies before it when they have the same shape).
    func copy(shapes: borrowing ShapeCache) -> ArrayRecord { copy(shape: shapes.shape(extentStorage)) }

    private func copy(shape: [Int]) -> ArrayRecord {
        // The record was checked when it was claimed: its dtype, shape and size agree.
        let array = AnyNDArray(dtype: dtype, shape: shape, storage: ArrayStorage.copying(bytes))
        return ArrayRecord(array: array, sequence: sequence, timestamp: timestamp, index: index, isEnvelope: isEnvelope)
    }
}
