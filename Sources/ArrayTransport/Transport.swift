public import ArrayQueues

/// An array with the name it travels under (`arrays[i].name` in the wire header).
public struct NamedArray: Sendable, Equatable {
    /// The name an array travels under when none is given (`sender.send(array)`, a C `aq_array`
    /// whose `name` is NULL, a bare numpy array in Python), and the name a `shm://` receiver gives
    /// the array of a plain queue record, which carries no name.
    public static let defaultName = "array"

    /// The array's name within its message, for example `"frame"` or `"mask"`.
    public var name: String
    /// The array.
    public var array: AnyNDArray

    /// Pairs `array` with `name`.
    public init(_ name: String, _ array: AnyNDArray) {
        self.name = name
        self.array = array
    }
}

/// One data record of a stream: one or more named arrays with a timestamp and metadata,
/// as a receiver delivers it.
public struct ArrayMessage: Sendable, Equatable {
    /// The most arrays per message that receivers take by default (their `maximumArrays`), and
    /// the most that senders send by default: a sender refuses a longer message with
    /// ``TransportError/Code/invalidArgument`` rather than send what receivers would drop as
    /// malformed. Raise both sides' `maximumArrays` together to send more (docs/WIRE.md).
    public static let defaultMaximumArrays = 256

    /// The stream (the topic a subscriber filters on).
    public var stream: String
    /// The arrays, in the order the sender gave them.
    public var arrays: [NamedArray]
    /// When the record was made (sender's clock).
    public var timestamp: Timestamp
    /// The producer's own frame number, if it gave one.
    public var index: Int64?
    /// Free-form application metadata.
    public var meta: [String: JSONValue]
    /// Position in the sender's epoch: 0, 1, 2 ... per data message.
    public var sequence: UInt64
    /// The sending instance: a random number fixed when the sender started.
    public var epoch: UInt64

    /// A message; receivers make these, and tests and other transports may too.
    public init(
        stream: String, arrays: [NamedArray], timestamp: Timestamp, index: Int64? = nil,
        meta: [String: JSONValue] = [:], sequence: UInt64, epoch: UInt64
    ) {
        self.stream = stream
        self.arrays = arrays
        self.timestamp = timestamp
        self.index = index
        self.meta = meta
        self.sequence = sequence
        self.epoch = epoch
    }

    /// The first array named `name`, if any.
    public subscript(name: String) -> AnyNDArray? {
        arrays.first(where: { $0.name == name })?.array
    }
}

/// Where a stream stood when a heartbeat or end message was sent.
public struct StreamMark: Sendable, Hashable {
    /// The stream.
    public var stream: String
    /// The sending instance.
    public var epoch: UInt64
    /// The `sequence` of the last data message of this epoch, or nil if there was none.
    public var lastSequence: UInt64?
    /// When the heartbeat or end was sent (sender's clock).
    public var timestamp: Timestamp

    /// A mark; receivers make these.
    public init(stream: String, epoch: UInt64, lastSequence: UInt64?, timestamp: Timestamp) {
        self.stream = stream
        self.epoch = epoch
        self.lastSequence = lastSequence
        self.timestamp = timestamp
    }
}

/// Everything a receiver can deliver: data, and the control messages of arrf/1.
public enum ReceiveEvent: Sendable, Equatable {
    /// A data message.
    case message(ArrayMessage)
    /// A sender said it is alive while idle.
    case heartbeat(StreamMark)
    /// A sender closed its stream on purpose.
    case end(StreamMark)
}

/// What became of a message given to ``ArraySender/send(_:timestamp:index:meta:)``.
public enum SendOutcome: Sendable, Hashable {
    /// Handed to the transport with this sequence number.
    case sent(sequence: UInt64)
    /// Dropped by the sender's flow control (a publisher over its byte budget). The sequence
    /// number was used up, so receivers count the message as lost.
    case dropped(sequence: UInt64)

    /// The sequence number the message was given.
    public var sequence: UInt64 {
        switch self {
        case let .sent(sequence), let .dropped(sequence): sequence
        }
    }
}

/// Sends the records of one stream. ZeroMQ (``ZeroMQSender``) and shared memory implement it.
///
/// Every sender numbers its data messages 0, 1, 2 ... within its epoch (a random number fixed
/// at start), says it is alive when idle, and says "end" when closed.
public protocol ArraySender: Sendable {
    /// The stream this sender writes.
    var stream: String { get }

    /// Sends one record of named arrays.
    ///
    /// Blocks or drops when the transport is over its budget, as the transport documents.
    /// - Returns: the sequence number given, and whether the message was sent or dropped.
    /// - Throws: ``TransportError/Code/timeout`` if it could not be sent in time (the sequence
    ///   number is then not used), ``TransportError/Code/closed``, ``TransportError/Code/invalidArgument``.
    @discardableResult
    func send(_ arrays: [NamedArray], timestamp: Timestamp, index: Int64?, meta: [String: JSONValue]) throws(TransportError) -> SendOutcome

    /// Counters and state, as of now.
    var statistics: SenderStatistics { get }

    /// Sends "end" and releases the transport. Later sends throw ``TransportError/Code/closed``;
    /// closing again does nothing.
    func close()
}

extension ArraySender {
    /// Sends one array as a record of its own.
    @discardableResult
    public func send(
        _ array: AnyNDArray, name: String = NamedArray.defaultName, timestamp: Timestamp = .now(), index: Int64? = nil,
        meta: [String: JSONValue] = [:]
    ) throws(TransportError) -> SendOutcome {
        try send([NamedArray(name, array)], timestamp: timestamp, index: index, meta: meta)
    }

    /// Sends one typed array as a record of its own.
    @discardableResult
    public func send<Element: ArrayElement>(
        _ array: NDArray<Element>, name: String = NamedArray.defaultName, timestamp: Timestamp = .now(), index: Int64? = nil,
        meta: [String: JSONValue] = [:]
    ) throws(TransportError) -> SendOutcome {
        try send([NamedArray(name, array.erased)], timestamp: timestamp, index: index, meta: meta)
    }
}

/// Receives records. ZeroMQ (``ZeroMQReceiver``) and shared memory implement it.
///
/// Use ``receive(timeout:)`` from a thread of your own, or iterate ``messages(stopAtEnd:)``
/// from async code (the blocking receives then run on a dedicated thread). To read the arrays
/// where they arrived instead of in a copy of your own, use the borrowing receives,
/// ``receive(timeout:_:)`` and ``receiveEvent(timeout:_:)``: the arrays are then views into
/// the shared-memory queue's record or the received ZeroMQ frames, valid inside the closure.
public protocol ArrayReceiver: Sendable {
    /// Waits for the next data, heartbeat or end message, at most `timeout` (nil: no limit),
    /// and lends it to `body`: its arrays stay where they arrived (the record in a shared-memory
    /// queue, or the received frames) until `body` returns. Every receive is built on this one.
    ///
    /// Malformed messages are counted in ``statistics`` and skipped; they never end the wait.
    /// A message lent to `body` counts as received (in ``statistics``, and for sequence
    /// tracking) whatever `body` does; the next receive delivers the next message.
    /// - Returns: true once `body` was called, false when the timeout passed first.
    /// - Throws: ``TransportError/Code/closed`` once the receiver is closed,
    ///   ``TransportError/Code/invalidArgument`` for a receive from `body` on the same receiver
    ///   (every transport refuses it), and the errors each transport documents.
    func lendEvent(timeout: Duration?, to body: (borrowing BorrowedReceiveEvent) -> Void) throws(TransportError) -> Bool

    /// Counters and state, as of now.
    var statistics: ReceiverStatistics { get }

    /// Stops receiving. Calls waiting in other threads return soon with
    /// ``TransportError/Code/closed``; closing again does nothing.
    func close()
}

extension ArrayReceiver {
    /// Waits for the next data, heartbeat or end message, at most `timeout` (nil: no limit),
    /// and returns it with its arrays owned (copied out of shared memory; large payloads of
    /// ZeroMQ frames are adopted without a copy).
    ///
    /// Malformed messages are counted in ``statistics`` and skipped; they never end the wait.
    /// - Returns: the event, or nil when the timeout passed first.
    /// - Throws: ``TransportError/Code/closed`` once the receiver is closed.
    public func receiveEvent(timeout: Duration?) throws(TransportError) -> ReceiveEvent? {
        var event: ReceiveEvent?
        _ = try lendEvent(timeout: timeout) { event = $0.copy() }
        return event
    }

    /// Waits for the next data, heartbeat or end message, at most `timeout` (nil: no limit), and
    /// lends it to `body` without copying its arrays (see ``BorrowedArrayMessage``).
    ///
    /// The message counts as received whatever `body` does, and if `body` throws, its error is
    /// rethrown after the message was released.
    /// - Returns: what `body` returned, or nil when the timeout passed first.
    /// - Throws: ``TransportError`` as ``receiveEvent(timeout:)`` does, or what `body` throws.
    @discardableResult
    public func receiveEvent<Result>(timeout: Duration?, _ body: (borrowing BorrowedReceiveEvent) throws -> Result) throws -> Result? {
        var outcome: Swift.Result<Result, any Error>?
        _ = try lendEvent(timeout: timeout) { event in
            do { outcome = .success(try body(event)) } catch { outcome = .failure(error) }
        }
        return try outcome?.get()
    }

    /// Waits for the next data message, at most `timeout` (nil: no limit); heartbeats and end
    /// messages are counted in ``ArrayReceiver/statistics`` and passed over.
    ///
    /// - Returns: the message, with its arrays owned (see ``receiveEvent(timeout:)``), or nil
    ///   when the timeout passed first.
    /// - Throws: ``TransportError/Code/closed`` once the receiver is closed.
    public func receive(timeout: Duration?) throws(TransportError) -> ArrayMessage? {
        var message: ArrayMessage?
        _ = try lendMessage(timeout: timeout) { message = $0.copy() }
        return message
    }

    /// Waits for the next data message, at most `timeout` (nil: no limit), and lends it to `body`
    /// without copying its arrays: they are read in place in the shared-memory queue's record or
    /// in the received ZeroMQ frames, and are valid only inside `body` (see
    /// ``BorrowedArrayMessage``). Heartbeats and end messages are counted in
    /// ``ArrayReceiver/statistics`` and passed over.
    ///
    /// ```swift
    /// let total = try receiver.receive(timeout: .seconds(1)) { message in
    ///     try message.withElements(of: 0, as: Float.self) { values in values.count }
    /// }
    /// ```
    ///
    /// The message counts as received whatever `body` does, and if `body` throws, its error is
    /// rethrown after the message was released. While `body` runs, the record's room in a
    /// shared-memory queue cannot be reused: a fast-path publisher that needs it drops messages
    /// rather than wait (its subscribers count them as lost), other producers wait for room. Copy
    /// what you keep, and do not receive from the same receiver inside `body` (every receiver
    /// refuses that with ``TransportError/Code/invalidArgument``).
    /// - Returns: what `body` returned, or nil when the timeout passed first.
    /// - Throws: ``TransportError`` as ``receive(timeout:)`` does, or what `body` throws.
    @discardableResult
    public func receive<Result>(timeout: Duration?, _ body: (borrowing BorrowedArrayMessage) throws -> Result) throws -> Result? {
        var outcome: Swift.Result<Result, any Error>?
        _ = try lendMessage(timeout: timeout) { message in
            do { outcome = .success(try body(message)) } catch { outcome = .failure(error) }
        }
        return try outcome?.get()
    }

    /// Lends the next data message to `body`, passing over marks, until `timeout`; whether
    /// one was lent.
    private func lendMessage(timeout: Duration?, to body: (borrowing BorrowedArrayMessage) -> Void) throws(TransportError) -> Bool {
        let deadline = Duration.deadline(after: timeout)
        while true {
            let remaining = deadline.map { Duration.nanoseconds(max(0, $0 - Sys.monotonicNanoseconds())) }
            var lent = false
            let found = try lendEvent(timeout: remaining) { event in
                switch event {
                case .message(let message):
                    lent = true
                    body(message)
                case .heartbeat:
                    break
                case .end:
                    break
                }
            }
            if lent { return true }
            if !found { return false }
            if let deadline, Sys.monotonicNanoseconds() >= deadline { return false }
        }
    }

    /// The data messages as an asynchronous sequence. Blocking receives run on a dedicated
    /// thread per iterator, never on Swift's cooperative thread pool.
    ///
    /// The sequence ends when the receiver is closed, when the iterating task is cancelled
    /// (within ~100 ms), or, with `stopAtEnd`, after the first end message.
    public func messages(stopAtEnd: Bool = false) -> ArrayMessages {
        ArrayMessages(receiver: self, stopAtEnd: stopAtEnd)
    }
}
