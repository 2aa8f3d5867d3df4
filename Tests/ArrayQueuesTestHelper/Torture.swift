import ArrayQueues
import ArrayQueuesTestSupport
@preconcurrency import Glibc

/// The workers of the kill torture test. They run until SIGKILLed, pausing at random inside
/// their fill and read closures so that kills often land in the middle of a put or a get.
extension Helper {
    static func tortureProduce(_ queue: ArrayQueue, producer: Int, seed: UInt64) throws {
        var random = SplitMix(seed: seed)
        var counter = 0
        while true {
            let index = Pattern.index(producer: producer, counter: counter)
            let bytes = 1 + Int(random.next() % 48_000)
            if random.next() % 2 == 0 {
                try queue.put(dtype: .uint8, shape: [bytes], index: index, timeout: .seconds(30)) { buffer in
                    Pattern.fill(buffer, seed: UInt64(bitPattern: index))
                    pauseSometimes(&random)
                }
            } else {
                try queue.put(Pattern.array(dtype: .uint8, shape: [bytes], seed: UInt64(bitPattern: index)), index: index, timeout: .seconds(30))
            }
            counter += 1
        }
    }

    static func tortureConsume(_ queue: ArrayQueue, log path: String, seed: UInt64) throws {
        var random = SplitMix(seed: seed)
        try consumeAndLog(queue, log: path, random: &random) { random in random.next() % 4 == 0 ? UInt32(random.next() % 300) : 0 }
    }

    /// Takes records until killed, half of them borrowed (pausing inside for the microseconds
    /// `dawdle` draws) and half copied, and logs each one's index, or `CORRUPT` (then exits 3)
    /// for a payload that is not the one its index stands for.
    static func consumeAndLog(_ queue: ArrayQueue, log path: String, random: inout SplitMix, dawdle: (inout SplitMix) -> UInt32) throws {
        let log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { fail("cannot open \(path)") }
        while true {
            let index: Int64
            if random.next() % 2 == 0 {
                let pause = dawdle(&random)
                index = try queue.get(timeout: .seconds(30)) { record -> Int64 in
                    let valid = record.index.map { Pattern.verify(record.bytes, seed: UInt64(bitPattern: $0)) } ?? false
                    if pause > 0 { usleep(pause) }
                    return valid ? record.index! : -1
                }
            } else {
                let record = try queue.get(timeout: .seconds(30))
                let valid = record.array.withUnsafeBytes { Pattern.verify($0, seed: UInt64(bitPattern: record.index ?? 0)) }
                index = valid && record.index != nil ? record.index! : -1
            }
            // One write(2) per record, so a kill never leaves half a line.
            let line = index < 0 ? "CORRUPT\n" : "\(index)\n"
            _ = line.withCString { write(log, $0, strlen($0)) }
            if index < 0 { exit(3) }
        }
    }

    /// Sleeps 0–300 µs one time in four.
    private static func pauseSometimes(_ random: inout SplitMix) {
        if random.next() % 4 == 0 { usleep(UInt32(random.next() % 300)) }
    }
}

/// The kill torture of every overflow policy (`torture QUEUE ROLE POLICY SEED [ID|LOG]`):
///
///   produce POLICY SEED PRODUCER   mixed dtypes and shapes; `fail` uses tryPut and 1–5 ms timeouts
///   consume POLICY SEED LOG        borrows (dawdling inside up to 2 ms) or copies; logs each index
///   clear POLICY SEED              clear() every 5–50 ms
///
/// POLICY is block, drop (drop-oldest), reset (the queue was created with the reset policy;
/// producers change shape often) or fail.
extension Helper {
    static func torture(_ queue: ArrayQueue, arguments: [String]) throws {
        guard arguments.count >= 3 else { fail("usage: torture QUEUE ROLE POLICY SEED ...") }
        let policy = arguments[1]
        var random = SplitMix(seed: UInt64(integer(arguments, 2)))
        let overflow: OverflowPolicy = policy == "drop" ? .dropOldest : policy == "fail" ? .fail : .block
        let queue = try ArrayQueue.open(name: queue.name, options: QueueOptions(overflow: overflow))
        switch arguments[0] {
        case "produce":
            try tortureProduceMixed(queue, policy: policy, producer: integer(arguments, 3), random: &random)
        case "consume":
            try tortureConsumeMixed(queue, log: arguments[3], random: &random)
        case "clear":
            while true {
                usleep(UInt32(5_000 + random.next() % 45_000))
                _ = try queue.clear()
            }
        default:
            fail("unknown torture role \(arguments[0])")
        }
    }

    private static let tortureDTypes: [DType] = [.uint8, .int16, .float32, .float64, .complex64]

    private static func tortureProduceMixed(_ queue: ArrayQueue, policy: String, producer: Int, random: inout SplitMix) throws {
        var counter = 0
        while true {
            let index = Pattern.index(producer: producer, counter: counter)
            let dtype = tortureDTypes[Int(random.next() % UInt64(tortureDTypes.count))]
            // Under the reset policy a few shapes recur, so that resets happen often but not always.
            let elements = policy == "reset" ? [100, 2000, 6000][Int(random.next() % 3)] : 1 + Int(random.next() % 6000)
            let shape = random.next() % 2 == 0 ? [elements] : Pattern.varyingShape(counter: counter, elements: elements)
            let array = try Pattern.array(dtype: dtype, shape: shape, seed: UInt64(bitPattern: index))
            do {
                if policy == "fail" {
                    let stored = random.next() % 2 == 0
                        ? try queue.tryPut(array, index: index)
                        : ((try? queue.put(array, index: index, timeout: .milliseconds(1 + Int(random.next() % 5)))) != nil)
                    if !stored { continue }
                } else if random.next() % 2 == 0 {
                    try queue.put(array, index: index, timeout: .seconds(30))
                } else {
                    try queue.put(dtype: dtype, shape: shape, index: index, timeout: .seconds(30)) { buffer in
                        array.withUnsafeBytes { buffer.copyMemory(from: $0) }
                        pauseSometimes(&random)
                    }
                }
            } catch let error as ArrayQueueError where error.code == .full {
                continue
            }
            counter += 1
        }
    }

    private static func tortureConsumeMixed(_ queue: ArrayQueue, log path: String, random: inout SplitMix) throws {
        // One borrow in three dawdles up to 2 ms, holding its record while others put and clear.
        try consumeAndLog(queue, log: path, random: &random) { random in random.next() % 3 == 0 ? UInt32(random.next() % 2_000) : 0 }
    }
}
