/// Two-step puts and gets for language bindings (the C ABI), whose callers cannot run a
/// Swift closure between the steps: reserve, fill, commit; claim, read, release.
///
/// The values handed out are plain views of a record in the ring. The binding owns the step
/// in between and must finish it exactly once (its handle types make sure of that); Swift
/// code uses the closure forms (`put(dtype:shape:fill:)`, `get { record in … }`) instead.
@_spi(Bindings)
public struct RecordView {
    let record: RecordHeader
    /// The record's queue-wide sequence number.
    public let sequence: UInt64

    /// The payload, C order, 64-byte aligned: writable while reserved, read-only once claimed.
    public var payload: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: record.payload, count: record.payloadByteCount)
    }
    /// The element type's code (a ``DType`` raw value; checked when the record was claimed).
    public var dtypeCode: UInt8 { record.dtypeCode }
    /// The number of dimensions (at most ``Shape/maxDimensions``).
    public var dimensionCount: Int { record.dimensionCount }
    /// The extent of dimension `axis` (`0 ..< dimensionCount`), read without allocating.
    public func extent(_ axis: Int) -> Int {
        precondition(axis >= 0 && axis < record.dimensionCount)
        return Int(truncatingIfNeeded: (record.raw + RecordHeader.fixedSize).load(fromByteOffset: axis * 8, as: UInt64.self))
    }
    /// When the record was made.
    public var timestamp: Timestamp { Timestamp(nanosecondsSinceEpoch: record.timestampNanoseconds) }
    /// The producer's frame number, if it gave one.
    public var index: Int64? { record.index }
    /// Whether the record is an ArrayTransport envelope.
    public var isEnvelope: Bool { record.isEnvelope }

    /// The metadata as an owned value.
    public var metadata: RecordMetadata {
        RecordMetadata(
            dtypeCode: dtypeCode, shape: record.shape, byteCount: record.payloadByteCount, sequence: sequence,
            timestamp: timestamp, index: index, isEnvelope: isEnvelope)
    }
}

/// A record's metadata, copied out of the ring.
@_spi(Bindings)
public struct RecordMetadata: Sendable, Hashable {
    /// The element type's code (a ``DType`` raw value, or an unknown one in a corrupt ring).
    public var dtypeCode: UInt8
    /// The shape.
    public var shape: [Int]
    /// Payload bytes.
    public var byteCount: Int
    /// Queue-wide sequence number.
    public var sequence: UInt64
    /// When the record was made.
    public var timestamp: Timestamp
    /// The producer's frame number, if it gave one.
    public var index: Int64?
    /// Whether the record is an ArrayTransport envelope.
    public var isEnvelope: Bool
}

/// What ``ArrayQueue/claimRecord(maximumPayloadBytes:timeout:blocking:)`` found.
@_spi(Bindings)
public enum ClaimResult {
    /// The oldest record, now claimed: read it, then ``ArrayQueue/release(_:)`` it.
    case claimed(RecordView)
    /// The oldest record's payload is larger than allowed; it stays in the queue.
    case tooLarge(RecordMetadata)
    /// No record (only when not blocking).
    case empty
}

extension ArrayQueue {
    /// Reserves a record of `dtype` and `shape` for writing in place; publish it with
    /// ``commit(_:)`` or give it back with ``abandon(_:)``, exactly once. Blocking follows
    /// the overflow policy and `timeout` as ``put(dtype:shape:timestamp:index:timeout:fill:)``
    /// does; when not `blocking`, returns nil if there is no room now.
    @_spi(Bindings)
    public func reserveRecord(
        dtype: DType, shape: [Int], timestamp: Timestamp?, index: Int64?, timeout: Duration?, blocking: Bool
    ) throws(ArrayQueueError) -> RecordView? {
        guard let reservation = try reserve(dtype: dtype, shape: shape, timestamp: timestamp, index: index, blocking: blocking, timeout: timeout) else {
            return nil
        }
        return RecordView(record: reservation.record, sequence: reservation.sequence)
    }

    /// Publishes a record from ``reserveRecord(dtype:shape:timestamp:index:timeout:blocking:)``.
    @_spi(Bindings)
    public func commit(_ view: RecordView) throws(ArrayQueueError) {
        try ring.commit(Ring.Reservation(record: view.record, sequence: view.sequence))
    }

    /// Discards a reserved record unpublished.
    @_spi(Bindings)
    public func abandon(_ view: RecordView) {
        ring.abandon(Ring.Reservation(record: view.record, sequence: view.sequence))
    }

    /// Claims the oldest record if its payload is at most `maximumPayloadBytes`; a larger one
    /// is left in the queue (unclaimed, under the same lock hold, so no consumer can miss it)
    /// and its metadata returned. Waits while the queue is empty when `blocking`, up to
    /// `timeout` (nil: no limit). A claimed record must be ``release(_:)``d exactly once.
    ///
    /// - Throws: ``ArrayQueueError/Code/timeout``, ``ArrayQueueError/Code/corruptSegment``
    ///   (also for a record whose dtype, shape and size disagree; it is freed).
    @_spi(Bindings)
    public func claimRecord(maximumPayloadBytes: Int, timeout: Duration?, blocking: Bool) throws(ArrayQueueError) -> ClaimResult {
        try refuseConsumerOfBroadcast()
        let deadline = try Self.deadline(after: timeout)
        let me = ProcessIdentity.current
        // A local function rather than a closure value: its context stays on the stack, so a
        // get that finds a record allocates nothing.
        func attempt() throws(ArrayQueueError) -> ClaimResult? {
            try ring.withLock(deadline: deadline) { () throws(ArrayQueueError) -> ClaimResult? in
                var tooLarge: RecordHeader?
                if let record = try ring.claim(expecting: nil, maximumPayloadBytes: maximumPayloadBytes, owner: me, tooLarge: &tooLarge) {
                    return .claimed(RecordView(record: record, sequence: record.sequence))
                }
                // Left in the queue, unclaimed, under this lock hold: no consumer can miss it.
                return tooLarge.map { .tooLarge(RecordView(record: $0, sequence: $0.sequence).metadata) }
            }
        }
        var found = try attempt()
        if found == nil {
            guard blocking else { return .empty }
            found = try waitUntil(
                ring.header.dataSignal, deadline: deadline, checkingDeadPeers: false, cancellation: nil,
                describe: { "get from queue '\(name)' (empty)" }, attempt)
        }
        if case let .claimed(view)? = found, !Self.isConsistent(view.record) {
            ring.release(view.record)
            throw ArrayQueueError(.corruptSegment, "record \(view.sequence) of queue '\(name)' has an inconsistent dtype (code \(view.dtypeCode)), shape and size \(view.record.payloadByteCount); it was discarded")
        }
        return found!
    }

    /// Records waiting, counted under the lock up to `limit`, like ``count`` but reporting a
    /// corrupt segment instead of answering 0.
    @_spi(Bindings)
    public func countWaiting(limit: Int = .max) throws(ArrayQueueError) -> Int {
        try ring.withLock { () throws(ArrayQueueError) in try ring.countReady(limit: limit) }
    }

    /// Frees a record from ``claimRecord(maximumPayloadBytes:timeout:blocking:)``.
    @_spi(Bindings)
    public func release(_ view: RecordView) {
        ring.release(view.record)
    }

    /// Whether a claimed record's dtype and shape give its payload size (without allocating;
    /// the same check as `get`'s).
    private static func isConsistent(_ record: RecordHeader) -> Bool {
        guard let dtype = DType(rawValue: record.dtypeCode) else { return false }
        let extents = (record.raw + RecordHeader.fixedSize).assumingMemoryBound(to: UInt64.self)
        var bytes = dtype.itemSize
        for axis in 0..<record.dimensionCount {
            guard extents[axis] <= UInt64(Int.max) else { return false }
            let (product, overflow) = bytes.multipliedReportingOverflow(by: Int(extents[axis]))
            guard !overflow else { return false }
            bytes = product
        }
        return bytes == record.payloadByteCount
    }
}
