"""The exceptions of arrayqueues_swift: one class per error code of the C interface
(``AQ_E*`` in ``arrayqueues.h``), each also a subclass of the built-in exception that means the
same thing, so that ``except queue.Full``, ``except queue.Empty``, ``except TimeoutError``,
``except FileNotFoundError`` or ``except ValueError`` catch what they should."""

from __future__ import annotations

import queue

__all__ = [
    "ArrayQueuesError", "Timeout", "PutTimeout", "GetTimeout", "Full", "Empty", "Oversize", "DTypeMismatch",
    "InvalidShape", "UnsupportedDType", "InvalidName", "InvalidArgument", "QueueNotFound", "QueueExists",
    "ForeignSegment", "IncompatibleVersion", "CorruptSegment", "InsufficientSharedMemory", "InvalidNPY",
    "Cancelled", "SystemCallError", "BufferTooSmall", "Closed", "InvalidEndpoint", "MalformedMessage",
    "UnsupportedVersion", "Unsupported", "InvalidArray", "ZMQError", "FastPathUnavailable", "UntrustedOwner", "CODES",
]


class ArrayQueuesError(Exception):
    """Base class of every error of the library.

    Attributes: ``message`` (a complete sentence from the library), ``code`` (the negative
    ``AQ_E*`` code of the C interface) and ``errno`` (the C library's or libzmq's errno when a
    system call failed, else 0).
    """

    def __init__(self, message: str, code: int = 0, errno: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.errno = errno

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        return (type(self), (self.message, self.code, self.errno))


class Timeout(ArrayQueuesError, TimeoutError):
    """A blocking call ran out of time (``AQ_ETIMEOUT``)."""


class Full(ArrayQueuesError, queue.Full):
    """No room in the queue now, and the call was not to wait (``AQ_EFULL``)."""


class Empty(ArrayQueuesError, queue.Empty):
    """No record in the queue now, and the call was not to wait (``AQ_EEMPTY``)."""


class PutTimeout(Timeout, Full):
    """A put (or loan, or send) waited for room until its timeout: a ``queue.Full`` too."""


class GetTimeout(Timeout, Empty):
    """A get (or borrow) waited for a record until its timeout: a ``queue.Empty`` too."""


class Oversize(ArrayQueuesError, ValueError):
    """The array can never fit in this queue, even when it is empty (``AQ_EOVERSIZE``)."""


class DTypeMismatch(ArrayQueuesError, TypeError):
    """The record's dtype is not the one asked for (``AQ_EDTYPE_MISMATCH``)."""


class InvalidShape(ArrayQueuesError, ValueError):
    """More than 32 dimensions, a negative extent, or a size that overflows (``AQ_EINVALID_SHAPE``)."""


class UnsupportedDType(ArrayQueuesError, TypeError):
    """A dtype the queues do not carry (``AQ_EUNSUPPORTED_DTYPE``): they carry bool, int8-64,
    uint8-64, float16-64, complex64 and complex128, little-endian."""


class InvalidName(ArrayQueuesError, ValueError):
    """A queue name that cannot name a POSIX shared-memory object (``AQ_EINVALID_NAME``)."""


class InvalidArgument(ArrayQueuesError, ValueError):
    """An argument out of range (``AQ_EINVALID_ARGUMENT``)."""


class QueueNotFound(ArrayQueuesError, FileNotFoundError):
    """No queue has this name (``AQ_ENOT_FOUND``)."""


class QueueExists(ArrayQueuesError, FileExistsError):
    """A queue with this name exists already (``AQ_EALREADY_EXISTS``)."""


class ForeignSegment(ArrayQueuesError, OSError):
    """The shared-memory object is not an ArrayQueues segment (``AQ_EFOREIGN``)."""


class IncompatibleVersion(ArrayQueuesError, OSError):
    """The segment was made by an incompatible layout version (``AQ_EINCOMPATIBLE_VERSION``)."""


class CorruptSegment(ArrayQueuesError, OSError):
    """The segment fails its consistency checks (``AQ_ECORRUPT``)."""


class InsufficientSharedMemory(ArrayQueuesError, OSError):
    """``/dev/shm`` cannot hold the segment (``AQ_ENO_SHARED_MEMORY``)."""


class InvalidNPY(ArrayQueuesError, ValueError):
    """Not a valid ``.npy`` file (``AQ_EINVALID_NPY``)."""


class Cancelled(ArrayQueuesError):
    """A waiting call was cancelled (``AQ_ECANCELLED``)."""


class SystemCallError(ArrayQueuesError, OSError):
    """A C library call failed; ``errno`` says why (``AQ_ESYSTEM``)."""


class BufferTooSmall(ArrayQueuesError, ValueError):
    """A caller's buffer cannot hold the record (``AQ_EBUFFER_TOO_SMALL``)."""


class Closed(ArrayQueuesError, ValueError):
    """The queue handle, sender or receiver is closed, or a loan or borrow has ended (``AQ_ECLOSED``)."""


class InvalidEndpoint(ArrayQueuesError, ValueError):
    """An endpoint string that cannot be parsed or used (``AQ_EINVALID_ENDPOINT``)."""


class MalformedMessage(ArrayQueuesError, ValueError):
    """A message that breaks the arrf/1 rules (``AQ_EMALFORMED``)."""


class UnsupportedVersion(ArrayQueuesError, ValueError):
    """A message of an arrf major version this receiver does not read (``AQ_EUNSUPPORTED_VERSION``)."""


class Unsupported(ArrayQueuesError, NotImplementedError):
    """A feature this build lacks, such as CURVE (``AQ_EUNSUPPORTED``)."""


class InvalidArray(ArrayQueuesError, ValueError):
    """An array could not be made: bad dtype, shape or size (``AQ_EINVALID_ARRAY``)."""


class ZMQError(ArrayQueuesError, OSError):
    """A libzmq call failed; ``errno`` says why (``AQ_EZMQ``)."""


class FastPathUnavailable(ArrayQueuesError, OSError):
    """The same-host fast path was required but cannot be used (``AQ_EFAST_PATH_UNAVAILABLE``)."""


class UntrustedOwner(ArrayQueuesError, PermissionError):
    """The queue's shared-memory object belongs to another user, and the handle was not opened
    with ``allow_other_owner`` (``AQ_EUNTRUSTED_OWNER``)."""


#: The class of each ``AQ_E*`` code. 1001 and 1002 are the extension module's keys for a
#: timeout of a call that waits for room (put, loan, send) and for a record (get, borrow).
CODES: dict[int, type[ArrayQueuesError]] = {
    -1: Timeout, -2: Full, -3: Empty, -4: Oversize, -5: DTypeMismatch, -6: InvalidShape, -7: UnsupportedDType,
    -8: InvalidName, -9: InvalidArgument, -10: QueueNotFound, -11: QueueExists, -12: ForeignSegment,
    -13: IncompatibleVersion, -14: CorruptSegment, -15: InsufficientSharedMemory, -16: InvalidNPY, -17: Cancelled,
    -18: SystemCallError, -19: BufferTooSmall, -20: Closed, -21: InvalidEndpoint, -22: MalformedMessage,
    -23: UnsupportedVersion, -24: Unsupported, -25: InvalidArray, -26: ZMQError, -27: FastPathUnavailable,
    -28: UntrustedOwner,
    1001: PutTimeout, 1002: GetTimeout,
}
