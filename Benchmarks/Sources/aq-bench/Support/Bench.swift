import Histogram

/// How long and how often to measure: the full run, or `--quick`.
struct Budget {
    let quick: Bool

    /// memcpy: repetitions of at least ``memcpySeconds`` each; the best one counts.
    var memcpyRepetitions: Int { quick ? 3 : 7 }
    var memcpySeconds: Double { 0.2 }
    /// Round trips per latency figure.
    var roundTrips: Int { quick ? 5_000 : 20_000 }
    /// Streaming scenarios: how long producers produce per measurement, and how many
    /// measurements a figure is the best of.
    var streamSeconds: Double { quick ? 0.5 : 1.5 }
    var streamRepetitions: Int { quick ? 1 : 3 }
    /// Record-rate scenarios: how long producers produce.
    var rateSeconds: Double { quick ? 0.5 : 1.0 }
    /// The most any latency loop may take, however slow the machine.
    var latencyCapNanoseconds: Int64 { quick ? 10_000_000_000 : 30_000_000_000 }
}

/// What every scenario gets: the budget, the output, and the baselines measured so far.
final class Bench {
    let budget: Budget
    let reporter: Reporter
    private var baselines: [String: Double] = [:]

    init(budget: Budget, reporter: Reporter) {
        self.budget = budget
        self.reporter = reporter
    }

    func emit(_ row: Row) { reporter.emit(row) }

    /// Keeps a baseline figure measured by its own scenario, for the scenarios that compare with it.
    func keepBaseline(_ name: String, _ value: Double) {
        baselines[name] = value
    }

    /// The baseline `name`, measured now by `measure` if its scenario did not run (`--only`).
    func baseline(_ name: String, measure: () throws -> Double) rethrows -> Double {
        if let value = baselines[name] { return value }
        reporter.note("measuring baseline \(name)")
        let value = try measure()
        baselines[name] = value
        return value
    }
}

/// Round-trip times, recorded in nanoseconds (HdrHistogram, 3 significant digits) and reported in microseconds.
struct Latencies {
    private static let highest: UInt64 = 3_600_000_000_000
    private var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highest, numberOfSignificantValueDigits: .three)
    /// Nanoseconds from the first recorded round trip's start to the last one's end.
    private(set) var elapsedNanoseconds: Int64 = 0

    init() {}

    mutating func record(start: Int64, end: Int64) {
        histogram.record(UInt64(min(max(end - start, 1), Int64(Self.highest))))
        elapsedNanoseconds += end - start
    }

    var count: Int { Int(histogram.totalCount) }

    func microseconds(atPercentile percentile: Double) -> Double {
        Double(histogram.valueAtPercentile(percentile)) / 1000
    }

    /// A row with the count, time and percentiles filled in.
    func row(_ scenario: String, size: Int? = nil) -> Row {
        var row = Row(scenario, size: size)
        row.records = count
        row.seconds = Double(elapsedNanoseconds) / 1e9
        row.p50 = microseconds(atPercentile: 50)
        row.p99 = microseconds(atPercentile: 99)
        row.p999 = microseconds(atPercentile: 99.9)
        return row
    }
}
