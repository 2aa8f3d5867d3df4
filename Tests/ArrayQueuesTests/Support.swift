import ArrayQueues
import Foundation
import Glibc
import Testing

/// A queue name no other test uses.
func uniqueQueueName(_ label: String = "test") -> String {
    "t-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))"
}

/// Creates a queue for one test and removes it afterwards.
func withQueue<R>(
    capacity: Int = 1 << 20, creating: CreateOptions = CreateOptions(), options: QueueOptions = QueueOptions(),
    label: String = #function, _ body: (ArrayQueue) throws -> R
) throws -> R {
    let name = uniqueQueueName(String(label.prefix(while: { $0 != "(" })))
    let queue = try ArrayQueue.create(name: name, capacity: capacity, creating: creating, options: options)
    defer { try? ArrayQueue.remove(name: name) }
    return try body(queue)
}

/// A running instance of the test helper executable (Tests/ArrayQueuesTestHelper).
final class HelperProcess: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let errors = Pipe()

    /// The helper binary sits next to the test bundle in the build folder.
    static let executable: URL = {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appendingPathComponent("ArrayQueuesTestHelper")
    }()

    /// Starts the helper with `arguments`; with a `launcher` (such as `unshare --pid --fork`),
    /// the launcher runs it. `environment` is added to this process's environment.
    init(_ arguments: [String], launcher: [String] = [], environment: [String: String] = [:]) throws {
        if let program = launcher.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = launcher.dropFirst() + [Self.executable.path] + arguments
        } else {
            process.executableURL = Self.executable
            process.arguments = arguments
        }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    /// Kills the helper with SIGKILL and waits for it (bounded: SIGKILL cannot be ignored).
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        _ = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
    }

    /// Waits at most `timeout` seconds for the helper to end by itself; returns how it ended,
    /// or nil (after killing it) if it did not end in time.
    func waitForExit(timeout: Double) -> (reason: Process.TerminationReason, status: Int32)? {
        let done = DispatchSemaphore(value: 0)
        let output = self.output
        DispatchQueue.global().async {
            _ = output.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout) == .success else {
            kill()
            return nil
        }
        process.waitUntilExit()
        return (process.terminationReason, process.terminationStatus)
    }

    /// Standard error so far (for failure messages; call after the helper ended).
    var errorOutput: String {
        String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
    }

    /// Waits for the helper to exit (killing it after `timeout` seconds) and returns its
    /// exit status and standard output. Records a test failure on a non-zero exit.
    func finish(timeout: Double = 120, sourceLocation: SourceLocation = #_sourceLocation) -> (status: Int32, output: String) {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var data = Data()
        nonisolated(unsafe) var errorData = Data()
        let output = self.output, errors = self.errors
        DispatchQueue.global().async {
            errorData = errors.fileHandleForReading.readDataToEndOfFile()
        }
        DispatchQueue.global().async {
            data = output.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
        if done.wait(timeout: .now() + timeout) == .timedOut {
            Glibc.kill(process.processIdentifier, SIGKILL)
            Issue.record("helper \(process.arguments ?? []) did not finish within \(timeout) s; killed", sourceLocation: sourceLocation)
            done.wait()
        }
        process.waitUntilExit()
        let status = process.terminationStatus
        if status != 0 {
            Issue.record("helper \(process.arguments ?? []) exited with \(status): \(String(decoding: errorData, as: UTF8.self))", sourceLocation: sourceLocation)
        }
        return (status, String(decoding: data, as: UTF8.self))
    }
}

/// One line of the helper's `consume` output.
struct ConsumedRecord: Hashable {
    let index: Int64
    let sequence: UInt64
    let timestamp: Int64
    let typestr: String
    let shape: String

    var producer: Int { Int(index >> 32) }
    var counter: Int { Int(index & 0xFFFF_FFFF) }

    static func parse(_ output: String) -> [ConsumedRecord] {
        output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 5, let index = Int64(fields[0]), let sequence = UInt64(fields[1]), let timestamp = Int64(fields[2]) else {
                return nil
            }
            return ConsumedRecord(index: index, sequence: sequence, timestamp: timestamp, typestr: String(fields[3]), shape: String(fields[4]))
        }
    }
}

/// A value guarded by an `NSLock` (which Thread Sanitizer understands, unlike futex-based locks).
final class Locked<Value> {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

// Safe to share: every access to `value` happens inside `withLock`, under `lock`.
extension Locked: @unchecked Sendable {}

/// Reads the kill tortures' consumer logs (one delivered index per line, or `CORRUPT`) in
/// `directory` and checks them: no corrupted record, each producer's records in order at each
/// consumer, and none delivered twice. Returns every delivered index; `label` starts each message.
func verifiedTortureDeliveries(in directory: URL, label: String) throws -> [Int64] {
    var delivered: [Int64] = []
    for log in try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil) {
        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        #expect(!lines.contains("CORRUPT"), "\(label)\(log.lastPathComponent) received a corrupted record")
        let indices = lines.compactMap { Int64($0) }
        // A consumer sees each producer's records in the order they were put.
        for producer in Set(indices.map { $0 >> 32 }) {
            let counters = indices.filter { $0 >> 32 == producer }
            #expect(counters == counters.sorted(), "\(label)\(log.lastPathComponent): producer \(producer) out of order")
        }
        delivered += indices
    }
    #expect(Set(delivered).count == delivered.count, "\(label)\(delivered.count - Set(delivered).count) records were delivered twice")
    return delivered
}
