@_spi(Bindings) import ArrayQueues
public import CArrayQueuesC

// Puts, loans, gets and borrows: the hot paths. Each does what the Swift API does and no
// more: no Foundation, and no allocation beyond the shape array a reservation takes (gets
// and borrows allocate nothing but the borrow handle).

/// What an `aq_loan *` points to: a reserved record, abandoned if freed uncommitted.
final class LoanHandle {
    let queue: ArrayQueue
    let view: RecordView
    var committed = false

    init(queue: ArrayQueue, view: RecordView) {
        self.queue = queue
        self.view = view
    }

    deinit {
        if !committed { queue.abandon(view) }
    }
}

/// What an `aq_borrow *` points to: a claimed record of a queue, or a record a broadcast
/// subscriber borrowed (`aq_subscriber_borrow`), released when the handle goes away.
final class BorrowHandle {
    let queue: ArrayQueue?
    let view: RecordView?
    /// A subscriber's loan, its description and payload (for `aq_borrow_info` and `aq_borrow_data`).
    private var loan: BroadcastLoan?
    let broadcastInfo: aq_record_info
    let broadcastData: UnsafeRawPointer?

    init(queue: ArrayQueue, view: RecordView) {
        self.queue = queue
        self.view = view
        self.broadcastInfo = aq_record_info()
        self.broadcastData = nil
    }

    init(loan: consuming BroadcastLoan) {
        var info = aq_record_info()
        describe(loan.record, into: &info)
        self.broadcastInfo = info
        self.broadcastData = loan.record.bytes.baseAddress
        self.queue = nil
        self.view = nil
        self.loan = consume loan
    }

    deinit {
        if let queue, let view { queue.release(view) }
        // A subscriber's loan is given back when `loan` goes away.
    }
}

/// The timestamp and index that `AQ_PUT_*` flags select.
private func stamp(_ flags: Int32, _ timestampNanoseconds: Int64, _ index: Int64) throws(ArrayQueueError) -> (Timestamp?, Int64?) {
    guard flags & ~(AQ_PUT_TIMESTAMP | AQ_PUT_INDEX) == 0 else {
        throw ArrayQueueError(.invalidArgument, "unknown flags 0x\(String(flags, radix: 16)): expected AQ_PUT_TIMESTAMP and AQ_PUT_INDEX")
    }
    return (flags & AQ_PUT_TIMESTAMP != 0 ? Timestamp(nanosecondsSinceEpoch: timestampNanoseconds) : nil, flags & AQ_PUT_INDEX != 0 ? index : nil)
}

/// What the arguments of `aq_queue_put` and `aq_queue_loan` ask for: the record's timestamp and
/// index (`AQ_PUT_*` flags), and how long to wait for room.
private struct PutArguments {
    let timestamp: Timestamp?
    let index: Int64?
    let timeout: Duration?
    let blocking: Bool

    init(_ timeoutNanoseconds: Int64, _ flags: Int32, _ timestamp: Int64, _ index: Int64) throws(ArrayQueueError) {
        (self.timestamp, self.index) = try stamp(flags, timestamp, index)
        (timeout, blocking) = Arguments.timeout(timeoutNanoseconds)
    }
}

/// Reserves a record as `aq_queue_put` and `aq_queue_loan` do; nil when there is no room
/// and the call must not wait.
private func reserve(_ queue: ArrayQueue, _ dtype: DType, _ shape: [Int], _ put: PutArguments) throws(ArrayQueueError) -> RecordView {
    guard let view = try queue.reserveRecord(
        dtype: dtype, shape: shape, timestamp: put.timestamp, index: put.index, timeout: put.timeout, blocking: put.blocking
    ) else {
        throw noRoom(queue, dtype, shape)
    }
    return view
}

/// The error of a call that must not wait and finds no room.
private func noRoom(_ queue: ArrayQueue, _ dtype: DType, _ shape: [Int]) -> ArrayQueueError {
    ArrayQueueError(.full, "queue '\(queue.name)' has no room for a \(dtype) array of shape \(shape) now")
}

@c(aq_queue_put)
public func aqQueuePut(
    _ queue: OpaquePointer?, _ dtype: Int32, _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ data: UnsafeRawPointer?,
    _ nbytes: Int, _ timeoutNanoseconds: Int64, _ flags: Int32, _ timestamp: Int64, _ index: Int64
) -> Int32 {
    guard let queue else { return Status.null("queue", in: "aq_queue_put") }
    let handle = Handle.get(queue, as: QueueHandle.self)
    do throws(ArrayQueueError) {
        let (dtype, shape, byteCount) = try Arguments.array(dtype, ndim, shape)
        guard nbytes == byteCount else {
            throw ArrayQueueError(.invalidArgument, "nbytes is \(Arguments.unsigned(nbytes)), but a \(dtype) array of shape \(shape) has \(byteCount) bytes")
        }
        guard data != nil || byteCount == 0 else { throw ArrayQueueError(.invalidArgument, "data is NULL") }
        let put = try PutArguments(timeoutNanoseconds, flags, timestamp, index)
        guard byteCount < AQ_COPY_STREAMING_BYTES else {
            // aq_copy()'s streaming stores: the queue's own copy would be memcpy's.
            let view = try reserve(handle.queue, dtype, shape, put)
            aq_copy(view.payload.baseAddress, data, byteCount)
            try handle.queue.commit(view)
            return AQ_OK
        }
        let bytes = UnsafeRawBufferPointer(start: data, count: byteCount)
        guard try handle.queue.putCopy(
            dtype: dtype, shape: shape, bytes: bytes, timestamp: put.timestamp, index: put.index, blocking: put.blocking, timeout: put.timeout
        ) else {
            throw noRoom(handle.queue, dtype, shape)
        }
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_queue_loan)
public func aqQueueLoan(
    _ queue: OpaquePointer?, _ dtype: Int32, _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ timeoutNanoseconds: Int64,
    _ flags: Int32, _ timestamp: Int64, _ index: Int64, _ data: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ nbytes: UnsafeMutablePointer<Int>?, _ loan: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    guard let loan else { return Status.null("loan", in: "aq_queue_loan") }
    loan.pointee = nil
    guard let queue else { return Status.null("queue", in: "aq_queue_loan") }
    let handle = Handle.get(queue, as: QueueHandle.self)
    do throws(ArrayQueueError) {
        let (dtype, shape, _) = try Arguments.array(dtype, ndim, shape)
        let view = try reserve(handle.queue, dtype, shape, try PutArguments(timeoutNanoseconds, flags, timestamp, index))
        data?.pointee = view.payload.baseAddress
        nbytes?.pointee = view.payload.count
        loan.pointee = Handle.make(LoanHandle(queue: handle.queue, view: view))
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_loan_data)
public func aqLoanData(_ loan: OpaquePointer?) -> UnsafeMutableRawPointer? {
    guard let loan else { return nil }
    return Handle.get(loan, as: LoanHandle.self).view.payload.baseAddress
}

@c(aq_loan_nbytes)
public func aqLoanNbytes(_ loan: OpaquePointer?) -> Int {
    guard let loan else { return 0 }
    return Handle.get(loan, as: LoanHandle.self).view.payload.count
}

@c(aq_loan_commit)
public func aqLoanCommit(_ loan: OpaquePointer?) -> Int32 {
    guard let loan else { return Status.null("loan", in: "aq_loan_commit") }
    let handle = Handle.get(loan, as: LoanHandle.self)
    // Marked first: a commit that fails leaves nothing to abandon (the record is not ours).
    handle.committed = true
    defer { Handle.free(loan, as: LoanHandle.self) }
    do throws(ArrayQueueError) {
        try handle.queue.commit(handle.view)
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_loan_abort)
public func aqLoanAbort(_ loan: OpaquePointer?) {
    guard let loan else { return }
    Handle.free(loan, as: LoanHandle.self)
}

/// Fills a C record description from a claimed record, without allocating.
func describe(_ view: RecordView, into info: UnsafeMutablePointer<aq_record_info>) {
    info.pointee.dtype = Int32(view.dtypeCode)
    info.pointee.ndim = Int32(view.dimensionCount)
    withUnsafeMutableBytes(of: &info.pointee.shape) { extents in
        for axis in 0..<view.dimensionCount { extents.storeBytes(of: Int64(view.extent(axis)), toByteOffset: axis * 8, as: Int64.self) }
    }
    fill(info, nbytes: view.payload.count, sequence: view.sequence, timestamp: view.timestamp, index: view.index, isEnvelope: view.isEnvelope)
}

/// Fills a C record description from metadata copied out of the ring.
func describe(_ metadata: RecordMetadata, into info: UnsafeMutablePointer<aq_record_info>) {
    info.pointee.dtype = Int32(metadata.dtypeCode)
    info.pointee.ndim = Int32(metadata.shape.count)
    withUnsafeMutableBytes(of: &info.pointee.shape) { extents in
        for (axis, extent) in metadata.shape.enumerated() { extents.storeBytes(of: Int64(extent), toByteOffset: axis * 8, as: Int64.self) }
    }
    fill(info, nbytes: metadata.byteCount, sequence: metadata.sequence, timestamp: metadata.timestamp, index: metadata.index, isEnvelope: metadata.isEnvelope)
}

private func fill(_ info: UnsafeMutablePointer<aq_record_info>, nbytes: Int, sequence: UInt64, timestamp: Timestamp, index: Int64?, isEnvelope: Bool) {
    info.pointee.nbytes = UInt64(nbytes)
    info.pointee.sequence = sequence
    info.pointee.timestamp_ns = timestamp.nanosecondsSinceEpoch
    info.pointee.index = index ?? 0
    info.pointee.has_index = index == nil ? 0 : 1
    info.pointee.is_envelope = isEnvelope ? 1 : 0
    info.pointee.reserved = (0, 0, 0, 0)
}

/// Claims the oldest record of at most `limit` payload bytes, as `aq_queue_get` and
/// `aq_queue_borrow` do.
private func claim(_ queue: ArrayQueue, limit: Int, _ timeoutNanoseconds: Int64) throws(ArrayQueueError) -> ClaimResult {
    let (timeout, blocking) = Arguments.timeout(timeoutNanoseconds)
    let result = try queue.claimRecord(maximumPayloadBytes: limit, timeout: timeout, blocking: blocking)
    if case .empty = result { throw ArrayQueueError(.empty, "queue '\(queue.name)' is empty") }
    return result
}

@c(aq_queue_get)
public func aqQueueGet(
    _ queue: OpaquePointer?, _ buffer: UnsafeMutableRawPointer?, _ capacity: Int, _ info: UnsafeMutablePointer<aq_record_info>?,
    _ timeoutNanoseconds: Int64
) -> Int32 {
    guard let queue else { return Status.null("queue", in: "aq_queue_get") }
    guard let info else { return Status.null("info", in: "aq_queue_get") }
    guard buffer != nil || capacity == 0 else { return Status.null("buffer", in: "aq_queue_get") }
    guard capacity >= 0 else { return Status.fail(AQ_EINVALID_ARGUMENT, "aq_queue_get: capacity is larger than the address space") }
    let handle = Handle.get(queue, as: QueueHandle.self)
    do throws(ArrayQueueError) {
        switch try claim(handle.queue, limit: capacity, timeoutNanoseconds) {
        case let .claimed(view):
            let payload = view.payload
            aq_copy(buffer, payload.baseAddress, payload.count)
            describe(view, into: info)
            handle.queue.release(view)
            return AQ_OK
        case let .tooLarge(metadata):
            describe(metadata, into: info)
            return Status.fail(AQ_EBUFFER_TOO_SMALL, "the next record of queue '\(handle.queue.name)' has \(metadata.byteCount) bytes, the buffer holds \(capacity); it stays in the queue")
        case .empty:
            return Status.fail(AQ_EEMPTY, "queue '\(handle.queue.name)' is empty")
        }
    } catch {
        return Status.fail(error)
    }
}

@c(aq_queue_borrow)
public func aqQueueBorrow(
    _ queue: OpaquePointer?, _ timeoutNanoseconds: Int64, _ info: UnsafeMutablePointer<aq_record_info>?,
    _ data: UnsafeMutablePointer<UnsafeRawPointer?>?, _ borrow: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    guard let borrow else { return Status.null("borrow", in: "aq_queue_borrow") }
    borrow.pointee = nil
    guard let queue else { return Status.null("queue", in: "aq_queue_borrow") }
    let handle = Handle.get(queue, as: QueueHandle.self)
    do throws(ArrayQueueError) {
        guard case let .claimed(view) = try claim(handle.queue, limit: .max, timeoutNanoseconds) else {
            return Status.fail(AQ_EEMPTY, "queue '\(handle.queue.name)' is empty")
        }
        if let info { describe(view, into: info) }
        data?.pointee = UnsafeRawPointer(view.payload.baseAddress)
        borrow.pointee = Handle.make(BorrowHandle(queue: handle.queue, view: view))
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_borrow_data)
public func aqBorrowData(_ borrow: OpaquePointer?) -> UnsafeRawPointer? {
    guard let borrow else { return nil }
    let handle = Handle.get(borrow, as: BorrowHandle.self)
    guard let view = handle.view else { return handle.broadcastData }
    return UnsafeRawPointer(view.payload.baseAddress)
}

@c(aq_borrow_info)
public func aqBorrowInfo(_ borrow: OpaquePointer?, _ info: UnsafeMutablePointer<aq_record_info>?) -> Int32 {
    guard let borrow else { return Status.null("borrow", in: "aq_borrow_info") }
    guard let info else { return Status.null("info", in: "aq_borrow_info") }
    let handle = Handle.get(borrow, as: BorrowHandle.self)
    if let view = handle.view { describe(view, into: info) } else { info.pointee = handle.broadcastInfo }
    return AQ_OK
}

@c(aq_borrow_release)
public func aqBorrowRelease(_ borrow: OpaquePointer?) {
    guard let borrow else { return }
    Handle.free(borrow, as: BorrowHandle.self)
}
