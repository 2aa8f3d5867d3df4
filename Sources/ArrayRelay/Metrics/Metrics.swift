import Foundation

/// One value of one metric, with its labels, in the Prometheus data model.
public struct Sample: Sendable {
    /// Counter (only grows) or gauge.
    public enum Kind: String, Sendable { case counter, gauge }

    /// The metric's name.
    public let name: String
    /// Counter or gauge.
    public let kind: Kind
    /// The metric's help text.
    public let help: String
    /// Label names and values.
    public let labels: [(String, String)]
    /// The value.
    public let value: Double

    /// A sample.
    public init(_ name: String, _ kind: Kind, _ help: String, labels: [(String, String)] = [], _ value: Double) {
        self.name = name
        self.kind = kind
        self.help = help
        self.labels = labels
        self.value = value
    }

    /// A counter's sample.
    public static func counter(_ name: String, _ help: String, labels: [(String, String)] = [], _ value: UInt64) -> Sample {
        Sample(name, .counter, help, labels: labels, Double(value))
    }

    /// A gauge's sample.
    public static func gauge(_ name: String, _ help: String, labels: [(String, String)] = [], _ value: Double) -> Sample {
        Sample(name, .gauge, help, labels: labels, value)
    }
}

/// Anything whose counters `/metrics`, the metrics file and the periodic log report.
public protocol MetricsSource: Sendable {
    /// The current values.
    func samples() -> [Sample]
    /// One human-readable line for the periodic log, given the values of the previous line
    /// (for rates) and the seconds since then.
    func summary(previous: [Sample]?, seconds: Double) -> String
}

extension Array where Element == Sample {
    /// The value of the first sample called `name`, or 0.
    public func value(_ name: String) -> Double {
        first(where: { $0.name == name })?.value ?? 0
    }

    /// The sum of every sample called `name` (a counter with several label values).
    public func total(_ name: String) -> Double {
        filter { $0.name == name }.reduce(0) { $0 + $1.value }
    }
}

/// Facts about the whole process, reported with every pipeline's samples.
public enum ProcessMetrics {
    /// When the process started (its first use of this type).
    public static let started = ContinuousClock.now

    /// The process's facts, labelled with its name, mode and version.
    public static func samples(name: String, mode: String, version: String) -> [Sample] {
        [
            .gauge("aq_relay_info", "Always 1; the labels say which relay this is.", labels: [("name", name), ("mode", mode), ("version", version)], 1),
            .gauge("aq_relay_uptime_seconds", "Seconds since the relay started.", (ContinuousClock.now - started).seconds),
            .gauge("aq_relay_resident_memory_bytes", "Resident memory of the relay process.", Double(residentBytes())),
        ]
    }

    /// Resident set size from /proc/self/statm (pages × page size); 0 if unreadable.
    public static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// `1.2 ms`, `340 µs`, `2.5 s`.
public func formatLag(_ seconds: Double) -> String {
    if seconds >= 1 { return String(format: "%.2f s", seconds) }
    if seconds >= 1e-3 { return String(format: "%.1f ms", seconds * 1e3) }
    return String(format: "%.0f µs", max(0, seconds * 1e6))
}
