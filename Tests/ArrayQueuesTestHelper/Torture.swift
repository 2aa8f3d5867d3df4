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
        let log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { fail("cannot open \(path)") }
        while true {
            let index: Int64
            if random.next() % 2 == 0 {
                index = try queue.get(timeout: .seconds(30)) { record -> Int64 in
                    let valid = record.index.map { Pattern.verify(record.bytes, seed: UInt64(bitPattern: $0)) } ?? false
                    pauseSometimes(&random)
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
