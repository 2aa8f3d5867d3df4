import ArrayQueues

/// Producer and consumer processes started together on one queue (or the raw ring); the
/// figures are the consumers': records delivered between the first and the last arrival.
///
/// The first pass over the ring is a warm-up and is not measured: it faults the pages of
/// the fresh shared memory into both processes, which a long-lived queue pays only once.
enum Pipeline {
    /// What the consumers saw, all of them together.
    struct Result {
        var records: Int
        var seconds: Double
        var size: Int

        /// Payload GB/s: the records after the first one, over the time from the first to the last.
        var gbps: Double { Double(records - 1) * Double(size) / seconds / 1e9 }
        var recordsPerSecond: Double { Double(records - 1) / seconds }

        /// A row with these figures filled in.
        func row(_ scenario: String) -> Row {
            var row = Row(scenario, size: size)
            row.records = records
            row.seconds = seconds
            row.gbps = gbps
            row.recordsPerSecond = recordsPerSecond
            return row
        }
    }

    /// Records a producer sends at least, so that even very slow runs yield a rate.
    static let minimumRecords = 4
    /// Records a producer sends at most, however fast the machine.
    static let maximumRecords = 500_000_000

    /// Starts `consumers` copies of `consumer` and `producers` copies of `producer`, releases
    /// them together, and waits (bounded) for the producers; then `finish` tells the consumers
    /// to stop (end markers), and their figures are summed. `producer.warmup` records in all
    /// are not measured; each worker takes its share.
    static func run(
        control: ControlBlock, producer: WorkerTask, producers: Int, consumer: WorkerTask, consumers: Int,
        finish: () throws -> Void
    ) throws -> Result {
        precondition(producers + consumers <= ControlBlock.maxSlots)
        let producerWarmup = (producer.warmup + producers - 1) / producers
        let consumerWarmup = (producer.warmup + consumers - 1) / consumers
        var workers = Workers()
        var consumerIDs: [Int32] = []
        var producerIDs: [Int32] = []
        for index in 0..<consumers {
            var task = consumer
            task.slot = index
            task.warmup = consumerWarmup
            consumerIDs.append(try workers.spawn(task))
        }
        for index in 0..<producers {
            var task = producer
            task.slot = consumers + index
            task.warmup = producerWarmup
            producerIDs.append(try workers.spawn(task))
        }
        try workers.waitUntilReady(control, count: producers + consumers)
        control.start()
        try workers.waitForExit(producerIDs, timeoutNanoseconds: Int64(producer.seconds * 1e9) + 60_000_000_000)
        try finish()
        try workers.waitForExit(consumerIDs, timeoutNanoseconds: 60_000_000_000)
        return try collect(control, consumers: consumers, size: producer.size)
    }

    /// What the consumers in result slots `0 ..< consumers` measured, added up over the span
    /// from the earliest first arrival to the latest last one.
    static func collect(_ control: ControlBlock, consumers: Int, size: Int) throws(BenchError) -> Result {
        var records = 0
        var first = UInt64.max
        var last = UInt64.min
        for index in 0..<consumers {
            let slot = control.slot(index)
            let count = Int(slot.records.pointee.load(ordering: .acquiring))
            guard count > 0 else { continue }
            records += count
            first = min(first, slot.firstNanoseconds.pointee.load(ordering: .relaxed))
            last = max(last, slot.lastNanoseconds.pointee.load(ordering: .relaxed))
        }
        guard records >= 2, last > first else {
            throw BenchError("consumers received \(records) records: too few to measure")
        }
        return Result(records: records, seconds: Double(last - first) / 1e9, size: size)
    }

    /// Streams `size`-byte records through a fresh queue `repetitions` times; the best run counts.
    static func bestOfQueue(
        _ bench: Bench, tag: String, size: Int, capacity: Int, seconds: Double, repetitions: Int,
        produce: WorkerRole, producers: Int = 1, consume: WorkerRole, consumers: Int = 1
    ) throws -> Result {
        var best: Result?
        let ringPass = capacity / (try ArrayQueue.recordSize(dtype: .uint8, shape: [size]))
        for _ in 0..<repetitions {
            let scratch = try ScratchQueue(tag, capacity: capacity)
            let control = ControlBlock(try SharedRegion(creatingSize: ControlBlock.size))
            let producer = WorkerTask(role: produce, control: control.region.name, queue: scratch.name, size: size, seconds: seconds, count: maximumRecords, warmup: ringPass)
            let consumer = WorkerTask(role: consume, control: control.region.name, queue: scratch.name, size: size, count: maximumRecords)
            let result = try run(control: control, producer: producer, producers: producers, consumer: consumer, consumers: consumers) {
                for _ in 0..<consumers { try scratch.queue.put(ScratchQueue.endMarker, timeout: .seconds(30)) }
            }
            if result.gbps > best?.gbps ?? -1 { best = result }
        }
        return best!
    }

    // MARK: - Workers

    /// Puts records until the time is up: copies of a prepared array, or (`inPlace`) written
    /// straight into the queue's memory with `put(dtype:shape:fill:)`.
    static func produce(_ task: WorkerTask, inPlace: Bool) throws {
        let queue = try ArrayQueue.open(name: try task.queueName())
        let control = ControlBlock(try SharedRegion(opening: task.control))
        let array = try AnyNDArray(dtype: .uint8, shape: [task.size]) { (bytes: UnsafeMutableRawBufferPointer) throws(Never) in
            for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 31) }
        }
        try control.arriveAndWait()
        let start = Sys.monotonicNanoseconds()
        let duration = Int64(task.seconds * 1e9)
        let hardEnd = start + duration + 30_000_000_000
        var end = task.warmup == 0 ? start + duration : .max
        var sent = 0
        var now = start
        // Small records read the clock every 64, as the raw ring's producer does (Rate.swift): read
        // at every record, it cost the queue's producer a serialising `rdtsc` the baseline did not
        // pay (4 B unbatched +25 % once it was gone). Large ones read it at every record, so that
        // the run ends on time.
        let clockEvery = task.size < 64 << 10 ? 64 : 1
        while sent < task.count && (sent < task.warmup + minimumRecords || now < end) && now < hardEnd {
            if inPlace {
                try array.withUnsafeBytes { source in
                    try queue.put(dtype: .uint8, shape: [task.size], timeout: .seconds(30)) { buffer in
                        buffer.copyMemory(from: source)
                    }
                }
            } else {
                try queue.put(array, timeout: .seconds(30))
            }
            sent += 1
            if sent % clockEvery == 0 || sent == task.warmup { now = Sys.monotonicNanoseconds() }
            if sent == task.warmup { end = now + duration }
        }
        now = Sys.monotonicNanoseconds()
        control.slot(task.slot).store(records: sent, first: start, last: now, checksum: 0)
    }

    /// Takes records until the end marker, each as the worker's role says: an owned copy
    /// (`consume-copy`), borrowed and read in full (`consume-scan`), or borrowed and touched
    /// (`consume-touch`).
    static func consume(_ task: WorkerTask) throws {
        let queue = try ArrayQueue.open(name: try task.queueName())
        let control = ControlBlock(try SharedRegion(opening: task.control))
        try control.arriveAndWait()
        var received = 0
        var records = 0
        var first: Int64 = 0
        var last: Int64 = 0
        var checksum: UInt64 = 0
        while received <= task.count {
            let size: Int
            switch task.role {
            case .consumeCopy:
                let record = try queue.get(timeout: .seconds(30))
                size = record.array.byteCount
                checksum ^= record.array.withUnsafeBytes { touch($0) }
            case .consumeScan:
                size = try queue.get(timeout: .seconds(30)) { record in
                    checksum ^= scan(record.bytes)
                    return record.bytes.count
                }
            default:
                size = try queue.get(timeout: .seconds(30)) { record in
                    checksum ^= touch(record.bytes)
                    return record.bytes.count
                }
            }
            if size == 0 { break }
            received += 1
            guard received > task.warmup else { continue }
            let now = Sys.monotonicNanoseconds()
            if records == 0 { first = now }
            last = now
            records += 1
        }
        control.slot(task.slot).store(records: records, first: first, last: last, checksum: checksum)
    }

    /// `produce` with `put(contentsOf:)`, 64 copies of the prepared array per call.
    static func produceBatches(_ task: WorkerTask) throws {
        let queue = try ArrayQueue.open(name: try task.queueName())
        let control = ControlBlock(try SharedRegion(opening: task.control))
        let array = try AnyNDArray(dtype: .uint8, shape: [task.size]) { (bytes: UnsafeMutableRawBufferPointer) throws(Never) in
            for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 31) }
        }
        let batch = Array(repeating: array, count: 64)
        try control.arriveAndWait()
        let start = Sys.monotonicNanoseconds()
        let duration = Int64(task.seconds * 1e9)
        let hardEnd = start + duration + 30_000_000_000
        var end = task.warmup == 0 ? start + duration : .max
        var sent = 0
        var now = start
        while sent < task.count && (sent < task.warmup + minimumRecords || now < end) && now < hardEnd {
            try queue.put(contentsOf: batch, timeout: .seconds(30))
            let before = sent
            sent += batch.count
            now = Sys.monotonicNanoseconds()
            if before < task.warmup && sent >= task.warmup { end = now + duration }
        }
        control.slot(task.slot).store(records: sent, first: start, last: now, checksum: 0)
    }

    /// `consume` with `drain(upTo: 256)`, touching each record's first word.
    static func consumeBatches(_ task: WorkerTask) throws {
        let queue = try ArrayQueue.open(name: try task.queueName())
        let control = ControlBlock(try SharedRegion(opening: task.control))
        try control.arriveAndWait()
        var received = 0
        var records = 0
        var first: Int64 = 0
        var last: Int64 = 0
        var checksum: UInt64 = 0
        var ended = false
        while !ended && received <= task.count {
            try queue.drain(upTo: 256, timeout: .seconds(30)) { record in
                guard !ended, record.bytes.count > 0 else { ended = true; return }
                checksum ^= touch(record.bytes)
                received += 1
            }
            guard received > task.warmup else { continue }
            let now = Sys.monotonicNanoseconds()
            if first == 0 { first = now; records = received }
            last = now
        }
        control.slot(task.slot).store(records: received - records, first: first, last: last, checksum: checksum)
    }

    /// Reads one 64-bit word of every 64-byte cache line (the payload is 64-byte aligned).
    static func scan(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = bytes.baseAddress, bytes.count >= 8 else { return touch(bytes) }
        var accumulator: UInt64 = 0
        var offset = 0
        while offset <= bytes.count - 8 {
            accumulator ^= base.load(fromByteOffset: offset, as: UInt64.self)
            offset += 64
        }
        return accumulator
    }

    /// Reads the first word (or byte) of a payload.
    static func touch(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        return bytes.count >= 8 ? base.load(as: UInt64.self) : UInt64(base.load(as: UInt8.self))
    }
}
