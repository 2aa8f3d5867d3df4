import ArgumentParser

/// One measurement of one zmq-* configuration, without its baseline: for profiling
/// (`perf record -g -- aq-bench zmq --carrier transport --size 8388608`) and for trying variants.
struct ZeroMQProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zmq",
        abstract: "Measure one ZeroMQ configuration once (libzmq's C API or ArrayTransport).",
        discussion: "Prints one row (a JSON object with --json), named as in the zmq-* scenarios, without a baseline."
    )

    enum CarrierName: String, ExpressibleByArgument, CaseIterable {
        case libzmq, transport, fastpath
    }

    @Option(help: "Who moves the records: libzmq (the C API), transport (ArrayTransport, fast path disabled) or fastpath (ArrayTransport pub/sub switched to shared memory; implies --pubsub --sender-binds over tcp).")
    var carrier: CarrierName = .transport

    @Option(help: "tcp (loopback) or ipc.")
    var scheme = "tcp"

    @Flag(help: "Publish/subscribe instead of push/pull.")
    var pubsub = false

    @Flag(help: "CURVE security (ArrayTransport only).")
    var curve = false

    @Flag(help: "The sender binds and the receiver connects (default: the other way round).")
    var senderBinds = false

    @Option(help: "Bytes per record.")
    var size = 8 << 20

    @Option(help: "How long to send, after the warm-up records.")
    var seconds = 1.5

    @Flag(help: "Print a JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard size >= 8, seconds > 0, seconds <= 60, ["tcp", "ipc"].contains(scheme) else {
            throw ValidationError("need --size ≥ 8, 0 < --seconds ≤ 60 and --scheme tcp or ipc")
        }
        guard !curve || carrier == .transport else { throw ValidationError("--curve needs --carrier transport") }
        guard carrier != .fastpath || scheme == "tcp" else { throw ValidationError("--carrier fastpath needs --scheme tcp") }
    }

    func run() throws {
        let bench = Bench(budget: Budget(quick: true), reporter: Reporter(json: json))
        let fast = carrier == .fastpath
        let link = ZeroMQBench.Link(
            carrier: fast ? .fastPath : carrier == .libzmq ? .libzmq : .transport, scheme: scheme, pubsub: pubsub || fast, curve: curve,
            senderBinds: senderBinds || fast)
        let result = try ZeroMQBench.measure(link, size: size, seconds: seconds)
        bench.emit(result.row(link.name))
    }
}
