import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Testing

/// A publisher's linger period holds its close up only for connections that can still take
/// what is queued. libzmq 4.3.4 gives a connection that ends the socket's linger period as it
/// stands then and keeps its queue that long, although nothing can take it; and in XPUB manual
/// mode it applied a subscription read after its peer left to that peer's ended pipe, so that
/// later messages went into it (libzmq#4137).
@Suite("Linger: departed subscribers do not hold a close up")
struct LingerTests {
    /// A raw subscriber connects and subscribes; just after the subscription reached the
    /// publisher, the subscriber leaves and the publisher closes, with a linger of 2 s: the
    /// publisher's `end` meets the connection as it ends. Before, libzmq kept the ended
    /// connection's queue for the linger period and the close waited for it, in 18 of 40
    /// rounds here (with a linger of "forever", for ever: `abi_test` hung in CI,
    /// 2026-12-07).
    @Test("a subscriber that leaves just before its publisher closes holds the close up for none of the linger period",
          .timeLimit(.minutes(3)))
    func departedSubscriber() throws {
        var slow = 0
        let rounds = 40
        for _ in 0..<rounds {
            let sender = try ZeroMQSender(
                .publish, stream: "linger", bind: [try loopbackWildcard()],
                options: .init(heartbeatInterval: nil, linger: .seconds(2), fastPath: .disabled))
            var subscriber = try ZMQSocket(ZMQContext.shared(), type: ZMQ.sub, lingerMilliseconds: 0)
            try subscriber.subscribe("linger")
            try subscriber.connect(sender.boundEndpoints[0])
            Thread.sleep(forTimeInterval: 0.01)
            subscriber.close()
            Thread.sleep(forTimeInterval: 0.000_05)
            let started = Date()
            sender.close()
            if Date().timeIntervalSince(started) > 1.5 { slow += 1 }
        }
        #expect(slow == 0, "\(slow) of \(rounds) closes waited for the linger period")
    }
}
