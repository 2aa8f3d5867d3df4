/// Scenario `memcpy`: single-threaded `copyMemory` between two pre-faulted buffers, the
/// baseline of every throughput scenario.
enum Memcpy {
    static let sizes = [1 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20]

    static func run(_ bench: Bench) throws {
        for size in sizes {
            let (gbps, copies, seconds) = measure(size: size, budget: bench.budget)
            bench.keepBaseline(baselineName(size), gbps)
            var row = Row("memcpy", size: size)
            row.records = copies
            row.seconds = seconds
            row.gbps = gbps
            bench.emit(row)
        }
    }

    static func baselineName(_ size: Int) -> String { "memcpy-\(Reporter.formatSize(size))" }

    /// GB/s of copying `size` bytes, measured now if the `memcpy` scenario did not run.
    static func baseline(_ bench: Bench, size: Int) -> Double {
        bench.baseline(baselineName(size)) { measure(size: size, budget: bench.budget).gbps }
    }

    /// The best of several repetitions, each copying for at least `budget.memcpySeconds`.
    static func measure(size: Int, budget: Budget) -> (gbps: Double, copies: Int, seconds: Double) {
        let source = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        let target = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer {
            source.deallocate()
            target.deallocate()
        }
        // Touch every page of both buffers so that page faults are not measured.
        source.initializeMemory(as: UInt8.self, repeating: 0x5a, count: size)
        target.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let batch = max(1, (4 << 20) / size)
        let minimum = Int64(budget.memcpySeconds * 1e9)
        var best = (gbps: 0.0, copies: 0, seconds: 0.0)
        for _ in 0..<budget.memcpyRepetitions {
            var copies = 0
            let start = Sys.monotonicNanoseconds()
            var elapsed: Int64 = 0
            // Bounded: stops after the minimum time (or a copy count no machine reaches in it).
            while elapsed < minimum && copies < 1 << 40 {
                for _ in 0..<batch {
                    target.copyMemory(from: source, byteCount: size)
                    blackHole(target)
                }
                copies += batch
                elapsed = Sys.monotonicNanoseconds() - start
            }
            let gbps = Double(copies) * Double(size) / Double(elapsed)
            if gbps > best.gbps { best = (gbps, copies, Double(elapsed) / 1e9) }
        }
        return best
    }
}

/// Hides `pointer` from the optimizer, so that copies into it are never deemed dead.
@_optimize(none)
func blackHole(_ pointer: UnsafeMutableRawPointer) {}
