@_spi(Transport) import ArrayQueues
@testable import ArrayTransport
import Foundation
import Testing

/// The endpoints the consistency tests compare.
enum EndpointKind: String, CaseIterable, CustomStringConvertible {
    case sharedMemory = "shm", tcp
    var description: String { rawValue }
}

/// "The pattern means the same on every endpoint": what a sender accepts, refuses and what a
/// receiver delivers does not depend on whether the endpoint is `shm://` or `tcp://`.
@Suite("The same message on every endpoint")
struct EndpointConsistencyTests {
    /// A push/pull sender and receiver on a fresh endpoint of `kind`, closed (and the queue
    /// removed) after `body`.
    private func withPair<R>(
        _ kind: EndpointKind, sharedMemory: SharedMemorySender.Options = .init(capacity: 1 << 20),
        zeroMQ: ZeroMQSender.Options = .init(heartbeatInterval: nil), receiver receiverOptions: ZeroMQReceiver.Options = .init(),
        _ body: (any ArraySender, any ArrayReceiver) throws -> R
    ) throws -> R {
        switch kind {
        case .sharedMemory:
            let name = "t-same-\(getpid())-\(UUID().uuidString.prefix(8))"
            defer { try? ArrayQueue.remove(name: name) }
            let endpoint = Endpoint.sharedMemory(name: name)
            let sender = try endpoint.makeSender(stream: name, sharedMemory: sharedMemory)
            let receiver = try SharedMemoryReceiver(name: name, maximumArrays: receiverOptions.maximumArrays)
            defer { sender.close(); receiver.close() }
            return try body(sender, receiver)
        case .tcp:
            let sender = try ZeroMQSender(.push, stream: "same", bind: [try loopbackWildcard()], options: zeroMQ)
            let receiver = try ZeroMQReceiver(.pull, connect: sender.boundEndpoints, options: receiverOptions)
            defer { sender.close(); receiver.close() }
            return try body(sender, receiver)
        }
    }

    @Test("a message of one named array without meta keeps the array's name", arguments: EndpointKind.allCases)
    func singleArrayKeepsItsName(kind: EndpointKind) throws {
        try withPair(kind) { sender, receiver in
            let frame = try NDArray<UInt16>(shape: [2, 3], elements: [1, 2, 3, 4, 5, 6]).erased
            try sender.send([NamedArray("frame", frame)], timestamp: Timestamp(nanosecondsSinceEpoch: 7), index: 3, meta: [:])
            let message = try #require(try receiver.receive(timeout: .seconds(10)))
            #expect(message.arrays == [NamedArray("frame", frame)])
            #expect(message.timestamp.nanosecondsSinceEpoch == 7 && message.index == 3)
            // The borrowing receive lends the same name.
            try sender.send([NamedArray("mask", frame)], timestamp: .now(), index: nil, meta: [:])
            let names = try receiver.receive(timeout: .seconds(10)) { message in message.arrays.map(\.name) }
            #expect(names == ["mask"])
            // The default name too.
            try sender.send(frame)
            #expect(try receiver.receive(timeout: .seconds(10))?.arrays.map(\.name) == [NamedArray.defaultName])
        }
    }

    @Test("a shm:// message of one array under the default name stays a plain record any ArrayQueue consumer reads")
    func defaultNameStaysPlain() throws {
        let name = "t-same-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? ArrayQueue.remove(name: name) }
        let sender = try SharedMemorySender(name: name, options: .init(capacity: 1 << 20))
        defer { sender.close() }
        let queue = try ArrayQueue.open(name: name)
        try sender.send(try NDArray<Int32>(shape: [2], elements: [4, 5]))
        #expect(try queue.get(as: Int32.self, timeout: .seconds(1)).elements == [4, 5])
        try sender.send(try NDArray<Int32>(shape: [2], elements: [6, 7]), name: "frame")
        let isEnvelope = try queue.get(timeout: .seconds(1)) { (record: borrowing BorrowedRecord) in record.isEnvelope }
        #expect(isEnvelope, "a name other than the default travels in an envelope, which carries it")
    }

    /// Non-finite numbers: given directly, nested, and as JSON text that parses to infinity
    /// (`1e999`, what the C interface and Python hand over).
    static let unwritableMeta: [[String: JSONValue]] = [
        ["bad": .number(.infinity)], ["nested": ["list": [1, .number(.nan)]]], (try? JSONValue(parsing: #"{"huge": 1e999}"#).objectValue) ?? [:],
    ]

    @Test("meta that JSON cannot carry is refused alike, with invalidArgument, before a sequence number is used", arguments: EndpointKind.allCases)
    func unwritableMetaIsRefused(kind: EndpointKind) throws {
        #expect(Self.unwritableMeta[2]["huge"] == .number(.infinity))
        try withPair(kind) { sender, receiver in
            let array = try NDArray<UInt8>(shape: [1], elements: [1]).erased
            for meta in Self.unwritableMeta {
                let error = #expect(throws: TransportError.self) {
                    try sender.send([NamedArray("a", array)], timestamp: .now(), index: nil, meta: meta)
                }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message == "meta contains a NaN or infinite number, which JSON cannot carry")
            }
            #expect(sender.statistics.nextSequence == 0 && sender.statistics.sent == 0)
            #expect(try receiver.receive(timeout: .milliseconds(100)) == nil)
        }
    }

    @Test("a sender refuses more arrays than receivers take by default, before a sequence number is used", arguments: EndpointKind.allCases)
    func arrayCountBeyondTheDefaultIsRefused(kind: EndpointKind) throws {
        try withPair(kind) { sender, receiver in
            let array = try NDArray<UInt8>(shape: [1], elements: [1]).erased
            let tooMany = (0...256).map { NamedArray("a\($0)", array) }
            let error = #expect(throws: TransportError.self) { try sender.send(tooMany, timestamp: .now(), index: nil, meta: [:]) }
            #expect(error?.code == .invalidArgument)
            #expect(sender.statistics.nextSequence == 0 && sender.statistics.sent == 0)
            try sender.send(Array(tooMany.dropLast()), timestamp: .now(), index: nil, meta: [:])
            #expect(try receiver.receive(timeout: .seconds(10))?.arrays.count == 256)
            #expect(receiver.statistics.malformed == 0)
        }
    }
}
