import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Testing

/// The relay end to end, as real processes on loopback: `demo-worker produce` writes checksummed
/// frames into queue A, `serve` relays A, `subscribe` writes into queue B, `demo-worker verify`
/// checks B frame by frame (content, index, order).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RelayTests {
    /// A relay and a subscriber between two fresh queues.
    struct Pair {
        let scratch: Scratch
        let source: String
        let target: String
        let endpoint: String
        let pattern: String
        var relay: Spawned?
        var subscriber: Spawned?

        init(_ scratch: Scratch, pattern: String, capacity: Int = 64 << 20) throws {
            self.scratch = scratch
            self.pattern = pattern
            source = scratch.queue("a")
            target = scratch.queue("b")
            endpoint = "tcp://127.0.0.1:\(try freeLoopbackPort())"
            _ = try ArrayQueue.create(name: source, capacity: capacity)
        }

        /// Starts the relay; unless `fastPath` says otherwise, streams stay on tcp even though the
        /// subscriber is on the same host.
        ///
        /// Under pub/sub, ZeroMQ drops a subscriber's frames once its peer queue (ZMQ_SNDHWM, 8
        /// frames by default) is full, as it should; on a loaded machine a subscriber descheduled
        /// for a few tens of milliseconds falls that far behind, and the tests that expect every
        /// frame lost some. Unless `extra` sets it, the peer queue is deeper than any test's
        /// whole stream (at most a few hundred frames), so that a lost frame means a bug again.
        mutating func startRelay(_ extra: [String] = [], fastPath: String = "disabled") throws {
            let peerQueue = pattern == "pubsub" && !extra.contains("--peer-queue") ? ["--peer-queue", "1000"] : []
            let relay = try scratch.start(["serve", "--queue", "\(source)=\(endpoint)", "--pattern", pattern, "--name", "relay",
                                           "--heartbeat", "0.2", "--stats-interval", "1", "--fast-path", fastPath] + peerQueue + extra,
                                          label: "relay-\(UUID().uuidString.prefix(4))")
            #expect(relay.waitForLog("relaying queue"), "\(relay.errors)")
            self.relay = relay
        }

        mutating func startSubscriber(_ extra: [String] = []) throws {
            let subscriber = try scratch.start(["subscribe", endpoint, "--queue", target, "--capacity", "64MiB", "--pattern", pattern,
                                                "--name", "subscriber", "--heartbeat", "0.2", "--stats-interval", "1"] + extra,
                                               label: "subscriber-\(UUID().uuidString.prefix(4))")
            #expect(subscriber.waitForLog("receiving"), "\(subscriber.errors)")
            self.subscriber = subscriber
        }

        /// Waits until the subscriber hears the relay (a heartbeat arrived): a pub/sub
        /// subscription is then in place and no frame is lost to a late join.
        func awaitConnection() throws {
            let heard = try eventually(within: 20) { (try scratch.metric("aq_relay_heartbeats_total", instance: "subscriber") ?? 0) > 0 }
            #expect(heard, "the subscriber never heard the relay")
        }

        func produce(count: Int, start: Int = 0, size: Int = 256, rate: Double? = 400) throws -> [String: Double] {
            let run = try scratch.run(["demo-worker", "produce", source, "--size", "\(size)", "--count", "\(count)", "--start", "\(start)",
                                       "--timeout", "20"] + (rate.map { ["--rate", "\($0)"] } ?? []), timeout: 60)
            #expect(run.status == 0, "\(run.errors)")
            return values(run.output)
        }

        /// Verifies `count` frames of queue B (or all that come within `timeout` seconds without a pause).
        func verify(count: Int?, size: Int = 256, timeout: Double = 20) throws -> [String: Double] {
            let run = try scratch.run(["demo-worker", "verify", target, "--size", "\(size)", "--exact", "--timeout", "\(timeout)"]
                                      + (count.map { ["--count", "\($0)"] } ?? []), timeout: 120)
            #expect(run.status == 0, "\(run.errors)")
            return values(run.output)
        }

        func values(_ output: String) -> [String: Double] { keyValues(in: output) }

        func stop(_ process: Spawned?, within seconds: Double = 15) {
            process?.signal(SIGTERM)
            #expect(process?.wait(timeout: seconds) == 0, "\(process?.label ?? "") did not stop cleanly: \(process?.errors ?? "")")
        }
    }

    @Test("serve → tcp loopback → subscribe: every frame arrives bit-exact and in order; stats and SIGTERM work; also with --zero-copy-receive",
          arguments: [("pubsub", false), ("pushpull", false), ("pubsub", true)])
    func endToEnd(pattern: String, zeroCopyReceive: Bool) throws {
        let scratch = try Scratch("e2e")
        defer { scratch.cleanUp() }
        var pair = try Pair(scratch, pattern: pattern)
        try pair.startRelay()
        try pair.startSubscriber(zeroCopyReceive ? ["--zero-copy-receive"] : [])
        // The subscriber logs its receiving line with the context's setting as libzmq reports it.
        #expect(pair.subscriber?.errors.contains("zero-copy receive") == zeroCopyReceive, "\(pair.subscriber?.errors ?? "")")
        try pair.awaitConnection()
        #expect(try pair.produce(count: 60)["frames"] == 60)
        let received = try pair.verify(count: 60)
        #expect(received["frames"] == 60 && received["bad"] == 0 && received["disorder"] == 0 && received["gaps"] == 0 && received["first"] == 0, "\(received)")
        #expect(try scratch.metric("aq_relay_records_out_total", instance: "relay") == 60)
        #expect(try scratch.metric("aq_relay_records_out_total", instance: "subscriber") == 60)
        #expect(try scratch.metric("aq_relay_lost_total", instance: "subscriber") == 0)
        let summary = try scratch.run(["stats", "--summary"])
        #expect(summary.status == 0 && summary.output.contains("serve relay") && summary.output.contains("subscribe subscriber"), "\(summary.output)\(summary.errors)")
        pair.stop(pair.relay)
        #expect(try eventually(within: 10) { try scratch.metric("aq_relay_ends_total", instance: "subscriber") == 1 })
        pair.stop(pair.subscriber)
        #expect(!FileManager.default.fileExists(atPath: scratch.path("aq-relay-relay.sock")), "the control socket file is removed at exit")
    }

    @Test("pub/sub on one host: the subscriber switches to shared memory and every frame still arrives bit-exact, in order")
    func sameHostFastPath() throws {
        let scratch = try Scratch("fast-path")
        defer { scratch.cleanUp() }
        var pair = try Pair(scratch, pattern: "pubsub")
        try pair.startRelay(fastPath: "automatic")
        try pair.startSubscriber()
        #expect(pair.subscriber?.waitForLog("switched to shared memory") == true, "\(pair.subscriber?.errors ?? "")")
        #expect(try pair.produce(count: 60)["frames"] == 60)
        let received = try pair.verify(count: 60)
        #expect(received["frames"] == 60 && received["bad"] == 0 && received["disorder"] == 0 && received["gaps"] == 0 && received["first"] == 0, "\(received)")
        #expect(try scratch.metric("aq_relay_lost_total", instance: "subscriber") == 0)
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
    }

    @Test("a restarted relay comes back under a new epoch; the subscriber carries on without loss (push/pull)")
    func relayRestart() throws {
        let scratch = try Scratch("relay-restart")
        defer { scratch.cleanUp() }
        var pair = try Pair(scratch, pattern: "pushpull")
        try pair.startRelay()
        try pair.startSubscriber()
        _ = try pair.produce(count: 30)
        #expect(try pair.verify(count: 30)["last"] == 29)
        let firstEpoch = try scratch.metric("aq_relay_epoch", instance: "relay")
        pair.stop(pair.relay)
        // Frames made while the relay is down wait in the local queue.
        _ = try pair.produce(count: 30, start: 30)
        try pair.startRelay()
        let after = try pair.verify(count: 30)
        #expect(after["frames"] == 30 && after["first"] == 30 && after["last"] == 59 && after["bad"] == 0 && after["disorder"] == 0 && after["gaps"] == 0, "\(after)")
        #expect(try scratch.metric("aq_relay_epoch", instance: "relay") != firstEpoch)
        #expect(try scratch.metric("aq_relay_restarts_total", instance: "subscriber") == 1)
        #expect(try scratch.metric("aq_relay_ends_total", instance: "subscriber") == 1)
        #expect(try scratch.metric("aq_relay_lost_total", instance: "subscriber") == 0)
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
    }

    @Test("a restarted subscriber simply resumes", arguments: ["pushpull", "pubsub"])
    func subscriberRestart(pattern: String) throws {
        let scratch = try Scratch("subscriber-restart")
        defer { scratch.cleanUp() }
        var pair = try Pair(scratch, pattern: pattern)
        try pair.startRelay()
        try pair.startSubscriber()
        try pair.awaitConnection()
        _ = try pair.produce(count: 30)
        #expect(try pair.verify(count: 30)["last"] == 29)
        pair.stop(pair.subscriber)
        // Until the relay has seen the connection close, a pusher could still deal frames to it.
        let noticed = try eventually(within: 20) { try scratch.metric("aq_relay_peers", instance: "relay") == 0 }
        #expect(noticed, "the relay still counts the stopped subscriber as a peer")
        if pattern == "pushpull" {
            // The relay holds these back until a puller is there again.
            _ = try pair.produce(count: 30, start: 30)
            try pair.startSubscriber()
        } else {
            try pair.startSubscriber()
            try pair.awaitConnection()
            _ = try pair.produce(count: 30, start: 30)
        }
        let after = try pair.verify(count: 30)
        #expect(after["frames"] == 30 && after["first"] == 30 && after["last"] == 59 && after["bad"] == 0 && after["disorder"] == 0, "\(after)")
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
    }

    @Test("a queue removed and created anew under its name: the relay drains the old one, then relays the new one")
    func queueRecreated() throws {
        let scratch = try Scratch("recreated")
        defer { scratch.cleanUp() }
        var pair = try Pair(scratch, pattern: "pushpull")
        try pair.startRelay()
        try pair.startSubscriber()
        _ = try pair.produce(count: 20)
        try ArrayQueue.remove(name: pair.source)
        _ = try ArrayQueue.create(name: pair.source, capacity: 16 << 20)
        #expect(pair.relay?.waitForLog("was removed") == true, "\(pair.relay?.errors ?? "")")
        _ = try pair.produce(count: 20, start: 20)
        let received = try pair.verify(count: 40)
        #expect(received["frames"] == 40 && received["first"] == 0 && received["last"] == 39 && received["bad"] == 0 && received["disorder"] == 0, "\(received)")
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
    }

    @Test("a stalled subscriber neither blocks the producer nor grows the relay's memory past its byte budget")
    func slowSubscriber() throws {
        let scratch = try Scratch("slow")
        defer { scratch.cleanUp() }
        var pair = try Pair(scratch, pattern: "pubsub", capacity: 8 << 20)
        try pair.startRelay(["--byte-budget", "8MiB", "--peer-queue", "4"])
        try pair.startSubscriber(["--overflow", "drop-oldest"])
        try pair.awaitConnection()
        // A second subscriber that connects, then stops dead (SIGSTOP) with its connection open.
        let stalled = try scratch.start(["demo-worker", "receive", pair.endpoint, "--pattern", "pubsub", "--size", "512", "--timeout", "60"], label: "stalled")
        #expect(eventually(within: 20) { stalled.output.contains("ready") })
        stalled.signal(SIGSTOP)
        defer {
            stalled.signal(SIGCONT)
            stalled.signal(SIGKILL)
        }
        // 400 frames of 512 KiB, as fast as the producer can: 200 MiB through an 8 MiB queue.
        let produced = try pair.produce(count: 400, size: 512, rate: nil)
        #expect(produced["frames"] == 400 && produced["failed"] == 0, "\(produced)")
        #expect((produced["longest_put_ms"] ?? .infinity) < 2000, "the producer waited \(produced["longest_put_ms"] ?? -1) ms for room")
        let inFlight = try #require(try scratch.metric("aq_relay_in_flight_bytes", instance: "relay"))
        #expect(inFlight <= Double(8 << 20), "in flight \(inFlight) bytes")
        let resident = try #require(try scratch.metric("aq_relay_resident_memory_bytes", instance: "relay"))
        #expect(resident < Double(200 << 20), "the relay uses \(resident) bytes")
        // The live subscriber got intact frames in order (pub/sub may drop some, never damage them).
        let received = try pair.verify(count: nil, size: 512, timeout: 2)
        #expect((received["frames"] ?? 0) > 0 && received["bad"] == 0 && received["disorder"] == 0, "\(received)")
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
    }

    @Test("SIGTERM during streaming: both sides exit 0 promptly; no partial frame reaches the local queue")
    func sigtermDuringStreaming() throws {
        let scratch = try Scratch("sigterm")
        defer { scratch.cleanUp() }
        var pair = try Pair(scratch, pattern: "pushpull")
        try pair.startRelay()
        try pair.startSubscriber()
        // 128 KiB frames: queue B (64 MiB, nobody reads it until the end) holds ~500 of them.
        let producer = try scratch.start(["demo-worker", "produce", pair.source, "--size", "256", "--count", "2000", "--rate", "300", "--timeout", "60"], label: "producer")
        #expect(try eventually(within: 20) { (try scratch.metric("aq_relay_records_out_total", instance: "subscriber") ?? 0) >= 50 })
        pair.stop(pair.relay, within: 10)
        #expect(try eventually(within: 10) { try scratch.metric("aq_relay_ends_total", instance: "subscriber") == 1 })
        try pair.startRelay()
        #expect(try eventually(within: 20) { (try scratch.metric("aq_relay_records_out_total", instance: "subscriber") ?? 0) >= 150 })
        pair.stop(pair.subscriber, within: 10)
        pair.stop(pair.relay, within: 10)
        producer.signal(SIGKILL)
        _ = producer.wait(timeout: 10)
        let received = try pair.verify(count: nil, size: 256, timeout: 2)
        #expect((received["frames"] ?? 0) >= 150 && received["bad"] == 0 && received["disorder"] == 0 && received["gaps"] == 0, "\(received)")
    }

    @Test("aq-relay demo streams, shows progress and verifies every frame")
    func demo() throws {
        let scratch = try Scratch("demo")
        defer { scratch.cleanUp() }
        let run = try scratch.run(["demo", "--seconds", "1", "--size", "256"], timeout: 120)
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        #expect(run.output.contains("frames/s") && run.output.contains("ok: every frame arrived intact"), "\(run.output)")
    }
}
