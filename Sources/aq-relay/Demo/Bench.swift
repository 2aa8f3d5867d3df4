import ArgumentParser
import ArrayQueues
import Foundation

/// `aq-relay bench`: the relay's throughput against publishing directly, in the same run.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the relay's throughput against a producer that publishes directly (same run, tcp loopback).",
        discussion: """
              direct      producer ──tcp──▶ receiver
              relay       producer ─▶ queue ─▶ aq-relay serve ──tcp──▶ receiver
              zero-copy   the same, with aq-relay serve --zero-copy

            Every box is a process; ZeroMQ push/pull over tcp loopback. Both producers copy each frame once from a pool made in advance (as a camera's DMA would write it); the receiver checks every frame's size and order and every Nth frame's checksum. Rounds alternate the modes; the median of each mode is reported. Build with -c release.
            """)

    @Option(help: "Frame height and width (uint16): 2048 gives 8 MiB frames.") var size = 2048
    @Option(help: "Seconds per measurement.") var seconds: Double = 3
    @Option(help: "Rounds; each measures every mode once.") var rounds = 3
    @Option(help: "Verify the checksum of every Nth frame.") var verifyEvery = 8
    @Option(help: "Frames ZeroMQ may queue per peer, for both senders (the relay's --peer-queue).") var peerQueue = 8
    @Option(help: "Capacity of the relay's queue, in frames.") var queueFrames = 8

    enum Mode: String, CaseIterable {
        case direct = "direct"
        case relay = "relay (one copy)"
        case zeroCopy = "relay (zero-copy)"
    }

    func validate() throws {
        guard size >= 4, size <= 16384, seconds > 0, seconds <= 600, rounds >= 1, rounds <= 100, verifyEvery >= 1 else {
            throw ValidationError("--size 4…16384, --seconds (0, 600], --rounds 1…100, --verify-every ≥ 1")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let frameBytes = size * size * 2
            print("aq-relay bench: \(size)×\(size) uint16 frames (\(ByteCount.format(frameBytes))), \(seconds) s per measurement, \(rounds) rounds, tcp loopback, push/pull")
            var results: [Mode: [Double]] = [:]
            for round in 1...rounds {
                for mode in Mode.allCases {
                    let rate = try measure(mode, frameBytes: frameBytes)
                    results[mode, default: []].append(rate)
                    print("  round \(round)  " + mode.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: " %6.2f GB/s", rate))
                }
            }
            // Each round's ratio compares measurements a few seconds apart: steadier than the
            // ratio of medians when other work shares the machine.
            let direct = results[.direct] ?? []
            print("  median over \(rounds) rounds (range), and the median of the per-round ratios to direct:")
            for mode in Mode.allCases {
                let values = results[mode] ?? []
                let ratios = zip(values, direct).map { $1 > 0 ? $0 / $1 : 0 }
                print("    " + mode.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)
                      + String(format: " %6.2f GB/s (%.2f–%.2f)  ratio %.2f", median(values), values.min() ?? 0, values.max() ?? 0, median(ratios)))
            }
        }
    }

    private func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// One measurement: GB/s delivered to the receiver.
    private func measure(_ mode: Mode, frameBytes: Int) throws -> Double {
        let receiver = try Child(["demo-worker", "receive", "tcp://127.0.0.1:*", "--bind", "--size", "\(size)", "--verify-every", "\(verifyEvery)", "--timeout", "20"])
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
        guard receiverStatus == 0, producerStatus == 0, relayStatus == 0, let frames = values["frames"], let elapsed = values["seconds"], elapsed > 0 else {
            throw RelayError.runtime("\(mode.rawValue): a process failed (receiver \(receiverStatus.map(String.init) ?? "killed"), producer \(producerStatus.map(String.init) ?? "killed"), relay \(relayStatus.map(String.init) ?? "killed"))")
        }
        guard values["bad"] == 0, values["disorder"] == 0, values["gaps"] == 0 else {
            throw RelayError.runtime("\(mode.rawValue): frames arrived damaged, out of order or not at all: \(receiver.lastLine(prefix: "frames=") ?? "")")
        }
        return (frames - 1) * Double(frameBytes) / elapsed / 1e9
    }
}
