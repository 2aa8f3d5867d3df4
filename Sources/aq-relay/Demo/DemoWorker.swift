import AQCommandLine
import ArrayRelay
import ArgumentParser
import ArrayQueues
import ArrayTransport
import DemoFrames
import Foundation

/// The processes that `demo`, `bench`, the tests and deploy/two-hosts.sh run: a producer that
/// writes checksummed frames into a queue, a network receiver and a queue reader that verify
/// them, and a producer that publishes directly (the benchmark's baseline). Each prints one
/// last line of `key=value` pairs.
struct DemoWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-worker", abstract: "Internal: the producer and subscriber roles of demo, bench and the tests.",
        shouldDisplay: false, subcommands: [Produce.self, Receive.self, Verify.self, Publish.self])

    /// The index of the empty record that tells receivers the stream is over.
    static let endOfStream: Int64 = -1
    /// Frames the pooled producers cycle through (made once, copied per frame like a camera's DMA).
    static let poolSize = 4
}

/// How long a worker runs: a time or a number of frames.
struct WorkerLength: ParsableArguments {
    @Option(help: "Frame height and width (uint16 pixels).") var size = 2048
    @Option(help: "Stream for this many seconds.") var seconds: Double?
    @Option(help: "Stream this many frames.") var count: Int?
    @Option(help: "At most this many frames per second.") var rate: Double?
    @Flag(help: "Finish with the end-of-stream record (index -1, no data).") var sentinel = false
    @Flag(help: "Copy frames from a pool of 4 made in advance instead of generating each (benchmarks).") var pool = false

    func validate() throws {
        guard size >= 4, size <= 16384 else { throw ValidationError("--size must be 4 to 16384") }
        guard (seconds == nil) != (count == nil) else { throw ValidationError("give either --seconds or --count") }
    }

    var shape: [Int] { [size, size] }
    var frameBytes: Int { size * size * 2 }

    /// Calls `body(frameNumber)` until the time or count is reached, pacing to `rate`.
    func loop(_ body: (Int) throws -> Void) rethrows -> Int {
        let start = ContinuousClock.now
        let end = seconds.map { start + .seconds(double: $0) }
        var frames = 0
        while true {
            if let count, frames >= count { break }
            if let end, ContinuousClock.now >= end { break }
            if let rate, rate > 0 {
                let due = start + .seconds(double: Double(frames) / rate)
                if due > .now { Thread.sleep(forTimeInterval: (due - .now).seconds) }
            }
            try body(frames)
            frames += 1
        }
        return frames
    }

    /// The pooled frames, numbered 0 ..< poolSize.
    func makePool() throws -> [AnyNDArray] {
        try (0..<DemoWorker.poolSize).map { number in
            try AnyNDArray(dtype: .uint16, shape: shape) { (bytes: UnsafeMutableRawBufferPointer) throws(Never) in Frames.fill(bytes, number: number) }
        }
    }
}

extension DemoWorker {
    /// Writes frames into a local queue, in place (or copied from the pool).
    struct Produce: ParsableCommand {
        @Argument var queue: String
        @OptionGroup var length: WorkerLength
        @Option(help: "Create the queue with this capacity if it does not exist.") var capacity: ByteSize?
        @Option(help: "The queue's overflow policy for this producer.") var overflow: OverflowPolicy = .block
        @Option(help: "Seconds a put may wait for room.") var timeout: Double = 60
        @Option(help: "The first frame's index.") var start = 0

        func run() throws {
            let handle = try capacity.map { try ArrayQueue.openOrCreate(name: queue, capacity: $0.bytes, options: QueueOptions(overflow: overflow)) }
                ?? ArrayQueue.open(name: queue, options: QueueOptions(overflow: overflow))
            let pool = length.pool ? try length.makePool() : []
            var longestPut: Duration = .zero
            var failed = 0
            let frames = try length.loop { frame in
                let number = start + frame
                let began = ContinuousClock.now
                do {
                    if pool.isEmpty {
                        try handle.put(UInt16.self, shape: length.shape, index: Int64(number), timeout: .seconds(double: timeout)) { pixels in
                            Frames.fill(UnsafeMutableRawBufferPointer(pixels), number: number)
                        }
                    } else {
                        try handle.put(pool[number % pool.count], index: Int64(number), timeout: .seconds(double: timeout))
                    }
                } catch let error as ArrayQueueError {
                    guard error.code == .full || error.code == .timeout else { throw error }
                    failed += 1
                }
                longestPut = max(longestPut, ContinuousClock.now - began)
            }
            if length.sentinel {
                try handle.put(try NDArray<UInt8>(shape: [0], elements: []), index: DemoWorker.endOfStream, timeout: .seconds(double: timeout))
            }
            print("frames=\(frames) failed=\(failed) longest_put_ms=\(longestPut.seconds * 1000)")
        }
    }

    /// Publishes frames straight from the producer with a ZeroMQ sender: the benchmark's baseline.
    struct Publish: ParsableCommand {
        @Argument(help: "Endpoint to connect to (the receiver binds it).") var endpoint: String
        @OptionGroup var length: WorkerLength
        @Option var pattern: StreamPattern = .pushpull
        @Option(help: "Frames ZeroMQ may queue for the peer, as the relay's --peer-queue.") var peerQueue = 8

        func run() throws {
            let pool = try length.makePool()
            let budget = 256 << 20
            let sender = try ZeroMQSender(
                pattern == .pubsub ? .publish : .push, stream: "demo", connect: [try Endpoint(endpoint)],
                options: .init(byteBudget: budget, expectedMessageBytes: budget / max(1, peerQueue), linger: .seconds(30)))
            let frames = try length.loop { frame in
                // A fresh frame each time, as a camera would deliver it: one copy, like the queue's put.
                let array = try pool[frame % pool.count].withUnsafeBytes { bytes throws(ArrayQueueError) in
                    try AnyNDArray(dtype: .uint16, shape: length.shape, copying: bytes)
                }
                try sender.send(array, name: "array", index: Int64(frame))
            }
            if length.sentinel { try sender.send(try NDArray<UInt8>(shape: [0], elements: []), name: "array", index: DemoWorker.endOfStream) }
            sender.close()
            print("frames=\(frames)")
        }
    }
}
