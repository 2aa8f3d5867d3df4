@_spi(Testing) import ArrayQueues
import ArrayQueuesTestSupport
@preconcurrency import Glibc

/// The roles of the broadcast tests (BroadcastProcessTests, BroadcastCrashPointTests).
///
///   bcast-subscribe QUEUE POLICY START LOG SEED   subscribe, print "ready", read and verify every
///                                                 record (borrowing, dawdling at random, or copying)
///                                                 until the end record (index -1); log one line per
///                                                 record ("INDEX" or "CORRUPT"), then "lost N" and
///                                                 "delivered N" to stdout
///   bcast-end QUEUE                               put the end record
///   bcast-die-subscribed QUEUE                    subscribe (block, oldest), SIGKILL itself while reading a record
///   bcast-die-skipping QUEUE                      subscribe (drop, oldest), fill the ring from this process
///                                                 (run with AQ_CRASH_POINT inside the skip)
///   bcast-crash-walk QUEUE                        one pass through every broadcast path; logs "got S:INDEX"
///   bcast-walk-check QUEUE                        a newcomer after the kill; logs "got C:INDEX", "ok"
///   bcast-die-unreadable QUEUE                    subscribe (block, oldest) and read the oldest record, one the test
///                                                 made unreadable (run with AQ_CRASH_POINT inside its give-back)
///   bcast-unread-check QUEUE                      a newcomer after that kill: logs "dead reading=B lost=N
///                                                 delivered=N" per dead subscriber, "reported", puts 40 records
///                                                 and the end record, checks the dead one was reaped; logs "ok"
enum BroadcastRoles {
    /// The index of the record that tells subscribers to stop.
    static let endIndex: Int64 = -1

    static func run(_ arguments: [String]) -> Bool {
        guard arguments[1].hasPrefix("bcast-") else { return false }
        do {
            let queue = try ArrayQueue.open(name: arguments[2])
            let rest = Array(arguments.dropFirst(3))
            switch arguments[1] {
            case "bcast-subscribe":
                guard rest.count >= 4, let policy = SubscriberPolicy(rawValue: rest[0]), let start = SubscriberStart(rawValue: rest[1]) else {
                    Helper.fail("usage: bcast-subscribe QUEUE block|drop oldest|newest|next LOG SEED")
                }
                try subscribe(queue, policy: policy, start: start, log: rest[2], seed: UInt64(Helper.integer(rest, 3)))
            case "bcast-end":
                try putEnd(queue)
            case "bcast-die-subscribed":
                let subscriber = try queue.subscribe(policy: .block, start: .oldest)
                try subscriber.get(timeout: .seconds(10)) { _ in Helper.killSelf() }
            case "bcast-die-skipping":
                let subscriber = try queue.subscribe(policy: .drop, start: .oldest)
                for counter in 0..<100 { try walkPut(queue, 3000, counter, producer: 5) }
                Helper.fail("the ring never needed a skip of subscriber \(subscriber.slot)")
            case "bcast-crash-walk":
                try crashWalk(queue)
            case "bcast-walk-check":
                try walkCheck(queue)
            case "bcast-die-unreadable":
                let subscriber = try queue.subscribe(policy: .block, start: .oldest)
                let outcome = Result { try subscriber.tryGet() }
                Helper.fail("survived reading the oldest record: \(outcome)")
            case "bcast-unread-check":
                try unreadCheck(queue)
            default:
                Helper.fail("unknown command \(arguments[1])")
            }
        } catch {
            Helper.fail("\(error)")
        }
        return true
    }

    /// Puts the record that tells subscribers to stop.
    private static func putEnd(_ queue: ArrayQueue) throws {
        try queue.put(Pattern.array(dtype: .uint8, shape: [8], seed: 0), index: endIndex, timeout: .seconds(30))
    }

    /// A subscriber until the end record: verifies every record, logs each with one write(2).
    static func subscribe(_ queue: ArrayQueue, policy: SubscriberPolicy, start: SubscriberStart, log path: String, seed: UInt64) throws {
        var random = SplitMix(seed: seed)
        let log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { Helper.fail("cannot open \(path)") }
        let subscriber = try queue.subscribe(policy: policy, start: start)
        Helper.logLine("ready")
        while true {
            let index: Int64?
            if random.next() % 2 == 0 {
                index = try subscriber.get(timeout: .seconds(30)) { record -> Int64? in
                    if random.next() % 8 == 0 { usleep(UInt32(random.next() % 500)) }
                    return verified(record.index, record.bytes)
                }
            } else {
                let record = try subscriber.get(timeout: .seconds(30))
                index = record.array.withUnsafeBytes { verified(record.index, $0) }
            }
            if index == endIndex { break }
            let line = index.map { "\($0)\n" } ?? "CORRUPT\n"
            _ = line.withCString { write(log, $0, strlen($0)) }
        }
        Helper.logLine("lost \(subscriber.lost)")
        Helper.logLine("delivered \(subscriber.delivered)")
    }

    /// The record's index if its contents match it (the end record passes as is).
    private static func verified(_ index: Int64?, _ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard let index else { return nil }
        return index == endIndex || Pattern.verify(bytes, seed: UInt64(bitPattern: index)) ? index : nil
    }

    private static func walkPut(_ queue: ArrayQueue, _ bytes: Int, _ counter: Int, producer: Int = 7) throws {
        let index = Pattern.index(producer: producer, counter: counter)
        try queue.put(Pattern.array(dtype: .uint8, shape: [bytes], seed: UInt64(bitPattern: index)), index: index, timeout: .seconds(5))
    }

    /// Reads what `subscriber` has waiting, logging "got LABEL:INDEX" (or CORRUPT) per record.
    private static func drain(_ subscriber: BroadcastSubscriber, _ label: String) throws {
        while let line = try subscriber.tryGet({ record -> String in
            verified(record.index, record.bytes).map { "got \(label):\($0)" } ?? "CORRUPT \(record.sequence)"
        }) {
            Helper.logLine(line)
        }
    }

    /// Reaches every broadcast crash point at least once, given the test's setup: a broadcast
    /// queue of 16 KiB holding records, a dead drop subscriber whose skip was left staged, and a
    /// dead block subscriber that died reading the oldest record.
    static func crashWalk(_ queue: ArrayQueue) throws {
        // Reading the table finishes the staged skip.
        _ = try queue.broadcastState()
        let viewer = try queue.subscribe(policy: .drop, start: .oldest)
        let recorder = try queue.subscribe(policy: .block, start: .oldest)
        try drain(recorder, "R")
        // The dead block subscriber holds the oldest record: the puts wait until a sweep reaps it.
        // Then the viewer, which reads nothing, is skipped ahead as the ring wraps.
        for counter in 0..<12 {
            try walkPut(queue, 3000, counter)
            try drain(recorder, "R")
        }
        try drain(viewer, "V")
        for counter in 12..<15 { try walkPut(queue, 3000, counter) }
        _ = try queue.clear()
        try drain(recorder, "R")
        try drain(viewer, "V")
        viewer.detach()
        recorder.detach()
        Helper.logLine("walked")
    }

    /// A process arriving after the kill: dead subscribers are reaped, the queue delivers.
    static func walkCheck(_ queue: ArrayQueue) throws {
        try queue.recoverFromDeadPeers()
        let state = try queue.broadcastState()
        guard state.subscribers.allSatisfy(\.isAlive) else { Helper.fail("dead subscribers remain after a sweep: \(state.subscribers)") }
        let checker = try queue.subscribe(policy: .block, start: .oldest)
        try drain(checker, "C")
        for counter in 100..<120 {
            try walkPut(queue, 2000, counter)
            let record = try checker.get(timeout: .seconds(2))
            guard record.index == Pattern.index(producer: 7, counter: counter),
                  record.array.withUnsafeBytes({ Pattern.verify($0, seed: UInt64(bitPattern: record.index!)) }) else {
                Helper.fail("walk-check: record \(counter) came back wrong (index \(String(describing: record.index)))")
            }
        }
        Helper.logLine("ok")
    }

    /// A process arriving after a subscriber died giving back a record it could not read (holding
    /// the lock: this one repairs). Reports the dead slot as the kill left it, before any sweep;
    /// then puts records over two laps of the 16 KiB ring, which the dead block subscriber holds
    /// up until a waiting put's sweep reaps it, and the end record.
    static func unreadCheck(_ queue: ArrayQueue) throws {
        for dead in try queue.broadcastState().subscribers where !dead.isAlive {
            Helper.logLine("dead reading=\(dead.isReading) lost=\(dead.lost) delivered=\(dead.delivered)")
        }
        Helper.logLine("reported")
        for counter in 0..<40 { try walkPut(queue, 1000, counter) }
        try putEnd(queue)
        let state = try queue.broadcastState()
        guard state.reaped == 1, state.subscribers.allSatisfy(\.isAlive) else { Helper.fail("after the puts: \(state)") }
        Helper.logLine("ok")
    }
}
