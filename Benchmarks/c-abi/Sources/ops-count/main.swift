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
let path = arguments[0]
let name = "ops-count-\(getpid())"
let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
defer { try? ArrayQueue.remove(name: name) }
let array = try AnyNDArray(dtype: .uint8, shape: [size]) { $0.initializeMemory(as: UInt8.self, repeating: 1) }
let shape = [size]
let batch = Array(repeating: array, count: 64)

/// One put/get pair of `path` (64 for the batches); returns the bytes it got. `reused` is
/// the record `get(into:)` rewrites.
func pair(_ reused: inout ArrayRecord) throws -> Int {
    switch path {
    case "into":
        try queue.put(array)
        try queue.get(into: &reused)
        return reused.array.byteCount
    case "batch-copy":
        try queue.put(contentsOf: batch)
        return try queue.get(upTo: 64).count
    case "batch-borrow":
        try queue.put(contentsOf: batch)
        var bytes = 0
        try queue.drain(upTo: 64) { record in bytes &+= record.bytes.count }
        return bytes
    case "copy":
        try queue.put(array)
        return try queue.get().array.byteCount
    case "loan":
        try queue.put(dtype: .uint8, shape: shape) { bytes in bytes.storeBytes(of: 7, as: UInt8.self) }
        return try queue.get { record in record.bytes.count }
    case "borrow":
        try queue.put(array)
        return try queue.get { record in record.bytes.count }
    default:
        print("unknown path '\(path)'")
        exit(2)
    }
}

/// `malloc_count_total` of the malloc_count.so preload, if it is loaded.
let counter: (@convention(c) () -> Int)? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_count_total").map {
    unsafeBitCast($0, to: (@convention(c) () -> Int).self)
}
var sink = 0
var reused = ArrayRecord(array: array, sequence: 0, timestamp: .now(), index: nil)
let calls = path.hasPrefix("batch") ? count / 64 : count
for _ in 0..<calls { sink &+= try pair(&reused) }  // warm-up: first laps over the ring, lazy initialisation
let before = counter?() ?? 0
for _ in 0..<calls { sink &+= try pair(&reused) }
let after = counter?() ?? 0
let allocations = counter.map { _ in "\(Double(after - before) / Double(count))" } ?? "n/a (no malloc_count.so preload)"
print("\(path) \(size) B: \(count) pairs, allocations per pair \(allocations) (checksum \(sink))")
