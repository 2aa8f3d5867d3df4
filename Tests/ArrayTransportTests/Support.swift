import ArrayQueues
import ArrayQueuesTestSupport
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

/// Starts `python/SCRIPT arguments…` as a child process (bounded waits: ``ChildProcess``).
func pythonScript(_ script: String, _ arguments: [String]) throws -> ChildProcess {
    try startPython([pythonDirectory.appendingPathComponent(script).path] + arguments)
}

/// Fails the test (never skips it) if python3 cannot import pyzmq and numpy.
func requirePythonPackages() throws {
    try requirePython(importing: ["zmq", "numpy"])
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
