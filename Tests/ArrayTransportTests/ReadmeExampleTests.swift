import ArrayQueues
import ArrayTransport
import Testing

/// The README's ArrayTransport example, as written there (on a free loopback port).
@Suite struct ReadmeExampleTests {
    @Test("the README example sends two named arrays with metadata and a subscriber receives them", .timeLimit(.minutes(10)))
    func readmeExample() async throws {
        let frame = try NDArray<UInt16>(shape: [4, 4], repeating: 7)
        let mask = try NDArray<Bool>(shape: [4, 4], repeating: true)
        let sender = try Endpoint("tcp://127.0.0.1:*").makeSender(stream: "camera0", pattern: .publish)
        let port = try #require((sender as? ZeroMQSender)?.boundEndpoints.first?.port)
        let receiver = try Endpoint("tcp://127.0.0.1:\(port)").makeReceiver(pattern: .subscribeAll)
        defer { receiver.close(); sender.close() }
        func send() throws {
            try sender.send([NamedArray("frame", frame.erased), NamedArray("mask", mask.erased)],
                            timestamp: .now(), index: 41, meta: ["exposure": .number(0.01)])
        }
        // A subscriber joins asynchronously (ZeroMQ drops what is published before): publish
        // until one message gets through, boundedly.
        var first: ArrayMessage?
        for _ in 0..<100 where first == nil {
            try send()
            first = try receiver.receive(timeout: .milliseconds(100))
        }
        #expect(first != nil)
        // Now the subscription is live: the async sequence of the README gets the next one.
        try send()
        var received: ArrayMessage?
        for try await message in receiver.messages() {
            received = message
            break
        }
        let message = try #require(received)
        #expect(message["frame"] == frame.erased && message["mask"] == mask.erased)
        #expect(message.index == 41 && message.meta["exposure"] == .number(0.01))
        // The README's borrowing receive reads the next one in place.
        try send()
        var shown: [UInt16] = []
        func show(_ pixels: Span<UInt16>) { for position in pixels.indices { shown.append(pixels[position]) } }
        try receiver.receive(timeout: .seconds(1)) { message in
            try message.withElements(of: 0, as: UInt16.self) { pixels in show(pixels) }
        }
        #expect(shown == frame.elements)
    }
}
