import CArrayQueuesShims

extension ArrayQueue {
    /// Puts a copy of `array` into the queue.
    ///
    /// - Parameters:
    ///   - timestamp: the record's time; the current time if nil.
    ///   - index: an optional frame number of the producer's, returned with the record.
    ///   - timeout: how long to wait for room when the overflow policy is `.block`, counted from
    ///     when the call finds it must wait (a put that finds room at once reads no clock for
    ///     it); nil waits without limit.
    /// - Throws: ``ArrayQueueError/Code/oversize`` if the array can never fit,
    ///   ``ArrayQueueError/Code/timeout``, ``ArrayQueueError/Code/full`` under the `.fail` policy.
    public func put(_ array: AnyNDArray, timestamp: Timestamp? = nil, index: Int64? = nil, timeout: Duration? = nil) throws(ArrayQueueError) {
        _ = try putCopy(array, timestamp: timestamp, index: index, blocking: true, timeout: timeout)
    }

    /// Puts a copy of `array` into the queue (see ``put(_:timestamp:index:timeout:)-(AnyNDArray,_,_,_)``).
    public func put<Element: ArrayElement>(_ array: NDArray<Element>, timestamp: Timestamp? = nil, index: Int64? = nil, timeout: Duration? = nil) throws(ArrayQueueError) {
        try put(array.erased, timestamp: timestamp, index: index, timeout: timeout)
    }

    /// Puts a copy of `array` if there is room now (or, under `.dropOldest`, after dropping
    /// old records); never waits. Returns false if the queue is full.
    @discardableResult
    public func tryPut(_ array: AnyNDArray, timestamp: Timestamp? = nil, index: Int64? = nil) throws(ArrayQueueError) -> Bool {
        try putCopy(array, timestamp: timestamp, index: index, blocking: false, timeout: nil)
    }

    /// Puts a copy of `array`; false if there was no room and not `blocking`.
    private func putCopy(_ array: AnyNDArray, timestamp: Timestamp?, index: Int64?, blocking: Bool, timeout: Duration?) throws(ArrayQueueError) -> Bool {
        try array.withUnsafeBytes { (bytes) throws(ArrayQueueError) in
            try putCopy(dtype: array.dtype, shape: array.shape, bytes: bytes, timestamp: timestamp, index: index, blocking: blocking, timeout: timeout)
        }
    }

    /// Puts a copy of `bytes`, an array of `dtype` and `shape` in C order; false if there was no
    /// room and not `blocking`. Up to ``Ring/lockedCopyLimit`` bytes (plain queues), the
    /// copy is made and the record published while the lock is held, before `tail` moves over
    /// it; larger ones are reserved, copied unlocked and committed.
    @_spi(Bindings)
    public func putCopy(
        dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer, timestamp: Timestamp?, index: Int64?, blocking: Bool, timeout: Duration?
    ) throws(ArrayQueueError) -> Bool {
        // Broadcast queues reserve by their own rules (Broadcast/BroadcastRing.swift).
        let copiedUnderLock = bytes.count <= Ring.lockedCopyLimit && !ring.isBroadcast
        // The caller's bytes are then read under the lock: a page of them not mapped in yet (an
        // mmap'd file, memory swapped out) would hold every producer for the fault, a disk read
        // perhaps. Faulted in here instead: at most 1 KiB, so the first and last bytes cover it.
        if copiedUnderLock, let start = bytes.baseAddress, bytes.count > 0 {
            Sys.touch(start)
            Sys.touch(start + (bytes.count - 1))
        }
        let reserved = try withRequest(dtype: dtype, shape: shape, timestamp: timestamp, index: index) { (request) throws(ArrayQueueError) -> Ring.Reservation? in
            guard bytes.count == request.payloadBytes else {
                throw ArrayQueueError(.invalidArgument, "\(bytes.count) bytes given for a \(dtype) array of shape \(shape), which has \(request.payloadBytes)")
            }
            var deadline = try Deadline(after: timeout)
            return try reserve(request, blocking: blocking, deadline: &deadline, contents: copiedUnderLock ? bytes : nil)
        }
        guard let reservation = reserved else { return false }
        if copiedUnderLock {
            ring.notifyPublished()
        } else {
            reservation.payload.copyMemory(from: bytes)
            try ring.commit(reservation)
        }
        return true
    }

    /// Puts a copy of `array` if there is room now; see ``tryPut(_:timestamp:index:)-(AnyNDArray,_,_)``.
    @discardableResult
    public func tryPut<Element: ArrayElement>(_ array: NDArray<Element>, timestamp: Timestamp? = nil, index: Int64? = nil) throws(ArrayQueueError) -> Bool {
        try tryPut(array.erased, timestamp: timestamp, index: index)
    }

    /// Writes a record in place, without an intermediate copy: reserves room for an array of
    /// `dtype` and `shape`, lets `fill` write its bytes straight into shared memory (C order),
    /// then publishes it. If `fill` throws, the record is discarded and the error rethrown.
    ///
    /// Other producers keep working while `fill` runs; consumers see the record only after it
    /// returns. `fill` must write every byte and must not keep the buffer.
    public func put<Result>(
        dtype: DType, shape: [Int], timestamp: Timestamp? = nil, index: Int64? = nil, timeout: Duration? = nil,
        fill: (UnsafeMutableRawBufferPointer) throws -> Result
    ) throws -> Result {
        let reservation = try reserve(dtype: dtype, shape: shape, timestamp: timestamp, index: index, blocking: true, timeout: timeout)!
        return try fillAndCommit(reservation, fill)
    }

    /// Writes a record of `Element`s in place; see ``put(dtype:shape:timestamp:index:timeout:fill:)``.
    public func put<Element: ArrayElement, Result>(
        _: Element.Type, shape: [Int], timestamp: Timestamp? = nil, index: Int64? = nil, timeout: Duration? = nil,
        fill: (UnsafeMutableBufferPointer<Element>) throws -> Result
    ) throws -> Result {
        try put(dtype: Element.dtype, shape: shape, timestamp: timestamp, index: index, timeout: timeout) { bytes in
            try fill(bytes.bindMemory(to: Element.self))
        }
    }

    /// The ring bytes a record of `dtype` and `shape` needs; compare with ``capacity``.
    public static func recordSize(dtype: DType, shape: [Int]) throws(ArrayQueueError) -> Int {
        try recordLength(dtype: dtype, shape: shape, payloadBytes: try Shape.byteCount(shape, dtype: dtype))
    }

    /// `recordSize` for a shape already checked and sized (`payloadBytes`): a put walks its shape once.
    static func recordLength(dtype: DType, shape: [Int], payloadBytes: Int) throws(ArrayQueueError) -> Int {
        guard let length = RecordHeader.recordLength(dimensions: shape.count, payloadBytes: payloadBytes) else {
            throw ArrayQueueError(.oversize, "a \(dtype) array of shape \(shape) is too large for any queue")
        }
        return length
    }

    /// Writes a transport envelope in place: a `uint8` record of `byteCount` bytes marked as
    /// holding a whole ArrayTransport message (plain consumers see `isEnvelope`).
    @_spi(Transport)
    public func putEnvelope<Result>(
        byteCount: Int, timestamp: Timestamp, index: Int64?, timeout: Duration?,
        fill: (UnsafeMutableRawBufferPointer) throws -> Result
    ) throws -> Result {
        let reservation = try reserve(dtype: .uint8, shape: [byteCount], timestamp: timestamp, index: index, blocking: true, timeout: timeout, flags: UInt16(CAQ_RECORD_ENVELOPE))!
        return try fillAndCommit(reservation, fill)
    }

    /// Writes a transport envelope in place if there is room now (see
    /// ``putEnvelope(byteCount:timestamp:index:timeout:fill:)``); never waits. Returns nil,
    /// without calling `fill`, if the queue is full.
    @_spi(Transport)
    public func tryPutEnvelope<Result>(
        byteCount: Int, timestamp: Timestamp, index: Int64?, fill: (UnsafeMutableRawBufferPointer) throws -> Result
    ) throws -> Result? {
        guard let reservation = try reserve(dtype: .uint8, shape: [byteCount], timestamp: timestamp, index: index, blocking: false, timeout: nil, flags: UInt16(CAQ_RECORD_ENVELOPE)) else {
            return nil
        }
        return try fillAndCommit(reservation, fill)
    }

    /// Lets `fill` write the reserved payload, then publishes it; discards it if `fill` throws.
    private func fillAndCommit<Result>(_ reservation: Ring.Reservation, _ fill: (UnsafeMutableRawBufferPointer) throws -> Result) throws -> Result {
        let buffer = reservation.payload
        let result: Result
        do {
            result = try fill(buffer)
        } catch {
            ring.abandon(reservation)
            throw error
        }
        try ring.commit(reservation)
        return result
    }

    /// Checks a record of `dtype` and `shape` against the queue and lets `body` reserve it: the
    /// request borrows `shape` for as long as `body` runs.
    @inline(__always)
    func withRequest<Result>(
        dtype: DType, shape: [Int], timestamp: Timestamp?, index: Int64?, flags: UInt16 = 0,
        _ body: (Ring.Request) throws(ArrayQueueError) -> Result
    ) throws(ArrayQueueError) -> Result {
        try shape.withUnsafeBufferPointer { (extents) throws(ArrayQueueError) -> Result in
            try body(try request(dtype: dtype, shape: extents, timestamp: timestamp, index: index, flags: flags))
        }
    }

    /// Checks a record of `dtype` and `shape` against the queue and describes it for the ring;
    /// the request borrows `shape`, which must outlive it. The checks pass without building an
    /// error; the one that fails is named out of line.
    @inline(__always)
    func request(dtype: DType, shape: UnsafeBufferPointer<Int>, timestamp: Timestamp?, index: Int64?, flags: UInt16 = 0) throws(ArrayQueueError) -> Ring.Request {
        guard shape.count <= Shape.maxDimensions,
              let payloadBytes = Shape.validByteCount(count: shape.count, dtype: dtype, extent: { shape[$0] }),
              let length = RecordHeader.recordLength(dimensions: shape.count, payloadBytes: payloadBytes), length <= capacity else {
            throw refusal(dtype: dtype, shape: Array(shape))
        }
        // A spinning consumer keeps taking the tail's line to read it; the reservation loads and
        // stores it under the lock. Asked for before the clock read, it arrives meanwhile.
        Sys.prefetchForWrite(UnsafeRawPointer(ring.header.tail))
        return Ring.Request(
            dtype: dtype, shape: shape, payloadBytes: payloadBytes, length: length,
            timestamp: (timestamp ?? .now()).nanosecondsSinceEpoch, index: index, flags: flags)
    }

    /// Why ``request(dtype:shape:timestamp:index:flags:)`` refuses a record of `dtype` and `shape`.
    @inline(never)
    private func refusal(dtype: DType, shape: [Int]) -> ArrayQueueError {
        do throws(ArrayQueueError) {
            let payloadBytes = try Shape.byteCount(shape, dtype: dtype)
            let length = try Self.recordLength(dtype: dtype, shape: shape, payloadBytes: payloadBytes)
            return ArrayQueueError(.oversize, "a \(dtype) array of shape \(shape) (\(ByteCount.format(payloadBytes))) needs \(length) bytes in the ring, but queue '\(name)' holds only \(capacity) bytes")
        } catch {
            return error
        }
    }

    /// Reserves a record; nil only when not `blocking` and there is no room.
    func reserve(
        dtype: DType, shape: [Int], timestamp: Timestamp?, index: Int64?, blocking: Bool, timeout: Duration?,
        flags: UInt16 = 0
    ) throws(ArrayQueueError) -> Ring.Reservation? {
        try withRequest(dtype: dtype, shape: shape, timestamp: timestamp, index: index, flags: flags) { (request) throws(ArrayQueueError) in
            var deadline = try Deadline(after: timeout)
            return try reserve(request, blocking: blocking, deadline: &deadline)
        }
    }

    /// Reserves a record for `request`; nil only when not `blocking` and there is no room.
    /// `deadline` is fixed when the call first waits. With `contents` (a plain queue's small
    /// copy), the record is published already (``Ring/reserve(_:publishing:dropOldest:owner:)``).
    @inline(__always)
    func reserve(
        _ request: Ring.Request, blocking: Bool, deadline lazyDeadline: inout Deadline, contents: UnsafeRawBufferPointer? = nil
    ) throws(ArrayQueueError) -> Ring.Reservation? {
        let dropOldest = options.overflow == .dropOldest
        let me = ProcessIdentity.current
        // Local functions rather than closure values: their contexts stay on the stack.
        func attempt(_ deadline: inout Deadline) throws(ArrayQueueError) -> Ring.Reservation? {
            try ring.withLock(deadline: &deadline) { () throws(ArrayQueueError) in
                try reserveHoldingLock(request, dropOldest: dropOldest, owner: me, contents: contents)
            }
        }
        if let reservation = try attempt(&lazyDeadline) { return reservation }
        let deadline = lazyDeadline.fix()
        func retry() throws(ArrayQueueError) -> Ring.Reservation? {
            var fixed = Deadline(fixedAt: deadline)
            return try attempt(&fixed)
        }
        if !blocking || options.overflow == .fail {
            if try recoverIfDue(deadline: deadline), let reservation = try retry() { return reservation }
            if blocking {
                throw ArrayQueueError(.full, "queue '\(name)' is full (\(fullness)) and its overflow policy is 'fail'")
            }
            return nil
        }
        return try waitUntil(
            ring.header.spaceSignal, deadline: deadline, checkingDeadPeers: true, cancellation: nil,
            describe: { "put of a \(ByteCount.format(request.payloadBytes)) array into queue '\(name)' (full: \(fullness))" },
            retry)
    }

    /// Reserves room for `request` while the caller holds the lock: the one place where single
    /// and batched puts reach the ring. With `contents` (a plain queue's small copy, never a
    /// broadcast queue's), the record is copied and published as well.
    @inline(__always)
    func reserveHoldingLock(
        _ request: Ring.Request, dropOldest: Bool, owner: ProcessIdentity, reclaimingFirst: Bool = true,
        contents: UnsafeRawBufferPointer? = nil
    ) throws(ArrayQueueError) -> Ring.Reservation? {
        // Broadcast queues free room by their subscribers' cursors (Broadcast/BroadcastRing.swift).
        if ring.isBroadcast { return try ring.broadcastReserve(request, owner: owner) }
        if let contents { return try ring.reserve(request, publishing: contents, dropOldest: dropOldest, owner: owner) }
        return try ring.reserve(request, dropOldest: dropOldest, owner: owner, reclaimingFirst: reclaimingFirst)
    }
}
