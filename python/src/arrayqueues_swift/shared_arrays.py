"""A drop-in replacement for ``arrayqueues.shared_arrays`` (the ``arrayqueues`` package, 1.4.1):
change the import, keep the program::

    from arrayqueues_swift.shared_arrays import ArrayQueue   # was: from arrayqueues.shared_arrays import ArrayQueue

The classes keep the original's constructors, methods and return values -- ``put(element)``
raises ``queue.Full`` when there is no room (it never waits), ``get(block=True, timeout=None)``
raises ``queue.Empty``, ``TimestampedArrayQueue.get`` returns ``(timestamp, array)`` and
``IndexedArrayQueue.get`` returns ``(timestamp, index, array)`` -- and are handed to a
``multiprocessing.Process`` the same way, under the fork, spawn and forkserver start methods.

Where the original is broken, these are right:

- ``get`` returns an array the caller owns. The original returns a view of its shared buffer,
  which later puts overwrite while the caller still uses it.
- A put of another dtype or shape resets the queue, as the original documents, but cleanly:
  the waiting arrays are dropped (counted in ``statistics().resets`` and ``drops``) and no
  array is overwritten under a reader. The original reinterprets the slots of arrays still
  queued, which corrupts them.
- Any number of producers and consumers, threads or processes, are safe. The original's slot
  bookkeeping lives in each producer object, so two producers overwrite each other's arrays.
- A queue with room for one array works (the original's deadlocks), and ``IndexedArrayQueue``
  numbers the records of all producers together, from 0.
- A process killed with ``kill -9`` in the middle of a put or get leaves the queue usable.

Where these differ from the original, because records live in shared memory, not in pickles:

- A timestamp is a ``datetime`` (the default, ``datetime.now()``), seconds since the epoch as a
  float (``time.time()``) or an int (numpy's floats and ints are taken as Python's), and comes
  back as the same type: a datetime as a naive local one (exact to the microsecond), a float
  rounded to the nanosecond (not always the very same float), an int exactly. The original
  passes any object through; other objects raise ``TypeError`` here. Which type it was rides
  in the record's index (0, 1 or 2): other readers of the queue (``aq get``, the native API)
  see that number as the index.
- A timestamp is kept as int64 nanoseconds since the epoch, so it has limits: a datetime
  outside about 1677-09-21 to 2262-04-11, float seconds beyond about +-9.2e9 (or infinite) and
  an int outside int64 raise ``OverflowError`` (a datetime near ``datetime.min`` may raise
  ``ValueError``), and a NaN float raises ``ValueError``.
- A non-native byte order (``>f8`` on x86) is put as the same values in native order, and comes
  back so. Arrays of other dtypes than bool, (u)int8-64, float16-64 and complex64/128 (strings,
  objects, datetime64, structured, longdouble) raise ``UnsupportedDType``.
- ``IndexedArrayQueue.counter`` is the queue's next index, shared by every producer; it cannot
  be set.
- The original's internals are not here: ``array`` (its ``multiprocessing.Array`` buffer),
  ``view`` (the ``ArrayView`` over it), ``queue`` and ``read_queue`` (the queues of slot
  numbers), ``last_item`` and ``check_full()`` -- records and their bookkeeping live in the
  segment. ``put`` raises ``queue.Full`` itself, as the original's does through
  ``check_full()``; ``statistics()`` gives the counters.
- ``max_mbytes`` must be positive (``ValueError``; the original's ``ArrayQueue(0)`` makes a
  queue no array fits in).
- Each array is a record with a header: 128 bytes for up to 8 dimensions, and the record
  padded to a multiple of 64 bytes. So that ``max_mbytes`` holds as many arrays of 4 KiB or
  more (of up to 8 dimensions) as the original's buffer, the ring gets 191 bytes (a record's
  largest overhead) per 4 KiB of ``max_mbytes`` on top, plus 4 KiB so that one array of
  exactly ``max_mbytes`` fits, rounded up to 4 KiB: ``ArrayQueue(1)`` has a 1,052,672-byte ring and holds 103 arrays of 10,000 bytes (the
  original 100) and 249 of 4,096 (244). Smaller arrays fit fewer than in the original: 913 of
  1,000 bytes (1,000), 4,112 of 100 (10,000), 5,482 of 1 (1,000,000).

Each queue is a named POSIX shared-memory segment (``/dev/shm/aq.arrayqueues-PID-RANDOM``),
removed when the process that created the queue closes it (``close()``), drops it (garbage
collection) or exits, a multiprocessing child included (after joining its own non-daemon
children). A queue that was pickled -- handed to a spawn or forkserver child, which opens it by
name -- is kept until ``close()`` or exit even if dropped, so the child still finds it; a
process that crashes leaves it to ``aq gc``.
"""

from __future__ import annotations

import multiprocessing.util
import os
import secrets
import weakref
from datetime import datetime
from typing import Any, Optional, Tuple

import numpy as np

from ._time import local_datetime
from .errors import QueueNotFound
from .queue import ArrayQueue as _NativeQueue

__all__ = ["ArrayQueue", "TimestampedArrayQueue", "IndexedArrayQueue"]


def _close_and_remove(queue: _NativeQueue, name: str, creator: int) -> None:
    """Runs once: when the creating object is closed, collected, or at the creator's exit."""
    queue._handle.close()
    if os.getpid() == creator:  # never in a forked child that inherited the object
        try:
            _NativeQueue.remove(name)
        except QueueNotFound:
            pass


#: Bytes a record takes beyond its payload, at most: its header with the shape of up to 8
#: dimensions and the padding of the record to a multiple of 64 bytes (191, from the layout:
#: a 1-byte array of 8 dimensions takes the most).
_RECORD_OVERHEAD = _NativeQueue.record_size((1,) * 8, np.uint8) - 1


def _ring_bytes(maxbytes: int) -> int:
    """The ring for ``maxbytes`` of arrays: room for one array of exactly ``maxbytes`` (4 KiB
    covers its header), plus a record's overhead per 4 KiB, so that it holds as many arrays of
    4 KiB or more as the original's buffer: at most ``maxbytes // 4096`` of them fit there, and
    each takes its size plus at most ``_RECORD_OVERHEAD`` here."""
    return maxbytes + 4096 + _RECORD_OVERHEAD * (maxbytes // 4096)


#: Creating objects that were pickled (handed to a spawn or forkserver child, which opens the
#: queue by name): kept until close() or exit, so that dropping the object after
#: ``Process.start()`` cannot remove the queue before the child has opened it.
_PICKLED: set = set()


class ArrayQueue:
    """A queue of numpy arrays in shared memory, holding up to ``max_mbytes`` MB (10^6 bytes)
    of them; the ``arrayqueues.shared_arrays.ArrayQueue`` API."""

    def __init__(self, max_mbytes: float = 10) -> None:
        if not max_mbytes > 0:  # the original's Array("c", -n) raises ValueError too
            raise ValueError(f"max_mbytes must be positive, not {max_mbytes!r}")
        self.maxbytes = int(max_mbytes * 1000000)
        self.name = f"arrayqueues-{os.getpid()}-{secrets.token_hex(6)}"
        self._queue = _NativeQueue.create(self.name, _ring_bytes(self.maxbytes), overflow="fail", shape_change="reset")
        self._creator = True
        # multiprocessing's Finalize, not weakref.finalize: it runs once, on collection or at
        # exit, as weakref.finalize does, and also when a fork or forkserver child ends (with
        # os._exit, after running these). It does nothing in another process than the one that
        # made it, so a forked child never removes its parent's queue. The negative priority
        # runs it at exit after the non-daemon children were joined, which may still open it.
        self._finalizer = multiprocessing.util.Finalize(
            self, _close_and_remove, args=(self._queue, self.name, os.getpid()), exitpriority=-1)

    @classmethod
    def _attach(cls, name: str, maxbytes: int) -> "ArrayQueue":
        self = cls.__new__(cls)
        self.maxbytes = maxbytes
        self.name = name
        self._queue = _NativeQueue.open(name, overflow="fail")
        self._creator = False
        self._finalizer = weakref.finalize(self, self._queue._handle.close)
        return self

    def __reduce__(self) -> Tuple[Any, ...]:
        # Pickled by name (multiprocessing under spawn and forkserver): the child opens the
        # queue; only the creating process removes it, at close() or exit from now on.
        if self._creator and self._finalizer.still_active():
            _PICKLED.add(self)
        return (_attach, (type(self), self.name, self.maxbytes))

    def put(self, element: np.ndarray) -> None:
        """Puts a copy of ``element``. Raises ``queue.Full`` if there is no room (it does not
        wait, as the original). Another dtype or shape than the previous put's resets the queue."""
        self._queue._handle.put(_native_order(element), 0)

    def _put_stamped(self, element: np.ndarray, timestamp: Any) -> None:
        # The timestamp's type rides in the record's index (see _timestamp_kind).
        timestamp = _plain(timestamp)
        self._queue._handle.put(_native_order(element), 0, timestamp, _timestamp_kind(timestamp))

    def _take(self, block: bool, timeout: Optional[float]) -> Tuple[np.ndarray, int, Optional[int], int]:
        return self._queue._handle.get_record(_wait(block, timeout))

    def get(self, block: bool = True, timeout: Optional[float] = None) -> np.ndarray:
        """Takes the oldest array, a copy the caller owns. ``block`` and ``timeout`` as
        ``multiprocessing.Queue.get`` (a negative ``timeout`` does not wait, as there); raises
        ``queue.Empty``."""
        return self._queue._handle.get(_wait(block, timeout))

    def clear(self) -> None:
        """Empties the queue without reading the arrays."""
        self._queue.clear()

    def empty(self) -> bool:
        """Whether no array is waiting."""
        return self._queue.empty()

    def qsize(self) -> int:
        """Arrays waiting."""
        return self._queue.qsize()

    def statistics(self):
        """The queue's counters (puts, gets, drops, resets, ...); not in the original."""
        return self._queue.statistics()

    def close(self) -> None:
        """Closes the queue in this process; in the creating process, also removes it."""
        _PICKLED.discard(self)
        self._queue._handle.close()  # the finalizer does nothing in a forked child
        self._finalizer()


class TimestampedArrayQueue(ArrayQueue):
    """An ArrayQueue whose records carry a timestamp (``datetime``)."""

    def put(self, element: np.ndarray, timestamp: Optional[Any] = None) -> None:
        """Puts a copy of ``element`` with ``timestamp``: a ``datetime`` (default:
        ``datetime.now()``), seconds as a float, or an int (numpy's too); ``get`` returns the
        same type (a numpy number as the Python one)."""
        self._put_stamped(element, timestamp)

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Tuple[Any, np.ndarray]:
        """Returns ``(timestamp, array)``: the timestamp of the type it was put with; a
        ``datetime`` as a naive local one, as ``datetime.now()`` gives (an aware one comes back
        naive, in local time)."""
        array, stamp, kind, _ = self._take(block, timeout)
        return _timestamp(stamp, kind), array


class IndexedArrayQueue(ArrayQueue):
    """An ArrayQueue whose records carry a timestamp and an index: the records of all its
    producers are numbered together, from 0 (the queue's sequence number)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    @property
    def counter(self) -> int:
        """The index the next record will get."""
        return self._queue.statistics().next_sequence

    def put(self, element: np.ndarray, timestamp: Optional[Any] = None) -> None:
        """Puts a copy of ``element`` with ``timestamp`` (as :meth:`TimestampedArrayQueue.put`);
        its index is its position among all the records put into the queue."""
        self._put_stamped(element, timestamp)

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Tuple[Any, int, np.ndarray]:
        """Returns ``(timestamp, index, array)``, the timestamp of the type it was put with."""
        array, stamp, kind, sequence = self._take(block, timeout)
        return _timestamp(stamp, kind), sequence, array


# The type a timestamp was put with, kept in the record's index (these queues number records
# by their sequence number, so the index is free): datetime, float seconds, int as given.
_DATETIME, _SECONDS, _INTEGER = 0, 1, 2


def _wait(block: bool, timeout: Optional[float]) -> Optional[float]:
    """The native timeout of ``get(block, timeout)``: ``multiprocessing.Queue.get``, which the
    original calls, does not wait for a negative timeout (the native API refuses one)."""
    if not block or (timeout is not None and timeout < 0):
        return 0
    return timeout


def _plain(timestamp: Any) -> Any:
    """A numpy scalar timestamp (``np.float64(time.time())``, ``np.int64``) as the Python number."""
    if isinstance(timestamp, (np.floating, np.integer)):
        return timestamp.item()
    return timestamp


def _timestamp_kind(timestamp: Any) -> int:
    if isinstance(timestamp, float):
        return _SECONDS
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        return _INTEGER
    return _DATETIME  # None (now) and datetimes; anything else is refused by the put


def _timestamp(nanoseconds: int, kind: Optional[int]) -> Any:
    if kind == _SECONDS:
        return nanoseconds / 1e9
    if kind == _INTEGER:
        return nanoseconds
    return local_datetime(nanoseconds)


def _native_order(element: Any) -> Any:
    """``element`` with a non-native byte order converted to the native one (same values)."""
    dtype = getattr(element, "dtype", None)
    if isinstance(element, np.ndarray) and dtype is not None and dtype.byteorder not in ("=", "|") and not dtype.isnative:
        return element.astype(dtype.newbyteorder("="))
    return element


def _attach(cls: type, name: str, maxbytes: int) -> ArrayQueue:
    return cls._attach(name, maxbytes)
