import AQCommandLine
import ArrayRelay
@preconcurrency import Glibc
import ArgumentParser
import ArrayQueues
import ArrayTransport
import Foundation

/// `aq-relay demo`: a producer process, the relay and a subscriber process on loopback; every
/// frame is verified; exits 0 only if all arrived intact and in order.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stream frames producer → queue → relay → tcp loopback → subscriber, verifying every one.",
        discussion: """
            A producer process writes 2048×2048 uint16 frames (8 MiB) in place into a shared-memory queue; the relay (in this process) reads them with the borrowing get and sends them over tcp://127.0.0.1; a subscriber process receives them and checks every frame's checksum and order. Push/pull by default, so that backpressure reaches the producer and no frame may be lost.

            Build with -c release for meaningful throughput: swift run -c release aq-relay demo
            """)

    @Option(help: "How long the producer streams, in seconds.") var seconds: Double = 3
    @Option(help: "Frame height and width in pixels.") var size = 2048
    @Option(help: "Capacity of the producer's queue.") var capacity = ByteSize(bytes: 128 << 20)
    @Option(help: "pushpull (lossless, with backpressure) or pubsub (fan-out; a fast producer makes it drop frames).") var pattern: StreamPattern = .pushpull
    @Flag(inversion: .prefixedNo, help: "Relay straight from shared memory instead of copying each frame once. (default: on for pushpull, off for pubsub, as in serve)") var zeroCopy: Bool?

    func validate() throws {
        guard seconds > 0, seconds <= 3600 else { throw ValidationError("--seconds must be in (0, 3600]") }
        guard size >= 4, size <= 16384 else { throw ValidationError("--size must be 4 to 16384") }
    }

    func run() async throws {
        try await reportingErrors("aq-relay") {
            let name = "aq-relay-demo-\(getpid())"
            let frameBytes = size * size * 2
            let queue = try ArrayQueue.create(name: name, capacity: capacity.bytes)
            defer { try? ArrayQueue.remove(name: name) }
            let interrupt = removeOnInterrupt(queue: name)
            defer { interrupt.cancel() }

            var settings = ServeSettings(
                common: CommonSettings(name: name),
                routes: [QueueRoute(queue: name, stream: "demo", bind: [try Endpoint("tcp://127.0.0.1:*")], connect: [])])
            settings.pattern = pattern
            // The demo shows the network path: no same-host shortcut for its subscriber.
            settings.common.fastPath = .disabled
            settings.heartbeat = .milliseconds(200)
            // A short network queue keeps the lag low; push/pull backpressure does the rest.
            settings.peerQueue = 2
            let zeroCopy = zeroCopy ?? (pattern == .pushpull)
            settings.zeroCopy = zeroCopy
            let relay = try QueueRelay(route: settings.routes[0], settings: settings, curve: nil, logger: LogSetup.quiet())
            let endpoint = relay.endpoints[0]
            relay.start()
            print("aq-relay demo: producer → queue '\(name)' (\(ByteCount.format(queue.capacity))) → relay → \(endpoint) (\(pattern == .pushpull ? "push/pull" : "pub/sub"), \(zeroCopy ? "zero-copy" : "one copy")) → subscriber")
            print("  \(size)×\(size) uint16 frames (\(ByteCount.format(frameBytes)) each) for \(seconds) s; every frame's checksum and order verified")

            let subscriber = try Child(["demo-worker", "receive", endpoint, "--pattern", pattern.rawValue, "--size", "\(size)", "--progress", "--exact"])
            guard subscriber.waitForLine(prefix: "ready", timeout: .seconds(20)) != nil else {
                await relay.shutdown()
                throw RelayError.runtime("the subscriber did not connect within 20 s")
            }
            let producer = try Child(["demo-worker", "produce", name, "--size", "\(size)", "--seconds", "\(seconds)", "--sentinel"])
            let progress = ProgressLine(frameBytes: frameBytes)
            let deadline = ContinuousClock.now + .seconds(double: seconds + 60)
            while subscriber.isRunning && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(250))
                if let line = subscriber.lastLine(prefix: "progress") { progress.update(Child.parse(line)) }
            }
            progress.finish()
            let producerStatus = producer.wait(timeout: .seconds(30))
            let subscriberStatus = subscriber.wait(timeout: .seconds(5))
            let relayed = relay.samples()
            await relay.shutdown()

            let produced = producer.values()
            let received = subscriber.values()
            guard producerStatus == 0, subscriberStatus == 0, let frames = produced["frames"], let got = received["frames"],
                  let bad = received["bad"], let disorder = received["disorder"], let lost = received["lost"], let elapsed = received["seconds"] else {
                throw RelayError.runtime("a demo process failed (producer: \(producerStatus.map(String.init) ?? "killed"), subscriber: \(subscriberStatus.map(String.init) ?? "killed"))")
            }
            let timed = received["timed_frames"] ?? 0
            let rate = elapsed > 0 && timed > 1 ? (timed - 1) / elapsed : 0
            print("  producer    \(Int(saturating: frames)) frames written in place in shared memory")
            print("  relay       \(Int(saturating: relayed.value("aq_relay_records_out_total"))) frames sent, \(Int(saturating: relayed.total("aq_relay_dropped_total"))) dropped")
            // The subscriber's counts come from what a publisher sent: `lost` can be near 2^64.
            print("  subscriber  \(Int(saturating: got)) frames received: checksums bad \(Int(saturating: bad)), out of order \(Int(saturating: disorder)), lost \(Int(saturating: lost)), missing \(Int(saturating: frames - got))")
            print(String(format: "  throughput  %.2f GB/s, %.0f frames/s", rate * Double(frameBytes) / 1e9, rate)
                  + "; lag (producer put → subscriber) p50 \(formatLag((received["lag_p50_us"] ?? 0) / 1e6)), p99 \(formatLag((received["lag_p99_us"] ?? 0) / 1e6))")
            guard got == frames, bad == 0, disorder == 0, lost == 0 else {
                print("FAILED: frames were lost, corrupted or reordered")
                throw ExitCode.failure
            }
            print("ok: every frame arrived intact, in order")
        }
    }
}

/// The live line: frames/s, GB/s, lost, lag — rewritten in place on a terminal, one line a
/// second otherwise.
final class ProgressLine {
    private let frameBytes: Int
    private let started = ContinuousClock.now
    /// (time, frames) over the last second or so, for the rate.
    private var window: [(time: ContinuousClock.Instant, frames: Double)] = []
    private var lastPrinted = ContinuousClock.now
    private let terminal = isatty(STDOUT_FILENO) == 1

    init(frameBytes: Int) {
        self.frameBytes = frameBytes
    }

    func update(_ values: [String: Double]) {
        let now = ContinuousClock.now
        guard let frames = values["frames"] else { return }
        window.append((now, frames))
        window.removeAll { now - $0.time > .milliseconds(1500) }
        guard let oldest = window.first, now - oldest.time >= .milliseconds(200) else { return }
        let rate = (frames - oldest.frames) / (now - oldest.time).seconds
        let line = String(format: "  %5.1f s  %6.0f frames  %6.1f frames/s  %5.2f GB/s  lost %.0f  lag ",
                          (now - started).seconds, frames, rate, rate * Double(frameBytes) / 1e9, values["lost"] ?? 0) + formatLag((values["lag_us"] ?? 0) / 1e6)
        if terminal {
            print("\r\u{1B}[K" + line, terminator: "")
            fflush(stdout)
        } else if now - lastPrinted >= .seconds(1) {
            lastPrinted = now
            print(line)
        }
    }

    func finish() {
        if terminal { print("") }
    }
}
