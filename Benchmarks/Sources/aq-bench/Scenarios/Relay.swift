/// Scenario `relay`: a producer's 8 MiB frames through a local queue and `aq-relay serve` to a
/// receiver over tcp loopback, against the producer sending them over tcp itself.
///
/// It runs the release `aq-relay` binary's hidden `bench` subcommand (Sources/aq-relay/Demo/Bench.swift),
/// which alternates the three modes round by round, every box a process, ZeroMQ push/pull:
///
///     relay-direct    producer ──tcp──▶ receiver                               (the baseline)
///     relay           producer ─▶ queue ─▶ aq-relay serve ──tcp──▶ receiver
///     relay-zerocopy  the same, with aq-relay serve --zero-copy
///
/// and turns its per-round lines into rows: the best round of each mode, and its ratio to the
/// best direct round (the note gives the median of the per-round ratios). The binary is the one SwiftPM builds next to aq-bench (this package
/// depends on the `aq-relay` product), or `$AQ_RELAY`.
enum Relay {
    /// Frame height and width (uint16), as `aq-relay bench --size`: 2048 gives 8 MiB frames.
    static let side = 2048
    static var frameBytes: Int { side * side * 2 }

    /// The modes as `aq-relay bench` prints them, and their rows' names.
    static let modes = [("direct", "relay-direct"), ("relay (one copy)", "relay"), ("relay (zero-copy)", "relay-zerocopy")]

    /// Runs `aq-relay bench` and emits one row per mode.
    static func run(_ bench: Bench) throws {
        let binary = try locate()
        let seconds = bench.budget.quick ? 0.5 : 2.0
        let rounds = ZeroMQBench.rounds(bench.budget)
        let arguments = ["bench", "--size", "\(side)", "--seconds", "\(seconds)", "--rounds", "\(rounds)"]
        // Each measurement starts three or four processes and drains their queues: allow 30 s apiece.
        let timeout = Int64((seconds + 30) * Double(rounds * modes.count) * 1e9)
        let (status, output) = try Sys.run(binary, arguments: arguments, timeoutNanoseconds: timeout)
        guard status == 0 else {
            throw BenchError("\(binary) \(arguments.joined(separator: " ")) failed with status \(status): \(output.split(separator: "\n").suffix(3).joined(separator: " / "))")
        }
        let rates = try parse(output)
        guard let direct = rates["direct"], !direct.isEmpty else { throw BenchError("aq-relay bench printed no direct round:\n\(output)") }
        for (mode, scenario) in modes {
            guard let values = rates[mode], let best = values.max() else { throw BenchError("aq-relay bench printed no '\(mode)' round:\n\(output)") }
            var row = Row(scenario, size: frameBytes)
            row.seconds = seconds
            row.gbps = best
            row.recordsPerSecond = best * 1e9 / Double(frameBytes)
            if scenario != "relay-direct" {
                row.compare(with: "relay-direct-\(Reporter.formatSize(frameBytes))", value: direct.max() ?? 0, unit: "GB/s", figure: best)
                row.note = ZeroMQBench.roundsNote(figures: values, baselines: direct)
            }
            bench.emit(row)
        }
    }

    /// The `aq-relay` executable: `$AQ_RELAY`, or the one next to this executable.
    static func locate() throws(BenchError) -> String {
        if let path = Sys.environment("AQ_RELAY") {
            guard Sys.isExecutable(path) else { throw BenchError("AQ_RELAY=\(path) is not an executable") }
            return path
        }
        guard let directory = Sys.executableDirectory(), Sys.isExecutable(directory + "/aq-relay") else {
            throw BenchError("no aq-relay next to aq-bench: build this package (swift build -c release builds both) or set AQ_RELAY")
        }
        return directory + "/aq-relay"
    }

    /// GB/s per mode from the lines `  round N  MODE  X GB/s` (in order).
    ///
    /// `aq-relay bench` has no machine-readable output yet; if its wording changes, this throws
    /// rather than guessing.
    static func parse(_ output: String) throws(BenchError) -> [String: [Double]] {
        var rates: [String: [Double]] = [:]
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.count >= 4, words[0] == "round", Int(words[1]) != nil, words.last == "GB/s",
                  let value = Double(words[words.count - 2]) else { continue }
            let mode = words[2..<(words.count - 2)].joined(separator: " ")
            guard modes.contains(where: { $0.0 == mode }) else { throw BenchError("aq-relay bench printed an unknown mode '\(mode)'") }
            rates[mode, default: []].append(value)
        }
        return rates
    }
}
