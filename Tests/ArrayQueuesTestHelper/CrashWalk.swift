@_spi(Testing) import ArrayQueues
import ArrayQueuesTestSupport
@preconcurrency import Glibc

/// The roles of the crash-point walk (CrashPointTests) and of the liveness tests.
///
///   crash-walk QUEUE          one pass through every protocol path (run with AQ_CRASH_POINT set,
///                             it dies at that point); logs "got INDEX" per record taken
///   walk-check QUEUE          a newcomer after the kill: drains and verifies what is left, then moves
///                             20 records through; logs "got INDEX", "first-lock-ms N", "ok"
///   hold-lock QUEUE           takes the queue lock and keeps it (until killed)
///   put-retrying QUEUE MS N   puts N records of 1 KiB with put(timeout: MS ms), retrying timeouts;
///                             prints "put N after T timeouts" (fails after 20 s)
extension Helper {
    /// One line straight to standard output with write(2): nothing is lost in a buffer when
    /// the process is killed right after.
    static func logLine(_ line: String) {
        let text = line + "\n"
        _ = text.withCString { write(1, $0, strlen($0)) }
    }

    /// A record of the walk's own producer (7), verifiable by `Pattern`.
    private static func walkArray(_ counter: Int, bytes: Int) throws -> AnyNDArray {
        try Pattern.array(dtype: .uint8, shape: [bytes], seed: UInt64(bitPattern: Pattern.index(producer: 7, counter: counter)))
    }

    private static func takeAndLog(_ queue: ArrayQueue) throws(ArrayQueueError) -> Bool {
        guard let record = try queue.tryGet() else { return false }
        let valid = record.array.withUnsafeBytes { Pattern.verify($0, seed: UInt64(bitPattern: record.index ?? 0)) }
        logLine(valid && record.index != nil ? "got \(record.index!)" : "CORRUPT \(record.sequence)")
        return true
    }

    /// Reaches every crash point at least once, given the test's setup: a queue with the reset
    /// policy, records waiting, a dead writer, a dead reader, a lock whose owner died, and no
    /// other live user (the walk's own open then repairs, sweeps and resets the watchers).
    static func crashWalk(_ queue: ArrayQueue) throws {
        var counter = 0
        // Claims, releases, and the jump to the next lap once the ring is empty.
        while try takeAndLog(queue) {}
        // A record still being written ahead of a committed one: that claim takes the lock and
        // passes it (without the lock, a consumer claims only a READY record at `read`).
        let ahead = try walkArray(counter, bytes: 300)
        let aheadIndex = Pattern.index(producer: 7, counter: counter)
        counter += 1
        try queue.put(dtype: .uint8, shape: [300], index: aheadIndex, timeout: .seconds(5)) { buffer in
            try walkPut(queue, 300, &counter)
            _ = try takeAndLog(queue)
            ahead.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        try walkPut(queue, 1000, &counter)
        // Records of varied sizes; the fourth crosses the end of the ring (a filler first).
        for bytes in [3000, 5000, 6000] { try walkPut(queue, bytes, &counter) }
        _ = try takeAndLog(queue)
        _ = try takeAndLog(queue)
        try walkPut(queue, 4000, &counter)
        while try takeAndLog(queue) {}
        // A borrowed read.
        try walkPut(queue, 500, &counter)
        try queue.get(timeout: .seconds(5)) { record in
            logLine("got \(record.index ?? -1)")
        }
        // A shape change under the reset policy drops what waits.
        try walkPut(queue, 500, &counter)
        try walkPut(queue, 500, &counter)
        try queue.put(try Pattern.array(dtype: .uint8, shape: [10, 10], seed: 1), index: Pattern.index(producer: 7, counter: counter), timeout: .seconds(5))
        counter += 1
        // clear() drops what waits.
        try walkPut(queue, 500, &counter)
        _ = try queue.clear()
        // Drop-oldest, from a second handle.
        let dropping = try ArrayQueue.open(name: queue.name, options: QueueOptions(overflow: .dropOldest))
        for _ in 0..<5 { try walkPut(dropping, 4000, &counter) }
        // A fill closure that throws gives its record back.
        _ = try? queue.put(dtype: .uint8, shape: [100]) { _ -> Int in throw WalkGiveUp() }
        while try takeAndLog(queue) {}
        // Detaching happens when the handles go away, after this returns.
        logLine("walked")
    }

    private struct WalkGiveUp: Error {}

    private static func walkPut(_ queue: ArrayQueue, _ bytes: Int, _ counter: inout Int) throws {
        let index = Pattern.index(producer: 7, counter: counter)
        try queue.put(walkArray(counter, bytes: bytes), index: index, timeout: .seconds(5))
        counter += 1
    }

    /// A process arriving after the kill: it must find the queue consistent and working.
    static func walkCheck(name: String) {
        do {
            let start = monotonicNanoseconds()
            let queue = try ArrayQueue.open(name: name)
            _ = try queue.statistics()
            logLine("first-lock-ms \((monotonicNanoseconds() - start) / 1_000_000)")
            _ = try queue.recordSummaries()
            while try takeAndLog(queue) {}
            for counter in 0..<20 {
                let index = Pattern.index(producer: 8, counter: counter)
                try queue.put(try Pattern.array(dtype: .float32, shape: [10, 10], seed: UInt64(bitPattern: index)), index: index, timeout: .seconds(2))
                let record = try queue.get(timeout: .seconds(2))
                guard record.index == index, record.array.withUnsafeBytes({ Pattern.verify($0, seed: UInt64(bitPattern: index)) }) else {
                    fail("walk-check: record \(counter) came back wrong (index \(String(describing: record.index)))")
                }
            }
            _ = try queue.statistics()
            logLine("ok")
        } catch {
            fail("walk-check: \(error)")
        }
    }

    /// Holds the queue lock until killed (a live process that never lets go).
    static func holdLock(_ queue: ArrayQueue) throws {
        try queue.withLockHeldForTesting {
            logLine("locked")
            sleepForever()
        }
    }

    private static func sleepForever() -> Never {
        while true { sleep(1000) }
    }

    /// Puts `count` records with short timeouts, retrying each after a timeout, as a producer
    /// that uses `put(timeout:)` shorter than the liveness bound does.
    static func putRetrying(_ queue: ArrayQueue, milliseconds: Int, count: Int) throws {
        let start = monotonicNanoseconds()
        var timeouts = 0
        for counter in 0..<count {
            let array = try walkArray(counter, bytes: 1024)
            while !(try putOnce(queue, array, index: Pattern.index(producer: 9, counter: counter), milliseconds: milliseconds)) {
                timeouts += 1
                if monotonicNanoseconds() - start > 20_000_000_000 { fail("put-retrying: no room after 20 s and \(timeouts) timeouts") }
            }
        }
        logLine("put \(count) after \(timeouts) timeouts in \((monotonicNanoseconds() - start) / 1_000_000) ms")
    }

    /// One put with a timeout; false if it timed out.
    private static func putOnce(_ queue: ArrayQueue, _ array: AnyNDArray, index: Int64, milliseconds: Int) throws(ArrayQueueError) -> Bool {
        do {
            try queue.put(array, index: index, timeout: .milliseconds(milliseconds))
            return true
        } catch where error.code == .timeout {
            return false
        }
    }

    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
