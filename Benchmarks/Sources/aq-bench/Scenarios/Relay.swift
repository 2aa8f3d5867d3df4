import ArrayTransport

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
/// and turns its JSON lines (`--json`) into rows: the best round of each mode, and its ratio to
/// the best direct round (the note gives the median of the per-round ratios). The receiver does
/// not time the first 8 frames of each measurement (its warm-up, while the queues fill). The
/// binary is the one SwiftPM builds next to aq-bench (this package depends on the `aq-relay`
/// product), or `$AQ_RELAY`.
enum Relay {
    /// Frame height and width (uint16), as `aq-relay bench --size`: 2048 gives 8 MiB frames.
    static let side = 2048
    static var frameBytes: Int { side * side * 2 }

    /// The modes as `aq-relay bench --json` names them, and their rows' names.
    static let modes = [("direct", "relay-direct"), ("relay", "relay"), ("zero-copy", "relay-zerocopy")]

    /// One measurement as `aq-relay bench --json` reports it.
    struct Round {
        var gbps: Double
        var frames: Int
        var seconds: Double
    }

    /// Runs `aq-relay bench --json` and emits one row per mode.
    static func run(_ bench: Bench) throws {
        let binary = try locate()
        let seconds = bench.budget.quick ? 0.5 : 2.0
        let rounds = ZeroMQBench.rounds(bench.budget)
        let arguments = ["bench", "--json", "--size", "\(side)", "--seconds", "\(seconds)", "--rounds", "\(rounds)"]
        // Each measurement starts three or four processes and drains their queues: allow 30 s apiece.
        let timeout = Int64((seconds + 30) * Double(rounds * modes.count) * 1e9)
        let (status, output) = try Sys.run(binary, arguments: arguments, timeoutNanoseconds: timeout)
        guard status == 0 else {
            throw BenchError("\(binary) \(arguments.joined(separator: " ")) failed with status \(status): \(output.split(separator: "\n").suffix(3).joined(separator: " / "))")
        }
        let results = try parse(output)
        guard let direct = results["direct"], let directBest = direct.max(by: { $0.gbps < $1.gbps }) else {
            throw BenchError("aq-relay bench printed no direct round:\n\(output)")
        }
        for (mode, scenario) in modes {
            guard let values = results[mode], let best = values.max(by: { $0.gbps < $1.gbps }) else {
                throw BenchError("aq-relay bench printed no '\(mode)' round:\n\(output)")
            }
            var row = Row(scenario, size: frameBytes)
            row.records = best.frames
            row.seconds = best.seconds
            row.gbps = best.gbps
            row.recordsPerSecond = best.gbps * 1e9 / Double(frameBytes)
            if scenario != "relay-direct" {
                row.compare(with: "relay-direct-\(Reporter.formatSize(frameBytes))", value: directBest.gbps, unit: "GB/s", figure: best.gbps)
                row.note = ZeroMQBench.roundsNote(figures: values.map(\.gbps), baselines: direct.map(\.gbps))
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

    /// The rounds of each mode, in order, from the per-round objects of `aq-relay bench --json`
    /// (`{"round", "mode", "gbps", "frames", "seconds", "frame_bytes"}`); the output must end
    /// with its summary object. Anything else throws rather than guessing.
    static func parse(_ output: String) throws(BenchError) -> [String: [Round]] {
        var results: [String: [Round]] = [:]
        var summarized = false
        for line in output.split(separator: "\n") where !line.allSatisfy(\.isWhitespace) {
            let object: JSONValue
            do throws(TransportError) {
                object = try JSONValue(parsing: String(line))
            } catch {
                throw BenchError("aq-relay bench --json printed a line that is not JSON (\(error.message)): \(line)")
            }
            if object["summary"]?.boolValue == true {
                summarized = true
                continue
            }
            guard let mode = object["mode"]?.stringValue, let gbps = object["gbps"]?.doubleValue, let frames = object["frames"]?.integerValue,
                  let seconds = object["seconds"]?.doubleValue, object["frame_bytes"]?.integerValue == Int64(frameBytes) else {
                throw BenchError("aq-relay bench --json printed an unexpected object: \(line)")
            }
            guard modes.contains(where: { $0.0 == mode }) else { throw BenchError("aq-relay bench printed an unknown mode '\(mode)'") }
            results[mode, default: []].append(Round(gbps: gbps, frames: Int(frames), seconds: seconds))
        }
        guard summarized else { throw BenchError("aq-relay bench --json printed no summary:\n\(output)") }
        return results
    }
}
