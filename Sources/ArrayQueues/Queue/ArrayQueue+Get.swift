extension ArrayQueue {
    /// Takes the oldest record, copied out of shared memory; waits while the queue is empty.
    ///
    /// The returned array is the caller's own: it is never overwritten by later puts.
    /// - Parameter timeout: how long to wait, counted from when the call finds it must wait (a
    ///   get that finds a record at once reads no clock); nil waits without limit.
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
    @inlinable
    public func get<Result>(timeout: Duration? = nil, _ body: (borrowing BorrowedRecord) throws -> Result) throws -> Result {
        var result: Result?
        // Inlined into the caller, so that it is specialised for `Result` there: the lending
        // itself is not generic, and a get that finds a record allocates nothing.
        _ = try lend(blocking: true, timeout: timeout) { record in result = try body(record) }
        return result!
    }

    /// Lends the oldest record to `body` if there is one; never waits. Returns nil if the queue is empty.
    @inlinable
    public func tryGet<Result>(_ body: (borrowing BorrowedRecord) throws -> Result) throws -> Result? {
        var result: Result?
        _ = try lend(blocking: false, timeout: nil) { record in result = try body(record) }
        return result
    }

    /// Lends the oldest record to `body` like ``get(timeout:_:)``, giving up with
    /// ``ArrayQueueError/Code/cancelled`` once `cancellation` is cancelled (and consumers woken).
    @_spi(Transport)
    public func get<Result>(timeout: Duration?, cancellation: Cancellation, _ body: (borrowing BorrowedRecord) throws -> Result) throws -> Result {
        var result: Result?
        _ = try lend(blocking: true, timeout: timeout, cancellation: cancellation) { record in result = try body(record) }
        return result!
    }

    /// Claims a record and returns an owned copy of it, freeing its room.
    func takeCopy(expecting dtype: DType?, blocking: Bool, timeout: Duration?, cancellation: Cancellation?) throws(ArrayQueueError) -> ArrayRecord? {
        let me = ProcessIdentity.current
        guard let record = try claim(expecting: dtype, blocking: blocking, timeout: timeout, cancellation: cancellation, owner: me) else {
            return nil
        }
        defer { ring.release(record, reader: me.pid) }
        let copied = try copy(record)
        // The dtype was checked before the claim; a record changed since by another process is corrupt.
        if let dtype, copied.array.dtype != dtype { throw inconsistent(record, shape: copied.array.shape) }
        return copied
    }

    /// An owned copy of a claimed record, straight from the ring: one storage, and a shape array
    /// shared with the records copied before it when they have the same shape (``ShapeCache``).
    func copy(_ record: RecordHeader) throws(ArrayQueueError) -> ArrayRecord {
        try withExtentStorage { (storage) throws(ArrayQueueError) in
            try BorrowedRecord(claimed: record, of: self, extentsIn: storage).copy(shapes: shapes)
        }
    }

    /// Claims a record, lends it to `body`, frees it. Returns false if there was none (only
    /// when not `blocking`).
    @usableFromInline
    func lend(blocking: Bool, timeout: Duration?, _ body: (borrowing BorrowedRecord) throws -> Void) throws -> Bool {
        try lend(blocking: blocking, timeout: timeout, cancellation: nil, body)
    }

    /// `lend`, giving up once `cancellation` is cancelled.
    func lend(
        blocking: Bool, timeout: Duration?, cancellation: Cancellation?, _ body: (borrowing BorrowedRecord) throws -> Void
    ) throws -> Bool {
        let me = ProcessIdentity.current
        guard let record = try claim(expecting: nil, blocking: blocking, timeout: timeout, cancellation: cancellation, owner: me) else {
            return false
        }
        defer { ring.release(record, reader: me.pid) }
        try withExtentStorage { storage in try body(BorrowedRecord(claimed: record, of: self, extentsIn: storage)) }
        return true
    }

    /// Claims the oldest record for `me` (this process, which callers that go on to release it
    /// have at hand already); nil only when not `blocking` and there is none.
    func claim(
        expecting dtype: DType?, blocking: Bool, timeout: Duration?, cancellation: Cancellation?, owner me: ProcessIdentity = .current
    ) throws(ArrayQueueError) -> RecordHeader? {
        try refuseConsumerOfBroadcast()
        var deadline = try Deadline(after: timeout)
        var probe = Ring.ArrivalProbe()
        // A local function rather than a closure value: its context stays on the stack.
        func attempt(_ probe: inout Ring.ArrivalProbe, _ deadline: inout Deadline) throws(ArrayQueueError) -> RecordHeader? {
            try claimOldest(expecting: dtype, maximumPayloadBytes: .max, owner: me, deadline: &deadline, probe: &probe)
        }
        // Records are usually waiting: claim without entering the wait loop at all.
        if let record = try attempt(&probe, &deadline) { return record }
        guard blocking else { return nil }
        return try waitForRecord(probe: &probe, deadline: &deadline, cancellation: cancellation, describe: { "get from queue '\(name)' (empty)" }, attempt)
    }

    /// One attempt to claim the oldest record: the record at `read` without the lock when it is
    /// READY (the common case of a consumer that keeps up: the lock's line stays with the
    /// producers), otherwise the walk under the lock, which decides everything else. A record
    /// over `maximumPayloadBytes` is left in the queue and shown to `tooLarge` while the lock is
    /// still held (a consumer may claim it meanwhile, but no producer can reuse its room, so its
    /// header stays intact); when nothing is claimed, `probe` tells a waiting consumer where the
    /// next record will appear. `deadline` is fixed if the lock keeps it waiting.
    func claimOldest(
        expecting dtype: DType?, maximumPayloadBytes: Int, owner: ProcessIdentity, deadline: inout Deadline,
        probe: inout Ring.ArrivalProbe, tooLarge: (RecordHeader) -> Void = { _ in }
    ) throws(ArrayQueueError) -> RecordHeader? {
        switch try ring.claimWithoutLock(expecting: dtype, maximumPayloadBytes: maximumPayloadBytes, owner: owner, probe: &probe) {
        case let .claimed(record): return record
        case .empty: return nil
        case .needsLock: break
        }
        return try ring.withLock(deadline: &deadline) { () throws(ArrayQueueError) in
            var large: RecordHeader?
            let record = try ring.claim(expecting: dtype, maximumPayloadBytes: maximumPayloadBytes, owner: owner, tooLarge: &large, probe: &probe)
            if let large {
                // A caller that sizes its buffer by the reported size must be able to take it:
                // a record whose shape and size disagree is dropped as corrupt, not reported (no
                // consumer could ever take it, and one that sizes its buffer by it would retry forever).
                guard ring.claimedLayout(of: large) != nil else {
                    ring.drop(large)
                    throw inconsistent(large, shape: large.shape)
                }
                tooLarge(large)
            }
            return record
        }
    }

    /// The claimed record as a `BorrowedRecord` whose shape is kept in `storage`, which must
    /// outlive it. A record whose dtype or shape does not match its size cannot have been
    /// written by ArrayQueues: it is reported (and freed by the caller).
    @inline(__always)
    func borrowed(_ record: RecordHeader, extentsIn storage: UnsafeMutableBufferPointer<Int>) throws(ArrayQueueError) -> BorrowedRecord {
        try BorrowedRecord(claimed: record, of: self, extentsIn: storage)
    }

    /// Runs `body` with room on the stack for the shape of a record lent while it runs
    /// (``Shape/maxDimensions`` extents, uninitialised: each record copies its own in).
    @inline(__always)
    func withExtentStorage<Result, Failure: Error>(
        _ body: (UnsafeMutableBufferPointer<Int>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try withUnsafeTemporaryAllocation(of: Int.self, capacity: Shape.maxDimensions, body)
    }

    /// The error for a claimed record whose dtype, shape and size disagree, or changed after a
    /// check (the caller frees it).
    func inconsistent(_ record: RecordHeader, shape: [Int]) -> ArrayQueueError {
        ArrayQueueError(.corruptSegment, "record \(record.sequence) of queue '\(name)' has an inconsistent dtype (code \(record.dtypeCode)), shape \(shape) and size \(record.payloadByteCount); it was discarded")
    }
}

extension BorrowedRecord {
    /// A claimed record of `queue`, read out of the ring: the shape (copied into `storage`,
    /// which must outlive the record) and the payload's place are each read once, then checked
    /// against each other, so what the record says cannot change later (another process may
    /// write the segment).
    @inline(__always)
    init(claimed record: RecordHeader, of queue: ArrayQueue, extentsIn storage: UnsafeMutableBufferPointer<Int>) throws(ArrayQueueError) {
        var elements: Int?
        extentStorage = record.copyExtents(into: storage, elements: &elements)
        guard let (dtype, payload) = queue.ring.claimedLayout(of: record, elements: elements) else {
            throw queue.inconsistent(record, shape: record.shape)
        }
        self.dtype = dtype
        sequence = record.sequence
        timestamp = Timestamp(nanosecondsSinceEpoch: record.timestampNanoseconds)
        index = record.index
        isEnvelope = record.isEnvelope
        bytes = UnsafeRawBufferPointer(payload)
    }
}
