import CArrayQueuesShims
import Synchronization

/// A view of one record header (`caq_record_header`) in the data ring.
///
/// Only `state` changes after the record is published, and only atomically; the other fields
/// are written by the producer that reserved the record, before it is published.
struct RecordHeader {
    let raw: UnsafeMutableRawPointer

    /// The states a record moves through (docs/LAYOUT.md). The raw values are the C header's
    /// `CAQ_STATE_*` (an enum needs literals; LayoutTests checks that they agree).
    enum State: UInt32 {
        case writing = 0x5752_4954  // CAQ_STATE_WRITING
        case ready = 0x5245_4459  // CAQ_STATE_READY
        case reading = 0x5245_4144  // CAQ_STATE_READING
        case done = 0x444F_4E45  // CAQ_STATE_DONE
        case skip = 0x534B_4950  // CAQ_STATE_SKIP
    }

    static let fixedSize = Int(CAQ_RECORD_HEADER_SIZE)
    static let alignment = Int(CAQ_ALIGNMENT)

    private var fields: UnsafeMutablePointer<caq_record_header> { raw.assumingMemoryBound(to: caq_record_header.self) }
    private var stateAtomic: UnsafeMutablePointer<Atomic<UInt32>> { raw.assumingMemoryBound(to: Atomic<UInt32>.self) }
    /// `state` and `owner_pid` as one little-endian u64 (state in the low half): a claim changes
    /// both with one compare-exchange, so that a claimed record never names a stale owner.
    private var stateAndOwnerAtomic: UnsafeMutablePointer<Atomic<UInt64>> { raw.assumingMemoryBound(to: Atomic<UInt64>.self) }

    /// The state, or nil if the word holds garbage. Sequentially consistent (a plain load on
    /// x86) because it pairs with `WakeSignal`'s watcher count: see `WakeSignal`.
    var state: State? {
        @inline(__always) get { State(rawValue: stateAtomic.pointee.load(ordering: .sequentiallyConsistent)) }
    }

    // MARK: Cache hints (docs/BENCHMARKS.md, "Cache lines asked for ahead")

    /// Asks for the lines a consumer about to claim this record uses: the header owned (the claim
    /// compare-exchanges it: a load would fetch it shared, and the exchange fetch it again), and
    /// the two lines after it for reading (the shape, and a small record's payload), all three
    /// at once rather than one after another. A hint: any position will do, even a corrupt one.
    @inline(__always)
    func prefetchForClaim() {
        Sys.prefetchForWrite(raw)
        Sys.prefetchForRead(raw + RecordHeader.fixedSize)
        Sys.prefetchForRead(raw + 2 * RecordHeader.fixedSize)
    }

    /// Asks for the header's line owned, and, with `following`, the two lines after it (a small
    /// record's shape and payload): for a producer, which will store to them. A hint.
    @inline(__always)
    func prefetchForWriting(following: Bool) {
        Sys.prefetchForWrite(raw)
        guard following else { return }
        Sys.prefetchForWrite(raw + RecordHeader.fixedSize)
        Sys.prefetchForWrite(raw + 2 * RecordHeader.fixedSize)
    }

    /// The raw state word (acquire), for hints read without the lock: garbage is not an error there.
    var rawState: UInt32 { stateAtomic.pointee.load(ordering: .acquiring) }

    /// Publishes a state change; everything written before is visible to whoever sees it.
    func setState(_ state: State) {
        stateAtomic.pointee.store(state.rawValue, ordering: .releasing)
    }

    /// Moves `from` → `to` if no one changed the state meanwhile. Sequentially consistent so
    /// that the notifier's following load of the watcher count cannot move before it.
    func exchangeState(from: State, to: State) -> Bool {
        stateAtomic.pointee.compareExchange(expected: from.rawValue, desired: to.rawValue, ordering: .sequentiallyConsistent).exchanged
    }

    /// `state` (low half) and `owner_pid` (high half), loaded together.
    var stateAndOwner: UInt64 { stateAndOwnerAtomic.pointee.load(ordering: .sequentiallyConsistent) }

    /// The state half of a `stateAndOwner` word, or nil for garbage.
    static func state(of stateAndOwner: UInt64) -> State? { State(rawValue: UInt32(truncatingIfNeeded: stateAndOwner)) }

    /// Publishes a filled record: `state` and `owner_pid` move from WRITING by `writer` to READY
    /// and the low 32 bits of its `sequence` (``readyWord(sequence:)``), in one compare-exchange.
    /// False if the record was taken away meanwhile (a sweep thought its writer dead, and its room
    /// may hold another writer's record by now). The sequence number in a READY record's owner
    /// half is what lets a consumer that checked the record without the lock claim exactly it.
    func publish(sequence: UInt64, writer: UInt32) -> Bool {
        exchangeWord(Self.writingWord(writer: writer), Self.readyWord(sequence: sequence))
    }

    /// Gives back an unpublished record: WRITING by `writer` → DONE, in one compare-exchange.
    /// False if it was taken away meanwhile.
    func abandonUnpublished(writer: UInt32) -> Bool {
        exchangeWord(Self.writingWord(writer: writer), Self.word(.done, owner: writer))
    }

    /// Moves the state and owner word from `word` (as loaded) to `state` with the same owner
    /// half, in one compare-exchange: false if anything changed it meanwhile.
    func exchangeState(from word: UInt64, to state: State) -> Bool {
        exchangeWord(word, Self.word(state, owner: UInt32(truncatingIfNeeded: word >> 32)))
    }

    /// Frees a record that `reader` claimed: READING by `reader` → DONE, in one compare-exchange.
    /// False if the record was taken away meanwhile (a sweep thought its reader dead, and its
    /// room may hold another reader's record by now): then it is not this reader's to free.
    func finishReading(by reader: UInt32) -> Bool {
        exchangeWord(Self.word(.reading, owner: reader), Self.word(.done, owner: reader))
    }

    /// The `state`/`owner_pid` word of a record in `state` whose owner half holds `owner`: one
    /// little-endian u64, the state in its low half (docs/LAYOUT.md, "Records").
    static func word(_ state: State, owner: UInt32) -> UInt64 {
        UInt64(state.rawValue) | UInt64(owner) << 32
    }

    /// The `state`/`owner_pid` word of a record being written by `writer`.
    static func writingWord(writer: UInt32) -> UInt64 {
        word(.writing, owner: writer)
    }

    /// The `state`/`owner_pid` word of the READY record with sequence number `sequence`.
    static func readyWord(sequence: UInt64) -> UInt64 {
        word(.ready, owner: UInt32(truncatingIfNeeded: sequence))
    }

    /// Claims a READY record for `owner`: `state` and `owner_pid` move from `word` (as loaded)
    /// to READING and the owner's pid in one compare-exchange, which decides between consumers
    /// claiming with and without the lock. `owner_start` is stored after it
    /// (``setOwner(start:)``); until then it holds 0, which commit stored, and an owner whose
    /// start time is 0 is judged by its pid alone, so no sweep takes the record from a live reader.
    func exchangeState(from word: UInt64, toReadingBy owner: ProcessIdentity) -> Bool {
        exchangeWord(word, Self.word(.reading, owner: owner.pid))
    }

    /// One compare-exchange of the state and owner word; sequentially consistent, as `state`
    /// is loaded (a notifier's following load of the watcher count must not move before it).
    private func exchangeWord(_ expected: UInt64, _ desired: UInt64) -> Bool {
        stateAndOwnerAtomic.pointee.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent).exchanged
    }

    var length: Int { Int(truncatingIfNeeded: fields.pointee.length) }
    var sequence: UInt64 { fields.pointee.seq }
    var timestampNanoseconds: Int64 { fields.pointee.timestamp_ns }
    var index: Int64? { fields.pointee.flags & UInt16(CAQ_RECORD_HAS_INDEX) != 0 ? fields.pointee.index : nil }
    var payloadByteCount: Int { Int(truncatingIfNeeded: fields.pointee.payload_bytes) }
    var payloadOffset: Int { Int(fields.pointee.payload_offset) }
    var dtypeCode: UInt8 { fields.pointee.dtype }
    var dimensionCount: Int { Int(fields.pointee.ndim) }
    var flags: UInt16 { fields.pointee.flags }
    var isEnvelope: Bool { fields.pointee.flags & UInt16(CAQ_RECORD_ENVELOPE) != 0 }
    /// The low 32 bits of the owner's start time (0: unknown).
    var ownerStart: UInt64 { UInt64(fields.pointee.owner_start) }
    var checkIsValid: Bool { fields.pointee.check == CAQ_RECORD_CHECK ^ UInt32(truncatingIfNeeded: fields.pointee.seq) }

    /// The shape as an `[Int]` (at most ``Shape/maxDimensions`` extents, whatever `ndim` says).
    var shape: [Int] {
        let extents = (raw + Self.fixedSize).assumingMemoryBound(to: UInt64.self)
        return (0..<min(dimensionCount, Shape.maxDimensions)).map { Int(truncatingIfNeeded: extents[$0]) }
    }

    /// The shape, copied out inline, with in `elements` the number of elements it holds, or nil
    /// (``copyExtents(into:elements:)``, whose loads it keeps): for a record view that outlives
    /// the call (the bindings' claimed records).
    func extents(elements: inout Int?) -> InlineShape {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: Shape.maxDimensions) { storage in
            InlineShape(copyExtents(into: storage, elements: &elements))
        }
    }

    /// The shape, copied out into `storage` (room for ``Shape/maxDimensions`` extents; at most
    /// that many are copied, whatever `ndim` says), with in `elements` the number of elements it
    /// holds, or nil if an extent is negative or the product overflows (as
    /// ``Shape/validByteCount(count:dtype:extent:)`` refuses them). Each extent is loaded once,
    /// so the count is that of the shape copied: a consumer checks every claimed record's shape,
    /// read from memory another process may write, against its size.
    @inline(__always)
    func copyExtents(into storage: UnsafeMutableBufferPointer<Int>, elements: inout Int?) -> UnsafeBufferPointer<Int> {
        let extents = (raw + Self.fixedSize).assumingMemoryBound(to: UInt64.self)
        let count = min(dimensionCount, Shape.maxDimensions, storage.count)
        var product: Int? = 1
        for axis in 0..<count {
            let value = Int(truncatingIfNeeded: extents[axis])
            storage[axis] = value
            product = Shape.elements(product, times: value)
        }
        elements = product
        return UnsafeBufferPointer(rebasing: storage[..<count])
    }

    var payload: UnsafeMutableRawPointer { raw + payloadOffset }

    /// The payload from one load each of `payload_offset` and `payload_bytes`, or nil if it
    /// does not lie between the shape and `ringEnd`.
    @inline(__always)
    func payloadBuffer(ringEnd: UnsafeMutableRawPointer) -> UnsafeMutableRawBufferPointer? {
        let offset = payloadOffset
        let count = payloadByteCount
        guard offset >= Self.fixedSize, count >= 0, offset <= ringEnd - raw, count <= ringEnd - (raw + offset) else { return nil }
        return UnsafeMutableRawBufferPointer(start: raw + offset, count: count)
    }

    /// Stores the low 32 bits of the owner's start time (0: unknown, judged by pid alone).
    func setOwner(start: UInt64) {
        fields.pointee.owner_start = UInt32(truncatingIfNeeded: start)
    }

    func addFlags(_ flags: UInt32) {
        fields.pointee.flags |= UInt16(flags)
    }

    // MARK: Sizes

    /// Offset of the payload from the record start for `dimensions` dimensions.
    @inline(__always)
    static func payloadOffset(dimensions: Int) -> Int {
        alignUp(fixedSize + dimensions * MemoryLayout<UInt64>.size, to: alignment)
    }

    /// Bytes a record takes in the ring: header, shape, payload, padding to the alignment.
    /// Nil if that overflows.
    @inline(__always)
    static func recordLength(dimensions: Int, payloadBytes: Int) -> Int? {
        let (total, overflow) = payloadOffset(dimensions: dimensions).addingReportingOverflow(payloadBytes)
        guard !overflow, total <= Int.max - alignment else { return nil }
        return alignUp(total, to: alignment)
    }

    // MARK: Writing (by the reserving producer, under the queue lock, before publication)

    /// Writes a filler record of `length` bytes.
    func writeSkip(length: Int) {
        fields.pointee = caq_record_header()
        fields.pointee.length = UInt64(length)
        fields.pointee.check = CAQ_RECORD_CHECK
        setState(.skip)
    }

    /// Writes a record header in the WRITING state, owned by `owner`; or, when `published`,
    /// READY already (its payload written, the header beyond `tail` until the tail store that
    /// follows: ``Ring/reserve(_:dropOldest:owner:reclaimingFirst:)``).
    func writeReserved(
        length: Int, sequence: UInt64, timestamp: Int64, index: Int64?, dtype: DType, shape: UnsafeBufferPointer<Int>, payloadBytes: Int,
        flags: UInt16, owner: ProcessIdentity, published: Bool = false
    ) {
        var header = caq_record_header()
        header.length = UInt64(length)
        header.seq = sequence
        header.timestamp_ns = timestamp
        header.index = index ?? 0
        header.flags = flags | (index == nil ? 0 : UInt16(CAQ_RECORD_HAS_INDEX))
        header.payload_bytes = UInt64(payloadBytes)
        header.payload_offset = UInt32(Self.payloadOffset(dimensions: shape.count))
        header.dtype = dtype.rawValue
        header.ndim = UInt8(shape.count)
        header.check = CAQ_RECORD_CHECK ^ UInt32(truncatingIfNeeded: sequence)
        // Published: as a commit leaves it, the low bits of `seq` where a claimed record names its
        // reader, and no start time (a claimer not yet past storing its own is judged by its pid).
        header.owner_pid = published ? UInt32(truncatingIfNeeded: sequence) : owner.pid
        header.owner_start = published ? 0 : UInt32(truncatingIfNeeded: owner.startTime)
        header.state = published ? State.ready.rawValue : State.writing.rawValue
        fields.pointee = header
        let extents = (raw + Self.fixedSize).assumingMemoryBound(to: UInt64.self)
        for axis in shape.indices { extents[axis] = UInt64(truncatingIfNeeded: shape[axis]) }
    }
}

@inline(__always)
func alignUp(_ value: Int, to alignment: Int) -> Int {
    (value + alignment - 1) & ~(alignment - 1)
}
