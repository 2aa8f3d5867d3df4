import ArrayQueues
public import CArrayQueuesC

/// What an `aq_queue *` points to: the queue and its name as a C string.
final class QueueHandle {
    let queue: ArrayQueue
    let name: CString

    init(_ queue: ArrayQueue) {
        self.queue = queue
        self.name = CString(queue.name)
    }
}

/// The settings of an `aq_queue_options`, checked.
struct QueueSettings {
    var options = QueueOptions()
    var creating = CreateOptions()

    init(_ pointer: UnsafePointer<aq_queue_options>?) throws(ArrayQueueError) {
        guard let pointer else { return }
        let c = try VersionedStruct.read(pointer, of: "aq_queue_options", minimum: queueOptionsSizeV1, defaults: queueDefaults())
        switch c.overflow {
        case Int32(AQ_OVERFLOW_BLOCK.rawValue): options.overflow = .block
        case Int32(AQ_OVERFLOW_FAIL.rawValue): options.overflow = .fail
        case Int32(AQ_OVERFLOW_DROP_OLDEST.rawValue): options.overflow = .dropOldest
        default: throw ArrayQueueError(.invalidArgument, "unknown overflow policy \(c.overflow): expected AQ_OVERFLOW_BLOCK, AQ_OVERFLOW_FAIL or AQ_OVERFLOW_DROP_OLDEST")
        }
        switch c.shape_change {
        case Int32(AQ_SHAPE_CHANGE_KEEP.rawValue): creating.shapeChange = .keep
        case Int32(AQ_SHAPE_CHANGE_RESET.rawValue): creating.shapeChange = .reset
        default: throw ArrayQueueError(.invalidArgument, "unknown shape-change policy \(c.shape_change): expected AQ_SHAPE_CHANGE_KEEP or AQ_SHAPE_CHANGE_RESET")
        }
        guard c.spin_ns >= 0 else { throw ArrayQueueError(.invalidArgument, "spin_ns \(c.spin_ns) is negative") }
        options.spin = .nanoseconds(c.spin_ns)
        creating.mode = c.mode
        options.allowOtherOwner = c.allow_other_owner != 0
        creating.broadcast = c.broadcast != 0
    }
}

/// The defaults of every field of `aq_queue_options`.
private func queueDefaults() -> aq_queue_options {
    let defaults = QueueOptions(), creating = CreateOptions()
    return aq_queue_options(
        size: MemoryLayout<aq_queue_options>.size, overflow: Int32(AQ_OVERFLOW_BLOCK.rawValue),
        shape_change: Int32(AQ_SHAPE_CHANGE_KEEP.rawValue),
        spin_ns: defaults.spinNanoseconds, mode: creating.mode,
        allow_other_owner: defaults.allowOtherOwner ? 1 : 0, broadcast: creating.broadcast ? 1 : 0, reserved: 0)
}

/// The size of version 1 of `aq_queue_options`: the offset of `broadcast`, which version 2 added.
let queueOptionsSizeV1 = MemoryLayout<aq_queue_options>.offset(of: \aq_queue_options.broadcast)!

@c(aq_queue_options_init_sized)
public func aqQueueOptionsInitSized(_ options: UnsafeMutablePointer<aq_queue_options>?, _ size: Int) {
    guard let options else { return }
    VersionedStruct.initialize(options, size: size, with: queueDefaults())
}

/// The function programs built against version 1 of the header call (the header's macro of
/// the same name calls `aq_queue_options_init_sized`): their struct ends before `broadcast`.
@c(aq_queue_options_init)
public func aqQueueOptionsInit(_ options: UnsafeMutablePointer<aq_queue_options>?) {
    aqQueueOptionsInitSized(options, queueOptionsSizeV1)
}

/// Opens a queue the way `open` says and hands out a handle; the shared body of create/open.
private func openQueue(
    _ function: String, _ name: UnsafePointer<CChar>?, _ options: UnsafePointer<aq_queue_options>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?, _ open: (String, QueueSettings) throws(ArrayQueueError) -> ArrayQueue
) -> Int32 {
    guard let out else { return Status.null("queue", in: function) }
    out.pointee = nil
    do throws(ArrayQueueError) {
        let name = try Arguments.string(name, "name")
        let queue = try open(name, try QueueSettings(options))
        out.pointee = Handle.make(QueueHandle(queue))
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

/// A capacity from C, checked against `Int` (the queue checks the range).
private func checkedCapacity(_ value: UInt64) throws(ArrayQueueError) -> Int {
    guard let capacity = Int(exactly: value) else {
        throw ArrayQueueError(.invalidArgument, "capacity \(value) bytes is out of range")
    }
    return capacity
}

@c(aq_queue_create)
public func aqQueueCreate(
    _ name: UnsafePointer<CChar>?, _ capacity: UInt64, _ options: UnsafePointer<aq_queue_options>?,
    _ queue: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    openQueue("aq_queue_create", name, options, queue) { (name, settings) throws(ArrayQueueError) in
        try ArrayQueue.create(name: name, capacity: checkedCapacity(capacity), creating: settings.creating, options: settings.options)
    }
}

@c(aq_queue_open)
public func aqQueueOpen(
    _ name: UnsafePointer<CChar>?, _ options: UnsafePointer<aq_queue_options>?, _ queue: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    openQueue("aq_queue_open", name, options, queue) { (name, settings) throws(ArrayQueueError) in
        try ArrayQueue.open(name: name, options: settings.options)
    }
}

@c(aq_queue_open_or_create)
public func aqQueueOpenOrCreate(
    _ name: UnsafePointer<CChar>?, _ capacity: UInt64, _ options: UnsafePointer<aq_queue_options>?,
    _ queue: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    openQueue("aq_queue_open_or_create", name, options, queue) { (name, settings) throws(ArrayQueueError) in
        try ArrayQueue.openOrCreate(name: name, capacity: checkedCapacity(capacity), creating: settings.creating, options: settings.options)
    }
}

@c(aq_queue_remove)
public func aqQueueRemove(_ name: UnsafePointer<CChar>?) -> Int32 {
    do throws(ArrayQueueError) {
        try ArrayQueue.remove(name: try Arguments.string(name, "name"))
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_queue_exists)
public func aqQueueExists(_ name: UnsafePointer<CChar>?) -> Int32 {
    guard let name else { return 0 }
    return ArrayQueue.exists(name: String(cString: name)) ? 1 : 0
}

@c(aq_queue_close)
public func aqQueueClose(_ queue: OpaquePointer?) {
    guard let queue else { return }
    Handle.free(queue, as: QueueHandle.self)
}

@c(aq_queue_name)
public func aqQueueName(_ queue: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let queue else { return nil }
    return UnsafePointer(Handle.get(queue, as: QueueHandle.self).name.pointer)
}

@c(aq_queue_capacity)
public func aqQueueCapacity(_ queue: OpaquePointer?) -> Int64 {
    guard let queue else { return Int64(Status.null("queue", in: "aq_queue_capacity")) }
    return Int64(Handle.get(queue, as: QueueHandle.self).queue.capacity)
}
