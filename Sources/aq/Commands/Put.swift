import AQCommandLine
import ArrayRelay
import ArgumentParser
import ArrayQueues

struct Put: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put an array from a numpy .npy file into a queue.",
        discussion: "Example: python3 -c 'import numpy as np; np.save(\"a.npy\", np.eye(3))' && aq put camera0 a.npy")

    @Argument(help: "The queue's name.")
    var name: String

    @Argument(help: "A .npy file (format 1.0, 2.0 or 3.0, C order).")
    var file: String

    @Option(help: "Put the array this many times.")
    var `repeat`: Int = 1

    @Option(help: "The records' timestamp in nanoseconds since the Unix epoch (default: the time of each put).")
    var timestamp: Int64?

    @Option(help: "The producer's frame number for the first record (incremented for each repeat).")
    var index: Int64?

    @Option(help: "Seconds to wait for room in a full queue (default: wait as long as it takes).")
    var timeout: Seconds?

    @Option(help: "When the queue is full: block, fail, or drop-oldest.")
    var overflow: OverflowPolicy = .block

    @Flag(help: "Put the repeats in batches of up to 256 under one hold of the queue lock; the records of a batch share its time (not with --index or --timestamp).")
    var batch = false

    @OptionGroup var owner: OwnerOptions

    func validate() throws {
        guard `repeat` >= 1 else { throw ValidationError("--repeat must be at least 1") }
        // The repeats are numbered index, index + 1, …: the last must fit in an Int64.
        if let index, index > Int64.max - Int64(`repeat` - 1) {
            throw ValidationError("--index \(index) with --repeat \(`repeat`) numbers records past \(Int64.max)")
        }
        guard !batch || (index == nil && timestamp == nil) else { throw ValidationError("--batch gives no index and one time per batch: not with --index or --timestamp") }
    }

    func run() throws {
        try reportingErrors("aq") {
            let array = try NPY.read(contentsOf: file)
            let queue = try ArrayQueue.open(name: name, options: owner.queueOptions(QueueOptions(overflow: overflow)))
            var left = batch ? `repeat` : 0
            while left > 0 {
                let count = min(left, 256)
                try queue.put(contentsOf: repeatElement(array, count: count), timeout: timeout?.duration)
                left -= count
            }
            for counter in 0..<(batch ? 0 : `repeat`) {
                try queue.put(
                    array, timestamp: timestamp.map(Timestamp.init(nanosecondsSinceEpoch:)),
                    index: index.map { $0 + Int64(counter) }, timeout: timeout?.duration)
            }
            print("put \(`repeat`) × \(array.dtype) \(array.shape) into \(name) (\(queue.count) waiting)")
        }
    }
}
