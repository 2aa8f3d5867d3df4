import ArrayQueuesTestSupport
import Foundation
import Testing

/// deploy/two-hosts.sh: two network namespaces with private /dev/shm, joined by a veth pair.
/// Runs only as root where `ip netns` works (CI runs it when it is root).
@Suite(.timeLimit(.minutes(10)))
struct TwoHostsTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/two-hosts.sh").path

    static var available: Bool {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: script) else { return false }
        let probe = "command -v ip >/dev/null && command -v unshare >/dev/null && ip netns list >/dev/null 2>&1"
        return (try? runProcess("/bin/sh", ["-c", probe], timeout: 10).status) == 0
    }

    @Test("producer + relay on host A, Swift and Python subscribers on host B: every array arrives bit-exact", .enabled(if: available))
    func twoHosts() throws {
        let run = try runProcess(Self.script, [], timeout: 400, environment: ["AQ_RELAY": relayExecutable.path])
        let text = run.output + run.errors
        #expect(run.status == 0 && !run.timedOut, "\(text)")
        #expect(text.contains("two-hosts: PASS"), "\(text)")
    }
}
