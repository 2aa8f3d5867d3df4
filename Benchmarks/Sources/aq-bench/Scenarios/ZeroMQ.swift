import ArrayTransport
import Synchronization

/// Scenarios `zmq-tcp`, `zmq-ipc` and `zmq-curve`: ArrayTransport's ZeroMQ sender and receiver
/// between two processes, each figure against a baseline measured in alternation with it in the
/// same run (baseline, figure, baseline, figure, …; the best of each counts).
///
/// - `zmq-tcp`, `zmq-ipc`: push/pull over `tcp://127.0.0.1` or `ipc://`, records of one uint8
///   array, against libzmq's C API sending the same three frames (topic, an arrf/1 header of the
///   same size, the payload without copying) with the same high-water marks (`libzmq-tcp`,
///   `libzmq-ipc` rows). `zmq-tcp` also measures publish/subscribe at 8 MiB (`-pubsub` rows).
/// - `zmq-curve`: 8 MiB over tcp with CURVE against ArrayTransport without it: CURVE's cost.
///
/// To add a variant (for example the same-host fast path, where a tcp subscriber on the sender's
/// host switches to shared memory), give ``Carrier`` a case, make ``ZeroMQWorkers`` build its
/// sender and receiver, and add a scenario that compares it with `.transport` in ``compare(_:_:with:size:emitsBaseline:)``.
enum ZeroMQBench {
    /// Who moves the records.
    enum Carrier {
        /// libzmq's C API used directly (`CBenchShims/zmq_baseline.c`).
        case libzmq
        /// ArrayTransport's `ZeroMQSender` / `ZeroMQReceiver`.
        case transport
    }

    /// One measured configuration.
    struct Link {
        var carrier: Carrier
        /// `tcp` or `ipc`.
        var scheme: String
        /// Publish/subscribe instead of push/pull.
        var pubsub = false
        /// CURVE security (ArrayTransport only).
        var curve = false

        /// The row's scenario name: `zmq-tcp`, `libzmq-ipc`, `zmq-tcp-pubsub`, `zmq-curve`, …
        var name: String {
            if curve { return "zmq-curve" }
            return (carrier == .libzmq ? "libzmq-" : "zmq-") + scheme + (pubsub ? "-pubsub" : "")
        }
    }

    /// Record sizes: four in the full run, 1 MiB and 8 MiB with `--quick`.
    static func sizes(_ budget: Budget) -> [Int] {
        budget.quick ? [1 << 20, 8 << 20] : [64 << 10, 1 << 20, 8 << 20, 64 << 20]
    }

    /// Scenario `zmq-tcp`: push/pull at every size, then pub/sub at 8 MiB.
    static func tcp(_ bench: Bench) throws {
        for size in sizes(bench.budget) {
            try compare(bench, Link(carrier: .transport, scheme: "tcp"), with: Link(carrier: .libzmq, scheme: "tcp"), size: size)
        }
        try compare(bench, Link(carrier: .transport, scheme: "tcp", pubsub: true), with: Link(carrier: .libzmq, scheme: "tcp", pubsub: true), size: 8 << 20)
    }

    /// Scenario `zmq-ipc`: push/pull at every size.
    static func ipc(_ bench: Bench) throws {
        for size in sizes(bench.budget) {
            try compare(bench, Link(carrier: .transport, scheme: "ipc"), with: Link(carrier: .libzmq, scheme: "ipc"), size: size)
        }
    }

    /// Scenario `zmq-curve`: 8 MiB over tcp, with CURVE against without.
    static func curve(_ bench: Bench) throws {
        guard ZMQContext.supportsCurve else {
            var row = Row("zmq-curve", size: 8 << 20)
            row.note = "skipped: libzmq \(ZMQContext.libraryVersion) was built without CURVE"
            bench.emit(row)
            return
        }
        let plain = Link(carrier: .transport, scheme: "tcp")
        try compare(bench, Link(carrier: .transport, scheme: "tcp", curve: true), with: plain, size: 8 << 20, emitsBaseline: false)
    }

    /// Measures `link` and `baseline` in alternation and emits the baseline's row (unless it is
    /// another scenario's figure) and the link's, with its ratio to the baseline: the best of
    /// each, as everywhere in aq-bench. The note adds the median of the per-round ratios, which
    /// a slow spell of the machine during one round cannot move much.
    static func compare(_ bench: Bench, _ link: Link, with baseline: Link, size: Int, emitsBaseline: Bool = true) throws {
        let rounds = try alternate(bench, link, baseline, size: size)
        guard let figure = rounds.map(\.figure).max(by: { $0.gbps < $1.gbps }),
              let base = rounds.map(\.baseline).max(by: { $0.gbps < $1.gbps }) else { throw BenchError("\(link.name): no round ran") }
        if emitsBaseline { bench.emit(base.row(baseline.name)) }
        var row = figure.row(link.name)
        row.compare(with: "\(baseline.name)-\(Reporter.formatSize(size))", value: base.gbps, unit: "GB/s", figure: figure.gbps)
        row.note = roundsNote(figures: rounds.map(\.figure.gbps), baselines: rounds.map(\.baseline.gbps))
        bench.emit(row)
    }

    /// "median of 5 per-round ratios 0.97 (0.88–1.04)", or nil for a single round.
    static func roundsNote(figures: [Double], baselines: [Double]) -> String? {
        let ratios = zip(figures, baselines).map { $1 > 0 ? $0 / $1 : 0 }.sorted()
        guard ratios.count > 1 else { return nil }
        let middle = ratios.count / 2
        let median = ratios.count % 2 == 1 ? ratios[middle] : (ratios[middle - 1] + ratios[middle]) / 2
        return "median of \(ratios.count) per-round ratios \(Reporter.format(median, digits: 2)) "
            + "(\(Reporter.format(ratios[0], digits: 2))–\(Reporter.format(ratios[ratios.count - 1], digits: 2)))"
    }

    /// Rounds of one measurement of each, the baseline first.
    static func alternate(_ bench: Bench, _ link: Link, _ baseline: Link, size: Int) throws -> [(figure: Pipeline.Result, baseline: Pipeline.Result)] {
        try (0..<rounds(bench.budget)).map { _ in
            let base = try measure(baseline, size: size, seconds: bench.budget.streamSeconds)
            return (try measure(link, size: size, seconds: bench.budget.streamSeconds), base)
        }
    }

    /// Rounds per figure: a loopback stream's rate swings by ±25 % on this shared virtual
    /// machine from one second to the next, so the full run takes 5.
    static func rounds(_ budget: Budget) -> Int { budget.quick ? 1 : 5 }

    /// Records not measured at the start: at least 4, and 16 MiB worth (connections set up, pipes filled).
    static func warmup(size: Int) -> Int { max(4, (16 << 20) / max(size, 1)) }

    private static let serial = Atomic<Int>(0)

    /// One run: the receiver starts and binds, then the sender connects; both are released together.
    static func measure(_ link: Link, size: Int, seconds: Double) throws -> Pipeline.Result {
        let control = ControlBlock(try SharedRegion(creatingSize: ControlBlock.size))
        let ipcPath = "/tmp/aq-bench.\(Sys.processID()).\(serial.wrappingAdd(1, ordering: .relaxed).newValue).ipc"
        defer { if link.scheme == "ipc" { Sys.removeFile(ipcPath) } }
        let bindAddress = link.scheme == "ipc" ? "ipc://\(ipcPath)" : "tcp://127.0.0.1:*"
        let roles: (send: WorkerRole, receive: WorkerRole) = link.carrier == .libzmq ? (.libzmqSend, .libzmqReceive) : (.transportSend, .transportReceive)
        let keys = link.curve ? (server: try CurveKeys.generate().secretKey, client: try CurveKeys.generate().secretKey) : nil

        var receiver = WorkerTask(role: roles.receive, control: control.region.name, slot: 0, size: size, count: Pipeline.maximumRecords, warmup: warmup(size: size))
        receiver.endpoint = bindAddress
        receiver.pubsub = link.pubsub
        receiver.curve = keys
        var workers = Workers()
        let receiverID = try workers.spawn(receiver)
        try workers.waitUntilReady(control, count: 1)
        var sender = receiver
        sender.role = roles.send
        sender.slot = 1
        sender.seconds = seconds
        sender.endpoint = link.scheme == "ipc" ? bindAddress : "tcp://127.0.0.1:\(control.port.pointee.load(ordering: .relaxed))"
        let senderID = try workers.spawn(sender)
        try workers.waitUntilReady(control, count: 2)
        control.start()
        try workers.waitForExit([senderID], timeoutNanoseconds: Int64(seconds * 1e9) + 60_000_000_000)
        control.closed.pointee.store(1, ordering: .releasing)
        try workers.waitForExit([receiverID], timeoutNanoseconds: 60_000_000_000)
        return try Pipeline.collect(control, consumers: 1, size: size)
    }
}
