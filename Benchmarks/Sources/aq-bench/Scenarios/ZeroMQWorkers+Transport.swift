import ArrayQueues
import ArrayTransport
import Logging

/// ArrayTransport's roles of the zmq-* scenarios: a `ZeroMQSender` and a `ZeroMQReceiver`.
///
/// The same-host fast path (``FastPath``) is set explicitly on both sides: `.disabled` for every
/// network figure (a subscriber that connects by tcp to a publisher on this host would
/// otherwise switch to shared memory part-way through a round), `.automatic` for zmq-fastpath
/// (``WorkerTask/fastPath``). The receiver checks afterwards which path the records took and
/// fails if one took the wrong one.
extension ZeroMQWorkers {
    /// Role `transport-send`: a `ZeroMQSender` (push or publish), the CURVE client if asked.
    static func sendTransport(_ task: WorkerTask) throws {
        let control = ControlBlock(try SharedRegion(opening: task.control))
        var curve: CurveSecurity?
        if let keys = task.curve {
            curve = .client(try CurveKeys(secretKey: keys.client), serverPublicKey: try CurveKeys(secretKey: keys.server).publicKey)
        }
        let options = ZeroMQSender.Options(
            byteBudget: byteBudget, expectedMessageBytes: task.size, sendTimeout: .seconds(30), linger: .seconds(10), curve: curve,
            fastPath: task.fastPath ? .automatic : .disabled)
        let endpoint = try Endpoint(try task.endpointAddress())
        let sender = try ZeroMQSender(
            task.pubsub ? .publish : .push, stream: stream, bind: task.senderBinds ? [endpoint] : [], connect: task.senderBinds ? [] : [endpoint],
            options: options, logger: logger("sender"))
        if task.senderBinds { control.port.pointee.store(UInt32(sender.boundEndpoints.first?.port ?? 0), ordering: .relaxed) }
        let array = try payload(size: task.size)
        try produce(task, control: control, waitsForReceiver: task.fastPath) { sequence in try sender.send(array, index: Int64(sequence)) }
        // Sends "end" and waits (at most the linger period) until the queued records are sent.
        sender.close()
    }

    /// Role `transport-receive`: a `ZeroMQReceiver` (pull or subscribe), the CURVE server if asked.
    static func receiveTransport(_ task: WorkerTask) throws {
        let control = ControlBlock(try SharedRegion(opening: task.control))
        let curve = try task.curve.map { keys throws(TransportError) in CurveSecurity.server(try CurveKeys(secretKey: keys.server)) }
        let options = ZeroMQReceiver.Options(
            byteBudget: byteBudget, expectedMessageBytes: task.size, curve: curve,
            context: task.zeroCopyReceive ? try ZMQContext(zeroCopyReceive: true) : nil,
            fastPath: task.fastPath ? .automatic : .disabled, fastPathCapacity: fastPathCapacity(size: task.size))
        let endpoint = try Endpoint(try task.endpointAddress())
        let receiver = try ZeroMQReceiver(
            task.pubsub ? .subscribeAll : .pull, bind: task.senderBinds ? [] : [endpoint], connect: task.senderBinds ? [endpoint] : [],
            options: options, logger: logger("receiver"))
        defer { receiver.close() }
        if !task.senderBinds { control.port.pointee.store(UInt32(receiver.boundEndpoints.first?.port ?? 0), ordering: .relaxed) }
        var watch = SwitchWatch(settle: max(4, fastPathCapacity(size: task.size) / max(task.size, 1) + 1))
        let records = try consume(task, control: control) { () throws(BenchError) -> Arrival in
            let event: ReceiveEvent?
            do throws(TransportError) {
                event = try receiver.receiveEvent(timeout: .milliseconds(pollMilliseconds))
            } catch {
                throw BenchError("ZeroMQReceiver failed: \(error)")
            }
            switch event {
            case let .message(message)?: return .record(message.arrays.first?.array.withUnsafeBytes { Pipeline.touch($0) } ?? 0)
            case .end?: return .end
            case .heartbeat?, nil: return .nothing
            }
        } startsMeasuring: { () throws(BenchError) -> Bool in
            guard task.fastPath else { return true }
            return try watch.hasSettled(receiver.statistics)
        }
        try checkPath(receiver.statistics, records: records, fastPath: task.fastPath, watch: watch)
    }

    /// A logger for warnings and errors only: the fast path's switch and return (at `info`)
    /// happen in every zmq-fastpath measurement, and the receiver checks the path itself.
    static func logger(_ role: String) -> Logger {
        var logger = Logger(label: "aq-bench.\(role)")
        logger.logLevel = .warning
        return logger
    }

    /// The receiver's fast-path queue: 64 MiB, or room for four records (as the library would
    /// choose); a pass over it is the warm-up after the switch.
    static func fastPathCapacity(size: Int) -> Int { max(64 << 20, 4 * (size + (64 << 10))) }

    /// Fails unless every measured record came through shared memory (`fastPath`), or none did.
    static func checkPath(_ statistics: ReceiverStatistics, records: Int, fastPath: Bool, watch: SwitchWatch) throws(BenchError) {
        let problem = statistics.fastPathProblem.map { " (last fast path problem: \($0))" } ?? ""
        if fastPath {
            let through = statistics.receivedThroughSharedMemory &- watch.base
            guard through == UInt64(records), statistics.switchesToSharedMemory == 1 else {
                throw BenchError("zmq-fastpath: of the \(records) records measured, \(through) came through shared memory, "
                                 + "after \(statistics.switchesToSharedMemory) switch(es); every one must\(problem)")
            }
        } else {
            guard statistics.receivedThroughSharedMemory == 0, statistics.switchesToSharedMemory == 0, statistics.path == .network else {
                throw BenchError("the fast path is disabled, yet \(statistics.receivedThroughSharedMemory) of \(statistics.received) records "
                                 + "came through shared memory (path \(statistics.path.rawValue))")
            }
        }
    }

    /// zmq-fastpath's warm-up: waits (at most ``switchTimeoutNanoseconds``) until the receiver
    /// is on shared memory and `settle` records in a row came through it (a pass over its queue,
    /// whose pages then are mapped).
    struct SwitchWatch {
        let settle: Int
        /// `receivedThroughSharedMemory` just before the first measured record.
        private(set) var base: UInt64 = 0
        private var previous: UInt64 = 0
        private var streak = 0
        private var deadline: Int64?

        init(settle: Int) { self.settle = settle }

        /// Called once per record until it says yes: whether measuring starts with this record.
        mutating func hasSettled(_ statistics: ReceiverStatistics) throws(BenchError) -> Bool {
            let now = Sys.monotonicNanoseconds()
            let limit = deadline ?? now + ZeroMQWorkers.switchTimeoutNanoseconds
            deadline = limit
            let through = statistics.receivedThroughSharedMemory
            streak = statistics.path == .sharedMemory && through == previous + 1 ? streak + 1 : 0
            previous = through
            if streak >= settle {
                base = through - 1
                return true
            }
            guard now < limit else {
                throw BenchError("zmq-fastpath: the receiver was not on shared memory within \(ZeroMQWorkers.switchTimeoutNanoseconds / 1_000_000_000) s "
                                 + "(path \(statistics.path.rawValue), \(statistics.switchesToSharedMemory) switch(es), "
                                 + "\(statistics.heartbeats) heartbeat(s) and \(statistics.received) records received, \(statistics.lost) lost)"
                                 + (statistics.fastPathProblem.map { ": \($0)" } ?? ""))
            }
            return false
        }
    }
}
