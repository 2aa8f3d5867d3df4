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
    /// Located once, from the producer's request or when the record was claimed and checked:
    /// never from a second load of a header that another process could change meanwhile.
    public let payload: UnsafeMutableRawBufferPointer
    /// The pid a reserved record was reserved for (0 for a claimed one).
    let writer: UInt32
    /// The element type's code (a ``DType`` raw value; checked when the record was claimed).
    public var dtypeCode: UInt8 { dtype.rawValue }
    /// The element type, as reserved or as checked when the record was claimed.
    let dtype: DType
    /// The shape, copied out when the record was reserved or claimed (and checked against the payload then).
    let extents: InlineShape
    /// The number of dimensions (at most ``Shape/maxDimensions``).
    public var dimensionCount: Int { extents.count }
    /// The extent of dimension `axis` (`0 ..< dimensionCount`), read without allocating.
    public func extent(_ axis: Int) -> Int { extents[axis] }
    /// When the record was made.
    public var timestamp: Timestamp { Timestamp(nanosecondsSinceEpoch: record.timestampNanoseconds) }
    /// The producer's frame number, if it gave one.
    public var index: Int64? { record.index }
    /// Whether the record is an ArrayTransport envelope.
    public var isEnvelope: Bool { record.isEnvelope }

    /// The metadata as an owned value.
    public var metadata: RecordMetadata {
        RecordMetadata(
            dtypeCode: dtypeCode, shape: Array(extents), byteCount: payload.count, sequence: sequence,
            timestamp: timestamp, index: index, isEnvelope: isEnvelope)
    }
}

extension RecordMetadata {
    /// The metadata of a record left in the queue (read under the lock, while no producer can
    /// reuse its room).
    init(unclaimed record: RecordHeader) {
        self.init(
            dtypeCode: record.dtypeCode, shape: record.shape, byteCount: max(record.payloadByteCount, 0), sequence: record.sequence,
            timestamp: Timestamp(nanosecondsSinceEpoch: record.timestampNanoseconds), index: record.index, isEnvelope: record.isEnvelope)
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
        return RecordView(
            record: reservation.record, sequence: reservation.sequence, payload: reservation.payload, writer: reservation.writer,
            dtype: dtype, extents: InlineShape(shape))
    }

    /// Publishes a record from ``reserveRecord(dtype:shape:timestamp:index:timeout:blocking:)``.
    @_spi(Bindings)
    public func commit(_ view: RecordView) throws(ArrayQueueError) {
        try ring.commit(Ring.Reservation(record: view.record, sequence: view.sequence, payload: view.payload, writer: view.writer))
    }

    /// Discards a reserved record unpublished.
    @_spi(Bindings)
    public func abandon(_ view: RecordView) {
        ring.abandon(Ring.Reservation(record: view.record, sequence: view.sequence, payload: view.payload, writer: view.writer))
    }

    /// Claims the oldest record if its payload is at most `maximumPayloadBytes`; a larger one
    /// is left in the queue (unclaimed, so no consumer can miss it) and its metadata, copied
    /// while the lock kept producers from reusing its room, returned. Waits while the queue is empty when `blocking`, up to
    /// `timeout` (nil: no limit). A claimed record must be ``release(_:)``d exactly once.
    ///
    /// - Throws: ``ArrayQueueError/Code/timeout``, ``ArrayQueueError/Code/corruptSegment``
    ///   (also for a record whose dtype, shape and size disagree; it is freed).
    @_spi(Bindings)
    public func claimRecord(maximumPayloadBytes: Int, timeout: Duration?, blocking: Bool) throws(ArrayQueueError) -> ClaimResult {
        try refuseConsumerOfBroadcast()
        var deadline = try Deadline(after: timeout)
        let me = ProcessIdentity.current
        var probe = Ring.ArrivalProbe()
        // A local function rather than a closure value: its context stays on the stack, so a
        // get that finds a record allocates nothing. `deadline` is fixed if the lock keeps it waiting.
        func attempt(_ probe: inout Ring.ArrivalProbe, _ deadline: inout Deadline) throws(ArrayQueueError) -> ClaimResult? {
            var tooLarge: ClaimResult?
            if let record = try claimOldest(
                expecting: nil, maximumPayloadBytes: maximumPayloadBytes, owner: me, deadline: &deadline, probe: &probe,
                tooLarge: { tooLarge = .tooLarge(RecordMetadata(unclaimed: $0)) }) {
                guard let (dtype, extents, payload) = ring.claimedLayout(of: record), payload.count <= maximumPayloadBytes else {
                    ring.release(record)
                    throw inconsistent(record, shape: record.shape)
                }
                return .claimed(RecordView(record: record, sequence: record.sequence, payload: payload, writer: 0, dtype: dtype, extents: extents))
            }
            // Left in the queue; its metadata was copied under the lock, while no producer could reuse its room.
            return tooLarge
        }
        if let found = try attempt(&probe, &deadline) { return found }
        guard blocking else { return .empty }
        return try waitForRecord(probe: &probe, deadline: &deadline, cancellation: nil, describe: { "get from queue '\(name)' (empty)" }, attempt)
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
}

extension ArrayQueue {
    /// Puts `count` records of one `dtype` and `shape` (the call's time, no index), reserving
    /// as many as there is room for under one hold of the lock and letting `fill` write record
    /// `number`'s payload in place before publishing it; `published` hears how many are in the
    /// queue after each (also before an error is thrown). Blocking and `timeout` as
    /// ``reserveRecord(dtype:shape:timestamp:index:timeout:blocking:)``, the timeout bounding
    /// the whole call. Returns how many were put (fewer than `count` only when not `blocking`).
    @_spi(Bindings)
    public func putRecords(
        dtype: DType, shape: [Int], count: Int, timeout: Duration?, blocking: Bool,
        fill: (_ number: Int, _ payload: UnsafeMutableRawBufferPointer) -> Void, published: (Int) -> Void = { _ in }
    ) throws(ArrayQueueError) -> Int {
        guard count >= 0 else { throw ArrayQueueError(.invalidArgument, "cannot put \(count) records") }
        return try withRequest(dtype: dtype, shape: shape, timestamp: .now(), index: nil) { (request) throws(ArrayQueueError) in
            try putMany(count: count, blocking: blocking, deadline: try Deadline(after: timeout), request: { _ in request }, fill: fill, published: published)
        }
    }

    /// Takes up to `maximumCount` records whose payloads fit, one after the other, in
    /// `byteBudget` bytes when each starts at a multiple of `alignment`: waits for the first as
    /// ``claimRecord(maximumPayloadBytes:timeout:blocking:)`` does, then claims what else is
    /// waiting: in runs at `read` without the lock while the records there are ready, or in
    /// one walk under the lock otherwise. `body` reads each claimed record and the offset it
    /// goes to; the record is released after it. A record that does not fit stays in the
    /// queue; if it is the first, its metadata is returned in `tooLarge`.
    ///
    /// - Throws: as `claimRecord`, after lending the records claimed before the error.
    @_spi(Bindings)
    public func takeRecords(
        upTo maximumCount: Int, byteBudget: Int, alignment: Int, timeout: Duration?, blocking: Bool,
        _ body: (_ record: RecordView, _ offset: Int) -> Void
    ) throws(ArrayQueueError) -> (count: Int, tooLarge: RecordMetadata?) {
        guard maximumCount >= 1, byteBudget >= 0, alignment >= 1, alignment & (alignment - 1) == 0 else {
            throw ArrayQueueError(.invalidArgument, "a batch needs room for at least one record and a power-of-two alignment")
        }
        let first: RecordView
        switch try claimRecord(maximumPayloadBytes: byteBudget, timeout: timeout, blocking: blocking) {
        case let .claimed(view): first = view
        case let .tooLarge(metadata): return (0, metadata)
        case .empty: return (0, nil)
        }
        body(first, 0)
        release(first)
        var count = 1
        // No overflow: payloads fit in byteBudget (below Int.max / 2), and alignUp adds less than `alignment`.
        let byteBudget = Swift.min(byteBudget, Int.max / 2)
        var used = alignUp(first.payload.count, to: alignment)
        var claimed: [RecordHeader] = []
        var failure: ArrayQueueError?
        while count < maximumCount && used <= byteBudget && failure == nil {
            // Looked up for each round: `body` may have forked, and a child claims as itself.
            let me = ProcessIdentity.current
            var offsets: [Int] = []
            // Each record's layout read once and checked right after its claim; nil: corrupt (freed, reported).
            var layouts: [(dtype: DType, extents: InlineShape, payload: UnsafeMutableRawBufferPointer)?] = []
            /// Whether the batch has room for one more record.
            func wantsMore() -> Bool { count + claimed.count < maximumCount && claimed.count < Self.batchLimit && used <= byteBudget }
            func add(_ record: RecordHeader) {
                let layout = ring.claimedLayout(of: record).flatMap { $0.payload.count <= byteBudget - used ? $0 : nil }
                claimed.append(record)
                offsets.append(used)
                layouts.append(layout)
                used = alignUp(used + (layout?.payload.count ?? 0), to: alignment)
            }
            var probe = Ring.ArrivalProbe()
            do {
                // Runs of the records at `read` while they are READY there, without the lock; the walk under it for the rest.
                var quick = Ring.QuickClaim.empty
                while wantsMore() {
                    let room = Swift.min(maximumCount - count, Self.batchLimit) - claimed.count
                    quick = try ring.claimRunWithoutLock(
                        upTo: room, owner: me, probe: &probe, accepts: { $0.payloadByteCount <= byteBudget - used }, add)
                    guard case .claimed = quick else { break }
                }
                if claimed.isEmpty, case .needsLock = quick {
                    try ring.withLock { () throws(ArrayQueueError) in
                        var tooLarge: RecordHeader?
                        while wantsMore(), let record = try ring.claim(
                            expecting: nil, maximumPayloadBytes: byteBudget - used, owner: me, tooLarge: &tooLarge, probe: &probe) {
                            add(record)
                        }
                    }
                }
            } catch {
                failure = error
            }
            if claimed.isEmpty { break }
            // Each record is freed as soon as `body` has it; producers are notified once per batch.
            var number = 0
            ring.release(claimed) { record in
                if let (dtype, extents, payload) = layouts[number] {
                    body(RecordView(record: record, sequence: record.sequence, payload: payload, writer: 0, dtype: dtype, extents: extents), offsets[number])
                    count += 1
                } else {
                    failure = failure ?? inconsistent(record, shape: record.shape)
                }
                number += 1
            }
            claimed.removeAll(keepingCapacity: true)
        }
        if let failure { throw failure }
        return (count, nil)
    }
}
