"""Durations and timestamps as the C interface takes them: nanoseconds."""

from __future__ import annotations

import datetime as _dt
from typing import Union

Timestamp = Union[_dt.datetime, float, int]

#: The longest timeout in nanoseconds (about 146 years), as the extension module holds them.
_LONGEST = 2**62


def duration_ns(seconds: float, what: str, meaning: str = "") -> int:
    """A duration option of ``what`` in seconds (a number, 0 or more) as nanoseconds; infinity and
    other huge values are the longest. Raises :class:`InvalidArgument` (a ``ValueError``) for a
    negative or NaN one, naming ``what`` and saying what it may be (``meaning``, for options
    whose None or 0 mean something)."""
    if seconds != seconds or seconds < 0:  # NaN or negative: a mistake, never silently 0 or the default
        from .errors import InvalidArgument

        raise InvalidArgument(f"{what} is {seconds!r}: it must be {meaning or 'a number of seconds, 0 or more'}")
    if seconds >= _LONGEST / 1e9:  # infinity too, which int() refuses
        return _LONGEST
    return int(seconds * 1e9)


def timestamp_ns(timestamp: Timestamp) -> int:
    """Nanoseconds since the Unix epoch of a ``datetime`` (a naive one is local time, as
    ``datetime.now()`` gives), of seconds as a float (``time.time()``), or of an int taken as
    nanoseconds already (``time.time_ns()``). Exact to the microsecond for datetimes."""
    if isinstance(timestamp, _dt.datetime):
        whole = timestamp.replace(microsecond=0).timestamp()
        return int(whole) * 1_000_000_000 + timestamp.microsecond * 1000
    if isinstance(timestamp, bool):
        raise TypeError("a timestamp is a datetime, seconds (float) or nanoseconds (int)")
    if isinstance(timestamp, int):
        return timestamp
    if isinstance(timestamp, float):
        return int(round(timestamp * 1e9))
    raise TypeError("a timestamp is a datetime, seconds (float) or nanoseconds (int)")


def local_datetime(nanoseconds: int) -> _dt.datetime:
    """A naive local ``datetime`` (what ``datetime.now()`` gives) of nanoseconds since the epoch."""
    seconds, rest = divmod(nanoseconds, 1_000_000_000)
    return _dt.datetime.fromtimestamp(seconds).replace(microsecond=rest // 1000)


def utc_datetime(nanoseconds: int) -> _dt.datetime:
    """An aware UTC ``datetime`` of nanoseconds since the epoch (microsecond precision)."""
    seconds, rest = divmod(nanoseconds, 1_000_000_000)
    return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).replace(microsecond=rest // 1000)
