"""The native queue: ``ArrayQueue`` over the C interface, with owned and zero-copy reads and
writes. See the package docstring for an overview."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import weakref
from typing import TYPE_CHECKING, Any, ContextManager, Iterator, Optional, Sequence, Tuple

import numpy as np

from . import _native
from ._time import Timestamp, duration_ns, utc_datetime
from .errors import GetTimeout

if TYPE_CHECKING:
    from .broadcast import Subscriber

__all__ = ["ArrayQueue", "Record", "QueueStatistics", "LoanedArray", "BorrowedArray", "DTYPES"]


_OVERFLOW = {"block": 0, "fail": 1, "drop-oldest": 2}
_SHAPE_CHANGE = {"keep": 0, "reset": 1}

#: The dtypes a queue carries, with their codes in the C interface (``aq_dtype``), as the
#: library names them (``aq_dtype_typestr``).
DTYPES: dict[np.dtype, int] = {dtype: code for code, dtype in enumerate(_native.DTYPES, start=1)}

#: The arrays ``loan`` and ``borrow`` lend: ndarray subclasses over a record in shared memory,
#: made by the extension module, which checks in C that their ``with`` block has not ended
#: each time they are indexed, converted, read through the buffer protocol, or passed to a
#: numpy function or ufunc (see ``_native_lent.c``).
LoanedArray = _native.LoanedArray
BorrowedArray = _native.BorrowedArray


@dataclasses.dataclass(frozen=True)
class Record:
    """A record taken from a queue: the array (owned by the caller) and its metadata."""

    #: The array, a copy the caller owns.
    array: np.ndarray
    #: When the record was made: nanoseconds since the Unix epoch (the producer's clock).
    timestamp_ns: int
    #: The producer's index (frame number), or None if it gave none.
    index: Optional[int]
    #: The queue-wide sequence number (0 for the queue's first record).
    sequence: int

    @property
    def timestamp(self) -> _dt.datetime:
        """``timestamp_ns`` as an aware UTC ``datetime`` (microsecond precision)."""
        return utc_datetime(self.timestamp_ns)


@dataclasses.dataclass(frozen=True)
class QueueStatistics:
    """A snapshot of a queue's state and counters, shared by every process using it."""

    capacity: int          #: Bytes of the data ring.
    bytes_used: int        #: Bytes in use by records (waiting, being written or read).
    count: int             #: Records waiting.
    puts: int              #: Records committed since creation.
    gets: int              #: Records consumed since creation.
    drops: int             #: Records dropped (drop-oldest, clear, reset).
    resets: int            #: Resets by the reset-on-shape-change policy.
    clears: int            #: Calls of clear().
    abandoned_writes: int  #: Records discarded because their producer died while writing them.
    lost_reads: int        #: Records lost because their consumer died while reading them.
    next_sequence: int     #: The sequence number of the next record.


# MARK: - Reading: what queues and subscribers share


class _Reader:
    """get, get_record, borrow, records and iteration, for queue handles and subscribers alike
    (the extension module implements them once for both)."""

    __slots__ = ("_handle",)

    def get(self, timeout: Optional[float] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Takes the next record and returns its array, a copy the caller owns. Waits up to
        ``timeout`` seconds (None: no limit, 0: not at all). Raises :class:`GetTimeout` or
        :class:`Empty` (both ``queue.Empty``), :class:`Closed` after :meth:`close` (also when
        another thread closes the handle while this call waits, within about 0.1 s).

        ``out``: a writable, C-contiguous array to copy the record into, reused from call to
        call (``frame = queue.get(out=frame)``). It is returned when the record has its dtype
        and shape; otherwise a new array is returned and ``out``'s contents are unspecified.
        Without ``out``, arrays of 1 MiB and more come from memory this process reuses once
        the previous arrays are gone, so a stream of large frames does not pay for fresh
        pages on every get.
        """
        return self._handle.get(timeout, out)

    def get_record(self, timeout: Optional[float] = None, out: Optional[np.ndarray] = None) -> Record:
        """Like :meth:`get`, with the record's timestamp, index and sequence number."""
        return Record(*self._handle.get_record(timeout, out))

    def borrow(self, timeout: Optional[float] = None) -> ContextManager[BorrowedArray]:
        """Takes the next record and lends it in place, read-only, without a copy::

            with queue.borrow(timeout=1.0) as frame:     # a BorrowedArray
                display.show(frame, frame.timestamp)

        The record's room goes back to producers (a subscriber moves past it) when the block
        ends; ``frame`` and its views are unusable afterwards (they raise :class:`Closed`). The
        returned context manager is entered once. Waiting and errors as :meth:`get`.
        """
        return self._handle.borrow(timeout)

    def records(self, timeout: Optional[float] = None) -> Iterator[Record]:
        """Yields records as they come; stops when none arrives within ``timeout`` seconds
        (None: never stops by itself)."""
        get_record = self._handle.get_record
        while True:
            try:
                yield Record(*get_record(timeout))
            except GetTimeout:
                return

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yields arrays as they come, waiting for each without limit (``for frame in queue:``)."""
        get = self._handle.get
        while True:
            yield get(None)


# MARK: - The queue


class ArrayQueue(_Reader):
    """A named queue of numpy arrays in POSIX shared memory (``/dev/shm/aq.NAME``), shared by
    any number of producer and consumer threads and processes of the host, and with Swift and C
    programs using the same queue.

    Make one with :meth:`create`, :meth:`open` or :meth:`open_or_create`. Records keep their
    dtype, shape, a timestamp, an optional index and a queue-wide sequence number. ``put``
    waits while the queue is full and ``get`` while it is empty (a short spin, then a futex
    sleep: no polling), each up to its ``timeout`` in seconds (None: no limit; 0: do not wait;
    a negative or NaN one raises :class:`InvalidArgument`, a ``ValueError``, as other negative
    durations do).

    The handle pickles by name, so it can be given to a ``multiprocessing.Process`` under any
    start method: the child opens the queue by name. A queue outlives its handles until it is
    removed with :meth:`remove`, or, with ``remove=True`` at creation, when the creating handle
    is closed or dropped or its process exits (a forked child never removes it).
    """

    __slots__ = ("_name", "_overflow", "_spin", "_removal", "__weakref__")

    def __init__(self, handle: Any, name: str, overflow: str, spin: float, remove_on_close: bool) -> None:
        """Use :meth:`create`, :meth:`open` or :meth:`open_or_create`."""
        self._handle = handle
        self._name = name
        self._overflow = overflow
        self._spin = spin
        # A finalizer, not __del__: it also runs at interpreter exit, and it names no `self`.
        self._removal = weakref.finalize(self, _remove_if_creator, name, os.getpid()) if remove_on_close else None

    @classmethod
    def _open(cls, name: str, how: int, capacity: int, overflow: str, shape_change: str, spin: float, mode: int,
              remove: bool, allow_other_owner: bool = False, broadcast: bool = False) -> "ArrayQueue":
        if overflow not in _OVERFLOW:
            raise ValueError(f"overflow must be one of {', '.join(_OVERFLOW)}")
        if shape_change not in _SHAPE_CHANGE:
            raise ValueError(f"shape_change must be one of {', '.join(_SHAPE_CHANGE)}")
        handle = _native.open_queue(name, how, int(capacity), _OVERFLOW[overflow], _SHAPE_CHANGE[shape_change],
                                    duration_ns(spin, "spin"), int(mode), bool(allow_other_owner), bool(broadcast))
        return cls(handle, name, overflow, spin, remove)

    @classmethod
    def create(cls, name: str, capacity: int, *, overflow: str = "block", shape_change: str = "keep",
               spin: float = 30e-6, mode: int = 0o600, remove: bool = False, broadcast: bool = False) -> "ArrayQueue":
        """Creates the queue ``name`` whose ring holds ``capacity`` bytes (rounded up to 4 KiB;
        records take their payload plus a header of about 200 bytes, 64-byte aligned).

        ``overflow``: what ``put`` does when the queue is full, for this handle: ``"block"``
        (wait up to the timeout), ``"fail"`` (raise :class:`Full` at once) or ``"drop-oldest"``.
        ``shape_change``: ``"keep"`` (records of any dtype and shape coexist) or ``"reset"``
        (a record of another dtype or shape drops the waiting ones, counted in
        ``statistics().resets``). ``spin``: seconds a blocked call spins before it sleeps (0: none;
        negative raises :class:`InvalidArgument`).
        ``mode``: permission bits of the shared-memory object. ``remove``: remove the queue's
        name when this handle is closed or dropped, or this process exits (not in forked children).
        ``broadcast``: make a broadcast queue, where every subscriber (:meth:`subscribe`) reads
        every record; ``get`` and ``borrow`` refuse it (needs ``shape_change="keep"``).

        Raises :class:`QueueExists`, :class:`InvalidName`, :class:`InvalidArgument`,
        :class:`InsufficientSharedMemory` or :class:`SystemCallError`.
        """
        return cls._open(name, 0, capacity, overflow, shape_change, spin, mode, remove, broadcast=broadcast)

    @classmethod
    def open(cls, name: str, *, overflow: str = "block", spin: float = 30e-6, allow_other_owner: bool = False) -> "ArrayQueue":
        """Opens the existing queue ``name``. A queue whose shared-memory object belongs to
        another user is refused (:class:`UntrustedOwner`: anyone can create a name in
        ``/dev/shm`` first) unless ``allow_other_owner`` (a queue a group shares on purpose).
        Raises :class:`QueueNotFound`, :class:`UntrustedOwner`, :class:`ForeignSegment`,
        :class:`IncompatibleVersion` or :class:`CorruptSegment`."""
        return cls._open(name, 1, 0, overflow, "keep", spin, 0, False, allow_other_owner)

    @classmethod
    def open_or_create(cls, name: str, capacity: int, *, overflow: str = "block", shape_change: str = "keep",
                       spin: float = 30e-6, mode: int = 0o600, allow_other_owner: bool = False,
                       broadcast: bool = False) -> "ArrayQueue":
        """Opens the queue ``name``, creating it with ``capacity`` (and ``broadcast``) if it does not exist."""
        return cls._open(name, 2, capacity, overflow, shape_change, spin, mode, False, allow_other_owner, broadcast)

    @staticmethod
    def remove(name: str) -> None:
        """Removes the queue's name. Processes that have it open keep using it; its memory is
        freed when the last of them closes it. Raises :class:`QueueNotFound`."""
        _native.remove_queue(name)

    @staticmethod
    def exists(name: str) -> bool:
        """Whether a queue named ``name`` exists."""
        return _native.queue_exists(name)

    @staticmethod
    def record_size(shape: Sequence[int], dtype: Any) -> int:
        """Ring bytes a record of ``shape`` and ``dtype`` takes (compare with ``capacity``)."""
        return _native.record_size(shape, dtype)

    # MARK: Putting

    def put(self, array: Any, timeout: Optional[float] = None, timestamp: Optional[Timestamp] = None,
            index: Optional[int] = None) -> None:
        """Puts a copy of ``array`` (anything ``numpy.asarray`` accepts; C-contiguous arrays
        are copied once, straight into the queue).

        ``timestamp``: a ``datetime`` (naive: local time), seconds since the epoch as a float,
        or nanoseconds as an int; default: now. ``index``: an integer to keep with the record
        (a frame number, say). Waits up to ``timeout`` seconds for room (None: no limit, 0: not
        at all). Raises :class:`PutTimeout` or :class:`Full` (both ``queue.Full``),
        :class:`Oversize`, :class:`UnsupportedDType` or :class:`InvalidShape`; :class:`Closed`
        as :meth:`get` does.
        """
        self._handle.put(array, timeout, timestamp, index)

    def loan(self, shape: Sequence[int], dtype: Any, timeout: Optional[float] = None,
             timestamp: Optional[Timestamp] = None, index: Optional[int] = None) -> ContextManager[LoanedArray]:
        """Reserves a slot for an array of ``shape`` and ``dtype`` and lends it for writing in
        place, without an intermediate copy::

            with queue.loan((2048, 2048), np.uint16) as frame:
                camera.read_into(frame)      # fills the slot in shared memory

        The record is published when the block ends, or discarded if it raises. Consumers never
        see it before. ``frame`` and its views are unusable after the block. The returned
        context manager is entered once. Waiting and errors as :meth:`put`; a dtype or shape
        the queue cannot carry raises here, at the call.
        """
        return self._handle.loan(shape, dtype, timeout, timestamp, index)

    def put_many(self, arrays: Any, timeout: Optional[float] = None) -> int:
        """Puts copies of many arrays of one dtype and shape: ``arrays`` is an array whose first
        axis counts them (``arrays[i]`` is one record), or a sequence of equal arrays (stacked
        first). Room for as many as fit is taken under one hold of the queue lock, so small
        records cost a fraction of a :meth:`put` each. Every record gets the time of the call
        and no index.

        Returns how many were put, in order: all of them, unless the wait for room ended first --
        ``timeout`` (seconds; None: no limit, 0: not at all) ran out, or another thread closed
        the handle (the next call raises :class:`Closed`) -- and then ``arrays[count:]`` were
        not put. Raises :class:`PutTimeout`, :class:`Full` or :class:`Closed` only when none
        could be put; :class:`Oversize`, :class:`UnsupportedDType`, :class:`InvalidShape`.
        Every exception it raises after checking its arguments (:class:`PutTimeout`,
        :class:`Full`, :class:`Closed`, :class:`Oversize`, an error of the queue, or
        ``KeyboardInterrupt`` from Ctrl-C during the wait) has ``put_count``: how many of the
        arrays are in the queue (0 unless it came partway), so the caller knows which to put again.
        """
        if isinstance(arrays, (list, tuple)):
            # numpy copies lent arrays without asking them: one whose block has ended raises here.
            _native.refuse_ended(arrays)
            arrays = np.stack([np.asarray(array) for array in arrays]) if arrays else np.empty((0,))
        return self._handle.put_many(arrays, timeout)

    # MARK: Getting

    def get_many(self, max_count: int, timeout: Optional[float] = None) -> list:
        """Takes up to ``max_count`` records: waits up to ``timeout`` seconds for the first, as
        :meth:`get` does, then takes what else is waiting, under one hold of the queue lock.
        Returns their arrays, oldest first (at least one): copies the caller owns -- records of
        one dtype and shape are views of one buffer, kept while any of them lives. Records
        larger than the ones seen so far may be left for the next call.

        Raises as :meth:`get`. A record taken is never lost:

        - Only the wait for the first record can be cut short (by ``timeout``, Ctrl-C or another
          thread's :meth:`close`), before any was taken.
        - An error met after some records were taken (a corrupt record in the middle of the
          batch) is raised by the handle's next read (``get_many``, :meth:`get`,
          :meth:`get_record` or :meth:`borrow`), after those records were returned.
        - An exception raised while their arrays are made (``MemoryError``, or a signal
          handler's such as ``KeyboardInterrupt``) leaves the records taken with this handle.
          They left the queue before any record still in it, so every read of this handle
          returns them first, in order, without waiting: the next ``get_many`` (at most
          ``max_count`` of them), :meth:`get` and :meth:`get_record` (a copy, into ``out`` when
          it fits), :meth:`borrow` (which lends the handle's copy), iteration and
          :meth:`records`. :meth:`qsize` and :meth:`empty` count them, :meth:`clear` drops
          them with the queue's records (and counts them), and :meth:`close` drops them.

        Every exception it raises after checking its arguments has ``get_count``: how many
        records it took that the handle keeps for the next call (0 unless it came after
        records were taken), as :meth:`put_many`'s have ``put_count``.
        """
        return self._handle.get_many(int(max_count), timeout)

    # MARK: Broadcast

    def subscribe(self, policy: str = "block", start: str = "newest") -> "Subscriber":
        """Subscribes to this broadcast queue (made with ``create(..., broadcast=True)`` or
        ``aq create --broadcast``): the :class:`Subscriber` reads every record from its start on.

        ``policy``: ``"block"`` (lossless: producers wait for it, as a recorder wants) or
        ``"drop"`` (live: producers skip it ahead, and it counts what it lost, as a viewer
        wants). ``start``: ``"newest"`` committed record, ``"oldest"`` one the queue holds, or
        ``"next"`` one put. Raises :class:`InvalidArgument` for a queue that is not a broadcast
        queue, :class:`Full` when its 32 subscriber slots are taken.
        """
        from .broadcast import POLICIES, STARTS, Subscriber

        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}")
        if start not in STARTS:
            raise ValueError(f"start must be one of {', '.join(STARTS)}")
        return Subscriber(self._handle.subscribe(POLICIES[policy], STARTS[start]), self._name, policy, start)

    # MARK: State

    @property
    def name(self) -> str:
        """The queue's name."""
        return self._name

    @property
    def capacity(self) -> int:
        """Bytes of the ring."""
        return self._handle.capacity

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._handle.closed

    def qsize(self) -> int:
        """Records waiting (exact at the instant it is counted), with those a failed
        :meth:`get_many` left with this handle, which its next reads return first."""
        return self._handle.count()

    def __len__(self) -> int:
        return self._handle.count()

    def empty(self) -> bool:
        """Whether no record is waiting (for this handle: none kept by a failed :meth:`get_many` either)."""
        return self._handle.is_empty()

    def clear(self) -> int:
        """Drops every waiting record, for every process, and the records a failed
        :meth:`get_many` left with this handle; returns how many. Records being written or
        read are not affected."""
        return self._handle.clear()

    def recover(self) -> bool:
        """Frees the records of processes that died while writing or reading them (blocked
        producers do this by themselves); returns whether anything was freed."""
        return self._handle.recover()

    def statistics(self) -> QueueStatistics:
        """The queue's counters, shared by every process."""
        return QueueStatistics(**self._handle.statistics())

    def info(self) -> dict:
        """Facts fixed at creation: capacity, segment_size, layout_version, creator_pid,
        created_ns, shape_change (0 keep, 1 reset)."""
        return self._handle.info()

    # MARK: Lifetime

    def close(self) -> None:
        """Closes this handle (the mapping goes once its loans and borrows are gone); removes
        the queue's name too if it was created with ``remove=True``. Gets, puts, loans and
        borrows waiting in other threads raise :class:`Closed`. Idempotent."""
        if self._handle.closed:
            return
        self._handle.close()
        if self._removal is not None:
            self._removal()

    def __enter__(self) -> "ArrayQueue":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __reduce__(self) -> Tuple[Any, ...]:
        # By name, as multiprocessing.shared_memory.SharedMemory: the receiving process opens
        # the queue; the creator keeps the duty to remove it.
        return (_reopen, (self._name, self._overflow, self._spin))

    def __repr__(self) -> str:
        state = "closed" if self._handle.closed else f"capacity={self._handle.capacity}"
        return f"<arrayqueues_swift.ArrayQueue {self._name!r} {state}>"


def _remove_if_creator(name: str, creator: int) -> None:
    """Removes the queue `name` unless this is a child forked from its creator."""
    if os.getpid() != creator:
        return
    try:
        _native.remove_queue(name)
    except FileNotFoundError:
        pass


def _reopen(name: str, overflow: str, spin: float) -> ArrayQueue:
    return ArrayQueue.open(name, overflow=overflow, spin=spin)
