import CArrayQueuesShims
import Synchronization
@preconcurrency import Glibc

/// A view of the segment header (`caq_segment_header`) at the start of a mapping.
///
/// Valid only while the mapping lives; the owning `ArrayQueue` guarantees that. Fields that
/// other processes change are only ever touched through `Atomic` views.
struct SegmentHeader {
    let raw: UnsafeMutableRawPointer

    private static func offset<T>(_ field: KeyPath<caq_segment_header, T>) -> Int {
        MemoryLayout<caq_segment_header>.offset(of: field)!
    }

    private func atomic64(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (raw + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    private func atomic32(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (raw + offset).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    private var fields: UnsafeMutablePointer<caq_segment_header> { raw.assumingMemoryBound(to: caq_segment_header.self) }

    // MARK: Identity (immutable once the segment is READY)

    var magic: UInt64 { fields.pointee.magic }
    var layoutVersion: UInt32 { fields.pointee.layout_version }
    var headerSize: UInt32 { fields.pointee.header_size }
    var capacity: Int { Int(truncatingIfNeeded: fields.pointee.capacity) }
    var segmentSize: Int { Int(truncatingIfNeeded: fields.pointee.segment_size) }
    var createdNanoseconds: Int64 { fields.pointee.created_ns }
    var creatorPID: UInt32 { fields.pointee.creator_pid }
    var flags: UInt32 { fields.pointee.flags }

    private static let initStateOffset = offset(\.init_state)
    var initState: UnsafeMutablePointer<Atomic<UInt32>> { atomic32(Self.initStateOffset) }

    var lock: UnsafeMutablePointer<pthread_mutex_t> { (raw + Self.offset(\.lock)).assumingMemoryBound(to: pthread_mutex_t.self) }

    /// The start of the data ring.
    var data: UnsafeMutableRawPointer { raw + Int(CAQ_HEADER_SIZE) }

    // MARK: Cursors (guarded by the lock)

    private static let headOffset = offset(\.head)
    private static let readOffset = offset(\.read)
    private static let tailOffset = offset(\.tail)
    private static let nextSeqOffset = offset(\.next_seq)
    private static let shapeSignatureOffset = offset(\.shape_signature)
    private static let lastRecoveryOffset = offset(\.last_recovery_ns)

    var head: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.headOffset) }
    var read: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.readOffset) }
    var tail: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.tailOffset) }
    var nextSequence: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.nextSeqOffset) }
    var shapeSignature: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.shapeSignatureOffset) }
    var lastRecovery: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.lastRecoveryOffset) }

    // MARK: Statistics

    private static let putsOffset = offset(\.puts)
    private static let getsOffset = offset(\.gets)
    private static let dropsOffset = offset(\.drops)
    private static let resetsOffset = offset(\.resets)
    private static let clearsOffset = offset(\.clears)
    private static let abandonedWritesOffset = offset(\.abandoned_writes)
    private static let lostReadsOffset = offset(\.lost_reads)

    var puts: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.putsOffset) }
    var gets: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.getsOffset) }
    var drops: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.dropsOffset) }
    var resets: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.resetsOffset) }
    var clears: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.clearsOffset) }
    var abandonedWrites: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.abandonedWritesOffset) }
    var lostReads: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.lostReadsOffset) }

    // MARK: Wake-up words

    private static let dataSignalOffset = offset(\.data_signal)
    private static let spaceSignalOffset = offset(\.space_signal)

    var dataSignal: WakeSignal { WakeSignal(raw + Self.dataSignalOffset) }
    var spaceSignal: WakeSignal { WakeSignal(raw + Self.spaceSignalOffset) }

    // MARK: Attached processes

    private static let attachedOffset = offset(\.attached)

    /// The attachment table entry `index` as (pid, pid namespace, start time) atomics.
    func attachment(_ index: Int) -> (pid: UnsafeMutablePointer<Atomic<UInt32>>, pidNamespace: UnsafeMutablePointer<Atomic<UInt32>>, startTime: UnsafeMutablePointer<Atomic<UInt64>>) {
        let entry = Self.attachedOffset + index * MemoryLayout<caq_attachment>.stride
        return (atomic32(entry + MemoryLayout<caq_attachment>.offset(of: \.pid)!),
                atomic32(entry + MemoryLayout<caq_attachment>.offset(of: \.pid_ns)!),
                atomic64(entry + MemoryLayout<caq_attachment>.offset(of: \.start_time)!))
    }

    static let attachmentCapacity = Int(CAQ_MAX_ATTACHED)

    // MARK: Creation and validation

    /// Writes a fresh header into zeroed memory. The caller publishes it with `markReady()`.
    func initialize(capacity: Int, segmentSize: Int, flags: UInt32) throws(ArrayQueueError) {
        initState.pointee.store(CAQ_INIT_BUSY, ordering: .relaxed)
        fields.pointee.magic = CAQ_MAGIC
        fields.pointee.layout_version = CAQ_LAYOUT_VERSION
        fields.pointee.header_size = CAQ_HEADER_SIZE
        fields.pointee.capacity = UInt64(capacity)
        fields.pointee.segment_size = UInt64(segmentSize)
        fields.pointee.created_ns = Sys.realtimeNanoseconds()
        fields.pointee.creator_pid = ProcessIdentity.current.pid
        fields.pointee.flags = flags
        try Sys.mutexInitSharedRobust(lock)
    }

    func markReady() {
        initState.pointee.store(CAQ_INIT_READY, ordering: .releasing)
    }

    /// Checks that this mapping of `mappedSize` bytes holds an ArrayQueues segment this code
    /// understands. Returns false while the creator is still initializing it.
    func validate(mappedSize: Int, name: String) throws(ArrayQueueError) -> Bool {
        let state = initState.pointee.load(ordering: .acquiring)
        guard magic == CAQ_MAGIC else {
            // A creator that has not yet written the magic leaves zeros; anything else is foreign.
            if magic == 0 && (state == 0 || state == CAQ_INIT_BUSY) { return false }
            throw ArrayQueueError(.foreignSegment, "'\(name)' is not an ArrayQueues segment (bad magic number 0x\(String(magic, radix: 16)))")
        }
        guard state == CAQ_INIT_READY else {
            if state == CAQ_INIT_BUSY { return false }
            throw ArrayQueueError(.corruptSegment, "queue '\(name)' has an invalid initialization state 0x\(String(state, radix: 16))")
        }
        guard layoutVersion == CAQ_LAYOUT_VERSION else {
            let hint = layoutVersion < CAQ_LAYOUT_VERSION ? " (it was made by an older build: remove it and create it again)" : ""
            throw ArrayQueueError(.incompatibleVersion, "queue '\(name)' uses segment layout version \(layoutVersion); this build of ArrayQueues reads version \(CAQ_LAYOUT_VERSION) only\(hint)")
        }
        // The raw u64s, bounded before any arithmetic: a crafted capacity near 2^63 or 2^64
        // must give an error, not an overflow trap.
        let rawCapacity = fields.pointee.capacity
        let rawSegmentSize = fields.pointee.segment_size
        let alignment = UInt64(CAQ_ALIGNMENT)
        guard headerSize == CAQ_HEADER_SIZE, rawCapacity > 0, rawCapacity <= UInt64(ArrayQueue.maximumCapacity),
              rawCapacity % alignment == 0, rawSegmentSize == UInt64(CAQ_HEADER_SIZE) + rawCapacity else {
            throw ArrayQueueError(.corruptSegment, "queue '\(name)' has an inconsistent header (header size \(headerSize), capacity \(rawCapacity), segment size \(rawSegmentSize))")
        }
        guard Sys.mutexKind(lock) == Sys.sharedRobustMutexKind else {
            throw ArrayQueueError(.corruptSegment, "queue '\(name)' has a lock that is not a process-shared robust mutex (kind \(Sys.mutexKind(lock)))")
        }
        guard mappedSize == segmentSize else {
            throw ArrayQueueError(.corruptSegment, "queue '\(name)' is \(mappedSize) bytes long but its header says \(segmentSize) (truncated or resized)")
        }
        return true
    }
}
