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

    /// One row per size: the best of `streamRepetitions` runs against memcpy of that size.
    static func stream(
        _ bench: Bench, scenario: String, sizes: [Int],
        produce: WorkerRole, producers: Int = 1, consume: WorkerRole, consumers: Int = 1
    ) throws {
        for requested in sizes {
            let (size, capacity, note) = try ScratchQueue.fit(size: requested)
            if let note { bench.reporter.note(note) }
            let baseline = Memcpy.baseline(bench, size: size)
            let result = try Pipeline.bestOfQueue(
                bench, tag: scenario, size: size, capacity: capacity,
                seconds: bench.budget.streamSeconds, repetitions: bench.budget.streamRepetitions,
                produce: produce, producers: producers, consume: consume, consumers: consumers)
            var row = result.row(scenario)
            row.note = note
            row.compare(with: Memcpy.baselineName(size), value: baseline, unit: "GB/s", figure: result.gbps)
            bench.emit(row)
        }
    }
}
