extension ArrayQueue {
    /// Takes the oldest record, copied out of shared memory; waits while the queue is empty.
    ///
    /// The returned array is the caller's own: it is never overwritten by later puts.
    /// - Parameter timeout: how long to wait; nil waits without limit.
    /// - Throws: ``ArrayQueueError/Code/timeout``, or ``ArrayQueueError/Code/corruptSegment``.
    public func get(timeout: Duration? = nil) throws(ArrayQueueError) -> ArrayRecord {
        try takeCopy(expecting: nil, blocking: true, timeout: timeout, cancellation: nil)!
    }

    /// Takes the oldest record as an array of `Element`.
    ///
    /// - Throws: ``ArrayQueueError/Code/dtypeMismatch`` if the oldest record has another dtype;
    ///   that record then stays in the queue.
    public func get<Element: ArrayElement>(as _: Element.Type, timeout: Duration? = nil) throws(ArrayQueueError) -> NDArray<Element> {
        NDArray(unchecked: try takeCopy(expecting: Element.dtype, blocking: true, timeout: timeout, cancellation: nil)!.array)
    }

    /// Takes the oldest record if there is one; never waits.
    public func tryGet() throws(ArrayQueueError) -> ArrayRecord? {
        try takeCopy(expecting: nil, blocking: false, timeout: nil, cancellation: nil)
    }

    /// Lends the oldest record to `body` without copying it: the payload is read in place in
    /// shared memory, and its room is freed when `body` returns (or throws). Waits while the
    /// queue is empty.
    ///
    /// Other consumers keep taking records while `body` runs.
    public func get<Result>(timeout: Duration? = nil, _ body: (borrowing BorrowedRecord) throws -> Result) throws -> Result {
        try take(blocking: true, timeout: timeout, body)!
    }

    /// Lends the oldest record to `body` if there is one; never waits. Returns nil if the queue is empty.
    public func tryGet<Result>(_ body: (borrowing BorrowedRecord) throws -> Result) throws -> Result? {
        try take(blocking: false, timeout: nil, body)
    }

    /// Lends the oldest record to `body` like ``get(timeout:_:)``, giving up with
    /// ``ArrayQueueError/Code/cancelled`` once `cancellation` is cancelled (and consumers woken).
    @_spi(Transport)
    public func get<Result>(timeout: Duration?, cancellation: Cancellation, _ body: (borrowing BorrowedRecord) throws -> Result) throws -> Result {
        try take(blocking: true, timeout: timeout, cancellation: cancellation, body)!
    }

    /// Claims a record and returns an owned copy of it, freeing its room.
    func takeCopy(expecting dtype: DType?, blocking: Bool, timeout: Duration?, cancellation: Cancellation?) throws(ArrayQueueError) -> ArrayRecord? {
        guard let record = try claim(expecting: dtype, blocking: blocking, timeout: timeout, cancellation: cancellation) else {
            return nil
        }
        defer { ring.release(record) }
        return try borrowed(record).copy()
    }

    /// Claims a record, lends it to `body`, frees it.
    private func take<Result>(
        blocking: Bool, timeout: Duration?, cancellation: Cancellation? = nil, _ body: (borrowing BorrowedRecord) throws -> Result
    ) throws -> Result? {
        guard let record = try claim(expecting: nil, blocking: blocking, timeout: timeout, cancellation: cancellation) else {
            return nil
        }
        defer { ring.release(record) }
        return try body(borrowed(record))
    }

    private func claim(expecting dtype: DType?, blocking: Bool, timeout: Duration?, cancellation: Cancellation?) throws(ArrayQueueError) -> RecordHeader? {
        try refuseConsumerOfBroadcast()
        let deadline = try Self.deadline(after: timeout)
        let me = ProcessIdentity.current
        let attempt = { () throws(ArrayQueueError) -> RecordHeader? in
            try self.ring.withLock(deadline: deadline) { () throws(ArrayQueueError) in try self.ring.claim(expecting: dtype, owner: me) }
        }
        // Records are usually waiting: claim without entering the wait loop at all.
        if let record = try attempt() { return record }
        guard blocking else { return nil }
        return try waitUntil(
            ring.header.dataSignal, deadline: deadline, checkingDeadPeers: false, cancellation: cancellation,
            describe: { "get from queue '\(name)' (empty)" }, attempt)
    }

    /// The claimed record as a `BorrowedRecord`. A record whose dtype or shape does not
    /// match its size cannot have been written by ArrayQueues: it is reported (and freed by the caller).
    func borrowed(_ record: RecordHeader) throws(ArrayQueueError) -> BorrowedRecord {
        let shape = record.shape
        guard let dtype = DType(rawValue: record.dtypeCode),
              (try? Shape.byteCount(shape, dtype: dtype)) == record.payloadByteCount else {
            throw ArrayQueueError(.corruptSegment, "record \(record.sequence) of queue '\(name)' has an inconsistent dtype (code \(record.dtypeCode)), shape \(shape) and size \(record.payloadByteCount); it was discarded")
        }
        return BorrowedRecord(
            dtype: dtype, shape: shape, sequence: record.sequence,
            timestamp: Timestamp(nanosecondsSinceEpoch: record.timestampNanoseconds), index: record.index,
            isEnvelope: record.isEnvelope, bytes: UnsafeRawBufferPointer(start: record.payload, count: record.payloadByteCount))
    }
}
