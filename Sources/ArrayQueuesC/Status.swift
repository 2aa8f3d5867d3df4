import ArrayQueues
import ArrayTransport
import CArrayQueuesC

/// Turning Swift errors into the C interface's status codes: a negative `AQ_E*` code returned,
/// with the message and errno kept per thread for `aq_last_error_message` and `aq_last_errno`.
enum Status {
    /// The code of each queue error, one to one.
    static func code(_ code: ArrayQueueError.Code) -> Int32 {
        switch code {
        case .timeout: AQ_ETIMEOUT
        case .full: AQ_EFULL
        case .empty: AQ_EEMPTY
        case .oversize: AQ_EOVERSIZE
        case .dtypeMismatch: AQ_EDTYPE_MISMATCH
        case .invalidShape: AQ_EINVALID_SHAPE
        case .unsupportedDType: AQ_EUNSUPPORTED_DTYPE
        case .invalidName: AQ_EINVALID_NAME
        case .invalidArgument: AQ_EINVALID_ARGUMENT
        case .notFound: AQ_ENOT_FOUND
        case .alreadyExists: AQ_EALREADY_EXISTS
        case .foreignSegment: AQ_EFOREIGN
        case .untrustedOwner: AQ_EUNTRUSTED_OWNER
        case .incompatibleVersion: AQ_EINCOMPATIBLE_VERSION
        case .corruptSegment: AQ_ECORRUPT
        case .insufficientSharedMemory: AQ_ENO_SHARED_MEMORY
        case .invalidNPY: AQ_EINVALID_NPY
        case .cancelled: AQ_ECANCELLED
        case .systemCall: AQ_ESYSTEM
        }
    }

    /// The code of each transport error, one to one (the codes a queue error shares its meaning
    /// with share its C code: timeout, full, not found, corrupt, invalid argument, system call);
    /// an error that came from a queue keeps
    /// the queue's code (a full or missing `shm://` queue is AQ_EFULL or AQ_ENOT_FOUND), except
    /// that a wait ended by closing is AQ_ECLOSED.
    static func code(_ error: TransportError) -> Int32 {
        if error.code != .closed, let queueError = error.queueError { return code(queueError.code) }
        switch error.code {
        case .timeout: return AQ_ETIMEOUT
        case .closed: return AQ_ECLOSED
        case .invalidEndpoint: return AQ_EINVALID_ENDPOINT
        case .invalidArgument: return AQ_EINVALID_ARGUMENT
        case .malformedMessage: return AQ_EMALFORMED
        case .unsupportedVersion: return AQ_EUNSUPPORTED_VERSION
        case .unsupported: return AQ_EUNSUPPORTED
        case .invalidArray: return AQ_EINVALID_ARRAY
        case .zeroMQ: return AQ_EZMQ
        case .systemCall: return AQ_ESYSTEM
        case .fastPathUnavailable: return AQ_EFAST_PATH_UNAVAILABLE
        case .full: return AQ_EFULL
        case .notFound: return AQ_ENOT_FOUND
        case .corruptQueue: return AQ_ECORRUPT
        }
    }

    /// Records `error` for this thread and returns its code.
    static func fail(_ error: ArrayQueueError) -> Int32 {
        set(code(error.code), error.description, errno: error.errno?.rawValue ?? 0)
    }

    /// Records `error` for this thread and returns its code.
    static func fail(_ error: TransportError) -> Int32 {
        set(code(error), error.description, errno: (error.errno ?? error.queueError?.errno)?.rawValue ?? 0)
    }

    /// Records an error of the C interface itself.
    static func fail(_ code: Int32, _ message: String) -> Int32 {
        set(code, message, errno: 0)
    }

    /// Records any error a Swift closure API may throw.
    static func fail(_ error: any Error) -> Int32 {
        switch error {
        case let error as ArrayQueueError: fail(error)
        case let error as TransportError: fail(error)
        default: set(AQ_ESYSTEM, "\(error)", errno: 0)
        }
    }

    private static func set(_ code: Int32, _ message: String, errno: Int32) -> Int32 {
        aqc_set_error(code, message, errno)
    }

    /// The invalid-argument error for a NULL pointer that must not be NULL.
    static func null(_ what: String, in function: String) -> Int32 {
        fail(AQ_EINVALID_ARGUMENT, "\(function): \(what) is NULL")
    }
}
