import Synchronization

/// Small records per second between two processes.
///
/// - `spsc-ring-rate` (baseline): a minimal single-producer single-consumer ring in shared
///   memory, both sides spinning: `copyMemory` into a slot and a release store of the tail;
///   the consumer reads the first word and advances the head.
/// - `queue-1k-rate`: copying `put(array)`, borrowing `get { }` that reads the first word.
/// - `queue-1k-rate-batched`: `put(contentsOf:)` of 64 records, `drain(upTo: 256)` reading
///   each one's first word.
enum Rate {
    static let sizes = [1024, 4]

    static func baselineName(_ size: Int) -> String { "spsc-ring-\(Reporter.formatSize(size))" }

    static func ring(_ bench: Bench) throws {
        for size in sizes {
            let result = try measureRing(bench, size: size)
            bench.keepBaseline(baselineName(size), result.recordsPerSecond)
            bench.emit(result.row("spsc-ring-rate"))
        }
    }

    static func queue(_ bench: Bench) throws {
        for size in sizes {
            let baseline = try bench.baseline(baselineName(size)) { try measureRing(bench, size: size).recordsPerSecond }
            let result = try Pipeline.bestOfQueue(
                bench, tag: "rate", size: size, capacity: 64 << 20, seconds: bench.budget.rateSeconds,
                repetitions: bench.budget.streamRepetitions, produce: .produceCopy, consume: .consumeTouch)
            var row = result.row("queue-1k-rate")
            row.compare(with: baselineName(size), value: baseline, unit: "records/s", figure: result.recordsPerSecond)
            bench.emit(row)
            let batched = try Pipeline.bestOfQueue(
                bench, tag: "rate-batched", size: size, capacity: 64 << 20, seconds: bench.budget.rateSeconds,
                repetitions: bench.budget.streamRepetitions, produce: .produceBatch, consume: .consumeBatch)
            var batchedRow = batched.row("queue-1k-rate-batched")
            batchedRow.compare(with: baselineName(size), value: baseline, unit: "records/s", figure: batched.recordsPerSecond)
            bench.emit(batchedRow)
        }
    }

    /// Streams `size`-byte records through a raw ring of `ringBytes`; the consumer reads the
    /// first word of each.
    static func measureRing(_ bench: Bench, size: Int, ringBytes: Int = RawRing.defaultRingBytes) throws -> Pipeline.Result {
        let region = try SharedRegion(creatingSize: RawRing.regionSize(recordSize: size, ringBytes: ringBytes))
        let control = ControlBlock(region)
        var producer = WorkerTask(role: .ringProduce, control: region.name, size: size, seconds: bench.budget.rateSeconds,
                                  count: Pipeline.maximumRecords, warmup: RawRing.slotCount(recordSize: size, ringBytes: ringBytes))
        producer.ringBytes = ringBytes
        var consumer = WorkerTask(role: .ringConsume, control: region.name, size: size, count: Pipeline.maximumRecords)
        consumer.ringBytes = ringBytes
        return try Pipeline.run(control: control, producer: producer, producers: 1, consumer: consumer, consumers: 1) {}
    }

    // MARK: - Workers

    /// Fills slots with copies of a prepared buffer until the time is up, then closes the ring.
    static func produceRing(_ task: WorkerTask) throws {
        let ring = try RawRing(SharedRegion(opening: task.control), recordSize: task.size, ringBytes: task.ringBytes)
        let source = UnsafeMutableRawPointer.allocate(byteCount: max(task.size, 1), alignment: 64)
        defer { source.deallocate() }
        source.initializeMemory(as: UInt8.self, repeating: 0x5a, count: task.size)
        try ring.control.arriveAndWait()
        let start = Sys.monotonicNanoseconds()
        let duration = Int64(task.seconds * 1e9)
        let hardEnd = start + duration + 30_000_000_000
        let warmup = UInt64(task.warmup)
        var end = warmup == 0 ? start + duration : .max
        var tail: UInt64 = 0
        var head: UInt64 = 0
        var now = start
        while tail < UInt64(task.count) && (tail < warmup + UInt64(Pipeline.minimumRecords) || now < end) && now < hardEnd {
            var spins = 0
            while tail - head >= UInt64(ring.slotCount) {
                head = ring.head.pointee.load(ordering: .acquiring)
                Sys.cpuRelax()
                spins &+= 1
                if spins & 1023 == 0, Sys.monotonicNanoseconds() >= hardEnd { throw BenchError("the ring consumer stopped") }
            }
            ring.slot(tail).copyMemory(from: source, byteCount: task.size)
            tail += 1
            ring.tail.pointee.store(tail, ordering: .releasing)
            if tail & 63 == 0 || tail == warmup { now = Sys.monotonicNanoseconds() }
            if tail == warmup { end = now + duration }
        }
        ring.control.closed.pointee.store(1, ordering: .releasing)
        ring.control.slot(task.slot).store(records: Int(tail), first: start, last: Sys.monotonicNanoseconds(), checksum: 0)
    }

    /// Takes records until the ring is closed and empty, reading each one's first word.
    static func consumeRing(_ task: WorkerTask) throws {
        let ring = try RawRing(SharedRegion(opening: task.control), recordSize: task.size, ringBytes: task.ringBytes)
        try ring.control.arriveAndWait()
        let hardEnd = Sys.monotonicNanoseconds() + 120_000_000_000
        let warmup = UInt64(task.warmup)
        var head: UInt64 = 0
        var first: Int64 = 0
        var last: Int64 = 0
        var checksum: UInt64 = 0
        var spins = 0
        while true {
            let tail = ring.tail.pointee.load(ordering: .acquiring)
            if head == tail {
                if ring.control.closed.pointee.load(ordering: .acquiring) != 0,
                   ring.tail.pointee.load(ordering: .acquiring) == head { break }
                Sys.cpuRelax()
                spins &+= 1
                if spins & 1023 == 0, Sys.monotonicNanoseconds() >= hardEnd { throw BenchError("the ring producer stopped") }
                continue
            }
            while head < tail {
                let record = UnsafeRawBufferPointer(start: ring.slot(head), count: task.size)
                checksum ^= Pipeline.touch(record)
                head += 1
                ring.head.pointee.store(head, ordering: .releasing)
                guard head > warmup else { continue }
                last = Sys.monotonicNanoseconds()
                if first == 0 { first = last }
            }
        }
        ring.control.slot(task.slot).store(records: Int(head - min(head, warmup)), first: first, last: last, checksum: checksum)
    }
}

/// The raw ring's layout in a shared region: the control block, head and tail cursors on
/// their own cache lines, then `ringBytes` (64 MiB by default) of 64-byte aligned slots, at
/// least two.
struct RawRing {
    static let defaultRingBytes = 64 << 20
    private static let slotsOffset = 8192

    let control: ControlBlock
    /// Records taken (written by the consumer).
    let head: UnsafeMutablePointer<Atomic<UInt64>>
    /// Records published (written by the producer).
    let tail: UnsafeMutablePointer<Atomic<UInt64>>
    let slotCount: Int
    private let stride: Int

    static func regionSize(recordSize: Int, ringBytes: Int) -> Int {
        slotsOffset + slotCount(recordSize: recordSize, ringBytes: ringBytes) * slotStride(recordSize)
    }

    static func slotCount(recordSize: Int, ringBytes: Int) -> Int { max(2, ringBytes / slotStride(recordSize)) }

    private static func slotStride(_ recordSize: Int) -> Int { max(64, (recordSize + 63) / 64 * 64) }

    init(_ region: SharedRegion, recordSize: Int, ringBytes: Int) throws(BenchError) {
        guard region.size >= Self.regionSize(recordSize: recordSize, ringBytes: ringBytes) else { throw BenchError("the ring region is too small") }
        control = ControlBlock(region)
        head = region.counter(at: ControlBlock.size)
        tail = region.counter(at: ControlBlock.size + 64)
        stride = Self.slotStride(recordSize)
        slotCount = Self.slotCount(recordSize: recordSize, ringBytes: ringBytes)
    }

    func slot(_ position: UInt64) -> UnsafeMutableRawPointer {
        control.region.base + Self.slotsOffset + Int(position % UInt64(slotCount)) * stride
    }
}
