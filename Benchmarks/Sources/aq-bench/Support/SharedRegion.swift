import Synchronization

/// A named POSIX shared-memory object mapped into this process, for the control block and the
/// raw baselines. The creator's instance also removes the name when it goes away, so a failed
/// scenario leaves nothing behind in `/dev/shm`.
///
/// A class rather than a `~Copyable` owner so that views into the mapping (``ControlBlock``,
/// ``RawRing``) can hold a reference that keeps it mapped while they exist.
final class SharedRegion {
    /// The object's name, `/aq-bench.<pid>.<n>`, passed to workers so they can open it.
    let name: String
    let base: UnsafeMutableRawPointer
    let size: Int
    private let ownsName: Bool

    private static let counter = Atomic<Int>(0)

    /// Creates a fresh, zero-filled region of `size` bytes with a name unique to this process.
    init(creatingSize size: Int) throws(BenchError) {
        let serial = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue
        name = "/aq-bench.\(Sys.processID()).\(serial)"
        base = try Sys.sharedMemoryCreate(name: name, size: size)
        self.size = size
        ownsName = true
    }

    /// Maps the region another process created.
    init(opening name: String) throws(BenchError) {
        self.name = name
        (base, size) = try Sys.sharedMemoryOpen(name: name)
        ownsName = false
    }

    /// A 32-bit atomic (and futex word) at `offset`, which must be 4-byte aligned.
    func word(at offset: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        precondition(offset % 4 == 0 && offset + 4 <= size)
        return (base + offset).bindMemory(to: Atomic<UInt32>.self, capacity: 1)
    }

    /// A 64-bit atomic at `offset`, which must be 8-byte aligned.
    func counter(at offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        precondition(offset % 8 == 0 && offset + 8 <= size)
        return (base + offset).bindMemory(to: Atomic<UInt64>.self, capacity: 1)
    }

    deinit {
        Sys.unmap(base, size: size)
        if ownsName { Sys.sharedMemoryUnlink(name: name) }
    }
}

/// The first page of every scenario's shared region: a start barrier, a ping-pong word and
/// one result slot per worker. Valid while the region it was made from is mapped.
struct ControlBlock {
    /// Bytes the control block occupies at the start of a region.
    static let size = 4096
    /// Most workers one scenario can run.
    static let maxSlots = (size - slotsOffset) / 64
    private static let slotsOffset = 256

    /// The ping-pong word of the futex and spin baselines.
    let ping: UnsafeMutablePointer<Atomic<UInt32>>
    /// Workers that are set up and waiting for ``go``.
    let ready: UnsafeMutablePointer<Atomic<UInt32>>
    /// Becomes 1 when the coordinator starts the measurement (a futex word).
    let go: UnsafeMutablePointer<Atomic<UInt32>>
    /// Set when producers of the raw ring have all finished, or (zmq-*) when the sender has.
    let closed: UnsafeMutablePointer<Atomic<UInt32>>
    /// The TCP port the binding worker bound (zmq-*), stored before it reaches the start barrier.
    let port: UnsafeMutablePointer<Atomic<UInt32>>
    /// Becomes 1 when a zmq-* receiver starts measuring (zmq-fastpath: after its switch to
    /// shared memory); a sender that waits for it starts its timed period then.
    let measuring: UnsafeMutablePointer<Atomic<UInt32>>
    /// The region, kept mapped while this view exists.
    let region: SharedRegion

    init(_ region: SharedRegion) {
        precondition(region.size >= Self.size)
        ping = region.word(at: 0)
        ready = region.word(at: 64)
        go = region.word(at: 128)
        closed = region.word(at: 192)
        port = region.word(at: 196)
        measuring = region.word(at: 200)
        self.region = region
    }

    /// What worker `index` measured.
    func slot(_ index: Int) -> ResultSlot {
        precondition(index >= 0 && index < Self.maxSlots)
        let base = region.base + Self.slotsOffset + index * 64
        func field(_ number: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
            (base + number * 8).bindMemory(to: Atomic<UInt64>.self, capacity: 1)
        }
        return ResultSlot(records: field(0), firstNanoseconds: field(1), lastNanoseconds: field(2), checksum: field(3))
    }

    /// Worker side of the start barrier: counts itself ready, then waits (bounded) for ``go``.
    func arriveAndWait(timeoutNanoseconds: Int64 = 60_000_000_000) throws(BenchError) {
        ready.pointee.add(1, ordering: .releasing)
        let deadline = Sys.monotonicNanoseconds() + timeoutNanoseconds
        while go.pointee.load(ordering: .acquiring) == 0 {
            guard Sys.monotonicNanoseconds() < deadline else { throw BenchError("the benchmark never started (waited for the coordinator)") }
            Sys.futexWait(UnsafeMutableRawPointer(go), expected: 0, timeoutNanoseconds: 100_000_000)
        }
    }

    /// Coordinator side of the start barrier: releases every waiting worker.
    func start() {
        go.pointee.store(1, ordering: .releasing)
        Sys.futexWake(UnsafeMutableRawPointer(go))
    }
}

/// One worker's figures, written by the worker and read by the coordinator after it exits.
struct ResultSlot {
    let records: UnsafeMutablePointer<Atomic<UInt64>>
    let firstNanoseconds: UnsafeMutablePointer<Atomic<UInt64>>
    let lastNanoseconds: UnsafeMutablePointer<Atomic<UInt64>>
    /// What a consumer read, stored so that the compiler cannot skip the reading.
    let checksum: UnsafeMutablePointer<Atomic<UInt64>>

    func store(records: Int, first: Int64, last: Int64, checksum value: UInt64) {
        checksum.pointee.store(value, ordering: .relaxed)
        firstNanoseconds.pointee.store(UInt64(max(first, 0)), ordering: .relaxed)
        lastNanoseconds.pointee.store(UInt64(max(last, 0)), ordering: .relaxed)
        self.records.pointee.store(UInt64(records), ordering: .releasing)
    }
}
