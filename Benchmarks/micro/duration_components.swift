// What `Duration.components` (a 128-bit division) costs, in ns: the conversion `Deadline`
// defers until a call waits (docs/BENCHMARKS.md, "A clock read per call").
//
//   swiftc -O -o /tmp/duration_components duration_components.swift && /tmp/duration_components
import Glibc

func seconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

let count = 10_000_000
let base = Duration.seconds(Int64(CommandLine.arguments.count) * 30)  // not a constant
var sink: Int64 = 0
let start = seconds()
for i in 0..<count {
    let (whole, attoseconds) = (base + .nanoseconds(Int64(i & 7))).components
    sink &+= whole &+ attoseconds
}
print("Duration.components  \((seconds() - start) / Double(count) * 1e9) ns (\(sink & 1))")
