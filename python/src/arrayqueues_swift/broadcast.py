"""Subscribers of broadcast queues: every subscriber reads every record (issue 14).

The protocol is the Swift library's (``BroadcastSubscriber``), reached through the C
interface's ``aq_subscriber``; this module only gives it a Python face.
"""

from __future__ import annotations

from typing import Any

from .queue import _Reader

__all__ = ["Subscriber", "POLICIES", "STARTS"]

#: What producers do when a subscriber falls a ring behind (``aq_subscriber_policy``).
POLICIES = {"block": 0, "drop": 1}
#: Where a new subscriber starts reading (``aq_subscriber_start``).
STARTS = {"newest": 0, "oldest": 1, "next": 2}


class Subscriber(_Reader):
    """A subscriber of a broadcast queue (:meth:`ArrayQueue.subscribe`): it reads every record
    committed from its start on, in order, exactly once, while other subscribers -- in this
    process or others, in Python, Swift or C -- read the same records::

        with queue.subscribe(policy="drop", start="newest") as viewer:
            for frame in viewer:               # copies the caller owns
                show(frame)

    ``get`` and ``get_record`` copy a record out; ``borrow`` lends it in place, read-only, until
    the ``with`` block ends (other subscribers may read it at the same time); ``records`` and
    iteration yield them as they come -- all as a queue's own. It holds one of the queue's 32
    subscriber slots until :meth:`close` (or until it is dropped, or its process dies). It reads
    one record at a time: use it from one thread at a time (a second thread's call raises
    ``RuntimeError``).
    """

    __slots__ = ("_queue_name", "policy", "start")

    def __init__(self, handle: Any, queue_name: str, policy: str, start: str) -> None:
        """Use :meth:`ArrayQueue.subscribe`."""
        self._handle = handle
        self._queue_name = queue_name
        self.policy = policy  #: ``"block"`` or ``"drop"``.
        self.start = start    #: ``"newest"``, ``"oldest"`` or ``"next"``.

    @property
    def lost(self) -> int:
        """Records producers skipped this subscriber past (policy ``"drop"``), or that
        ``clear()`` dropped before it read them."""
        return self._handle.lost

    @property
    def delivered(self) -> int:
        """Records this subscriber has read."""
        return self._handle.delivered

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._handle.closed

    def close(self) -> None:
        """Gives up the subscription: producers stop waiting for it (a borrow still open keeps
        its record until its block ends); its gets and borrows waiting in other threads raise
        :class:`Closed`. Idempotent."""
        self._handle.close()

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._handle.closed else f"policy={self.policy!r}"
        return f"<arrayqueues_swift.Subscriber of {self._queue_name!r} {state}>"
