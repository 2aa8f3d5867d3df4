@_spi(Testing) import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// A SIGKILL at every broadcast crash point (docs/LAYOUT.md, "Crash points"), on a broadcast
/// queue; the plain points are walked by CrashPointTests.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct BroadcastCrashPointTests {
    /// Runs a helper that is expected to SIGKILL itself.
    private func runToDeath(_ arguments: [String], environment: [String] = []) throws {
        let run = try runProcess("/usr/bin/env", environment + [HelperProcess.executable.path] + arguments, timeout: 30)
        #expect(run.status == SIGKILL, "helper \(arguments) ended with \(run.status): \(run.errors)")
    }

    @Test("walk: SIGKILL at every broadcast point (after a dead subscriber mid-read and a skip left staged), then a newcomer reaps, finds nothing corrupt or delivered twice, and reads at once")
    func walk() throws {
        for point in CrashPoint.allCases where point.isBroadcast {
            do {
                try walk(to: point)
            } catch {
                Issue.record("\(point.rawValue): \(error)")
            }
        }
    }

    private func walk(to point: CrashPoint) throws {
        let name = uniqueQueueName("bwalk")
        defer { try? ArrayQueue.remove(name: name) }
        do {
            let queue = try ArrayQueue.create(name: name, capacity: 16 << 10, creating: CreateOptions(broadcast: true))
            for counter in 0..<3 {
                let index = Pattern.index(producer: 6, counter: counter)
                try queue.put(Pattern.array(dtype: .uint8, shape: [500], seed: UInt64(bitPattern: index)), index: index)
            }
        }
        // A drop subscriber dies in the middle of being skipped, then a block one while reading.
        try runToDeath(["bcast-die-skipping", name], environment: ["AQ_CRASH_POINT=broadcast-skip.cursor-staged"])
        try runToDeath(["bcast-die-subscribed", name])
        let victim = try runProcess("/usr/bin/env", ["AQ_CRASH_POINT=\(point.rawValue)", HelperProcess.executable.path, "bcast-crash-walk", name], timeout: 60)
        #expect(victim.status == SIGKILL, "\(point.rawValue): the walk never reached the point (status \(victim.status), \(victim.errors))")
        let check = try runProcess(HelperProcess.executable.path, ["bcast-walk-check", name], timeout: 60)
        #expect(check.status == 0 && check.output.contains("ok"), "\(point.rawValue): a newcomer failed after the kill: \(check.errors)")
        let lines = (victim.output + check.output).split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("CORRUPT") }, "\(point.rawValue): a corrupted record was delivered")
        // Each label is one subscriber: none may get a record twice.
        let delivered = lines.filter { $0.hasPrefix("got ") }
        #expect(Set(delivered).count == delivered.count, "\(point.rawValue): a record was delivered twice to one subscriber: \(delivered)")
        let queue = try ArrayQueue.open(name: name)
        try queue.recoverFromDeadPeers()
        #expect(try queue.broadcastState().subscribers.isEmpty, "\(point.rawValue): subscribers of dead processes remain")
        #expect(try queue.recordSummaries().allSatisfy { $0.state != .writing && $0.state != .reading }, "\(point.rawValue): records of dead processes remain")
    }
}
