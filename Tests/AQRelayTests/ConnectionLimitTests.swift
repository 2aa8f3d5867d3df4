import ArrayQueues
import ArrayQueuesTestSupport
import ArrayTransport
import Foundation
import Glibc
import Testing

/// `aq-relay serve` and `subscribe --bind` keep at most `--max-connections` connections per
/// bound endpoint (docs/RELIABILITY.md, "Many connections").
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ConnectionLimitRelayTests {
    @Test("serve --max-connections 4: 17 of 20 raw connections are cut and counted, a subscriber connected before is still served")
    func serveCutsTheNewest() throws {
        let scratch = try Scratch("limit")
        defer { scratch.cleanUp() }
        let (queue, endpoint, relay) = try HostilePeerTests.serve(scratch, ["--max-connections", "4"])
        let subscriber = try ZeroMQReceiver(.subscribeAll, connect: [try Endpoint(endpoint)], options: .init(fastPath: .disabled))
        defer { subscriber.close() }
        #expect(try subscriber.receiveEvent(timeout: .seconds(20)) != nil, "no heartbeat: \(relay.errors)")

        let port = try #require(try Endpoint(endpoint).port)
        let raw = try (0..<20).map { _ in try rawLoopbackConnection(port: Int(port)) }
        defer { raw.forEach { close($0) } }
        #expect(try eventually(within: 20, every: 0.2) { (try scratch.metric("aq_relay_peers_dropped_total", instance: "relay") ?? 0) >= 17 }, "\(relay.errors)")
        for descriptor in raw[3...] { #expect(connectionEnds(descriptor, within: 10)) }
        #expect(try scratch.metric("aq_relay_peers", instance: "relay") == 4)
        #expect(relay.errors.contains("beyond the limit of 4 per endpoint"))

        let producer = try ArrayQueue.open(name: queue)
        try producer.put(try NDArray<UInt8>(shape: [64], repeating: 7), index: 1, timeout: .seconds(5))
        var received: ArrayMessage?
        _ = eventually(within: 20) {
            received = try? subscriber.receive(timeout: .milliseconds(100))
            return received != nil
        }
        #expect(received?.stream == queue)
    }

    @Test("subscribe --bind --max-connections 2: 4 of 6 raw connections are cut and counted")
    func subscribeBindCutsTheNewest() throws {
        let scratch = try Scratch("limit-sub")
        defer { scratch.cleanUp() }
        let port = try freeLoopbackPort()
        let subscriber = try scratch.start(["subscribe", "tcp://127.0.0.1:\(port)", "--bind", "--queue", scratch.queue("bound"), "--capacity", "16MiB",
                                            "--name", "bound", "--max-connections", "2", "--fast-path", "disabled"], label: "bound")
        #expect(subscriber.waitForLog("receiving"), "\(subscriber.errors)")
        try Self.expectFourOfSixCut(port: port, scratch: scratch, instance: "bound", errors: subscriber.errors)
    }

    /// A pushpull subscriber whose local queue is full waits in its put (no consumer, put
    /// timeout forever) and makes no receive call: its receiver's housekeeping thread still
    /// applies the limit. Connections beyond it were cut only by a receive before.
    @Test("subscribe --bind --max-connections 3, blocked on a full local queue: 4 of 6 raw connections are cut and counted anyway")
    func subscribeBlockedOnAFullQueueStillCuts() throws {
        let scratch = try Scratch("limit-full")
        defer { scratch.cleanUp() }
        let port = try freeLoopbackPort()
        let queueName = scratch.queue("full")
        let subscriber = try scratch.start(["subscribe", "tcp://127.0.0.1:\(port)", "--bind", "--pattern", "pushpull", "--queue", queueName,
                                            "--capacity", "64KiB", "--name", "full", "--max-connections", "3", "--fast-path", "disabled"], label: "full")
        #expect(subscriber.waitForLog("receiving"), "\(subscriber.errors)")
        let pusher = try ZeroMQSender(.push, stream: "full", connect: [try Endpoint("tcp://127.0.0.1:\(port)")],
                                      options: .init(byteBudget: 256 << 10, sendTimeout: .milliseconds(500), heartbeatInterval: nil, fastPath: .disabled))
        defer { pusher.close() }
        // 16 KiB records into a 64 KiB queue that nobody reads: the relay's put soon waits. The
        // pusher's sends time out once libzmq's queues and the kernel's buffers are full too,
        // or all go into those buffers (in CI, once, all 200).
        let record = try NDArray<UInt8>(shape: [16 << 10], repeating: 3).erased
        var sent = 0
        while sent < 200, (try? pusher.send(record)) != nil { sent += 1 }
        #expect(sent > 4, "sent \(sent) records of 16 KiB, not enough to fill a queue of 64 KiB")
        var opened: ArrayQueue?
        _ = eventually(within: 20, every: 0.1) {
            opened = try? ArrayQueue.open(name: queueName)
            return opened != nil
        }
        let queue = try #require(opened, "\(subscriber.errors)")
        #expect(eventually(within: 20, every: 0.1) { queue.count >= 3 })
        try Self.expectFourOfSixCut(port: port, scratch: scratch, instance: "full", errors: subscriber.errors)
        // Still full and unread: the relay was waiting in its put all along.
        #expect(try queue.count >= 3 && queue.statistics().gets == 0)
    }

    /// Opens 6 raw connections to a relay that accepts 2 more on `port`: the 4 newest are cut
    /// and counted in the relay `instance`'s metrics, the 2 oldest stay.
    static func expectFourOfSixCut(port: Int, scratch: Scratch, instance: String, errors: @autoclosure () -> String) throws {
        let raw = try (0..<6).map { _ in try rawLoopbackConnection(port: port) }
        defer { raw.forEach { close($0) } }
        #expect(try eventually(within: 20, every: 0.2) { (try scratch.metric("aq_relay_peers_dropped_total", instance: instance) ?? 0) >= 4 }, "\(errors())")
        for descriptor in raw[2...] { #expect(connectionEnds(descriptor, within: 10)) }
        for descriptor in raw[..<2] { #expect(!connectionEnds(descriptor, within: 0.2)) }
        #expect(try scratch.metric("aq_relay_peers_dropped_total", instance: instance) == 4)
    }

    @Test("max_connections: 256 by default, 0 for none, from the file or the command line, printed by --check")
    func setting() throws {
        let scratch = try Scratch("limit-check")
        defer { scratch.cleanUp() }
        let plain = try scratch.run(["subscribe", "tcp://127.0.0.1:6000", "--queue", "q", "--check"], timeout: 20)
        #expect(plain.status == 0 && plain.output.contains("max_connections = 256"), "\(plain.output)\(plain.errors)")
        let file = try scratch.write("relay.toml", "[serve]\nmax_connections = 0\n[[serve.queue]]\nname = \"q\"\nbind = [\"tcp://*:5555\"]\n")
        let fromFile = try scratch.run(["serve", "--config", file, "--check"], timeout: 20)
        #expect(fromFile.status == 0 && fromFile.output.contains("max_connections = 0"), "\(fromFile.output)\(fromFile.errors)")
        let fromOptions = try scratch.run(["serve", "--config", file, "--max-connections", "12", "--check"], timeout: 20)
        #expect(fromOptions.status == 0 && fromOptions.output.contains("max_connections = 12"), "\(fromOptions.output)\(fromOptions.errors)")
        let negative = try scratch.run(["serve", "--config", file, "--max-connections=-1", "--check"], timeout: 20)
        #expect(negative.status == 2 && negative.errors.contains("--max-connections"), "\(negative.errors)")
    }
}
