import ArrayQueues
import Foundation
import Testing

/// A viewer, a recorder and `aq-relay serve` read one broadcast queue side by side: each gets
/// every frame (issue 14's "done when").
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BroadcastRelayTests {
    /// The built `aq`, next to `aq-relay`.
    static let aq = relayExecutable.deletingLastPathComponent().appendingPathComponent("aq")

    /// Runs `aq get` on `queue` as a subscriber until it has `count` records (bounded).
    private func subscriberProcess(_ queue: String, policy: String, count: Int, scratch: Scratch, label: String) throws -> (Process, URL, URL) {
        let process = Process()
        process.executableURL = Self.aq
        process.arguments = ["get", queue, "--policy", policy, "--start", "oldest", "--count", String(count), "--timeout", "20"]
        let output = URL(fileURLWithPath: scratch.path("\(label).out"))
        let errors = URL(fileURLWithPath: scratch.path("\(label).err"))
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        return (process, output, errors)
    }

    @Test("viewer (drop), recorder (block) and aq-relay serve (pushpull → subscribe) on one broadcast queue: every frame to each, in order", arguments: ["pushpull", "pubsub"])
    func sideBySide(pattern: String) throws {
        let scratch = try Scratch("bcast-relay")
        defer { scratch.cleanUp() }
        var pair = try RelayTests.Pair(scratch, pattern: pattern)
        try ArrayQueue.remove(name: pair.source)
        _ = try ArrayQueue.create(name: pair.source, capacity: 64 << 20, creating: CreateOptions(broadcast: true))
        try pair.startRelay()
        #expect(pair.relay?.errors.contains("as a block subscriber") == true, "\(pair.relay?.errors ?? "")")
        try pair.startSubscriber()
        try pair.awaitConnection()
        let frames = 80
        let viewer = try subscriberProcess(pair.source, policy: "drop", count: frames, scratch: scratch, label: "viewer")
        let recorder = try subscriberProcess(pair.source, policy: "block", count: frames, scratch: scratch, label: "recorder")
        #expect(try pair.produce(count: frames)["frames"] == Double(frames))
        let received = try pair.verify(count: frames)
        #expect(received["frames"] == Double(frames) && received["bad"] == 0 && received["disorder"] == 0 && received["gaps"] == 0 && received["first"] == 0, "\(received)")
        for (process, output, errors) in [viewer, recorder] {
            #expect(waitForExit(process, timeout: 30) == 0, "\(String(decoding: (try? Data(contentsOf: errors)) ?? Data(), as: UTF8.self))")
            let lines = String(decoding: try Data(contentsOf: output), as: UTF8.self).split(separator: "\n")
            let indices = lines.compactMap { line in line.split(separator: " ").first { $0.hasPrefix("index=") }.flatMap { Int($0.dropFirst(6)) } }
            #expect(indices == Array(0..<frames), "\(output.lastPathComponent): \(indices.count) frames, not 0..<\(frames) in order")
        }
        let queue = try ArrayQueue.open(name: pair.source)
        let relaySubscriber = try queue.broadcastState().subscribers
        #expect(relaySubscriber.count == 1 && relaySubscriber.first?.delivered == UInt64(frames) && relaySubscriber.first?.lost == 0, "\(relaySubscriber)")
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
        #expect(try queue.broadcastState().subscribers.isEmpty, "the relay detached at exit")
    }
}
