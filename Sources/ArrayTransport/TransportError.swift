public import ArrayQueues
public import SystemPackage

/// The one error type of the ArrayTransport module.
///
/// Match on ``code``; ``description`` is a complete, readable sentence. Errors that come from
/// libzmq carry the C function's name, `zmq_errno()` and libzmq's explanation (`zmq_strerror`);
/// errors from a queue keep the queue's error (``queueError``) and, where the meaning is the same,
/// its code (``Code/full``, ``Code/notFound``, ``Code/corruptQueue``, ``Code/timeout``).
public struct TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as a value to match on.
    public let code: Code
    /// A human-readable explanation with the details of this occurrence.
    public let message: String
    /// The C function that failed, for ``Code/zeroMQ`` and some other codes.
    public let function: String?
    /// The error number the C function reported (`errno`, or `zmq_errno()` for libzmq), if any:
    /// the same type as ``ArrayQueueError/errno``.
    public let errno: Errno?
    /// The queue error this error comes from (a shared-memory transport, or an array that
    /// could not be made), with its own code: a full, missing or corrupt queue stays
    /// recognizable as ``ArrayQueueError/Code/full``, ``ArrayQueueError/Code/notFound`` or
    /// ``ArrayQueueError/Code/corruptSegment`` whatever ``code`` the transport gives it.
    public let queueError: ArrayQueueError?

    /// Makes an error; `function` and `errno` name a failed C call, `queueError` the queue
    /// error behind it.
    public init(_ code: Code, _ message: String, function: String? = nil, errno: Errno? = nil, queueError: ArrayQueueError? = nil) {
        self.code = code
        self.message = message
        self.function = function
        self.errno = errno
        self.queueError = queueError
    }

    /// The message, followed by the failed C call and its error, if any.
    public var description: String {
        guard let function else { return message }
        // zmq_strerror knows libzmq's own numbers (EFSM, ETERM, ...) as well as the system's.
        guard let errno else { return "\(message) (\(function))" }
        return "\(message) (\(function): \(ZMQ.errorText(errno.rawValue)), errno \(errno.rawValue))"
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
        /// A received message of an arrf major version this receiver does not read, or a
        /// shared-memory queue of a segment layout version this build does not read.
        case unsupportedVersion
        /// A feature that this build of libzmq lacks (for example CURVE security).
        case unsupported
        /// An array could not be made (see the message; it comes from ArrayQueues).
        case invalidArray
        /// A libzmq call failed; see ``TransportError/function`` and ``TransportError/errno``.
        case zeroMQ
        /// Another C library call failed (such as starting a thread); see ``TransportError/function``.
        case systemCall
        /// The same-host fast path was required (``FastPath/required``) but cannot be used: the
        /// message says why (another host, another `/dev/shm`, no offer in time, ...).
        case fastPathUnavailable
        /// A shared-memory queue had no room in time, or its overflow policy is `fail`
        /// (``ArrayQueueError/Code/full``).
        case full
        /// No shared-memory queue has the name (``ArrayQueueError/Code/notFound``).
        case notFound
        /// A shared-memory queue's header or records fail their consistency checks
        /// (``ArrayQueueError/Code/corruptSegment``).
        case corruptQueue
    }
}

extension TransportError {
    /// The transport's view of an ``ArrayQueueError`` (from building an array or using a queue):
    /// the codes that mean the same keep it (timeout, full, not found, corrupt, invalid
    /// argument), a cancelled wait means the receiver was closed, a bad array is an invalid
    /// array, a name that is not a usable queue an invalid endpoint, a segment of another layout
    /// version an unsupported version; anything else is a failed system call with the queue
    /// error's C call and errno. The original is always kept as ``queueError``.
    init(_ error: ArrayQueueError) {
        let code: Code = switch error.code {
        case .timeout: .timeout
        case .full: .full
        case .notFound: .notFound
        case .corruptSegment: .corruptQueue
        case .invalidArgument: .invalidArgument
        case .cancelled: .closed
        case .oversize, .invalidShape, .dtypeMismatch, .unsupportedDType: .invalidArray
        case .invalidName, .untrustedOwner, .foreignSegment: .invalidEndpoint
        case .incompatibleVersion: .unsupportedVersion
        case .empty, .alreadyExists, .insufficientSharedMemory, .invalidNPY, .systemCall: .systemCall
        }
        self.init(code, error.message, function: error.function, errno: error.errno, queueError: error)
    }

    /// A malformed-message error: `reason` says which rule the message broke.
    static func malformed(_ reason: String) -> TransportError {
        TransportError(.malformedMessage, reason)
    }
}
