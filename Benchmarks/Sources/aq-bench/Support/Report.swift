@preconcurrency import Glibc

/// One line of results: a figure, the baseline measured in the same run, and their ratio.
struct Row {
    var scenario: String
    var sizeBytes: Int?
    var records: Int?
    var seconds: Double?
    var gbps: Double?
    var recordsPerSecond: Double?
    /// Round-trip percentiles in microseconds.
    var p50: Double?, p99: Double?, p999: Double?
    /// The baseline's name, e.g. `memcpy-1MiB`; nil for a row that is itself a baseline.
    var baseline: String?
    var baselineValue: Double?
    /// `GB/s`, `records/s` or `us`: what ``baselineValue`` and the figure it is compared with measure.
    var baselineUnit: String?
    /// Figure / baseline (for latencies: > 1 is slower than the baseline).
    var ratio: Double?
    /// Anything the reader must know, e.g. a size shrunk to fit `/dev/shm`.
    var note: String?
    /// Records the ring holds (streaming scenarios): its geometry.
    var ringRecords: Int?
    /// GB/s of the raw two-process shared-memory pipeline with the same ring geometry, and
    /// the figure as a fraction of it: how close to the physical limit the queue is.
    var rawPipelineGbps: Double?
    var ratioRaw: Double?

    init(_ scenario: String, size: Int? = nil) {
        self.scenario = scenario
        self.sizeBytes = size
    }

    /// Pairs the row's figure with a baseline.
    mutating func compare(with name: String, value: Double, unit: String, figure: Double) {
        baseline = name
        baselineValue = value
        baselineUnit = unit
        ratio = value > 0 ? figure / value : nil
    }

    /// The row as one JSON object; fields that do not apply are null.
    var json: String {
        func number(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "null" }
            return "\((value * 1000).rounded() / 1000)"
        }
        func integer(_ value: Int?) -> String { value.map { "\($0)" } ?? "null" }
        func string(_ value: String?) -> String {
            guard let value else { return "null" }
            var escaped = ""
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\"", "\\": escaped += "\\\(scalar)"
                case _ where scalar.value < 0x20: escaped += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                default: escaped.unicodeScalars.append(scalar)
                }
            }
            return "\"\(escaped)\""
        }
        let fields: [(String, String)] = [
            ("scenario", string(scenario)), ("size_bytes", integer(sizeBytes)), ("records", integer(records)),
            ("seconds", number(seconds)), ("gbps", number(gbps)), ("records_per_s", number(recordsPerSecond)),
            ("p50_us", number(p50)), ("p99_us", number(p99)), ("p999_us", number(p999)),
            ("baseline", string(baseline)), ("baseline_value", number(baselineValue)), ("baseline_unit", string(baselineUnit)),
            ("ratio", number(ratio)), ("note", string(note)), ("ring_records", integer(ringRecords)),
            ("raw_pipeline_gbps", number(rawPipelineGbps)), ("ratio_raw", number(ratioRaw)),
        ]
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}

/// Prints rows as they are measured: JSON lines, or a table for people.
final class Reporter {
    let json: Bool
    private var printedHeader = false

    init(json: Bool) { self.json = json }

    func emit(_ row: Row) {
        if json {
            print(row.json)
        } else {
            if !printedHeader {
                printedHeader = true
                print(Self.header)
                print(String(repeating: "-", count: Self.header.count))
            }
            print(Self.tableLine(row))
            if let note = row.note { print("    note: \(note)") }
        }
        fflush(stdout)
    }

    /// A progress or warning message, on standard error so that JSON output stays clean.
    func note(_ message: String) {
        fputs("aq-bench: \(message)\n", stderr)
    }

    private static let widths = [23, 6, 9, 5, 6, 8, 8, 8, 8, 28, 11, 6, 6, 7, 6]
    private static let header = line([
        "scenario", "size", "records", "sec", "GB/s", "rec/s", "p50 us", "p99 us", "p99.9 us", "baseline", "value", "ratio",
        "ring", "raw", "/raw",
    ])

    private static func tableLine(_ row: Row) -> String {
        let baselineValue = row.baselineValue.map { value in
            switch row.baselineUnit {
            case "records/s": "\(formatRate(value))/s"
            case "us": "\(format(value, digits: 2)) us"
            default: "\(format(value, digits: 1)) \(row.baselineUnit ?? "")"
            }
        }
        return line([
            row.scenario, row.sizeBytes.map(formatSize) ?? "", row.records.map { "\($0)" } ?? "",
            row.seconds.map { format($0, digits: 2) } ?? "", row.gbps.map { format($0, digits: 2) } ?? "",
            row.recordsPerSecond.map(formatRate) ?? "",
            row.p50.map { format($0, digits: 2) } ?? "", row.p99.map { format($0, digits: 2) } ?? "",
            row.p999.map { format($0, digits: 2) } ?? "", row.baseline ?? "(baseline)", baselineValue ?? "",
            row.ratio.map { format($0, digits: 3) } ?? "",
            row.ringRecords.map { "\($0)" } ?? "", row.rawPipelineGbps.map { format($0, digits: 2) } ?? "",
            row.ratioRaw.map { format($0, digits: 3) } ?? "",
        ])
    }

    private static func line(_ cells: [String]) -> String {
        zip(cells, widths).enumerated().map { index, pair in
            let (cell, width) = pair
            let padding = String(repeating: " ", count: max(width - cell.count, 0))
            // Text left-aligned, numbers right-aligned.
            return index == 0 || index == 9 ? cell + padding : padding + cell
        }.joined(separator: " ")
    }

    static func format(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return "-" }
        if digits == 0 { return "\(Int(value.rounded()))" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = "\(rounded)"
        if let dot = text.firstIndex(of: "."), text.distance(from: dot, to: text.endIndex) - 1 < digits, !text.contains("e") {
            text += String(repeating: "0", count: digits - (text.distance(from: dot, to: text.endIndex) - 1))
        }
        return text
    }

    /// `1.25 M`, `830 k`: records per second.
    static func formatRate(_ value: Double) -> String {
        if value >= 1e6 { return "\(format(value / 1e6, digits: 2))M" }
        if value >= 1e3 { return "\(format(value / 1e3, digits: 1))k" }
        return format(value, digits: 0)
    }

    /// `1KiB`, `64MiB`, `4B`.
    static func formatSize(_ bytes: Int) -> String {
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)B"
    }
}
