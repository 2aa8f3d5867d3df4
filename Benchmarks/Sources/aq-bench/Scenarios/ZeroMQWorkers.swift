import ArrayQueues
import ArrayTransport
import CBenchShims

/// The sending and receiving processes of the zmq-* scenarios: libzmq's C API, or
/// ArrayTransport's `ZeroMQSender` and `ZeroMQReceiver`, doing the same thing.
///
/// - The receiver binds the endpoint and the sender connects, or (``WorkerTask/senderBinds``)
///   the other way round; a tcp port of `*` is stored in the control block before the binding
///   side reaches the start barrier. One I/O thread per process.
/// - Both use the high-water mark ArrayTransport derives from its default byte budget:
///   256 MiB ÷ record size messages (``highWaterMark(size:)``), as ZMQ_SNDHWM on the sender and
///   ZMQ_RCVHWM on the receiver, which is where ArrayTransport sets it.
/// - The sender sends the same prepared uint8 array (one payload frame, without copying) for
///   ``WorkerTask/seconds`` after `warmup` records, then "end", then closes with a linger.
/// - The receiver touches the first word of each payload; the figures are its arrivals after
///   `warmup` records. It stops at "end", or when the coordinator sets `closed` and nothing
///   arrives for 100 ms (a publisher's "end" can be dropped at the high-water mark).
/// - ArrayTransport's roles (`ZeroMQWorkers+Transport.swift`) also check which path the
///   records took: the network only, or (zmq-fastpath) shared memory for every measured one.
enum ZeroMQWorkers {
    /// The stream (topic) every record is sent on.
    static let stream = "aq-bench"
    /// ArrayTransport's default byte budget, which both sides' high-water marks derive from.
    static let byteBudget = 256 << 20
    /// How long a receive waits before the worker checks whether the run is over.
    static let pollMilliseconds = 100
    /// A receiver that hears nothing for this long gives up.
    static let silenceNanoseconds: Int64 = 30_000_000_000
    /// zmq-fastpath: the longest the receiver may take to switch to shared memory (the first
    /// offer goes out a heartbeat interval, 1 s, after the publisher starts).
    static let switchTimeoutNanoseconds: Int64 = 10_000_000_000
    /// zmq-fastpath: the publisher's pace until the receiver measures. A publisher at full speed
    /// keeps a tcp subscriber's pipe at its high-water mark, where libzmq drops the heartbeat
    /// that carries the fast path's offer as readily as a record, so the subscriber may never
    /// see it; at this pace the subscriber keeps up, and the offer arrives.
    static let pacedWarmupBytesPerSecond = 0.5e9

    /// The high-water mark, in messages, for `size`-byte records.
    static func highWaterMark(size: Int) -> Int { max(1, byteBudget / max(size, 1)) }

    /// A uint8 array of `size` bytes with a pattern in it (as the libzmq sender's), made once and sent over and over.
    static func payload(size: Int) throws -> AnyNDArray {
        try AnyNDArray(dtype: .uint8, shape: [size]) { (bytes: UnsafeMutableRawBufferPointer) throws(Never) in
            for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 31) }
        }
    }

    // MARK: - libzmq

    /// Role `libzmq-send`: a PUSH (or PUB) socket driven through the C API.
    static func sendLibzmq(_ task: WorkerTask) throws {
        let control = ControlBlock(try SharedRegion(opening: task.control))
        let socket = try LibZMQSocket(task.pubsub ? CBENCH_ZMQ_PUB : CBENCH_ZMQ_PUSH, address: try task.endpointAddress(), binds: task.senderBinds,
                                      highWaterMark: highWaterMark(size: task.size), timeoutMilliseconds: 30_000)
        if task.senderBinds { control.port.pointee.store(UInt32(socket.boundPort), ordering: .relaxed) }
        let source = UnsafeMutableRawPointer.allocate(byteCount: max(task.size, 1), alignment: 64)
        for offset in 0..<task.size { source.storeBytes(of: UInt8(truncatingIfNeeded: offset &* 31), toByteOffset: offset, as: UInt8.self) }
        try produce(task, control: control) { sequence in try socket.send(stream: stream, payload: source, size: task.size, sequence: sequence) }
        try socket.sendEnd(stream: stream)
        // Terminating the context waits until every queued record is sent and released; only
        // then may the source go. (On an error the process exits without freeing it.)
        socket.close(lingerMilliseconds: 10_000)
        source.deallocate()
    }

    /// Role `libzmq-receive`: a PULL (or SUB) socket driven through the C API.
    static func receiveLibzmq(_ task: WorkerTask) throws {
        let control = ControlBlock(try SharedRegion(opening: task.control))
        let socket = try LibZMQSocket(task.pubsub ? CBENCH_ZMQ_SUB : CBENCH_ZMQ_PULL, address: try task.endpointAddress(), binds: !task.senderBinds,
                                      highWaterMark: highWaterMark(size: task.size), timeoutMilliseconds: pollMilliseconds)
        if !task.senderBinds { control.port.pointee.store(UInt32(socket.boundPort), ordering: .relaxed) }
        try consume(task, control: control) { () throws(BenchError) -> Arrival in
            switch try socket.receive() {
            case let .record(_, firstWord): .record(firstWord)
            case .end: .end
            case .nothing: .nothing
            }
        }
    }

    // MARK: - Shared loops

    /// What one receive brought.
    enum Arrival {
        /// A record, with its payload's first word.
        case record(UInt64)
        /// The sender's "end".
        case end
        /// Nothing within the poll interval.
        case nothing
    }

    /// Calls `send(sequence)` for `task.warmup` records (and, with `waitsForReceiver`, until the
    /// receiver sets `measuring`, at most ``switchTimeoutNanoseconds``, paced to
    /// ``pacedWarmupBytesPerSecond``) and then for `task.seconds` (at least
    /// ``Pipeline/minimumRecords`` measured ones, at most `task.count` in all, 30 s beyond the
    /// time), and stores the count in the task's result slot.
    static func produce(_ task: WorkerTask, control: ControlBlock, waitsForReceiver: Bool = false, send: (Int) throws -> Void) throws {
        try control.arriveAndWait()
        let start = Sys.monotonicNanoseconds()
        let duration = Int64(task.seconds * 1e9)
        let hardEnd = start + duration + switchTimeoutNanoseconds + 30_000_000_000
        var end: Int64 = .max
        var sent = 0
        var now = start
        func warm() -> Bool { sent >= task.warmup && (!waitsForReceiver || control.measuring.pointee.load(ordering: .acquiring) != 0) }
        if warm() { end = start + duration }
        while sent < task.count && (sent < task.warmup + Pipeline.minimumRecords || now < end) && now < hardEnd {
            try send(sent)
            sent += 1
            now = Sys.monotonicNanoseconds()
            if end == .max {
                if warm() {
                    end = now + duration
                } else if waitsForReceiver {
                    Sys.sleep(nanoseconds: Int64(Double(task.size) / pacedWarmupBytesPerSecond * 1e9))
                }
            }
        }
        control.slot(task.slot).store(records: sent, first: start, last: now, checksum: 0)
    }

    /// Calls `receive` until "end" (or `closed` and a quiet poll), and stores the records
    /// received after the first `task.warmup` ones with their first and last arrival times.
    /// Measuring starts with the first of those for which `startsMeasuring` (called once per
    /// record until then) says yes; `measuring` is set then. Returns the records measured.
    @discardableResult
    static func consume(
        _ task: WorkerTask, control: ControlBlock, receive: () throws(BenchError) -> Arrival,
        startsMeasuring: () throws(BenchError) -> Bool = { true }
    ) throws -> Int {
        try control.arriveAndWait()
        var received = 0
        var records = 0
        var first: Int64 = 0
        var last: Int64 = 0
        var checksum: UInt64 = 0
        var heard = Sys.monotonicNanoseconds()
        receiving: while received <= task.count {
            switch try receive() {
            case let .record(word):
                checksum ^= word
                received += 1
                heard = Sys.monotonicNanoseconds()
                guard received > task.warmup else { continue }
                if records == 0 {
                    guard try startsMeasuring() else { continue }
                    first = heard
                    control.measuring.pointee.store(1, ordering: .releasing)
                }
                last = heard
                records += 1
            case .end:
                break receiving
            case .nothing:
                if control.closed.pointee.load(ordering: .acquiring) != 0 { break receiving }
                guard Sys.monotonicNanoseconds() - heard < silenceNanoseconds else {
                    throw BenchError("no record for \(silenceNanoseconds / 1_000_000_000) s (received \(received))")
                }
            }
        }
        control.slot(task.slot).store(records: records, first: first, last: last, checksum: checksum)
        return records
    }
}
