@preconcurrency import Glibc
import SystemPackage

/// The owner of one mapped POSIX shared-memory object. Unmaps it when it goes away; being
/// `~Copyable`, no copy can outlive the mapping.
struct SharedMemorySegment: ~Copyable {
    /// Start of the mapping.
    let base: UnsafeMutableRawPointer
    /// Bytes mapped: the whole object.
    let size: Int
    /// The object's file, to tell whether its name still leads to it.
    let identity: FileIdentity

    private init(base: UnsafeMutableRawPointer, size: Int, identity: FileIdentity) {
        self.base = base
        self.size = size
        self.identity = identity
    }

    deinit { Sys.unmap(base, size: size) }

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
        defer { Sys.close(fd) }
        do throws(ArrayQueueError) {
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
            return SharedMemorySegment(base: base, size: size, identity: identity)
        } catch {
            _ = Sys.shmUnlink(objectName)
            throw error
        }
    }

    /// Maps the existing object `objectName`, whole. Returns nil while it is smaller than
    /// `minimumSize` (its creator may still be sizing it).
    static func open(objectName: String, minimumSize: Int) throws(ArrayQueueError) -> SharedMemorySegment? {
        let fd: Int32
        switch Sys.shmOpen(objectName, flags: O_RDWR | O_CLOEXEC, mode: 0) {
        case .success(let value): fd = value
        case .failure(.noSuchFileOrDirectory):
            throw ArrayQueueError(.notFound, "no queue \(objectName.dropFirst(1 + SegmentName.prefix.count)) (\(SegmentName.directory)\(objectName) does not exist)", function: "shm_open", errno: .init(rawValue: ENOENT))
        case .failure(let code):
            throw ArrayQueueError(.systemCall, "cannot open the shared-memory object \(objectName)", function: "shm_open", errno: code)
        }
        defer { Sys.close(fd) }
        let status = try Sys.fileStatus(fd)
        guard status.size >= minimumSize else { return nil }
        let base = try Sys.mapShared(fd, size: status.size)
        Sys.adviseHugePages(base, size: status.size)
        return SharedMemorySegment(base: base, size: status.size, identity: status.identity)
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
