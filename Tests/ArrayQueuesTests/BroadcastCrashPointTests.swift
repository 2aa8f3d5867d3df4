@_spi(Testing) @testable import ArrayQueues
import ArrayQueuesTestSupport
import CArrayQueuesShims
import Foundation
import Glibc
import Testing

/// A SIGKILL at every broadcast crash point (docs/LAYOUT.md, "Crash points"), on a broadcast
/// queue; the plain points are walked by CrashPointTests.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct BroadcastCrashPointTests {
    /// The points a subscriber passes giving back a record it could not read, in order. The
    /// skip's are shared with producers and clear(), where `walk` passes them first.
    static let giveBackUnreadPath: [CrashPoint] = [
        .broadcastGiveBackUnreadBegin, .broadcastSkipBegin, .broadcastSkipLostStaged, .broadcastSkipCursorStaged, .broadcastSkipLostStored,
        .broadcastSkipCursorStored, .broadcastSkipFinished, .broadcastGiveBackUnreadIdle, .broadcastGiveBackUnreadNotified,
    ]

    /// Whether only that give-back passes `point` (walked by `giveBackUnreadWalk`, not `walk`).
    static func isGiveBackUnreadOnly(_ point: CrashPoint) -> Bool {
        point.rawValue.hasPrefix("broadcast-give-back-unread.")
    }

    /// Runs a helper that is expected to SIGKILL itself.
    private func runToDeath(_ arguments: [String], environment: [String] = []) throws {
        let run = try runProcess("/usr/bin/env", environment + [HelperProcess.executable.path] + arguments, timeout: 30)
        #expect(run.status == SIGKILL, "helper \(environment + arguments) ended with \(run.status): \(run.errors)")
    }

    @Test("walk: SIGKILL at every broadcast point but those of giveBackUnreadWalk (after a dead subscriber mid-read and a skip left staged), then a newcomer reaps, finds nothing corrupt or delivered twice, and reads at once")
    func walk() throws {
        for point in CrashPoint.allCases where point.isBroadcast && !Self.isGiveBackUnreadOnly(point) {
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

    @Test("walk: SIGKILL at every point of a subscriber's give-back of a record it could not read, its skip's included; a newcomer finds the slot as the kill left it, its puts reap it, and a subscriber beside it gets every later record once")
    func giveBackUnreadWalk() throws {
        let unwalked = CrashPoint.allCases.filter { Self.isGiveBackUnreadOnly($0) && !Self.giveBackUnreadPath.contains($0) }
        #expect(unwalked.isEmpty, "give-back points missing from giveBackUnreadPath: \(unwalked)")
        for step in Self.giveBackUnreadPath.indices {
            do {
                try giveBackUnread(dyingAt: step)
            } catch {
                Issue.record("\(Self.giveBackUnreadPath[step].rawValue): \(error)")
            }
        }
    }

    /// A broadcast queue named `name` holding three records, the oldest made unreadable, and a
    /// block subscriber of this process that has read past all three (counting the first lost).
    private func queueWithUnreadableRecord(_ name: String) throws -> (ArrayQueue, BroadcastSubscriber) {
        let queue = try ArrayQueue.create(name: name, capacity: 16 << 10, creating: CreateOptions(broadcast: true))
        let survivor = try queue.subscribe(policy: .block, start: .oldest)
        for counter in 0..<3 {
            let index = Pattern.index(producer: 6, counter: counter)
            try queue.put(Pattern.array(dtype: .uint8, shape: [500], seed: UInt64(bitPattern: index)), index: index)
        }
        // A peer writes garbage into the oldest record's dtype after its commit.
        let (head, _, _) = try queue.ring.cursors()
        queue.ring.record(at: head).raw.assumingMemoryBound(to: caq_record_header.self).pointee.dtype = 250
        #expect { try survivor.tryGet() } throws: { ($0 as? ArrayQueueError)?.code == .corruptSegment }
        #expect(try survivor.tryGet()?.index == Pattern.index(producer: 6, counter: 1))
        #expect(try survivor.tryGet()?.index == Pattern.index(producer: 6, counter: 2))
        return (queue, survivor)
    }

    /// One point of the give-back walk: a block subscriber (the victim) dies giving back the
    /// unreadable record while this process's subscriber looks on; a newcomer reports the dead
    /// slot, then produces while this process reads.
    private func giveBackUnread(dyingAt step: Int) throws {
        let point = Self.giveBackUnreadPath[step]
        let name = uniqueQueueName("bgbu")
        defer { try? ArrayQueue.remove(name: name) }
        let (queue, survivor) = try queueWithUnreadableRecord(name)
        try runToDeath(["bcast-die-unreadable", name], environment: ["AQ_CRASH_POINT=\(point.rawValue)"])
        let checker = try HelperProcess(["bcast-unread-check", name])
        // This process reads only once the slot is reported: a waiting subscriber sweeps, and would reap it first.
        #expect(checker.child.waitForLine(prefix: "reported", within: 30) != nil, "\(point.rawValue): \(checker.errorOutput)")
        // BORROWING until the skip is done; `lost` stored midway through it.
        let reading = step < Self.giveBackUnreadPath.firstIndex(of: .broadcastGiveBackUnreadIdle)!
        let lost = step >= Self.giveBackUnreadPath.firstIndex(of: .broadcastSkipLostStored)! ? 1 : 0
        #expect(checker.child.lines.contains("dead reading=\(reading) lost=\(lost) delivered=0"), "\(point.rawValue): \(checker.child.lines)")
        var indices: [Int64] = []
        // Up to the end record (index -1).
        while let record = try? survivor.get(timeout: .seconds(10)), record.index != -1 {
            let intact = record.array.withUnsafeBytes { Pattern.verify($0, seed: UInt64(bitPattern: record.index ?? 0)) }
            #expect(intact && record.index != nil, "\(point.rawValue): record \(record.sequence) corrupted")
            indices.append(record.index ?? 0)
        }
        #expect(indices == (0..<40).map { Pattern.index(producer: 7, counter: $0) }, "\(point.rawValue): the survivor got \(indices)")
        let check = checker.finish(timeout: 30)
        #expect(check.output.contains("\nok\n"), "\(point.rawValue): the newcomer did not finish")
        // Two records before the kill, 40 after it, and the end record.
        #expect(survivor.lost == 1 && survivor.delivered == 43, "\(point.rawValue): lost \(survivor.lost), delivered \(survivor.delivered)")
        #expect(try queue.broadcastState().subscribers.map(\.slot) == [survivor.slot], "\(point.rawValue): subscribers of dead processes remain")
        #expect(try queue.recordSummaries().allSatisfy { $0.state != .writing && $0.state != .reading }, "\(point.rawValue): records of dead processes remain")
    }
}
