import AQCommandLine
import ArrayRelay
import ArgumentParser
@preconcurrency import Glibc
import ArrayQueues
import ArrayTransport
import DemoFrames
import Foundation

/// Tallies what a receiving worker saw. Every frame is checked; the clock (``seconds``,
/// ``timedFrames``) starts at the arrival of the first frame after the first `warmupFrames`.
struct FrameTally {
    /// Frames not timed at the start, while queues fill and fresh memory is faulted in.
    var warmupFrames = 0
    var frames = 0
    /// Frames from the first timed one on (that one included).
    var timedFrames = 0
    var bytes = 0
    var bad = 0
    var disorder = 0
    var gaps = 0
    var first: Int64?
    var last: Int64?
    var lags: [Int64] = []
    var firstArrival: ContinuousClock.Instant?
    var lastArrival: ContinuousClock.Instant?

    /// Checks one frame: its shape and dtype, its checksum every `verifyEvery` frames, and with
    /// `exact` that it is frame `index` itself; indices must increase (gaps are counted apart).
    mutating func check(dtype: DType, shape: [Int], bytes payload: UnsafeRawBufferPointer, index: Int64?, timestamp: Timestamp,
                        size: Int, verifyEvery: Int, exact: Bool) {
        let now = ContinuousClock.now
        if frames >= warmupFrames {
            if firstArrival == nil { firstArrival = now }
            lastArrival = now
            timedFrames += 1
        }
        lags.append(Timestamp.now().nanoseconds(since: timestamp))
        var good = dtype == .uint16 && shape == [size, size] && index != nil
        if good && frames % max(1, verifyEvery) == 0 {
            good = exact ? Frames.verify(payload, number: Int(index!)) : Frames.verify(payload)
        }
        if !good { bad += 1 }
        if let index {
            if let last {
                if index <= last {
                    disorder += 1
                } else {
                    // index > last: the wrapped difference is exact as an unsigned count, whatever the indices.
                    let missing = Int(clamping: UInt64(bitPattern: index &- last) - 1)
                    gaps = gaps.addingReportingOverflow(missing).overflow ? .max : gaps + missing
                }
            } else {
                first = index
            }
            last = index
        }
        frames += 1
        bytes += payload.count
    }

    /// From the first timed frame's arrival to the last frame's.
    var seconds: Double { firstArrival.flatMap { first in lastArrival.map { ($0 - first).seconds } } ?? 0 }

    func lagPercentile(_ fraction: Double) -> Double {
        guard !lags.isEmpty else { return 0 }
        let sorted = lags.sorted()
        return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]) / 1e3
    }

    var line: String {
        "frames=\(frames) timed_frames=\(timedFrames) bytes=\(bytes) bad=\(bad) disorder=\(disorder) gaps=\(gaps) first=\(first ?? -1) last=\(last ?? -1) seconds=\(seconds) lag_p50_us=\(lagPercentile(0.5)) lag_p99_us=\(lagPercentile(0.99))"
    }
}

/// Prints a line and flushes at once: parents read these through a pipe while we run.
func emit(_ line: String) {
    print(line)
    fflush(stdout)
}

extension DemoWorker {
    /// Receives frames over ZeroMQ and verifies them.
    struct Receive: ParsableCommand {
        @Argument(help: "Endpoint to connect to, or to bind with --bind.") var endpoint: String
        @Flag(help: "Bind the endpoint (printing endpoint=… with the port chosen).") var bind = false
        @Option var pattern: StreamPattern = .pushpull
        @Option var size = 2048
        @Option(help: "Stop after this many frames (default: at the end-of-stream record).") var count: Int?
        @Option(help: "Verify the checksum of every Nth frame (1: all).") var verifyEvery = 1
        @Flag(help: "Check that frame N is exactly frame N, not just intact.") var exact = false
        @Flag(help: "Print a progress line every quarter second.") var progress = false
        @Option(help: "Give up after this many seconds without a frame.") var timeout: Double = 30
        @Option(help: ArgumentHelp(
            "Frames not timed at the start: the clock (seconds=, timed_frames=) starts at the arrival of frame N+1, once the queues have filled; every frame is still checked.",
            valueName: "N"))
        var warmupFrames = 8

        func validate() throws {
            guard warmupFrames >= 0 else { throw ValidationError("--warmup-frames must not be negative") }
        }

        func run() throws {
            let target = try Endpoint(endpoint)
            let receiver = try ZeroMQReceiver(
                pattern == .pubsub ? .subscribeAll : .pull, bind: bind ? [target] : [], connect: bind ? [] : [target],
                options: .init(byteBudget: 256 << 20, expectedMessageBytes: 32 << 20, heartbeatInterval: .milliseconds(200)))
            if bind { emit("endpoint=\(receiver.boundEndpoints[0])") }
            var tally = FrameTally(warmupFrames: warmupFrames)
            var ready = false
            var lastProgress = ContinuousClock.now
            var lastFrame = ContinuousClock.now
            var timedOut = false
            receiving: while count.map({ tally.frames < $0 }) ?? true {
                // pubsub: the first message of any kind proves the subscription is in place.
                if !ready && pattern == .pushpull { ready = true; emit("ready") }
                let event = try receiver.receiveEvent(timeout: .milliseconds(250))
                if event != nil && !ready { ready = true; emit("ready") }
                if case let .message(message)? = event {
                    lastFrame = .now
                    guard message.index != DemoWorker.endOfStream else { break receiving }
                    if let array = message.arrays.first?.array, message.arrays.count == 1 {
                        array.withUnsafeBytes { bytes in
                            tally.check(dtype: array.dtype, shape: array.shape, bytes: bytes, index: message.index, timestamp: message.timestamp,
                                        size: size, verifyEvery: verifyEvery, exact: exact)
                        }
                    } else {
                        tally.bad += 1
                        tally.frames += 1
                    }
                } else if ContinuousClock.now - lastFrame > .seconds(double: timeout) {
                    timedOut = true
                    break
                }
                if progress && ContinuousClock.now - lastProgress >= .milliseconds(250) {
                    lastProgress = .now
                    emit("progress frames=\(tally.frames) bytes=\(tally.bytes) bad=\(tally.bad) lost=\(receiver.statistics.lost) lag_us=\(Double(tally.lags.last ?? 0) / 1e3)")
                }
            }
            let statistics = receiver.statistics
            receiver.close()
            emit("\(tally.line) lost=\(statistics.lost) malformed=\(statistics.malformed) timed_out=\(timedOut ? 1 : 0)")
        }
    }

    /// Reads frames from a local queue (what `aq-relay subscribe` wrote) and verifies them.
    struct Verify: ParsableCommand {
        @Argument var queue: String
        @Option var size = 2048
        @Option(help: "Stop after this many frames (default: at the end-of-stream record).") var count: Int?
        @Flag(help: "Check that frame N is exactly frame N, not just intact.") var exact = false
        @Option(help: "Give up after this many seconds without a frame.") var timeout: Double = 30

        func run() throws {
            let deadline = ContinuousClock.now + .seconds(double: timeout)
            var handle: ArrayQueue?
            while handle == nil {
                do throws(ArrayQueueError) {
                    handle = try ArrayQueue.open(name: queue)
                } catch {
                    guard error.code == .notFound, ContinuousClock.now < deadline else { throw error }
                    Thread.sleep(forTimeInterval: 0.05)
                }
            }
            var tally = FrameTally()
            var timedOut = false
            while count.map({ tally.frames < $0 }) ?? true {
                do {
                    let finished = try handle!.get(timeout: .seconds(double: timeout)) { record -> Bool in
                        guard record.index != DemoWorker.endOfStream else { return true }
                        tally.check(dtype: record.dtype, shape: record.shape, bytes: record.bytes, index: record.index, timestamp: record.timestamp,
                                    size: size, verifyEvery: 1, exact: exact)
                        return false
                    }
                    if finished { break }
                } catch let error as ArrayQueueError {
                    guard error.code == .timeout else { throw error }
                    timedOut = true
                    break
                }
            }
            emit("\(tally.line) timed_out=\(timedOut ? 1 : 0)")
        }
    }
}
