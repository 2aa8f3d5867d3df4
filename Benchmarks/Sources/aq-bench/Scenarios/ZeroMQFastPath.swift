/// Scenario `zmq-fastpath`: the same-host fast path. A publisher binds `tcp://127.0.0.1:*`, a
/// subscriber on this host connects by tcp, both with `FastPath.automatic`; the subscriber
/// switches to a shared-memory queue of its own (after the publisher's first offer, a heartbeat
/// interval after it starts), and only then is anything measured: once it is on shared memory
/// and a pass over its queue came through it. Every measured record must have come through
/// shared memory, or the scenario fails.
///
/// Rounds alternate three links, each a fresh pair of processes, the publisher binding in all:
///
///     libzmq-tcp-pubsub-bind   libzmq's C API, PUB → SUB over tcp
///     zmq-tcp-pubsub-bind      ArrayTransport, the fast path disabled (÷ libzmq)
///     zmq-fastpath             ArrayTransport, switched to shared memory (÷ the tcp one)
///
/// and the fast path's best round is also divided by libzmq's (`zmq-fastpath-vs-libzmq`) and by
/// `memcpy` of the same size (`zmq-fastpath-vs-memcpy`, from the `memcpy` scenario, or measured
/// now). A publisher never waits for a subscriber, on either path (a full subscriber queue loses
/// the record, as the high-water mark does on tcp), so the figure is what arrives.
extension ZeroMQBench {
    /// Record sizes: 1, 8 and 64 MiB in the full run, 8 MiB with `--quick`.
    static func fastPathSizes(_ budget: Budget) -> [Int] {
        budget.quick ? [8 << 20] : [1 << 20, 8 << 20, 64 << 20]
    }

    /// Scenario `zmq-fastpath`.
    static func fastPath(_ bench: Bench) throws {
        let libzmq = Link(carrier: .libzmq, scheme: "tcp", pubsub: true, senderBinds: true)
        let tcp = Link(carrier: .transport, scheme: "tcp", pubsub: true, senderBinds: true)
        let fast = Link(carrier: .fastPath, scheme: "tcp", pubsub: true, senderBinds: true)
        for size in fastPathSizes(bench.budget) {
            let rounds = try alternate(bench, [libzmq, tcp, fast], size: size)
            bench.emit(try best(rounds, 0).row(libzmq.name))
            bench.emit(try row(tcp.name, rounds, figure: 1, baseline: 0, baselineName: libzmq.name))
            bench.emit(try row(fast.name, rounds, figure: 2, baseline: 1, baselineName: tcp.name))
            bench.emit(try row(fast.name + "-vs-libzmq", rounds, figure: 2, baseline: 0, baselineName: libzmq.name))
            let figure = try best(rounds, 2)
            let memcpy = Memcpy.baseline(bench, size: size)
            var row = figure.row(fast.name + "-vs-memcpy")
            row.compare(with: Memcpy.baselineName(size), value: memcpy, unit: "GB/s", figure: figure.gbps)
            bench.emit(row)
        }
    }
}
