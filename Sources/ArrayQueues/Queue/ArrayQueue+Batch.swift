extension ArrayQueue {
    /// The most records a batch call reserves or claims under one hold of the lock: others
    /// get their turn between batches, and a batch's bookkeeping stays small.
    static let batchLimit = 256

    // MARK: - Putting many

    /// Puts copies of `arrays`, in order, reserving room for as many as fit under one hold of
    /// the lock (at most 256 at a time) and copying them in outside it: for small arrays, a
    /// fraction of the cost of one `put` each. All records of the call share its timestamp.
    ///
    /// Waits for room like ``put(_:timestamp:index:timeout:)-(AnyNDArray,_,_,_)``; `timeout`
    /// bounds the whole call. Records of other producers may come between these ones.
    /// - Throws: as `put`. When it throws, the arrays before the one that failed are in the
    ///   queue; ``tryPut(contentsOf:)`` reports how many it put.
    public func put(contentsOf arrays: some Collection<AnyNDArray>, timeout: Duration? = nil) throws(ArrayQueueError) {
        _ = try putMany(Array(arrays), blocking: true, deadline: try Deadline(after: timeout))
    }

    /// Puts copies of as many of `arrays` as there is room for now (or, under `.dropOldest`,
    /// after dropping old records), in order, from the first; never waits. Returns how many.
    @discardableResult
    public func tryPut(contentsOf arrays: some Collection<AnyNDArray>) throws(ArrayQueueError) -> Int {
        return try putMany(Array(arrays), blocking: false, deadline: Deadline(fixedAt: nil))
    }

    /// Puts copies of `arrays` (see ``putMany(count:blocking:deadline:request:fill:published:)``).
    private func putMany(_ arrays: [AnyNDArray], blocking: Bool, deadline: Deadline) throws(ArrayQueueError) -> Int {
        let timestamp = Timestamp.now()
        // The requests borrow their shapes from one buffer holding each distinct run of them
        // once: array `number`'s is `extents[shapes[number]]` (a batch is mostly of one shape).
        var extents: [Int] = []
        var shapes: [Range<Int>] = []
        shapes.reserveCapacity(arrays.count)
        for number in arrays.indices {
            if number > 0, arrays[number].shape == arrays[number - 1].shape {
                shapes.append(shapes[number - 1])
            } else {
                extents.append(contentsOf: arrays[number].shape)
                shapes.append(extents.count - arrays[number].shape.count..<extents.count)
            }
        }
        return try extents.withUnsafeBufferPointer { (extents) throws(ArrayQueueError) -> Int in
            try putMany(
                count: arrays.count, blocking: blocking, deadline: deadline,
                request: { (number) throws(ArrayQueueError) in
                    let shape = UnsafeBufferPointer(rebasing: extents[shapes[number]])
                    return try request(dtype: arrays[number].dtype, shape: shape, timestamp: timestamp, index: nil)
                },
                fill: { number, payload in
                    arrays[number].withUnsafeBytes { payload.copyMemory(from: $0) }
                })
        }
    }

    /// Puts `count` records, in order, reserving as many as there is room for under one hold
    /// of the lock (at most ``batchLimit``), then letting `fill` write each and publishing it,
    /// outside the lock; `published` hears how many are in the queue after each. Returns how
    /// many were put: all of them when `blocking`, unless it throws. `deadline` bounds the
    /// whole call, from when it first waits.
    func putMany(
        count: Int, blocking: Bool, deadline: Deadline,
        request: (Int) throws(ArrayQueueError) -> Ring.Request, fill: (Int, UnsafeMutableRawBufferPointer) -> Void,
        published: (Int) -> Void = { _ in }
    ) throws(ArrayQueueError) -> Int {
        let dropOldest = options.overflow == .dropOldest
        let me = ProcessIdentity.current
        var deadline = deadline
        var requests: [Ring.Request] = []
        var reservations: [Ring.Reservation] = []
        requests.reserveCapacity(Swift.min(count, Self.batchLimit))
        reservations.reserveCapacity(requests.capacity)
        var put = 0
        while put < count {
            // Checked before the lock: a bad array fails the call with nothing of its batch reserved.
            requests.removeAll(keepingCapacity: true)
            for number in put..<Swift.min(count, put + Self.batchLimit) { requests.append(try request(number)) }
            reservations.removeAll(keepingCapacity: true)
            try ring.withLock(deadline: &deadline) { () throws(ArrayQueueError) in
                // By index: iterating would copy each request, retaining and releasing its shape.
                for number in requests.indices {
                    guard let reservation = try reserveHoldingLock(requests[number], dropOldest: dropOldest, owner: me, reclaimingFirst: reservations.isEmpty) else { break }
                    reservations.append(reservation)
                }
            }
            if reservations.isEmpty {
                // No room for the first: wait (or give up) the way a single put does.
                guard let reservation = try reserve(requests[0], blocking: blocking, deadline: &deadline) else { return put }
                reservations.append(reservation)
            }
            // Each record is filled and published in turn; consumers are notified once for the batch.
            var filled = put
            try ring.commit(
                reservations,
                filling: { reservation in
                    fill(filled, reservation.payload)
                    filled += 1
                },
                published: {
                    put += 1
                    published(put)
                })
        }
        return put
    }

    // MARK: - Getting many

    /// Takes up to `maximumCount` records, copied out of shared memory, in queue order: waits
    /// for the first like ``get(timeout:)``, then takes what else is waiting, claiming them
    /// under one hold of the lock (at most 256 at a time).
    ///
    /// - Throws: ``ArrayQueueError/Code/timeout`` if no record came in time,
    ///   ``ArrayQueueError/Code/invalidArgument`` if `maximumCount` < 1,
    ///   ``ArrayQueueError/Code/corruptSegment`` (the records taken before it are lost with the call).
    public func get(upTo maximumCount: Int, timeout: Duration? = nil) throws(ArrayQueueError) -> [ArrayRecord] {
        var records: [ArrayRecord] = []
        _ = try take(upTo: maximumCount, blocking: true, timeout: timeout) { (record) throws(ArrayQueueError) in records.append(try copy(record)) }
        return records
    }

    /// Takes up to `maximumCount` records that are waiting now, copied out; never waits.
    /// Returns an empty array if the queue is empty.
    public func tryGet(upTo maximumCount: Int) throws(ArrayQueueError) -> [ArrayRecord] {
        var records: [ArrayRecord] = []
        _ = try take(upTo: maximumCount, blocking: false, timeout: nil) { (record) throws(ArrayQueueError) in records.append(try copy(record)) }
        return records
    }

    /// Lends up to `maximumCount` records to `body`, one after the other, in queue order,
    /// without copying them: waits for the first like ``get(timeout:_:)``, then lends what
    /// else is waiting, claiming them under one hold of the lock (at most 256 at a time).
    /// Each record's room is freed when `body` returns for it. Returns how many were lent.
    ///
    /// `body` cannot throw: every record claimed is lent, so none is lost.
    /// - Throws: ``ArrayQueueError/Code/timeout`` if no record came in time (only when
    ///   `blocking`), ``ArrayQueueError/Code/corruptSegment`` for a record whose dtype, shape and
    ///   size disagree (it is discarded; the records around it are still lent).
    @discardableResult
    public func drain(
        upTo maximumCount: Int, blocking: Bool = true, timeout: Duration? = nil, _ body: (borrowing BorrowedRecord) -> Void
    ) throws(ArrayQueueError) -> Int {
        try withExtentStorage { (storage) throws(ArrayQueueError) in
            try take(upTo: maximumCount, blocking: blocking, timeout: timeout) { (record) throws(ArrayQueueError) in
                body(try BorrowedRecord(claimed: record, of: self, extentsIn: storage))
            }
        }
    }

    /// Claims up to `maximumCount` records (waiting for the first when `blocking`), the rest
    /// under one hold of the lock per ``batchLimit``, and passes each to `body`, then frees it.
    /// Returns how many `body` took without throwing. A record `body` throws for (its dtype,
    /// shape and size disagree) is freed, the others are still passed, then the error is thrown.
    private func take(
        upTo maximumCount: Int, blocking: Bool, timeout: Duration?, _ body: (RecordHeader) throws(ArrayQueueError) -> Void
    ) throws(ArrayQueueError) -> Int {
        guard maximumCount >= 1 else {
            throw ArrayQueueError(.invalidArgument, "a batch takes at least one record (asked for \(maximumCount))")
        }
        try refuseConsumerOfBroadcast()
        var deadline = try Deadline(after: timeout)
        var claimed: [RecordHeader] = []
        claimed.reserveCapacity(Swift.min(maximumCount, Self.batchLimit))
        var probe = Ring.ArrivalProbe()
        /// Claims up to `wanted` records into `claimed`: in runs at `read` without the lock while
        /// they are READY there, otherwise in one walk under the lock (`deadline` fixed if the lock
        /// keeps it waiting); nil if none was waiting. (`claimed` is passed in, not captured: a
        /// captured array was checked for exclusive access at run time, at every append.)
        func attempt(
            _ wanted: Int, _ claimed: inout [RecordHeader], _ probe: inout Ring.ArrivalProbe, _ deadline: inout Deadline
        ) throws(ArrayQueueError) -> Bool? {
            // Looked up for each round: `body` may have forked, and a child claims as itself.
            let me = ProcessIdentity.current
            quick: while claimed.count < wanted {
                switch try ring.claimRunWithoutLock(upTo: wanted - claimed.count, owner: me, probe: &probe, { claimed.append($0) }) {
                case .claimed: continue
                case .empty: break quick
                case .needsLock:
                    guard claimed.isEmpty else { break quick }
                    try ring.withLock(deadline: &deadline) { () throws(ArrayQueueError) in
                        var tooLarge: RecordHeader?
                        try ring.claim(upTo: wanted, expecting: nil, maximumPayloadBytes: .max, owner: me, tooLarge: &tooLarge, probe: &probe) { claimed.append($0) }
                    }
                    break quick
                }
            }
            return claimed.isEmpty ? nil : true
        }
        let first = Swift.min(maximumCount, Self.batchLimit)
        var failure: ArrayQueueError?
        do {
            // Records are usually waiting: claim without entering the wait loop at all.
            if try attempt(first, &claimed, &probe, &deadline) == nil {
                guard blocking else { return 0 }
                _ = try waitForRecord(
                    probe: &probe, deadline: &deadline, cancellation: nil, describe: { "get of up to \(maximumCount) records from queue '\(name)' (empty)" }
                ) { (probe: inout Ring.ArrivalProbe, deadline: inout Deadline) throws(ArrayQueueError) in try attempt(first, &claimed, &probe, &deadline) }
            }
        } catch {
            // A walk that failed part-way keeps what it claimed: pass those on below, then throw.
            guard !claimed.isEmpty else { throw error }
            failure = error
        }
        var taken = 0
        var passed = 0
        while !claimed.isEmpty {
            // Each record is freed as soon as `body` has it; producers are notified once per batch.
            ring.release(claimed) { record in
                do throws(ArrayQueueError) {
                    try body(record)
                    passed += 1
                } catch {
                    failure = failure ?? error
                }
            }
            taken += claimed.count
            claimed.removeAll(keepingCapacity: true)
            let wanted = Swift.min(maximumCount - taken, Self.batchLimit)
            guard wanted > 0, failure == nil else { break }
            do {
                _ = try attempt(wanted, &claimed, &probe, &deadline)
            } catch {
                // What was claimed before the error is still passed on above, so that nothing is lost.
                failure = error
            }
        }
        if let failure { throw failure }
        return passed
    }

    /// Takes the oldest record into `record`, reusing its array's memory when the array is
    /// this record's only user and has the same byte size: a stream of same-sized records is
    /// read without allocating. Waits while the queue is empty, like ``get(timeout:)``.
    ///
    /// - Throws: as ``get(timeout:)``; `record` is unchanged then.
    public func get(into record: inout ArrayRecord, timeout: Duration? = nil) throws(ArrayQueueError) {
        guard let claimed = try claim(expecting: nil, blocking: true, timeout: timeout, cancellation: nil) else { return }
        defer { ring.release(claimed) }
        try withExtentStorage { (storage) throws(ArrayQueueError) in
            let lent = try BorrowedRecord(claimed: claimed, of: self, extentsIn: storage)
            record.array.replace(dtype: lent.dtype, extents: lent.extentStorage, with: lent.bytes)
            record.sequence = lent.sequence
            record.timestamp = lent.timestamp
            record.index = lent.index
            record.isEnvelope = lent.isEnvelope
        }
    }
}
