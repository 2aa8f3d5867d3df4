import ArrayQueues
@testable import ArrayTransport
import Foundation
import Logging
import Testing
import Synchronization

// MARK: - Endpoints

/// Loopback TCP with a port the system picks when binding.
func loopbackWildcard() throws -> Endpoint {
    try Endpoint("tcp://127.0.0.1:*")
}

/// A fresh `ipc://` endpoint under the temporary directory (removed by `removeIPC`).
func temporaryIPC(_ label: String = "t") throws -> Endpoint {
    try Endpoint("ipc:///tmp/aqt-\(label)-\(getpid())-\(UUID().uuidString.prefix(8)).sock")
}

func removeIPC(_ endpoint: Endpoint) {
    if case let .ipc(path) = endpoint { unlink(path) }
}

/// The transports the round-trip tests run over.
enum Transport: String, CaseIterable, CustomStringConvertible {
    case tcp, ipc
    var description: String { rawValue }

    func bindEndpoint() throws -> Endpoint {
        switch self {
        case .tcp: try loopbackWildcard()
        case .ipc: try temporaryIPC("rt")
        }
    }
}

/// A logger that prints nothing, for tests that provoke warnings on purpose.
let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

// MARK: - Deterministic payloads

/// Byte `k` of array `j` of message `i`: the same formula as python/arrf_common.py.
func patternByte(message: Int, array: Int, offset: Int) -> UInt8 {
    UInt8((offset &* 131 &+ message &* 7 &+ array &* 13 &+ 1) % 251)
}

/// An array whose bytes follow `patternByte`.
func patternArray(_ dtype: DType, _ shape: [Int], message: Int = 0, array: Int = 0) throws -> AnyNDArray {
    try AnyNDArray(dtype: dtype, shape: shape) { (bytes: UnsafeMutableRawBufferPointer) throws(Never) in
        for offset in bytes.indices { bytes[offset] = patternByte(message: message, array: array, offset: offset) }
    }
}

/// The order of dtypes in the Python scripts (numpy typestrs).
let interopDTypes: [DType] = [
    .bool, .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64, .float16, .float32, .float64, .complex64, .complex128,
]

// MARK: - Waiting

/// Polls `condition` every 10 ms until it holds or `seconds` pass; returns whether it held.
func eventually(within seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return try condition()
}

/// Receives events until a heartbeat arrives (proof that a subscription is in place), at most 10 s.
func awaitHeartbeat(_ receiver: some ArrayReceiver, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
        if case .heartbeat? = try receiver.receiveEvent(timeout: .milliseconds(100)) { return }
    }
    Issue.record("no heartbeat arrived within 10 s", sourceLocation: sourceLocation)
}

// MARK: - A raw ZeroMQ peer that writes whatever frames it is given

/// Sends hand-made frames, to test how receivers treat messages that `ZeroMQSender` never makes.
final class RawPeer {
    private var socket: ZMQSocket

    init(type: Int32 = ZMQ.push, connect endpoint: Endpoint) throws {
        socket = try ZMQSocket(ZMQContext.shared(), type: type, lingerMilliseconds: 1000)
        try socket.connect(endpoint)
    }

    init(type: Int32, bind endpoint: Endpoint) throws {
        socket = try ZMQSocket(ZMQContext.shared(), type: type, lingerMilliseconds: 1000)
        bound = try socket.bind(endpoint)
    }

    private(set) var bound: Endpoint?

    /// Sends `frames` as one multipart message, waiting at most 5 s for room.
    func send(_ frames: [[UInt8]]) throws {
        for (index, bytes) in frames.enumerated() {
            var message = try ZMQMessage(size: bytes.count)
            if let target = message.baseAddress, !bytes.isEmpty {
                bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            let more = index < frames.count - 1
            if index == 0 {
                let deadline = Sys.monotonicNanoseconds() + 5_000_000_000
                while !(try socket.send(&message, more: more, dontWait: true)) {
                    guard try socket.wait(for: ZMQ.pollOut, deadline: deadline) else { throw TransportError(.timeout, "raw peer: no room") }
                }
            } else {
                _ = try socket.send(&message, more: more, dontWait: true)
            }
        }
    }

    /// Sends a topic, a header given as text, and payload frames.
    func send(topic: String, header: String, payloads: [[UInt8]] = []) throws {
        try send([Array(topic.utf8), Array(header.utf8)] + payloads)
    }

    /// Sends a topic, a header given as a JSON value, and payload frames.
    func send(topic: String, header: JSONValue, payloads: [[UInt8]] = []) throws {
        try send(topic: topic, header: header.jsonText, payloads: payloads)
    }
}

/// An arrf/1 header as a JSON value, for tests to send as is or to spoil.
func wireHeader(
    kind: String = "data", stream: String = "raw", epoch: Int64 = 77, seq: Int64 = 0, t_ns: Int64 = 1_000,
    arrays: [(name: String, dtype: DType, shape: [Int])] = []
) -> [String: JSONValue] {
    let list: [JSONValue] = arrays.map { array in
        let count = array.shape.reduce(1, *) * array.dtype.itemSize
        return .object([
            "name": .string(array.name), "dtype": .string(array.dtype.typestr),
            "shape": .array(array.shape.map { .integer(Int64($0)) }), "order": "C",
            "nbytes": .integer(Int64(count)), "codec": "raw",
        ])
    }
    return [
        "proto": "arrf/1", "kind": .string(kind), "stream": .string(stream), "epoch": .integer(epoch),
        "seq": .integer(seq), "t_ns": .integer(t_ns), "arrays": .array(list), "meta": [:],
    ]
}

// MARK: - Python

/// The folder holding the Python interop scripts.
let pythonDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python")

/// A Python script running as a child process, with its standard streams captured.
final class PythonScript: @unchecked Sendable {
    // Safety: `lines`, `errorText` and `exited` are only touched with `lock` held; the Process
    // and pipes are set up in init and then used from the test's thread only.
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let errors = Pipe()
    private let lock = NSLock()
    private var lines: [String] = []
    private var partial = Data()
    private var errorData = Data()
    private let outputDone = DispatchSemaphore(value: 0)
    private let errorDone = DispatchSemaphore(value: 0)

    init(_ script: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", pythonDirectory.appendingPathComponent(script).path] + arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputHandle = output.fileHandleForReading, errorHandle = errors.fileHandleForReading
        DispatchQueue.global().async { [self] in
            while true {
                let data = outputHandle.availableData
                if data.isEmpty { break }
                lock.withLock {
                    partial.append(data)
                    while let newline = partial.firstIndex(of: 0x0A) {
                        lines.append(String(decoding: partial[partial.startIndex..<newline], as: UTF8.self))
                        partial.removeSubrange(partial.startIndex...newline)
                    }
                }
            }
            outputDone.signal()
        }
        DispatchQueue.global().async { [self] in
            let data = errorHandle.readDataToEndOfFile()
            lock.withLock { errorData = data }
            errorDone.signal()
        }
    }

    /// The first output line starting with `prefix`, waiting at most `seconds`.
    func waitForLine(prefix: String, seconds: Double = 30) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let line = lock.withLock({ lines.first(where: { $0.hasPrefix(prefix) }) }) { return line }
            if !process.isRunning, lock.withLock({ lines.first(where: { $0.hasPrefix(prefix) }) }) == nil {
                Thread.sleep(forTimeInterval: 0.05)
                return lock.withLock { lines.first(where: { $0.hasPrefix(prefix) }) }
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }

    /// Whether the script is still running.
    var isRunning: Bool { process.isRunning }

    /// Whether an output line starting with `prefix` has appeared.
    func hasLine(prefix: String) -> Bool {
        lock.withLock { lines.contains(where: { $0.hasPrefix(prefix) }) }
    }

    /// Writes one line to the script's standard input.
    func writeLine(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Waits for the script to exit (killing it after `seconds`) and returns its status and output.
    func finish(seconds: Double = 60) -> (status: Int32, output: String, errors: String) {
        try? input.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            process.terminate()
            Thread.sleep(forTimeInterval: 0.5)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        _ = outputDone.wait(timeout: .now() + 5)
        _ = errorDone.wait(timeout: .now() + 5)
        return lock.withLock {
            (process.terminationStatus, lines.joined(separator: "\n"), String(decoding: errorData, as: UTF8.self))
        }
    }
}

/// Fails the test (never skips it) if python3 cannot import pyzmq and numpy.
func requirePythonPackages(sourceLocation: SourceLocation = #_sourceLocation) throws {
    let check = Process()
    check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    check.arguments = ["python3", "-c", "import zmq, numpy"]
    let errors = Pipe()
    check.standardError = errors
    try check.run()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    check.waitUntilExit()
    try #require(
        check.terminationStatus == 0,
        "python3 cannot import pyzmq and numpy, which the interop tests need: run scripts/bootstrap (or python3 -m pip install pyzmq numpy). \(message)",
        sourceLocation: sourceLocation)
}

/// Runs the blocking `call` on a thread of its own, runs `action` after `delay` seconds, and
/// returns what `call` returned, or nil if it did not return within `timeout` seconds.
///
/// A blocking call inside a `Task` holds one of the cooperative pool's threads (two on a
/// 2-core machine): with other tests doing the same, the task that should unblock it may
/// not run until the call times out by itself.
func outcome<T: Sendable>(of call: @escaping @Sendable () -> T, after delay: Double, _ action: () -> Void, timeout: Double) -> T? {
    let result = Mutex<T?>(nil)
    let finished = DispatchSemaphore(value: 0)
    Thread {
        let value = call()
        result.withLock { $0 = value }
        finished.signal()
    }.start()
    Thread.sleep(forTimeInterval: delay)
    action()
    guard finished.wait(timeout: .now() + timeout) == .success else { return nil }
    return result.withLock { $0 }
}
