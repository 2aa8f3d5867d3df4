import ArrayQueues
@testable import ArrayTransport
import Testing

@Suite("CURVE security")
struct CurveTests {
    @Test func keysAreGeneratedAndDerived() throws {
        #expect(ZMQContext.supportsCurve)
        let keys = try CurveKeys.generate()
        #expect(keys.publicKey.utf8.count == 40 && keys.secretKey.utf8.count == 40)
        #expect(try CurveKeys(secretKey: keys.secretKey) == keys)
        #expect(!keys.description.contains(keys.secretKey))
        #expect(throws: TransportError.self) { try CurveKeys(secretKey: "short") }
    }

    @Test func encryptedRoundTrip() throws {
        let serverKeys = try CurveKeys.generate()
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(curve: .server(serverKeys)))
        defer { receiver.close() }
        let sender = try ZeroMQSender(.push, stream: "secret", connect: receiver.boundEndpoints, options: .init(
            sendTimeout: .seconds(10), heartbeatInterval: nil, curve: .client(try CurveKeys.generate(), serverPublicKey: serverKeys.publicKey)))
        defer { sender.close() }
        let array = try patternArray(.float64, [100, 100])
        try sender.send(array, meta: ["classified": true])
        let message = try #require(try receiver.receive(timeout: .seconds(10)))
        #expect(message.arrays[0].array == array)
        #expect(message.meta["classified"] == true)
    }

    @Test func wrongServerKeyOrPlainTextGetsNothingThrough() throws {
        let serverKeys = try CurveKeys.generate()
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(curve: .server(serverKeys)), logger: quietLogger)
        defer { receiver.close() }
        let impostor = try ZeroMQSender(.push, stream: "secret", connect: receiver.boundEndpoints, options: .init(
            sendTimeout: .milliseconds(300), heartbeatInterval: nil, linger: .zero,
            curve: .client(try CurveKeys.generate(), serverPublicKey: try CurveKeys.generate().publicKey)))
        let plain = try ZeroMQSender(.push, stream: "secret", connect: receiver.boundEndpoints, options: .init(
            sendTimeout: .milliseconds(300), heartbeatInterval: nil, linger: .zero))
        defer { impostor.close(); plain.close() }
        _ = try? impostor.send(try patternArray(.uint8, [1]))
        _ = try? plain.send(try patternArray(.uint8, [1]))
        #expect(try receiver.receive(timeout: .milliseconds(500)) == nil)
        #expect(receiver.statistics.received == 0)
    }

    @Test func badServerKeyIsRejected() throws {
        #expect {
            _ = try ZeroMQSender(.push, stream: "s", connect: [try Endpoint("tcp://127.0.0.1:5")], options: .init(
                curve: .client(try CurveKeys.generate(), serverPublicKey: "not-a-key")))
        } throws: { ($0 as? TransportError)?.code == .invalidArgument }
    }
}
