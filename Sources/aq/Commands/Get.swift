import ArgumentParser
import ArrayQueues
import Foundation

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take arrays from a queue, printing them or saving them as .npy files.",
        discussion: """
            Without -o or --out-dir, prints one line per record: sequence, timestamp, index, dtype, shape.
            On a broadcast queue, reads as a subscriber (every record, without taking it from the other \
            subscribers), with --policy and --start; prints how many records it lost, if any, on stderr.
            """)

    @Argument(help: "The queue's name.")
    var name: String

    @OptionGroup var destination: OutputOptions

    @Option(help: "Seconds to wait for each record (default: wait as long as it takes).")
    var timeout: Seconds?

    @Option(help: "Broadcast queues: when this reader falls behind, producers wait for it (block) or skip it ahead (drop).")
    var policy: SubscriberPolicy = .block

    @Option(help: "Broadcast queues: start at the newest record, the oldest one the queue holds, or the next one put.")
    var start: SubscriberStart = .newest

    @OptionGroup var owner: OwnerOptions

    func run() throws {
        try reportingErrors {
            let queue = try ArrayQueue.open(name: name, options: owner.queueOptions())
            try destination.prepare()
            let subscriber = queue.isBroadcast ? try queue.subscribe(policy: policy, start: start) : nil
            for _ in 0..<destination.count {
                let record = try subscriber?.get(timeout: timeout?.duration) ?? queue.get(timeout: timeout?.duration)
                if try !destination.save([("array", record.array)], sequence: record.sequence) {
                    let index = record.index.map(String.init) ?? "-"
                    print("seq=\(record.sequence) t=\(record.timestamp) index=\(index) dtype=\(record.array.dtype.typestr) shape=\(record.array.shape)")
                }
            }
            if let subscriber, subscriber.lost > 0 {
                FileHandle.standardError.write(Data("aq get: skipped \(subscriber.lost) records this reader fell behind on (--policy drop)\n".utf8))
            }
        }
    }
}
