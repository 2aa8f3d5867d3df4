import ArgumentParser
import ArrayQueues
import Foundation

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take arrays from a queue, printing them or saving them as .npy files.",
        discussion: "Without -o or --out-dir, prints one line per record: sequence, timestamp, index, dtype, shape.")

    @Argument(help: "The queue's name.")
    var name: String

    @OptionGroup var destination: OutputOptions

    @Option(help: "Seconds to wait for each record (default: wait as long as it takes).")
    var timeout: Seconds?

    @Flag(help: "Take the records in batches of up to 256 under one hold of the queue lock (waiting, up to --timeout, for the first of each batch).")
    var batch = false

    @OptionGroup var owner: OwnerOptions

    func run() throws {
        try reportingErrors {
            let queue = try ArrayQueue.open(name: name, options: owner.queueOptions())
            try destination.prepare()
            var left = destination.count
            while left > 0 {
                let records = batch ? try queue.get(upTo: min(left, 256), timeout: timeout?.duration) : [try queue.get(timeout: timeout?.duration)]
                for record in records {
                    guard try !destination.save([("array", record.array)], sequence: record.sequence) else { continue }
                    let index = record.index.map(String.init) ?? "-"
                    print("seq=\(record.sequence) t=\(record.timestamp) index=\(index) dtype=\(record.array.dtype.typestr) shape=\(record.array.shape)")
                }
                left -= records.count
            }
        }
    }
}
