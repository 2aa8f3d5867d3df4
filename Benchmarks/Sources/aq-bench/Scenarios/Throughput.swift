import ArrayQueues

/// Payload throughput between processes, as a fraction of single-threaded memcpy of the same size.
///
/// - `queue-copy`: `put(array)` copies in, `get()` copies out into a new array.
/// - `queue-zerocopy`: `put(dtype:shape:fill:)` writes in place, `get { }` reads every cache line in place.
/// - `queue-mpmc-PxC`: P producer and C consumer processes on one queue, copying paths.
enum Throughput {
    static func queueCopy(_ bench: Bench) throws {
        try stream(bench, scenario: "queue-copy", sizes: Memcpy.sizes, produce: .produceCopy, consume: .consumeCopy)
    }

    static func queueZeroCopy(_ bench: Bench) throws {
        try stream(bench, scenario: "queue-zerocopy", sizes: Memcpy.sizes, produce: .produceFill, consume: .consumeScan)
    }

    static func mpmc(producers: Int, consumers: Int) -> (Bench) throws -> Void {
        { bench in
            try stream(bench, scenario: "queue-mpmc-\(producers)x\(consumers)", sizes: [64 << 10, 1 << 20],
                       produce: .produceCopy, producers: producers, consume: .consumeCopy, consumers: consumers)
        }
    }

    /// Rows per size and ring geometry: the best of `streamRepetitions` runs, against memcpy of
    /// that size and against the raw shared-memory pipeline with the same ring. Two geometries:
    /// a deep ring (≥ 8 records and ≥ 64 MiB, larger than this machine's L3 for big records,
    /// so a full ring streams from DRAM) and a shallow one (3 records, `-shallow`), which a
    /// producer that must not run far ahead of its consumer would choose.
    static func stream(
        _ bench: Bench, scenario: String, sizes: [Int],
        produce: WorkerRole, producers: Int = 1, consume: WorkerRole, consumers: Int = 1
    ) throws {
        for requested in sizes {
            let (size, deepCapacity, note) = try ScratchQueue.fit(size: requested)
            if let note { bench.reporter.note(note) }
            let record = try ArrayQueue.recordSize(dtype: .uint8, shape: [size])
            let shallowCapacity = max(3 * record, 4 << 20)
            let geometries = [(scenario, deepCapacity)] + (shallowCapacity < deepCapacity ? [("\(scenario)-shallow", shallowCapacity)] : [])
            let baseline = Memcpy.baseline(bench, size: size)
            for (name, capacity) in geometries {
                let result = try Pipeline.bestOfQueue(
                    bench, tag: scenario, size: size, capacity: capacity,
                    seconds: bench.budget.streamSeconds, repetitions: bench.budget.streamRepetitions,
                    produce: produce, producers: producers, consume: consume, consumers: consumers)
                var row = result.row(name)
                row.note = note
                row.ringRecords = capacity / record
                row.compare(with: Memcpy.baselineName(size), value: baseline, unit: "GB/s", figure: result.gbps)
                if producers == 1 && consumers == 1 {
                    let raw = try rawPipeline(bench, size: size, ringBytes: capacity / record * size)
                    row.rawPipelineGbps = raw
                    row.ratioRaw = raw > 0 ? result.gbps / raw : nil
                }
                bench.emit(row)
            }
        }
    }

    /// GB/s of the raw pipeline (`shm-pipeline`): two processes, a spinning ring of
    /// `ringBytes`, the producer copying each record in and the consumer reading every cache
    /// line. Measured once per geometry, and emitted as a baseline row.
    static func rawPipeline(_ bench: Bench, size: Int, ringBytes: Int) throws -> Double {
        let slots = RawRing.slotCount(recordSize: size, ringBytes: ringBytes)
        return try bench.baseline("shm-pipeline-\(Reporter.formatSize(size))-x\(slots)") {
            var best: Pipeline.Result?
            for _ in 0..<bench.budget.streamRepetitions {
                let result = try Rate.measureRing(bench, size: size, ringBytes: ringBytes, seconds: bench.budget.streamSeconds, consume: .ringScan)
                if result.gbps > best?.gbps ?? -1 { best = result }
            }
            var row = best!.row("shm-pipeline")
            row.ringRecords = slots
            bench.emit(row)
            return best!.gbps
        }
    }
}
