import ArgumentParser
import ArrayQueues
import Foundation

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take arrays from a queue, printing them or saving them as .npy files.",
        discussion: "Without -o or --out-dir, prints one line per record: sequence, timestamp, index, dtype, shape.")

    @Argument(help: "The queue's name.")
    var name: String

    @Option(name: [.short, .customLong("output")], help: "Save the record to this .npy file (with --count 1).")
    var output: String?

    @Option(help: "Save each record to DIR/<sequence>.npy.")
    var outDir: String?

    @Option(help: "How many records to take.")
    var count: Int = 1

    @Option(help: "Seconds to wait for each record (default: wait as long as it takes).")
    var timeout: Seconds?

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard output == nil || outDir == nil else { throw ValidationError("give either -o or --out-dir, not both") }
        guard output == nil || count == 1 else { throw ValidationError("-o saves one record; use --out-dir with --count \(count)") }
    }

    func run() throws {
        try reportingErrors {
            let queue = try ArrayQueue.open(name: name)
            if let outDir { try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true) }
            for _ in 0..<count {
                let record = try queue.get(timeout: timeout?.duration)
                if let output {
                    try NPY.write(record.array, to: output)
                } else if let outDir {
                    try NPY.write(record.array, to: "\(outDir)/\(String(format: "%010llu", record.sequence)).npy")
                } else {
                    let index = record.index.map(String.init) ?? "-"
                    print("seq=\(record.sequence) t=\(record.timestamp) index=\(index) dtype=\(record.array.dtype.typestr) shape=\(record.array.shape)")
                }
            }
        }
    }
}
