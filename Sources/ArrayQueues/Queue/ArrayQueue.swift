import CArrayQueuesShims
import Synchronization
@preconcurrency import Glibc

/// A named queue of N-dimensional arrays in POSIX shared memory, usable from any number of
/// producer and consumer threads and processes on the host.
///
/// ```swift
/// let queue = try ArrayQueue.create(name: "camera0", capacity: 256 << 20)
/// try queue.put(try NDArray<UInt16>(shape: [2048, 2048], repeating: 7))
///
/// // in another process
/// let queue = try ArrayQueue.open(name: "camera0")
/// let frame = try queue.get(as: UInt16.self, timeout: .seconds(1))
/// ```
///
/// Every record carries its dtype, shape, a timestamp and a queue-wide sequence number.
/// `put` blocks while the queue is full and `get` while it is empty (sleeping in the kernel
/// after a short spin, never polling); `tryPut`/`tryGet` never block. A queue outlives the
/// processes that use it until it is removed with ``remove(name:)``.
///
/// The handle unmaps the segment when the last reference to it goes away; it is safe to
/// use from several threads at once.
public final class ArrayQueue {
    /// The queue's name (its shared-memory object is `/dev/shm/aq.<name>`).
    public let name: String
    /// This handle's settings.
    public let options: QueueOptions
    /// `options.spinNanoseconds`, converted once: a `Duration`'s conversion is a 128-bit
    /// division, and a consumer that keeps up with its producer waits at every get.
    let spinNanoseconds: Int64
    let ring: Ring
    /// The shape array of the last record this handle copied out, shared by the next ones of that shape.
    let shapes = ShapeCache()
    private let segment: SharedMemorySegment

    /// Smallest capacity accepted.
    public static let minimumCapacity = 4096
    /// Largest capacity accepted (1 TiB): anything larger is surely a mistake.
    public static let maximumCapacity = 1 << 40

    private init(name: String, segment: consuming SharedMemorySegment, options: QueueOptions) {
        self.name = name
        self.options = options
        self.spinNanoseconds = options.spinNanoseconds
        let ring = Ring(header: SegmentHeader(raw: segment.base), mappedSize: segment.size, name: name)
        self.ring = ring
        Attachments.attach(ring, descriptor: segment.descriptor)
        segment.closeDescriptor()
        self.segment = segment
    }

    deinit {
        Attachments.detach(ring)
    }

    // MARK: - Creating, opening, removing

    /// Creates a new queue whose ring holds `capacity` bytes (rounded up to a multiple of 4 KiB).
    ///
    /// The memory is reserved now, so a `/dev/shm` that is too small is reported here as
    /// ``ArrayQueueError/Code/insufficientSharedMemory`` rather than as a crash later.
    ///
    /// - Throws: ``ArrayQueueError/Code/invalidName``, ``ArrayQueueError/Code/invalidArgument``
    ///   for a capacity out of range, ``ArrayQueueError/Code/alreadyExists``, or a system-call error.
    public static func create(
        name: String, capacity: Int, creating createOptions: CreateOptions = CreateOptions(),
        options: QueueOptions = QueueOptions()
    ) throws(ArrayQueueError) -> ArrayQueue {
        try create(name: name, capacity: capacity, creating: createOptions, options: options, beforeInitializing: {})
    }

    /// `create`, calling `beforeInitializing` between making the object and writing its header.
    static func create(
        name: String, capacity: Int, creating createOptions: CreateOptions, options: QueueOptions,
        beforeInitializing: () -> Void
    ) throws(ArrayQueueError) -> ArrayQueue {
        let objectName = try SegmentName.objectName(for: name)
        guard capacity >= minimumCapacity, capacity <= maximumCapacity else {
            throw ArrayQueueError(.invalidArgument, "capacity \(capacity) bytes is out of range: a queue holds \(ByteCount.format(minimumCapacity)) to \(ByteCount.format(maximumCapacity))")
        }
        guard createOptions.mode & ~0o777 == 0, createOptions.mode & 0o600 == 0o600 else {
            throw ArrayQueueError(.invalidArgument, "mode 0o\(String(createOptions.mode, radix: 8)) must be permission bits that let the owner read and write")
        }
        guard !(createOptions.broadcast && createOptions.shapeChange == .reset) else {
            throw ArrayQueueError(.invalidArgument, "a broadcast queue cannot drop its records on a shape change (its subscribers each read every record); use shapeChange .keep")
        }
        let ringBytes = alignUp(capacity, to: 4096)
        let segmentSize = Int(CAQ_HEADER_SIZE) + ringBytes
        let segment: SharedMemorySegment
        do {
            segment = try SharedMemorySegment.create(objectName: objectName, size: segmentSize, mode: mode_t(createOptions.mode))
        } catch {
            if error.code == .alreadyExists, isStale(name: name) == true {
                throw ArrayQueueError(.alreadyExists, "queue '\(name)' exists already and no live process uses it (its users died or closed it); reuse it with open/openOrCreate, or remove it first (`aq gc`, `aq rm \(name)`, ArrayQueue.remove(name:))")
            }
            throw error
        }
        beforeInitializing()
        let header = SegmentHeader(raw: segment.base)
        let flags = (createOptions.shapeChange == .reset ? CAQ_FLAG_RESET_ON_SHAPE_CHANGE : 0)
            | (createOptions.broadcast ? CAQ_FLAG_BROADCAST : 0)
        do {
            try header.initialize(capacity: ringBytes, segmentSize: segmentSize, flags: flags)
        } catch {
            _ = Sys.shmUnlink(objectName)
            throw error
        }
        header.markReady()
        segment.finishCreation()
        return ArrayQueue(name: name, segment: segment, options: options)
    }

    /// Opens an existing queue by name, from any process of a user allowed to access it.
    ///
    /// Only queues owned by this process's user are opened unless `options` allow others
    /// (``QueueOptions/allowOtherOwner``). A queue whose creator is still initializing it is
    /// waited for while that creator lives (at most `options.creatorWait`, 30 s by default); one whose creator died
    /// first, or an empty file that was never a queue, is reported at once.
    ///
    /// - Throws: ``ArrayQueueError/Code/notFound``, ``ArrayQueueError/Code/untrustedOwner``,
    ///   ``ArrayQueueError/Code/foreignSegment`` for a shared-memory object that is not an
    ///   ArrayQueues segment, ``ArrayQueueError/Code/incompatibleVersion``,
    ///   ``ArrayQueueError/Code/corruptSegment``, or a system-call error.
    public static func open(name: String, options: QueueOptions = QueueOptions()) throws(ArrayQueueError) -> ArrayQueue {
        let (seconds, attoseconds) = options.creatorWait.components
        let wait = seconds < 0 ? 0 : min(seconds, 1 << 32) * 1_000_000_000 + max(0, attoseconds / 1_000_000_000)
        return try open(name: name, options: options, waitingForCreator: wait)
    }

    /// `open`, waiting at most `creatorWait` ns for a creator at work. Stale checks wait for none: a
    /// queue being created is not stale, and whoever holds the creator's lock (a stopped creator,
    /// or any process of this user) must not stall them for the full limit per queue.
    static func open(name: String, options: QueueOptions, waitingForCreator creatorWait: Int64) throws(ArrayQueueError) -> ArrayQueue {
        let objectName = try SegmentName.objectName(for: name)
        let deadline = Sys.monotonicNanoseconds() + creatorWait
        var creatorGone = false
        var unlockedSince: Int64?
        while true {
            if let segment = try SharedMemorySegment.open(objectName: objectName, minimumSize: Int(CAQ_HEADER_SIZE), allowOtherOwner: options.allowOtherOwner),
               try SegmentHeader(raw: segment.base).validate(mappedSize: segment.size, name: name) {
                return ArrayQueue(name: name, segment: segment, options: options)
            }
            guard !creatorGone else {
                throw ArrayQueueError(.corruptSegment, "queue '\(name)' was never finished by its creator, which is no longer running (or it is an empty file that was never a queue); remove it and create it again")
            }
            // Unfinished: wait only while there is evidence of a creator at work. A creator releases
            // its lock after the segment is READY, so a lock found free calls for one more look.
            let creator = SharedMemorySegment.creatorState(objectName: objectName)
            let now = Sys.monotonicNanoseconds()
            if creator == .justCreated { unlockedSince = unlockedSince ?? now } else { unlockedSince = nil }
            // The file's age is measured by the wall clock, which may jump: an unlocked file gets the
            // grace once, by the monotonic clock, however young it claims to be.
            if creator == .gone || now - (unlockedSince ?? now) > SharedMemorySegment.creatorGrace {
                creatorGone = true
                continue
            }
            guard Sys.monotonicNanoseconds() < deadline else {
                throw ArrayQueueError(.corruptSegment, "queue '\(name)' is still being created after \(creatorWait / 1_000_000_000) s; try again later, or remove it and create it again")
            }
            Sys.sleep(nanoseconds: 1_000_000)
        }
    }

    /// Opens the queue `name`, creating it with `capacity` if it does not exist.
    public static func openOrCreate(
        name: String, capacity: Int, creating createOptions: CreateOptions = CreateOptions(),
        options: QueueOptions = QueueOptions()
    ) throws(ArrayQueueError) -> ArrayQueue {
        do {
            return try create(name: name, capacity: capacity, creating: createOptions, options: options)
        } catch where error.code == .alreadyExists {
            return try open(name: name, options: options)
        }
    }

    /// Removes the queue's name. Processes that have it open keep using it; the memory is
    /// freed when the last of them closes it.
    public static func remove(name: String) throws(ArrayQueueError) {
        try SharedMemorySegment.unlink(objectName: SegmentName.objectName(for: name))
    }

    /// Whether this handle's queue has lost its name: it was removed (``remove(name:)``, `aq rm`),
    /// perhaps with a new queue of the same name created since. The handle keeps working, but
    /// processes that open the name now reach another queue or none; a long-running reader
    /// checks this when idle and reopens.
    public var isRemoved: Bool {
        guard let objectName = try? SegmentName.objectName(for: name) else { return true }
        return Sys.fileIdentity(at: "\(SegmentName.directory)\(objectName)") != segment.identity
    }

    /// Whether a queue of this name exists.
    public static func exists(name: String) -> Bool {
        guard let objectName = try? SegmentName.objectName(for: name) else { return false }
        return Sys.fileExists("\(SegmentName.directory)\(objectName)")
    }

    /// Whether no live process has the queue open: true if stale, false if in use, nil if it
    /// cannot be read (missing, foreign, corrupt, not accessible, or owned by another user that
    /// `options` do not allow).
    ///
    /// Processes in other pid namespaces (containers sharing `/dev/shm`) count as users too:
    /// their liveness is told by the advisory lock each holds on its attachment slot.
    public static func isStale(name: String, options: QueueOptions = QueueOptions()) -> Bool? {
        guard let queue = try? open(name: name, options: options, waitingForCreator: 0) else { return nil }
        return !Attachments.usedBeyondOneHandle(queue.ring)
    }

    /// Removes the queues that no live process has open, and returns their names. Queues that
    /// are in use, or that cannot be read, are left alone. With `dryRun`, only lists them.
    ///
    /// A queue that was created but that no process has opened since is stale too. Queues of
    /// other users are left alone unless `options` allow them, and so are those for which
    /// `candidate` (given the name, then the opened queue) returns false.
    public static func removeStale(
        dryRun: Bool = false, options: QueueOptions = QueueOptions(), where candidate: (String, ArrayQueue?) -> Bool = { _, _ in true }
    ) -> [String] {
        allNames().filter { name in
            guard candidate(name, nil), let queue = try? open(name: name, options: options, waitingForCreator: 0),
                  candidate(name, queue) else { return false }
            // Decide and unlink under the lock, so that a process attaching now is either seen
            // (and the queue kept) or finds the name gone.
            let removed = try? queue.ring.withLock { () throws(ArrayQueueError) -> Bool in
                guard !Attachments.usedBeyondOneHandle(queue.ring) else { return false }
                if !dryRun { try remove(name: name) }
                return true
            }
            return removed == true
        }
    }

    /// Names of the queues in `/dev/shm` (of any user), sorted. Any local user can create files
    /// there: a name is not necessarily a valid queue name, and may contain control characters.
    public static func allNames() -> [String] {
        SegmentName.existingQueueNames()
    }

    // MARK: - State

    /// Bytes of the data ring.
    public var capacity: Int { ring.capacity }

    /// Records waiting to be taken: committed and not yet claimed by a consumer.
    ///
    /// Counted under the queue lock, so exact at that instant; it takes time proportional to
    /// the number of records in the ring. 0 if the segment is corrupt.
    public var count: Int {
        (try? ring.withLock { () throws(ArrayQueueError) in try ring.countReady() }) ?? 0
    }

    /// Whether no record is waiting (stops at the first waiting record).
    public var isEmpty: Bool {
        (try? ring.withLock { () throws(ArrayQueueError) in try ring.countReady(limit: 1) }) ?? 0 == 0
    }

    /// Bytes of the ring in use by records that are waiting, being written or being read.
    public var bytesUsed: Int {
        let cursors = try? ring.withLock { () throws(ArrayQueueError) in
            try ring.reclaim()
            return try ring.cursors()
        }
        return cursors.map { Int($0.tail - $0.head) } ?? 0
    }

    /// How full the ring looks, for error messages: read without the lock and without walking
    /// the records, so that a failing call stays cheap.
    var fullness: String {
        guard let (head, _, tail) = try? ring.cursors() else { return "in an unreadable state" }
        return "\(ByteCount.format(Int(tail - head))) of \(ByteCount.format(capacity)) in use"
    }

    /// A snapshot of the queue's state and counters.
    public func statistics() throws(ArrayQueueError) -> QueueStatistics {
        let header = ring.header
        let (head, tail, waiting) = try ring.withLock { () throws(ArrayQueueError) in
            try ring.reclaim()
            let (head, _, tail) = try ring.cursors()
            return (head, tail, try ring.countReady())
        }
        func load(_ counter: UnsafeMutablePointer<Atomic<UInt64>>) -> UInt64 { counter.pointee.load(ordering: .relaxed) }
        return QueueStatistics(
            capacity: capacity, bytesUsed: Int(tail - head), count: waiting,
            puts: load(header.puts), gets: load(header.gets), drops: load(header.drops), resets: load(header.resets),
            clears: load(header.clears), abandonedWrites: load(header.abandonedWrites), lostReads: load(header.lostReads),
            nextSequence: load(header.nextSequence))
    }

    /// Facts fixed at the queue's creation.
    public var info: QueueInfo {
        let header = ring.header
        return QueueInfo(
            name: name, capacity: capacity, segmentSize: header.segmentSize, layoutVersion: Int(header.layoutVersion),
            creatorPID: Int32(bitPattern: header.creatorPID), created: Timestamp(nanosecondsSinceEpoch: header.createdNanoseconds),
            shapeChange: header.flags & CAQ_FLAG_RESET_ON_SHAPE_CHANGE != 0 ? .reset : .keep, isBroadcast: isBroadcast)
    }

    /// The processes that have the queue open, as recorded in its segment.
    public func attachments() -> [QueueAttachment] {
        Attachments.list(ring).map {
            QueueAttachment(pid: Int32(bitPattern: $0.entry.pid), isAlive: $0.isAlive, isInAnotherPIDNamespace: $0.entry.mayBeInAnotherPIDNamespace)
        }
    }

    /// Drops every waiting record, for every process; returns how many were dropped.
    /// Records being written or read at the time are not affected.
    /// On a broadcast queue, every subscriber skips the committed records ahead of it (counting
    /// them lost), up to the first record still being written, or to the newest end; one reading
    /// a record is not moved.
    @discardableResult
    public func clear() throws(ArrayQueueError) -> Int {
        if isBroadcast { return try broadcastClear() }
        return try ring.withLock { () throws(ArrayQueueError) in try ring.clear() }
    }

    /// Frees the records of processes that died while writing or reading them (done
    /// automatically by producers that wait for room; call it to check now). Returns whether
    /// anything was freed.
    @discardableResult
    public func recoverFromDeadPeers() throws(ArrayQueueError) -> Bool {
        try ring.withLock { () throws(ArrayQueueError) in try ring.sweepDeadPeersAndSubscribers() }
    }
}

extension ArrayQueue {
    /// Testing only: runs `body` while this handle holds the queue lock (crash tests kill the
    /// process inside it).
    @_spi(Testing)
    public func withLockHeldForTesting(_ body: () -> Void) throws(ArrayQueueError) {
        try ring.withLock { () throws(ArrayQueueError) in body() }
    }

    /// Testing only: `create`, running `pause` after the object exists and before its header is
    /// written (to test openers that meet an unfinished segment).
    @_spi(Testing)
    public static func createPausingForTesting(name: String, capacity: Int, pause: () -> Void) throws(ArrayQueueError) -> ArrayQueue {
        try create(name: name, capacity: capacity, creating: CreateOptions(), options: QueueOptions(), beforeInitializing: pause)
    }
}

// The handle's stored state is immutable; the shared memory it points to is only accessed
// through the lock-and-atomics protocol of `Ring`, which is safe from any thread.
extension ArrayQueue: @unchecked Sendable {}
