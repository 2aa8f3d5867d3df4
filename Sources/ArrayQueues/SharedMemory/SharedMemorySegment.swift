import CArrayQueuesShims
@preconcurrency import Glibc
import SystemPackage

/// The owner of one mapped POSIX shared-memory object and, until `closeDescriptor()`, of a
/// descriptor of it. Unmaps (and closes) it when it goes away; being `~Copyable`, no copy can
/// outlive the mapping.
///
/// The descriptor carries the creator's advisory lock (docs/LAYOUT.md), and is what the
/// attachment table's lock is taken through (`Attachments` keeps a duplicate of it).
struct SharedMemorySegment: ~Copyable {
    /// Start of the mapping.
    let base: UnsafeMutableRawPointer
    /// Bytes mapped: the whole object.
    let size: Int
    /// The object's file, to tell whether its name still leads to it.
    let identity: FileIdentity
    /// An open descriptor of the object (close-on-exec); -1 once closed.
    private(set) var descriptor: Int32

    private init(base: UnsafeMutableRawPointer, size: Int, identity: FileIdentity, descriptor: Int32) {
        self.base = base
        self.size = size
        self.identity = identity
        self.descriptor = descriptor
    }

    deinit {
        Sys.unmap(base, size: size)
        if descriptor >= 0 { Sys.close(descriptor) }
    }

    /// Closes the descriptor (the mapping stays): a handle needs none once attached.
    mutating func closeDescriptor() {
        if descriptor >= 0 { Sys.close(descriptor) }
        descriptor = -1
    }

    /// Creates the object `objectName` (which must not exist), reserves `size` bytes of memory
    /// for it and maps it. The new memory reads as zeros.
    ///
    /// - Throws: ``ArrayQueueError/Code/alreadyExists``, ``ArrayQueueError/Code/insufficientSharedMemory``
    ///   when `/dev/shm` cannot hold `size` more bytes, or a system-call error.
    static func create(objectName: String, size: Int, mode: mode_t) throws(ArrayQueueError) -> SharedMemorySegment {
        if let free = Sys.freeBytes(at: SegmentName.directory), free < size {
            throw insufficientMemory(size: size, free: free)
        }
        let fd: Int32
        switch Sys.shmOpen(objectName, flags: O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode: mode) {
        case .success(let value): fd = value
        case .failure(.fileExists):
            throw ArrayQueueError(.alreadyExists, "a shared-memory object \(objectName) exists already; open it, or remove it first (`aq rm`, or `aq gc` for stale ones)", function: "shm_open", errno: .init(rawValue: EEXIST))
        case .failure(let code):
            throw ArrayQueueError(.systemCall, "cannot create the shared-memory object \(objectName)", function: "shm_open", errno: code)
        }
        do throws(ArrayQueueError) {
            // Tells openers that the creator is alive while the segment is unfinished; released by
            // `finishCreation()`, or by the kernel if the creator dies first.
            _ = Sys.lockByte(fd, UInt64(CAQ_CREATOR_LOCK_BYTE))
            try Sys.fchmod(fd, mode)
            let identity = try Sys.fileStatus(fd).identity
            try Sys.ftruncate(fd, size)
            let rc = Sys.fallocate(fd, size)
            if rc == ENOSPC || rc == ENOMEM || rc == EFBIG {
                throw insufficientMemory(size: size, free: Sys.freeBytes(at: SegmentName.directory))
            } else if rc != 0 && rc != EOPNOTSUPP && rc != EINVAL {
                throw .system("posix_fallocate", rc, "cannot reserve \(size) bytes of shared memory")
            }
            let base = try Sys.mapShared(fd, size: size)
            Sys.adviseHugePages(base, size: size)
            return SharedMemorySegment(base: base, size: size, identity: identity, descriptor: fd)
        } catch {
            _ = Sys.shmUnlink(objectName)
            Sys.close(fd)
            throw error
        }
    }

    /// Releases the creator's lock once the header is READY.
    func finishCreation() {
        Sys.unlockByte(descriptor, UInt64(CAQ_CREATOR_LOCK_BYTE))
    }

    /// Maps the existing object `objectName`, whole. Returns nil while it is smaller than
    /// `minimumSize` (its creator may still be sizing it).
    ///
    /// - Throws: ``ArrayQueueError/Code/untrustedOwner`` for an object owned by another user,
    ///   unless `allowOtherOwner`; ``ArrayQueueError/Code/notFound``; or a system-call error.
    static func open(objectName: String, minimumSize: Int, allowOtherOwner: Bool) throws(ArrayQueueError) -> SharedMemorySegment? {
        let fd = try openDescriptor(objectName)
        do throws(ArrayQueueError) {
            let status = try Sys.fileStatus(fd)
            try checkOwner(status.owner, mode: status.mode, objectName: objectName, allowOtherOwner: allowOtherOwner)
            guard status.mode & S_IFMT == S_IFREG else {
                throw ArrayQueueError(.foreignSegment, "\(SegmentName.directory)\(objectName) is not a regular file (mode 0\(String(status.mode, radix: 8))), so not an ArrayQueues segment")
            }
            guard status.size >= minimumSize else {
                Sys.close(fd)
                return nil
            }
            let base = try Sys.mapShared(fd, size: status.size)
            Sys.adviseHugePages(base, size: status.size)
            return SharedMemorySegment(base: base, size: status.size, identity: status.identity, descriptor: fd)
        } catch {
            Sys.close(fd)
            throw error
        }
    }

    /// What can be known of the creator of an object that is not (yet) a finished segment.
    enum CreatorState: Equatable {
        /// It holds the creator's lock: alive and still creating.
        case creating
        /// Nobody holds the lock, but the object changed less than `creatorGrace` ago: its creator
        /// may be between `shm_open` and taking the lock.
        case justCreated
        /// Nobody holds the lock and the object is older: its creator died, or it was never a
        /// segment being created (an empty file someone left).
        case gone
    }

    /// How long after its last change an unlocked, unfinished object may still be in its creator's hands.
    static let creatorGrace: Int64 = 1_000_000_000

    /// Whether the creator of the unfinished object `objectName` is still at work.
    static func creatorState(objectName: String) -> CreatorState {
        guard let fd = try? openDescriptor(objectName) else { return .gone }
        defer { Sys.close(fd) }
        if Sys.isByteLocked(fd, UInt64(CAQ_CREATOR_LOCK_BYTE)) != false { return .creating }
        guard let status = try? Sys.fileStatus(fd) else { return .gone }
        let age = Sys.realtimeNanoseconds().subtractingReportingOverflow(status.changedNanoseconds)
        return !age.overflow && age.partialValue < creatorGrace ? .justCreated : .gone
    }

    private static func openDescriptor(_ objectName: String) throws(ArrayQueueError) -> Int32 {
        switch Sys.shmOpen(objectName, flags: O_RDWR | O_CLOEXEC, mode: 0) {
        case .success(let value): return value
        case .failure(.noSuchFileOrDirectory):
            throw ArrayQueueError(.notFound, "no queue \(objectName.dropFirst(1 + SegmentName.prefix.count)) (\(SegmentName.directory)\(objectName) does not exist)", function: "shm_open", errno: .init(rawValue: ENOENT))
        case .failure(let code):
            throw ArrayQueueError(.systemCall, "cannot open the shared-memory object \(objectName)", function: "shm_open", errno: code)
        }
    }

    /// `/dev/shm` is writable by everyone: anyone can create a well-known name first, then read
    /// what is put there or stall its users. Only objects of this process's (effective) user are
    /// trusted unless the caller opts in (shared-group setups).
    private static func checkOwner(_ owner: uid_t, mode: mode_t, objectName: String, allowOtherOwner: Bool) throws(ArrayQueueError) {
        guard owner != Sys.effectiveUserID, !allowOtherOwner else { return }
        throw ArrayQueueError(.untrustedOwner, "\(SegmentName.directory)\(objectName) belongs to user \(owner), not to this process's user \(Sys.effectiveUserID) (mode 0\(String(mode & 0o7777, radix: 8))); it may have been put there to intercept or stall the queue. Remove it, or open it with allowOtherOwner (`--allow-other-owner`) if that user is trusted")
    }

    /// Removes the object's name; processes that have it mapped keep their mapping.
    static func unlink(objectName: String) throws(ArrayQueueError) {
        switch Sys.shmUnlink(objectName) {
        case nil: return
        case ENOENT?:
            throw ArrayQueueError(.notFound, "no queue \(objectName.dropFirst(1 + SegmentName.prefix.count)) to remove", function: "shm_unlink", errno: .init(rawValue: ENOENT))
        case let code?:
            throw .system("shm_unlink", code, "cannot remove the shared-memory object \(objectName)")
        }
    }

    private static func insufficientMemory(size: Int, free: Int?) -> ArrayQueueError {
        let freeText = free.map { "only \(ByteCount.format($0)) free" } ?? "its free space is unknown"
        return ArrayQueueError(.insufficientSharedMemory, "\(SegmentName.directory) cannot hold a queue of \(ByteCount.format(size)): \(freeText); choose a smaller capacity or enlarge \(SegmentName.directory) (e.g. `mount -o remount,size=8G \(SegmentName.directory)`)")
    }
}
