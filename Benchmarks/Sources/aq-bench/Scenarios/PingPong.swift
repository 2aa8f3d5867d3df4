import ArrayQueues
import Synchronization

/// Round trips between this process and a worker process.
///
/// Scenarios `futex-pingpong` and `spin-pingpong` pass a 32-bit word in shared memory (the
/// latency baselines); `queue-pingpong-parked` and `queue-pingpong-spinning` pass 8-byte
/// records through two queues.
enum PingPong {
    /// The word's value that tells the worker to stop.
    static let stop = UInt32.max
    /// Round trips run before the measured ones.
    static let warmup = 200

    static let futexBaselineName = "futex-pingpong-p50"
    static let spinBaselineName = "spin-pingpong-p50"

    // MARK: - Baselines

    static func futex(_ bench: Bench) throws {
        let latencies = try measureWord(bench, parked: true)
        bench.keepBaseline(futexBaselineName, latencies.microseconds(atPercentile: 50))
        bench.emit(latencies.row("futex-pingpong", size: 4))
    }

    static func spin(_ bench: Bench) throws {
        let latencies = try measureWord(bench, parked: false)
        bench.keepBaseline(spinBaselineName, latencies.microseconds(atPercentile: 50))
        bench.emit(latencies.row("spin-pingpong", size: 4))
    }

    /// Round trips of a word: this process stores an odd value (and wakes the worker if
    /// `parked`), the worker answers with the next even one.
    static func measureWord(_ bench: Bench, parked: Bool) throws -> Latencies {
        let control = ControlBlock(try SharedRegion(creatingSize: ControlBlock.size))
        let rounds = warmup + bench.budget.roundTrips
        var workers = Workers()
        try workers.spawn(WorkerTask(role: parked ? .futexPong : .spinPong, control: control.region.name, count: rounds))
        try workers.waitUntilReady(control, count: 1)
        control.start()
        let cap = Sys.monotonicNanoseconds() + bench.budget.latencyCapNanoseconds
        var latencies = Latencies()
        var value: UInt32 = 0
        for round in 0..<rounds where Sys.monotonicNanoseconds() < cap {
            let start = Sys.monotonicNanoseconds()
            value &+= 1
            control.ping.pointee.store(value, ordering: .releasing)
            if parked { Sys.futexWake(UnsafeMutableRawPointer(control.ping)) }
            value &+= 1
            guard try waitFor(value, on: control.ping, parked: parked, deadline: cap + 10_000_000_000) else { break }
            let end = Sys.monotonicNanoseconds()
            if round >= warmup { latencies.record(start: start, end: end) }
        }
        control.ping.pointee.store(stop, ordering: .releasing)
        Sys.futexWake(UnsafeMutableRawPointer(control.ping))
        try workers.waitForExit(timeoutNanoseconds: 10_000_000_000)
        return latencies
    }

    /// Waits until `word` holds `target` (true) or ``stop`` (false), parked in the kernel or spinning.
    static func waitFor(
        _ target: UInt32, on word: UnsafeMutablePointer<Atomic<UInt32>>, parked: Bool, deadline: Int64
    ) throws(BenchError) -> Bool {
        var spins = 0
        while true {
            let seen = word.pointee.load(ordering: .acquiring)
            if seen == target { return true }
            if seen == stop { return false }
            if parked {
                Sys.futexWait(UnsafeMutableRawPointer(word), expected: seen, timeoutNanoseconds: 100_000_000)
            } else {
                Sys.cpuRelax()
                spins &+= 1
                guard spins & 1023 == 0 else { continue }
            }
            guard Sys.monotonicNanoseconds() < deadline else { throw BenchError("the ping-pong peer stopped answering") }
        }
    }

    /// Worker side of the word ping-pong: answers each odd value with the next even one.
    static func answerWord(_ task: WorkerTask, parked: Bool) throws {
        let control = ControlBlock(try SharedRegion(opening: task.control))
        try control.arriveAndWait()
        let deadline = Sys.monotonicNanoseconds() + 120_000_000_000
        var value: UInt32 = 1
        for _ in 0..<task.count {
            guard try waitFor(value, on: control.ping, parked: parked, deadline: deadline) else { return }
            control.ping.pointee.store(value &+ 1, ordering: .releasing)
            if parked { Sys.futexWake(UnsafeMutableRawPointer(control.ping)) }
            value &+= 2
        }
        _ = try waitFor(stop, on: control.ping, parked: parked, deadline: deadline)
    }

    // MARK: - Queues

    static func queueParked(_ bench: Bench) throws {
        let baseline = try bench.baseline(futexBaselineName) { try measureWord(bench, parked: true).microseconds(atPercentile: 50) }
        let latencies = try measureQueue(bench, spin: .zero)
        var row = latencies.row("queue-pingpong-parked", size: 8)
        row.compare(with: futexBaselineName, value: baseline, unit: "us", figure: row.p50 ?? 0)
        bench.emit(row)
    }

    static func queueSpinning(_ bench: Bench) throws {
        let baseline = try bench.baseline(spinBaselineName) { try measureWord(bench, parked: false).microseconds(atPercentile: 50) }
        let latencies = try measureQueue(bench, spin: QueueOptions().spin)
        var row = latencies.row("queue-pingpong-spinning", size: 8)
        row.compare(with: spinBaselineName, value: baseline, unit: "us", figure: row.p50 ?? 0)
        bench.emit(row)
    }

    /// Round trips of an 8-byte record: `put` on the ping queue, the worker answers on the pong queue.
    static func measureQueue(_ bench: Bench, spin: Duration) throws -> Latencies {
        let options = QueueOptions(spin: spin)
        let ping = try ScratchQueue("ping", capacity: 1 << 20, options: options)
        let pong = try ScratchQueue("pong", capacity: 1 << 20, options: options)
        let control = ControlBlock(try SharedRegion(creatingSize: ControlBlock.size))
        let rounds = warmup + bench.budget.roundTrips
        var workers = Workers()
        try workers.spawn(WorkerTask(
            role: .queuePong, control: control.region.name, queue: ping.name, replyQueue: pong.name,
            count: rounds, spinNanoseconds: nanoseconds(spin)))
        try workers.waitUntilReady(control, count: 1)
        let message = try NDArray<UInt8>(shape: [8], repeating: 1).erased
        control.start()
        let cap = Sys.monotonicNanoseconds() + bench.budget.latencyCapNanoseconds
        var latencies = Latencies()
        for round in 0..<rounds where Sys.monotonicNanoseconds() < cap {
            let start = Sys.monotonicNanoseconds()
            try ping.queue.put(message, timeout: .seconds(10))
            try pong.queue.get(timeout: .seconds(10)) { _ in }
            let end = Sys.monotonicNanoseconds()
            if round >= warmup { latencies.record(start: start, end: end) }
        }
        try ping.queue.put(ScratchQueue.endMarker, timeout: .seconds(10))
        try workers.waitForExit(timeoutNanoseconds: 20_000_000_000)
        return latencies
    }

    /// Worker side of the queue ping-pong: answers every record until the end marker.
    static func answerQueue(_ task: WorkerTask) throws {
        let options = QueueOptions(spin: .nanoseconds(task.spinNanoseconds))
        let ping = try ArrayQueue.open(name: try task.queueName(), options: options)
        let pong = try ArrayQueue.open(name: try task.replyQueueName(), options: options)
        let control = ControlBlock(try SharedRegion(opening: task.control))
        let answer = try NDArray<UInt8>(shape: [8], repeating: 2).erased
        try control.arriveAndWait()
        for _ in 0...task.count {
            let size = try ping.get(timeout: .seconds(30)) { $0.bytes.count }
            if size == 0 { return }
            try pong.put(answer, timeout: .seconds(30))
        }
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}
