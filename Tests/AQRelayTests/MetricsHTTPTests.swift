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
}
