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

    var initState: UnsafeMutablePointer<Atomic<UInt32>> { atomic32(Self.offset(\.init_state)) }

    /// The fields every put and get touches, located once here: a `static let` offset costs a
    /// `swift_once` check per use, and a key-path offset a runtime call.
    let lock: UnsafeMutablePointer<pthread_mutex_t>

    /// The start of the data ring.
    var data: UnsafeMutableRawPointer { raw + Int(CAQ_HEADER_SIZE) }

    // MARK: Cursors (guarded by the lock)

    let head: UnsafeMutablePointer<Atomic<UInt64>>
    let read: UnsafeMutablePointer<Atomic<UInt64>>
    let tail: UnsafeMutablePointer<Atomic<UInt64>>
    let nextSequence: UnsafeMutablePointer<Atomic<UInt64>>
    let shapeSignature: UnsafeMutablePointer<Atomic<UInt64>>
    let lastRecovery: UnsafeMutablePointer<Atomic<UInt64>>

    // MARK: Statistics

    let puts: UnsafeMutablePointer<Atomic<UInt64>>
    let gets: UnsafeMutablePointer<Atomic<UInt64>>
    let drops: UnsafeMutablePointer<Atomic<UInt64>>
    var resets: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.offset(\.resets)) }
    var clears: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.offset(\.clears)) }
    var abandonedWrites: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.offset(\.abandoned_writes)) }
    var lostReads: UnsafeMutablePointer<Atomic<UInt64>> { atomic64(Self.offset(\.lost_reads)) }

    // MARK: Wake-up words

    let dataSignal: WakeSignal
    let spaceSignal: WakeSignal

    init(raw: UnsafeMutableRawPointer) {
        self.raw = raw
        lock = (raw + Self.offset(\.lock)).assumingMemoryBound(to: pthread_mutex_t.self)
        head = (raw + Self.offset(\.head)).assumingMemoryBound(to: Atomic<UInt64>.self)
        read = (raw + Self.offset(\.read)).assumingMemoryBound(to: Atomic<UInt64>.self)
        tail = (raw + Self.offset(\.tail)).assumingMemoryBound(to: Atomic<UInt64>.self)
        nextSequence = (raw + Self.offset(\.next_seq)).assumingMemoryBound(to: Atomic<UInt64>.self)
        shapeSignature = (raw + Self.offset(\.shape_signature)).assumingMemoryBound(to: Atomic<UInt64>.self)
        lastRecovery = (raw + Self.offset(\.last_recovery_ns)).assumingMemoryBound(to: Atomic<UInt64>.self)
        puts = (raw + Self.offset(\.puts)).assumingMemoryBound(to: Atomic<UInt64>.self)
        gets = (raw + Self.offset(\.gets)).assumingMemoryBound(to: Atomic<UInt64>.self)
        drops = (raw + Self.offset(\.drops)).assumingMemoryBound(to: Atomic<UInt64>.self)
        dataSignal = WakeSignal(raw + Self.offset(\.data_signal))
        spaceSignal = WakeSignal(raw + Self.offset(\.space_signal))
    }

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
