import AQCommandLine
import ArrayRelay
import ArrayQueues
import ArrayTransport
import Foundation

/// What `aq-relay bench` prints: lines for people, or (`--json`) one JSON object per round and
/// mode and a summary object, each on a line of its own.
struct BenchReport {
    let json: Bool
    let rounds: Int
    let seconds: Double
    let frameBytes: Int
    let warmupFrames: Int

    /// The heading (text only).
    func start(size: Int) {
        guard !json else { return }
        print("aq-relay bench: \(size)×\(size) uint16 frames (\(ByteCount.format(frameBytes))), \(seconds) s per measurement, \(rounds) rounds, "
              + "tcp loopback, push/pull; the first \(warmupFrames) frames of each are not timed")
    }

    /// One measurement.
    func round(_ round: Int, _ mode: Bench.Mode, _ measurement: Bench.Measurement) {
        if json {
            emit(Self.line([
                ("round", .integer(Int64(round))), ("mode", .string(mode.key)), ("gbps", Self.number(measurement.gbps)),
                ("frames", .integer(Int64(measurement.frames))), ("seconds", Self.number(measurement.seconds, digits: 6)),
                ("frame_bytes", .integer(Int64(frameBytes))),
            ]))
        } else {
            print("  round \(round)  " + mode.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: " %6.2f GB/s", measurement.gbps))
        }
    }

    /// The median, range and median ratio to direct of each mode. Each round's ratio compares
    /// measurements a few seconds apart: steadier than the ratio of medians when other work
    /// shares the machine.
    func summary(_ results: [Bench.Mode: [Double]]) {
        let direct = results[.direct] ?? []
        func ratios(_ mode: Bench.Mode) -> [Double] { zip(results[mode] ?? [], direct).map { $1 > 0 ? $0 / $1 : 0 } }
        if json {
            func byMode(_ value: (Bench.Mode) -> Double) -> JSONValue {
                .object(Dictionary(uniqueKeysWithValues: Bench.Mode.allCases.map { ($0.key, Self.number(value($0))) }))
            }
            emit(Self.line([
                ("summary", .bool(true)), ("rounds", .integer(Int64(rounds))), ("frame_bytes", .integer(Int64(frameBytes))),
                ("seconds", Self.number(seconds)), ("warmup_frames", .integer(Int64(warmupFrames))),
                ("median_gbps", byMode { Self.median(results[$0] ?? []) }),
                ("min_gbps", byMode { results[$0]?.min() ?? 0 }), ("max_gbps", byMode { results[$0]?.max() ?? 0 }),
                ("median_ratio_to_direct", byMode { Self.median(ratios($0)) }),
            ]))
            return
        }
        print("  median over \(rounds) rounds (range), and the median of the per-round ratios to direct:")
        for mode in Bench.Mode.allCases {
            let values = results[mode] ?? []
            print("    " + mode.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)
                  + String(format: " %6.2f GB/s (%.2f–%.2f)  ratio %.2f", Self.median(values), values.min() ?? 0, values.max() ?? 0, Self.median(ratios(mode))))
        }
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// `value` rounded to `digits` decimals (JSON readers do not need the noise).
    static func number(_ value: Double, digits: Int = 4) -> JSONValue {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        return .number((value * scale).rounded() / scale)
    }

    /// One JSON object with its members in the order given.
    static func line(_ members: [(String, JSONValue)]) -> String {
        "{" + members.map { "\(JSONValue.string($0.0).jsonText): \($0.1.jsonText)" }.joined(separator: ", ") + "}"
    }
}
