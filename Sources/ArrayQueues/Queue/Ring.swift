import CArrayQueuesShims
import Synchronization
@preconcurrency import Glibc

/// The queue protocol over a mapped segment (docs/LAYOUT.md, "Protocol").
///
/// Producers reserve under the segment's robust lock; payload copies never happen under it. A
/// producer reserves a record under the lock, fills it unlocked, and publishes it with one
/// compare-exchange (still WRITING by this producer → READY). A consumer claims the record at
/// `read` without the lock when it is ready (one compare-exchange of its state, one of `read`),
/// and walks the ring under the lock otherwise; it reads the record unlocked and frees it with
/// one compare-exchange (still READING by this process → DONE); freed space is reclaimed by
/// producers, in groups.
///
/// Every walk over the ring validates each record header before following it, so a corrupt
/// segment produces ``ArrayQueueError/Code/corruptSegment``, never an out-of-bounds access or
/// an endless loop.
///
/// A class, although nothing in it changes after `init`: as a struct of 240 bytes it was copied
/// onto the stack for every method call made through an `ArrayQueue` (a profile counted four
/// copies per put and get).
final class Ring {
    let header: SegmentHeader
    let capacity: Int
    let name: String
    /// The largest cursor value accepted: a lap and more of headroom below 2^64, so that no
    /// arithmetic on a validated cursor can overflow, whatever a crafted segment holds.
    let maximumPosition: UInt64
    /// Whether the queue is a broadcast queue (`CAQ_FLAG_BROADCAST`), read once: the flags are
    /// fixed once the segment is READY, so this spares every put and get a load of the header,
    /// and a handle keeps to one protocol should another process change them.
    let isBroadcast: Bool
    /// Bytes in use from which a reservation first reclaims freed room (it always does when a
    /// record does not fit): a producer then walks the records its consumers freed in groups
    /// (an eighth of the ring, at most 256 KiB: a walk of microseconds under the lock) rather
    /// than one by one, each walk pulling the consumers' lines to it once.
    let reclaimWindow: UInt64

    /// A value `read` had, seen by this handle: `read` only grows, so it is a lower bound that
    /// spares a producer's reclaim the load of the consumers' line while it answers.
    private let readSeen = SeenCursor()
    /// A value `tail` had, seen by this handle's consumers: `tail` only grows, so a consumer
    /// behind it claims the record at `read` without loading the line the producer stores
    /// at every put (``claimWithoutLock(expecting:maximumPayloadBytes:owner:probe:)``).
    private let tailSeen = SeenCursor()
    /// The lap positions were last located in: ring offsets without a division.
    private let lap: LapStart

    /// A ring over a validated segment mapped whole (`mappedSize` bytes). The capacity comes
    /// from the mapping, not from the header: a process with write access could change the
    /// header's copy after validation, and every offset must stay inside the mapping.
    init(header: SegmentHeader, mappedSize: Int, name: String) {
        self.header = header
        self.capacity = mappedSize - Int(CAQ_HEADER_SIZE)
        self.name = name
        // `validate` bounded the mapping by ArrayQueue.maximumCapacity (2^40) plus the header.
        self.maximumPosition = UInt64.max - 4 * UInt64(truncatingIfNeeded: max(capacity, 0))
        self.lap = LapStart(capacity: capacity)
        self.reclaimWindow = UInt64(max(0, min(capacity / 8, 256 << 10)))
        self.isBroadcast = header.isBroadcast
    }

    @inline(__always)
    func record(at position: UInt64) -> RecordHeader {
        RecordHeader(raw: header.data + offset(of: position))
    }

    /// Where `position` falls in the ring: `position % capacity`.
    @inline(__always)
    func offset(of position: UInt64) -> Int {
        lap.offset(of: position)
    }

    // MARK: - Lock

    /// How long a call without a deadline waits for the lock before giving up: critical
    /// sections take microseconds, so a lock held this long is held by a stopped or hostile
    /// process, and an error says which.
    static let maximumLockWait: Int64 = 10_000_000_000
    /// A caller's deadline is extended by this much for the lock alone, so that a short or
    /// zero timeout does not fail merely because another process held the lock for a moment.
    static let lockGrace: Int64 = 20_000_000

    /// Runs `body` holding the queue lock. If the previous holder died, first repairs what
    /// it may have left half-done, then marks the lock consistent.
    ///
    /// Waits for the lock until `deadline` (monotonic nanoseconds, at least ``lockGrace``
    /// from now), or ``maximumLockWait`` without one, then throws ``ArrayQueueError/Code/timeout``
    /// naming the process that holds it.
    func withLock<R>(deadline: Int64? = nil, _ body: () throws(ArrayQueueError) -> R) throws(ArrayQueueError) -> R {
        var fixed = Deadline(fixedAt: deadline)
        return try withLock(deadline: &fixed, body)
    }

    /// ``withLock(deadline:_:)`` for a call's first attempt: `deadline` is fixed only if the
    /// lock is busy beyond a short spin. Inlined down to one try of the lock: everything else
    /// (the spin, the wait, a repair, the errors) is ``acquire(after:deadline:)``, out of line.
    @inline(__always)
    func withLock<R>(deadline: inout Deadline, _ body: () throws(ArrayQueueError) -> R) throws(ArrayQueueError) -> R {
        let lock = header.lock
        let rc = Sys.mutexTryLock(lock)
        if rc != 0 { try acquire(after: rc, deadline: &deadline) }
        defer { Sys.mutexUnlock(lock) }
        return try body()
    }

    /// Takes the lock after a first try returned `rc` (not 0), as ``withLock(deadline:_:)``
    /// describes: returns holding it (repaired, if its last holder died), or throws without it.
    @inline(never)
    private func acquire(after firstTry: Int32, deadline: inout Deadline) throws(ArrayQueueError) {
        let lock = header.lock
        var rc = firstTry
        // The critical sections are a few hundred nanoseconds: spinning briefly beats a futex sleep.
        var tries = 0
        while rc == EBUSY, tries < 64 {
            Sys.cpuRelax()
            rc = Sys.mutexTryLock(lock)
            tries += 1
        }
        if rc == EBUSY {
            let start = Sys.monotonicNanoseconds()
            let limit = deadline.fix(now: start).map { max($0, start + Self.lockGrace) } ?? start + Self.maximumLockWait
            while rc == EBUSY || rc == ETIMEDOUT {
                let remaining = limit - Sys.monotonicNanoseconds()
                guard remaining > 0 else { throw lockTimeout(waited: Sys.monotonicNanoseconds() - start) }
                let slice = min(remaining, 1_000_000_000)
                rc = Sys.mutexLock(lock, nanoseconds: slice)
                // Critical sections take microseconds. A lock held a whole second by a thread that
                // does not exist cannot be released by anyone: the lock word is garbage. (After a
                // shorter wait, cut by the caller's deadline, an owner of 0 is a lock released a
                // moment ago, not garbage: that wait ends as a timeout.)
                if rc == ETIMEDOUT, slice == 1_000_000_000, case let owner = Sys.mutexOwner(lock), owner == 0 || !Sys.processExists(owner) {
                    throw ArrayQueueError(.corruptSegment, "the lock of queue '\(name)' is held by thread \(owner), which does not exist; the segment is corrupt")
                }
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
    }

    /// The error for a lock wait that outlived its deadline, naming the holder.
    private func lockTimeout(waited: Int64) -> ArrayQueueError {
        let thread = Sys.mutexOwner(header.lock)
        let holder = thread == 0 ? "another process" : "process \(Self.processOwning(thread: thread)) (thread \(thread))"
        return ArrayQueueError(.timeout, "the lock of queue '\(name)' is held by \(holder); gave up waiting for it after \(waited / 1_000_000) ms (a live process stopped inside a queue operation, or a hostile one)")
    }

    /// The pid of the process that thread `thread` belongs to (`Tgid` in `/proc/TID/status`);
    /// the thread id itself if that cannot be read.
    private static func processOwning(thread: Int32) -> Int32 {
        guard let bytes = Sys.readSmallFile("/proc/\(thread)/status") else { return thread }
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("Tgid:".utf8)) {
            let digits = line.dropFirst(5).filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            return Int32(String(decoding: digits, as: UTF8.self)) ?? thread
        }
        return thread
    }

    // MARK: - Walking

    private func corrupt(_ detail: String) -> ArrayQueueError {
        ArrayQueueError(.corruptSegment, "queue '\(name)' is corrupt: \(detail)")
    }

    /// Loads the cursors and checks head ≤ read ≤ tail ≤ ``maximumPosition``,
    /// tail − head ≤ capacity, and the alignment of each.
    func cursors() throws(ArrayQueueError) -> (head: UInt64, read: UInt64, tail: UInt64) {
        let head = header.head.pointee.load(ordering: .relaxed)
        let read = header.read.pointee.load(ordering: .relaxed)
        let tail = header.tail.pointee.load(ordering: .relaxed)
        let alignment = UInt64(RecordHeader.alignment)
        guard head <= read, read <= tail, tail <= maximumPosition, tail - head <= UInt64(capacity),
              head % alignment == 0, read % alignment == 0, tail % alignment == 0 else {
            throw corrupt("cursors out of order (head \(head), read \(read), tail \(tail), capacity \(capacity))")
        }
        return (head, read, tail)
    }

    /// Loads `head` and `tail` only (what a reservation needs: the consumers' line stays put)
    /// and checks head ≤ tail ≤ ``maximumPosition``, tail − head ≤ capacity and alignment.
    @inline(__always)
    func producerCursors() throws(ArrayQueueError) -> (head: UInt64, tail: UInt64) {
        try cursors(header.head, isRead: false)
    }

    /// Loads `read` and `tail` only (what consumers need: the producer-side line stays put)
    /// and checks read ≤ tail ≤ read + capacity, tail ≤ ``maximumPosition`` and alignment.
    @inline(__always)
    func consumerCursors() throws(ArrayQueueError) -> (read: UInt64, tail: UInt64) {
        try cursors(header.read, isRead: true)
    }

    /// `read` and the tail this handle saw last, if `read` is behind that tail (checked as
    /// ``consumerCursors()`` checks the real one): nil otherwise, and for a corrupt `read`.
    private func cursorsBehindSeenTail() -> (read: UInt64, tail: UInt64)? {
        let read = header.read.pointee.load(ordering: .sequentiallyConsistent)
        let tail = tailSeen.lowerBound
        guard read < tail, tail - read <= UInt64(capacity), read % UInt64(RecordHeader.alignment) == 0 else { return nil }
        return (read, tail)
    }

    /// Loads `low`, then `tail`, and checks low ≤ tail ≤ ``maximumPosition``, tail − low ≤
    /// capacity and the alignment of both (`low` is `read` or `head`, named in the error).
    /// Sequentially consistent loads (plain loads on x86): the claim without the lock needs
    /// them to pair with a waiter's registration (docs/LAYOUT.md, "Waiting and notifying").
    @inline(__always)
    private func cursors(_ low: UnsafeMutablePointer<Atomic<UInt64>>, isRead: Bool) throws(ArrayQueueError) -> (UInt64, UInt64) {
        let start = low.pointee.load(ordering: .sequentiallyConsistent)
        let end = header.tail.pointee.load(ordering: .sequentiallyConsistent)
        let alignment = UInt64(RecordHeader.alignment)
        guard start <= end, end <= maximumPosition, end - start <= UInt64(capacity), (start | end) % alignment == 0 else {
            throw cursorsOutOfOrder(isRead ? "read" : "head", start, tail: end)
        }
        return (start, end)
    }

    /// The error for cursors that failed validation (out of line, as ``invalidRecord(at:_:)``).
    @inline(never)
    private func cursorsOutOfOrder(_ low: String, _ start: UInt64, tail: UInt64) -> ArrayQueueError {
        corrupt("cursors out of order (\(low) \(start), tail \(tail), capacity \(capacity))")
    }

    /// The record at `position` (< `tail`, both validated cursors or positions between them)
    /// and its state, after checking that its header is sane and that it ends within the ring
    /// and at or before `tail`. Callers may then add its length to `position` without overflow.
    @inline(__always)
    func validatedRecord(at position: UInt64, tail: UInt64) throws(ArrayQueueError) -> (RecordHeader, RecordHeader.State, length: Int) {
        try validatedRecord(at: position, offset: offset(of: position), tail: tail)
    }

    /// ``validatedRecord(at:tail:)`` for a position located already: `offset` is `position`'s
    /// ring offset (a claim locates the record before it validates it, to ask for its lines).
    @inline(__always)
    func validatedRecord(at position: UInt64, offset: Int, tail: UInt64) throws(ArrayQueueError) -> (RecordHeader, RecordHeader.State, length: Int) {
        let (record, state, length) = try locatedRecord(at: position, offset: offset, tail: tail)
        if state != .skip, !headerIsSane(record, length: length) {
            throw invalidRecord(at: position, .header)
        }
        return (record, state, length)
    }

    /// The length and state of the record at `position` (< `tail`), after checking only what a
    /// walk that passes freed records needs: a known state, and a length that ends within the
    /// ring and at or before `tail`. Callers may then add the length to `position` without overflow.
    @inline(__always)
    func validatedLength(at position: UInt64, tail: UInt64) throws(ArrayQueueError) -> (Int, RecordHeader.State) {
        let (_, state, length) = try locatedRecord(at: position, offset: offset(of: position), tail: tail)
        return (length, state)
    }

    /// ``validatedLength(at:tail:)`` with the record it found: its place is located once.
    @inline(__always)
    private func locatedRecord(at position: UInt64, offset: Int, tail: UInt64) throws(ArrayQueueError) -> (RecordHeader, RecordHeader.State, length: Int) {
        let record = RecordHeader(raw: header.data + offset)
        guard let state = record.state else { throw invalidRecord(at: position, .state) }
        let length = record.length
        guard position < tail, isWithinRing(length: length, offset: offset), UInt64(length) <= tail - position else {
            throw invalidRecord(at: position, .length(length))
        }
        return (record, state, length)
    }

    /// The error for a record that failed validation; out of line, so that the checks that
    /// pass, on every walk, do not carry the building of their message.
    @inline(never)
    private func invalidRecord(at position: UInt64, _ field: InvalidField) -> ArrayQueueError {
        let what = switch field {
        case .state: "state"
        case .length(let length): "length \(length)"
        case .header: "header"
        }
        return corrupt("record at position \(position) has an invalid \(what)")
    }

    /// What of a record failed validation.
    private enum InvalidField {
        case state, length(Int), header
    }

    /// Whether a record of `length` bytes at ring offset `offset` is a whole number of
    /// alignment units, at least a header, and ends within the ring.
    @inline(__always)
    private func isWithinRing(length: Int, offset: Int) -> Bool {
        length >= RecordHeader.fixedSize && length % RecordHeader.alignment == 0 && length <= capacity - offset
    }

    /// Whether a record header is sane, given its `length` as validated: its check word, shape
    /// and payload agree with each other and fit in that length.
    @inline(__always)
    private func headerIsSane(_ record: RecordHeader, length: Int) -> Bool {
        let payloadEnd = record.payloadOffset.addingReportingOverflow(record.payloadByteCount)
        return record.checkIsValid && record.dimensionCount <= Shape.maxDimensions && record.payloadByteCount >= 0
            && record.payloadOffset == RecordHeader.payloadOffset(dimensions: record.dimensionCount)
            && !payloadEnd.overflow && payloadEnd.partialValue <= length
    }

    /// What a reader knows of a claimed record: its dtype, its shape (copied out once) and its
    /// payload (located from one load each of its offset and size), checked against each other
    /// and the ring's end; nil if they disagree (corrupt). Readers use this one answer for every
    /// copy, bound and description: the header may change under them (another process can write
    /// the segment), and a second load of the size or the shape could exceed a buffer sized by
    /// the first.
    @inline(__always)
    func claimedLayout(of record: RecordHeader) -> (dtype: DType, extents: InlineShape, payload: UnsafeMutableRawBufferPointer)? {
        var elements: Int?
        let extents = record.extents(elements: &elements)
        guard let (dtype, payload) = claimedLayout(of: record, elements: elements) else { return nil }
        return (dtype, extents, payload)
    }

    /// ``claimedLayout(of:)`` for a shape the caller already copied out of `record`, where it
    /// keeps it (a borrowed record builds it in place: the shape is 264 bytes), given as the
    /// number of `elements` counted while it was copied (``RecordHeader/extents(elements:)``).
    @inline(__always)
    func claimedLayout(of record: RecordHeader, elements: Int?) -> (dtype: DType, payload: UnsafeMutableRawBufferPointer)? {
        guard let elements, let dtype = DType(rawValue: record.dtypeCode), let payload = record.payloadBuffer(ringEnd: end) else { return nil }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.itemSize)
        guard !overflow, bytes == payload.count else { return nil }
        return (dtype, payload)
    }

    /// The end of the data ring.
    var end: UnsafeMutableRawPointer { header.data + capacity }

    // MARK: - Producers

    /// A reserved record: the producer fills its payload, then publishes it with `commit`.
    struct Reservation {
        let record: RecordHeader
        let sequence: UInt64
        /// Where the producer writes, from the request it made: never from the header, which
        /// another process could change while the payload is written.
        let payload: UnsafeMutableRawBufferPointer
        /// The pid it was reserved for: publishing and giving back expect WRITING by this writer.
        let writer: UInt32
    }

    /// What a producer asks for.
    struct Request {
        let dtype: DType
        /// The shape, borrowed from the caller for as long as the put that made the request
        /// runs. A request holds no reference: a batch copies one per record, and each copy of
        /// an `[Int]` shape cost two atomic reference counts, a third of the batched producer's
        /// time in a profile (docs/BENCHMARKS.md).
        let shape: UnsafeBufferPointer<Int>
        let payloadBytes: Int
        let length: Int
        let timestamp: Int64
        let index: Int64?
        /// Extra record flags (CAQ_RECORD_ENVELOPE).
        var flags: UInt16 = 0
    }

    /// The most payload bytes ``reserve(_:publishing:dropOldest:owner:)`` copies under the lock:
    /// a small record's copy costs less than the steps of a commit it spares, and a consumer
    /// never sees the record being written (docs/LAYOUT.md, "Put").
    static let lockedCopyLimit = 1024

    /// Reserves room for `request` at the tail (under the lock). Returns nil when there is
    /// no room now; with `dropOldest`, first drops committed records at the head to make room.
    ///
    /// Reclaims freed room first when `reclaimingFirst` (the first record of a hold of the lock)
    /// and ``reclaimWindow`` bytes or more are in use, otherwise only when the record does not
    /// fit: the later records of a batch skip the walk over freed records and the cursor stores.
    /// (Reclaiming only when a record does not fit, once a lap in bulk, was measured: it made
    /// batches of 1 KiB records slower, each header of a long walk a cache miss of its own.)
    func reserve(_ request: Request, dropOldest: Bool, owner: ProcessIdentity, reclaimingFirst: Bool = true) throws(ArrayQueueError) -> Reservation? {
        try reserve(request, dropOldest: dropOldest, owner: owner, reclaimingFirst: reclaimingFirst, contents: nil)
    }

    /// ``reserve(_:dropOldest:owner:reclaimingFirst:)`` for a small copy: `contents` (exactly
    /// `payloadBytes`, at most ``lockedCopyLimit``) is copied and the record published
    /// here, before `tail` moves over it; only ``notifyPublished()`` is left to the caller.
    func reserve(_ request: Request, publishing contents: UnsafeRawBufferPointer, dropOldest: Bool, owner: ProcessIdentity) throws(ArrayQueueError) -> Reservation? {
        try reserve(request, dropOldest: dropOldest, owner: owner, reclaimingFirst: true, contents: contents)
    }

    /// Both reservations, inlined into each: the plain one's copy folds the `contents` branches away.
    @inline(__always)
    private func reserve(
        _ request: Request, dropOldest: Bool, owner: ProcessIdentity, reclaimingFirst: Bool, contents: UnsafeRawBufferPointer?
    ) throws(ArrayQueueError) -> Reservation? {
        crashPoint(.reserveBegin)
        if header.flags & CAQ_FLAG_RESET_ON_SHAPE_CHANGE != 0 {
            try applyResetPolicy(signature: Self.signature(dtype: request.dtype, shape: request.shape))
        }
        var reclaimed = false
        // Loaded again only after a walk that may have moved them.
        var cursors = try producerCursors()
        if reclaimingFirst, cursors.tail - cursors.head >= reclaimWindow {
            try reclaim()
            reclaimed = true
            cursors = try producerCursors()
        }
        while true {
            let (head, tail) = cursors
            let offset = offset(of: tail)
            // Payloads are contiguous: a record that would cross the end of the ring starts at 0
            // and a filler record covers the gap.
            let gap = offset + request.length > capacity ? capacity - offset : 0
            if Int(tail - head) + gap + request.length <= capacity {
                var start = tail
                if gap > 0 {
                    record(at: start).writeSkip(length: gap)
                    crashPoint(.reserveGapSkipWritten)
                    start += UInt64(gap)
                    header.tail.pointee.store(start, ordering: .releasing)
                    crashPoint(.reserveGapTailStored)
                }
                // A sequence number taken by a process that dies before the tail store is skipped, never reused.
                // Only lock holders store it: a load and a store, not a locked read-modify-write.
                let sequence = header.nextSequence.pointee.load(ordering: .relaxed)
                header.nextSequence.pointee.store(sequence &+ 1, ordering: .relaxed)
                crashPoint(.reserveSequenceTaken)
                let record = record(at: start)
                let payload = UnsafeMutableRawBufferPointer(
                    start: record.raw + RecordHeader.payloadOffset(dimensions: request.shape.count), count: request.payloadBytes)
                // A small copy is written and published here, beyond `tail`, where no one reads:
                // the tail store below makes it visible complete, and a process killed before that
                // store leaves bytes the next reservation overwrites.
                if let contents { payload.copyMemory(from: contents) }
                record.writeReserved(
                    length: request.length, sequence: sequence, timestamp: request.timestamp, index: request.index, dtype: request.dtype,
                    shape: request.shape, payloadBytes: request.payloadBytes, flags: request.flags, owner: owner, published: contents != nil)
                crashPoint(.reserveHeaderWritten)
                if contents != nil {
                    // Before the tail store, as a commit counts first: never fewer than delivered.
                    header.puts.pointee.wrappingAdd(1, ordering: .relaxed)
                    crashPoint(.reserveCounted)
                }
                header.tail.pointee.store(start + UInt64(request.length), ordering: .releasing)
                crashPoint(.reserveTailStored)
                // The next record's room was last written by a consumer, often a lap ago on another
                // core: asked for now, it is owned by the time the next put writes it, and that
                // put does not wait for the lines. Only free room: in a nearly full ring those lines
                // hold the oldest record, which a consumer may be reading. (No overflow: positions
                // stay below maximumPosition, a lap and more under 2^64.)
                let following = start + UInt64(request.length)
                if following + UInt64(3 * RecordHeader.fixedSize) <= head + UInt64(capacity) {
                    self.record(at: following).prefetchForWriting(following: true)
                }
                return Reservation(record: record, sequence: sequence, payload: payload, writer: owner.pid)
            }
            if !reclaimed {
                reclaimed = true
                try reclaim()
            } else {
                guard dropOldest, try dropOldestAtHead() else { return nil }
                try reclaim()
            }
            cursors = try producerCursors()
        }
    }

    /// Wakes consumers for a record published under the lock (`reserve`'s `contents`), once the
    /// lock is released (no lock needed).
    func notifyPublished() {
        crashPoint(.publishBegin)
        header.dataSignal.notify()
        crashPoint(.publishNotified)
    }

    /// Publishes a filled record (no lock needed); see ``commit(_:filling:published:)``.
    func commit(_ reservation: Reservation) throws(ArrayQueueError) {
        try commit(CollectionOfOne(reservation), filling: { _ in }, published: {})
    }

    /// Publishes reserved records in order (no lock needed): `fill` writes each one's payload
    /// right before its WRITING → READY, and `published` hears of each after it. `puts` is
    /// counted for the whole batch first, so that a process killed in between over-counts by
    /// at most the batch, but never counts fewer than delivered; consumers are notified once,
    /// after the last. If a record was taken away meanwhile (its process was thought dead), the
    /// ones after it are given back unfilled and the error is thrown.
    func commit<Reservations: Collection<Reservation>>(
        _ reservations: Reservations, filling fill: (Reservation) -> Void, published: () -> Void
    ) throws(ArrayQueueError) {
        let count = reservations.count
        // Only the process that reserved publishes: a child made by `fork()` while a record was
        // reserved would otherwise publish its parent's half-written record.
        if let first = reservations.first, first.writer != ProcessIdentity.current.pid {
            throw ArrayQueueError(.invalidArgument, "record \(first.sequence) of queue '\(name)' was reserved by process \(first.writer); only that process can publish it (this one was forked from it while the record was reserved)")
        }
        crashPoint(.commitBegin)
        header.puts.pointee.wrappingAdd(UInt64(count), ordering: .relaxed)
        crashPoint(.commitCounted)
        var committed = 0
        var lost: Reservation?
        for reservation in reservations {
            if lost != nil {
                abandon(reservation)
                continue
            }
            // A consumer that saw the tail move may have looked at this header while the record
            // was written: the stores that publish it are about to need the line owned again.
            reservation.record.prefetchForWriting(following: false)
            fill(reservation)
            // A consumer claims by one compare-exchange of `state` and `owner_pid`, then stores its
            // start time: until then this 0 makes a sweep judge it by its pid alone, never by the
            // writer's start time (which would make a live reader look like a reused pid).
            if reservation.record.stateAndOwner == RecordHeader.writingWord(writer: reservation.writer) {
                reservation.record.setOwner(start: 0)
            }
            crashPoint(.commitOwnerCleared)
            let isReady = reservation.record.publish(sequence: reservation.sequence, writer: reservation.writer)
            crashPoint(.commitReady)
            if isReady {
                committed += 1
                published()
            } else {
                lost = reservation
            }
        }
        if committed < count {
            header.puts.pointee.wrappingSubtract(UInt64(count - committed), ordering: .relaxed)
            crashPoint(.commitCounted)
        }
        if committed > 0 {
            header.dataSignal.notify()
            crashPoint(.commitNotified)
        }
        if let lost {
            throw corrupt("record \(lost.sequence) was taken away while it was being written (was this process thought dead?)")
        }
    }

    /// Gives a reservation back unpublished (the producer's fill closure threw).
    func abandon(_ reservation: Reservation) {
        crashPoint(.abandonBegin)
        // This process's (a child forked while the record was reserved leaves it to its parent), and
        // still this writer's (a sweep may have taken it, and its room held another record since).
        guard reservation.writer == ProcessIdentity.current.pid,
              reservation.record.stateAndOwner == RecordHeader.writingWord(writer: reservation.writer) else { return }
        reservation.record.addFlags(CAQ_RECORD_DROPPED)
        crashPoint(.abandonFlagged)
        if reservation.record.abandonUnpublished(writer: reservation.writer) {
            crashPoint(.abandonDone)
            header.spaceSignal.notify()
            crashPoint(.abandonNotified)
        }
    }

    /// Advances head over consumed and filler records; when the ring is empty, moves all
    /// cursors to the start of the next lap so that the next record starts at offset 0.
    ///
    /// Every prefix of its stores is a consistent state (docs/LAYOUT.md, "Crash points"):
    /// `read` moves before `head`, and the jump to the next lap first covers the rest of
    /// this lap with a filler record, then moves `tail`, `read` and `head` over it.
    func reclaim() throws(ArrayQueueError) {
        let (head, tail) = try producerCursors()
        var newHead = head
        while newHead < tail {
            // Only the state and the length are followed here: a freed record's other fields are
            // never read, so they need no validation (the walks that read records check them).
            let (length, state) = try validatedLength(at: newHead, tail: tail)
            guard state == .done || state == .skip else { break }
            newHead += UInt64(length)
        }
        crashPoint(.reclaimBegin)
        // `read` is loaded only when a value seen before does not show it at or past the new head:
        // it is the consumers' line, and loading it for every put moved it here each time.
        if newHead != head, newHead > readSeen.lowerBound {
            let read = header.read.pointee.load(ordering: .relaxed)
            readSeen.saw(read)
            if read < newHead {
                advanceRead(to: newHead)
                crashPoint(.reclaimReadStored)
            }
        }
        if newHead != head {
            header.head.pointee.store(newHead, ordering: .relaxed)
            crashPoint(.reclaimHeadStored)
        }
        let offset = offset(of: tail)
        guard newHead == tail, offset != 0 else { return }
        // No overflow: tail ≤ maximumPosition.
        let lapEnd = tail + UInt64(capacity - offset)
        crashPoint(.reclaimWrapBegin)
        record(at: tail).writeSkip(length: Int(lapEnd - tail))
        crashPoint(.reclaimWrapSkipWritten)
        header.tail.pointee.store(lapEnd, ordering: .releasing)
        crashPoint(.reclaimWrapTailStored)
        advanceRead(to: lapEnd)
        crashPoint(.reclaimWrapReadStored)
        header.head.pointee.store(lapEnd, ordering: .relaxed)
        crashPoint(.reclaimWrapHeadStored)
    }

    /// Drops the oldest committed record if nothing still in use precedes it. Returns false
    /// when the head is held by a record being written or read: then only waiting helps.
    private func dropOldestAtHead() throws(ArrayQueueError) -> Bool {
        let (head, _, tail) = try cursors()
        var position = head
        while position < tail {
            let (record, state, length) = try validatedRecord(at: position, tail: tail)
            switch state {
            case .done, .skip:
                position += UInt64(length)
            case .ready:
                // False if a consumer claimed it meanwhile (without the lock): then it holds the head.
                return drop(record)
            case .writing, .reading:
                return false
            }
        }
        return false
    }

    /// Drops a READY record (under the lock): flag, then READY → DONE by compare-exchange,
    /// since a consumer may be claiming it without the lock; then the count. Returns false if
    /// the consumer won (its record then carries the flag, which nothing reads on a claimed record).
    @discardableResult
    func drop(_ record: RecordHeader) -> Bool {
        crashPoint(.dropBegin)
        record.addFlags(CAQ_RECORD_DROPPED)
        crashPoint(.dropFlagged)
        guard record.exchangeState(from: .ready, to: .done) else { return false }
        crashPoint(.dropDone)
        header.drops.pointee.wrappingAdd(1, ordering: .relaxed)
        crashPoint(.dropCounted)
        return true
    }

    /// Drops every committed, unclaimed record; returns how many (under the lock).
    @discardableResult
    func dropAllReady() throws(ArrayQueueError) -> Int {
        let (read, tail) = try consumerCursors()
        var dropped = 0
        var position = read
        while position < tail {
            let (record, state, length) = try validatedRecord(at: position, tail: tail)
            if state == .ready, drop(record) {
                dropped += 1
            }
            position += UInt64(length)
        }
        try reclaim()
        crashPoint(.dropAllReclaimed)
        if dropped > 0 {
            header.spaceSignal.notify()
            crashPoint(.dropAllNotified)
        }
        return dropped
    }

    /// `clear()`: counts the call, then drops every waiting record (under the lock).
    func clear() throws(ArrayQueueError) -> Int {
        crashPoint(.clearBegin)
        header.clears.pointee.wrappingAdd(1, ordering: .relaxed)
        crashPoint(.clearCounted)
        return try dropAllReady()
    }

    /// Drops the waiting records if the shape changed. The signature is stored last: a
    /// process killed before that leaves the old one, and the next put repeats the reset.
    private func applyResetPolicy(signature: UInt64) throws(ArrayQueueError) {
        let previous = header.shapeSignature.pointee.load(ordering: .relaxed)
        guard previous != signature else { return }
        if previous != 0 {
            try dropAllReady()
            crashPoint(.resetDropped)
            header.resets.pointee.wrappingAdd(1, ordering: .relaxed)
            crashPoint(.resetCounted)
        }
        header.shapeSignature.pointee.store(signature, ordering: .relaxed)
        crashPoint(.resetSignatureStored)
    }

    /// A non-zero hash of dtype and shape (FNV-1a), for the reset-on-shape-change policy.
    static func signature(dtype: DType, shape: some Collection<Int>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) { hash = (hash ^ value) &* 0x100_0000_01b3 }
        mix(UInt64(dtype.rawValue))
        mix(UInt64(shape.count))
        for extent in shape { mix(UInt64(truncatingIfNeeded: extent)) }
        return hash == 0 ? 1 : hash
    }

    // MARK: - Consumers

    /// Claims the oldest committed record (under the lock). Records still being written are
    /// skipped, so a slow producer does not hold up the others; each producer's records stay
    /// in order because it reserves them in order. With `expecting`, a record of another
    /// dtype is left in the queue and reported as a mismatch. A record whose payload exceeds
    /// `maximumPayloadBytes` is left in the queue, unclaimed, and returned in `tooLarge` instead
    /// (for bindings that read into a buffer of their caller's: nothing is claimed that would
    /// then have to be given back). When it claims nothing, `probe` tells a waiting consumer
    /// where to look for the next record.
    func claim(
        expecting dtype: DType?, maximumPayloadBytes: Int, owner: ProcessIdentity, tooLarge: inout RecordHeader?,
        probe: inout ArrivalProbe
    ) throws(ArrayQueueError) -> RecordHeader? {
        var found: RecordHeader?
        try claim(upTo: 1, expecting: dtype, maximumPayloadBytes: maximumPayloadBytes, owner: owner, tooLarge: &tooLarge, probe: &probe) { found = $0 }
        return found
    }

    /// Claims up to `limit` committed records in one walk from `read` (under the lock), passing
    /// each to `claimed` in queue order, and stores `read` once. Once it has claimed one, the
    /// walk ends at the next record still being written: the rest of a producer's batch is not
    /// walked record by record while it is being filled. `expecting` and `maximumPayloadBytes`
    /// as for one record: a mismatch ends the walk (and is reported only if nothing was claimed).
    /// Returns how many were claimed. Records claimed before an error stay claimed: `claimed`
    /// has them. When it claims none, `probe` tells a waiting consumer where to look next.
    @discardableResult
    func claim(
        upTo limit: Int, expecting dtype: DType?, maximumPayloadBytes: Int, owner: ProcessIdentity,
        tooLarge: inout RecordHeader?, probe: inout ArrivalProbe, _ claimed: (RecordHeader) -> Void
    ) throws(ArrayQueueError) -> Int {
        let (read, tail) = try consumerCursors()
        var position = read
        var newRead = read
        var contiguous = true
        var count = 0
        var firstWriting: UInt64?
        // The WRITING records passed (only before the first claim: after it, the walk ends at
        // the next one), and how often the walk started again because one was published.
        var passedWriting: [UInt64] = []
        var restarts = 0
        walk: while position < tail && count < limit {
            let (record, state, length) = try validatedRecord(at: position, tail: tail)
            let next = position + UInt64(length)
            switch state {
            case .ready:
                // Each producer's records in its order: it publishes them in the order it reserved
                // them, so a record passed as WRITING that is still WRITING now, after this one was
                // seen READY, is another producer's. One published since may be this one's producer's
                // earlier record: walk again from `read` (a few times at most: a hostile segment could
                // flip states for ever), or end a walk that has claimed already.
                if !passedWriting.isEmpty, restarts < 8,
                   passedWriting.contains(where: { self.record(at: $0).state != .writing }) {
                    if count > 0 { break walk }
                    restarts += 1
                    passedWriting.removeAll(keepingCapacity: true)
                    position = read
                    newRead = read
                    contiguous = true
                    firstWriting = nil
                    continue walk
                }
                if let dtype, record.dtypeCode != dtype.rawValue {
                    if count > 0 { break walk }
                    advanceRead(from: read, to: newRead)
                    let found = (try? DType(code: record.dtypeCode))?.description ?? "dtype code \(record.dtypeCode)"
                    throw ArrayQueueError(.dtypeMismatch, "the next record in queue '\(name)' holds \(found), not \(dtype); it stays in the queue")
                }
                guard record.payloadByteCount <= maximumPayloadBytes else {
                    if count == 0 { tooLarge = record }
                    break walk
                }
                // Consumers claiming without the lock compete for it: one compare-exchange decides
                // (positions do not move under the lock, so the word as loaded names this record).
                if case let word = record.stateAndOwner, RecordHeader.state(of: word) == .ready,
                   take(record, from: word, owner: owner, quick: false) {
                    claimed(record)
                    count += 1
                }
                if contiguous { newRead = next }
            case .writing:
                if count > 0 { break walk }
                if firstWriting == nil { firstWriting = position }
                passedWriting.append(position)
                contiguous = false
            case .reading, .done, .skip:
                if contiguous { newRead = next }
            }
            position = next
        }
        advanceRead(from: read, to: newRead)
        if count == 0 { probe = ArrivalProbe(tail: tail, writing: firstWriting) }
        return count
    }

    /// Claims `record` if its state and owner word still holds `word` (READY, as loaded): state
    /// and owner pid in one compare-exchange, then the owner's start time. False if another
    /// consumer took it first, or it is no longer that READY record. `quick`: a claim without
    /// the lock (its own crash points).
    private func take(_ record: RecordHeader, from word: UInt64, owner: ProcessIdentity, quick: Bool) -> Bool {
        if quick { crashPoint(.claimQuickBegin) } else { crashPoint(.claimBegin) }
        guard record.exchangeState(from: word, toReadingBy: owner) else { return false }
        if quick { crashPoint(.claimQuickReading) } else { crashPoint(.claimReading) }
        record.setOwner(start: owner.startTime)
        if quick { crashPoint(.claimQuickOwnerSet) } else { crashPoint(.claimOwnerSet) }
        return true
    }

    /// Stores the consumers' cursor if a claim walk moved it.
    private func advanceRead(from read: UInt64, to newRead: UInt64) {
        guard newRead != read else { return }
        crashPoint(.claimWalked)
        advanceRead(to: newRead)
        crashPoint(.claimReadStored)
    }

    /// Moves `read` forward to `position` unless it is there or past it already: consumers move
    /// it without the lock, and it never moves back.
    private func advanceRead(to position: UInt64) {
        var current = header.read.pointee.load(ordering: .relaxed)
        crashPoint(.readAdvanceBegin)
        while current < position {
            let (exchanged, found) = header.read.pointee.compareExchange(expected: current, desired: position, ordering: .acquiringAndReleasing)
            crashPoint(.readAdvanced)
            if exchanged { return }
            current = found
        }
    }

    /// Where a consumer that found no record looks while it spins, instead of the data signal
    /// (docs/LAYOUT.md, "Waiting and notifying"): the end of the records it walked, and the
    /// first of them that was still being written.
    struct ArrivalProbe {
        var tail: UInt64 = 0
        var writing: UInt64?
        var polls: UInt32 = 0
        /// The state word at `tail`'s place when the spin first looked there: whatever the last
        /// lap left, until a small put writes its record there READY.
        var slotState: UInt32?
    }

    /// Whether a record may have become claimable since `probe` was taken: a record appeared
    /// READY at the old tail (a small put publishes it there before it moves `tail`), the record
    /// being written was published (or freed), or a record was reserved at the old tail and is
    /// no longer being written. A hint read without the lock (the claim decides, against the
    /// real `tail`); it follows a record reserved at the old tail while it is written, so that
    /// the consumer tries once.
    func hasArrival(_ probe: inout ArrivalProbe) -> Bool {
        // The record being written is looked at every fourth poll only: each look pulls its
        // header's line from the producer, who must then take it back to publish the record.
        probe.polls &+= 1
        if let writing = probe.writing, probe.polls & 3 == 0, record(at: writing).rawState != CAQ_STATE_WRITING { return true }
        // The place of the next record is watched with `tail`: the two loads are in flight at
        // once, so the record's header arrives with the news of it instead of after it (the
        // claim would otherwise fetch it then, a second transfer between the cores). Only a
        // change to READY counts: a stale READY word (left beyond `tail` by a producer killed
        // before its tail store) is the baseline, not news.
        if probe.writing == nil {
            let slot = record(at: probe.tail).rawState
            if let before = probe.slotState {
                if slot != before, slot == CAQ_STATE_READY { return true }
            } else {
                probe.slotState = slot
            }
        }
        let tail = header.tail.pointee.load(ordering: .acquiring)
        guard tail != probe.tail else { return false }
        if probe.writing == nil, tail > probe.tail, tail - probe.tail <= UInt64(capacity),
           record(at: probe.tail).rawState == CAQ_STATE_WRITING {
            probe = ArrivalProbe(tail: tail, writing: probe.tail)
            return false
        }
        return true
    }

    /// What ``claimWithoutLock(expecting:maximumPayloadBytes:owner:probe:)`` found.
    enum QuickClaim {
        /// The record at `read`, now claimed.
        case claimed(RecordHeader)
        /// No record at all (`read == tail`); `probe` says where the next one will be.
        case empty
        /// Anything else (a record being written or claimed at `read`, a filler, a dtype or size
        /// the caller refuses, a lost race, a header that does not validate): the locked walk decides.
        case needsLock
    }

    /// Claims the record at `read` without the lock when it is READY (docs/LAYOUT.md, "Get"):
    /// the common case of a consumer that keeps up. The claim is one compare-exchange of the
    /// record's state and owner; `read` then moves past it by a compare-exchange that succeeds
    /// only if `read` still points at it.
    ///
    /// Why the record claimed is the one that was checked: a READY record carries the low 32
    /// bits of its sequence number where a claimed one names its reader (``RecordHeader/publish()``),
    /// and the compare-exchange expects READY with the sequence number read when the record was
    /// checked. A consumer delayed after that check, while the record was taken by another,
    /// freed, and its room reused by a later record, claims nothing and looks again.
    func claimWithoutLock(
        expecting dtype: DType?, maximumPayloadBytes: Int, owner: ProcessIdentity, probe: inout ArrivalProbe
    ) throws(ArrayQueueError) -> QuickClaim {
        try claimAtRead(
            upTo: 1, owner: owner, probe: &probe,
            accepts: { record in (dtype.map { $0.rawValue == record.dtypeCode } ?? true) && record.payloadByteCount <= maximumPayloadBytes },
            claimed: { _ in })
    }

    /// ``claimWithoutLock(expecting:maximumPayloadBytes:owner:probe:)`` for a batch: claims the
    /// record at `read`, then up to `limit` − 1 READY records right after it, each by its own
    /// compare-exchange, and moves `read` past them all once. Passes each to `claimed`, in
    /// queue order. The run ends at the first record that is not READY or that `accepts` (asked
    /// right before each claim, after `claimed` heard of the one before) refuses; a first record
    /// it refuses is left to the walk under the lock (``QuickClaim/needsLock``).
    ///
    /// Why the records after the first are the ones checked: while the first is claimed, `head`
    /// cannot pass it, so no record up to a lap after it can be written, and the room of the
    /// ones that follow it cannot be reused; each compare-exchange expects the word checked.
    /// Inlined, so that each caller's `accepts` and `claimed` are inlined into the run's loop
    /// (called through closure contexts, they cost a batch 90 instructions per record).
    @inline(__always)
    func claimRunWithoutLock(
        upTo limit: Int, owner: ProcessIdentity, probe: inout ArrivalProbe,
        accepts: (RecordHeader) -> Bool = { _ in true }, _ claimed: (RecordHeader) -> Void
    ) throws(ArrayQueueError) -> QuickClaim {
        try claimAtRead(upTo: limit, owner: owner, probe: &probe, accepts: accepts, claimed: claimed)
    }

    /// The claim at `read` of ``claimWithoutLock(expecting:maximumPayloadBytes:owner:probe:)``,
    /// extended to the run of ``claimRunWithoutLock(upTo:owner:probe:_:)`` when `limit` > 1.
    @inline(__always)
    private func claimAtRead(
        upTo limit: Int, owner: ProcessIdentity, probe: inout ArrivalProbe,
        accepts: (RecordHeader) -> Bool, claimed: (RecordHeader) -> Void
    ) throws(ArrayQueueError) -> QuickClaim {
        for attempt in 0..<4 {
            // First against a tail seen before, if `read` is behind it: then the record at `read`
            // exists (`tail` only grows), and a consumer behind the producer does not pull the
            // producer's line. Whatever that record turns out to be, a look with the real tail
            // follows before anything but a claim is concluded. Sequentially consistent: after a
            // waiter's registration on the data signal, the check that finds nothing must see a
            // record a notifier did not announce (docs/LAYOUT.md).
            let seenTail = attempt == 0 ? cursorsBehindSeenTail() : nil
            guard let (read, tail) = seenTail ?? (try? consumerCursors()) else {
                return .needsLock
            }
            if seenTail == nil { tailSeen.saw(tail) }
            if read == tail {
                probe = ArrivalProbe(tail: tail)
                return .empty
            }
            // The state word first: a READY word holds the low bits of its record's sequence
            // number, and the header is read after it; the claim then expects this very word, so
            // it can only take the record that was checked (not one that reused its room since).
            let offset = offset(of: read)
            let record = RecordHeader(raw: header.data + offset)
            record.prefetchForClaim()
            let word = record.stateAndOwner
            guard let (_, state, length) = try? validatedRecord(at: read, offset: offset, tail: tail) else {
                if seenTail != nil { continue }
                return .needsLock
            }
            // No overflow: validatedRecord checked read + length ≤ tail.
            var end = read + UInt64(length)
            guard word == RecordHeader.readyWord(sequence: record.sequence) else {
                if seenTail != nil { continue }
                if state == .writing, end == tail {
                    // The last record reserved is still being written and nothing follows it: nothing
                    // to claim, and no reason to take the lock (the producer holds its line).
                    probe = ArrivalProbe(tail: tail, writing: read)
                    return .empty
                }
                return .needsLock
            }
            guard accepts(record) else { return .needsLock }
            // `read` still at this record: since `read` only moves forward, the word loaded above
            // was then the word of the record at `read`, not of a later one at the same place.
            guard header.read.pointee.load(ordering: .sequentiallyConsistent) == read else { continue }
            guard take(record, from: word, owner: owner, quick: true) else { continue }
            claimed(record)
            var count = 1
            while count < limit, end < tail {
                let nextOffset = self.offset(of: end)
                let next = RecordHeader(raw: header.data + nextOffset)
                let nextWord = next.stateAndOwner
                guard let (_, _, nextLength) = try? validatedRecord(at: end, offset: nextOffset, tail: tail),
                      nextWord == RecordHeader.readyWord(sequence: next.sequence), accepts(next),
                      take(next, from: nextWord, owner: owner, quick: true) else { break }
                claimed(next)
                count += 1
                end += UInt64(nextLength)
            }
            crashPoint(.claimQuickReadBegin)
            // Fails only if a walk under the lock moved `read` meanwhile, over records claimed or
            // freed: the next walk moves it on, so nothing is lost by leaving it.
            _ = header.read.pointee.compareExchange(expected: read, desired: end, ordering: .acquiringAndReleasing)
            crashPoint(.claimQuickReadStored)
            return .claimed(record)
        }
        return .needsLock
    }


    /// Counts the committed, unclaimed records, stopping at `limit` (under the lock).
    func countReady(limit: Int = .max) throws(ArrayQueueError) -> Int {
        let (read, tail) = try consumerCursors()
        var count = 0
        var position = read
        while position < tail && count < limit {
            let (_, state, length) = try validatedRecord(at: position, tail: tail)
            if state == .ready { count += 1 }
            position += UInt64(length)
        }
        return count
    }

    /// Frees a claimed record after its consumer, `reader` (this process's pid), is done with it
    /// (no lock needed).
    func release(_ record: RecordHeader, reader: UInt32 = ProcessIdentity.current.pid) {
        release(CollectionOfOne(record), reader: reader) { _ in }
    }

    /// Lends each claimed record to `read`, then frees it (READING → DONE) at once, so that its
    /// room can be reclaimed while the rest are read; counts them in `gets` and notifies
    /// producers once, after the last (no lock needed). A process killed in between leaves
    /// `gets` short by at most the batch.
    ///
    /// Only records that this process holds are freed (READING by its pid, `reader`): one a sweep took
    /// from a reader it thought dead may hold another reader's record by now, and a child made
    /// by `fork()` inside a read leaves the records it inherited to the parent that claimed them.
    func release<Records: Collection<RecordHeader>>(
        _ records: Records, reader: UInt32 = ProcessIdentity.current.pid, after read: (RecordHeader) -> Void
    ) {
        var released: UInt64 = 0
        for record in records {
            read(record)
            crashPoint(.releaseBegin)
            if record.finishReading(by: reader) {
                crashPoint(.releaseDone)
                released += 1
            }
        }
        if released > 0 {
            header.gets.pointee.wrappingAdd(released, ordering: .relaxed)
            crashPoint(.releaseCounted)
        }
        header.spaceSignal.notify()
        crashPoint(.releaseNotified)
    }

    // MARK: - Dead peers

    /// Frees records whose writer or reader process died (under the lock): an unfinished
    /// write is discarded whole, an unfinished read is counted lost (never redelivered).
    /// Returns whether anything was freed. Stamps `last_recovery_ns` first, the queue-wide
    /// timer that spaces sweeps (``ArrayQueue/recoverIfDue()``).
    @discardableResult
    func sweepDeadPeers() throws(ArrayQueueError) -> Bool {
        let (head, _, tail) = try cursors()
        crashPoint(.sweepBegin)
        header.lastRecovery.pointee.store(UInt64(bitPattern: Sys.monotonicNanoseconds()), ordering: .relaxed)
        crashPoint(.sweepRecoveryStamped)
        var liveness: [ProcessIdentity: Bool] = [:]
        var freed = false
        var position = head
        while position < tail {
            let (record, _, length) = try validatedRecord(at: position, tail: tail)
            // State and owner from one load (a READY record's owner half is a sequence number,
            // not a pid), and freed only if that word is still there.
            let word = record.stateAndOwner
            switch RecordHeader.state(of: word) {
            case let state? where state == .writing || state == .reading:
                let owner = ProcessIdentity(pid: UInt32(truncatingIfNeeded: word >> 32), startTime: record.ownerStart)
                let alive = liveness[owner] ?? Attachments.isRecordOwnerAlive(owner, in: self)
                liveness[owner] = alive
                if !alive, record.stateAndOwner == word {
                    record.addFlags(CAQ_RECORD_ABANDONED)
                    crashPoint(.sweepFlagged)
                    if record.exchangeState(from: word, to: .done) {
                        crashPoint(.sweepFreed)
                        let counter = state == .writing ? header.abandonedWrites : header.lostReads
                        counter.pointee.wrappingAdd(1, ordering: .relaxed)
                        crashPoint(.sweepCounted)
                        freed = true
                    }
                }
            default:
                break
            }
            position += UInt64(length)
        }
        try reclaim()
        if freed {
            header.spaceSignal.notify()
            crashPoint(.sweepNotified)
        }
        return freed
    }

    /// Restores the invariants after a process died holding the lock. Every store under the
    /// lock leaves a state that passes `cursors()` (the crash-point walk checks each), so only
    /// `read` needs recomputing; then dead peers are swept and every waiter is woken to
    /// re-check (the dead process may have been about to notify them).
    private func repairAfterOwnerDeath() throws(ArrayQueueError) {
        let (head, _, tail) = try cursors()
        // `read` may lag behind a claim the dead process made; recompute it from the records.
        var read = head
        while read < tail {
            let (_, state, length) = try validatedRecord(at: read, tail: tail)
            if state == .ready || state == .writing { break }
            read += UInt64(length)
        }
        crashPoint(.repairBegin)
        // Forward only, like every other move of `read`: it can lag behind a dead claimer's
        // claim, never run past a READY record (every store under the lock keeps that).
        advanceRead(to: read)
        crashPoint(.repairReadStored)
        try sweepDeadPeers()
        crashPoint(.repairSwept)
        header.dataSignal.notify()
        crashPoint(.repairNotified)
        header.spaceSignal.notify()
        crashPoint(.repairNotified)
    }
}
