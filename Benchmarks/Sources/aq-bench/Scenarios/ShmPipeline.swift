import ArrayQueues
import Synchronization

/// Scenario `shm-pipeline`: the physical upper bound of any shared-memory queue with a given
/// ring geometry, measured between two processes.
///
/// A shared region holds `slots` slots of `size` bytes, each with a flag on a cache line of its
/// own. The producer copies a private source buffer into slot `i % slots` (`copyMemory`) and
/// sets the slot's flag with a release store. The consumer spins (with a pause hint) until the
/// flag is set, reads every cache line of the slot (one `UInt64` of each 64 bytes, xor-ed into a
/// checksum) and clears the flag. No locks, headers, wake-ups or crash safety: what is left is
/// the cost of moving the bytes through the caches (or DRAM) from one core to the other.
///
/// Measured for every size of `memcpy` and both ring geometries of the streaming scenarios
/// (``RingGeometry``), each compared with memcpy of the size; the first pass over the ring is a
/// warm-up and is not measured. `queue-copy` and `queue-zerocopy` measure it again, in
/// alternation with the queue, as the second baseline (`ratio_raw`) of each of their figures.
enum ShmPipeline {
    static func run(_ bench: Bench) throws {
        for requested in Memcpy.sizes {
            let (size, geometries, note) = try RingGeometry.both(size: requested)
            if let note { bench.reporter.note(note) }
            let baseline = Memcpy.baseline(bench, size: size)
            for geometry in geometries {
                var best: Pipeline.Result?
                for _ in 0..<bench.budget.streamRepetitions {
                    let result = try measure(bench, size: size, slots: geometry.slots, seconds: bench.budget.streamSeconds)
                    if result.gbps > best?.gbps ?? -1 { best = result }
                }
                guard let best else { throw BenchError("shm-pipeline: no repetition ran") }
                var row = best.row("shm-pipeline" + geometry.suffix)
                row.ringRecords = geometry.slots
                row.note = note
                row.compare(with: Memcpy.baselineName(size), value: baseline, unit: "GB/s", figure: best.gbps)
                bench.emit(row)
            }
        }
    }

    /// One run: a producer and a consumer process on a fresh region.
    static func measure(_ bench: Bench, size: Int, slots: Int, seconds: Double) throws -> Pipeline.Result {
        let region = try SharedRegion(creatingSize: SlotRing.regionSize(recordSize: size, slots: slots))
        let control = ControlBlock(region)
        var producer = WorkerTask(role: .pipelineProduce, control: region.name, size: size, seconds: seconds,
                                  count: Pipeline.maximumRecords, warmup: slots)
        producer.slots = slots
        var consumer = WorkerTask(role: .pipelineConsume, control: region.name, size: size, count: Pipeline.maximumRecords)
        consumer.slots = slots
        return try Pipeline.run(control: control, producer: producer, producers: 1, consumer: consumer, consumers: 1) {}
    }

    // MARK: - Workers

    /// Copies the source buffer into the next slot as soon as its flag is clear, until the time
    /// (counted from the end of the warm-up pass) is up; then closes the ring.
    static func produce(_ task: WorkerTask) throws {
        let ring = try SlotRing(SharedRegion(opening: task.control), recordSize: task.size, slots: task.slots)
        let source = UnsafeMutableRawPointer.allocate(byteCount: max(task.size, 1), alignment: 64)
        defer { source.deallocate() }
        for offset in 0..<task.size { source.storeBytes(of: UInt8(truncatingIfNeeded: offset &* 31), toByteOffset: offset, as: UInt8.self) }
        // Small records: read the clock every 64 records only, so that it costs little.
        let clockEvery = task.size >= 4096 ? 1 : 64
        try ring.control.arriveAndWait()
        let start = Sys.monotonicNanoseconds()
        let duration = Int64(task.seconds * 1e9)
        let hardEnd = start + duration + 30_000_000_000
        var end = task.warmup == 0 ? start + duration : .max
        var sent = 0
        var index = 0
        var now = start
        while sent < task.count && (sent < task.warmup + Pipeline.minimumRecords || now < end) && now < hardEnd {
            let flag = ring.flag(index)
            var spins = 0
            while flag.pointee.load(ordering: .acquiring) != 0 {
                Sys.cpuRelax()
                spins &+= 1
                if spins & 1023 == 0, Sys.monotonicNanoseconds() >= hardEnd { throw BenchError("the pipeline consumer stopped") }
            }
            ring.slot(index).copyMemory(from: source, byteCount: task.size)
            flag.pointee.store(1, ordering: .releasing)
            sent += 1
            index = index + 1 == ring.slotCount ? 0 : index + 1
            if sent % clockEvery == 0 || sent == task.warmup { now = Sys.monotonicNanoseconds() }
            if sent == task.warmup { end = now + duration }
        }
        ring.control.closed.pointee.store(1, ordering: .releasing)
        ring.control.slot(task.slot).store(records: sent, first: start, last: Sys.monotonicNanoseconds(), checksum: 0)
    }

    /// Reads every full slot in order until the ring is closed and the next slot is empty.
    ///
    /// The figures: `first` is the time the first measured record was read, `last` the time
    /// the `records`-th was. The clock is read when the consumer has to wait (the moment
    /// it caught up), every 64 records, and after the first measured one.
    static func consume(_ task: WorkerTask) throws {
        let ring = try SlotRing(SharedRegion(opening: task.control), recordSize: task.size, slots: task.slots)
        try ring.control.arriveAndWait()
        let hardEnd = Sys.monotonicNanoseconds() + 120_000_000_000
        var received = 0
        var index = 0
        var checksum: UInt64 = 0
        var first: Int64 = 0
        var last: Int64 = 0
        var stamped = 0
        reading: while received < task.count + task.warmup {
            let flag = ring.flag(index)
            if flag.pointee.load(ordering: .acquiring) == 0 {
                // Caught up with the producer: the records so far were read by now.
                let measured = received - task.warmup
                if measured > stamped {
                    last = Sys.monotonicNanoseconds()
                    stamped = measured
                }
                var spins = 0
                while flag.pointee.load(ordering: .acquiring) == 0 {
                    if ring.control.closed.pointee.load(ordering: .acquiring) != 0,
                       flag.pointee.load(ordering: .acquiring) == 0 { break reading }
                    Sys.cpuRelax()
                    spins &+= 1
                    if spins & 1023 == 0, Sys.monotonicNanoseconds() >= hardEnd { throw BenchError("the pipeline producer stopped") }
                }
            }
            checksum ^= Pipeline.scan(UnsafeRawBufferPointer(start: ring.slot(index), count: task.size))
            flag.pointee.store(0, ordering: .releasing)
            received += 1
            index = index + 1 == ring.slotCount ? 0 : index + 1
            let measured = received - task.warmup
            if measured == 1 || (measured > 0 && measured & 63 == 0) {
                last = Sys.monotonicNanoseconds()
                stamped = measured
                if measured == 1 { first = last }
            }
        }
        ring.control.slot(task.slot).store(records: max(stamped, 0), first: first, last: last, checksum: checksum)
    }
}

/// The two ring geometries every streaming figure is measured with, for `size`-byte records.
struct RingGeometry {
    /// `""` (deep) or `"-shallow"`, appended to the scenario's name.
    let suffix: String
    /// Bytes of the queue's ring.
    let capacity: Int
    /// Records the queue's ring holds, and slots of the raw pipeline with the same geometry.
    let slots: Int

    /// The deep ring (capacity ≥ 8 records and ≥ 64 MiB: for large records bigger than this
    /// machine's L3, so a full ring streams from DRAM) and the shallow one (3 records, at
    /// least 4 MiB), which a producer that must not run far ahead of its consumer would choose.
    /// The shallow one is left out where it would not be smaller. The record size is shrunk
    /// if the deep ring does not fit in `/dev/shm` (see ``ScratchQueue/fit(size:)``).
    static func both(size requested: Int) throws -> (size: Int, geometries: [RingGeometry], note: String?) {
        let (size, deepCapacity, note) = try ScratchQueue.fit(size: requested)
        let record = try ArrayQueue.recordSize(dtype: .uint8, shape: [size])
        let shallowCapacity = max(3 * record, 4 << 20)
        var geometries = [RingGeometry(suffix: "", capacity: deepCapacity, slots: deepCapacity / record)]
        if shallowCapacity < deepCapacity {
            geometries.append(RingGeometry(suffix: "-shallow", capacity: shallowCapacity, slots: shallowCapacity / record))
        }
        return (size, geometries, note)
    }
}

/// The raw pipeline's layout in a shared region: the control block, one flag per slot on a
/// cache line of its own, then the slots (page-aligned, each 64-byte aligned).
struct SlotRing {
    let control: ControlBlock
    let slotCount: Int
    private let stride: Int
    private let flags: UnsafeMutableRawPointer
    private let slots: UnsafeMutableRawPointer

    private static let flagsOffset = ControlBlock.size

    static func regionSize(recordSize: Int, slots: Int) -> Int {
        slotsOffset(slots: slots) + slots * slotStride(recordSize)
    }

    private static func slotsOffset(slots: Int) -> Int { (flagsOffset + slots * 64 + 4095) / 4096 * 4096 }

    private static func slotStride(_ recordSize: Int) -> Int { max(64, (recordSize + 63) / 64 * 64) }

    init(_ region: SharedRegion, recordSize: Int, slots: Int) throws(BenchError) {
        guard slots >= 1 else { throw BenchError("a pipeline ring needs at least one slot") }
        guard region.size >= Self.regionSize(recordSize: recordSize, slots: slots) else { throw BenchError("the pipeline region is too small") }
        control = ControlBlock(region)
        slotCount = slots
        stride = Self.slotStride(recordSize)
        flags = region.base + Self.flagsOffset
        self.slots = region.base + Self.slotsOffset(slots: slots)
        _ = region.word(at: Self.flagsOffset + (slots - 1) * 64)  // binds the last flag: checks the layout once
    }

    /// The flag of slot `index`: 1 while the slot holds a record the consumer has not read.
    func flag(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (flags + index * 64).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    func slot(_ index: Int) -> UnsafeMutableRawPointer {
        slots + index * stride
    }
}
