import AQCommandLine
import ArrayRelay
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

    @OptionGroup var owner: OwnerOptions

    func run() throws {
        try reportingErrors("aq") {
            let queue = try ArrayQueue.open(name: name, options: owner.queueOptions())
            try destination.prepare()
            for _ in 0..<destination.count {
                let record = try queue.get(timeout: timeout?.duration)
                if try !destination.save([("array", record.array)], sequence: record.sequence) {
                    let index = record.index.map(String.init) ?? "-"
                    print("seq=\(record.sequence) t=\(record.timestamp) index=\(index) dtype=\(record.array.dtype.typestr) shape=\(record.array.shape)")
                }
            }
        }
    }
}
