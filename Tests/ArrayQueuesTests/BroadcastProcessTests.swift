@_spi(Testing) @testable import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// Broadcast queues across real processes: delivery to every subscriber, exact loss counts,
/// joining and leaving while records stream, and a kill -9 torture.
@Suite("Broadcast queues across processes", .serialized, .timeLimit(.minutes(5)))
struct BroadcastProcessTests {
    /// A subscriber process and its log.
    private struct Subscriber {
        let process: HelperProcess
        let log: URL
        let policy: SubscriberPolicy

        init(_ queue: String, _ policy: SubscriberPolicy, start: SubscriberStart = .oldest, in directory: URL, seed: Int) throws {
            log = directory.appendingPathComponent("sub-\(seed)-\(policy.rawValue).log")
            self.policy = policy
            process = try HelperProcess(["bcast-subscribe", queue, policy.rawValue, start.rawValue, log.path, String(seed)])
        }

        /// The indices it logged, after checking that none is corrupt, repeated or out of order
        /// per producer.
        func verifiedIndices(sourceLocation: SourceLocation = #_sourceLocation) throws -> [Int64] {
            let lines = (try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n") ?? []
            #expect(!lines.contains("CORRUPT"), "\(log.lastPathComponent) received a corrupted record", sourceLocation: sourceLocation)
            let indices = lines.compactMap { Int64($0) }
            #expect(Set(indices).count == indices.count, "\(log.lastPathComponent): a record was delivered twice", sourceLocation: sourceLocation)
            for producer in Set(indices.map { $0 >> 32 }) {
                let counters = indices.filter { $0 >> 32 == producer }
                #expect(counters == counters.sorted(), "\(log.lastPathComponent): producer \(producer) out of order", sourceLocation: sourceLocation)
            }
            return indices
        }
    }

    private func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aq-bcast-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Waits (at most 10 s) until the queue has `count` live subscribers.
    private func waitForSubscribers(_ queue: ArrayQueue, _ count: Int) throws {
        let deadline = Date().addingTimeInterval(10)
        while try queue.broadcastState().subscribers.filter(\.isAlive).count != count {
            guard Date() < deadline else {
                Issue.record("the queue never had \(count) subscribers")
                return
            }
            usleep(2000)
        }
    }

    /// Each producer's records, as `(producer, counters)`, checked to be gap-free.
    private func expectGapFree(_ indices: [Int64], _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for producer in Set(indices.map { $0 >> 32 }) {
            let counters = indices.filter { $0 >> 32 == producer }.map { $0 & 0xFFFF_FFFF }
            guard let first = counters.first else { continue }
            #expect(counters == Array(first..<(first + Int64(counters.count))), "\(label): producer \(producer) has gaps", sourceLocation: sourceLocation)
        }
    }

    @Test("three block subscribers in three processes each get both producers' 300 records, in order, exactly once")
    func everySubscriberEveryRecord() throws {
        let name = uniqueQueueName("bcast-all")
        let queue = try ArrayQueue.create(name: name, capacity: 64 << 10, creating: CreateOptions(broadcast: true))
        defer { try? ArrayQueue.remove(name: name) }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let subscribers = try (0..<3).map { try Subscriber(name, .block, in: directory, seed: $0) }
        try waitForSubscribers(queue, 3)
        let producers = try (1...2).map { try HelperProcess(["produce", name, String($0), "300", "700"]) }
        for producer in producers { _ = producer.finish(timeout: 60) }
        try queue.put(Pattern.array(dtype: .uint8, shape: [8], seed: 0), index: -1, timeout: .seconds(30))
        for subscriber in subscribers {
            let run = subscriber.process.finish(timeout: 60)
            let indices = try subscriber.verifiedIndices()
            #expect(indices.count == 600, "\(subscriber.log.lastPathComponent) got \(indices.count) of 600")
            expectGapFree(indices, subscriber.log.lastPathComponent)
            #expect(run.output.contains("lost 0") && run.output.contains("delivered 601"))
        }
        #expect(try queue.broadcastState().subscribers.isEmpty, "subscribers that exited detached")
    }

    @Test("a slow drop subscriber beside a block one: delivered + lost is exactly what was put; the block one loses nothing")
    func dropCountsExactlyAcrossProcesses() throws {
        let name = uniqueQueueName("bcast-drop")
        let queue = try ArrayQueue.create(name: name, capacity: 32 << 10, creating: CreateOptions(broadcast: true))
        defer { try? ArrayQueue.remove(name: name) }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Seed 3's subscriber dawdles inside one read in eight: it falls behind a fast producer.
        let viewer = try Subscriber(name, .drop, in: directory, seed: 3)
        let recorder = try Subscriber(name, .block, in: directory, seed: 4)
        try waitForSubscribers(queue, 2)
        _ = try HelperProcess(["produce", name, "1", "2000", "2000"]).finish(timeout: 60)
        try queue.put(Pattern.array(dtype: .uint8, shape: [8], seed: 0), index: -1, timeout: .seconds(30))
        let viewed = viewer.process.finish(timeout: 60).output
        let recorded = recorder.process.finish(timeout: 60).output
        let seen = try viewer.verifiedIndices()
        let lost = viewed.split(separator: "\n").first { $0.hasPrefix("lost ") }.flatMap { Int($0.dropFirst(5)) }
        #expect(lost.map { seen.count + $0 } == 2000, "delivered \(seen.count), lost \(String(describing: lost))")
        let all = try recorder.verifiedIndices()
        #expect(all.count == 2000 && recorded.contains("lost 0"))
        expectGapFree(all, "recorder")
    }

    @Test("a block subscriber killed while a child it forked (without exec) lives on is reaped by the sweep; puts go on")
    func killedSubscriberWithForkedChild() throws {
        try withQueue(capacity: 64 << 10, creating: CreateOptions(broadcast: true)) { queue in
            // The subscriber forks a child that keeps its descriptor, and with it the slot's byte lock.
            // (Foundation sees the helper end only once that child has ended too: it is not waited for.)
            let helper = try HelperProcess(["bcast-die-forked", queue.name, "60"])
            #expect(eventually(within: 30) { helper.child.output.contains("grandchild") })
            let words = helper.child.output.split(whereSeparator: \.isWhitespace)
            let grandchild = try #require(words.firstIndex(of: "grandchild").flatMap { Int32(words[$0 + 1]) })
            defer { kill(grandchild, SIGKILL) }
            let subscriberPID = UInt32(helper.process.processIdentifier)
            #expect(eventually(within: 30) { !ProcessIdentity(pid: subscriberPID, startTime: 0).isAlive }, "the subscriber died")
            #expect(kill(grandchild, 0) == 0, "its child lives on")
            // The ring holds about 60 records; then every put needs the dead subscriber's room.
            let start = Date()
            var failed: (any Error)?
            for counter in 0..<200 {
                do {
                    try queue.put(Pattern.array(dtype: .uint8, shape: [1000], seed: UInt64(counter)), index: Int64(counter), timeout: .seconds(2))
                } catch {
                    failed = error
                    break
                }
            }
            #expect(failed == nil, "a put was held by the dead subscriber: \(String(describing: failed))")
            #expect(Date().timeIntervalSince(start) < 5, "the liveness bound (0.5 s) with room to spare")
            let state = try queue.broadcastState()
            #expect(state.reaped == 1 && state.subscribers.isEmpty)
        }
    }

    @Test("subscribers join and leave (some killed) while two producers stream; each sees a gap-free run per producer")
    func joinAndLeaveWhileStreaming() throws {
        let name = uniqueQueueName("bcast-join")
        let queue = try ArrayQueue.create(name: name, capacity: 128 << 10, creating: CreateOptions(broadcast: true))
        defer { try? ArrayQueue.remove(name: name) }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let producers = try (1...2).map { try HelperProcess(["produce", name, String($0), "3000", "300"]) }
        var joined: [Subscriber] = []
        var killed: [Subscriber] = []
        for round in 0..<8 {
            joined.append(try Subscriber(name, .block, start: round % 2 == 0 ? .next : .newest, in: directory, seed: 10 + round))
            try waitForSubscribers(queue, joined.count)
            usleep(20_000)
            if round % 3 == 2 {
                let victim = joined.removeFirst()
                victim.process.kill()
                killed.append(victim)
            }
        }
        for producer in producers { _ = producer.finish(timeout: 60) }
        try queue.put(Pattern.array(dtype: .uint8, shape: [8], seed: 0), index: -1, timeout: .seconds(30))
        for subscriber in joined {
            _ = subscriber.process.finish(timeout: 60)
            let indices = try subscriber.verifiedIndices()
            expectGapFree(indices, subscriber.log.lastPathComponent)
            // Joined while both producers ran: it saw each of them up to its last record.
            for producer in [1, 2] where indices.contains(where: { $0 >> 32 == producer }) {
                #expect(indices.last { $0 >> 32 == producer } == Pattern.index(producer: producer, counter: 2999))
            }
        }
        for subscriber in killed { expectGapFree(try subscriber.verifiedIndices(), subscriber.log.lastPathComponent) }
        try queue.recoverFromDeadPeers()
        let state = try queue.broadcastState()
        #expect(state.subscribers.isEmpty && state.reaped == UInt64(killed.count) && state.joined == 8)
    }

    /// Iterations of the torture: CI-bounded by default, `AQ_BROADCAST_SOAK_SECONDS` for a soak.
    private static let tortureSeconds = ProcessInfo.processInfo.environment["AQ_BROADCAST_SOAK_SECONDS"].flatMap(Double.init) ?? 3

    @Test("kill -9 torture: producers and subscribers killed at random points; nothing corrupt, nothing twice to one subscriber, survivors get every record")
    func killTorture() throws {
        let name = uniqueQueueName("bcast-torture")
        let queue = try ArrayQueue.create(name: name, capacity: 256 << 10, creating: CreateOptions(broadcast: true))
        defer { try? ArrayQueue.remove(name: name) }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var random = SplitMix(seed: UInt64(getpid()))
        // Survivors: never killed, they must see every committed record of every producer.
        let survivors = [try Subscriber(name, .block, in: directory, seed: 1), try Subscriber(name, .drop, in: directory, seed: 2)]
        try waitForSubscribers(queue, 2)
        var producerID = 100
        var producers: [HelperProcess] = []
        var victims: [Subscriber] = []
        var seed = 1000
        let end = Date().addingTimeInterval(Self.tortureSeconds)
        var kills = (producers: 0, subscribers: 0)
        while Date() < end {
            while producers.count < 2 {
                producerID += 1
                producers.append(try HelperProcess(["torture-produce", name, String(producerID), String(random.next() % 1_000_000)]))
            }
            while victims.count < 3 {
                seed += 1
                victims.append(try Subscriber(name, random.next() % 2 == 0 ? .block : .drop, start: .newest, in: directory, seed: seed))
            }
            usleep(UInt32(20_000 + random.next() % 80_000))
            if random.next() % 2 == 0 {
                producers.remove(at: Int(random.next() % UInt64(producers.count))).kill()
                kills.producers += 1
            } else {
                victims.remove(at: Int(random.next() % UInt64(victims.count))).process.kill()
                kills.subscribers += 1
            }
        }
        for producer in producers { producer.kill() }
        for victim in victims { victim.process.kill() }
        try queue.put(Pattern.array(dtype: .uint8, shape: [8], seed: 0), index: -1, timeout: .seconds(30))
        let block = survivors[0].process.finish(timeout: 60)
        _ = survivors[1].process.finish(timeout: 60)
        let all = try survivors[0].verifiedIndices()
        #expect(block.output.contains("lost 0"))
        expectGapFree(all, "block survivor")
        _ = try survivors[1].verifiedIndices()
        var victimLogs = 0
        let survivorLogs = Set(survivors.map(\.log.lastPathComponent))
        for log in try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil) where !survivorLogs.contains(log.lastPathComponent) {
            victimLogs += 1
            let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
            #expect(!lines.contains("CORRUPT"), "\(log.lastPathComponent) received a corrupted record")
            let indices = lines.compactMap { Int64($0) }
            #expect(Set(indices).count == indices.count, "\(log.lastPathComponent): a record was delivered twice")
        }
        try queue.recoverFromDeadPeers()
        let state = try queue.broadcastState()
        #expect(state.subscribers.isEmpty, "every subscriber detached or was reaped: \(state.subscribers)")
        #expect(try queue.recordSummaries().allSatisfy { $0.state != .writing && $0.state != .reading })
        print("broadcast torture: \(all.count) records to the block survivor, \(kills.producers) producers and \(kills.subscribers) subscribers killed, \(state.reaped) reaped, \(victimLogs) victim logs")
        #expect(all.count > 0 && kills.producers + kills.subscribers > 0)
    }
}
