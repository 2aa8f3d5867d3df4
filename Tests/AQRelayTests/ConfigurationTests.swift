import ArrayQueuesTestSupport
import Foundation
import Testing

/// Configuration files, command-line overrides and the errors people get when they are wrong.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ConfigurationTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let label: String
        /// File content, or nil to run without a file.
        let file: String?
        let arguments: [String]
        let expectedStatus: Int32
        let expectedText: String
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(label: "not TOML", file: "name = \"x\"\n[serve\npattern = 1\n", arguments: ["serve"], expectedStatus: 2, expectedText: ":2:"),
        Case(label: "unknown key", file: "[serve]\npatern = \"pubsub\"\n[[serve.queue]]\nname = \"q\"\nbind = \"tcp://*:5555\"\n", arguments: ["serve"], expectedStatus: 2, expectedText: "unknown key 'patern'"),
        Case(label: "wrong type", file: "[serve]\nbyte_budget = true\n[[serve.queue]]\nname = \"q\"\nbind = \"tcp://*:5555\"\n", arguments: ["serve"], expectedStatus: 2, expectedText: "byte_budget: expected a positive size"),
        Case(label: "bad fast path", file: "fast_path = \"sometimes\"\n[[serve.queue]]\nname = \"q\"\nbind = [\"tcp://*:5555\"]\n", arguments: ["serve"], expectedStatus: 2, expectedText: "'sometimes' is not a fast-path mode"),
        Case(label: "bad port in file", file: "[[serve.queue]]\nname = \"q\"\nbind = [\"tcp://*:99999\"]\n", arguments: ["serve"], expectedStatus: 2, expectedText: "port 99999 is out of range"),
        Case(label: "queue without endpoint", file: "[[serve.queue]]\nname = \"q\"\n", arguments: ["serve"], expectedStatus: 2, expectedText: "needs at least one endpoint"),
        Case(label: "bad pattern", file: "[subscribe]\nqueue = \"q\"\nconnect = \"tcp://127.0.0.1:5555\"\npattern = \"fanout\"\n", arguments: ["subscribe"], expectedStatus: 2, expectedText: "'fanout' is not a pattern"),
        Case(label: "bad log level", file: "log_level = \"loud\"\n[subscribe]\nqueue = \"q\"\nconnect = \"tcp://127.0.0.1:5555\"\n", arguments: ["subscribe"], expectedStatus: 2, expectedText: "'loud' is not a log level"),
        Case(label: "no port on the command line", file: nil, arguments: ["serve", "--queue", "q=tcp://localhost"], expectedStatus: 2, expectedText: "no port"),
        Case(label: "no endpoint in --queue", file: nil, arguments: ["serve", "--queue", "camera0"], expectedStatus: 2, expectedText: "must be NAME=ENDPOINT"),
        Case(label: "shared memory is not a network endpoint", file: nil, arguments: ["serve", "--queue", "q=shm://q"], expectedStatus: 2, expectedText: "shared-memory endpoint"),
        Case(label: "relative ipc path", file: nil, arguments: ["subscribe", "ipc://relative.sock", "--queue", "q"], expectedStatus: 2, expectedText: "must be absolute"),
        Case(label: "connect to a wildcard", file: nil, arguments: ["subscribe", "tcp://*:5555", "--queue", "q"], expectedStatus: 2, expectedText: "wildcard"),
        Case(label: "nothing to relay", file: nil, arguments: ["serve"], expectedStatus: 2, expectedText: "no queue to relay"),
        Case(label: "no relay to receive from", file: nil, arguments: ["subscribe", "--queue", "q"], expectedStatus: 2, expectedText: "no relay to receive from"),
        Case(label: "bad queue name", file: nil, arguments: ["subscribe", "tcp://127.0.0.1:5555", "--queue", "a/b"], expectedStatus: 2, expectedText: "queue name 'a/b' is not valid"),
        Case(label: "CURVE secret key without the relay's public key", file: nil,
             arguments: ["subscribe", "tcp://127.0.0.1:5555", "--queue", "q", "--curve-secret-key-file", "/nonexistent/client.key", "--check"],
             expectedStatus: 2, expectedText: "needs curve_server_key"),
        Case(label: "CURVE allow-list without the relay's secret key", file: "[serve]\ncurve_allowed_clients = \"/nonexistent/clients\"\n[[serve.queue]]\nname = \"q\"\nbind = [\"tcp://127.0.0.1:5555\"]\n",
             arguments: ["serve", "--check"], expectedStatus: 2, expectedText: "needs curve_secret_key_file"),
        Case(label: "CURVE server key that is not a key", file: nil,
             arguments: ["subscribe", "tcp://127.0.0.1:5555", "--queue", "q", "--curve-server-key", "short", "--check"],
             expectedStatus: 2, expectedText: "40 Z85 characters"),
        Case(label: "tcp control endpoint beyond loopback without opting in", file: nil,
             arguments: ["serve", "--queue", "q=tcp://127.0.0.1:5555", "--control", "tcp://*:7777", "--check"],
             expectedStatus: 2, expectedText: "--allow-tcp-control"),
        Case(label: "queue mode that is not octal", file: "queue_mode = \"rw-rw----\"\n[subscribe]\nqueue = \"q\"\nconnect = \"tcp://127.0.0.1:5555\"\n",
             arguments: ["subscribe", "--check"], expectedStatus: 2, expectedText: "queue_mode: 'rw-rw----' is not octal permission bits"),
        Case(label: "queue mode the owner cannot write", file: nil, arguments: ["subscribe", "tcp://127.0.0.1:5555", "--queue", "q", "--queue-mode", "440", "--check"],
             expectedStatus: 2, expectedText: "--queue-mode: '440' is not octal permission bits that let the owner read and write"),
        Case(label: "allow_other_owner that is not a boolean", file: "allow_other_owner = \"yes\"\n[subscribe]\nqueue = \"q\"\nconnect = \"tcp://127.0.0.1:5555\"\n",
             arguments: ["subscribe", "--check"], expectedStatus: 2, expectedText: "allow_other_owner"),
        Case(label: "missing file", file: nil, arguments: ["serve", "--config", "/nonexistent/aq-relay.toml"], expectedStatus: 2, expectedText: "cannot read configuration file"),
    ]

    @Test("a bad configuration file or endpoint is one clear line on stderr and exit status 2", arguments: cases)
    func badConfiguration(_ example: Case) throws {
        let scratch = try Scratch("config")
        defer { scratch.cleanUp() }
        var arguments = example.arguments
        if let file = example.file { arguments += ["--config", try scratch.write("relay.toml", file)] }
        let result = try scratch.run(arguments, timeout: 20)
        let lines = result.errors.split(separator: "\n")
        #expect(result.status == example.expectedStatus, "\(result.errors)")
        #expect(lines.count == 1, "expected one line, got: \(result.errors)")
        #expect(lines.first?.hasPrefix("aq-relay: ") == true)
        #expect(result.errors.contains(example.expectedText), "\(result.errors)")
    }

    @Test("an endpoint that is in use is one line and exit status 1")
    func endpointInUse() throws {
        let scratch = try Scratch("inuse")
        defer { scratch.cleanUp() }
        let port = try freeLoopbackPort()
        let first = try scratch.start(["serve", "--queue", "\(scratch.queue("a"))=tcp://127.0.0.1:\(port)", "--name", "first"], label: "first")
        #expect(first.waitForLog("running"))
        let second = try scratch.run(["serve", "--queue", "\(scratch.queue("b"))=tcp://127.0.0.1:\(port)", "--name", "second"], timeout: 20)
        #expect(second.status == 1)
        #expect(second.errors.split(separator: "\n").count == 1 && second.errors.contains("Address already in use"), "\(second.errors)")
        let sameName = try scratch.run(["serve", "--queue", "\(scratch.queue("c"))=tcp://127.0.0.1:*", "--name", "first"], timeout: 20)
        #expect(sameName.status == 1 && sameName.errors.contains("already running"), "\(sameName.errors)")
        first.signal(SIGTERM)
        #expect(first.wait(timeout: 10) == 0)
    }

    @Test("command-line options override the file; --check prints the effective settings")
    func precedence() throws {
        let scratch = try Scratch("check")
        defer { scratch.cleanUp() }
        let file = try scratch.write("relay.toml", """
            # comments are fine
            name = "lab"
            log_level = "debug"
            [serve]
            pattern = "pushpull"
            byte_budget = "64MiB"
            send_timeout = 2.5
            [[serve.queue]]
            name = "camera0"
            bind = ["tcp://*:5555"]
            [[serve.queue]]
            name = "camera1"
            stream = "left"
            bind = "ipc:///tmp/left.sock"
            [subscribe]
            queue = "remote"
            connect = ["tcp://camera-host:5555"]
            overflow = "drop-oldest"
            """)
        let serve = try scratch.run(["serve", "--config", file, "--byte-budget", "32MiB", "--check"], timeout: 20)
        #expect(serve.status == 0, "\(serve.errors)")
        for expected in ["name = \"lab\"", "log_level = \"debug\"", "pattern = \"pushpull\"", "byte_budget = \"32MiB\"", "send_timeout = 2.5",
                         "stream = \"left\"", "bind = [\"ipc:///tmp/left.sock\"]", "control = \"ipc://\(scratch.directory.path)/aq-relay-lab.sock\""] {
            #expect(serve.output.contains(expected), "missing \(expected) in:\n\(serve.output)")
        }
        let subscribe = try scratch.run(["subscribe", "--config", file, "--check", "--log-level", "warning", "tcp://127.0.0.1:6000"], timeout: 20)
        #expect(subscribe.status == 0, "\(subscribe.errors)")
        for expected in ["log_level = \"warning\"", "connect = [\"tcp://127.0.0.1:6000\"]", "overflow = \"drop-oldest\"", "queue = \"remote\"", "put_timeout = 1.0"] {
            #expect(subscribe.output.contains(expected), "missing \(expected) in:\n\(subscribe.output)")
        }
    }

    @Test("allow_other_owner and queue_mode: off and 0600 by default, set by the file or the command line, printed by --check")
    func queueAccess() throws {
        let scratch = try Scratch("access")
        defer { scratch.cleanUp() }
        let plain = try scratch.run(["subscribe", "tcp://127.0.0.1:6000", "--queue", "q", "--check"], timeout: 20)
        #expect(plain.status == 0, "\(plain.errors)")
        #expect(plain.output.contains("allow_other_owner = false") && plain.output.contains("queue_mode = \"0600\""), "\(plain.output)")
        let file = try scratch.write("relay.toml", """
            allow_other_owner = true
            queue_mode = "660"
            [[serve.queue]]
            name = "camera0"
            bind = ["tcp://*:5555"]
            """)
        let fromFile = try scratch.run(["serve", "--config", file, "--check"], timeout: 20)
        #expect(fromFile.status == 0, "\(fromFile.errors)")
        #expect(fromFile.output.contains("allow_other_owner = true") && fromFile.output.contains("queue_mode = \"0660\""), "\(fromFile.output)")
        let fromOptions = try scratch.run(["serve", "--queue", "q=tcp://*:5555", "--allow-other-owner", "--queue-mode", "640", "--check"], timeout: 20)
        #expect(fromOptions.status == 0, "\(fromOptions.errors)")
        #expect(fromOptions.output.contains("allow_other_owner = true") && fromOptions.output.contains("queue_mode = \"0640\""), "\(fromOptions.output)")
    }

    @Test("--version and --help with examples")
    func versionAndHelp() throws {
        let scratch = try Scratch("help")
        defer { scratch.cleanUp() }
        #expect(try scratch.run(["--version"]).output.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        for command in [[], ["serve"], ["subscribe"], ["stats"]] {
            let help = try scratch.run(command + ["--help"])
            #expect(help.status == 0 && help.output.contains("Examples:"), "\(command)")
        }
    }
}
