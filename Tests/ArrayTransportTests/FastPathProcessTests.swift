import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Testing

/// The same-host fast path between this process (the publisher) and `aq recv` running as a
/// separate process: on the same /dev/shm it switches, in a private one it cannot.
@Suite("Same-host fast path, across processes", .serialized, .timeLimit(.minutes(3)))
struct FastPathProcessTests {
    static let count = 500

    /// Publishes paced pattern arrays while `aq recv` takes `count` of them into a directory.
    func receiveInProcess(
        privateSharedMemory: Bool, extra: [String] = [], count: Int = Self.count
    ) throws -> (run: ProcessRun, saved: [(sequence: UInt64, array: AnyNDArray)]) {
        let sender = try ZeroMQSender(.publish, stream: "fp", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: .milliseconds(100)))
        let paced = PacedPublisher(sender, pause: 0.001)
        paced.start()
        defer { paced.stop(); sender.close() }
        let directory = try temporaryDirectory("recv")
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try runAQ(
            ["recv", sender.boundEndpoints[0].description, "--pattern", "pubsub", "--count", "\(count)", "--out-dir", directory.path, "--verbose"] + extra,
            privateSharedMemory: privateSharedMemory)
        paced.stop()
        return (run, try savedArrays(in: directory))
    }

    func expectBitExact(_ saved: [(sequence: UInt64, array: AnyNDArray)], sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(saved.count == Self.count, sourceLocation: sourceLocation)
        expectConsecutive(saved.map(\.sequence), sourceLocation: sourceLocation)
        for (sequence, array) in saved {
            #expect(array == (try patternArray(.uint16, [64, 64], message: Int(sequence))), "array \(sequence) differs", sourceLocation: sourceLocation)
        }
    }

    @Test("a subscriber process on the same host switches to shared memory and receives everything bit-exact, in order")
    func sameHost() throws {
        let (run, saved) = try receiveInProcess(privateSharedMemory: false)
        #expect(run.status == 0, "\(run.errors)")
        #expect(summaryValue("path", in: run.errors) == "shared-memory", "\(run.errors)")
        #expect(summaryValue("lost", in: run.errors) == "0" && summaryValue("out-of-order", in: run.errors) == "0")
        let throughSharedMemory = Int(summaryValue("through-shared-memory", in: run.errors) ?? "") ?? 0
        #expect(throughSharedMemory > 0 && throughSharedMemory <= Self.count)
        #expect(run.errors.contains("switched to shared memory"), "the switch is logged")
        try expectBitExact(saved)
    }

    @Test("a subscriber process with a private /dev/shm stays on the network and receives everything bit-exact",
          .enabled(if: canUsePrivateSharedMemory, "needs root and a working `unshare --mount` to give the subscriber a private /dev/shm"))
    func privateSharedMemory() throws {
        let (run, saved) = try receiveInProcess(privateSharedMemory: true)
        #expect(run.status == 0, "\(run.errors)")
        #expect(summaryValue("path", in: run.errors) == "network", "\(run.errors)")
        #expect(summaryValue("through-shared-memory", in: run.errors) == "0" && summaryValue("lost", in: run.errors) == "0")
        #expect(run.errors.contains("cannot open the publisher's registry"), "the reason is logged: \(run.errors)")
        try expectBitExact(saved)
    }

    @Test("a subscriber process that requires the fast path in a private /dev/shm fails with a clear error",
          .enabled(if: canUsePrivateSharedMemory, "needs root and a working `unshare --mount` to give the subscriber a private /dev/shm"))
    func requiredInPrivateSharedMemory() throws {
        let (run, saved) = try receiveInProcess(privateSharedMemory: true, extra: ["--fast-path", "required"], count: 5)
        #expect(run.status == 1)
        #expect(run.errors.contains("the fast path is required but the receiver could not switch to shared memory"), "\(run.errors)")
        #expect(run.errors.contains("cannot open the publisher's registry"), "\(run.errors)")
        #expect(saved.isEmpty)
    }

    @Test("a subscriber process with the fast path disabled stays on the network")
    func disabled() throws {
        let (run, saved) = try receiveInProcess(privateSharedMemory: false, extra: ["--fast-path", "disabled"])
        #expect(run.status == 0, "\(run.errors)")
        #expect(summaryValue("path", in: run.errors) == "network" && summaryValue("through-shared-memory", in: run.errors) == "0")
        try expectBitExact(saved)
    }

    @Test("a subscriber whose publisher is killed (kill -9) goes back to the network and removes the queues left behind")
    func publisherKilled() throws {
        let directory = try temporaryDirectory("kill")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("a.npy").path
        try NPY.write(try patternArray(.uint16, [64, 64]), to: file)
        let endpoint = "tcp://127.0.0.1:\(try freeLoopbackPort())"
        let publisher = Process()
        publisher.executableURL = URL(fileURLWithPath: aqExecutable)
        publisher.arguments = ["send", endpoint, file, "--repeat", "1000000000", "--pattern", "pubsub"]
        publisher.standardOutput = FileHandle.nullDevice
        publisher.standardError = FileHandle.nullDevice
        try publisher.run()
        defer {
            if publisher.isRunning { kill(publisher.processIdentifier, SIGKILL) }
            publisher.waitUntilExit()
        }
        let receiver = try ZeroMQReceiver(.subscribeAll, connect: [try Endpoint(endpoint)], logger: quietLogger)
        defer { receiver.close() }
        let switchDeadline = Date().addingTimeInterval(20)
        while receiver.path != .sharedMemory, Date() < switchDeadline { _ = try receiver.receive(timeout: .milliseconds(50)) }
        try #require(receiver.path == .sharedMemory)
        let registries = ArrayQueue.allNames().filter { name in
            name.hasPrefix("aqfp.") && name.count == 37 && (try? ArrayQueue.open(name: name))?.info.creatorPID == publisher.processIdentifier
        }
        try #require(registries.count == 1, "\(registries)")

        kill(publisher.processIdentifier, SIGKILL)
        publisher.waitUntilExit()
        let fallbackDeadline = Date().addingTimeInterval(10)
        while receiver.path != .network, Date() < fallbackDeadline { _ = try receiver.receive(timeout: .milliseconds(50)) }
        #expect(receiver.path == .network)
        #expect(receiver.statistics.fastPathProblem?.contains("is gone") == true, "\(receiver.statistics.fastPathProblem ?? "")")
        #expect(receiver.statistics.outOfOrder == 0)
        #expect(ArrayQueue.allNames().filter { $0.hasPrefix(registries[0]) }.isEmpty, "the registry and the subscriber's queue are removed")
    }
}
