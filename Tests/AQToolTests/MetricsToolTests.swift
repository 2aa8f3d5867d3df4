import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Testing

/// `aq metrics --listen`: every queue of the host on an HTTP /metrics page, scraped with a plain
/// socket as Prometheus or curl would.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct MetricsToolTests {
    /// The value of `metric` with `label` in Prometheus text.
    static func value(_ metric: String, _ label: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(metric + "{") && line.contains(label) {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    @Test("GET /metrics: each queue's records, puts, gets, sizes, dead-peer counters and attached processes")
    func queuesOverHTTP() throws {
        let name = "t-metrics-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
        defer { try? ArrayQueue.remove(name: name) }
        for index in 0..<3 { try queue.put(NDArray<Float>(shape: [4], repeating: Float(index)), index: Int64(index)) }
        _ = try queue.get(timeout: .seconds(5))

        let process = try ChildProcess(AQToolTests.executable.path, ["metrics", "--listen", "127.0.0.1:*"])
        defer {
            process.signal(SIGTERM)
            #expect(process.waitForExit(timeout: 10) == 0, "aq metrics does not stop cleanly on SIGTERM")
        }
        let line = try #require(process.nextLine(within: 20), "aq metrics printed no address")
        let address = try #require(line.split(separator: " ").first { $0.hasPrefix("http://") }.map(String.init), "\(line)")
        let target = try #require(HTTPTarget(address), "\(address)")

        let answer = try #require(httpGet(target, path: "/metrics"))
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let label = "queue=\"\(name)\""
        let text = answer.body
        #expect(Self.value("aq_queue_puts_total", label, in: text) == 3, "\(text.prefix(600))")
        #expect(Self.value("aq_queue_gets_total", label, in: text) == 1)
        #expect(Self.value("aq_queue_records", label, in: text) == 2)
        #expect(Self.value("aq_queue_capacity_bytes", label, in: text) == Double(queue.capacity))
        #expect((Self.value("aq_queue_bytes_used", label, in: text) ?? 0) > 0)
        #expect(Self.value("aq_queue_drops_total", label, in: text) == 0)
        #expect(Self.value("aq_queue_resets_total", label, in: text) == 0)
        #expect(Self.value("aq_queue_abandoned_writes_total", label, in: text) == 0)
        #expect(Self.value("aq_queue_lost_reads_total", label, in: text) == 0)
        // This test's process is attached; the exporter leaves itself out.
        #expect(Self.value("aq_queue_attached_processes", "\(label),state=\"alive\"", in: text) == 1)
        #expect(text.contains("# TYPE aq_queue_puts_total counter"))

        // A later scrape sees later puts: the page is read afresh.
        try queue.put(NDArray<Float>(shape: [4], repeating: 9))
        #expect(Self.value("aq_queue_puts_total", label, in: httpGet(target, path: "/metrics")?.body ?? "") == 4)
    }

    @Test("a bad --listen address is one line and exit status 2")
    func badAddress() throws {
        let run = try runProcess(AQToolTests.executable.path, ["metrics", "--listen", "camera-host:9465"], timeout: 20)
        #expect(run.status == 2, "\(run.errors)")
        #expect(run.errors.hasPrefix("aq: ") && run.errors.split(separator: "\n").count == 1, "\(run.errors)")
    }
}
