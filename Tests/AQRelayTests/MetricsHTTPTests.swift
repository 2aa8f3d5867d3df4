import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Testing

/// The relay's counters over HTTP, read with a plain socket as Prometheus or curl would, and
/// `aq-relay stats` reading the same page.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct MetricsHTTPTests {
    /// The value of `metric` (summed over its label sets) in Prometheus text.
    static func value(_ metric: String, in text: String) -> Double? {
        var sum: Double?
        for line in text.split(separator: "\n") where line.hasPrefix(metric + "{") || line.hasPrefix(metric + " ") {
            sum = (sum ?? 0) + (Double(line.split(separator: " ").last ?? "") ?? 0)
        }
        return sum
    }

    @Test("GET /metrics on a tcp:// control address: Prometheus text with the relay's counters; aq-relay stats prints the same numbers")
    func relayOverTCP() throws {
        let scratch = try Scratch("http")
        defer { scratch.cleanUp() }
        let port = UInt16(try freeLoopbackPort())
        var pair = try RelayTests.Pair(scratch, pattern: "pushpull")
        try pair.startRelay(["--control", "tcp://127.0.0.1:\(port)"])
        try pair.startSubscriber()
        _ = try pair.produce(count: 20, rate: nil)
        let target = HTTPTarget.tcp(host: "127.0.0.1", port: port)
        #expect(eventually(within: 20) { Self.value("aq_relay_records_out_total", in: httpGet(target, path: "/metrics")?.body ?? "") == 20 })
        let answer = try #require(httpGet(target, path: "/metrics"))
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true, "\(answer.headers)")
        #expect(answer.body.contains("# TYPE aq_relay_records_out_total counter"))
        #expect(answer.body.contains("# HELP aq_relay_records_out_total "))
        #expect(answer.body.contains("aq_relay_info{"), "\(answer.body.prefix(400))")
        #expect(Self.value("aq_relay_queue_capacity_bytes", in: answer.body) == Double(64 << 20))
        #expect(httpGet(target, path: "/nothing")?.status == 404)
        #expect(httpGet(target, path: "/metrics", request: "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?.status == 405)

        let stats = try scratch.run(["stats", "--control", "tcp://127.0.0.1:\(port)", "--timeout", "2"], timeout: 10)
        #expect(stats.status == 0, "\(stats.errors)")
        #expect(Self.value("aq_relay_records_out_total", in: stats.output) == 20)
        let summary = try scratch.run(["stats", "--control", "tcp://127.0.0.1:\(port)", "--summary"], timeout: 10)
        #expect(summary.status == 0 && summary.output.contains("aq-relay serve relay"), "\(summary.output)\(summary.errors)")
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
    }

    @Test("the default control endpoint is HTTP over a Unix socket: curl --unix-socket sees what aq-relay stats prints")
    func relayOverUnixSocket() throws {
        let scratch = try Scratch("unix")
        defer { scratch.cleanUp() }
        var pair = try RelayTests.Pair(scratch, pattern: "pubsub")
        try pair.startRelay()
        let socket = scratch.path("aq-relay-relay.sock")
        let answer = try #require(httpGet(.unix(path: socket), path: "/metrics"))
        #expect(answer.status == 200 && answer.body.contains("aq_relay_peers{"), "\(answer.body.prefix(300))")
        #expect(httpGet(.unix(path: socket), path: "/ping")?.body.contains("serve relay") == true)
        let stats = try scratch.run(["stats", "relay"], timeout: 10)
        #expect(stats.status == 0 && stats.output.contains("aq_relay_peers{"), "\(stats.errors)")
        pair.stop(pair.relay)
    }

    @Test("a request larger than the server takes is refused, and the page keeps answering")
    func oversizedRequest() throws {
        let scratch = try Scratch("bigreq")
        defer { scratch.cleanUp() }
        var pair = try RelayTests.Pair(scratch, pattern: "pubsub")
        try pair.startRelay()
        let socket = HTTPTarget.unix(path: scratch.path("aq-relay-relay.sock"))
        let huge = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Filler: \(String(repeating: "x", count: 1 << 20))\r\nConnection: close\r\n\r\n"
        #expect(httpGet(socket, path: "/metrics", request: huge, timeout: 3)?.status != 200, "the relay answered a 1 MiB request")
        #expect(httpGet(socket, path: "/metrics")?.status == 200)
        let stats = try scratch.run(["stats", "relay", "--timeout", "2"], timeout: 10)
        #expect(stats.status == 0, "\(stats.errors)")
        pair.stop(pair.relay)
    }
    /// A client of the metrics page that never finishes its request: `endless` sends a header
    /// line that never ends as fast as it can (at most `argv[3]` bytes), `trickle` one byte of
    /// it every 0.5 s. It prints `cut BYTES SECONDS` when the server ends the connection, or
    /// `sent BYTES SECONDS`.
    static let endlessHeader = """
        import socket, sys, time
        conn = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        start, sent, total = time.monotonic(), 0, int(sys.argv[3])
        try:
            conn.sendall(b"GET /metrics HTTP/1.1\\r\\nHost: x\\r\\nX-Filler: ")
            chunk = b"x" * 65536 if sys.argv[2] == "endless" else b"x"
            while sent < total:
                conn.sendall(chunk)
                sent += len(chunk)
                if sys.argv[2] == "trickle": time.sleep(0.5)
        except OSError:
            print(f"cut {sent} {time.monotonic() - start:.1f}", flush=True)
        else:
            print(f"sent {sent} {time.monotonic() - start:.1f}", flush=True)
        time.sleep(60)
        """

    /// FlyingFox reads request lines and headers without a size limit or a deadline: the
    /// relay's watchdog shuts down a connection after 64 KiB or 10 s (docs/RELIABILITY.md).
    @Test("a client that sends an endless header line, or trickles one, is cut off; the relay's memory stays bounded and the page keeps answering", arguments: ["endless", "trickle"])
    func endlessHeader(mode: String) throws {
        let scratch = try Scratch("slowhttp")
        defer { scratch.cleanUp() }
        let port = UInt16(try freeLoopbackPort())
        var pair = try RelayTests.Pair(scratch, pattern: "pubsub")
        try pair.startRelay(["--control", "tcp://127.0.0.1:\(port)"])
        let target = HTTPTarget.tcp(host: "127.0.0.1", port: port)
        #expect(eventually(within: 20) { httpGet(target, path: "/metrics")?.status == 200 })
        let pid = try #require(pair.relay).process.processIdentifier
        let before = try #require(HostilePeerTests.residentBytes(pid))
        let client = try startPython(["-c", Self.endlessHeader, "\(port)", mode, "\(1 << 30)"])
        defer { client.kill() }
        // Others are served meanwhile.
        Thread.sleep(forTimeInterval: 1)
        #expect(httpGet(target, path: "/metrics", timeout: 5)?.status == 200, "the page stopped answering")
        let outcome = client.nextLine(within: 30) ?? "nothing"
        let peak = try #require(HostilePeerTests.residentBytes(pid, field: "VmHWM"))
        print("MetricsHTTPTests.endlessHeader(\(mode)): the client was \(outcome); relay RSS \(before >> 20) MiB before, peak \(peak >> 20) MiB")
        #expect(outcome.hasPrefix("cut"), "the client was not cut off: \(outcome)")
        // 64 KiB and what arrives in 100 ms, as a line and its copies, within the peak's noise.
        #expect(peak - before < 48 << 20, "the relay grew by \((peak - before) >> 20) MiB")
        #expect(httpGet(target, path: "/metrics")?.status == 200)
        pair.stop(pair.relay)
    }
}
