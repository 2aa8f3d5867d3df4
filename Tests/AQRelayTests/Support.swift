import ArrayQueues
import ArrayQueuesTestSupport
import Foundation
import Testing

/// The built `aq-relay`, next to the test bundle.
let relayExecutable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    .deletingLastPathComponent().appendingPathComponent("aq-relay")

/// A scratch directory (control sockets, logs, configuration files), removed by `cleanUp()`,
/// and unique queue names, removed too.
final class Scratch {
    let directory: URL
    private var queues: [String] = []
    private var processes: [Spawned] = []

    init(_ label: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("aqr-\(label)-\(getpid())-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// A queue name unique to this test run.
    func queue(_ label: String) -> String {
        let name = "t-relay-\(getpid())-\(label)-\(UUID().uuidString.prefix(4))"
        queues.append(name)
        return name
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Writes a file into the scratch directory and returns its path.
    func write(_ name: String, _ text: String) throws -> String {
        let path = path(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Starts `aq-relay arguments…` with its control sockets in the scratch directory.
    func start(_ arguments: [String], label: String) throws -> Spawned {
        let process = try Spawned(arguments, scratch: self, label: label)
        processes.append(process)
        return process
    }

    /// Runs `aq-relay arguments…` to the end (at most `timeout` seconds).
    func run(_ arguments: [String], timeout: Double = 60) throws -> (status: Int32?, output: String, errors: String) {
        let process = try start(arguments, label: "run-\(processes.count)")
        let status = process.wait(timeout: timeout)
        return (status, process.output, process.errors)
    }

    /// Asks a relay's control socket for its metrics and returns the value of `metric` (summed
    /// over its labels), or nil if it did not answer.
    func metric(_ metric: String, instance: String) throws -> Double? {
        let result = try run(["stats", instance, "--timeout", "2"], timeout: 10)
        guard result.status == 0 else { return nil }
        var sum: Double?
        for line in result.output.split(separator: "\n") where line.hasPrefix(metric + "{") || line.hasPrefix(metric + " ") {
            sum = (sum ?? 0) + (Double(line.split(separator: " ").last ?? "") ?? 0)
        }
        return sum
    }

    func cleanUp() {
        for process in processes where process.isRunning {
            process.signal(SIGKILL)
            _ = process.wait(timeout: 5)
        }
        for queue in queues { try? ArrayQueue.remove(name: queue) }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A running `aq-relay` process, with its control sockets in the scratch directory; its output
/// is collected while it runs (``ChildProcess``), so a full pipe never stalls it.
final class Spawned {
    let child: ChildProcess
    let label: String

    init(_ arguments: [String], scratch: Scratch, label: String) throws {
        self.label = label
        child = try ChildProcess(relayExecutable.path, arguments, environment: ["XDG_RUNTIME_DIR": scratch.directory.path], unsetting: ["RUNTIME_DIRECTORY"])
    }

    var process: Process { child.process }
    var isRunning: Bool { child.isRunning }
    var output: String { child.output }
    var errors: String { child.errors }

    func signal(_ signal: Int32) { child.signal(signal) }

    /// Waits at most `timeout` seconds for the exit; kills the process after that and returns nil.
    func wait(timeout: Double) -> Int32? { child.waitForExit(timeout: timeout) }

    /// Waits until the error output (the log) contains `text`, at most `timeout` seconds.
    func waitForLog(_ text: String, timeout: Double = 20) -> Bool {
        eventually(within: timeout) { errors.contains(text) }
    }

    /// `key=value` pairs of the last output line that has them.
    var values: [String: Double] { keyValues(in: output) }
}

/// The numeric `key=value` pairs of the last line of `output` that reports `frames=`.
func keyValues(in output: String) -> [String: Double] {
    guard let line = output.split(separator: "\n").last(where: { $0.contains("frames=") }) else { return [:] }
    var values: [String: Double] = [:]
    for pair in line.split(separator: " ") {
        let parts = pair.split(separator: "=", maxSplits: 1)
        if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
    }
    return values
}
