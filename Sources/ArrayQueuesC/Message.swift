import ArrayQueues
import ArrayTransport
public import CArrayQueuesC

/// What an `aq_message *` points to: a received event, with the C strings and shapes its
/// accessors lend, made once so that reading a message allocates nothing. Its arrays are owned
/// (`aq_receiver_receive`) or lent by the receiver for one callback (`aq_receiver_receive_lent`).
final class MessageHandle {
    /// Where one array's bytes are.
    struct Payload {
        let dtype: DType
        let data: UnsafeRawPointer?
        let byteCount: Int
    }

    let kind: Int32
    let stream: CString
    let epoch: UInt64
    /// Data: the sequence; heartbeat and end: the last data sequence, if any.
    let sequence: UInt64?
    let timestamp: Timestamp
    let index: Int64?
    let meta: CString
    let payloads: [Payload]
    /// The owned arrays the payloads point into (none for a lent message).
    let owners: [AnyNDArray]
    let names: [CString]
    /// Every array's extents, one after another.
    let extents: UnsafeMutablePointer<Int64>
    let extentOffsets: [Int]
    /// Every array's number of dimensions.
    let dimensions: [Int]

    /// A message whose arrays it owns.
    convenience init(_ event: ReceiveEvent) {
        switch event {
        case let .message(message):
            let arrays = message.arrays.map(\.array)
            self.init(
                data: message, names: message.arrays.map(\.name), shapes: arrays.map(\.shape),
                payloads: arrays.map { array in Payload(dtype: array.dtype, data: array.withUnsafeBytes { $0.baseAddress }, byteCount: array.byteCount) },
                owners: arrays)
        case let .heartbeat(mark):
            self.init(mark: mark, kind: Int32(AQ_EVENT_HEARTBEAT.rawValue))
        case let .end(mark):
            self.init(mark: mark, kind: Int32(AQ_EVENT_END.rawValue))
        }
    }

    /// A message whose arrays are lent (valid while `event` is).
    convenience init(lent event: borrowing BorrowedReceiveEvent) {
        switch event {
        case let .message(message):
            self.init(lent: message)
        case let .heartbeat(mark):
            self.init(mark: mark, kind: Int32(AQ_EVENT_HEARTBEAT.rawValue))
        case let .end(mark):
            self.init(mark: mark, kind: Int32(AQ_EVENT_END.rawValue))
        }
    }

    /// A data message whose arrays are lent (valid while `message` is).
    convenience init(lent message: borrowing BorrowedArrayMessage) {
        let payloads = message.arrays.indices.map { position in
            message.withUnsafeBytes(of: position) { Payload(dtype: message.arrays[position].dtype, data: $0.baseAddress, byteCount: $0.count) }
        }
        let data = ArrayMessage(
            stream: message.stream, arrays: [], timestamp: message.timestamp, index: message.index, meta: message.meta,
            sequence: message.sequence, epoch: message.epoch)
        self.init(data: data, names: message.arrays.map(\.name), shapes: message.arrays.map(\.shape), payloads: payloads, owners: [])
    }

    private init(data message: ArrayMessage, names: [String], shapes: [[Int]], payloads: [Payload], owners: [AnyNDArray]) {
        kind = Int32(AQ_EVENT_DATA.rawValue)
        stream = CString(message.stream)
        epoch = message.epoch
        sequence = message.sequence
        timestamp = message.timestamp
        index = message.index
        meta = CString(JSONValue.object(message.meta).jsonText)
        self.payloads = payloads
        self.owners = owners
        self.names = names.map { CString($0) }
        var offsets: [Int] = []
        var total = 0
        for shape in shapes {
            offsets.append(total)
            total += shape.count
        }
        extentOffsets = offsets
        dimensions = shapes.map(\.count)
        extents = .allocate(capacity: max(total, 1))
        for (shape, offset) in zip(shapes, offsets) {
            for (axis, extent) in shape.enumerated() { extents[offset + axis] = Int64(extent) }
        }
    }

    private init(mark: StreamMark, kind: Int32) {
        self.kind = kind
        stream = CString(mark.stream)
        epoch = mark.epoch
        sequence = mark.lastSequence
        timestamp = mark.timestamp
        index = nil
        meta = CString("{}")
        payloads = []
        owners = []
        names = []
        extentOffsets = []
        dimensions = []
        extents = .allocate(capacity: 1)
    }

    deinit {
        extents.deallocate()
    }
}

@c(aq_message_info_get)
public func aqMessageInfoGet(_ message: OpaquePointer?, _ info: UnsafeMutablePointer<aq_message_info>?) -> Int32 {
    guard let message else { return Status.null("message", in: "aq_message_info_get") }
    guard let info else { return Status.null("info", in: "aq_message_info_get") }
    if let problem = Arguments.outputSizeProblem(info.pointee.size, "aq_message_info") { return Status.fail(AQ_EINVALID_ARGUMENT, problem) }
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
    out.set(\.array_count, m.payloads.count)
    return AQ_OK
}

@c(aq_message_array)
public func aqMessageArray(_ message: OpaquePointer?, _ slot: Int, _ array: UnsafeMutablePointer<aq_array>?) -> Int32 {
    guard let message else { return Status.null("message", in: "aq_message_array") }
    guard let array else { return Status.null("array", in: "aq_message_array") }
    let m = Handle.get(message, as: MessageHandle.self)
    guard slot >= 0, slot < m.payloads.count else {
        return Status.fail(AQ_EINVALID_ARGUMENT, "aq_message_array: index \(Arguments.unsigned(slot)) is out of range; the message has \(m.payloads.count) arrays")
    }
    // An owned array's storage is a heap block that lives as long as the array, which the
    // message keeps: the address stays valid until the message is freed. A lent message's
    // bytes are valid until its callback returns.
    let payload = m.payloads[slot]
    array.pointee = aq_array(
        name: UnsafePointer(m.names[slot].pointer), dtype: Int32(payload.dtype.rawValue), ndim: Int32(m.dimensions[slot]),
        shape: UnsafePointer(m.extents + m.extentOffsets[slot]), data: payload.data, nbytes: payload.byteCount)
    return AQ_OK
}

@c(aq_message_free)
public func aqMessageFree(_ message: OpaquePointer?) {
    guard let message else { return }
    Handle.free(message, as: MessageHandle.self)
}
