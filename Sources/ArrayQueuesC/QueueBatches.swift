@_spi(Bindings) import ArrayQueues
public import CArrayQueuesC

// Batches: many records per call, reserved or claimed under one hold of the queue lock
// (docs/C_API.md, "Queues"). Small records cost a fraction of a put or get each.

@c(aq_queue_put_many)
public func aqQueuePutMany(
    _ queue: OpaquePointer?, _ dtype: Int32, _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ data: UnsafeRawPointer?,
    _ nbytes: Int, _ count: Int, _ timeoutNanoseconds: Int64, _ put: UnsafeMutablePointer<Int>?
) -> Int32 {
    put?.pointee = 0
    guard let queue else { return Status.null("queue", in: "aq_queue_put_many") }
    let handle = Handle.get(queue, as: QueueHandle.self)
    do throws(ArrayQueueError) {
        let (dtype, shape, byteCount) = try Arguments.array(dtype, ndim, shape)
        guard nbytes == byteCount else {
            throw ArrayQueueError(.invalidArgument, "nbytes is \(Arguments.unsigned(nbytes)), but a \(dtype) array of shape \(shape) has \(byteCount) bytes")
        }
        guard count >= 0, !byteCount.multipliedReportingOverflow(by: count).overflow else {
            throw ArrayQueueError(.invalidArgument, "count \(Arguments.unsigned(count)) of \(byteCount)-byte arrays is larger than the address space")
        }
        guard data != nil || byteCount == 0 || count == 0 else { throw ArrayQueueError(.invalidArgument, "data is NULL") }
        let (timeout, blocking) = Arguments.timeout(timeoutNanoseconds)
        let done = try handle.queue.putRecords(
            dtype: dtype, shape: shape, count: count, timeout: timeout, blocking: blocking,
            fill: { number, payload in
                if byteCount > 0 { payload.baseAddress!.copyMemory(from: data! + number * byteCount, byteCount: byteCount) }
            },
            published: { put?.pointee = $0 })
        if done == 0 && count > 0 {
            throw ArrayQueueError(.full, "queue '\(handle.queue.name)' has no room for a \(dtype) array of shape \(shape) now")
        }
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_queue_get_many)
public func aqQueueGetMany(
    _ queue: OpaquePointer?, _ buffer: UnsafeMutableRawPointer?, _ capacity: Int, _ infos: UnsafeMutablePointer<aq_record_info>?,
    _ offsets: UnsafeMutablePointer<Int>?, _ maximumRecords: Int, _ count: UnsafeMutablePointer<Int>?, _ timeoutNanoseconds: Int64
) -> Int32 {
    count?.pointee = 0
    guard let queue else { return Status.null("queue", in: "aq_queue_get_many") }
    guard let infos else { return Status.null("infos", in: "aq_queue_get_many") }
    guard let offsets else { return Status.null("offsets", in: "aq_queue_get_many") }
    guard buffer != nil || capacity == 0 else { return Status.null("buffer", in: "aq_queue_get_many") }
    guard capacity >= 0 else { return Status.fail(AQ_EINVALID_ARGUMENT, "aq_queue_get_many: capacity is larger than the address space") }
    guard maximumRecords >= 1 else { return Status.fail(AQ_EINVALID_ARGUMENT, "aq_queue_get_many: max_records must be at least 1") }
    let handle = Handle.get(queue, as: QueueHandle.self)
    var taken = 0
    do throws(ArrayQueueError) {
        let (timeout, blocking) = Arguments.timeout(timeoutNanoseconds)
        let (_, tooLarge) = try handle.queue.takeRecords(
            upTo: maximumRecords, byteBudget: capacity, alignment: 64, timeout: timeout, blocking: blocking
        ) { view, offset in
            let payload = view.payload
            if payload.count > 0 { (buffer! + offset).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
            describe(view, into: infos + taken)
            offsets[taken] = offset
            taken += 1
            count?.pointee = taken
        }
        if let tooLarge {
            describe(tooLarge, into: infos)
            return Status.fail(AQ_EBUFFER_TOO_SMALL, "the next record of queue '\(handle.queue.name)' has \(tooLarge.byteCount) bytes, the buffer holds \(capacity); it stays in the queue")
        }
        guard taken > 0 else { return Status.fail(AQ_EEMPTY, "queue '\(handle.queue.name)' is empty") }
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}
