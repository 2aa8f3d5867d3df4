import ArrayQueues
import ArrayQueuesTestSupport
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

/// A running instance of the test helper executable (Tests/ArrayQueuesTestHelper), its output
/// collected while it runs (``ChildProcess``: every wait on it is bounded).
final class HelperProcess: Sendable {
    let child: ChildProcess

    /// The helper binary sits next to the test bundle in the build folder.
    static let executable: URL = {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appendingPathComponent("ArrayQueuesTestHelper")
    }()

    /// Starts the helper with `arguments`; with a `launcher` (such as `unshare --pid --fork`),
    /// the launcher runs it. `environment` is added to this process's environment.
    init(_ arguments: [String], launcher: [String] = [], environment: [String: String] = [:]) throws {
        if let program = launcher.first {
            child = try ChildProcess(program, launcher.dropFirst() + [Self.executable.path] + arguments, environment: environment)
        } else {
            child = try ChildProcess(Self.executable.path, arguments, environment: environment)
        }
    }

    /// The process (for its pid and how it ended).
    var process: Process { child.process }

    var isRunning: Bool { child.isRunning }

    /// Kills the helper with SIGKILL and waits for it (bounded: SIGKILL cannot be ignored).
    func kill() { child.kill() }

    /// Waits at most `timeout` seconds for the helper to end by itself; returns how it ended,
    /// or nil (after killing it) if it did not end in time.
    func waitForExit(timeout: Double) -> (reason: Process.TerminationReason, status: Int32)? {
        guard child.waitForExit(timeout: timeout) != nil else { return nil }
        return (process.terminationReason, process.terminationStatus)
    }

    /// Standard error so far (for failure messages).
    var errorOutput: String { child.errors }

    /// Waits for the helper to exit (killing it after `timeout` seconds) and returns its
    /// exit status and standard output. Records a test failure on a non-zero exit.
    func finish(timeout: Double = 120, sourceLocation: SourceLocation = #_sourceLocation) -> (status: Int32, output: String) {
        let run = child.finish(timeout: timeout)
        if run.timedOut {
            Issue.record("helper \(process.arguments ?? []) did not finish within \(timeout) s; killed", sourceLocation: sourceLocation)
        }
        if run.status != 0 {
            Issue.record("helper \(process.arguments ?? []) exited with \(run.status): \(run.errors)", sourceLocation: sourceLocation)
        }
        return (run.status, run.output)
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

/// Runs each of `roles` on a thread of its own and waits for all of them, at most `seconds`;
/// false if one was still running then.
func runOnThreads(_ roles: [@Sendable () -> Void], seconds: Int) -> Bool {
    let finished = DispatchGroup()
    for role in roles {
        finished.enter()
        Thread.detachNewThread { role(); finished.leave() }
    }
    return finished.wait(timeout: .now() + .seconds(seconds)) == .success
}

/// What a race of threads over `queue` must leave: no thread failed, every record `taken` (an
/// index each, -1 for one that arrived corrupted) arrived intact and at most once, no consumer
/// saw a producer's records out of order (`orderBreaks`), `puts` records were put, and each was
/// taken or dropped, none left.
func expectRaceOutcome(
    _ queue: ArrayQueue, taken: [Int64], puts: Int, orderBreaks: [String], failures: [String],
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    #expect(failures == [], sourceLocation: sourceLocation)
    #expect(!taken.contains(-1), "a record arrived corrupted", sourceLocation: sourceLocation)
    #expect(Set(taken).count == taken.count, "a record arrived twice", sourceLocation: sourceLocation)
    #expect(orderBreaks == [], "a consumer saw a producer's records out of order", sourceLocation: sourceLocation)
    let statistics = try queue.statistics()
    #expect(statistics.puts == UInt64(puts), sourceLocation: sourceLocation)
    #expect(UInt64(taken.count) + statistics.drops == statistics.puts,
            "taken \(taken.count) + dropped \(statistics.drops) ≠ put \(statistics.puts)", sourceLocation: sourceLocation)
    #expect(statistics.count == 0 && statistics.gets == UInt64(taken.count), sourceLocation: sourceLocation)
}

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
