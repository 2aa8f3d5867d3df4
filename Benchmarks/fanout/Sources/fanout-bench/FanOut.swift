import ArrayQueues
import ArrayTransport
import Foundation
import Logging

/// fanout-bench: a publisher binds tcp://127.0.0.1 with the same-host fast path, and K subscriber
/// processes (copies of this executable) connect to it and switch to shared memory. The publisher
/// sends as fast as it can; each subscriber counts what arrives through shared memory.
///
///     fanout-bench --subscribers K --size BYTES [--seconds S] [--mode copy|borrow]
///
/// `copy` subscribers take each message as arrays of their own (`receiveEvent(timeout:)`, which
/// copies it out of shared memory); `borrow` subscribers read it in place (the borrowing
/// `receiveEvent(timeout:_:)`), one word of every cache line. `borrow` needs a library with the
/// borrowing receive: the package defines `BORROWING_RECEIVE` unless `AQ_BASELINE_API` is set.
///
/// Prints one JSON line: the slowest subscriber's GB/s and messages/s (what every subscriber
/// received), the sum over subscribers, and the publisher's sends per second. Warm-up messages
/// carry index -1 and are not counted; measured ones carry index 1. Every wait is bounded.
@main
struct FanOutBench {
    static func main() throws {
        let arguments = CommandLine.arguments
        func value(_ name: String) -> String? {
            arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
        }
        let mode = value("--mode") ?? "copy"
        #if !BORROWING_RECEIVE
        guard mode == "copy" else {
            print("{\"error\": \"this build has no borrowing receive (AQ_BASELINE_API was set)\"}")
            return
        }
        #endif
        if let endpoint = value("--subscribe") {
            try subscriber(endpoint: endpoint, borrowing: mode == "borrow")
        } else {
            try publisher(subscribers: Int(value("--subscribers") ?? "1") ?? 1, size: Int(value("--size") ?? "1048576") ?? 1 << 20,
                          seconds: Double(value("--seconds") ?? "2") ?? 2, mode: mode)
        }
    }

    static let quiet = Logger(label: "fanout", factory: { _ in SwiftLogNoOpLogHandler() })

    /// What a subscriber's receive brought.
    enum Step {
        case message(index: Int64?)
        case end
        case other
    }

    /// A subscriber: says "ready" once on shared memory, then counts measured messages until `end`
    /// (or 60 s), and prints `count firstNanoseconds lastNanoseconds throughSharedMemory`.
    static func subscriber(endpoint: String, borrowing: Bool) throws {
        let receiver = try ZeroMQReceiver(.subscribeAll, connect: [try Endpoint(endpoint)], logger: quiet)
        defer { receiver.close() }
        var ready = false
        var count = 0
        var first: UInt64 = 0
        var last: UInt64 = 0
        var touched: UInt64 = 0
        let deadline = Date().addingTimeInterval(60)
        loop: while Date() < deadline {
            let step: Step?
            if borrowing {
                step = try borrowingStep(receiver, touched: &touched)
            } else {
                switch try receiver.receiveEvent(timeout: .milliseconds(100)) {
                case let .message(message)?: step = .message(index: message.index)
                case .end?: step = .end
                case .heartbeat?: step = .other
                case nil: step = nil
                }
            }
            switch step {
            case let .message(index)?:
                if !ready && receiver.path == .sharedMemory {
                    ready = true
                    FileHandle.standardOutput.write(Data("ready\n".utf8))
                }
                guard index == 1 else { continue }
                let now = DispatchTime.now().uptimeNanoseconds
                if count == 0 { first = now }
                last = now
                count += 1
            case .end?:
                break loop
            default:
                continue
            }
        }
        print("\(count) \(first) \(last) \(receiver.statistics.receivedThroughSharedMemory)")
        if touched == 1 { FileHandle.standardError.write(Data("\n".utf8)) }   // keeps the reads
    }

    /// One borrowing receive that reads one word of every cache line of the message in place.
    static func borrowingStep(_ receiver: ZeroMQReceiver, touched: inout UInt64) throws -> Step? {
        #if BORROWING_RECEIVE
        try receiver.receiveEvent(timeout: .milliseconds(100)) { event -> Step in
            switch event {
            case .message(let message):
                touched &+= message.withUnsafeBytes(of: 0) { bytes in
                    var sum: UInt64 = 0
                    for offset in stride(from: 0, to: bytes.count - 7, by: 64) { sum &+= bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
                    return sum
                }
                return .message(index: message.index)
            case .end: return .end
            case .heartbeat: return .other
            }
        }
        #else
        nil
        #endif
    }

    static func publisher(subscribers: Int, size: Int, seconds: Double, mode: String) throws {
        let sender = try ZeroMQSender(
            .publish, stream: "fanout", bind: [try Endpoint("tcp://127.0.0.1:*")],
            options: .init(heartbeatInterval: .milliseconds(100)), logger: quiet)
        let array = try NDArray<UInt8>(shape: [size], repeating: 7)
        var children: [(Process, Pipe)] = []
        for _ in 0..<subscribers {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            child.arguments = ["--subscribe", sender.boundEndpoints[0].description, "--mode", mode]
            let pipe = Pipe()
            child.standardOutput = pipe
            try child.run()
            children.append((child, pipe))
        }
        defer { for (child, _) in children where child.isRunning { child.terminate() } }
        // Warm-up: until every subscriber said "ready" (at most 30 s).
        let readers = children.map { LineReader($0.1.fileHandleForReading) }
        let warmUp = Date().addingTimeInterval(30)
        while !readers.allSatisfy({ $0.lines.contains("ready") }), Date() < warmUp {
            _ = try sender.send(array, index: -1)
            Thread.sleep(forTimeInterval: 0.001)
        }
        guard readers.allSatisfy({ $0.lines.contains("ready") }) else {
            print("{\"error\": \"not every subscriber switched to shared memory within 30 s\"}")
            return
        }
        Thread.sleep(forTimeInterval: 0.2)
        let start = DispatchTime.now().uptimeNanoseconds
        let end = start + UInt64(seconds * 1e9)
        var sent = 0
        while DispatchTime.now().uptimeNanoseconds < end {
            _ = try sender.send(array, index: 1)
            sent += 1
        }
        let sendSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        Thread.sleep(forTimeInterval: 0.5)
        sender.close()
        var rates: [Double] = []
        var received: [Int] = []
        for (position, (child, _)) in children.enumerated() {
            let exitDeadline = Date().addingTimeInterval(20)
            while child.isRunning, Date() < exitDeadline { Thread.sleep(forTimeInterval: 0.01) }
            readers[position].finish()
            let fields = (readers[position].lines.last ?? "").split(separator: " ").compactMap { Double($0) }
            guard fields.count == 4, fields[0] > 1 else { rates.append(0); received.append(0); continue }
            rates.append((fields[0] - 1) / ((fields[2] - fields[1]) / 1e9))
            received.append(Int(fields[0]))
        }
        let slowest = rates.min() ?? 0
        let json = """
            {"scenario": "fanout-fastpath-\(subscribers)", "mode": "\(mode)", "size_bytes": \(size), "subscribers": \(subscribers), \
            "gbps_slowest": \(slowest * Double(size) / 1e9), "messages_per_s_slowest": \(slowest), \
            "gbps_sum": \(rates.reduce(0, +) * Double(size) / 1e9), "sent_per_s": \(Double(sent) / sendSeconds), \
            "sent": \(sent), "received": \(received)}
            """
        print(json)
    }
}

/// Collects the lines a child writes, on a thread of its own.
final class LineReader {
    /// Guarded by `lock`.
    private var collected: [String] = []
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            var buffer = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: 10) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    lock.lock(); collected.append(line); lock.unlock()
                }
            }
            done.signal()
        }
    }

    var lines: [String] { lock.lock(); defer { lock.unlock() }; return collected }

    /// Waits (at most 5 s) until the child closed its output.
    func finish() { _ = done.wait(timeout: .now() + 5) }
}

// Safe to share: `collected` is read and written only under `lock`; the rest is immutable or
// a semaphore.
extension LineReader: @unchecked Sendable {}
