import AQCommandLine
import ArrayRelay
import ArgumentParser
import ArrayQueues
import Foundation

/// `aq-relay bench`: the relay's throughput against publishing directly, in the same run.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Internal (aq-bench's relay scenario): the relay's throughput against a producer that publishes directly (same run, tcp loopback).",
        discussion: """
              direct      producer ──tcp──▶ receiver
              relay       producer ─▶ queue ─▶ aq-relay serve ──tcp──▶ receiver
              zero-copy   the same, with aq-relay serve --zero-copy

            Every box is a process; ZeroMQ push/pull over tcp loopback. Both producers copy each frame once from a pool made in advance (as a camera's DMA would write it); the receiver checks every frame's size and order and every Nth frame's checksum, and times the frames after the first --warmup-frames (while the queues fill). Rounds alternate the modes; the median of each mode is reported. Build with -c release.

            --json prints, instead of text, one JSON object per line: one per round and mode ({"round", "mode": "direct" | "relay" | "zero-copy", "gbps", "frames" (timed), "seconds", "frame_bytes"}), then a summary ({"summary": true, "median_gbps", "min_gbps", "max_gbps", "median_ratio_to_direct" (the median of the per-round ratios), by mode; "rounds", "frame_bytes", "seconds", "warmup_frames"}).
            """,
        shouldDisplay: false)

    @Option(help: "Frame height and width (uint16): 2048 gives 8 MiB frames.") var size = 2048
    @Option(help: "Seconds per measurement.") var seconds: Double = 3
    @Option(help: "Rounds; each measures every mode once.") var rounds = 3
    @Option(help: "Verify the checksum of every Nth frame.") var verifyEvery = 8
    @Option(help: "Frames ZeroMQ may queue per peer, for both senders (the relay's --peer-queue).") var peerQueue = 8
    @Option(help: "Capacity of the relay's queue, in frames.") var queueFrames = 8
    @Option(help: "Frames the receiver does not time at the start of each measurement.") var warmupFrames = 8
    @Flag(help: "Print JSON lines (one per round and mode, then a summary) instead of text.") var json = false

    enum Mode: String, CaseIterable {
        case direct = "direct"
        case relay = "relay (one copy)"
        case zeroCopy = "relay (zero-copy)"

        /// The mode's name in JSON output.
        var key: String {
            switch self {
            case .direct: "direct"
            case .relay: "relay"
            case .zeroCopy: "zero-copy"
            }
        }
    }

    /// One measurement, at the receiver.
    struct Measurement {
        /// Frames timed (after the warm-up), the first one included.
        var frames: Int
        /// From the first timed frame's arrival to the last frame's.
        var seconds: Double
        var frameBytes: Int
        /// GB/s over the timed frames after the first.
        var gbps: Double { seconds > 0 ? Double(frames - 1) * Double(frameBytes) / seconds / 1e9 : 0 }
    }

    func validate() throws {
        guard size >= 4, size <= 16384, seconds > 0, seconds <= 600, rounds >= 1, rounds <= 100, verifyEvery >= 1, warmupFrames >= 0 else {
            throw ValidationError("--size 4…16384, --seconds (0, 600], --rounds 1…100, --verify-every ≥ 1, --warmup-frames ≥ 0")
        }
    }

    func run() async throws {
        try reportingErrors("aq-relay") {
            let frameBytes = size * size * 2
            let report = BenchReport(json: json, rounds: rounds, seconds: seconds, frameBytes: frameBytes, warmupFrames: warmupFrames)
            report.start(size: size)
            var results: [Mode: [Double]] = [:]
            for round in 1...rounds {
                for mode in Mode.allCases {
                    let measurement = try measure(mode, frameBytes: frameBytes)
                    results[mode, default: []].append(measurement.gbps)
                    report.round(round, mode, measurement)
                }
            }
            report.summary(results)
        }
    }

    /// One measurement: what the receiver timed.
    private func measure(_ mode: Mode, frameBytes: Int) throws -> Measurement {
        let receiver = try Child(["demo-worker", "receive", "tcp://127.0.0.1:*", "--bind", "--size", "\(size)", "--verify-every", "\(verifyEvery)",
                                  "--warmup-frames", "\(warmupFrames)", "--timeout", "20"])
        guard let line = receiver.waitForLine(prefix: "endpoint=", timeout: .seconds(20)) else {
            throw RelayError.runtime("the receiver did not start")
        }
        let endpoint = String(line.dropFirst("endpoint=".count))
        let length = ["--size", "\(size)", "--seconds", "\(seconds)", "--sentinel"]
        var relay: Child?
        let queue = "aq-relay-bench-\(getpid())"
        defer { try? ArrayQueue.remove(name: queue) }
        let interrupt = removeOnInterrupt(queue: queue)
        defer { interrupt.cancel() }
        let producer: Child
        switch mode {
        case .direct:
            producer = try Child(["demo-worker", "publish", endpoint, "--peer-queue", "\(peerQueue)"] + length)
        case .relay, .zeroCopy:
            _ = try ArrayQueue.create(name: queue, capacity: max(1 << 20, queueFrames * (frameBytes + 4096)))
            relay = try Child(["serve", "--queue", "\(queue)=\(endpoint)", "--connect", "--pattern", "pushpull", "--control", "none",
                               "--stats-interval", "0", "--log-level", "warning", "--peer-queue", "\(peerQueue)"] + (mode == .zeroCopy ? ["--zero-copy"] : ["--no-zero-copy"]))
            producer = try Child(["demo-worker", "produce", queue, "--pool"] + length)
        }
        let receiverStatus = receiver.wait(timeout: .seconds(double: seconds + 60))
        let producerStatus = producer.wait(timeout: .seconds(10))
        relay?.signal(SIGTERM)
        let relayStatus: Int32? = if let relay { relay.wait(timeout: .seconds(10)) } else { 0 }
        let values = receiver.values()
        guard receiverStatus == 0, producerStatus == 0, relayStatus == 0, let frames = values["timed_frames"], let elapsed = values["seconds"] else {
            throw RelayError.runtime("\(mode.rawValue): a process failed (receiver \(receiverStatus.map(String.init) ?? "killed"), producer \(producerStatus.map(String.init) ?? "killed"), relay \(relayStatus.map(String.init) ?? "killed"))")
        }
        guard frames >= 2, elapsed > 0 else {
            throw RelayError.runtime("\(mode.rawValue): too few frames after the \(warmupFrames) of the warm-up to time (\(Int(values["frames"] ?? 0)) arrived); give more --seconds")
        }
        guard values["bad"] == 0, values["disorder"] == 0, values["gaps"] == 0 else {
            throw RelayError.runtime("\(mode.rawValue): frames arrived damaged, out of order or not at all: \(receiver.lastLine(prefix: "frames=") ?? "")")
        }
        return Measurement(frames: Int(frames), seconds: elapsed, frameBytes: frameBytes)
    }
}
