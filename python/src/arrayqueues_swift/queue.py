"""The native queue: ``ArrayQueue`` over the C interface, with owned and zero-copy reads and
writes. See the package docstring for an overview."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import weakref
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Tuple

import numpy as np

from . import _native
from ._time import Timestamp, timestamp_ns, utc_datetime
from .errors import Closed, GetTimeout

if TYPE_CHECKING:
    from .broadcast import Subscriber

__all__ = ["ArrayQueue", "Record", "QueueStatistics", "LoanedArray", "BorrowedArray", "DTYPES"]

_PUT_TIMESTAMP = 0x1
_PUT_INDEX = 0x2
_OVERFLOW = {"block": 0, "fail": 1, "drop-oldest": 2}
_SHAPE_CHANGE = {"keep": 0, "reset": 1}

#: The dtypes a queue carries, with their codes in the C interface (``aq_dtype``).
DTYPES: dict[np.dtype, int] = {
    np.dtype(typestr): code
    for code, typestr in enumerate(
        ["|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8", "<c8", "<c16"], start=1
    )
}


#: DTYPES keyed by the dtype objects numpy hands out for them (the usual argument), so that a
#: loan per frame does not pay for np.dtype() and a dtype's hash.
_CODES_BY_ID: dict[int, int] = {id(dtype): code for dtype, code in DTYPES.items()}
_KEEP_ALIVE = list(DTYPES)  # the ids above stay those of these objects


def _dtype_code(dtype: Any) -> int:
    code = _CODES_BY_ID.get(id(dtype))
    if code is not None:
        return code
    try:
        return DTYPES[np.dtype(dtype)]
    except KeyError:
        from .errors import UnsupportedDType

        raise UnsupportedDType(f"dtype {np.dtype(dtype)} is not carried by ArrayQueues", -7) from None


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


# MARK: - Arrays over shared memory that cannot be used after their block


_LEASE = _native.Lease


def _plain(value: Any) -> Any:
    if isinstance(value, _LeasedArray):
        value._check()
        return value.view(np.ndarray)
    return value


_GETITEM = np.ndarray.__getitem__
_SETITEM = np.ndarray.__setitem__


class _LeasedArray(np.ndarray):
    """An ndarray over a record in shared memory, valid only while its loan or borrow lasts.

    After the ``with`` block, indexing it, printing it, converting it or passing it to any numpy
    function or ufunc raises :class:`~arrayqueues_swift.errors.Closed`, and so do views of it
    (slices, reshapes, ``.view(dtype)``) made inside the block. Copies (``.copy()``,
    ``np.array(a)``, ufunc results) are ordinary arrays that stay valid.

    Not intercepted, because numpy and Python read an ndarray's memory without asking it:
    ``np.array(a)``, ``np.asarray(a)``, ``a.view(np.ndarray)``, ``memoryview(a)`` and ``bytes(a)``
    after the block, and plain arrays made from it with them inside the block. They never crash
    (the extension module keeps the queue mapped while any array over it exists) but see what
    the queue has put there since.

    The lease (the extension module's loan or borrow, which exports the memory) is found at
    the root of the array's ``base`` chain, where numpy keeps it for every view; nothing is
    stored per view, so making views costs what it costs for any ndarray.
    """

    __slots__ = ()

    def _lease(self) -> Any:
        base = self.base
        while base is not None and type(base) is not _LEASE:
            base = getattr(base, "base", None)
        return base

    def _check(self) -> None:
        # _lease(), inlined: every indexing and ufunc call of a lent array runs this.
        lease = self.base
        while lease is not None and type(lease) is not _LEASE:
            lease = getattr(lease, "base", None)
        if lease is not None and not lease.active:
            raise Closed("this array was lent by a queue for a `with` block that has ended: its memory belongs to "
                         "the queue again; copy what you need inside the block", -20)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        inputs = tuple([_plain(value) for value in inputs])
        if not kwargs:  # the common case, without the bookkeeping of `out`
            return getattr(ufunc, method)(*inputs)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_plain(value) for value in out)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if out is not None and method != "at":
            return out[0] if len(out) == 1 else out
        return result

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        for value in args:
            if isinstance(value, _LeasedArray):
                value._check()
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, _LeasedArray):
                        item._check()
        return super().__array_function__(func, types, args, kwargs)

    def __getitem__(self, key: Any) -> Any:
        self._check()
        return _GETITEM(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._check()
        _SETITEM(self, key, value if type(value) is np.ndarray else _plain(value))

    def __repr__(self) -> str:
        self._check()
        return repr(self.view(np.ndarray))

    def __str__(self) -> str:
        self._check()
        return str(self.view(np.ndarray))

    def __iter__(self) -> Iterator[Any]:
        self._check()
        return iter(self.view(np.ndarray).copy())

    def copy(self, order: str = "C") -> np.ndarray:  # type: ignore[override]
        """An ordinary array with a copy of the data."""
        self._check()
        return self.view(np.ndarray).copy(order)

    def astype(self, dtype: Any, *args: Any, **kwargs: Any) -> np.ndarray:  # type: ignore[override]
        self._check()
        return self.view(np.ndarray).astype(dtype, *args, **kwargs)

    def __reduce__(self) -> Any:
        self._check()
        return self.view(np.ndarray).copy().__reduce__()

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self.__reduce__()

    def __copy__(self) -> np.ndarray:
        return self.copy()

    def __deepcopy__(self, memo: Any) -> np.ndarray:
        return self.copy()


def _guard(name: str) -> None:
    method = getattr(np.ndarray, name)

    def guarded(self: _LeasedArray, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return method(self.view(np.ndarray), *args, **kwargs)

    guarded.__name__ = name
    guarded.__doc__ = method.__doc__
    setattr(_LeasedArray, name, guarded)


for _name in ("tobytes", "tolist", "item", "fill", "tofile", "dump", "dumps", "byteswap", "__float__", "__int__",
              "__complex__", "__bool__", "__index__", "__contains__", "__format__", "__len__"):
    _guard(_name)


class LoanedArray(_LeasedArray):
    """The writable array of ``with queue.loan(shape, dtype) as a:`` -- a slot of the queue.
    Fill it inside the block; it is published when the block ends (discarded if the block
    raises), and unusable afterwards."""

    __slots__ = ()


class BorrowedArray(_LeasedArray):
    """The read-only array of ``with queue.borrow() as a:`` -- a record in place in the queue,
    with its metadata (``timestamp_ns``, ``timestamp``, ``index``, ``sequence``). Unusable after
    the block, when the record's room is given back to producers."""

    __slots__ = ()

    @property
    def timestamp_ns(self) -> int:
        """Nanoseconds since the Unix epoch (the producer's clock)."""
        return self._lease().timestamp_ns

    @property
    def timestamp(self) -> _dt.datetime:
        """The record's time as an aware UTC ``datetime``."""
        return utc_datetime(self._lease().timestamp_ns)

    @property
    def index(self) -> Optional[int]:
        """The producer's index, or None."""
        return self._lease().index

    @property
    def sequence(self) -> int:
        """The queue-wide sequence number."""
        return self._lease().sequence


class _Loan:
    __slots__ = ("_loan", "_arguments", "_lease")

    def __init__(self, handle: Any, arguments: tuple) -> None:
        self._loan = handle.loan
        self._arguments = arguments
        self._lease: Any = None

    def __enter__(self) -> LoanedArray:
        lease = self._lease = self._loan(*self._arguments)
        return lease.array(LoanedArray)

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self._lease.commit()
        else:
            self._lease.release()


class _Borrow:
    __slots__ = ("_borrow", "_timeout", "_lease")

    def __init__(self, handle: Any, timeout: Optional[float]) -> None:
        self._borrow = handle.borrow
        self._timeout = timeout
        self._lease: Any = None

    def __enter__(self) -> BorrowedArray:
        lease = self._lease = self._borrow(self._timeout)
        return lease.array(BorrowedArray)

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        self._lease.release()


# MARK: - The queue


class ArrayQueue:
    """A named queue of numpy arrays in POSIX shared memory (``/dev/shm/aq.NAME``), shared by
    any number of producer and consumer threads and processes of the host, and with Swift and C
    programs using the same queue.

    Make one with :meth:`create`, :meth:`open` or :meth:`open_or_create`. Records keep their
    dtype, shape, a timestamp, an optional index and a queue-wide sequence number. ``put``
    waits while the queue is full and ``get`` while it is empty (a short spin, then a futex
    sleep: no polling), each up to its ``timeout`` in seconds (None: no limit; 0: do not wait).

    The handle pickles by name, so it can be given to a ``multiprocessing.Process`` under any
    start method: the child opens the queue by name. A queue outlives its handles until it is
    removed with :meth:`remove`, or, with ``remove=True`` at creation, when the creating handle
    is closed or dropped or its process exits (a forked child never removes it).
    """

    __slots__ = ("_handle", "_name", "_overflow", "_spin", "_removal", "_record_bytes", "__weakref__")

    def __init__(self, handle: Any, name: str, overflow: str, spin: float, remove_on_close: bool) -> None:
        """Use :meth:`create`, :meth:`open` or :meth:`open_or_create`."""
        self._handle = handle
        self._name = name
        self._overflow = overflow
        self._spin = spin
        self._record_bytes = 0  # the largest record get_many has seen: its next buffer's guess
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
                                    int(spin * 1e9), int(mode), bool(allow_other_owner), bool(broadcast))
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
        ``statistics().resets``). ``spin``: seconds a blocked call spins before it sleeps.
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
        return _native.record_size(_dtype_code(dtype), tuple(int(extent) for extent in shape))

    # MARK: Putting

    def put(self, array: Any, timeout: Optional[float] = None, timestamp: Optional[Timestamp] = None,
            index: Optional[int] = None) -> None:
        """Puts a copy of ``array`` (anything ``numpy.asarray`` accepts; C-contiguous arrays
        are copied once, straight into the queue).

        ``timestamp``: a ``datetime`` (naive: local time), seconds since the epoch as a float,
        or nanoseconds as an int; default: now. ``index``: an integer to keep with the record
        (a frame number, say). Waits up to ``timeout`` seconds for room (None: no limit, 0: not
        at all). Raises :class:`PutTimeout` or :class:`Full` (both ``queue.Full``),
        :class:`Oversize`, :class:`UnsupportedDType` or :class:`InvalidShape`.
        """
        if timestamp is None and index is None:
            self._handle.put(array, timeout)
            return
        self._handle.put(array, timeout, *_stamping(timestamp, index))

    def loan(self, shape: Sequence[int], dtype: Any, timeout: Optional[float] = None,
             timestamp: Optional[Timestamp] = None, index: Optional[int] = None) -> _Loan:
        """Reserves a slot for an array of ``shape`` and ``dtype`` and lends it for writing in
        place, without an intermediate copy::

            with queue.loan((2048, 2048), np.uint16) as frame:
                camera.read_into(frame)      # fills the slot in shared memory

        The record is published when the block ends, or discarded if it raises. Consumers never
        see it before. ``frame`` and its views are unusable after the block. Waiting and errors
        as :meth:`put`.
        """
        flags, stamp, number = _stamping(timestamp, index)
        extents = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(map(int, shape))
        return _Loan(self._handle, (_dtype_code(dtype), extents, timeout, flags, stamp, number))

    def put_many(self, arrays: Any, timeout: Optional[float] = None) -> int:
        """Puts copies of many arrays of one dtype and shape: ``arrays`` is an array whose first
        axis counts them (``arrays[i]`` is one record), or a sequence of equal arrays (stacked
        first). Room for as many as fit is taken under one hold of the queue lock, so small
        records cost a fraction of a :meth:`put` each. Every record gets the time of the call
        and no index.

        Returns how many were put, in order: all of them, unless ``timeout`` (seconds; None: no
        limit, 0: not at all) ran out first. Raises :class:`PutTimeout` or :class:`Full` only
        when none could be put; :class:`Oversize`, :class:`UnsupportedDType`, :class:`InvalidShape`.
        """
        if isinstance(arrays, (list, tuple)):
            arrays = np.stack([np.asarray(array) for array in arrays]) if arrays else np.empty((0,))
        return self._handle.put_many(arrays, timeout)

    # MARK: Getting

    def get_many(self, max_count: int, timeout: Optional[float] = None) -> list:
        """Takes up to ``max_count`` records: waits up to ``timeout`` seconds for the first, as
        :meth:`get` does, then takes what else is waiting, under one hold of the queue lock.
        Returns their arrays, oldest first (at least one): copies the caller owns -- records of
        one dtype and shape are views of one buffer, kept while any of them lives. Records
        larger than the ones seen so far may be left for the next call.
        Raises as :meth:`get`."""
        arrays, largest = self._handle.get_many(int(max_count), timeout, self._record_bytes)
        self._record_bytes = max(self._record_bytes, largest)
        return arrays


    def get(self, timeout: Optional[float] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Takes the oldest record and returns its array, a copy the caller owns. Waits up to
        ``timeout`` seconds (None: no limit, 0: not at all). Raises :class:`GetTimeout` or
        :class:`Empty` (both ``queue.Empty``).

        ``out``: a writable, C-contiguous array to copy the record into, reused from call to
        call (``frame = queue.get(out=frame)``). It is returned when the record has its dtype
        and shape; otherwise a new array is returned and ``out``'s contents are unspecified.
        Without ``out``, arrays of 1 MiB and more come from memory this process reuses once
        the previous arrays are gone, so a stream of large frames does not pay for fresh
        pages on every get.
        """
        if out is None:
            return self._handle.get(timeout)
        return self._handle.get(timeout, out)

    def get_record(self, timeout: Optional[float] = None, out: Optional[np.ndarray] = None) -> Record:
        """Like :meth:`get`, with the record's timestamp, index and sequence number."""
        array, stamp, index, sequence = self._handle.get_record(timeout, out)
        return Record(array, stamp, index, sequence)

    def borrow(self, timeout: Optional[float] = None) -> _Borrow:
        """Takes the oldest record and lends it in place, read-only, without a copy::

            with queue.borrow(timeout=1.0) as frame:     # a BorrowedArray
                display.show(frame, frame.timestamp)

        The record's room goes back to producers when the block ends; ``frame`` and its views
        are unusable afterwards (they raise :class:`Closed`). Waiting and errors as :meth:`get`.
        """
        return _Borrow(self._handle, timeout)

    def records(self, timeout: Optional[float] = None) -> Iterator[Record]:
        """Yields records as they come; stops when none arrives within ``timeout`` seconds
        (None: never stops by itself)."""
        while True:
            try:
                yield self.get_record(timeout)
            except GetTimeout:
                return

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yields arrays as they come, waiting for each without limit (``for frame in queue:``)."""
        get = self._handle.get
        while True:
            yield get(None)

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
        """Records waiting (exact at the instant it is counted)."""
        return self._handle.count()

    def __len__(self) -> int:
        return self._handle.count()

    def empty(self) -> bool:
        """Whether no record is waiting."""
        return self._handle.is_empty()

    def clear(self) -> int:
        """Drops every waiting record, for every process; returns how many. Records being
        written or read are not affected."""
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
        the queue's name too if it was created with ``remove=True``. Idempotent."""
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


def _stamping(timestamp: Optional[Timestamp], index: Optional[int]) -> Tuple[int, int, int]:
    """The put flags, timestamp (ns) and index the C interface takes for a record's metadata."""
    flags = stamp = number = 0
    if timestamp is not None:
        flags = _PUT_TIMESTAMP
        stamp = timestamp_ns(timestamp)
    if index is not None:
        flags |= _PUT_INDEX
        number = index
    return flags, stamp, number


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
