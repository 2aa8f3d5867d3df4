@_spi(Testing) import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

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

/// The kill torture of every overflow policy, with mixed dtypes and shapes and a clear()
/// process among the victims (the block policy's plain torture is CrashTests.killTorture).
@Suite(.serialized, .timeLimit(.minutes(10)))
struct PolicyTortureTests {
    @Test("torture of every policy: drop-oldest with dawdling borrowers, reset on shape change, fail with tryPut and millisecond timeouts; a clear() process; SIGKILLs at random; no corruption, no duplicate, no stall over 2 s", arguments: ["drop", "reset", "fail"])
    func policyTorture(policy: String) throws {
        let environment = ProcessInfo.processInfo.environment
        let kills = Int(environment["AQ_TORTURE_KILLS"] ?? "") ?? 100
        let seed = UInt64(environment["AQ_TORTURE_SEED"] ?? "") ?? UInt64.random(in: 1..<1 << 40)
        print("\(policy) torture: \(kills) kills, seed \(seed) (AQ_TORTURE_KILLS / AQ_TORTURE_SEED to change)")
        var random = SplitMix(seed: seed)
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("aq-torture-\(policy)-\(getpid())-\(seed)")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: logs) }
        let creating = CreateOptions(shapeChange: policy == "reset" ? .reset : .keep)

        try withQueue(capacity: 256 << 10, creating: creating, label: "torture-\(policy)") { queue in
            enum Role { case producer, consumer, clearer }
            var incarnation = 0
            var armed = 0
            func spawn(_ role: Role) throws -> HelperProcess {
                incarnation += 1
                let workerSeed = String(random.next() % 1_000_000)
                // One worker in three dies by itself at a random crash point on a random pass:
                // windows a few instructions wide that random kills almost never hit.
                var environment: [String: String] = [:]
                if random.next() % 3 == 0 {
                    let point = CrashPoint.allCases[Int(random.next() % UInt64(CrashPoint.allCases.count))]
                    environment["AQ_CRASH_POINT"] = "\(point.rawValue)@\(1 + random.next() % 20)"
                    armed += 1
                }
                switch role {
                case .producer: return try HelperProcess(["torture", queue.name, "produce", policy, workerSeed, String(incarnation)], environment: environment)
                case .consumer: return try HelperProcess(["torture", queue.name, "consume", policy, workerSeed, logs.appendingPathComponent("consumer-\(incarnation).log").path], environment: environment)
                case .clearer: return try HelperProcess(["torture", queue.name, "clear", policy, workerSeed], environment: environment)
                }
            }
            var selfKilled = 0
            /// Whether a worker that is no longer running died at its crash point (fine) rather than by itself.
            func diedAtCrashPoint(_ worker: HelperProcess) -> Bool {
                guard !worker.isRunning else { return false }
                worker.process.waitUntilExit()
                return worker.process.terminationReason == .uncaughtSignal && worker.process.terminationStatus == SIGKILL
            }
            let roles: [Role] = [.producer, .producer, .producer, .consumer, .consumer, .consumer, .clearer]
            var workers = try roles.map { try (role: $0, process: spawn($0)) }
            var stalls = StallDetector(logs: logs)
            let deadline = Date().addingTimeInterval(max(120, Double(kills) * 0.1))
            var done = 0
            while done < kills && Date() < deadline {
                usleep(UInt32(random.next() % 15_000))
                let flowing = stalls.check()
                #expect(flowing, "\(policy): no record delivered for over 2 s while producers were alive")
                let victim = Int(random.next() % UInt64(workers.count))
                let worker = workers[victim]
                if diedAtCrashPoint(worker.process) {
                    selfKilled += 1
                } else {
                    #expect(worker.process.isRunning, "\(policy): a worker died by itself: \(worker.process.errorOutput)")
                }
                worker.process.kill()
                workers[victim] = (worker.role, try spawn(worker.role))
                done += 1
            }
            #expect(done == kills, "only \(done) kills within the time limit")

            // The last generation runs unarmed, so that the drain below has live consumers.
            for index in workers.indices where workers[index].role == .consumer {
                workers[index].process.kill()
                workers[index] = (.consumer, try HelperProcess(["torture", queue.name, "consume", policy, "1", logs.appendingPathComponent("consumer-final-\(index).log").path]))
            }
            for worker in workers where worker.role != .consumer { worker.process.kill() }
            let drainDeadline = Date().addingTimeInterval(30)
            while !queue.isEmpty && Date() < drainDeadline { usleep(10_000) }
            #expect(queue.isEmpty, "\(policy): the consumers stopped taking records")
            for worker in workers where worker.role == .consumer {
                #expect(worker.process.isRunning, "\(policy): a consumer died by itself: \(worker.process.errorOutput)")
                worker.process.kill()
            }

            let delivered = try verifiedTortureDeliveries(in: logs, label: "\(policy): ")
            let statistics = try queue.statistics()
            print("\(policy) torture: \(done) kills (\(armed) workers armed with a crash point, \(selfKilled) seen dead at it), \(delivered.count) records delivered intact, \(statistics.puts) committed, \(statistics.drops) dropped, \(statistics.resets) resets, \(statistics.clears) clears, \(statistics.abandonedWrites) unfinished writes discarded, \(statistics.lostReads) reads lost; longest delivery gap \(String(format: "%.2f", stalls.longestStall)) s")
            #expect(delivered.count > kills, "too little traffic to mean anything")
            #expect(UInt64(delivered.count) <= statistics.puts)

            // Afterwards the queue works as if nothing happened.
            let consumer = try HelperProcess(["consume", queue.name, "200"])
            let producer = try HelperProcess(["produce", queue.name, "999", "200", "3000"])
            #expect(producer.finish(timeout: 60).status == 0)
            #expect(ConsumedRecord.parse(consumer.finish(timeout: 60).output).map(\.counter) == Array(0..<200))
        }
    }
}
