@_spi(Testing) import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// The kill torture of every overflow policy, with mixed dtypes and shapes and a clear()
/// process among the victims (the block policy's plain torture is CrashTests.killTorture).
@Suite(.serialized, .timeLimit(.minutes(10)))
struct PolicyTortureTests {
    @Test("torture of every policy: drop-oldest with dawdling borrowers, reset on shape change, fail with tryPut and millisecond timeouts; a clear() process; SIGKILLs at random; no corruption, no duplicate, no stall over 2 s", arguments: ["drop", "reset", "fail"])
    func policyTorture(policy: String) throws {
        let torture = try KillTorture(policy, defaultKills: 100)
        defer { torture.cleanUp() }
        var random = SplitMix(seed: torture.seed)
        let creating = CreateOptions(shapeChange: policy == "reset" ? .reset : .keep)

        try withQueue(capacity: 256 << 10, creating: creating, label: "torture-\(policy)") { queue in
            enum Role { case producer, consumer, clearer }
            var incarnation = 0
            var armed = 0
            func spawn(_ role: Role, _ random: inout SplitMix) throws -> HelperProcess {
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
                case .consumer: return try HelperProcess(["torture", queue.name, "consume", policy, workerSeed, torture.log("consumer-\(incarnation)")], environment: environment)
                case .clearer: return try HelperProcess(["torture", queue.name, "clear", policy, workerSeed], environment: environment)
                }
            }
            /// Whether a worker that is no longer running died at its crash point (fine) rather than by itself.
            func diedAtCrashPoint(_ worker: HelperProcess) -> Bool {
                guard !worker.isRunning else { return false }
                worker.process.waitUntilExit()
                return worker.process.terminationReason == .uncaughtSignal && worker.process.terminationStatus == SIGKILL
            }
            let roles: [Role] = [.producer, .producer, .producer, .consumer, .consumer, .consumer, .clearer]
            var workers = try roles.map { try (role: $0, process: spawn($0, &random)) }
            let (done, selfKilled, stalls) = try torture.killAtRandom(&workers, random: &random, respawn: spawn, diedOnPurpose: diedAtCrashPoint)

            // The last generation runs unarmed, so that the drain below has live consumers.
            for index in workers.indices where workers[index].role == .consumer {
                workers[index].process.kill()
                workers[index] = (.consumer, try HelperProcess(["torture", queue.name, "consume", policy, "1", torture.log("consumer-final-\(index)")]))
            }
            torture.drain(queue, workers) { $0 == .consumer }

            let delivered = try verifiedTortureDeliveries(in: torture.logs, label: "\(policy): ")
            let statistics = try queue.statistics()
            print("\(policy) torture: \(done) kills (\(armed) workers armed with a crash point, \(selfKilled) seen dead at it), \(delivered.count) records delivered intact, \(statistics.puts) committed, \(statistics.drops) dropped, \(statistics.resets) resets, \(statistics.clears) clears, \(statistics.abandonedWrites) unfinished writes discarded, \(statistics.lostReads) reads lost; longest delivery gap \(String(format: "%.2f", stalls.longestStall)) s")
            #expect(delivered.count > torture.kills, "too little traffic to mean anything")
            #expect(UInt64(delivered.count) <= statistics.puts)
            try KillTorture.expectQueueWorks(queue, count: 200)
        }
    }
}
