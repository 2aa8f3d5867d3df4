@_spi(Bindings) import ArrayQueues
public import CArrayQueuesC

// Counts, statistics and facts about a queue.

/// Runs `body` on the queue behind a handle, turning errors into codes.
private func withQueue<T: BinaryInteger>(_ queue: OpaquePointer?, _ function: String, _ body: (ArrayQueue) throws(ArrayQueueError) -> T) -> T {
    guard let queue else { return T(Status.null("queue", in: function)) }
    do throws(ArrayQueueError) {
        return try body(Handle.get(queue, as: QueueHandle.self).queue)
    } catch {
        return T(Status.fail(error))
    }
}

@c(aq_queue_count)
public func aqQueueCount(_ queue: OpaquePointer?) -> Int64 {
    withQueue(queue, "aq_queue_count") { queue throws(ArrayQueueError) in Int64(try queue.countWaiting()) }
}

@c(aq_queue_is_empty)
public func aqQueueIsEmpty(_ queue: OpaquePointer?) -> Int32 {
    withQueue(queue, "aq_queue_is_empty") { queue throws(ArrayQueueError) in try queue.countWaiting(limit: 1) == 0 ? 1 : 0 }
}

@c(aq_queue_clear)
public func aqQueueClear(_ queue: OpaquePointer?) -> Int64 {
    withQueue(queue, "aq_queue_clear") { queue throws(ArrayQueueError) in Int64(try queue.clear()) }
}

@c(aq_queue_recover)
public func aqQueueRecover(_ queue: OpaquePointer?) -> Int32 {
    withQueue(queue, "aq_queue_recover") { queue throws(ArrayQueueError) in try queue.recoverFromDeadPeers() ? 1 : 0 }
}

@c(aq_queue_is_removed)
public func aqQueueIsRemoved(_ queue: OpaquePointer?) -> Int32 {
    withQueue(queue, "aq_queue_is_removed") { queue throws(ArrayQueueError) in queue.isRemoved ? 1 : 0 }
}

/// Checks an output struct's `size` field (see ``Arguments/outputSizeProblem(_:_:)``).
private func checkOutputSize(_ size: Int, _ type: String) throws(ArrayQueueError) {
    if let problem = Arguments.outputSizeProblem(size, type) { throw ArrayQueueError(.invalidArgument, problem) }
}

@c(aq_queue_statistics_get)
public func aqQueueStatisticsGet(_ queue: OpaquePointer?, _ statistics: UnsafeMutablePointer<aq_queue_statistics>?) -> Int32 {
    withQueue(queue, "aq_queue_statistics_get") { queue throws(ArrayQueueError) in
        guard let statistics else { throw ArrayQueueError(.invalidArgument, "statistics is NULL") }
        try checkOutputSize(statistics.pointee.size, "aq_queue_statistics")
        let s = try queue.statistics()
        let out = SizedOutput(statistics, size: statistics.pointee.size)
        out.set(\.capacity, UInt64(s.capacity))
        out.set(\.bytes_used, UInt64(s.bytesUsed))
        out.set(\.count, UInt64(s.count))
        out.set(\.puts, s.puts)
        out.set(\.gets, s.gets)
        out.set(\.drops, s.drops)
        out.set(\.resets, s.resets)
        out.set(\.clears, s.clears)
        out.set(\.abandoned_writes, s.abandonedWrites)
        out.set(\.lost_reads, s.lostReads)
        out.set(\.next_sequence, s.nextSequence)
        return AQ_OK
    }
}

@c(aq_queue_info_get)
public func aqQueueInfoGet(_ queue: OpaquePointer?, _ info: UnsafeMutablePointer<aq_queue_info>?) -> Int32 {
    withQueue(queue, "aq_queue_info_get") { queue throws(ArrayQueueError) in
        guard let info else { throw ArrayQueueError(.invalidArgument, "info is NULL") }
        try checkOutputSize(info.pointee.size, "aq_queue_info")
        let facts = queue.info
        let out = SizedOutput(info, size: info.pointee.size)
        out.set(\.capacity, UInt64(facts.capacity))
        out.set(\.segment_size, UInt64(facts.segmentSize))
        out.set(\.layout_version, Int32(facts.layoutVersion))
        out.set(\.creator_pid, facts.creatorPID)
        out.set(\.created_ns, facts.created.nanosecondsSinceEpoch)
        out.set(\.shape_change, Int32(facts.shapeChange == .reset ? AQ_SHAPE_CHANGE_RESET.rawValue : AQ_SHAPE_CHANGE_KEEP.rawValue))
        out.set(\.reserved, 0)
        return AQ_OK
    }
}

@c(aq_queue_attachments)
public func aqQueueAttachments(_ queue: OpaquePointer?, _ attachments: UnsafeMutablePointer<aq_attachment>?, _ capacity: Int) -> Int64 {
    withQueue(queue, "aq_queue_attachments") { queue throws(ArrayQueueError) in
        guard attachments != nil || capacity == 0 else { throw ArrayQueueError(.invalidArgument, "attachments is NULL") }
        let list = queue.attachments()
        for (slot, entry) in list.prefix(max(capacity, 0)).enumerated() {
            attachments![slot] = aq_attachment(pid: entry.pid, alive: entry.isAlive ? 1 : 0)
        }
        return Int64(list.count)
    }
}

@c(aq_queue_record_size)
public func aqQueueRecordSize(_ dtype: Int32, _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ bytes: UnsafeMutablePointer<UInt64>?) -> Int32 {
    do throws(ArrayQueueError) {
        guard let bytes else { throw ArrayQueueError(.invalidArgument, "bytes is NULL") }
        let (dtype, shape, _) = try Arguments.array(dtype, ndim, shape)
        bytes.pointee = UInt64(try ArrayQueue.recordSize(dtype: dtype, shape: shape))
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_array_nbytes)
public func aqArrayNbytes(_ dtype: Int32, _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ nbytes: UnsafeMutablePointer<Int>?) -> Int32 {
    do throws(ArrayQueueError) {
        guard let nbytes else { throw ArrayQueueError(.invalidArgument, "nbytes is NULL") }
        nbytes.pointee = try Arguments.array(dtype, ndim, shape).2
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_dtype_itemsize)
public func aqDtypeItemsize(_ dtype: Int32) -> Int32 {
    do throws(ArrayQueueError) {
        return Int32(try Arguments.dtype(dtype).itemSize)
    } catch {
        return Status.fail(error)
    }
}

@c(aq_dtype_from_typestr)
public func aqDtypeFromTypestr(_ typestr: UnsafePointer<CChar>?) -> Int32 {
    do throws(ArrayQueueError) {
        return Int32(try DType(typestr: Arguments.string(typestr, "typestr")).rawValue)
    } catch {
        return Status.fail(error)
    }
}
