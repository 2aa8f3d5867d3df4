import ArrayQueues
import ArrayQueuesTestSupport
import ArrayTransport
import Foundation
import Testing

/// An `aq-relay` process started the way the test says: without a runtime directory in its
/// environment, as another user (`setpriv`), or in a mount namespace of its own (`unshare`).
final class OwnProcess {
    let child: ChildProcess

    /// Runs `command` (the relay's path is `relayExecutable.path`) with `XDG_RUNTIME_DIR` and
    /// `RUNTIME_DIRECTORY` removed from the environment.
    init(_ command: [String], scratch: Scratch, label: String) throws {
        child = try ChildProcess(command[0], Array(command.dropFirst()), unsetting: ["XDG_RUNTIME_DIR", "RUNTIME_DIRECTORY"])
    }

    var process: Process { child.process }
    var errors: String { child.errors }

    func signal(_ signal: Int32) { child.signal(signal) }

    /// Waits at most `timeout` seconds; kills the process after that and returns nil.
    func wait(timeout: Double) -> Int32? { child.waitForExit(timeout: timeout) }
}

let canRunAsAnotherUser = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
let canUnshareMounts: Bool = {
    guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
    return (try? runProcess("/usr/bin/unshare", ["--mount", "sh", "-c", "mount -t tmpfs tmpfs /tmp"], timeout: 10).status) == 0
}()

@Suite("aq-relay against hostile users: CURVE allow-lists, key files, the control socket", .serialized, .timeLimit(.minutes(3)))
struct RelaySecurityTests {
    /// Writes `text` into a file of the scratch directory readable by its owner only.
    private func writePrivate(_ scratch: Scratch, _ name: String, _ text: String) throws -> String {
        let path = try scratch.write(name, text)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        return path
    }

    @Test("a subscriber whose key is not on the relay's allow-list gets nothing and is logged; after SIGHUP reloads the list, it gets every frame",
          .enabled(if: ZMQContext.supportsCurve))
    func allowListAndReload() throws {
        let scratch = try Scratch("allow")
        defer { scratch.cleanUp() }
        let serverKeys = try CurveKeys.generate()
        let subscriberKeys = try CurveKeys.generate()
        let serverFile = try writePrivate(scratch, "server.key", serverKeys.secretKey + "\n")
        let subscriberFile = try writePrivate(scratch, "subscriber.key", subscriberKeys.secretKey + "\n")
        let clients = scratch.path("clients")
        try FileManager.default.createDirectory(atPath: clients, withIntermediateDirectories: false)
        try (try CurveKeys.generate().publicKey + "\n").write(toFile: clients + "/someone-else", atomically: true, encoding: .utf8)

        var pair = try RelayTests.Pair(scratch, pattern: "pubsub")
        try pair.startRelay(["--curve-secret-key-file", serverFile, "--curve-allowed-clients", clients])
        try pair.startSubscriber(["--curve-server-key=\(serverKeys.publicKey)", "--curve-secret-key-file", subscriberFile])
        let relay = try #require(pair.relay)
        #expect(relay.waitForLog("not on the allow-list"), "\(relay.errors)")
        #expect(try !eventually(within: 2) { (try scratch.metric("aq_relay_heartbeats_total", instance: "subscriber") ?? 0) > 0 },
                "a subscriber that is not on the allow-list heard the relay")

        try (subscriberKeys.publicKey + "\n").write(toFile: clients + "/subscriber", atomically: true, encoding: .utf8)
        relay.signal(SIGHUP)
        #expect(relay.waitForLog("reloaded the CURVE allow-list"), "\(relay.errors)")
        // libzmq does not retry a refused handshake: the subscriber connects again.
        pair.stop(pair.subscriber)
        try pair.startSubscriber(["--curve-server-key=\(serverKeys.publicKey)", "--curve-secret-key-file", subscriberFile])
        try pair.awaitConnection()
        _ = try pair.produce(count: 20)
        let received = try pair.verify(count: 20)
        #expect(received["frames"] == 20 && received["bad"] == 0, "\(received)")
        pair.stop(pair.relay)
        pair.stop(pair.subscriber)
    }

    @Test("a secret key file that group or others may read is refused by --check, with exit status 2", .enabled(if: ZMQContext.supportsCurve))
    func tooOpenKeyFile() throws {
        let scratch = try Scratch("keymode")
        defer { scratch.cleanUp() }
        let keys = try CurveKeys.generate()
        let file = try scratch.write("server.key", keys.secretKey + "\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        for arguments in [["serve", "--queue", "q=tcp://127.0.0.1:5555", "--curve-secret-key-file", file, "--check"],
                          ["subscribe", "tcp://127.0.0.1:5555", "--queue", "q", "--curve-server-key=\(keys.publicKey)", "--curve-secret-key-file", file, "--check"]] {
            let result = try scratch.run(arguments, timeout: 20)
            #expect(result.status == 2 && result.errors.contains("chmod 600"), "\(result.errors)")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        let fine = try scratch.run(["serve", "--queue", "q=tcp://127.0.0.1:5555", "--curve-secret-key-file", file, "--check"], timeout: 20)
        #expect(fine.status == 0, "\(fine.errors)")
    }

    @Test("without a runtime directory, another user's socket that answers the ping at /tmp/aq-relay-NAME.sock does not stop the relay",
          .enabled(if: canRunAsAnotherUser))
    func controlSocketSquatter() throws {
        let scratch = try Scratch("squat")
        defer { scratch.cleanUp() }
        let name = "squat-\(getpid())-\(UInt16.random(in: 0 ... .max))"
        let squatQueue = scratch.queue("squatter")
        defer { try? ArrayQueue.remove(name: squatQueue) }
        let squatSocket = "/tmp/aq-relay-\(name).sock"
        // The squatter: another user's relay answering the ping where the old default put the socket.
        let squatter = try OwnProcess(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", relayExecutable.path, "serve",
                                       "--queue", "\(squatQueue)=tcp://127.0.0.1:\(try freeLoopbackPort())", "--create-capacity", "1MiB", "--fast-path", "disabled",
                                       "--name", name, "--control", "ipc://\(squatSocket)"], scratch: scratch, label: "squatter")
        defer { squatter.signal(SIGTERM); _ = squatter.wait(timeout: 10) }
        #expect(eventually(within: 20) { squatter.errors.contains("running") }, "\(squatter.errors)")

        let queue = scratch.queue("real")
        let relay = try OwnProcess([relayExecutable.path, "serve", "--queue", "\(queue)=tcp://127.0.0.1:\(try freeLoopbackPort())", "--create-capacity", "1MiB",
                                    "--fast-path", "disabled", "--name", name], scratch: scratch, label: "relay")
        let privateSocket = "/tmp/aq-relay-\(getuid())/aq-relay-\(name).sock"
        #expect(eventually(within: 20) { relay.errors.contains(privateSocket) || !relay.process.isRunning }, "\(relay.errors)")
        #expect(relay.process.isRunning, "the relay did not start: \(relay.errors)")
        #expect(relay.errors.contains(privateSocket), "\(relay.errors)")
        let stats = try scratch.run(["stats", "--control", "ipc:///tmp/aq-relay-\(getuid())/aq-relay-\(name).sock", "--timeout", "2"], timeout: 10)
        #expect(stats.status == 0, "\(stats.errors)")
        relay.signal(SIGTERM)
        #expect(relay.wait(timeout: 15) == 0, "\(relay.errors)")

        // Told to use the shared /tmp explicitly, the relay does not trust or remove another user's socket.
        let told = try OwnProcess([relayExecutable.path, "serve", "--queue", "\(queue)=tcp://127.0.0.1:\(try freeLoopbackPort())", "--fast-path", "disabled",
                                   "--name", name, "--control", "ipc://\(squatSocket)"], scratch: scratch, label: "told")
        #expect(told.wait(timeout: 20) == 1)
        #expect(told.errors.contains("belongs to user 65534"), "\(told.errors)")
        #expect(FileManager.default.fileExists(atPath: squatSocket))
    }

    @Test("a private control directory made by another user is refused with a clear error", .enabled(if: canUnshareMounts))
    func squattedPrivateDirectory() throws {
        let scratch = try Scratch("squatdir")
        defer { scratch.cleanUp() }
        let queue = scratch.queue("q")
        // A private /tmp (mount namespace) where another user made /tmp/aq-relay-UID first.
        let script = "mount -t tmpfs tmpfs /tmp && mkdir -m 0777 /tmp/aq-relay-$(id -u) && chown 65534:65534 /tmp/aq-relay-$(id -u) && exec \"$0\" \"$@\""
        let relay = try OwnProcess(["/usr/bin/unshare", "--mount", "sh", "-c", script, relayExecutable.path, "serve",
                                    "--queue", "\(queue)=tcp://127.0.0.1:\(try freeLoopbackPort())", "--create-capacity", "1MiB", "--fast-path", "disabled",
                                    "--name", "dir"], scratch: scratch, label: "relay")
        #expect(relay.wait(timeout: 20) == 1, "\(relay.errors)")
        #expect(relay.errors.contains("is not a private directory of this user"), "\(relay.errors)")
    }
}
