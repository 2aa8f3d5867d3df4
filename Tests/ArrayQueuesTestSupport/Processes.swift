public import Foundation
@preconcurrency import Glibc
import Synchronization

/// What a finished process left.
public struct ProcessRun: Sendable {
    /// Its exit status (or the signal that ended it).
    public let status: Int32
    /// Everything it wrote to standard output.
    public let output: String
    /// Everything it wrote to standard error.
    public let errors: String
    /// Whether it was killed for running past its time limit.
    public let timedOut: Bool
}

/// Runs the program at `path` with `arguments` (and `environment` added to this process's),
/// killing it after `timeout` seconds. Standard input is empty; standard output and standard
/// error are read at the same time, so a chatty program cannot block on a full pipe.
public func runProcess(_ path: String, _ arguments: [String], timeout: Double, environment: [String: String] = [:]) throws -> ProcessRun {
    try ChildProcess(path, arguments, environment: environment).finish(timeout: timeout)
}

/// Waits at most `timeout` seconds for `process` to exit; after that writes its threads' stacks
/// to standard error (``reportStacks(of:)``), stops it (SIGTERM, so that a script can clean up,
/// then SIGKILL after 2 s, which cannot be ignored) and returns nil. Otherwise returns its exit
/// status.
@discardableResult
public func waitForExit(_ process: Process, timeout: Double) -> Int32? {
    if !ended(process, within: timeout) {
        reportStacks(of: process.processIdentifier)
        kill(process.processIdentifier, SIGTERM)
        if !ended(process, within: 2) { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return nil
    }
    process.waitUntilExit()
    return process.terminationStatus
}

/// Whether `process` ended within `seconds` (looked at every `interval` seconds).
private func ended(_ process: Process, within seconds: Double, every interval: Double = 0.005) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: interval) }
    return !process.isRunning
}

/// Writes to standard error where each thread of the process `pid` waits: with `gdb`, if the
/// machine has it, every thread's backtrace (at most 60 s); otherwise each thread's name and
/// the kernel function it sleeps in. A test that kills a program for running past its time
/// limit so leaves in the log where it hung (one CI run's `abi_test` hung without a trace,
/// 2026-12-07).
public func reportStacks(of pid: Int32) {
    var report = "--- \(pid) ran past its time limit; its threads:\n"
    let gdb = "/usr/bin/gdb"
    if FileManager.default.isExecutableFile(atPath: gdb) {
        // Into a file: a pipe nobody reads while it runs could fill and stop it.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("aq-stacks-\(pid)-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: file) }
        let debugger = Process()
        debugger.executableURL = URL(fileURLWithPath: gdb)
        debugger.arguments = ["-p", "\(pid)", "-batch", "-nx", "-ex", "thread apply all bt 30"]
        if FileManager.default.createFile(atPath: file.path, contents: nil), let sink = try? FileHandle(forWritingTo: file) {
            debugger.standardOutput = sink
            debugger.standardError = sink
            if (try? debugger.run()) != nil, !ended(debugger, within: 60, every: 0.05) {
                debugger.terminate()
                report += "(gdb did not finish within 60 s)\n"
            }
            try? sink.close()
            report += (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        }
    } else {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for task in tasks.sorted() {
            func read(_ file: String) -> String {
                ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/\(file)", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
            }
            report += "thread \(task) \(read("comm")): waits in \(read("wchan"))\n"
        }
    }
    FileHandle.standardError.write(Data((report + "---\n").utf8))
}

/// A running child process whose output is collected while it runs: standard output also by
/// lines, for tests that wait for what it prints. Every wait on it has a bound, including the
/// reading of its pipes after it exits (a grandchild may hold them open).
public final class ChildProcess: @unchecked Sendable {
    // Safety: the collected output lives in a Mutex; the Process and the pipes are set up in
    // init and then only used through their thread-safe calls (isRunning, write, kill).

    /// The process (for its pid and termination reason; wait with the methods here).
    public let process = Process()
    private let input = Pipe()
    private let outputPipe = Pipe()
    private let errorPipe = Pipe()
    private let collected = Collector()

    fileprivate struct Collected {
        var output = Data()
        var errors = Data()
        /// Complete lines that `nextLine` has returned.
        var linesRead = 0
        /// Pipes read to their end (0, 1 or 2).
        var pipesClosed = 0
    }

    /// What the reader threads collected, shared with them.
    private final class Collector: Sendable {
        let state = Mutex(Collected())
    }

    /// How long the pipes may stay open after the process ended.
    private static let pipeGraceSeconds = 5.0

    /// Starts the program at `path` with `arguments`; `environment` is added to this process's
    /// environment, the variables in `unsetting` are removed from it.
    public init(_ path: String, _ arguments: [String], environment: [String: String] = [:], unsetting: Set<String> = []) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if !environment.isEmpty || !unsetting.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.filter { !unsetting.contains($0.key) }
        }
        process.standardInput = input
        process.standardOutput = outputPipe
        process.standardError = errorPipe
        try process.run()
        Self.collect(outputPipe.fileHandleForReading, into: collected, output: true)
        Self.collect(errorPipe.fileHandleForReading, into: collected, output: false)
    }

    /// Reads `handle` to its end on a thread of its own (which keeps `collected` alive).
    private static func collect(_ handle: FileHandle, into collected: Collector, output: Bool) {
        Thread {
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                collected.state.withLock { output ? $0.output.append(data) : $0.errors.append(data) }
            }
            collected.state.withLock { $0.pipesClosed += 1 }
        }.start()
    }

    /// Waits at most `seconds` until both pipes are read to their end (they close when the
    /// process and any child that inherited them have exited); returns whether they were.
    @discardableResult
    private func drainPipes(within seconds: Double) -> Bool {
        eventually(within: seconds, every: 0.002) { collected.state.withLock { $0.pipesClosed == 2 } }
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// Whether the process is still running.
    public var isRunning: Bool { process.isRunning }

    /// Standard output so far.
    public var output: String { collected.state.withLock { String(decoding: $0.output, as: UTF8.self) } }

    /// Standard error so far.
    public var errors: String { collected.state.withLock { String(decoding: $0.errors, as: UTF8.self) } }

    /// The complete lines of standard output so far.
    public var lines: [String] {
        collected.state.withLock { Self.completeLines($0.output) }
    }

    private static func completeLines(_ data: Data) -> [String] {
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()  // the text after the last newline (empty if it ends with one)
        return lines
    }

    /// Whether an output line starting with `prefix` has appeared.
    public func hasLine(prefix: String) -> Bool {
        lines.contains { $0.hasPrefix(prefix) }
    }

    /// The first output line starting with `prefix`, waiting at most `seconds` (less if the
    /// process ends without printing it).
    public func waitForLine(prefix: String, within seconds: Double = 30) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let running = isRunning
            if let line = lines.first(where: { $0.hasPrefix(prefix) }) { return line }
            // Once it has ended, let the reader catch up with what it wrote last.
            if !running {
                drainPipes(within: 1)
                return lines.first(where: { $0.hasPrefix(prefix) })
            }
            guard Date() < deadline else { return nil }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// The next output line not returned before, waiting at most `seconds`.
    public func nextLine(within seconds: Double) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let line: String? = collected.state.withLock { state in
                let lines = Self.completeLines(state.output)
                guard state.linesRead < lines.count else { return nil }
                state.linesRead += 1
                return lines[state.linesRead - 1]
            }
            if let line { return line }
            guard Date() < deadline, isRunning else { return nil }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Writes one line to the process's standard input.
    public func writeLine(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Sends `signal` if the process still runs.
    public func signal(_ signal: Int32) {
        if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
    }

    /// Kills the process with SIGKILL and waits for it (bounded: SIGKILL cannot be ignored),
    /// and at most 5 s for the rest of its output.
    public func kill() {
        signal(SIGKILL)
        process.waitUntilExit()
        drainPipes(within: Self.pipeGraceSeconds)
    }

    /// Waits at most `timeout` seconds for the process to end by itself; returns its status, or
    /// nil (after killing it) if it did not end in time. Either way, what it wrote is collected
    /// (waiting at most 5 s more for its pipes) when this returns.
    @discardableResult
    public func waitForExit(timeout: Double) -> Int32? {
        let status = ArrayQueuesTestSupport.waitForExit(process, timeout: timeout)
        drainPipes(within: Self.pipeGraceSeconds)
        return status
    }

    /// Closes standard input, waits at most `timeout` seconds for the process to end (killing it
    /// after that) and returns all it wrote.
    public func finish(timeout: Double = 60) -> ProcessRun {
        try? input.fileHandleForWriting.close()
        let status = waitForExit(timeout: timeout)
        return collected.state.withLock {
            ProcessRun(status: status ?? process.terminationStatus, output: String(decoding: $0.output, as: UTF8.self),
                       errors: String(decoding: $0.errors, as: UTF8.self), timedOut: status == nil)
        }
    }

    deinit {
        if process.isRunning { kill() }
    }
}
