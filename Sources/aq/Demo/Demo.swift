import AQCommandLine
import ArrayRelay
import ArgumentParser
import ArrayQueues
import DemoFrames
import Foundation

/// `aq demo`: a producer process and a consumer process stream camera-sized frames through a
/// queue; every frame's checksum is verified; exits 0 only if all arrived intact.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stream 2048×2048 uint16 frames between two processes and verify every one.",
        discussion: "Build with -c release for meaningful throughput: swift run -c release aq demo")

    @Option(help: "How long the producer streams, in seconds.")
    var seconds: Double = 3

    @Option(help: "Frame height and width in pixels.")
    var size: Int = 2048

    @Option(help: "Queue capacity.")
    var capacity: ByteSize = ByteSize(bytes: 128 << 20)

    func validate() throws {
        try Self.validate(seconds: seconds, size: size)
    }

    /// The bounds of `--seconds` and `--size`, which the workers check too.
    static func validate(seconds: Double, size: Int) throws {
        guard seconds > 0, seconds <= 3600 else { throw ValidationError("--seconds must be in (0, 3600]") }
        guard size >= 4, size <= 16384 else { throw ValidationError("--size must be in [4, 16384]") }
    }

    func run() throws {
        let name = "aq-demo-\(getpid())"
        let frameBytes = size * size * 2
        try reportingErrors("aq") {
            let queue = try ArrayQueue.create(name: name, capacity: capacity.bytes)
            defer { try? ArrayQueue.remove(name: name) }
            print("aq demo: two processes stream \(size)×\(size) uint16 frames (\(ByteCount.format(frameBytes)) each) through queue '\(name)' (\(ByteCount.format(queue.capacity))) for \(seconds) s")
            let consumer = try Worker(["demo-worker", "consume", name, "--size", String(size)])
            let producer = try Worker(["demo-worker", "produce", name, "--size", String(size), "--seconds", String(seconds)])
            let produced = producer.finish()
            let consumed = consumer.finish()
            guard let frames = produced["frames"], let received = consumed["frames"], let bad = consumed["bad"],
                  let outOfOrder = consumed["disorder"], let elapsed = consumed["seconds"], elapsed > 0 else {
                printError("aq demo: a worker failed (producer: \(produced), consumer: \(consumed))")
                throw ExitCode.failure
            }
            let gigabytes = received * Double(frameBytes) / 1e9
            print("  producer   \(Int(frames)) frames written in place in shared memory")
            print("  consumer   \(Int(received)) frames read in place, checksums bad: \(Int(bad)), out of order: \(Int(outOfOrder))")
            print("  throughput \(String(format: "%.2f", gigabytes / elapsed)) GB/s, \(String(format: "%.0f", received / elapsed)) frames/s (each frame generated, checksummed, sent and verified)")
            if let p50 = consumed["latency_p50_us"], let p99 = consumed["latency_p99_us"] {
                print("  latency    put→get p50 \(String(format: "%.0f", p50)) µs, p99 \(String(format: "%.0f", p99)) µs")
            }
            guard received == frames, bad == 0, outOfOrder == 0 else {
                print("FAILED: frames were lost, corrupted or reordered")
                throw ExitCode.failure
            }
            print("ok: every frame arrived intact, in order")
        }
    }
}

/// A child `aq` process whose last stdout line is `key=value` pairs.
private struct Worker {
    let process = Process()
    let output = Pipe()

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        process.standardOutput = output
        try process.run()
    }

    func finish() -> [String: Double] {
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last else { return [:] }
        var values: [String: Double] = [:]
        for pair in line.split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
        }
        return values
    }
}

/// The demo's producer and consumer roles, run by `aq demo` in child processes.
struct DemoWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo-worker", abstract: "Internal: one side of aq demo.", shouldDisplay: false)

    enum Role: String, ExpressibleByArgument { case produce, consume }

    @Argument var role: Role
    @Argument var queueName: String
    @Option var size: Int = 2048
    @Option var seconds: Double = 3

    /// The index of the record that tells the consumer the stream is over.
    static let endOfStream: Int64 = -1

    func validate() throws {
        try Demo.validate(seconds: seconds, size: size)
    }

    func run() throws {
        try reportingErrors("aq") {
            let queue = try ArrayQueue.open(name: queueName)
            switch role {
            case .produce: try produce(queue)
            case .consume: try consume(queue)
            }
        }
    }

    private func produce(_ queue: ArrayQueue) throws {
        let deadline = ContinuousClock.now + .nanoseconds(Int64(seconds * 1e9))
        var frames = 0
        while ContinuousClock.now < deadline {
            try queue.put(UInt16.self, shape: [size, size], index: Int64(frames), timeout: .seconds(30)) { pixels in
                Frames.fill(UnsafeMutableRawBufferPointer(pixels), number: frames)
            }
            frames += 1
        }
        try queue.put(try NDArray<UInt8>(shape: [0], elements: []), index: Self.endOfStream, timeout: .seconds(30))
        print("frames=\(frames)")
    }

    private func consume(_ queue: ArrayQueue) throws {
        var frames = 0, bad = 0, disorder = 0
        var latencies: [Int64] = []
        var start: ContinuousClock.Instant?
        var expected: Int64 = 0
        while true {
            let index = try queue.get(timeout: .seconds(30)) { record -> Int64 in
                guard let index = record.index, index != Self.endOfStream else { return Self.endOfStream }
                if start == nil { start = .now }
                latencies.append(Timestamp.now().nanoseconds(since: record.timestamp))
                if record.shape != [size, size] || record.dtype != .uint16 || !Frames.verify(record.bytes) { bad += 1 }
                return index
            }
            if index == Self.endOfStream { break }
            if index != expected { disorder += 1 }
            expected = index + 1
            frames += 1
        }
        let elapsed = start.map { ContinuousClock.now - $0 } ?? .zero
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        latencies.sort()
        let p50 = latencies.isEmpty ? 0 : Double(latencies[latencies.count / 2]) / 1e3
        let p99 = latencies.isEmpty ? 0 : Double(latencies[min(latencies.count - 1, latencies.count * 99 / 100)]) / 1e3
        print("frames=\(frames) bad=\(bad) disorder=\(disorder) seconds=\(seconds) latency_p50_us=\(p50) latency_p99_us=\(p99)")
    }
}
