import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// Peers that die at the worst moments, hostile segments, and a full /dev/shm.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct CrashTests {
    /// Runs a helper that is expected to SIGKILL itself.
    private func runToDeath(_ arguments: [String]) throws {
        let victim = try HelperProcess(arguments)
        let end = victim.waitForExit(timeout: 30)
        #expect(end?.reason == .uncaughtSignal && end?.status == SIGKILL, "helper \(arguments) ended with \(String(describing: end)): \(victim.errorOutput)")
    }

    @Test("a producer killed while filling a record: the record is discarded whole, the others flow, producers get its room back within a second")
    func producerDiesMidWrite() throws {
        try withQueue(capacity: 16 << 10) { queue in
            try runToDeath(["die-in-fill", queue.name])
            #expect(try queue.recordSummaries().map(\.state) == [.writing])
            // Records after the dead one are delivered: consumers skip unfinished writes.
            try queue.put(try NDArray<UInt8>(shape: [10], repeating: 1), index: 1)
            #expect(try queue.get(timeout: .seconds(1)).index == 1)
            // Fill the rest; a blocked put recovers the dead record's room.
            let array = try NDArray<UInt8>(shape: [2000], repeating: 2)
            while try queue.tryPut(array) {}
            for _ in 0..<3 { _ = try queue.get(timeout: .seconds(1)) }
            try queue.put(array, timeout: .seconds(1))
            let statistics = try queue.statistics()
            #expect(statistics.abandonedWrites == 1)
            #expect(try queue.recordSummaries().allSatisfy { $0.state != .writing })
        }
    }

    @Test("a consumer killed while reading a record: it is counted lost, never delivered twice, its room comes back")
    func consumerDiesMidRead() throws {
        try withQueue(capacity: 16 << 10) { queue in
            for index in 0..<3 { try queue.put(try NDArray<UInt8>(shape: [3000], repeating: UInt8(index)), index: Int64(index)) }
            try runToDeath(["die-in-read", queue.name])
            #expect(try queue.get(timeout: .seconds(1)).index == 1)
            #expect(try queue.get(timeout: .seconds(1)).index == 2)
            #expect(try queue.tryGet() == nil)
            let array = try NDArray<UInt8>(shape: [3000], repeating: 9)
            while try queue.tryPut(array) {}
            _ = try queue.get(timeout: .seconds(1))
            try queue.put(array, timeout: .seconds(1))
            #expect(try queue.statistics().lostReads == 1)
        }
    }

    @Test("a process killed while holding the queue lock: the next locker repairs and everyone goes on")
    func diesHoldingLock() throws {
        try withQueue { queue in
            try queue.put(try NDArray<Int32>(shape: [4], elements: [1, 2, 3, 4]))
            try runToDeath(["die-holding-lock", queue.name])
            #expect(try queue.get(as: Int32.self, timeout: .seconds(1)).elements == [1, 2, 3, 4])
            try queue.put(try NDArray<Int32>(shape: [1], elements: [5]), timeout: .seconds(1))
            #expect(try queue.get(as: Int32.self, timeout: .seconds(1)).elements == [5])
        }
    }

    @Test("a lock word naming a thread that does not exist is reported as corruption, not a hang")
    func lockHeldByNobody() throws {
        try withQueue { queue in
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: "/dev/shm/aq.\(queue.name)"))
            // A robust mutex's futex word (glibc's __data.__lock, the mutex's first field) holds
            // its owner's thread id; 0x3FFFFFF0 is no thread.
            try handle.seek(toOffset: UInt64(SegmentLayout.header(\.lock)))
            handle.write(withUnsafeBytes(of: UInt32(0x3FFF_FFF0).littleEndian) { Data($0) })
            try handle.close()
            let error = #expect(throws: ArrayQueueError.self) { try queue.put(try NDArray<UInt8>(shape: [1], elements: [1])) }
            #expect(error?.code == .corruptSegment)
        }
    }

    @Test("random bytes written into a live segment (plain, or broadcast with subscribers): every operation returns or throws a typed error, quickly", arguments: [false, true])
    func fuzzSegment(broadcast: Bool) throws {
        let iterations = Int(ProcessInfo.processInfo.environment["AQ_FUZZ_ITERATIONS"] ?? "") ?? (broadcast ? 2000 : 5000)
        let seed = UInt64(ProcessInfo.processInfo.environment["AQ_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1..<1 << 40)
        print("segment fuzz: seed \(seed), \(iterations) iterations (AQ_FUZZ_SEED / AQ_FUZZ_ITERATIONS to change)")
        try withQueue(capacity: 64 << 10, creating: CreateOptions(broadcast: broadcast)) { queue in
            // On a broadcast queue: a subscriber of each policy in this process, one behind, one caught up.
            let subscribers = broadcast ? [try queue.subscribe(policy: .block, start: .oldest), try queue.subscribe(policy: .drop, start: .next)] : []
            for index in 0..<20 {
                try queue.put(try Pattern.array(dtype: [.uint8, .float32, .int64][index % 3], shape: Pattern.varyingShape(counter: index, elements: 90), seed: UInt64(index)), index: Int64(index))
            }
            _ = try subscribers.first?.get() ?? queue.get()
            let fuzzer = try HelperProcess(["fuzz", queue.name, String(seed), String(iterations)])
            let (status, output) = fuzzer.finish(timeout: 300)
            #expect(status == 0, "the fuzzer crashed or hung with seed \(seed)")
            print("segment fuzz outcomes: \(output)")
            #expect(output.contains("ok="), "no iteration left the queue usable: the fuzzer corrupted too much to be useful")
            withExtendedLifetime(subscribers) {}
        }
    }

    @Test("a /dev/shm too small for the queue is a typed error at creation, never a SIGBUS later",
          .enabled(if: CrashTests.canMountPrivateTmpfs, "needs root and unshare to mount a small private /dev/shm"))
    func sharedMemoryTooSmall() throws {
        let helper = HelperProcess.executable.path
        let name = uniqueQueueName("small")
        let script = "mount -t tmpfs -o size=256k tmpfs /dev/shm && exec \(helper) create \(name) 1048576"
        let run = try runProcess("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script], timeout: 60)
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.trimmingCharacters(in: .whitespacesAndNewlines) == "insufficientSharedMemory")
    }

    static let canMountPrivateTmpfs: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        let probe = ["--mount", "--propagation", "private", "/bin/sh", "-c", "mount -t tmpfs -o size=64k tmpfs /dev/shm"]
        return (try? runProcess("/usr/bin/unshare", probe, timeout: 10).status) == 0
    }()

    @Test("creating a queue whose users all died says it is stale; gc removes it, and never one in use")
    func staleSegments() throws {
        let stale = uniqueQueueName("stale")
        let live = uniqueQueueName("live")
        defer { try? ArrayQueue.remove(name: stale); try? ArrayQueue.remove(name: live) }
        do {
            _ = try ArrayQueue.create(name: stale, capacity: 4096)
            // A helper attaches and dies without closing.
            try runToDeath(["die-holding-lock", stale])
        }
        let kept = try ArrayQueue.create(name: live, capacity: 4096)
        #expect(ArrayQueue.isStale(name: stale) == true)
        #expect(ArrayQueue.isStale(name: live) == false)
        let error = #expect(throws: ArrayQueueError.self) { try ArrayQueue.create(name: stale, capacity: 4096) }
        #expect(error?.code == .alreadyExists && error?.message.contains("no live process") == true)
        #expect(ArrayQueue.removeStale(dryRun: true).contains(stale))
        #expect(ArrayQueue.exists(name: stale))
        // Only this test's queues: other suites running at the same time have queues that are
        // briefly unattached (created, not yet opened), which a host-wide gc would take.
        let removed = ArrayQueue.removeStale { name, _ in name == stale || name == live }
        #expect(removed == [stale])
        #expect(!ArrayQueue.exists(name: stale) && ArrayQueue.exists(name: live))
        #expect(kept.attachments().map(\.pid) == [getpid()])
    }

    @Test("torture: producers and consumers SIGKILLed at random points; nothing corrupted, nothing delivered twice, the queue keeps working")
    func killTorture() throws {
        let torture = try KillTorture("kill", defaultKills: 200)
        defer { torture.cleanUp() }
        var random = SplitMix(seed: torture.seed)

        try withQueue(capacity: 256 << 10) { queue in
            var incarnation = 0
            func spawn(producer: Bool, _ random: inout SplitMix) throws -> HelperProcess {
                incarnation += 1
                let workerSeed = String(random.next() % 1_000_000)
                return try HelperProcess(producer
                    ? ["torture-produce", queue.name, String(incarnation), workerSeed]
                    : ["torture-consume", queue.name, torture.log("consumer-\(incarnation)"), workerSeed])
            }
            var workers = try (0..<6).map { try (role: $0 < 3, process: spawn(producer: $0 < 3, &random)) }
            let (done, _, _) = try torture.killAtRandom(&workers, random: &random, respawn: spawn)
            // Stop the producers, let the consumers drain what was committed, stop them too.
            torture.drain(queue, workers) { isProducer in !isProducer }

            let delivered = try verifiedTortureDeliveries(in: torture.logs, label: "")
            let statistics = try queue.statistics()
            print("kill torture: \(done) kills, \(delivered.count) records delivered intact, \(statistics.puts) committed, \(statistics.abandonedWrites) unfinished writes discarded, \(statistics.lostReads) reads lost with their consumer")
            #expect(delivered.count > torture.kills, "too little traffic to mean anything")
            #expect(UInt64(delivered.count) <= statistics.puts)
            try KillTorture.expectQueueWorks(queue, count: 500)
        }
    }
}
