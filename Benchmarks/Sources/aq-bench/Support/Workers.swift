import ArgumentParser
@preconcurrency import Glibc

/// What a worker process does; the hidden `worker` subcommand runs one.
enum WorkerRole: String, CaseIterable, ExpressibleByArgument {
    /// Answers the futex ping-pong baseline.
    case futexPong = "futex-pong"
    /// Answers the spinning ping-pong baseline.
    case spinPong = "spin-pong"
    /// Takes each record from `queue` and answers on `replyQueue`.
    case queuePong = "queue-pong"
    /// Puts copies of a prepared array (`put(_:)`).
    case produceCopy = "produce-copy"
    /// Writes each record in place (`put(dtype:shape:fill:)`).
    case produceFill = "produce-fill"
    /// Takes owned copies (`get()`) and drops them.
    case consumeCopy = "consume-copy"
    /// Borrows each record (`get { }`) and reads every cache line of it.
    case consumeScan = "consume-scan"
    /// Borrows each record and reads its first word.
    case consumeTouch = "consume-touch"
    /// Puts copies of a prepared array 64 at a time (`put(contentsOf:)`).
    case produceBatch = "produce-batch"
    /// Borrows up to 256 records at a time (`drain(upTo:)`) and reads each one's first word.
    case consumeBatch = "consume-batch"
    /// Producer of the raw shared-memory ring baseline.
    case ringProduce = "ring-produce"
    /// Consumer of the raw shared-memory ring baseline.
    case ringConsume = "ring-consume"
    /// Producer of the raw two-process pipeline (`shm-pipeline`).
    case pipelineProduce = "pipeline-produce"
    /// Consumer of the raw pipeline: reads every cache line of each record.
    case pipelineConsume = "pipeline-consume"
    /// Sends records with libzmq's C API (the baseline of zmq-tcp and zmq-ipc).
    case libzmqSend = "libzmq-send"
    /// Receives records with libzmq's C API and touches each payload's first word.
    case libzmqReceive = "libzmq-receive"
    /// Sends records with ArrayTransport's `ZeroMQSender`.
    case transportSend = "transport-send"
    /// Receives records with ArrayTransport's `ZeroMQReceiver` and touches each payload's first word.
    case transportReceive = "transport-receive"
    /// Writes records into a broadcast queue (queue-fanout).
    case fanoutProduce = "fanout-produce"
    /// A lossless subscriber of a broadcast queue that reads every cache line of each record (queue-fanout).
    case fanoutSubscribe = "fanout-subscribe"
    /// A lossless subscriber of a broadcast queue that reads one word of each record (queue-fanout-touch).
    case fanoutSubscribeTouch = "fanout-subscribe-touch"
}

/// One worker's assignment, passed to it on its command line.
struct WorkerTask {
    var role: WorkerRole
    /// The scenario's shared region (control block first).
    var control: String
    /// The worker's result slot in the control block.
    var slot = 0
    var queue: String?
    var replyQueue: String?
    /// Payload bytes per record.
    var size = 0
    /// How long producers produce.
    var seconds = 0.0
    /// Most records (or round trips) to handle.
    var count = 0
    /// Records handled before the measurement starts (a first pass over the ring faults its pages in).
    var warmup = 0
    /// `QueueOptions.spin` of the worker's queue handles.
    var spinNanoseconds: Int64 = 30_000
    /// Bytes of slots in a raw ring.
    var ringBytes = RawRing.defaultRingBytes
    /// Slots of the raw pipeline.
    var slots = 0
    /// The ZeroMQ endpoint to bind or to connect to (see ``senderBinds``).
    var endpoint: String?
    /// ZeroMQ publish/subscribe instead of push/pull.
    var pubsub = false
    /// ZeroMQ: the sender binds the endpoint (a tcp port of `*` is reported in the control block)
    /// and the receiver connects; otherwise the other way round.
    var senderBinds = false
    /// ArrayTransport: the same-host fast path is `.automatic` and the receiver measures only
    /// once it has switched to shared memory; otherwise it is `.disabled` on both sides.
    var fastPath = false
    /// ArrayTransport: the receiver's ZeroMQ context receives with zero-copy (`ZMQContext(zeroCopyReceive:)`).
    var zeroCopyReceive = false
    /// CURVE secret keys (Z85) of the receiver (the server) and the sender (the client); nil: no CURVE.
    var curve: (server: String, client: String)?

    func queueName() throws(BenchError) -> String {
        guard let queue else { throw BenchError("worker \(role.rawValue) needs --queue") }
        return queue
    }

    func replyQueueName() throws(BenchError) -> String {
        guard let replyQueue else { throw BenchError("worker \(role.rawValue) needs --reply-queue") }
        return replyQueue
    }

    func endpointAddress() throws(BenchError) -> String {
        guard let endpoint else { throw BenchError("worker \(role.rawValue) needs --endpoint") }
        return endpoint
    }

    var arguments: [String] {
        var arguments = ["worker", role.rawValue, "--control", control, "--slot", "\(slot)", "--size", "\(size)",
                         "--seconds", "\(seconds)", "--count", "\(count)", "--warmup", "\(warmup)", "--spin-ns", "\(spinNanoseconds)", "--ring-bytes", "\(ringBytes)", "--slots", "\(slots)"]
        if let queue { arguments += ["--queue", queue] }
        if let replyQueue { arguments += ["--reply-queue", replyQueue] }
        if let endpoint { arguments += ["--endpoint", endpoint] }
        if pubsub { arguments.append("--pubsub") }
        if senderBinds { arguments.append("--sender-binds") }
        if fastPath { arguments.append("--fast-path") }
        if zeroCopyReceive { arguments.append("--zero-copy-receive") }
        if let curve { arguments += ["--curve-server-secret", curve.server, "--curve-client-secret", curve.client] }
        return arguments
    }
}

/// The worker processes of one scenario: copies of this executable. None outlives the group:
/// those still running when it goes away (after a failure, say) are killed and reaped.
struct Workers: ~Copyable {
    private var running: [pid_t: WorkerRole] = [:]

    init() {}

    /// Starts a worker.
    @discardableResult
    mutating func spawn(_ task: WorkerTask) throws(BenchError) -> pid_t {
        let pid = try Sys.spawnSelf(arguments: task.arguments)
        running[pid] = task.role
        return pid
    }

    /// Waits until `count` workers have reached the start barrier; fails as soon as one exits.
    mutating func waitUntilReady(_ control: ControlBlock, count: Int, timeoutNanoseconds: Int64 = 30_000_000_000) throws(BenchError) {
        let deadline = Sys.monotonicNanoseconds() + timeoutNanoseconds
        while control.ready.pointee.load(ordering: .acquiring) < count {
            for (pid, role) in running {
                if let status = Sys.exitStatus(of: pid) {
                    running[pid] = nil
                    throw BenchError("worker \(role.rawValue) (pid \(pid)) exited with status \(status) before the start")
                }
            }
            guard Sys.monotonicNanoseconds() < deadline else { throw BenchError("workers did not get ready within \(timeoutNanoseconds / 1_000_000_000) s") }
            Sys.sleep(nanoseconds: 200_000)
        }
    }

    /// Waits for the workers `pids` to exit (all of them if nil); throws if any worker fails
    /// meanwhile (awaited or not), or if one is still running after `timeoutNanoseconds`.
    mutating func waitForExit(_ pids: [pid_t]? = nil, timeoutNanoseconds: Int64) throws(BenchError) {
        // A worker no longer running has already exited cleanly (failures throw at once).
        var waiting = Set(pids ?? Array(running.keys)).filter { running[$0] != nil }
        let deadline = Sys.monotonicNanoseconds() + timeoutNanoseconds
        while !waiting.isEmpty {
            for (pid, role) in running {
                guard let status = Sys.exitStatus(of: pid) else { continue }
                running[pid] = nil
                waiting.remove(pid)
                guard status == 0 else { throw BenchError("worker \(role.rawValue) (pid \(pid)) failed with status \(status)") }
            }
            guard Sys.monotonicNanoseconds() < deadline || waiting.isEmpty else {
                throw BenchError("\(waiting.count) worker(s) still running after \(timeoutNanoseconds / 1_000_000_000) s")
            }
            if !waiting.isEmpty { Sys.sleep(nanoseconds: 2_000_000) }
        }
    }

    deinit {
        for pid in running.keys { Sys.killAndReap(pid) }
    }
}
