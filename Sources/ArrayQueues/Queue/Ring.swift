import CArrayQueuesShims
import Synchronization
@preconcurrency import Glibc

/// The queue protocol over a mapped segment (docs/LAYOUT.md, "Protocol").
///
/// Cursor changes happen under the segment's robust lock; payload copies never do. A
/// producer reserves a record under the lock, fills it unlocked, and publishes it with one
/// atomic store. A consumer claims a record under the lock, reads it unlocked, and frees it
/// with one atomic store; freed space is reclaimed lazily by the next producer that needs it.
///
/// Every walk over the ring validates each record header before following it, so a corrupt
/// segment produces ``ArrayQueueError/Code/corruptSegment``, never an out-of-bounds access or
/// an endless loop.
struct Ring {
    let header: SegmentHeader
    let capacity: Int
    let name: String

    init(header: SegmentHeader, name: String) {
        self.header = header
        self.capacity = header.capacity
        self.name = name
    }

    func record(at position: UInt64) -> RecordHeader {
        RecordHeader(raw: header.data + Int(position % UInt64(capacity)))
    }

    // MARK: - Lock

    /// Runs `body` holding the queue lock. If the previous holder died, first repairs what
    /// it may have left half-done, then marks the lock consistent.
    func withLock<R>(_ body: () throws(ArrayQueueError) -> R) throws(ArrayQueueError) -> R {
        let lock = header.lock
        var rc = EBUSY
        // The critical sections are a few hundred nanoseconds: spinning briefly beats a futex sleep.
        for _ in 0..<64 {
            rc = Sys.mutexTryLock(lock)
            if rc != EBUSY { break }
            Sys.cpuRelax()
        }
        while rc == EBUSY || rc == ETIMEDOUT {
            rc = Sys.mutexLock(lock, nanoseconds: 1_000_000_000)
            // Critical sections take microseconds. A lock held this long by a thread that does
            // not exist cannot be released by anyone: the lock word is garbage.
            if rc == ETIMEDOUT, case let owner = Sys.mutexOwner(lock), owner == 0 || !Sys.processExists(owner) {
                throw ArrayQueueError(.corruptSegment, "the lock of queue '\(name)' is held by thread \(owner), which does not exist; the segment is corrupt")
            }
        }
        switch rc {
        case 0:
            break
        case EOWNERDEAD:
            let repaired = Result { () throws(ArrayQueueError) in try repairAfterOwnerDeath() }
            _ = Sys.mutexConsistent(lock)
            if case .failure(let error) = repaired {
                Sys.mutexUnlock(lock)
                throw error
            }
        case ENOTRECOVERABLE:
            throw ArrayQueueError(.corruptSegment, "the lock of queue '\(name)' is unrecoverable (a process died holding it and the repair failed); recreate the queue", function: "pthread_mutex_lock", errno: .init(rawValue: rc))
        default:
            throw .system("pthread_mutex_lock", rc, "cannot lock queue '\(name)'")
        }
        defer { Sys.mutexUnlock(lock) }
        return try body()
    }

    // MARK: - Walking

    private func corrupt(_ detail: String) -> ArrayQueueError {
        ArrayQueueError(.corruptSegment, "queue '\(name)' is corrupt: \(detail)")
    }

    /// Loads the cursors and checks head ≤ read ≤ tail and tail − head ≤ capacity.
    func cursors() throws(ArrayQueueError) -> (head: UInt64, read: UInt64, tail: UInt64) {
        let head = header.head.pointee.load(ordering: .relaxed)
        let read = header.read.pointee.load(ordering: .relaxed)
        let tail = header.tail.pointee.load(ordering: .relaxed)
        guard head <= read, read <= tail, tail - head <= UInt64(capacity),
              head % UInt64(RecordHeader.alignment) == 0, tail % UInt64(RecordHeader.alignment) == 0 else {
            throw corrupt("cursors out of order (head \(head), read \(read), tail \(tail), capacity \(capacity))")
        }
        return (head, read, tail)
    }

    /// Loads `read` and `tail` only (what consumers need: the producer-side line stays put)
    /// and checks read ≤ tail ≤ read + capacity.
    func consumerCursors() throws(ArrayQueueError) -> (read: UInt64, tail: UInt64) {
        let read = header.read.pointee.load(ordering: .relaxed)
        let tail = header.tail.pointee.load(ordering: .relaxed)
        guard read <= tail, tail - read <= UInt64(capacity), read % UInt64(RecordHeader.alignment) == 0 else {
            throw corrupt("cursors out of order (read \(read), tail \(tail), capacity \(capacity))")
        }
        return (read, tail)
    }

    /// The record at `position` and its state, after checking that its header is sane and
    /// that it ends within the ring and at or before `tail`.
    func validatedRecord(at position: UInt64, tail: UInt64) throws(ArrayQueueError) -> (RecordHeader, RecordHeader.State) {
        let record = record(at: position)
        guard let state = record.state else { throw corrupt("record at position \(position) has an invalid state") }
        let length = record.length
        let offset = Int(position % UInt64(capacity))
        guard length >= RecordHeader.fixedSize, length % RecordHeader.alignment == 0,
              length <= capacity - offset, UInt64(length) <= tail - position else {
            throw corrupt("record at position \(position) has an invalid length \(length)")
        }
        if state != .skip {
            let payloadEnd = record.payloadOffset.addingReportingOverflow(record.payloadByteCount)
            guard record.checkIsValid, record.dimensionCount <= Shape.maxDimensions,
                  record.payloadOffset == RecordHeader.payloadOffset(dimensions: record.dimensionCount),
                  !payloadEnd.overflow, payloadEnd.partialValue <= length else {
                throw corrupt("record at position \(position) has an invalid header")
            }
        }
        return (record, state)
    }

    // MARK: - Producers

    /// A reserved record: the producer fills its payload, then publishes it with `commit`.
    struct Reservation {
        let record: RecordHeader
        let sequence: UInt64
    }

    /// What a producer asks for.
    struct Request {
        let dtype: DType
        let shape: [Int]
        let payloadBytes: Int
        let length: Int
        let timestamp: Int64
        let index: Int64?
        /// Extra record flags (CAQ_RECORD_ENVELOPE).
        var flags: UInt16 = 0
    }

    /// Reserves room for `request` at the tail (under the lock). Returns nil when there is
    /// no room now; with `dropOldest`, first drops committed records at the head to make room.
    func reserve(_ request: Request, dropOldest: Bool, owner: ProcessIdentity) throws(ArrayQueueError) -> Reservation? {
        if header.flags & CAQ_FLAG_RESET_ON_SHAPE_CHANGE != 0 {
            try applyResetPolicy(signature: Self.signature(dtype: request.dtype, shape: request.shape))
        }
        try reclaim()
        while true {
            let (head, _, tail) = try cursors()
            let offset = Int(tail % UInt64(capacity))
            // Payloads are contiguous: a record that would cross the end of the ring starts at 0
            // and a filler record covers the gap.
            let gap = offset + request.length > capacity ? capacity - offset : 0
            if Int(tail - head) + gap + request.length <= capacity {
                var start = tail
                if gap > 0 {
                    record(at: start).writeSkip(length: gap)
                    start += UInt64(gap)
                    header.tail.pointee.store(start, ordering: .relaxed)
                }
                let sequence = header.nextSequence.pointee.wrappingAdd(1, ordering: .relaxed).oldValue
                let record = record(at: start)
                record.writeReserved(
                    length: request.length, sequence: sequence, timestamp: request.timestamp, index: request.index,
                    dtype: request.dtype, shape: request.shape, payloadBytes: request.payloadBytes, flags: request.flags, owner: owner)
                header.tail.pointee.store(start + UInt64(request.length), ordering: .releasing)
                return Reservation(record: record, sequence: sequence)
            }
            guard dropOldest, try dropOldestAtHead() else { return nil }
            try reclaim()
        }
    }

    /// Publishes a filled record (no lock needed).
    func commit(_ reservation: Reservation) throws(ArrayQueueError) {
        guard reservation.record.exchangeState(from: .writing, to: .ready) else {
            throw corrupt("record \(reservation.sequence) was taken away while it was being written (was this process thought dead?)")
        }
        header.puts.pointee.wrappingAdd(1, ordering: .relaxed)
        header.dataSignal.notify()
    }

    /// Gives a reservation back unpublished (the producer's fill closure threw).
    func abandon(_ reservation: Reservation) {
        reservation.record.addFlags(CAQ_RECORD_DROPPED)
        if reservation.record.exchangeState(from: .writing, to: .done) {
            header.spaceSignal.notify()
        }
    }

    /// Advances head over consumed and filler records; when the ring is empty, moves all
    /// cursors to the next multiple of the capacity so that the next record starts at offset 0.
    func reclaim() throws(ArrayQueueError) {
        var (head, read, tail) = try cursors()
        while head < tail {
            let (record, state) = try validatedRecord(at: head, tail: tail)
            guard state == .done || state == .skip else { break }
            head += UInt64(record.length)
        }
        if head == tail {
            let capacity = UInt64(self.capacity)
            head = (tail + capacity - 1) / capacity * capacity
            header.tail.pointee.store(head, ordering: .relaxed)
        }
        read = max(read, head)
        header.head.pointee.store(head, ordering: .relaxed)
        header.read.pointee.store(read, ordering: .relaxed)
    }

    /// Drops the oldest committed record if nothing still in use precedes it. Returns false
    /// when the head is held by a record being written or read: then only waiting helps.
    private func dropOldestAtHead() throws(ArrayQueueError) -> Bool {
        let (head, _, tail) = try cursors()
        var position = head
        while position < tail {
            let (record, state) = try validatedRecord(at: position, tail: tail)
            switch state {
            case .done, .skip:
                position += UInt64(record.length)
            case .ready:
                drop(record)
                return true
            case .writing, .reading:
                return false
            }
        }
        return false
    }

    /// Marks a READY record dropped (under the lock, so no consumer can be claiming it).
    private func drop(_ record: RecordHeader) {
        record.addFlags(CAQ_RECORD_DROPPED)
        record.setState(.done)
        header.drops.pointee.wrappingAdd(1, ordering: .relaxed)
    }

    /// Drops every committed, unclaimed record; returns how many (under the lock).
    @discardableResult
    func dropAllReady() throws(ArrayQueueError) -> Int {
        let (read, tail) = try consumerCursors()
        var dropped = 0
        var position = read
        while position < tail {
            let (record, state) = try validatedRecord(at: position, tail: tail)
            if state == .ready {
                drop(record)
                dropped += 1
            }
            position += UInt64(record.length)
        }
        try reclaim()
        if dropped > 0 { header.spaceSignal.notify() }
        return dropped
    }

    private func applyResetPolicy(signature: UInt64) throws(ArrayQueueError) {
        let previous = header.shapeSignature.pointee.exchange(signature, ordering: .relaxed)
        guard previous != 0, previous != signature else { return }
        header.resets.pointee.wrappingAdd(1, ordering: .relaxed)
        try dropAllReady()
    }

    /// A non-zero hash of dtype and shape (FNV-1a), for the reset-on-shape-change policy.
    static func signature(dtype: DType, shape: [Int]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in [UInt64(dtype.rawValue), UInt64(shape.count)] + shape.map({ UInt64(truncatingIfNeeded: $0) }) {
            hash = (hash ^ value) &* 0x100_0000_01b3
        }
        return hash == 0 ? 1 : hash
    }

    // MARK: - Consumers

    /// Claims the oldest committed record (under the lock). Records still being written are
    /// skipped, so a slow producer does not hold up the others; each producer's records stay
    /// in order because it reserves them in order. With `expecting`, a record of another
    /// dtype is left in the queue and reported as a mismatch.
    func claim(expecting dtype: DType?, owner: ProcessIdentity) throws(ArrayQueueError) -> RecordHeader? {
        let (read, tail) = try consumerCursors()
        var position = read
        var newRead = read
        var contiguous = true
        defer { header.read.pointee.store(newRead, ordering: .relaxed) }
        while position < tail {
            let (record, state) = try validatedRecord(at: position, tail: tail)
            let next = position + UInt64(record.length)
            switch state {
            case .ready:
                if let dtype, record.dtypeCode != dtype.rawValue {
                    let found = (try? DType(code: record.dtypeCode))?.description ?? "dtype code \(record.dtypeCode)"
                    throw ArrayQueueError(.dtypeMismatch, "the next record in queue '\(name)' holds \(found), not \(dtype); it stays in the queue")
                }
                record.setOwner(owner)
                record.setState(.reading)
                if contiguous { newRead = next }
                return record
            case .writing:
                contiguous = false
            case .reading, .done, .skip:
                if contiguous { newRead = next }
            }
            position = next
        }
        return nil
    }

    /// Counts the committed, unclaimed records, stopping at `limit` (under the lock).
    func countReady(limit: Int = .max) throws(ArrayQueueError) -> Int {
        let (read, tail) = try consumerCursors()
        var count = 0
        var position = read
        while position < tail && count < limit {
            let (record, state) = try validatedRecord(at: position, tail: tail)
            if state == .ready { count += 1 }
            position += UInt64(record.length)
        }
        return count
    }

    /// Frees a claimed record after its consumer is done with it (no lock needed).
    func release(_ record: RecordHeader) {
        if record.exchangeState(from: .reading, to: .done) {
            header.gets.pointee.wrappingAdd(1, ordering: .relaxed)
        }
        header.spaceSignal.notify()
    }

    // MARK: - Dead peers

    /// Frees records whose writer or reader process died (under the lock): an unfinished
    /// write is discarded whole, an unfinished read is counted lost (never redelivered).
    /// Returns whether anything was freed.
    @discardableResult
    func sweepDeadPeers() throws(ArrayQueueError) -> Bool {
        let (head, _, tail) = try cursors()
        var liveness: [ProcessIdentity: Bool] = [:]
        var freed = false
        var position = head
        while position < tail {
            let (record, state) = try validatedRecord(at: position, tail: tail)
            switch state {
            case .writing, .reading:
                let owner = record.owner
                let alive = liveness[owner] ?? Attachments.isRecordOwnerAlive(owner, in: self)
                liveness[owner] = alive
                if !alive {
                    record.addFlags(CAQ_RECORD_ABANDONED)
                    if record.exchangeState(from: state, to: .done) {
                        let counter = state == .writing ? header.abandonedWrites : header.lostReads
                        counter.pointee.wrappingAdd(1, ordering: .relaxed)
                        freed = true
                    }
                }
            case .ready, .done, .skip:
                break
            }
            position += UInt64(record.length)
        }
        header.lastRecovery.pointee.store(UInt64(Sys.monotonicNanoseconds()), ordering: .relaxed)
        try reclaim()
        if freed { header.spaceSignal.notify() }
        return freed
    }

    /// Restores the invariants after a process died holding the lock: every lock-protected
    /// update leaves a consistent state at each store, so only `read` needs recomputing.
    private func repairAfterOwnerDeath() throws(ArrayQueueError) {
        let (head, _, tail) = try cursors()
        // `read` may lag behind a claim the dead process made; recompute it from the records.
        var read = head
        while read < tail {
            let (record, state) = try validatedRecord(at: read, tail: tail)
            if state == .ready || state == .writing { break }
            read += UInt64(record.length)
        }
        header.read.pointee.store(read, ordering: .relaxed)
        try sweepDeadPeers()
    }
}
