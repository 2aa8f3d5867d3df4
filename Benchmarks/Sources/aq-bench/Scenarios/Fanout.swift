import ArrayQueues

/// `queue-fanout`: one producer process writes each record once into a broadcast queue; 1, 2
/// and 4 lossless (`.block`) subscriber processes each read every record in place (one word of
/// every cache line, as the subscribers of the iceoryx2 peer in `peers/fanout_peers.py` do). The figure is the producer's rate after a warm-up pass over the ring; the
/// baseline is the same producer with one subscriber, measured in alternation (1, 2, 4, 1, 2,
/// 4, …; the best of each counts), since only figures taken moments apart compare well here.
///
/// `queue-fanout-touch` is the same with subscribers that read one word of each record: the
/// producer's own cost (it writes each record once, whatever the number of subscribers), where
/// `queue-fanout` on a machine with few cores measures the subscribers' reads as well.
enum Fanout {
    static let sizes = [1 << 10, 1 << 20, 8 << 20]
    static let subscriberCounts = [1, 2, 4]

    static func run(_ bench: Bench) throws {
        try run(bench, touch: false)
    }

    static func runTouch(_ bench: Bench) throws {
        try run(bench, touch: true)
    }

    static func run(_ bench: Bench, touch: Bool) throws {
        let name = touch ? "queue-fanout-touch" : "queue-fanout"
        for requested in sizes {
            let fitted = try ScratchQueue.fit(size: requested)
            if let note = fitted.note { bench.reporter.note(note) }
            var best: [Int: Pipeline.Result] = [:]
            for _ in 0..<bench.budget.streamRepetitions {
                for subscribers in subscriberCounts {
                    let result = try measure(bench, size: fitted.size, capacity: fitted.capacity, subscribers: subscribers, touch: touch)
                    if result.gbps > best[subscribers]?.gbps ?? -1 { best[subscribers] = result }
                }
            }
            guard let one = best[1] else { throw BenchError("\(name): no repetition ran") }
            for subscribers in subscriberCounts {
                guard let result = best[subscribers] else { continue }
                var row = result.row("\(name)-\(subscribers)sub")
                row.note = fitted.note
                row.compare(with: "\(name)-1sub", value: one.recordsPerSecond, unit: "records/s", figure: result.recordsPerSecond)
                bench.emit(row)
            }
        }
    }

    /// One run: the producer's records and time after its warm-up.
    static func measure(_ bench: Bench, size: Int, capacity: Int, subscribers: Int, touch: Bool) throws -> Pipeline.Result {
        let scratch = try ScratchQueue("fanout", capacity: capacity, creating: CreateOptions(broadcast: true))
        let control = ControlBlock(try SharedRegion(creatingSize: ControlBlock.size))
        let ringPass = capacity / (try ArrayQueue.recordSize(dtype: .uint8, shape: [size]))
        var workers = Workers()
        for index in 0..<subscribers {
            _ = try workers.spawn(WorkerTask(role: touch ? .fanoutSubscribeTouch : .fanoutSubscribe, control: control.region.name, slot: index + 1, queue: scratch.name, size: size))
        }
        let producer = try workers.spawn(WorkerTask(
            role: .fanoutProduce, control: control.region.name, slot: 0, queue: scratch.name, size: size,
            seconds: bench.budget.streamSeconds, count: Pipeline.maximumRecords, warmup: ringPass))
        try workers.waitUntilReady(control, count: subscribers + 1)
        control.start()
        try workers.waitForExit([producer], timeoutNanoseconds: Int64(bench.budget.streamSeconds * 1e9) + 60_000_000_000)
        try scratch.queue.put(ScratchQueue.endMarker, timeout: .seconds(30))
        try workers.waitForExit(timeoutNanoseconds: 60_000_000_000)
        return try Pipeline.collect(control, consumers: 1, size: size)
    }

    // MARK: - Workers

    /// Writes records in place (`put(dtype:shape:fill:)`, one copy from a prepared array) until
    /// the time is up; stores the records and the span after the warm-up in its slot.
    static func produce(_ task: WorkerTask) throws {
        let queue = try ArrayQueue.open(name: try task.queueName())
        let control = ControlBlock(try SharedRegion(opening: task.control))
        let array = try AnyNDArray(dtype: .uint8, shape: [task.size]) { (bytes: UnsafeMutableRawBufferPointer) throws(Never) in
            for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 31) }
        }
        try control.arriveAndWait()
        let duration = Int64(task.seconds * 1e9)
        let hardEnd = Sys.monotonicNanoseconds() + duration + 30_000_000_000
        var sent = 0
        var first: Int64 = 0
        var now = Sys.monotonicNanoseconds()
        while sent < task.count && (sent < task.warmup + Pipeline.minimumRecords || now < first + duration) && now < hardEnd {
            try array.withUnsafeBytes { source in
                try queue.put(dtype: .uint8, shape: [task.size], timeout: .seconds(30)) { buffer in buffer.copyMemory(from: source) }
            }
            sent += 1
            now = Sys.monotonicNanoseconds()
            if sent == task.warmup { first = now }
        }
        control.slot(task.slot).store(records: sent - task.warmup, first: first, last: now, checksum: 0)
    }

    /// Reads every record in place as a lossless subscriber until the end marker: one word of
    /// every cache line, or with `touch` only the first word.
    static func subscribe(_ task: WorkerTask, touch: Bool = false) throws {
        let queue = try ArrayQueue.open(name: try task.queueName())
        let subscriber = try queue.subscribe(policy: .block, start: .oldest)
        let control = ControlBlock(try SharedRegion(opening: task.control))
        try control.arriveAndWait()
        var received = 0
        var checksum: UInt64 = 0
        while true {
            let size = try subscriber.get(timeout: .seconds(60)) { record in
                checksum ^= touch ? (record.bytes.count >= 8 ? record.bytes.loadUnaligned(as: UInt64.self) : 0) : Pipeline.scan(record.bytes)
                return record.bytes.count
            }
            if size == 0 { break }
            received += 1
        }
        control.slot(task.slot).store(records: received, first: 0, last: 0, checksum: checksum)
    }
}
