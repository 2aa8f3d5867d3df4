public import ArrayQueues

/// An array with the name it travels under (`arrays[i].name` in the wire header).
public struct NamedArray: Sendable, Equatable {
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
        _ array: AnyNDArray, name: String = "array", timestamp: Timestamp = .now(), index: Int64? = nil,
        meta: [String: JSONValue] = [:]
    ) throws(TransportError) -> SendOutcome {
        try send([NamedArray(name, array)], timestamp: timestamp, index: index, meta: meta)
    }

    /// Sends one typed array as a record of its own.
    @discardableResult
    public func send<Element: ArrayElement>(
        _ array: NDArray<Element>, name: String = "array", timestamp: Timestamp = .now(), index: Int64? = nil,
        meta: [String: JSONValue] = [:]
    ) throws(TransportError) -> SendOutcome {
        try send([NamedArray(name, array.erased)], timestamp: timestamp, index: index, meta: meta)
    }
}

/// Receives records. ZeroMQ (``ZeroMQReceiver``) and shared memory implement it.
///
/// Use ``receive(timeout:)`` from a thread of your own, or iterate ``messages(stopAtEnd:)``
/// from async code (the blocking receives then run on a dedicated thread).
public protocol ArrayReceiver: Sendable {
    /// Waits for the next data, heartbeat or end message, at most `timeout` (nil: no limit).
    ///
    /// Malformed messages are counted in ``statistics`` and skipped; they never end the wait.
    /// - Returns: the event, or nil when the timeout passed first.
    /// - Throws: ``TransportError/Code/closed`` once the receiver is closed.
    func receiveEvent(timeout: Duration?) throws(TransportError) -> ReceiveEvent?

    /// Counters and state, as of now.
    var statistics: ReceiverStatistics { get }

    /// Stops receiving. Calls waiting in other threads return soon with
    /// ``TransportError/Code/closed``; closing again does nothing.
    func close()
}

extension ArrayReceiver {
    /// Waits for the next data message, at most `timeout` (nil: no limit); heartbeats and end
    /// messages are counted in ``ArrayReceiver/statistics`` and passed over.
    ///
    /// - Returns: the message, or nil when the timeout passed first.
    /// - Throws: ``TransportError/Code/closed`` once the receiver is closed.
    public func receive(timeout: Duration?) throws(TransportError) -> ArrayMessage? {
        let deadline = Duration.deadline(after: timeout)
        while true {
            let remaining = deadline.map { Duration.nanoseconds(max(0, $0 - Sys.monotonicNanoseconds())) }
            switch try receiveEvent(timeout: remaining) {
            case let .message(message)?: return message
            case .heartbeat?, .end?: if let deadline, Sys.monotonicNanoseconds() >= deadline { return nil }
            case nil: return nil
            }
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
