public import SystemPackage

/// The one error type of the ArrayQueues module.
///
/// Match on ``code``; ``description`` is a complete, readable sentence. Errors that come
/// from the operating system carry the C function's name and its `errno`.
public struct ArrayQueueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as a value to match on.
    public let code: Code
    /// A human-readable explanation with the details of this occurrence.
    public let message: String
    /// The C function that failed, for ``Code/systemCall`` and some other codes.
    public let function: String?
    /// The `errno` the C function reported, if any.
    public let errno: Errno?

    /// Makes an error; `function` and `errno` name a failed C call.
    public init(_ code: Code, _ message: String, function: String? = nil, errno: Errno? = nil) {
        self.code = code
        self.message = message
        self.function = function
        self.errno = errno
    }

    public var description: String {
        guard let function else { return message }
        if let errno { return "\(message) (\(function): \(errno.description), errno \(errno.rawValue))" }
        return "\(message) (\(function))"
    }

    /// The kinds of failure. New codes may be added; match with a `default` case.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// A blocking call ran out of time.
        case timeout
        /// A non-blocking put found no room, or the overflow policy is `.fail`.
        case full
        /// A non-blocking get found no record.
        case empty
        /// The array can never fit in this queue, even when it is empty.
        case oversize
        /// The record's dtype is not the one asked for.
        case dtypeMismatch
        /// A shape with too many dimensions, a negative extent, or an element count that overflows.
        case invalidShape
        /// A dtype code or typestr that ArrayQueues does not support.
        case unsupportedDType
        /// A queue name that cannot name a POSIX shared-memory object.
        case invalidName
        /// An argument outside its allowed range (capacity, timeout, ...).
        case invalidArgument
        /// No segment has this name.
        case notFound
        /// A segment with this name exists already.
        case alreadyExists
        /// The shared-memory object is not an ArrayQueues segment.
        case foreignSegment
        /// The shared-memory object belongs to another user, and the caller did not allow that
        /// (``QueueOptions/allowOtherOwner``).
        case untrustedOwner
        /// The segment was made by an incompatible layout version.
        case incompatibleVersion
        /// The segment's header or records fail their consistency checks.
        case corruptSegment
        /// The shared-memory file system (`/dev/shm`) cannot hold the segment.
        case insufficientSharedMemory
        /// A file is not a valid `.npy` file, or uses a feature that is not supported.
        case invalidNPY
        /// The waiting call was cancelled.
        case cancelled
        /// A C function failed; see ``ArrayQueueError/function`` and ``ArrayQueueError/errno``.
        case systemCall
    }
}

extension ArrayQueueError {
    /// An error from a failed C call that reported `errno` (or returned it, as pthreads do).
    static func system(_ function: String, _ errnoValue: Int32, _ message: String) -> ArrayQueueError {
        ArrayQueueError(.systemCall, message, function: function, errno: Errno(rawValue: errnoValue))
    }
}
