import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Synchronization
import Testing

/// Sends pattern arrays from a thread of its own, one every `pause`, until stopped: array `i`
/// of the stream holds `patternArray(dtype, shape, message: i)`, so that a receiver can check
/// any message by its sequence number.
final class PacedPublisher: Sendable {
    let sender: ZeroMQSender
    let dtype: DType
    let shape: [Int]
    private let pauseSeconds: Double
    private let stopped = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private let sent = Atomic<Int>(0)

    init(_ sender: ZeroMQSender, dtype: DType = .uint16, shape: [Int] = [64, 64], pause: Double = 0.001) {
        self.sender = sender
        self.dtype = dtype
        self.shape = shape
        self.pauseSeconds = pause
    }

    func start() {
        Thread.detachNewThread { [self] in
            while !stopped.load(ordering: .acquiring) {
                let sequence = sender.statistics.nextSequence
                guard let array = try? patternArray(dtype, shape, message: Int(sequence)),
                      (try? sender.send(array, index: Int64(sequence))) != nil else { break }
                sent.add(1, ordering: .relaxed)
                Thread.sleep(forTimeInterval: pauseSeconds)
            }
            finished.store(true, ordering: .releasing)
        }
    }

    /// Stops the thread (waiting up to 5 s for it) and returns how many arrays it sent.
    @discardableResult
    func stop() -> Int {
        stopped.store(true, ordering: .releasing)
        _ = eventually(within: 5) { finished.load(ordering: .acquiring) }
        return sent.load(ordering: .relaxed)
    }
}

/// Checks that `sequences` are consecutive (nothing lost, repeated or reordered).
func expectConsecutive(_ sequences: [UInt64], sourceLocation: SourceLocation = #_sourceLocation) {
    let gaps = zip(sequences, sequences.dropFirst()).filter { $1 != $0 + 1 }
    #expect(gaps.isEmpty, "sequence numbers jump at \(gaps.prefix(5))", sourceLocation: sourceLocation)
}

// MARK: - `aq recv` as a separate process

/// The `aq` executable built next to the test bundle.
let aqExecutable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    .deletingLastPathComponent().appendingPathComponent("aq").path

/// Whether this process may give a child a private `/dev/shm` (root, and `unshare` works).
let canUsePrivateSharedMemory: Bool = {
    guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
    return (try? runProcess("/usr/bin/unshare", ["--mount", "sh", "-c", "mount -t tmpfs tmpfs /dev/shm"], timeout: 10).status) == 0
}()

/// Runs `aq` with `arguments`; with `privateSharedMemory`, inside a mount namespace of its own
/// with a fresh, empty tmpfs on `/dev/shm` (so that it shares no queue with this process).
func runAQ(_ arguments: [String], privateSharedMemory: Bool = false, timeout: Double = 60) throws -> ProcessRun {
    guard privateSharedMemory else { return try runProcess(aqExecutable, arguments, timeout: timeout) }
    let script = "mount -t tmpfs tmpfs /dev/shm && exec \"$0\" \"$@\""
    return try runProcess("/usr/bin/unshare", ["--mount", "sh", "-c", script, aqExecutable] + arguments, timeout: timeout)
}

/// The value of `key=` in the summary line `aq recv --verbose` prints.
func summaryValue(_ key: String, in text: String) -> String? {
    guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("aq: path=") }),
          let field = line.split(separator: " ").first(where: { $0.hasPrefix("\(key)=") }) else { return nil }
    return String(field.dropFirst(key.count + 1))
}

/// The `.npy` files `aq recv --out-dir` wrote, by sequence number.
func savedArrays(in directory: URL) throws -> [(sequence: UInt64, array: AnyNDArray)] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".npy") }.sorted().map { file in
        (UInt64(file.dropLast(4))!, try NPY.read(contentsOf: directory.appendingPathComponent(file).path))
    }
}

func temporaryDirectory(_ label: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aqfp-\(label)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}
