import AQCommandLine
import ArrayRelay
import ArrayQueues
import Dispatch
import Foundation
import Synchronization

/// On Ctrl-C, removes `queue` and exits 130 (the children get the same SIGINT from the terminal).
func removeOnInterrupt(queue: String) -> any DispatchSourceSignal {
    signal(SIGINT, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: SIGINT)
    source.setEventHandler {
        for pid in Child.running.withLock({ $0 }) { kill(pid, SIGTERM) }
        try? ArrayQueue.remove(name: queue)
        print("")
        exit(130)
    }
    source.resume()
    return source
}

/// A child process running this same executable (a hidden worker role, or `serve`), whose
/// standard output is read line by line while it runs.
final class Child: Sendable {
    private let process: Process
    private let output = Lines()
    private let reader: WorkerThread

    /// The lines read so far, shared with the reading thread.
    private final class Lines: Sendable {
        let lines = Mutex<[String]>([])
    }

    /// The children started and not yet waited for (ended on Ctrl-C).
    static let running = Mutex<Set<Int32>>([])

    /// This executable.
    static var executable: URL { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath() }

    /// Starts `aq-relay arguments…`; its standard error goes to ours.
    init(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        Self.running.withLock { _ = $0.insert(process.processIdentifier) }
        self.process = process
        let handle = output.fileHandleForReading
        let lines = self.output
        reader = WorkerThread.start(name: "aq-relay child output") {
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    lines.lines.withLock { $0.append(line) }
                }
            }
        }
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    /// The latest line starting with `prefix`.
    func lastLine(prefix: String = "") -> String? {
        output.lines.withLock { $0.last(where: { $0.hasPrefix(prefix) }) }
    }

    /// Waits (polling, bounded) for a line starting with `prefix`.
    func waitForLine(prefix: String, timeout: Duration) -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = lastLine(prefix: prefix) { return line }
            if !isRunning && reader.isFinished { return lastLine(prefix: prefix) }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }

    /// Waits for the process to exit, at most `timeout`; then kills it. Returns its status
    /// (nil if it had to be killed).
    func wait(timeout: Duration) -> Int32? {
        defer { Self.running.withLock { _ = $0.remove(process.processIdentifier) } }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        _ = reader.join(timeout: .seconds(5))
        return process.terminationStatus
    }

    /// Sends `signal` to the process.
    func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// `key=value` pairs of the last line starting with `prefix`, as numbers.
    func values(prefix: String = "frames=") -> [String: Double] {
        guard let line = lastLine(prefix: prefix) else { return [:] }
        return Self.parse(line)
    }

    static func parse(_ line: String) -> [String: Double] {
        var values: [String: Double] = [:]
        for pair in line.split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
        }
        return values
    }
}
