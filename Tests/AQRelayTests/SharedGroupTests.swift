import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Testing

/// A producer of another user next to the relay (a shared group): its queue is refused unless
/// the relay opts in with `--allow-other-owner`, then relayed frame for frame.
@Suite(.serialized, .timeLimit(.minutes(3)), .enabled(if: getuid() == 0, "needs root to produce as another user through setpriv"))
struct SharedGroupTests {
    static let asNobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    @Test("serve refuses another user's queue by default (saying how to opt in) and relays it with --allow-other-owner")
    func relayOtherUsersQueue() throws {
        let scratch = try Scratch("group")
        defer { scratch.cleanUp() }
        let source = scratch.queue("a"), target = scratch.queue("b")
        let endpoint = "tcp://127.0.0.1:\(try freeLoopbackPort())"
        let count = 40

        // The producer, as nobody, creates the queue (owning it) and fills it.
        let producer = Process()
        producer.executableURL = URL(fileURLWithPath: Self.asNobody[0])
        producer.arguments = Array(Self.asNobody.dropFirst()) + [relayExecutable.path, "demo-worker", "produce", source,
                                                                  "--capacity", "16MiB", "--size", "256", "--count", "\(count)", "--timeout", "20"]
        producer.standardOutput = FileHandle.nullDevice
        try producer.run()
        #expect(waitForExit(producer, timeout: 60) == 0)
        var status = stat()
        #expect(stat("/dev/shm/aq.\(source)", &status) == 0 && status.st_uid == 65534)

        let refusing = try scratch.start(["serve", "--queue", "\(source)=\(endpoint)", "--pattern", "pushpull", "--name", "refusing"], label: "refusing")
        #expect(refusing.waitForLog("refusing queue"), "\(refusing.errors)")
        #expect(refusing.errors.contains("65534") && refusing.errors.contains("--allow-other-owner"), "\(refusing.errors)")
        #expect(!refusing.errors.contains("relaying queue"))
        refusing.signal(SIGTERM)
        #expect(refusing.wait(timeout: 15) == 0, "\(refusing.errors)")

        let relay = try scratch.start(["serve", "--queue", "\(source)=\(endpoint)", "--pattern", "pushpull", "--name", "relay",
                                       "--allow-other-owner", "--heartbeat", "0.2"], label: "relay")
        #expect(relay.waitForLog("relaying queue"), "\(relay.errors)")
        let subscriber = try scratch.start(["subscribe", endpoint, "--queue", target, "--capacity", "16MiB", "--pattern", "pushpull",
                                            "--name", "subscriber", "--heartbeat", "0.2", "--queue-mode", "660"], label: "subscriber")
        #expect(subscriber.waitForLog("receiving"), "\(subscriber.errors)")
        let verify = try scratch.run(["demo-worker", "verify", target, "--size", "256", "--exact", "--count", "\(count)", "--timeout", "20"], timeout: 60)
        #expect(verify.status == 0, "\(verify.errors)")
        #expect(keyValues(in: verify.output)["frames"] == Double(count), "\(verify.output)")
        // The queue subscribe created admits its group.
        #expect(stat("/dev/shm/aq.\(target)", &status) == 0 && status.st_mode & 0o777 == 0o660)
        for process in [subscriber, relay] {
            process.signal(SIGTERM)
            #expect(process.wait(timeout: 15) == 0, "\(process.label): \(process.errors)")
        }
    }
}
