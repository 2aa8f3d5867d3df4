import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import ComplexModule
import Foundation
import Testing

@Suite("Round trips over ZeroMQ")
struct RoundTripTests {
    /// A pusher bound to a fresh endpoint of `transport` and a puller connected to it.
    static func pair(
        _ transport: Transport, stream: String = "rt", sender senderOptions: ZeroMQSender.Options = .init(heartbeatInterval: nil),
        receiver receiverOptions: ZeroMQReceiver.Options = .init()
    ) throws -> (ZeroMQSender, ZeroMQReceiver, Endpoint) {
        let endpoint = try transport.bindEndpoint()
        let sender = try ZeroMQSender(.push, stream: stream, bind: [endpoint], options: senderOptions)
        let receiver = try ZeroMQReceiver(.pull, connect: [sender.boundEndpoints[0]], options: receiverOptions)
        return (sender, receiver, endpoint)
    }

    static let shapes: [[Int]] = [[], [0], [3, 0, 2], [7], [3, 5, 7], [64, 129], [2, 1, 1, 1, 1, 1, 1, 33]]

    @Test("every dtype and shape arrives bit-exact", arguments: Transport.allCases)
    func everyDTypeBitExact(transport: Transport) throws {
        let (sender, receiver, endpoint) = try Self.pair(transport)
        defer { sender.close(); receiver.close(); removeIPC(endpoint) }
        var expected: [AnyNDArray] = []
        for (dtypeIndex, dtype) in DType.allCases.enumerated() {
            for (shapeIndex, shape) in Self.shapes.enumerated() {
                let array = try patternArray(dtype, shape, message: dtypeIndex, array: shapeIndex)
                expected.append(array)
                try sender.send(array, name: "\(dtype)-\(shapeIndex)", index: Int64(expected.count - 1))
            }
        }
        for (position, array) in expected.enumerated() {
            let message = try #require(try receiver.receive(timeout: .seconds(10)))
            #expect(message.sequence == UInt64(position))
            #expect(message.index == Int64(position))
            #expect(message.epoch == sender.epoch)
            #expect(message.stream == "rt")
            #expect(message.arrays.count == 1)
            #expect(message.arrays[0].array == array, "\(message.arrays[0].name)")
            #expect(message.arrays[0].array.dtype == array.dtype && message.arrays[0].array.shape == array.shape)
        }
        let statistics = receiver.statistics
        #expect(statistics.received == UInt64(expected.count))
        #expect(statistics.lost == 0 && statistics.malformed == 0 && statistics.epochsSeen == 1)
        #expect(statistics.bytesReceived == UInt64(expected.reduce(0) { $0 + $1.byteCount }))
        #expect(sender.statistics.sent == UInt64(expected.count))
    }

    @Test("a context with zero-copy receive: libzmq reports it on (off by default), and messages held while later ones arrive stay intact", arguments: Transport.allCases)
    func zeroCopyReceive(transport: Transport) throws {
        #expect(try ZMQContext().receivesWithZeroCopy == false)
        let context = try ZMQContext(zeroCopyReceive: true)
        #expect(try context.receivesWithZeroCopy == true)
        let (sender, receiver, endpoint) = try Self.pair(transport, receiver: .init(context: context))
        defer { sender.close(); receiver.close(); removeIPC(endpoint) }
        // Frames over 33 bytes now point into libzmq's read buffers: the messages kept here must
        // keep theirs alive while the buffers fill with the next ones.
        let sizes = [40, 4 << 10, 64 << 10, 1 << 20, 100, 3 << 20]
        var kept: [ArrayMessage] = []
        for (number, size) in sizes.enumerated() {
            try sender.send(try patternArray(.uint8, [size], message: number, array: 0), index: Int64(number))
        }
        for _ in sizes { kept.append(try #require(try receiver.receive(timeout: .seconds(10)))) }
        for (number, size) in sizes.enumerated() {
            #expect(kept[number].index == Int64(number))
            #expect(kept[number].arrays[0].array == (try patternArray(.uint8, [size], message: number, array: 0)))
        }
    }

    @Test("typed values survive", arguments: Transport.allCases)
    func typedValues(transport: Transport) throws {
        let (sender, receiver, endpoint) = try Self.pair(transport)
        defer { sender.close(); receiver.close(); removeIPC(endpoint) }
        let doubles = try NDArray<Double>(shape: [2, 2], elements: [0.5, -2.25, .infinity, .nan])
        let complex = try NDArray<Complex<Float>>(shape: [2], elements: [Complex(1, -2), Complex(0.25, 8)])
        let halves = try NDArray<Float16>(shape: [3], elements: [1.5, -2, 65504])
        let flags = try NDArray<Bool>(shape: [3], elements: [true, false, true])
        let big = try NDArray<UInt64>(shape: [2], elements: [.max, 1 << 63])
        try sender.send([NamedArray("d", doubles.erased), NamedArray("c", complex.erased), NamedArray("h", halves.erased),
                         NamedArray("b", flags.erased), NamedArray("u", big.erased)], timestamp: Timestamp(nanosecondsSinceEpoch: 42), index: nil, meta: [:])
        let message = try #require(try receiver.receive(timeout: .seconds(10)))
        #expect(message.arrays.map(\.name) == ["d", "c", "h", "b", "u"])
        #expect(try message["d"]!.typed(as: Double.self) == doubles)
        #expect(try message["c"]!.typed(as: Complex<Float>.self).elements == complex.elements)
        #expect(try message["h"]!.typed(as: Float16.self).elements == halves.elements)
        #expect(try message["b"]!.typed(as: Bool.self).elements == [true, false, true])
        #expect(try message["u"]!.typed(as: UInt64.self).elements == [.max, 1 << 63])
        #expect(message.timestamp == Timestamp(nanosecondsSinceEpoch: 42))
        #expect(message.index == nil)
    }

    @Test("multi-array messages with meta", arguments: Transport.allCases)
    func multiArrayAndMeta(transport: Transport) throws {
        let (sender, receiver, endpoint) = try Self.pair(transport)
        defer { sender.close(); receiver.close(); removeIPC(endpoint) }
        let meta: [String: JSONValue] = [
            "exposure_us": 1200, "gain": 2.5, "camera": "left ✓", "roi": [0, 0, 640, 480], "calibrated": true,
            "nothing": nil, "nested": ["deep": ["deeper": [1, 2.5, "x"]]], "huge": .integer(Int64.max), "tiny": .integer(Int64.min),
        ]
        for round in 0..<20 {
            let arrays = try (0..<(1 + round % 5)).map { j in
                NamedArray("a\(j)", try patternArray(DType.allCases[(round + j) % DType.allCases.count], [round + 1, 300], message: round, array: j))
            }
            let timestamp = Timestamp(nanosecondsSinceEpoch: 1_764_028_800_123_456_789 + Int64(round))
            try sender.send(arrays, timestamp: timestamp, index: Int64(round) - 10, meta: meta.merging(["round": .integer(Int64(round))]) { $1 })
            let message = try #require(try receiver.receive(timeout: .seconds(10)))
            #expect(message.arrays == arrays)
            #expect(message.meta == meta.merging(["round": .integer(Int64(round))]) { $1 })
            #expect(message.timestamp == timestamp)
            #expect(message.index == Int64(round) - 10)
        }
    }

    @Test func largePayloadsAreAdoptedWithoutCopying() throws {
        let (sender, receiver, _) = try Self.pair(.tcp)
        defer { sender.close(); receiver.close() }
        let array = try patternArray(.float64, [512, 512])
        for _ in 0..<5 { try sender.send(array) }
        for _ in 0..<5 {
            let message = try #require(try receiver.receive(timeout: .seconds(10)))
            #expect(message.arrays[0].array == array)
        }
        // libzmq hands large frames over in buffers of their own, aligned for any dtype.
        #expect(receiver.statistics.copiedPayloads == 0)
        // Every zero-copy send was released by libzmq once written.
        #expect(eventually { sender.statistics.inFlightBytes == 0 })
    }

    @Test func mutatingAnArrayAfterSendingItDoesNotChangeWhatIsSent() throws {
        let (sender, receiver, _) = try Self.pair(.tcp)
        defer { sender.close(); receiver.close() }
        var array = try patternArray(.uint8, [1 << 20])
        let original = array
        for round in 0..<10 {
            try sender.send(array, index: Int64(round))
            // The sender still holds the storage: this write must copy it first.
            array.withUnsafeMutableBytes { $0[0] &+= 1 }
        }
        for round in 0..<10 {
            let message = try #require(try receiver.receive(timeout: .seconds(10)))
            let first = message.arrays[0].array.withUnsafeBytes { $0[0] }
            #expect(first == original.withUnsafeBytes { $0[0] } &+ UInt8(round))
            #expect(message.arrays[0].array.withUnsafeBytes { Array($0[1...]) } == original.withUnsafeBytes { Array($0[1...]) })
        }
    }

    static let hasIPv6Loopback = (try? String(contentsOfFile: "/proc/net/if_inet6", encoding: .utf8))?
        .contains("00000000000000000000000000000001") ?? false

    @Test(.enabled(if: hasIPv6Loopback, "this machine has no IPv6 loopback address"))
    func ipv6Loopback() throws {
        let sender = try ZeroMQSender(.push, stream: "v6", bind: [try Endpoint("tcp://[::1]:*")], options: .init(heartbeatInterval: nil))
        let receiver = try ZeroMQReceiver(.pull, connect: sender.boundEndpoints)
        defer { sender.close(); receiver.close() }
        #expect(sender.boundEndpoints[0].description.hasPrefix("tcp://[::1]:"))
        let array = try patternArray(.float32, [10, 10])
        try sender.send(array)
        #expect(try receiver.receive(timeout: .seconds(10))?.arrays[0].array == array)
    }

    @Test func sendingRejectsNonFiniteMeta() throws {
        let (sender, receiver, _) = try Self.pair(.tcp)
        defer { sender.close(); receiver.close() }
        #expect { try sender.send(try patternArray(.uint8, [1]), meta: ["bad": .number(.nan)]) } throws: {
            ($0 as? TransportError)?.code == .invalidArgument
        }
        #expect(sender.statistics.nextSequence == 0)
    }

    @Test func closedSenderAndReceiverThrowClosed() throws {
        let (sender, receiver, _) = try Self.pair(.tcp)
        sender.close()
        sender.close()
        #expect { try sender.send(try patternArray(.uint8, [1])) } throws: { ($0 as? TransportError)?.code == .closed }
        receiver.close()
        #expect { _ = try receiver.receive(timeout: .milliseconds(10)) } throws: { ($0 as? TransportError)?.code == .closed }
    }

    @Test func receiveTimesOutWithNil() throws {
        let (sender, receiver, _) = try Self.pair(.tcp)
        defer { sender.close(); receiver.close() }
        let start = Date()
        #expect(try receiver.receive(timeout: .milliseconds(150)) == nil)
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 0.14 && elapsed < 5)
    }

    @Test func closeWakesABlockedReceiver() throws {
        let (sender, receiver, _) = try Self.pair(.tcp)
        defer { sender.close() }
        let code = outcome(of: { () -> TransportError.Code? in
            do throws(TransportError) {
                _ = try receiver.receive(timeout: nil)
                return nil
            } catch {
                return error.code
            }
        }, after: 0.1, { receiver.close() }, timeout: 30)
        #expect(code == .closed)
    }
}
