import ArrayQueues
import ArrayTransport
public import CArrayQueuesC

/// What an `aq_message *` points to: a received event, with the C strings and shapes its
/// accessors lend, made once so that reading a message allocates nothing.
final class MessageHandle {
    let kind: Int32
    let stream: CString
    let epoch: UInt64
    /// Data: the sequence; heartbeat and end: the last data sequence, if any.
    let sequence: UInt64?
    let timestamp: Timestamp
    let index: Int64?
    let meta: CString
    let arrays: [AnyNDArray]
    let names: [CString]
    /// Every array's extents, one after another.
    let extents: UnsafeMutablePointer<Int64>
    let extentOffsets: [Int]

    init(_ event: ReceiveEvent) {
        var arrays: [NamedArray] = []
        switch event {
        case let .message(message):
            kind = Int32(AQ_EVENT_DATA.rawValue)
            stream = CString(message.stream)
            epoch = message.epoch
            sequence = message.sequence
            timestamp = message.timestamp
            index = message.index
            meta = CString(JSONValue.object(message.meta).jsonText)
            arrays = message.arrays
        case let .heartbeat(mark), let .end(mark):
            if case .heartbeat = event { kind = Int32(AQ_EVENT_HEARTBEAT.rawValue) } else { kind = Int32(AQ_EVENT_END.rawValue) }
            stream = CString(mark.stream)
            epoch = mark.epoch
            sequence = mark.lastSequence
            timestamp = mark.timestamp
            index = nil
            meta = CString("{}")
        }
        self.arrays = arrays.map(\.array)
        names = arrays.map { CString($0.name) }
        var offsets: [Int] = []
        var total = 0
        for named in arrays {
            offsets.append(total)
            total += named.array.shape.count
        }
        extentOffsets = offsets
        extents = .allocate(capacity: max(total, 1))
        for (named, offset) in zip(arrays, offsets) {
            for (axis, extent) in named.array.shape.enumerated() { extents[offset + axis] = Int64(extent) }
        }
    }

    deinit {
        extents.deallocate()
    }
}

@c(aq_message_info_get)
public func aqMessageInfoGet(_ message: OpaquePointer?, _ info: UnsafeMutablePointer<aq_message_info>?) -> Int32 {
    guard let message else { return Status.null("message", in: "aq_message_info_get") }
    guard let info else { return Status.null("info", in: "aq_message_info_get") }
    guard info.pointee.size >= MemoryLayout<Int>.size else {
        return Status.fail(AQ_EINVALID_ARGUMENT, "aq_message_info.size is \(info.pointee.size); set it to sizeof(aq_message_info)")
    }
    let m = Handle.get(message, as: MessageHandle.self)
    let out = SizedOutput(info, size: info.pointee.size)
    out.set(\.kind, m.kind)
    out.set(\.has_index, m.index == nil ? 0 : 1)
    out.set(\.stream, UnsafePointer(m.stream.pointer))
    out.set(\.epoch, m.epoch)
    out.set(\.sequence, m.sequence ?? 0)
    out.set(\.has_sequence, m.sequence == nil ? 0 : 1)
    out.set(\.reserved0, 0)
    out.set(\.timestamp_ns, m.timestamp.nanosecondsSinceEpoch)
    out.set(\.index, m.index ?? 0)
    out.set(\.meta_json, UnsafePointer(m.meta.pointer))
    out.set(\.array_count, m.arrays.count)
    return AQ_OK
}

@c(aq_message_array)
public func aqMessageArray(_ message: OpaquePointer?, _ slot: Int, _ array: UnsafeMutablePointer<aq_array>?) -> Int32 {
    guard let message else { return Status.null("message", in: "aq_message_array") }
    guard let array else { return Status.null("array", in: "aq_message_array") }
    let m = Handle.get(message, as: MessageHandle.self)
    guard slot >= 0, slot < m.arrays.count else {
        return Status.fail(AQ_EINVALID_ARGUMENT, "aq_message_array: index \(slot) is out of range; the message has \(m.arrays.count) arrays")
    }
    let value = m.arrays[slot]
    // The storage of an array is a heap block that lives as long as the array, which the
    // message keeps: the address stays valid until the message is freed.
    let data = value.withUnsafeBytes { $0.baseAddress }
    array.pointee = aq_array(
        name: UnsafePointer(m.names[slot].pointer), dtype: Int32(value.dtype.rawValue), ndim: Int32(value.shape.count),
        shape: UnsafePointer(m.extents + m.extentOffsets[slot]), data: data, nbytes: value.byteCount)
    return AQ_OK
}

@c(aq_message_free)
public func aqMessageFree(_ message: OpaquePointer?) {
    guard let message else { return }
    Handle.free(message, as: MessageHandle.self)
}
