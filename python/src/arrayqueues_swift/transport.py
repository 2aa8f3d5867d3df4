"""Senders and receivers by endpoint (ArrayTransport through the C interface): the same messages
of named arrays over a local queue (``shm://NAME``), ZeroMQ over tcp or ipc (the arrf/1 wire
format, readable with pyzmq and numpy alone), publish/subscribe or push/pull, the same-host
fast path, and CURVE encryption."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import operator
from typing import Any, Iterator, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._time import Timestamp, duration_ns, utc_datetime

__all__ = ["Sender", "Receiver", "Message", "curve_keypair"]

_PATTERNS = {"pushpull": 0, "push-pull": 0, "pubsub": 1, "pub-sub": 1}
_ROLES = {None: 0, "bind": 1, "connect": 2}
_FAST_PATH = {"automatic": 0, "disabled": 1, "required": 2}
_KINDS = {0: "data", 1: "heartbeat", 2: "end"}
_DEFAULT = -(2**63)  # AQ_TIMEOUT_DEFAULT

Arrays = Union[np.ndarray, Mapping[str, Any], Sequence[Tuple[str, Any]]]


def _choice(table: Mapping[Any, int], value: Any, what: str) -> int:
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"{what} must be one of {', '.join(str(key) for key in table if key is not None)}") from None


def _refuse_repeated_names(pairs: Sequence[Any]) -> None:
    """ValueError if two (name, array) pairs have one name; malformed pairs are left to the
    native send, which raises TypeError for them."""
    seen = set()
    for pair in pairs:
        if isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str):
            if pair[0] in seen:
                raise ValueError(f"two arrays are named {pair[0]!r}: a message's array names must be unique")
            seen.add(pair[0])


def _size(value: Any) -> int:
    """A size option as the native module takes it: 0 is the default; negative sizes are passed
    on for the C interface to refuse with :class:`InvalidArgument` (a ``ValueError``)."""
    return int(value)


def _heartbeat_ns(interval: Optional[float]) -> int:
    """``heartbeat_interval`` as the native module takes it: None is the default (1 s), 0 is
    no heartbeats (-1, which the C interface takes as none, as it takes 0), a positive number
    of seconds the interval (at least 1 ms)."""
    if interval is None:
        return 0
    nanoseconds = duration_ns(interval, "heartbeat_interval",
                              "None (the default, 1 s), 0 (no heartbeats) or a positive number of seconds")
    if interval == 0:
        return -1
    return max(1, nanoseconds)


def _option_ns(seconds: Optional[float], what: str, default: str, unset: int) -> int:
    """A duration option (``send_timeout``, ``linger``) as the native module takes it: ``unset``
    for None (the transport's default), nanoseconds otherwise; negative or NaN raises
    :class:`InvalidArgument` (a ``ValueError``) rather than being taken as 0."""
    if seconds is None:
        return unset
    return duration_ns(seconds, what, f"None ({default}) or a number of seconds, 0 or more")


def _positive_ns(seconds: Optional[float], what: str, default: str) -> int:
    """A duration option that must be positive (``fast_path_timeout``, a receiver's
    ``heartbeat_interval``): 0 for None (the default), else at least 1 ns; 0, negative or NaN
    raises :class:`InvalidArgument` naming ``what`` (the C interface refuses 0 too: no time to
    switch, no interval to judge silence by)."""
    if seconds is None:
        return 0
    meaning = f"None (the default, {default}) or a positive number of seconds"
    nanoseconds = duration_ns(seconds, what, meaning)
    if seconds == 0:
        from .errors import InvalidArgument

        raise InvalidArgument(f"{what} is {seconds!r}: it must be {meaning}")
    return max(1, nanoseconds)


def _optional_count(value: Optional[int], name: str, *, unset: int, minimum: int, meaning: str) -> int:
    """An optional whole-number option as the native module takes it: ``unset`` (which stands
    for the C default there) for None, else the number, which must be ``minimum`` or more; a
    smaller one raises :class:`InvalidArgument` here, naming the option and what it must be
    (``meaning``), and a float or a str raises ``TypeError``, as for the other counts."""
    if value is None:
        return unset
    number = operator.index(value)
    if number < minimum:
        from .errors import InvalidArgument

        raise InvalidArgument(f"{name} is {value!r}: it must be {meaning}")
    return number


def _missed_heartbeats(count: Optional[int]) -> int:
    """A receiver's ``missed_heartbeats``: None is the default, 3."""
    return _optional_count(count, "missed_heartbeats", unset=0, minimum=1, meaning="None (the default, 3) or 1 or more")


def _maximum_connections(limit: Optional[int]) -> int:
    """``maximum_connections``: None is the default, 256, and 0 no limit (C's
    ``AQ_NO_CONNECTION_LIMIT``, aq-relay's ``max_connections = 0``); -1 stands for the default
    in the native module, so a negative one is refused here rather than in the C interface."""
    return _optional_count(limit, "maximum_connections", unset=-1, minimum=0,
                           meaning="None (the default, 256), 0 (no limit) or a positive number of connections")


def _receiver_byte_budget(budget: Optional[int]) -> int:
    """A receiver's ``byte_budget``: None is the default, 256 MiB; 0 or less is refused here, on
    every endpoint (the C interface refuses 0 for tcp:// and ipc:// only)."""
    return _optional_count(budget, "byte_budget", unset=0, minimum=1,
                           meaning="None (the default, 256 MiB) or a positive number of bytes")


def curve_keypair() -> Tuple[str, str]:
    """A new CURVE key pair, (public, secret), each 40 Z85 characters."""
    return _native.curve_keypair()


@dataclasses.dataclass(frozen=True)
class Message:
    """A received message: its arrays (copies the caller owns) and metadata."""

    #: ``"data"``, or with ``events=True`` also ``"heartbeat"`` and ``"end"``.
    kind: str
    #: The stream (for shm://, the queue's name).
    stream: str
    #: The sending instance (random, new at each sender start).
    epoch: int
    #: The message's position in its epoch (None for an event of an epoch that sent no data).
    sequence: Optional[int]
    #: When the message was made: nanoseconds since the Unix epoch (the sender's clock).
    timestamp_ns: int
    #: The producer's index, or None.
    index: Optional[int]
    #: Application metadata (a dict from the message's JSON object).
    meta: dict
    #: The arrays by name, in the message's order (of a name a non-Python sender repeated, the first).
    arrays: dict

    @property
    def timestamp(self) -> _dt.datetime:
        """``timestamp_ns`` as an aware UTC ``datetime``."""
        return utc_datetime(self.timestamp_ns)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def array(self) -> np.ndarray:
        """The first array (most messages have one)."""
        return next(iter(self.arrays.values()))


class Sender:
    """Sends messages of named arrays to an endpoint::

        with Sender("tcp://*:5555", stream="camera0", pattern="pubsub") as sender:
            sender.send({"frame": frame, "mask": mask}, index=41, meta={"exposure": 0.01})

    ``endpoint``: ``tcp://HOST:PORT`` (PORT may be ``*`` when binding), ``ipc:///PATH`` or
    ``shm://NAME`` (a local queue, created with ``shm_capacity`` bytes and permission bits
    ``shm_mode`` if missing; a queue another user owns is refused with :class:`UntrustedOwner`
    unless ``shm_allow_other_owner``, for a queue a group shares on purpose).
    ``pattern``: ``"pushpull"`` (backpressure; default) or ``"pubsub"`` (fan-out, slow
    subscribers lose messages, counted). ``role``: ``"bind"`` (default for senders) or
    ``"connect"``. ``fast_path`` (publishers bound on tcp): ``"automatic"``, ``"disabled"``
    or ``"required"``. ``send_timeout``: seconds a send may wait for room (None: the
    transport's default). ``heartbeat_interval`` (tcp/ipc): seconds of idleness before a
    heartbeat; None is the default (1 s), ``0`` sends no heartbeats (shm:// never sends them;
    a sender that binds with ``fast_path`` not ``"disabled"`` still sends one carrying its
    fast-path offer every second). Durations (``send_timeout``, ``heartbeat_interval``,
    ``linger``) are seconds; a negative or NaN one raises :class:`InvalidArgument` (a
    ``ValueError``). ``linger``: seconds unsent messages are kept after :meth:`close` (None:
    1 s). Sizes (``byte_budget``, ``expected_message_bytes``, ``shm_capacity``,
    ``maximum_arrays``): 0 is the default; a negative size raises :class:`InvalidArgument` (a
    ``ValueError``). ``maximum_arrays``: the most arrays :meth:`send` sends
    in one message (default 256, what receivers take by default; raise the receivers'
    ``maximum_arrays`` with it). ``maximum_connections``: the most connections each tcp:// or
    ipc:// endpoint the sender binds keeps at once (each has its own share of the byte budget);
    those opened beyond it are cut within about 0.1 s, newest first, and counted in
    ``statistics()["peers_dropped"]``. None is the default (256), ``0`` no limit, a negative
    number raises :class:`InvalidArgument`; connections the sender makes (``role="connect"``)
    are not counted. CURVE: ``curve_secret_key`` alone makes this side the server;
    with ``curve_server_public_key`` too, a client.
    """

    __slots__ = ("_handle",)

    def __init__(self, endpoint: str, stream: str = "array", *, pattern: str = "pushpull", role: Optional[str] = None,
                 fast_path: str = "automatic", send_timeout: Optional[float] = None, byte_budget: int = 0,
                 expected_message_bytes: int = 0, heartbeat_interval: Optional[float] = None,
                 linger: Optional[float] = None, shm_capacity: int = 0, curve_secret_key: Optional[str] = None,
                 curve_server_public_key: Optional[str] = None, shm_mode: int = 0o600,
                 shm_allow_other_owner: bool = False, maximum_arrays: int = 0,
                 maximum_connections: Optional[int] = None) -> None:
        self._handle = _native.open_sender(
            endpoint, stream, _choice(_PATTERNS, pattern, "pattern"), _choice(_ROLES, role, "role"),
            _choice(_FAST_PATH, fast_path, "fast_path"),
            _option_ns(send_timeout, "send_timeout", "the transport's default", _DEFAULT),
            _size(byte_budget), _size(expected_message_bytes),
            _heartbeat_ns(heartbeat_interval), _option_ns(linger, "linger", "the default, 1 s", -1), _size(shm_capacity),
            curve_secret_key, curve_server_public_key, int(shm_mode), bool(shm_allow_other_owner),
            _size(maximum_arrays), _maximum_connections(maximum_connections))

    def send(self, arrays: Arrays, *, timestamp: Optional[Timestamp] = None, index: Optional[int] = None,
             meta: Optional[Mapping[str, Any]] = None) -> Optional[int]:
        """Sends one message: an array, a mapping of names to arrays, or (name, array) pairs.
        The arrays are copied; the caller may reuse them at once. Returns the message's
        sequence number, or None when flow control dropped it (a publisher over its byte
        budget). Raises :class:`PutTimeout` when a push waits past its send timeout, and
        ``ValueError`` for pairs that repeat a name: a :class:`Message` holds its arrays by name,
        so a receiver could not give both back. :class:`InvalidArgument` (a ``ValueError``, on
        every endpoint alike, using no sequence number): more arrays than ``maximum_arrays``, or
        ``meta`` holding a number JSON cannot carry (``nan``, ``inf``). A bare array is sent
        under the name ``"array"``; any name survives on every endpoint."""
        if isinstance(arrays, np.ndarray):
            pairs: Sequence[Tuple[str, Any]] = (("array", arrays),)
        elif isinstance(arrays, Mapping):
            pairs = tuple(arrays.items())
        else:
            pairs = tuple(arrays)
            _refuse_repeated_names(pairs)
        status, sequence = self._handle.send(pairs, timestamp, index, None if meta is None else json.dumps(dict(meta)))
        return None if status == 1 else sequence

    @property
    def endpoint(self) -> str:
        """The endpoint bound, with a wildcard port resolved (``tcp://0.0.0.0:41234``)."""
        return self._handle.endpoint()

    def statistics(self) -> dict:
        """The sender's counters, as a dict:

        - ``epoch``: the sender's epoch (random, fixed at start).
        - ``sent``, ``dropped``: data messages handed to the transport, and dropped by flow
          control (a publisher over its byte budget).
        - ``bytes_sent``: payload bytes sent. ``heartbeats``: heartbeats sent.
        - ``in_flight_bytes``: payload bytes the transport holds, not yet written.
        - ``next_sequence``: the sequence number of the next message.
        - ``shared_memory_subscribers``: subscribers on this host taking the fast path now;
          ``shared_memory_dropped``: messages a fast-path subscriber's full queue could not take.
        - ``peers``: peers connected to the socket now (tcp:// and ipc://; 0 for shm://), as of
          the sender's last look at its socket: at each send, and about every 100 ms while idle.
        - ``peers_disconnected``: connections that ended: peers that left, and peers dropped
          for breaking the protocol, sending a frame over the limit, or taking nothing for the
          stalled-peer timeout.
        - ``rejected_subscriptions``: a publisher's subscriptions that were no prefix of its
          stream's name (and other messages peers sent it): none can match its topic.
        - ``shared_memory_lost``: messages a pusher had put into its same-host fast-path queue
          (and counted as sent) that no puller of this host took and the socket did not accept
          within the linger period when it closed. Counted (and logged) by :meth:`close`, so 0
          before it.
        - ``peers_dropped``: connections the sender cut itself: those beyond
          ``maximum_connections`` on an endpoint it binds, and those holding more than 4 KiB of
          refused subscriptions (each also in ``peers_disconnected`` once it has ended). They
          may connect again.

        After :meth:`close` it returns the counters as the close left them (the same each
        time), ``shared_memory_lost`` among them, rather than raising :class:`Closed`; while
        that close waits for another thread's :meth:`send`, the counters of now.
        """
        return self._handle.statistics()

    def close(self) -> None:
        """Sends ``end``, waits up to the linger time for queued messages and frees the sender;
        while another thread is in :meth:`send`, it does so when that send returns. The final
        counters stay readable with :meth:`statistics`."""
        self._handle.close()

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class Receiver:
    """Receives messages from an endpoint; ``receive`` returns a :class:`Message` whose arrays
    are numpy arrays the caller owns::

        with Receiver("tcp://127.0.0.1:5555", pattern="pubsub") as receiver:
            message = receiver.receive(timeout=1.0)
            print(receiver.path)        # "shared-memory" on the publisher's host, else "network"

    ``subscriptions``: for pub/sub, stream-name prefixes (default: every stream). ``role``:
    ``"connect"`` (default for receivers) or ``"bind"``. ``fast_path``: ``"automatic"``
    (default), ``"disabled"`` or ``"required"``. ``detects_loss``: count sequence gaps as lost
    (turn off for pullers that share a pusher). ``maximum_arrays``: the most arrays a message
    may have (default 256, what senders send at most by default); one with more is counted as
    malformed and skipped. ``maximum_message_bytes``: the largest message taken (default 1 GiB).
    ``fast_path_timeout``: with ``fast_path="required"``, seconds allowed to switch to the fast
    path (None: 5 s; it must be positive). ``heartbeat_interval``: the senders' heartbeat
    interval in seconds, by which silence is judged (None: 1 s; it must be positive: for
    senders that send no heartbeats, the idle time to count as silent divided by
    ``missed_heartbeats``). ``missed_heartbeats``: intervals without any message after which
    the sender counts as silent (``statistics()["peer_is_silent"]``; None: 3; at least 1).
    ``maximum_connections``: the most connections each endpoint the receiver binds
    (``role="bind"``) keeps at once; those opened beyond it are cut, newest first, while a
    :meth:`receive` runs, and counted in ``statistics()["peers_dropped"]`` (None: 256; ``0``:
    no limit; negative raises :class:`InvalidArgument`).
    ``byte_budget``: bytes of messages the socket's receive queue may hold for each connected
    peer (tcp:// and ipc://; not shm:// nor the same-host fast path): it holds at most
    ``byte_budget`` ÷ min(``maximum_message_bytes``, 256 KiB) messages, and at least one,
    before it stops reading from that peer (a pusher then waits); a tcp peer for which libzmq
    holds more than that many messages of ``maximum_message_bytes`` and one more is cut
    (``peers_dropped``). It bounds how many messages wait, not how large one may be: a message
    larger than the budget is still received. None: the default, 256 MiB; 0 or negative raises :class:`InvalidArgument`, a
    float ``TypeError`` (unlike a :class:`Sender`'s ``byte_budget``, where 0 is the default).
    ``zero_copy_receive``: for trusted peers only, receive with libzmq's zero-copy through a
    ZeroMQ context of the receiver's own (C's ``zero_copy_receive``, Swift's
    ``ZMQContext(zeroCopyReceive: true)``), which saves a copy of every frame over 33 bytes
    (1 MiB messages over tcp arrive about 1.17 times as fast). The cost: each such frame keeps
    the whole read buffer it arrived in (8 KiB and more) alive, so a peer sending small frames
    a few at a time makes the receiver hold many times what it sends, beyond what the byte
    budget and the bound on unfinished messages allow for. False (default): each frame is
    copied; ignored for ``shm://``.
    ``linger``: seconds unsent messages are kept after
    :meth:`close` (None: 0). Other options, among them ``shm_mode`` and
    ``shm_allow_other_owner`` for ``shm://``, as :class:`Sender`; a negative size, and a
    negative or NaN duration, raise :class:`InvalidArgument` (a ``ValueError``).
    """

    __slots__ = ("_handle",)

    def __init__(self, endpoint: str, *, pattern: str = "pushpull", role: Optional[str] = None,
                 fast_path: str = "automatic", subscriptions: Sequence[str] = (), detects_loss: bool = True,
                 fast_path_timeout: Optional[float] = None, linger: Optional[float] = None, shm_capacity: int = 0,
                 maximum_message_bytes: int = 0, curve_secret_key: Optional[str] = None,
                 curve_server_public_key: Optional[str] = None, shm_mode: int = 0o600,
                 shm_allow_other_owner: bool = False, maximum_arrays: int = 0,
                 heartbeat_interval: Optional[float] = None, missed_heartbeats: Optional[int] = None,
                 maximum_connections: Optional[int] = None, zero_copy_receive: bool = False,
                 byte_budget: Optional[int] = None) -> None:
        self._handle = _native.open_receiver(
            endpoint, _choice(_PATTERNS, pattern, "pattern"), _choice(_ROLES, role, "role"),
            _choice(_FAST_PATH, fast_path, "fast_path"), 1 if detects_loss else 0, list(subscriptions),
            _positive_ns(fast_path_timeout, "fast_path_timeout", "5 s"), _option_ns(linger, "linger", "the default, 0", -1),
            _size(shm_capacity), _size(maximum_message_bytes), curve_secret_key,
            curve_server_public_key, int(shm_mode), bool(shm_allow_other_owner), _size(maximum_arrays),
            _positive_ns(heartbeat_interval, "heartbeat_interval", "1 s"), _missed_heartbeats(missed_heartbeats),
            _maximum_connections(maximum_connections), bool(zero_copy_receive), _receiver_byte_budget(byte_budget))

    def receive(self, timeout: Optional[float] = None, *, events: bool = False) -> Optional[Message]:
        """The next message, waiting up to ``timeout`` seconds (None: no limit, 0: not at all;
        negative raises :class:`InvalidArgument`); None if nothing arrived in time. With
        ``events=True`` heartbeats and ends are returned too (``message.kind``). Raises :class:`Closed` after :meth:`close` or :meth:`shutdown`."""
        received = self._handle.receive(timeout, 1 if events else 0)
        if received is None:
            return None
        kind, stream, epoch, sequence, stamp, index, meta, arrays = received
        # The wire format allows a repeated name (another language's sender may send one): the
        # first array of a name is kept, as Swift's message[name] gives.
        by_name: dict = {}
        for array_name, array in arrays:
            by_name.setdefault(array_name, array)
        return Message(_KINDS.get(kind, str(kind)), stream, epoch, sequence, stamp, index, json.loads(meta), by_name)

    def __iter__(self) -> Iterator[Message]:
        """Yields data messages as they come, until the receiver is closed or shut down."""
        from .errors import Closed

        while True:
            try:
                message = self.receive(1.0)
            except Closed:
                return
            if message is not None:
                yield message

    @property
    def endpoint(self) -> str:
        """The endpoint bound, with a wildcard port resolved (``tcp://127.0.0.1:41234`` for
        ``Receiver("tcp://127.0.0.1:*", role="bind")``), as :attr:`Sender.endpoint`; for a
        receiver that connects, or ``shm://``, the endpoint it was made with. Raises
        :class:`Closed` after :meth:`close`."""
        return self._handle.endpoint()

    @property
    def path(self) -> str:
        """How data arrives now: ``"network"`` or ``"shared-memory"`` (the same-host fast path)."""
        return "shared-memory" if self._handle.path() == 1 else "network"

    @property
    def fast_path_problem(self) -> str:
        """Why the fast path was most recently not taken or left ("" if it never was)."""
        return self._handle.fast_path_problem()

    @property
    def last_malformed_reason(self) -> str:
        """Why the most recent malformed message (counted in ``statistics()["malformed"]``) was
        rejected ("" if none was)."""
        return self._handle.last_malformed_reason()

    def statistics(self) -> dict:
        """The receiver's counters, as a dict:

        - ``received``, ``bytes_received``: data messages delivered and their payload bytes.
        - ``heartbeats``, ``ends``: heartbeats and end messages received.
        - ``lost``: data messages known to be missing (sequence gaps).
        - ``out_of_order``: messages with a lower sequence number than one delivered before.
        - ``malformed``: messages rejected as malformed (each skipped; the last one's reason:
          :attr:`last_malformed_reason`).
        - ``epochs_seen``: distinct (stream, epoch) pairs seen; ``restarts``: new epochs on a
          stream that had one (a sender restarted).
        - ``copied_payloads``: large payloads copied for alignment.
        - ``silence_ns``: time since the last valid message; ``peer_is_silent``: whether it
          exceeds the allowed missed heartbeats.
        - ``path``: 0 network, 1 shared memory (the same-host fast path).
        - ``received_through_shared_memory``: data messages that came through the fast path;
          ``switches_to_shared_memory``: switches from the network to it.
        - ``peers_dropped``: tcp connections dropped because libzmq held more for them than a
          queue of messages and one more (a message that does not end), and connections beyond
          the ``maximum_connections`` (256 by default) a bound endpoint keeps at once; they may
          connect again.
        """
        return self._handle.statistics()

    def shutdown(self) -> None:
        """Makes receives waiting in other threads return (raising :class:`Closed`) soon."""
        self._handle.shutdown()

    def close(self) -> None:
        """Stops the receiver and frees it."""
        self._handle.close()

    def __enter__(self) -> "Receiver":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
