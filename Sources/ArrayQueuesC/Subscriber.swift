@_spi(Bindings) import ArrayQueues
public import CArrayQueuesC

// Subscribers of broadcast queues (docs/C_API.md, "Broadcast queues"): the protocol is
// `BroadcastSubscriber`'s; this file only turns its loans into copies and borrow handles.

/// What an `aq_subscriber *` points to. Used by one thread at a time (as the header says):
/// `pending` holds the record a `get` found too large for the caller's buffer, so that the
/// next `get` or `borrow` returns it instead of skipping it.
final class SubscriberHandle {
    let subscriber: BroadcastSubscriber
    var pending: BroadcastLoan?

    init(_ subscriber: BroadcastSubscriber) {
        self.subscriber = subscriber
    }

    /// The pending record, or the next one, waiting as a C timeout says.
    func next(_ timeoutNanoseconds: Int64) throws(ArrayQueueError) -> BroadcastLoan {
        if let loan = pending.take() { return loan }
        let (timeout, blocking) = Arguments.timeout(timeoutNanoseconds)
        if blocking { return try subscriber.borrow(timeout: timeout) }
        guard let loan = try subscriber.tryBorrow() else {
            throw ArrayQueueError(.empty, "subscriber \(subscriber.slot) of broadcast queue '\(subscriber.queue.name)' has read every record")
        }
        return loan
    }
}

/// Fills a C record description from a record a subscriber borrowed.
func describe(_ record: borrowing BorrowedRecord, into info: UnsafeMutablePointer<aq_record_info>) {
    info.pointee.dtype = Int32(record.dtype.rawValue)
    let shape = record.extents
    info.pointee.ndim = Int32(shape.count)
    withUnsafeMutableBytes(of: &info.pointee.shape) { extents in
        for axis in 0..<shape.count { extents.storeBytes(of: Int64(shape[axis]), toByteOffset: axis * 8, as: Int64.self) }
    }
    info.pointee.nbytes = UInt64(record.bytes.count)
    info.pointee.sequence = record.sequence
    info.pointee.timestamp_ns = record.timestamp.nanosecondsSinceEpoch
    info.pointee.index = record.index ?? 0
    info.pointee.has_index = record.index == nil ? 0 : 1
    info.pointee.is_envelope = record.isEnvelope ? 1 : 0
    info.pointee.reserved = (0, 0, 0, 0)
}

private func policy(_ value: Int32) throws(ArrayQueueError) -> SubscriberPolicy {
    switch value {
    case Int32(AQ_SUBSCRIBER_BLOCK.rawValue): return .block
    case Int32(AQ_SUBSCRIBER_DROP.rawValue): return .drop
    default: throw ArrayQueueError(.invalidArgument, "unknown subscriber policy \(value): expected AQ_SUBSCRIBER_BLOCK or AQ_SUBSCRIBER_DROP")
    }
}

private func start(_ value: Int32) throws(ArrayQueueError) -> SubscriberStart {
    switch value {
    case Int32(AQ_START_NEWEST.rawValue): return .newest
    case Int32(AQ_START_OLDEST.rawValue): return .oldest
    case Int32(AQ_START_NEXT.rawValue): return .next
    default: throw ArrayQueueError(.invalidArgument, "unknown subscriber start \(value): expected AQ_START_NEWEST, AQ_START_OLDEST or AQ_START_NEXT")
    }
}

@c(aq_queue_subscribe)
public func aqQueueSubscribe(
    _ queue: OpaquePointer?, _ policyCode: Int32, _ startCode: Int32, _ subscriber: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    guard let subscriber else { return Status.null("subscriber", in: "aq_queue_subscribe") }
    subscriber.pointee = nil
    guard let queue else { return Status.null("queue", in: "aq_queue_subscribe") }
    do throws(ArrayQueueError) {
        let made = try Handle.get(queue, as: QueueHandle.self).queue.subscribe(policy: policy(policyCode), start: start(startCode))
        subscriber.pointee = Handle.make(SubscriberHandle(made))
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_subscriber_get)
public func aqSubscriberGet(
    _ subscriber: OpaquePointer?, _ buffer: UnsafeMutableRawPointer?, _ capacity: Int, _ info: UnsafeMutablePointer<aq_record_info>?,
    _ timeoutNanoseconds: Int64
) -> Int32 {
    guard let subscriber else { return Status.null("subscriber", in: "aq_subscriber_get") }
    guard let info else { return Status.null("info", in: "aq_subscriber_get") }
    guard buffer != nil || capacity == 0 else { return Status.null("buffer", in: "aq_subscriber_get") }
    guard capacity >= 0 else { return Status.fail(AQ_EINVALID_ARGUMENT, "aq_subscriber_get: capacity is larger than the address space") }
    let handle = Handle.get(subscriber, as: SubscriberHandle.self)
    do throws(ArrayQueueError) {
        let loan = try handle.next(timeoutNanoseconds)
        describe(loan.record, into: info)
        let payload = loan.record.bytes
        guard payload.count <= capacity else {
            handle.pending = consume loan
            return Status.fail(AQ_EBUFFER_TOO_SMALL, "the next record of subscriber \(handle.subscriber.slot) has \(payload.count) bytes, the buffer holds \(capacity); the subscriber keeps it for the next call")
        }
        aq_copy(buffer, payload.baseAddress, payload.count)
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_subscriber_borrow)
public func aqSubscriberBorrow(
    _ subscriber: OpaquePointer?, _ timeoutNanoseconds: Int64, _ info: UnsafeMutablePointer<aq_record_info>?,
    _ data: UnsafeMutablePointer<UnsafeRawPointer?>?, _ borrow: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    guard let borrow else { return Status.null("borrow", in: "aq_subscriber_borrow") }
    borrow.pointee = nil
    guard let subscriber else { return Status.null("subscriber", in: "aq_subscriber_borrow") }
    let handle = Handle.get(subscriber, as: SubscriberHandle.self)
    do throws(ArrayQueueError) {
        let made = BorrowHandle(loan: try handle.next(timeoutNanoseconds))
        if let info { info.pointee = made.broadcastInfo }
        data?.pointee = made.broadcastData
        borrow.pointee = Handle.make(made)
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_subscriber_lost)
public func aqSubscriberLost(_ subscriber: OpaquePointer?) -> Int64 {
    guard let subscriber else { return Int64(Status.null("subscriber", in: "aq_subscriber_lost")) }
    return Int64(clamping: Handle.get(subscriber, as: SubscriberHandle.self).subscriber.lost)
}

@c(aq_subscriber_delivered)
public func aqSubscriberDelivered(_ subscriber: OpaquePointer?) -> Int64 {
    guard let subscriber else { return Int64(Status.null("subscriber", in: "aq_subscriber_delivered")) }
    return Int64(clamping: Handle.get(subscriber, as: SubscriberHandle.self).subscriber.delivered)
}

@c(aq_subscriber_close)
public func aqSubscriberClose(_ subscriber: OpaquePointer?) {
    guard let subscriber else { return }
    let handle = Handle.get(subscriber, as: SubscriberHandle.self)
    _ = handle.pending.take()
    // Borrows keep the subscriber object alive; the slot is given up once they are released.
    handle.subscriber.detach()
    Handle.free(subscriber, as: SubscriberHandle.self)
}
