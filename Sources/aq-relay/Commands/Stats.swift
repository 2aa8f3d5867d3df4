import AQCommandLine
import ArrayRelay
import ArgumentParser
import Foundation

/// `aq-relay stats`: reads the counters of running relays from their control endpoints: the
/// same HTTP `/metrics` page that Prometheus scrapes.
struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the counters of running relays (Prometheus text format, or a summary).",
        discussion: """
            Reads the relay's /metrics page (or /summary) over HTTP from its control endpoint: an ipc:// socket file (HTTP over a Unix socket; curl --unix-socket PATH http://localhost/metrics shows the same) or a tcp:// address. Without a name, endpoint or file, asks every relay whose control socket is in the runtime directory ($RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR or the private /tmp/aq-relay-UID) or in /run/aq-relay.

            Examples:
              aq-relay stats --summary        one line per stream, with rates
              aq-relay stats camera0          the relay named camera0
              aq-relay stats --control ipc:///run/aq-relay/aq-relay-camera0.sock
              aq-relay stats --config /etc/aq-relay/aq-relay.toml
            """)

    @Argument(help: ArgumentHelp("The relay's name (its --name or the name in its file).", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("The control endpoint to ask.", valueName: "endpoint"))
    var control: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("Ask the relay this configuration file describes.", valueName: "file"))
    var config: String?

    @Flag(help: "One line per stream, with rates over the last second or two, instead of Prometheus text.")
    var summary = false

    @Option(help: ArgumentHelp("Seconds to wait for an answer.", valueName: "seconds"))
    var timeout: Seconds = Seconds(.seconds(2))

    func run() async throws {
        try await reportingErrors("aq-relay") {
            let endpoints = try targets()
            guard !endpoints.isEmpty else {
                throw RelayError.runtime("no running relay found: no aq-relay-*.sock in \(CommonSettings.runtimeDirectory) or /run/aq-relay (give --control ENDPOINT)")
            }
            var answered = 0
            var lastError: RelayError?
            for endpoint in endpoints {
                do throws(RelayError) {
                    let answer = try await MetricsClient.get(summary ? "/summary" : "/metrics", from: try Values.endpoint(endpoint, what: "--control"), timeout: timeout.duration)
                    if endpoints.count > 1 && !summary { print("# \(endpoint)") }
                    print(answer, terminator: answer.hasSuffix("\n") ? "" : "\n")
                    answered += 1
                } catch {
                    lastError = error
                    if endpoints.count > 1 { printError("aq-relay: \(endpoint): \(error.message)") }
                }
            }
            if answered == 0, let lastError {
                throw endpoints.count == 1 ? lastError : RelayError.runtime("none of the \(endpoints.count) control sockets in \(CommonSettings.runtimeDirectory) answered")
            }
        }
    }

    private func targets() throws(RelayError) -> [String] {
        if let control { return [try Values.endpoint(control, what: "--control").description] }
        if let name {
            try CommonSettings.checkName(name, what: "name")
            return [try CommonSettings.defaultControl(name: name).description]
        }
        if let config {
            var found: [String] = []
            let file = try TOMLFile.load(config)
            guard let common = try? CommonOptions.parse(["--config", config]), let serve = try? ServeOptions.parse([]),
                  let subscribe = try? SubscribeOptions.parse([]) else { return [] }
            if file.has("serve"), let control = try ServeSettings.resolve(common: common, serve: serve).common.control {
                found.append(control.description)
            }
            if file.has("subscribe"), let control = try SubscribeSettings.resolve(common: common, subscribe: subscribe).common.control {
                found.append(control.description)
            }
            guard !found.isEmpty else { throw .configuration("\(config) has neither a [serve] nor a [subscribe] table with a control endpoint") }
            return found
        }
        // systemd's RuntimeDirectory= is /run/aq-relay; a shell does not have $RUNTIME_DIRECTORY.
        var found: [String] = []
        for directory in [CommonSettings.runtimeDirectory, "/run/aq-relay"] where !found.contains(where: { $0.hasPrefix("ipc://\(directory)/") }) {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            found += names.filter { $0.hasPrefix("aq-relay-") && $0.hasSuffix(".sock") }.sorted().map { "ipc://\(directory)/\($0)" }
        }
        return found
    }
}
