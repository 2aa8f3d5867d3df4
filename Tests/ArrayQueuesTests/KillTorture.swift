import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// What the kill tortures (``CrashTests/killTorture()``, ``PolicyTortureTests``) share: the
/// number of kills and the seed (`AQ_TORTURE_KILLS`, `AQ_TORTURE_SEED`), the directory of the
/// consumers' logs, the loop that kills workers at random and starts new ones, and the drain.
struct KillTorture {
    let label: String
    let kills: Int
    let seed: UInt64
    /// The consumers' logs: one delivered index per line (``verifiedTortureDeliveries(in:label:)``).
    let logs: URL

    /// Reads the environment and makes the log directory; `cleanUp()` removes it.
    init(_ label: String, defaultKills: Int) throws {
        let environment = ProcessInfo.processInfo.environment
        self.label = label
        kills = Int(environment["AQ_TORTURE_KILLS"] ?? "") ?? defaultKills
        seed = UInt64(environment["AQ_TORTURE_SEED"] ?? "") ?? UInt64.random(in: 1..<1 << 40)
        print("\(label) torture: \(kills) kills, seed \(seed) (AQ_TORTURE_KILLS / AQ_TORTURE_SEED to change)")
        logs = FileManager.default.temporaryDirectory.appendingPathComponent("aq-torture-\(label)-\(getpid())-\(seed)")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(at: logs) }

    /// A consumer's log file.
    func log(_ name: String) -> String { logs.appendingPathComponent("\(name).log").path }

    /// Kills a random worker every 0–15 ms and puts a new one of the same role in its place
    /// (`respawn`), `kills` times or until the time limit, expecting records to keep flowing
    /// and every victim to be alive, unless `diedOnPurpose` says it ended as it was meant to
    /// (it is counted then). Returns the kills done, the self-inflicted deaths seen and the stall detector.
    func killAtRandom<Role>(
        _ workers: inout [(role: Role, process: HelperProcess)], random: inout SplitMix,
        respawn: (Role, inout SplitMix) throws -> HelperProcess, diedOnPurpose: (HelperProcess) -> Bool = { _ in false }
    ) throws -> (done: Int, diedOnPurpose: Int, stalls: StallDetector) {
        var stalls = StallDetector(logs: logs)
        let deadline = Date().addingTimeInterval(max(120, Double(kills) * 0.1))
        var done = 0
        var selfKilled = 0
        while done < kills && Date() < deadline {
            usleep(UInt32(random.next() % 15_000))
            let flowing = stalls.check()
            #expect(flowing, "\(label): no record delivered for over 2 s while producers were alive")
            let victim = Int(random.next() % UInt64(workers.count))
            let worker = workers[victim]
            if diedOnPurpose(worker.process) {
                selfKilled += 1
            } else {
                #expect(worker.process.isRunning, "\(label): a worker died by itself: \(worker.process.errorOutput)")
            }
            worker.process.kill()
            workers[victim] = (worker.role, try respawn(worker.role, &random))
            done += 1
        }
        #expect(done == kills, "\(label): only \(done) kills within the time limit")
        return (done, selfKilled, stalls)
    }

    /// Kills the workers that are not consumers, lets the consumers take what was committed
    /// (at most 30 s), then kills them too, expecting each to have been alive.
    func drain<Role>(_ queue: ArrayQueue, _ workers: [(role: Role, process: HelperProcess)], isConsumer: (Role) -> Bool) {
        for worker in workers where !isConsumer(worker.role) { worker.process.kill() }
        let drainDeadline = Date().addingTimeInterval(30)
        while !queue.isEmpty && Date() < drainDeadline { usleep(10_000) }
        #expect(queue.isEmpty, "\(label): the consumers stopped taking records")
        for worker in workers where isConsumer(worker.role) {
            #expect(worker.process.isRunning, "\(label): a consumer died by itself: \(worker.process.errorOutput)")
            worker.process.kill()
        }
    }

    /// Afterwards the queue works as if nothing happened: a fresh consumer gets `count` records
    /// of a fresh producer, in order.
    static func expectQueueWorks(_ queue: ArrayQueue, count: Int) throws {
        let consumer = try HelperProcess(["consume", queue.name, String(count)])
        let producer = try HelperProcess(["produce", queue.name, "999", String(count), "3000"])
        #expect(producer.finish(timeout: 60).status == 0)
        #expect(ConsumedRecord.parse(consumer.finish(timeout: 60).output).map(\.counter) == Array(0..<count))
    }
}

/// Notices a stalled queue: fails if the consumers' logs stop growing for `limit` seconds
/// while producers are alive (checked each time `check` is called).
struct StallDetector {
    let logs: URL
    let limit: TimeInterval
    private var delivered = 0
    private var lastProgress = Date()
    private(set) var longestStall: TimeInterval = 0

    init(logs: URL, limit: TimeInterval = 2) {
        self.logs = logs
        self.limit = limit
    }

    /// Returns false (once per stall) if nothing was delivered for longer than the limit.
    mutating func check() -> Bool {
        let files = (try? FileManager.default.contentsOfDirectory(at: logs, includingPropertiesForKeys: [.fileSizeKey])) ?? []
        let total = files.reduce(0) { $0 + ((try? $1.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0) }
        let now = Date()
        if total != delivered {
            delivered = total
            lastProgress = now
            return true
        }
        let stalled = now.timeIntervalSince(lastProgress)
        longestStall = max(longestStall, stalled)
        if stalled > limit {
            lastProgress = now  // report each stall once
            return false
        }
        return true
    }
}
