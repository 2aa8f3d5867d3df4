import ArgumentParser

/// `aq-bench`: throughput and latency of ArrayQueues, each figure paired with a raw baseline
/// measured in the same run (the machine is shared and noisy; ratios travel better than numbers).
@main
struct AQBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aq-bench",
        abstract: "Benchmarks ArrayQueues against raw baselines measured in the same run.",
        discussion: """
            Examples:
              aq-bench --quick                 every scenario, short runs (under two minutes)
              aq-bench --only pingpong         the latency scenarios
              aq-bench --json > results.jsonl  one JSON object per result
            """,
        version: "0.1.0",
        subcommands: [Run.self, PipelineProbe.self, ZeroMQProbe.self, Worker.self],
        defaultSubcommand: Run.self
    )
}

/// Runs the selected scenarios and prints their results.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the scenarios (the default command).")

    @Flag(help: "Short runs: the whole suite within about two minutes.")
    var quick = false

    @Flag(help: "Print one JSON object per line and result instead of a table.")
    var json = false

    @Option(help: ArgumentHelp("Run only the scenarios whose name contains this text (or one of several, separated by commas).", valueName: "name"))
    var only: String?

    @Flag(help: "List the scenarios and exit.")
    var list = false

    func run() throws {
        if list {
            for scenario in Scenario.all { print("\(scenario.name.padding(to: 25))\(scenario.summary)") }
            return
        }
        let patterns = only.map { $0.split(separator: ",").map(String.init) }
        let selected = Scenario.all.filter { scenario in patterns.map { $0.contains { scenario.name.contains($0) } } ?? true }
        guard !selected.isEmpty else { throw ValidationError("no scenario name contains '\(only ?? "")'; see --list") }
        let bench = Bench(budget: Budget(quick: quick), reporter: Reporter(json: json))
        var failed: [String] = []
        for scenario in selected {
            do {
                try scenario.run(bench)
            } catch {
                failed.append(scenario.name)
                bench.reporter.note("\(scenario.name) failed: \(error)")
            }
        }
        if !failed.isEmpty {
            bench.reporter.note("\(failed.count) scenario(s) failed: \(failed.joined(separator: ", "))")
            throw ExitCode(1)
        }
    }
}

/// One figure of the raw pipeline (`shm-pipeline`) for a given geometry, for the peer
/// benchmarks (`Benchmarks/peers/`), which measure it just before each of their own figures.
struct PipelineProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Measure the raw two-process pipeline once for one record size and slot count.",
        discussion: "Prints one shm-pipeline row (a JSON object with --json), without the memcpy comparison."
    )

    @Option(help: "Bytes per record.")
    var size: Int

    @Option(help: "Slots of the ring.")
    var slots: Int

    @Option(help: "How long to measure, after a warm-up pass over the ring.")
    var seconds = 0.5

    @Flag(help: "Print a JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard size >= 8, slots >= 1, seconds > 0, seconds <= 60 else {
            throw ValidationError("need --size ≥ 8, --slots ≥ 1 and 0 < --seconds ≤ 60")
        }
    }

    func run() throws {
        let bench = Bench(budget: Budget(quick: true), reporter: Reporter(json: json))
        let result = try ShmPipeline.measure(bench, size: size, slots: slots, seconds: seconds)
        var row = result.row("shm-pipeline")
        row.ringRecords = slots
        bench.emit(row)
    }
}

/// One process of a cross-process scenario, started by `aq-bench` itself.
struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Internal: a worker process of a scenario.", shouldDisplay: false)

    @Argument(help: "What to do.")
    var role: WorkerRole

    @Option(help: "The scenario's shared region (its control block).")
    var control: String

    @Option(help: "The result slot to fill.")
    var slot = 0

    @Option(help: "The queue to use.")
    var queue: String?

    @Option(help: "The queue to answer on (queue-pong).")
    var replyQueue: String?

    @Option(help: "Payload bytes per record.")
    var size = 0

    @Option(help: "How long to produce.")
    var seconds = 0.0

    @Option(help: "Most records or round trips.")
    var count = 0

    @Option(help: "Records handled before measuring.")
    var warmup = 0

    @Option(name: .customLong("spin-ns"), help: "QueueOptions.spin of the worker's handles, in nanoseconds.")
    var spinNanoseconds: Int64 = 30_000

    @Option(help: "Bytes of slots in a raw ring.")
    var ringBytes = RawRing.defaultRingBytes

    @Option(help: "Slots of the raw pipeline.")
    var slots = 0

    @Option(help: "The ZeroMQ endpoint to bind or connect to (receivers bind unless --sender-binds).")
    var endpoint: String?

    @Flag(help: "ZeroMQ publish/subscribe instead of push/pull.")
    var pubsub = false

    @Flag(help: "ZeroMQ: the sender binds the endpoint and the receiver connects (default: the other way round).")
    var senderBinds = false

    @Flag(help: "ArrayTransport: the same-host fast path is automatic (default: disabled); the receiver measures once it has switched.")
    var fastPath = false

    @Flag(help: "ArrayTransport: the receiver's ZeroMQ context receives with zero-copy (default: without).")
    var zeroCopyReceive = false

    @Option(help: "CURVE: the receiver's (server's) secret key, Z85.")
    var curveServerSecret: String?

    @Option(help: "CURVE: the sender's (client's) secret key, Z85.")
    var curveClientSecret: String?

    func run() throws {
        var task = WorkerTask(
            role: role, control: control, slot: slot, queue: queue, replyQueue: replyQueue,
            size: size, seconds: seconds, count: count, warmup: warmup, spinNanoseconds: spinNanoseconds, ringBytes: ringBytes, slots: slots)
        task.endpoint = endpoint
        task.pubsub = pubsub
        task.senderBinds = senderBinds
        task.fastPath = fastPath
        task.zeroCopyReceive = zeroCopyReceive
        if let curveServerSecret, let curveClientSecret { task.curve = (curveServerSecret, curveClientSecret) }
        switch role {
        case .futexPong: try PingPong.answerWord(task, parked: true)
        case .spinPong: try PingPong.answerWord(task, parked: false)
        case .queuePong: try PingPong.answerQueue(task)
        case .produceCopy: try Pipeline.produce(task, inPlace: false)
        case .produceFill: try Pipeline.produce(task, inPlace: true)
        case .produceBatch: try Pipeline.produceBatches(task)
        case .consumeCopy, .consumeScan, .consumeTouch: try Pipeline.consume(task)
        case .consumeBatch: try Pipeline.consumeBatches(task)
        case .ringProduce: try Rate.produceRing(task)
        case .ringConsume: try Rate.consumeRing(task)
        case .pipelineProduce: try ShmPipeline.produce(task)
        case .pipelineConsume: try ShmPipeline.consume(task)
        case .libzmqSend: try ZeroMQWorkers.sendLibzmq(task)
        case .libzmqReceive: try ZeroMQWorkers.receiveLibzmq(task)
        case .transportSend: try ZeroMQWorkers.sendTransport(task)
        case .transportReceive: try ZeroMQWorkers.receiveTransport(task)
        case .fanoutProduce: try Fanout.produce(task)
        case .fanoutSubscribe: try Fanout.subscribe(task)
        case .fanoutSubscribeTouch: try Fanout.subscribe(task, touch: true)
        }
    }
}

extension String {
    /// The string followed by spaces up to `width` characters.
    func padding(to width: Int) -> String {
        self + String(repeating: " ", count: max(width - count, 0))
    }
}
