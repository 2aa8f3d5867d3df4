public import ArrayQueues

/// The one error type of the ArrayTransport module.
///
/// Match on ``code``; ``description`` is a complete, readable sentence. Errors that come from
/// libzmq carry the C function's name, `zmq_errno()` and libzmq's explanation (`zmq_strerror`).
public struct TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as a value to match on.
    public let code: Code
    /// A human-readable explanation with the details of this occurrence.
    public let message: String
    /// The C function that failed, for ``Code/zeroMQ`` and some other codes.
    public let function: String?
    /// The error number the C function reported (`zmq_errno()`), if any.
    public let errorNumber: Int32?
    /// The queue error this error comes from (a shared-memory transport, or an array that
    /// could not be made), with its own code: a full, missing or corrupt queue stays
    /// recognizable as ``ArrayQueueError/Code/full``, ``ArrayQueueError/Code/notFound`` or
    /// ``ArrayQueueError/Code/corruptSegment`` whatever ``code`` the transport gives it.
    public let queueError: ArrayQueueError?

    /// Makes an error; `function` and `errorNumber` name a failed C call, `queueError` the
    /// queue error behind it.
    public init(_ code: Code, _ message: String, function: String? = nil, errorNumber: Int32? = nil, queueError: ArrayQueueError? = nil) {
        self.code = code
        self.message = message
        self.function = function
        self.errorNumber = errorNumber
        self.queueError = queueError
    }

    /// The message, followed by the failed C call and its error, if any.
    public var description: String {
        guard let function else { return message }
        guard let errorNumber else { return "\(message) (\(function))" }
        return "\(message) (\(function): \(ZMQ.errorText(errorNumber)), errno \(errorNumber))"
    }

    /// The kinds of failure. New codes may be added; match with a `default` case.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// A blocking call ran out of time.
        case timeout
        /// The sender or receiver was closed.
        case closed
        /// An endpoint string that cannot be parsed, or that the transport cannot use.
        case invalidEndpoint
        /// An argument outside its allowed range (stream name, option value, array name, ...).
        case invalidArgument
        /// A received message that breaks the arrf/1 rules (docs/WIRE.md); it was skipped.
        case malformedMessage
        /// A received message of an arrf major version this receiver does not read.
        case unsupportedVersion
        /// A feature that this build of libzmq lacks (for example CURVE security).
        case unsupported
        /// An array could not be made (see the message; it comes from ArrayQueues).
        case invalidArray
        /// A libzmq call failed; see ``TransportError/function`` and ``TransportError/errorNumber``.
        case zeroMQ
        /// Another C library call failed (such as starting a thread); see ``TransportError/function``.
        case systemCall
        /// The same-host fast path was required (``FastPath/required``) but cannot be used: the
        /// message says why (another host, another `/dev/shm`, no offer in time, ...).
        case fastPathUnavailable
    }
}

extension TransportError {
    /// The transport's view of an ``ArrayQueueError`` (from building an array or using a queue):
    /// timeouts stay timeouts, a cancelled wait means the receiver was closed, a bad array is an
    /// invalid array, anything else keeps its message and C call. The original is kept as
    /// ``queueError``.
    init(_ error: ArrayQueueError) {
        switch error.code {
        case .timeout: self.init(.timeout, error.message, queueError: error)
        case .cancelled: self.init(.closed, error.message, queueError: error)
        case .oversize, .invalidShape, .dtypeMismatch, .unsupportedDType: self.init(.invalidArray, error.message, queueError: error)
        case .invalidName: self.init(.invalidEndpoint, error.message, queueError: error)
        case .corruptSegment, .foreignSegment, .incompatibleVersion: self.init(.malformedMessage, error.message, queueError: error)
        default: self.init(.systemCall, error.description, function: error.function, errorNumber: error.errno?.rawValue, queueError: error)
        }
    }

    /// A malformed-message error: `reason` says which rule the message broke.
    static func malformed(_ reason: String) -> TransportError {
        TransportError(.malformedMessage, reason)
    }
}
