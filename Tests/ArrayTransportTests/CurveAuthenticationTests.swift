import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Logging
import Synchronization
import Testing

/// Log records kept in memory, to check what a component logs.
final class CapturedLog: Sendable {
    private let records = Mutex<[(Logger.Level, String)]>([])

    var logger: Logger {
        Logger(label: "captured") { _ in Handler(log: self) }
    }

    func messages(atLeast level: Logger.Level) -> [String] {
        records.withLock { $0.filter { $0.0 >= level }.map(\.1) }
    }

    fileprivate func append(_ level: Logger.Level, _ message: String) {
        records.withLock { $0.append((level, message)) }
    }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { log.append(event.level, event.message.description) }
    }
}

/// A private directory for key files, removed by the caller.
func makeKeyDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aq-keys-\(getpid())-\(UInt32.random(in: 0 ... .max))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    return directory
}

@Suite("CURVE authentication: allow-lists, key files, plaintext warnings", .timeLimit(.minutes(2)))
struct CurveAuthenticationTests {
    /// A CURVE publisher with an allow-list, and a subscriber with the given key pair.
    private func subscriber(_ keys: CurveKeys, of sender: ZeroMQSender, serverKey: String) throws -> ZeroMQReceiver {
        try ZeroMQReceiver(.subscribeAll, connect: sender.boundEndpoints, options: .init(
            curve: .client(keys, serverPublicKey: serverKey), fastPath: .disabled), logger: quietLogger)
    }

    @Test("a client with a random key pair and the server's public key receives nothing unless its key is on the allow-list; refusals are counted and logged")
    func allowListDecidesWhoReceives() throws {
        let serverKeys = try CurveKeys.generate()
        let friendKeys = try CurveKeys.generate()
        let strangerKeys = try CurveKeys.generate()
        let clients = try CurveAllowList(publicKeys: [friendKeys.publicKey])
        let log = CapturedLog()
        let sender = try ZeroMQSender(.publish, stream: "guarded", bind: [try loopbackWildcard()], options: .init(
            heartbeatInterval: .milliseconds(50), linger: .zero, curve: .server(serverKeys), fastPath: .disabled, curveAllowList: clients),
            logger: log.logger)
        defer { sender.close() }
        let friend = try subscriber(friendKeys, of: sender, serverKey: serverKeys.publicKey)
        let stranger = try subscriber(strangerKeys, of: sender, serverKey: serverKeys.publicKey)
        defer { friend.close(); stranger.close() }

        let array = try patternArray(.uint8, [32])
        #expect(eventually(within: 10) {
            _ = try? sender.send(array)
            return ((try? friend.receive(timeout: .milliseconds(20))) ?? nil) != nil
        })
        for _ in 0..<20 {
            _ = try sender.send(array)
            #expect(try stranger.receiveEvent(timeout: .milliseconds(10)) == nil)
        }
        #expect(stranger.statistics.received == 0 && stranger.statistics.heartbeats == 0)
        #expect(clients.deniedCount > 0)
        #expect(clients.acceptedCount > 0)
        #expect(log.messages(atLeast: .warning).contains { $0.contains(strangerKeys.publicKey) && $0.contains("not on the allow-list") })

        // Put on the list, the stranger's next connection is accepted (libzmq does not retry a
        // refused handshake by itself: the client connects again).
        try clients.replace(with: [friendKeys.publicKey, strangerKeys.publicKey])
        let admitted = try subscriber(strangerKeys, of: sender, serverKey: serverKeys.publicKey)
        defer { admitted.close() }
        #expect(eventually(within: 10) {
            _ = try? sender.send(array)
            return ((try? admitted.receive(timeout: .milliseconds(20))) ?? nil) != nil
        })
    }

    @Test("a CURVE pusher is refused by a pulling server whose allow-list lacks its key, and admitted from a key file once listed")
    func allowListFromFilesOnAReceiver() throws {
        let directory = try makeKeyDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let serverKeys = try CurveKeys.generate()
        let clientKeys = try CurveKeys.generate()
        let other = try CurveKeys.generate()
        try "# only the other key\n\(other.publicKey)\n".write(to: directory.appendingPathComponent("other.key"), atomically: true, encoding: .utf8)
        let clients = try CurveAllowList(contentsOf: directory.path)
        #expect(clients.count == 1)
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(
            curve: .server(serverKeys), curveAllowList: clients), logger: quietLogger)
        defer { receiver.close() }
        let sender = try ZeroMQSender(.push, stream: "guarded", connect: receiver.boundEndpoints, options: .init(
            sendTimeout: .milliseconds(200), heartbeatInterval: nil, linger: .zero, curve: .client(clientKeys, serverPublicKey: serverKeys.publicKey)),
            logger: quietLogger)
        defer { sender.close() }
        _ = try? sender.send(try patternArray(.uint8, [8]))
        #expect(try receiver.receive(timeout: .milliseconds(500)) == nil)
        #expect(eventually(within: 5) { clients.deniedCount > 0 })

        // A certificate as ZeroMQ writes it, added to the directory and reloaded.
        let certificate = "#   ****  Generated by a test  ****\nmetadata\ncurve\n    public-key = \"\(clientKeys.publicKey)\"\n"
        try certificate.write(to: directory.appendingPathComponent("client.key"), atomically: true, encoding: .utf8)
        #expect(try clients.reload() == 2)
        #expect(clients.allows(clientKeys.publicKey))
        let listed = try ZeroMQSender(.push, stream: "guarded", connect: receiver.boundEndpoints, options: .init(
            sendTimeout: .seconds(10), heartbeatInterval: nil, linger: .zero, curve: .client(clientKeys, serverPublicKey: serverKeys.publicKey)),
            logger: quietLogger)
        defer { listed.close() }
        try listed.send(try patternArray(.uint8, [8]))
        #expect(try receiver.receive(timeout: .seconds(10)) != nil)
    }

    @Test("key files: bad keys are reported with file and line; a reload that fails keeps the old keys")
    func allowListFileErrors() throws {
        let directory = try makeKeyDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("clients")
        let key = try CurveKeys.generate().publicKey
        try "\(key)\n".write(to: file, atomically: true, encoding: .utf8)
        let clients = try CurveAllowList(contentsOf: file.path)
        #expect(clients.allows(key))
        try "\(key)\npublic-key = \"too-short\"\n".write(to: file, atomically: true, encoding: .utf8)
        #expect {
            try clients.reload()
        } throws: { error in
            let error = error as? TransportError
            return error?.code == .invalidArgument && error?.message.contains("line 2") == true
        }
        #expect(clients.allows(key) && clients.count == 1)
        #expect(throws: TransportError.self) { try CurveAllowList(contentsOf: directory.appendingPathComponent("missing").path) }
        #expect(throws: TransportError.self) { try CurveAllowList(publicKeys: ["not a key"]) }
    }

    @Test("an allow-list without CURVE server security is an argument error")
    func allowListNeedsServer() throws {
        let clients = try CurveAllowList(publicKeys: [])
        #expect {
            _ = try ZeroMQSender(.publish, stream: "s", bind: [try loopbackWildcard()], options: .init(curveAllowList: clients), logger: quietLogger)
        } throws: { ($0 as? TransportError)?.code == .invalidArgument }
        #expect {
            _ = try ZeroMQReceiver(.pull, connect: [try Endpoint("tcp://127.0.0.1:5")], options: .init(
                curve: .client(try CurveKeys.generate(), serverPublicKey: try CurveKeys.generate().publicKey), curveAllowList: clients), logger: quietLogger)
        } throws: { ($0 as? TransportError)?.code == .invalidArgument }
    }

    @Test("a secret key file readable by group or others is refused, like ssh does; a private one is read", arguments: [0o644, 0o640, 0o604, 0o660])
    func secretKeyFilePermissions(mode: Int) throws {
        let directory = try makeKeyDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keys = try CurveKeys.generate()
        let file = directory.appendingPathComponent("secret.key")
        try "\(keys.secretKey)\n".write(to: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file.path)
        #expect {
            _ = try CurveKeys(secretKeyFile: file.path)
        } throws: { error in
            let error = error as? TransportError
            return error?.code == .invalidArgument && error?.message.contains("chmod 600") == true
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        #expect(try CurveKeys(secretKeyFile: file.path) == keys)
        try "# a certificate\nmetadata\ncurve\n    public-key = \"\(keys.publicKey)\"\n    secret-key = \"\(keys.secretKey)\"\n"
            .write(to: file, atomically: false, encoding: .utf8)
        #expect(try CurveKeys(secretKeyFile: file.path) == keys)
    }

    @Test("binding a non-loopback tcp address without CURVE logs a warning; loopback, ipc and CURVE binds do not")
    func plaintextExposureWarning() throws {
        #expect(try Endpoint("tcp://*:5555").isReachableFromOtherHosts)
        #expect(try Endpoint("tcp://0.0.0.0:5555").isReachableFromOtherHosts)
        #expect(try Endpoint("tcp://192.168.1.4:5555").isReachableFromOtherHosts)
        #expect(try !Endpoint("tcp://127.0.0.1:5555").isReachableFromOtherHosts)
        #expect(try !Endpoint("tcp://localhost:5555").isReachableFromOtherHosts)
        #expect(try !Endpoint("ipc:///tmp/x.sock").isReachableFromOtherHosts)

        let exposed = CapturedLog()
        let sender = try ZeroMQSender(.publish, stream: "open", bind: [try Endpoint("tcp://*:*")], options: .init(heartbeatInterval: nil, linger: .zero, fastPath: .disabled), logger: exposed.logger)
        sender.close()
        #expect(exposed.messages(atLeast: .warning).contains { $0.contains("without CURVE") })

        let quiet = CapturedLog()
        let local = try ZeroMQSender(.publish, stream: "open", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: nil, linger: .zero, fastPath: .disabled), logger: quiet.logger)
        local.close()
        let encrypted = try ZeroMQReceiver(.pull, bind: [try Endpoint("tcp://*:*")], options: .init(curve: .server(try CurveKeys.generate())), logger: quiet.logger)
        encrypted.close()
        #expect(quiet.messages(atLeast: .warning).isEmpty)
    }
}
