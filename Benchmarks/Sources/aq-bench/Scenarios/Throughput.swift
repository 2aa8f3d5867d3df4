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

    /// Rows per size and ring geometry (``RingGeometry``: deep, and `-shallow`): the best of
    /// `streamRepetitions` runs, against memcpy of that size (`ratio`) and, with one producer
    /// and one consumer, against the raw pipeline with the same slot count (`ratio_raw`).
    ///
    /// The raw pipeline is measured afresh, in alternation with the queue (raw, queue, raw,
    /// queue, …; the best of each counts): on a virtual machine the cost of moving cache lines
    /// from one vCPU to the other changes when the hypervisor moves them, by up to 15× for a
    /// ring that fits in the L3 cache, so only figures taken moments apart compare well.
    static func stream(
        _ bench: Bench, scenario: String, sizes: [Int],
        produce: WorkerRole, producers: Int = 1, consume: WorkerRole, consumers: Int = 1
    ) throws {
        let paired = producers == 1 && consumers == 1
        for requested in sizes {
            let (size, geometries, note) = try RingGeometry.both(size: requested)
            if let note { bench.reporter.note(note) }
            let baseline = Memcpy.baseline(bench, size: size)
            for geometry in geometries {
                var best: Pipeline.Result?
                var raw: Pipeline.Result?
                for _ in 0..<bench.budget.streamRepetitions {
                    if paired {
                        let result = try ShmPipeline.measure(bench, size: size, slots: geometry.slots, seconds: bench.budget.streamSeconds)
                        if result.gbps > raw?.gbps ?? -1 { raw = result }
                    }
                    let result = try Pipeline.bestOfQueue(
                        bench, tag: scenario, size: size, capacity: geometry.capacity,
                        seconds: bench.budget.streamSeconds, repetitions: 1,
                        produce: produce, producers: producers, consume: consume, consumers: consumers)
                    if result.gbps > best?.gbps ?? -1 { best = result }
                }
                guard let best else { throw BenchError("\(scenario): no repetition ran") }
                var row = best.row(scenario + geometry.suffix)
                row.note = note
                row.ringRecords = geometry.slots
                row.compare(with: Memcpy.baselineName(size), value: baseline, unit: "GB/s", figure: best.gbps)
                if let raw {
                    row.rawPipelineGbps = raw.gbps
                    row.ratioRaw = raw.gbps > 0 ? best.gbps / raw.gbps : nil
                }
                bench.emit(row)
            }
        }
    }
}
