/// A named measurement that `--only` can select.
struct Scenario {
    let name: String
    /// What it measures, against which baseline (for `--list`).
    let summary: String
    let run: (Bench) throws -> Void

    /// Every scenario, in the order they run: the baselines first, so that the queue
    /// scenarios compare with figures taken moments before.
    static var all: [Scenario] {
        [
            Scenario(name: "memcpy", summary: "single-threaded copyMemory, GB/s (baseline of the throughput scenarios)", run: Memcpy.run),
            Scenario(name: "shm-pipeline", summary: "raw two-process ring with per-slot flags, every ring geometry, GB/s (baseline of queue-copy, queue-zerocopy)", run: ShmPipeline.run),
            Scenario(name: "futex-pingpong", summary: "two processes park in FUTEX_WAIT in turn, RTT (baseline of queue-pingpong-parked)", run: PingPong.futex),
            Scenario(name: "spin-pingpong", summary: "two processes spin on a shared word in turn, RTT (baseline of queue-pingpong-spinning)", run: PingPong.spin),
            Scenario(name: "spsc-ring-rate", summary: "minimal spinning shared-memory ring, records/s (baseline of queue-1k-rate)", run: Rate.ring),
            Scenario(name: "queue-copy", summary: "put(array) / get(), 1 producer 1 consumer process, deep and shallow ring, GB/s vs memcpy and shm-pipeline", run: Throughput.queueCopy),
            Scenario(name: "queue-zerocopy", summary: "put(dtype:shape:fill:) / get { } reading every cache line, both rings, GB/s vs memcpy and shm-pipeline", run: Throughput.queueZeroCopy),
            Scenario(name: "queue-1k-rate", summary: "1 KiB and 4 B records, put(array) / get { } and in batches (put(contentsOf:) / drain), records/s vs spsc-ring-rate", run: Rate.queue),
            Scenario(name: "queue-pingpong-parked", summary: "8-byte records through two queues, spin 0, RTT vs futex-pingpong", run: PingPong.queueParked),
            Scenario(name: "queue-pingpong-spinning", summary: "8-byte records through two queues, default spin, RTT vs spin-pingpong", run: PingPong.queueSpinning),
            Scenario(name: "queue-mpmc-2x2", summary: "2 producer and 2 consumer processes, copying paths, GB/s vs memcpy", run: Throughput.mpmc(producers: 2, consumers: 2)),
            Scenario(name: "queue-mpmc-4x4", summary: "4 producer and 4 consumer processes, copying paths, GB/s vs memcpy", run: Throughput.mpmc(producers: 4, consumers: 4)),
            Scenario(name: "queue-fanout", summary: "1 producer, 1/2/4 lossless subscriber processes of a broadcast queue reading every cache line in place, 1 KiB, 1 MiB, 8 MiB: the producer's records/s vs with 1 subscriber", run: Fanout.run),
            Scenario(name: "queue-fanout-touch", summary: "as queue-fanout, but the subscribers read one word of each record: the producer's own cost (it writes once), records/s vs with 1 subscriber", run: Fanout.runTouch),
            Scenario(name: "zmq-tcp", summary: "ArrayTransport push/pull over tcp loopback (and pub/sub at 8 MiB), GB/s vs libzmq's C API in alternation", run: ZeroMQBench.tcp),
            Scenario(name: "zmq-ipc", summary: "ArrayTransport push/pull over ipc://, GB/s vs libzmq's C API in alternation", run: ZeroMQBench.ipc),
            Scenario(name: "zmq-zero-copy", summary: "ArrayTransport push/pull over tcp, with and without zero-copy receive, GB/s vs libzmq's C API in alternation", run: ZeroMQBench.zeroCopy),
            Scenario(name: "zmq-curve", summary: "ArrayTransport push/pull, 8 MiB over tcp loopback with CURVE, GB/s vs without CURVE in alternation", run: ZeroMQBench.curve),
            Scenario(name: "zmq-fastpath", summary: "ArrayTransport pub/sub, a tcp subscriber on the publisher's host switched to shared memory, GB/s vs the same over tcp, libzmq's C API (in alternation) and memcpy", run: ZeroMQBench.fastPath),
            Scenario(name: "relay", summary: "8 MiB frames: producer → queue → aq-relay serve → tcp → receiver, GB/s vs producer → tcp → receiver (aq-relay bench)", run: Relay.run),
        ]
    }
}
