import ArrayQueues
import ArrayRelay
import ArrayTransport
import ArrayQueuesTestSupport
import Foundation
import Logging
import Testing

/// The relay pump in-process: a ``QueueRelay`` reads queue A and sends it over tcp loopback, a
/// ``Subscription`` writes it into queue B, in this test's own process, as a program that
/// embeds the relay would run them.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct PumpTests {
    static func name(_ label: String) -> String {
        "t-arelay-\(getpid())-\(label)-\(UInt32.random(in: 0...UInt32.max))"
    }

    static var quiet: Logger {
        var logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .critical
        if ProcessInfo.processInfo.environment["AQ_TEST_LOG"] != nil { logger = Logger(label: "test") }
        return logger
    }

    /// Takes `count` records from `queue`, each within `timeout`, and checks their payloads.
    static func expectRecords(_ queue: ArrayQueue, count: Int, first: Int = 0) throws {
        for position in first..<(first + count) {
            let record = try queue.get(timeout: .seconds(20))
            #expect(record.index == Int64(position))
            #expect(try record.array.typed(as: Int32.self).elements == payload(position))
        }
    }

    static func payload(_ position: Int) -> [Int32] { (0..<64).map { Int32(position * 1000 + $0) } }

    @Test("a relay that reads a broadcast queue as a drop subscriber counts what it was skipped past: taken + skipped = put")
    func skippedSubscriberIsCounted() async throws {
        let source = Self.name("bcast")
        let input = try ArrayQueue.create(name: source, capacity: 64 << 10, creating: CreateOptions(broadcast: true))
        defer { try? ArrayQueue.remove(name: source) }
        var common = CommonSettings(name: source)
        common.fastPath = .disabled
        common.control = nil
        var serve = ServeSettings(common: common, routes: [QueueRoute(queue: source, stream: "s", bind: [try Endpoint("tcp://127.0.0.1:*")], connect: [])])
        serve.pattern = .pushpull
        serve.zeroCopy = false
        serve.subscriberPolicy = .drop
        // No puller: every send waits 5 ms and is dropped, so the relay falls behind the producer.
        serve.sendTimeout = .milliseconds(5)
        let relay = try QueueRelay(route: serve.routes[0], settings: serve, curve: nil, logger: Self.quiet)
        relay.start()
        // Counted from the relay's subscription on: wait until it has subscribed.
        #expect(eventually(within: 20) { (try? input.broadcastState().subscribers.count) == 1 })
        let count = 600
        for position in 0..<count {
            try input.put(NDArray<Int32>(shape: [64], elements: Self.payload(position)), index: Int64(position), timeout: .seconds(10))
        }
        let accounted = eventually(within: 30) {
            let samples = relay.samples()
            return samples.value("aq_relay_records_in_total") + samples.value("aq_relay_subscriber_skipped_total") == Double(count)
        }
        let samples = relay.samples()
        #expect(accounted, "taken \(samples.value("aq_relay_records_in_total")), skipped \(samples.value("aq_relay_subscriber_skipped_total")) of \(count)")
        #expect(samples.value("aq_relay_subscriber_skipped_total") > 0)
        await relay.shutdown()
    }

    /// A source queue `source` relayed by `aq-relay serve` (tcp, no fast path) to a subscription
    /// that fills `target`, both started in this process; the caller removes both queues.
    static func relayPair(_ pattern: StreamPattern, source: String, target: String) throws -> (ArrayQueue, QueueRelay, Subscription) {
        let input = try ArrayQueue.create(name: source, capacity: 1 << 20)
        var common = CommonSettings(name: source)
        common.fastPath = .disabled
        common.control = nil
        var serve = ServeSettings(common: common, routes: [QueueRoute(queue: source, stream: "s", bind: [try Endpoint("tcp://127.0.0.1:*")], connect: [])])
        serve.pattern = pattern
        serve.zeroCopy = pattern == .pushpull
        let relay = try QueueRelay(route: serve.routes[0], settings: serve, curve: nil, logger: Self.quiet)
        var subscribe = SubscribeSettings(common: common, queue: target)
        subscribe.pattern = pattern
        subscribe.connect = [try Endpoint(relay.endpoints[0])]
        subscribe.capacity = 1 << 20
        subscribe.putTimeout = .seconds(10)
        // Heartbeats count against the subscriber's receive queue (in messages): room for many, so
        // that a thread of this test stalled by a loaded machine does not lose a record to them.
        subscribe.receiveQueue = 64
        let subscription = try Subscription(settings: subscribe, curve: nil, logger: Self.quiet)
        relay.start()
        subscription.start()

        return (input, relay, subscription)
    }

    @Test("serve → subscribe in one process: push/pull delivers every record intact and in order; pub/sub counts what it loses", arguments: [StreamPattern.pushpull, .pubsub])
    func relayInProcess(_ pattern: StreamPattern) async throws {
        let source = Self.name("a"), target = Self.name("b")
        defer { try? ArrayQueue.remove(name: source) }
        defer { try? ArrayQueue.remove(name: target) }
        let (input, relay, subscription) = try Self.relayPair(pattern, source: source, target: target)

        if pattern == .pubsub {
            // A subscription takes a moment to reach the publisher: probe until one arrives.
            var probes = 0
            while (try? subscription.queue.get(timeout: .milliseconds(100))) == nil {
                probes += 1
                try #require(probes < 200, "the subscription never received a probe")
                try input.put(NDArray<Int32>(shape: [1], elements: [-1]), index: -1)
            }
            while (try? subscription.queue.get(timeout: .milliseconds(300))) != nil {}
        }
        let count = 50
        if pattern == .pushpull {
            // Backpressure: a burst larger than every queue on the way loses nothing.
            for position in 0..<count {
                try input.put(NDArray<Int32>(shape: [8, 8], elements: Self.payload(position)), index: Int64(position), timeout: .seconds(10))
            }
            try Self.expectRecords(subscription.queue, count: count)
        } else {
            // Pub/sub never waits for a subscriber: what it loses is counted, never hidden. In
            // lockstep (one record in flight) loss is rare; every record that arrives must be
            // intact and in order, and arrived + lost must account for every record sent.
            var arrived = 0
            var last = -1
            for position in 0..<count {
                try input.put(NDArray<Int32>(shape: [8, 8], elements: Self.payload(position)), index: Int64(position), timeout: .seconds(10))
                guard let record = try? subscription.queue.get(timeout: .seconds(3)) else { continue }
                let index = Int(record.index ?? -2)
                #expect(index > last && index <= position, "record \(index) after \(last), \(position) sent")
                #expect(try record.array.typed(as: Int32.self).elements == Self.payload(index))
                last = index
                arrived += 1
            }
            // The next heartbeat (1 s) carries the sequence that reveals a loss at the end.
            let deadline = ContinuousClock.now + .seconds(5)
            while Double(arrived) + subscription.samples().value("aq_relay_lost_total") < Double(count), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(Double(arrived) + subscription.samples().value("aq_relay_lost_total") == Double(count))
            #expect(arrived > 0)
        }

        let relayed = relay.samples()
        #expect(relayed.value("aq_relay_records_out_total") >= Double(count))
        #expect(relayed.total("aq_relay_dropped_total") == 0)
        if pattern == .pushpull { #expect(subscription.samples().value("aq_relay_lost_total") == 0) }
        await relay.shutdown()
        await subscription.shutdown()
        #expect(subscription.samples().value("aq_relay_ends_total") >= 1 || pattern == .pushpull)
    }

    @Test("records whose timestamps are Int64's extremes are relayed intact, and the lag gauge saturates instead of trapping (a peer chooses t_ns)")
    func extremeTimestamps() async throws {
        let source = Self.name("a"), target = Self.name("b")
        defer { try? ArrayQueue.remove(name: source) }
        defer { try? ArrayQueue.remove(name: target) }
        let (input, relay, subscription) = try Self.relayPair(.pushpull, source: source, target: target)
        let extremes: [Int64] = [.min, .max, -1]
        for (position, nanoseconds) in extremes.enumerated() {
            try input.put(
                NDArray<Int32>(shape: [8, 8], elements: Self.payload(position)),
                timestamp: Timestamp(nanosecondsSinceEpoch: nanoseconds), index: Int64(position), timeout: .seconds(10))
        }
        for (position, nanoseconds) in extremes.enumerated() {
            let record = try subscription.queue.get(timeout: .seconds(10))
            #expect(record.index == Int64(position))
            #expect(record.timestamp.nanosecondsSinceEpoch == nanoseconds)
            #expect(try record.array.typed(as: Int32.self).elements == Self.payload(position))
        }
        await relay.shutdown()
        await subscription.shutdown()
    }

    @Test("a relay started before its queue exists waits for it, then relays it")
    func waitsForQueue() async throws {
        let source = Self.name("late"), target = Self.name("late-b")
        defer { try? ArrayQueue.remove(name: source) }
        defer { try? ArrayQueue.remove(name: target) }
        var common = CommonSettings(name: source)
        common.fastPath = .disabled
        var serve = ServeSettings(common: common, routes: [QueueRoute(queue: source, stream: "late", bind: [try Endpoint("tcp://127.0.0.1:*")], connect: [])])
        serve.pattern = .pushpull
        let relay = try QueueRelay(route: serve.routes[0], settings: serve, curve: nil, logger: Self.quiet)
        var subscribe = SubscribeSettings(common: common, queue: target)
        subscribe.pattern = .pushpull
        subscribe.connect = [try Endpoint(relay.endpoints[0])]
        subscribe.capacity = 1 << 20
        let subscription = try Subscription(settings: subscribe, curve: nil, logger: Self.quiet)
        relay.start()
        subscription.start()
        try await Task.sleep(for: .milliseconds(300))
        let input = try ArrayQueue.create(name: source, capacity: 1 << 20)
        for position in 0..<5 {
            try input.put(NDArray<Int32>(shape: [8, 8], elements: Self.payload(position)), index: Int64(position), timeout: .seconds(10))
        }
        try Self.expectRecords(subscription.queue, count: 5)
        await relay.shutdown()
        await subscription.shutdown()
    }
}
