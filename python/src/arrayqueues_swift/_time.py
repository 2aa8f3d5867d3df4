"""Timeouts and timestamps as the C interface takes them: nanoseconds."""

from __future__ import annotations

import datetime as _dt
from typing import Optional, Union

Timestamp = Union[_dt.datetime, float, int]

_FOREVER = -1


#: The longest timeout in nanoseconds (about 146 years), as the extension module holds them.
_LONGEST = 2**62


def timeout_ns(timeout: Optional[float]) -> int:
    """Seconds (or None: no limit) as the C interface's nanoseconds (-1: no limit); infinity and
    other huge values are the longest timeout."""
    if timeout is None:
        return _FOREVER
    if timeout != timeout:  # NaN
        raise ValueError("timeout must be a number of seconds or None")
    if timeout <= 0:
        return 0
    if timeout >= _LONGEST / 1e9:  # infinity too, which int() refuses
        return _LONGEST
    return int(timeout * 1e9)


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
