@_spi(Testing) import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// A SIGKILL at every named point of the protocol (docs/LAYOUT.md, "Crash points").
@Suite(.serialized, .timeLimit(.minutes(10)))
struct CrashPointTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/ArrayQueues/Queue").standardized
    static let layout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/LAYOUT.md").standardized

    /// What counts as a store to shared memory in the protocol's code.
    static let storePatterns = [
        ".store(", "wrappingAdd(", "wrappingSubtract(", "exchangeState(", "compareExchange(", ".exchange(",
        "setState(", "addFlags(", "setOwner(", "publish(", "abandonUnpublished(", "finishReading(", "writeSkip(", "writeReserved(", "writeSubscriber(", "resetWatchers()", ".notify()", ".wakeAll()",
    ]

    @Test("every store to shared memory in Ring, Attachments and BroadcastRing has a crash point before it (none since the previous store) and one right after", arguments: ["Ring.swift", "Attachments.swift", "../Broadcast/BroadcastRing.swift"])
    func everyStoreHasCrashPoints(file: String) throws {
        let lines = try String(contentsOf: Self.sources.appendingPathComponent(file), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var pointSincePreviousStore = false
        var stores = 0
        for (number, line) in lines.enumerated() {
            let code = line.trimmingCharacters(in: .whitespaces)
            if code.hasPrefix("//") { continue }
            if code.contains("func ") { pointSincePreviousStore = false }
            if code.contains("crashPoint(.") { pointSincePreviousStore = true; continue }
            guard Self.storePatterns.contains(where: { code.contains($0) }) else { continue }
            stores += 1
            #expect(pointSincePreviousStore, "\(file):\(number + 1): a store without a crash point before it: \(code)")
            let next = lines[(number + 1)..<min(number + 4, lines.count)]
            #expect(next.contains { $0.contains("crashPoint(.") }, "\(file):\(number + 1): a store without a crash point right after it: \(code)")
            pointSincePreviousStore = false
        }
        #expect(stores > 5, "the scan found too few stores in \(file) to mean anything")
    }

    @Test("docs/LAYOUT.md lists exactly the crash points the code has")
    func documented() throws {
        let text = try String(contentsOf: Self.layout, encoding: .utf8)
        guard let section = text.range(of: "## Crash points") else {
            Issue.record("docs/LAYOUT.md has no 'Crash points' section")
            return
        }
        let rest = text[section.upperBound...]
        let body = rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
        // Every `name.part` in backquotes in the section.
        let documentedNames = Set(body.components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
            .filter { $0.contains(".") && $0.allSatisfy { "abcdefghijklmnopqrstuvwxyz-.".contains($0) } })
        #expect(documentedNames == Set(CrashPoint.allCases.map(\.rawValue)),
                "missing from LAYOUT.md: \(Set(CrashPoint.allCases.map(\.rawValue)).subtracting(documentedNames).sorted()); not in the code: \(documentedNames.subtracting(CrashPoint.allCases.map(\.rawValue)).sorted())")
    }

    @Test("a producer killed in the middle of a batch of 64, after publishing 10: those 10 are delivered in order, the other 54 discarded; puts over-counts by at most the batch")
    func producerKilledInABatch() throws {
        let name = uniqueQueueName("batchput")
        let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
        defer { try? ArrayQueue.remove(name: name) }
        _ = try runKilled(at: "commit.ready@10", ["batch-put", name, "64"])
        try queue.recoverFromDeadPeers()
        var firsts: [UInt8] = []
        try queue.drain(upTo: 256, blocking: false) { record in firsts.append(record.bytes.first ?? 255) }
        #expect(firsts == (0..<10).map(UInt8.init))
        let statistics = try queue.statistics()
        #expect(statistics.abandonedWrites == 54 && statistics.gets == 10)
        #expect(statistics.puts >= 10 && statistics.puts <= 64)
        #expect(try queue.recordSummaries().allSatisfy { $0.state != .writing && $0.state != .reading })
    }

    @Test("a consumer killed in the middle of a drained batch, after freeing 5: the rest of its batch is counted lost and never delivered again; gets is short by at most the batch")
    func consumerKilledInABatch() throws {
        let name = uniqueQueueName("batchdrain")
        let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
        defer { try? ArrayQueue.remove(name: name) }
        let arrays = try (0..<64).map { number in
            try AnyNDArray(dtype: .uint8, shape: [100]) { $0.initializeMemory(as: UInt8.self, repeating: UInt8(number)) }
        }
        try queue.put(contentsOf: arrays)
        let output = try runKilled(at: "release.done@5", ["batch-drain", name])
        #expect(output.split(separator: "\n") == (0..<5).map { "got \($0)" })
        try queue.recoverFromDeadPeers()
        #expect(try queue.drain(upTo: 256, blocking: false) { _ in } == 0, "a record of the dead consumer's batch was delivered again")
        let statistics = try queue.statistics()
        #expect(statistics.lostReads == 59 && statistics.gets <= 5 && statistics.bytesUsed == 0)
        try queue.put(arrays[0])
        #expect(try queue.drain(upTo: 1, blocking: false) { _ in } == 1, "the queue works after the kill")
    }

    @Test("a consumer killed while it claims a run of records without the lock: the run is counted lost, every other record is delivered once and in order", arguments: [
        ("claim-quick.reading@10", 10), ("claim-quick.owner-set@10", 10), ("claim-quick.read-begin@1", 64), ("claim-quick.read-stored@1", 64),
    ])
    func consumerKilledInARun(point: String, lost: Int) throws {
        let name = uniqueQueueName("batchrun")
        let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
        defer { try? ArrayQueue.remove(name: name) }
        let arrays = try (0..<64).map { number in
            try AnyNDArray(dtype: .uint8, shape: [100]) { $0.initializeMemory(as: UInt8.self, repeating: UInt8(number)) }
        }
        try queue.put(contentsOf: arrays)
        let output = try runKilled(at: point, ["batch-drain", name])
        #expect(output.isEmpty, "the helper lent records before it died: \(output)")
        try queue.recoverFromDeadPeers()
        var firsts: [UInt8] = []
        try queue.drain(upTo: 256, blocking: false) { record in firsts.append(record.bytes.first ?? 255) }
        #expect(firsts == (lost..<64).map(UInt8.init))
        let statistics = try queue.statistics()
        #expect(statistics.lostReads == UInt64(lost) && statistics.bytesUsed == 0)
        try queue.put(arrays[0])
        #expect(try queue.drain(upTo: 1, blocking: false) { _ in } == 1, "the queue works after the kill")
    }

    @Test("a copying put killed holding the lock right after its tail store: a small one (copied and published under the lock) is delivered whole after the repair, a large one (still being written) is given back",
          arguments: [(100, true), (4000, false)])
    func copyingPutKilledAfterItsTailStore(bytes: Int, delivered: Bool) throws {
        let name = uniqueQueueName("copyput")
        let queue = try ArrayQueue.create(name: name, capacity: 64 << 10)
        defer { try? ArrayQueue.remove(name: name) }
        _ = try runKilled(at: "reserve.tail-stored", ["copy-put", name, "\(bytes)"])
        // The first lock after the kill repairs (EOWNERDEAD); the sweep gives back what a dead writer left WRITING.
        try queue.recoverFromDeadPeers()
        let got = try queue.tryGet { record in Array(record.bytes) }
        if delivered {
            #expect(got == (0..<bytes).map { UInt8(truncatingIfNeeded: $0) })
            #expect(try queue.statistics().puts == 1)
        } else {
            #expect(got == nil)
        }
        try queue.put(try AnyNDArray(dtype: .uint8, shape: [bytes]) { $0.initializeMemory(as: UInt8.self, repeating: 9) })
        #expect(try queue.tryGet { record in record.bytes.allSatisfy { $0 == 9 } } == true, "the queue works after the kill")
    }

    /// Runs the helper with `arguments` and `AQ_CRASH_POINT=point`, where it must SIGKILL itself;
    /// returns what it printed before.
    private func runKilled(at point: String, _ arguments: [String]) throws -> String {
        let victim = try runProcess("/usr/bin/env", ["AQ_CRASH_POINT=\(point)", HelperProcess.executable.path] + arguments, timeout: 60)
        #expect(victim.status == SIGKILL, "the helper never reached \(point) (status \(victim.status), \(victim.errors))")
        return victim.output
    }

    /// Runs a helper that is expected to SIGKILL itself.
    private func runToDeath(_ arguments: [String]) throws {
        let run = try runProcess(HelperProcess.executable.path, arguments, timeout: 30)
        #expect(run.status == SIGKILL, "helper \(arguments) ended with \(run.status): \(run.errors)")
    }

    @Test("walk: SIGKILL at every crash point (after a dead writer, a dead reader and a dead lock holder), then a newcomer repairs, finds nothing corrupt or delivered twice, and moves records at once")
    func walk() throws {
        var recoveries: [Int] = []
        for point in CrashPoint.allCases where !point.isBroadcast {
            do {
                try walk(to: point, recoveries: &recoveries)
            } catch {
                Issue.record("\(point.rawValue): \(error)")
            }
        }
        recoveries.sort()
        if !recoveries.isEmpty {
            print("crash-point walk: \(CrashPoint.allCases.filter { !$0.isBroadcast }.count) points; a newcomer's open + first locked call after the kill took p50 \(recoveries[recoveries.count / 2]) ms, max \(recoveries.last!) ms (process start excluded)")
        }
    }

    /// One point of the walk: set up, kill there, check with a newcomer and from here.
    private func walk(to point: CrashPoint, recoveries: inout [Int]) throws {
        let name = uniqueQueueName("walk")
        defer { try? ArrayQueue.remove(name: name) }
        do {
            let queue = try ArrayQueue.create(name: name, capacity: 16 << 10, creating: CreateOptions(shapeChange: .reset))
            for counter in 0..<6 {
                let index = Pattern.index(producer: 6, counter: counter)
                try queue.put(Pattern.array(dtype: .uint8, shape: [500], seed: UInt64(bitPattern: index)), index: index)
            }
        }
        // This process has closed its handle: the walk finds no other live user.
        try runToDeath(["die-in-read", name])
        try runToDeath(["die-in-fill", name])
        try runToDeath(["die-holding-lock", name])
        let victim = try runProcess("/usr/bin/env", ["AQ_CRASH_POINT=\(point.rawValue)", HelperProcess.executable.path, "crash-walk", name], timeout: 60)
        #expect(victim.status == SIGKILL, "\(point.rawValue): the walk never reached the point (status \(victim.status), \(victim.errors))")
        let check = try runProcess(HelperProcess.executable.path, ["walk-check", name], timeout: 60)
        #expect(check.status == 0 && check.output.contains("ok"), "\(point.rawValue): a newcomer failed after the kill: \(check.errors)")
        let lines = (victim.output + check.output).split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("CORRUPT") }, "\(point.rawValue): a corrupted record was delivered")
        let delivered = lines.filter { $0.hasPrefix("got ") }
        #expect(Set(delivered).count == delivered.count, "\(point.rawValue): a record was delivered twice: \(delivered)")
        #expect(!delivered.contains("got \(Pattern.index(producer: 6, counter: 0))"), "\(point.rawValue): the dead reader's record was delivered again")
        if let line = check.output.split(separator: "\n").first(where: { $0.hasPrefix("first-lock-ms ") }), let ms = Int(line.split(separator: " ")[1]) {
            recoveries.append(ms)
        }
        // Afterwards: consistent, and a sweep leaves no record owned by a dead process.
        let queue = try ArrayQueue.open(name: name)
        try queue.recoverFromDeadPeers()
        #expect(try queue.recordSummaries().allSatisfy { $0.state != .writing && $0.state != .reading }, "\(point.rawValue): records of dead processes remain")
        let statistics = try queue.statistics()
        #expect(statistics.count == 0 || statistics.bytesUsed > 0)
    }
}
