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
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/bin/sh")
        probe.arguments = ["-c", "command -v ip >/dev/null && command -v unshare >/dev/null && ip netns list >/dev/null 2>&1"]
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }

    @Test("producer + relay on host A, Swift and Python subscribers on host B: every array arrives bit-exact", .enabled(if: available))
    func twoHosts() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.script)
        var environment = ProcessInfo.processInfo.environment
        environment["AQ_RELAY"] = relayExecutable.path
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let killer = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 400, execute: killer)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        killer.cancel()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("two-hosts: PASS"), "\(text)")
    }
}
