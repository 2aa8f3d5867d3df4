import ArrayTransport
import Synchronization

/// Scenarios `zmq-tcp`, `zmq-ipc`, `zmq-curve` and `zmq-fastpath`: ArrayTransport's ZeroMQ
/// sender and receiver between two processes, each figure against a baseline measured in
/// alternation with it in the same run (baseline, figure, baseline, figure, …; the best of each counts).
///
/// - `zmq-tcp`, `zmq-ipc`: push/pull over `tcp://127.0.0.1` or `ipc://`, records of one uint8
///   array, against libzmq's C API sending the same three frames (topic, an arrf/1 header of the
///   same size, the payload without copying) with the same high-water marks (`libzmq-tcp`,
///   `libzmq-ipc` rows). `zmq-tcp` also measures publish/subscribe at 8 MiB (`-pubsub` rows).
/// - `zmq-curve`: 8 MiB over tcp with CURVE against ArrayTransport without it: CURVE's cost.
/// - `zmq-zero-copy`: push/pull over tcp, libzmq's C API, ArrayTransport, and ArrayTransport
///   whose receiver's context receives with zero-copy (`ZMQContext(zeroCopyReceive:)`), in
///   alternation: the `zmq-tcp` and `zmq-tcp-zero-copy` rows, each against `libzmq-tcp`.
/// - `zmq-fastpath` (`ZeroMQFastPath.swift`): a tcp subscriber on the publisher's host, switched
///   to shared memory, against the same over tcp and libzmq's pub/sub.
///
/// The fast path is disabled on both sides of every network figure, and the receiver checks
/// that no record came through shared memory. To add a variant, give ``Carrier`` a case, make
/// ``ZeroMQWorkers`` build its sender and receiver, and add a scenario that compares it with
/// `.transport` in ``compare(_:_:with:size:emitsBaseline:)`` or ``alternate(_:_:size:)``.
enum ZeroMQBench {
    /// Who moves the records.
    enum Carrier {
        /// libzmq's C API used directly (`CBenchShims/zmq_baseline.c`).
        case libzmq
        /// ArrayTransport's `ZeroMQSender` / `ZeroMQReceiver`, the fast path disabled.
        case transport
        /// The same with the fast path `.automatic`, measured once the receiver is on shared memory.
        case fastPath
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
        /// The sender binds and the receiver connects (as a publisher that offers the fast
        /// path must); otherwise the receiver binds.
        var senderBinds = false
        /// The receiver's context receives with zero-copy (ArrayTransport only).
        var zeroCopyReceive = false

        /// The row's scenario name: `zmq-tcp`, `libzmq-ipc`, `zmq-tcp-pubsub`, `zmq-curve`,
        /// `zmq-tcp-pubsub-bind` (the sender binds), `zmq-fastpath`, …
        var name: String {
            if curve { return "zmq-curve" }
            if carrier == .fastPath { return "zmq-fastpath" }
            return (carrier == .libzmq ? "libzmq-" : "zmq-") + scheme + (pubsub ? "-pubsub" : "") + (senderBinds ? "-bind" : "")
                + (zeroCopyReceive ? "-zero-copy" : "")
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

    /// Scenario `zmq-zero-copy`: push/pull over tcp at every size, ArrayTransport with and without
    /// zero-copy receive, each against libzmq's C API measured in the same rounds.
    static func zeroCopy(_ bench: Bench) throws {
        let baseline = Link(carrier: .libzmq, scheme: "tcp")
        for size in sizes(bench.budget) {
            let links = [baseline, Link(carrier: .transport, scheme: "tcp"), Link(carrier: .transport, scheme: "tcp", zeroCopyReceive: true)]
            let rounds = try alternate(bench, links, size: size)
            bench.emit(try best(rounds, 0).row(baseline.name))
            for figure in 1..<links.count {
                bench.emit(try row(links[figure].name, rounds, figure: figure, baseline: 0, baselineName: baseline.name))
            }
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
        let rounds = try alternate(bench, [baseline, link], size: size)
        if emitsBaseline { bench.emit(try best(rounds, 0).row(baseline.name)) }
        bench.emit(try row(link.name, rounds, figure: 1, baseline: 0, baselineName: baseline.name))
    }

    /// The row of `rounds[…][figure]`, the best round, with its ratio to the best round of
    /// `rounds[…][baseline]` (named `baselineName`) and the median of the per-round ratios.
    static func row(_ name: String, _ rounds: [[Pipeline.Result]], figure: Int, baseline: Int, baselineName: String) throws -> Row {
        let top = try best(rounds, figure)
        let base = try best(rounds, baseline)
        var row = top.row(name)
        row.compare(with: "\(baselineName)-\(Reporter.formatSize(top.size))", value: base.gbps, unit: "GB/s", figure: top.gbps)
        row.note = roundsNote(figures: rounds.map(\.[figure].gbps), baselines: rounds.map(\.[baseline].gbps))
        return row
    }

    /// The best round of the link at `index`.
    static func best(_ rounds: [[Pipeline.Result]], _ index: Int) throws(BenchError) -> Pipeline.Result {
        guard let best = rounds.map({ $0[index] }).max(by: { $0.gbps < $1.gbps }) else { throw BenchError("no round ran") }
        return best
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

    /// Rounds of one measurement of each link, in the order given (baselines first).
    static func alternate(_ bench: Bench, _ links: [Link], size: Int) throws -> [[Pipeline.Result]] {
        try (0..<rounds(bench.budget)).map { _ in
            try links.map { link in try measure(link, size: size, seconds: bench.budget.streamSeconds) }
        }
    }

    /// Rounds per figure: a loopback stream's rate swings by ±25 % on this shared virtual
    /// machine from one second to the next, so the full run takes 5.
    static func rounds(_ budget: Budget) -> Int { budget.quick ? 1 : 5 }

    /// Records not measured at the start: at least 4, and 16 MiB worth (connections set up, pipes filled).
    static func warmup(size: Int) -> Int { max(4, (16 << 20) / max(size, 1)) }

    private static let serial = Atomic<Int>(0)

    /// One run: the binding side starts first (the receiver, or the sender with `senderBinds`),
    /// then the other connects; both are released together.
    static func measure(_ link: Link, size: Int, seconds: Double) throws -> Pipeline.Result {
        let control = ControlBlock(try SharedRegion(creatingSize: ControlBlock.size))
        let ipcPath = "/tmp/aq-bench.\(Sys.processID()).\(serial.wrappingAdd(1, ordering: .relaxed).newValue).ipc"
        defer { if link.scheme == "ipc" { Sys.removeFile(ipcPath) } }
        let bindAddress = link.scheme == "ipc" ? "ipc://\(ipcPath)" : "tcp://127.0.0.1:*"
        let roles: (send: WorkerRole, receive: WorkerRole) = link.carrier == .libzmq ? (.libzmqSend, .libzmqReceive) : (.transportSend, .transportReceive)
        let keys = link.curve ? (server: try CurveKeys.generate().secretKey, client: try CurveKeys.generate().secretKey) : nil

        var receiver = WorkerTask(role: roles.receive, control: control.region.name, slot: 0, size: size, count: Pipeline.maximumRecords, warmup: warmup(size: size))
        receiver.pubsub = link.pubsub
        receiver.curve = keys
        receiver.senderBinds = link.senderBinds
        receiver.fastPath = link.carrier == .fastPath
        receiver.zeroCopyReceive = link.zeroCopyReceive
        var sender = receiver
        sender.role = roles.send
        sender.slot = 1
        sender.seconds = seconds
        var (first, second) = link.senderBinds ? (sender, receiver) : (receiver, sender)
        first.endpoint = bindAddress
        var workers = Workers()
        let firstID = try workers.spawn(first)
        try workers.waitUntilReady(control, count: 1)
        second.endpoint = link.scheme == "ipc" ? bindAddress : "tcp://127.0.0.1:\(control.port.pointee.load(ordering: .relaxed))"
        let secondID = try workers.spawn(second)
        try workers.waitUntilReady(control, count: 2)
        let (senderID, receiverID) = link.senderBinds ? (firstID, secondID) : (secondID, firstID)
        control.start()
        // zmq-fastpath: the sender's timed period starts only once the receiver has switched.
        let switchTime = link.carrier == .fastPath ? ZeroMQWorkers.switchTimeoutNanoseconds : 0
        try workers.waitForExit([senderID], timeoutNanoseconds: Int64(seconds * 1e9) + switchTime + 60_000_000_000)
        control.closed.pointee.store(1, ordering: .releasing)
        try workers.waitForExit([receiverID], timeoutNanoseconds: 60_000_000_000)
        return try Pipeline.collect(control, consumers: 1, size: size)
    }
}
