// Put/get pairs of one path, in one process, on one queue: the driver for instruction counts
// (valgrind --tool=callgrind) and heap allocations per pair (run under the malloc_count.so
// preload of this directory, whose counter it reads). docs/BENCHMARKS.md, "Small records".
//
//   swift build -c release --product ops-count
//   cc -O2 -shared -fPIC -o malloc_count.so malloc_count.c
//   LD_PRELOAD=./malloc_count.so .build/release/ops-count copy 1024 10000
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null .build/release/ops-count copy 1024 10000
//
// Paths: copy (put(array) + get()), loan (put(dtype:shape:fill:) + get { }), borrow
// (put(array) + get { }), into (put(array) + get(into:)), and per record of batches of 64:
// batch-copy (put(contentsOf:) + get(upTo:)), batch-borrow (put(contentsOf:) + drain { }).
// Instructions per pair: the difference between two callgrind runs with different counts,
// divided by the difference of the counts (start-up cancels out).
import ArrayQueues
import Glibc

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 3, let size = Int(arguments[1]), let count = Int(arguments[2]), size >= 1, count >= 64, count % 64 == 0 else {
    print("usage: ops-count copy|loan|borrow|into|batch-copy|batch-borrow SIZE PAIRS (a multiple of 64)")
    exit(2)
}
enum Path: String { case copy, loan, borrow, into, batchCopy = "batch-copy", batchBorrow = "batch-borrow" }
guard let path = Path(rawValue: arguments[0]) else {
    print("unknown path '\(arguments[0])'")
    exit(2)
}
let name = "ops-count-\(getpid())"
let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
defer { try? ArrayQueue.remove(name: name) }
let array = try AnyNDArray(dtype: .uint8, shape: [size]) { $0.initializeMemory(as: UInt8.self, repeating: 1) }

/// `calls` calls of `path` (one put/get pair each, 64 for the batches); returns the bytes got.
func run(_ path: Path, calls: Int) throws -> Int {
    let shape = [size]
    let batch = Array(repeating: array, count: 64)
    var reused = ArrayRecord(array: array, sequence: 0, timestamp: .now(), index: nil)
    var sink = 0
    for _ in 0..<calls {
        switch path {
        case .copy:
            try queue.put(array)
            sink &+= try queue.get().array.byteCount
        case .loan:
            try queue.put(dtype: .uint8, shape: shape) { bytes in bytes.storeBytes(of: 7, as: UInt8.self) }
            sink &+= try queue.get { record in record.bytes.count }
        case .borrow:
            try queue.put(array)
            sink &+= try queue.get { record in record.bytes.count }
        case .into:
            try queue.put(array)
            try queue.get(into: &reused)
            sink &+= reused.array.byteCount
        case .batchCopy:
            try queue.put(contentsOf: batch)
            sink &+= try queue.get(upTo: 64).count
        case .batchBorrow:
            try queue.put(contentsOf: batch)
            try queue.drain(upTo: 64) { record in sink &+= record.bytes.count }
        }
    }
    return sink
}

/// `malloc_count_total` of the malloc_count.so preload, if it is loaded.
let counter: (@convention(c) () -> Int)? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_count_total").map {
    unsafeBitCast($0, to: (@convention(c) () -> Int).self)
}
let calls = path.rawValue.hasPrefix("batch") ? count / 64 : count
var sink = try run(path, calls: calls)  // warm-up: first laps over the ring, lazy initialisation
let before = counter?() ?? 0
sink &+= try run(path, calls: calls)
let after = counter?() ?? 0
let allocations = counter.map { _ in "\(Double(after - before) / Double(count))" } ?? "n/a (no malloc_count.so preload)"
print("\(path.rawValue) \(size) B: \(count) pairs, allocations per pair \(allocations) (checksum \(sink))")
