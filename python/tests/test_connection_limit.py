"""``maximum_connections`` of Sender and Receiver (the C interface's ``maximum_connections``):
raw tcp connections beyond the limit of a bound endpoint are cut, newest first, and counted in
``peers_dropped`` of both statistics; the peers kept, and a legitimate peer once places are free,
are served; None is the default (256), 0 no limit, a negative limit is refused."""

from __future__ import annotations

import resource
import socket
import time

import numpy as np
import pytest

import arrayqueues_swift as aq
from conftest import eventually, free_port


def _receiving(receiver, condition, within=20.0):
    """Receives in 20 ms slices (a receiver applies its limit every 5 to 10 ms while a receive
    runs, and within about 0.1 s between receives) until ``condition`` holds of its statistics
    or ``within`` seconds passed; returns the last."""
    deadline = time.monotonic() + within
    statistics = receiver.statistics()
    while not condition(statistics) and time.monotonic() < deadline:
        receiver.receive(timeout=0.02)
        statistics = receiver.statistics()
    return statistics


def _raw_connections(endpoint: str, count: int) -> list:
    """``count`` plain tcp connections to ``tcp://127.0.0.1:PORT``, one after the other, that
    never speak ZMTP."""
    port = int(endpoint.rsplit(":", 1)[1])
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]


def _ended(connection: socket.socket, within: float) -> bool:
    """Whether the other side ended the connection (end of file or a reset) within ``within``
    seconds; what it sent before (a ZMTP greeting) is read and dropped."""
    deadline = time.monotonic() + within
    while True:
        connection.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            if not connection.recv(4096):
                return True
        except TimeoutError:
            return False
        except OSError:
            return True


def test_a_receiver_with_a_limit_of_2_cuts_3_of_5_raw_connections():
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with aq.Receiver(endpoint, role="bind", fast_path="disabled", maximum_connections=2) as receiver:
        raw = _raw_connections(endpoint, 5)
        try:
            statistics = _receiving(receiver, lambda s: s["peers_dropped"] >= 3)
            assert statistics["peers_dropped"] == 3, statistics
            assert [_ended(connection, 10) for connection in raw[2:]] == [True] * 3
            assert [_ended(connection, 0.2) for connection in raw[:2]] == [False] * 2
            assert _receiving(receiver, lambda s: s["peers_dropped"] > 3, within=0.3)["peers_dropped"] == 3
        finally:
            for connection in raw:
                connection.close()
        _receiving(receiver, lambda s: False, within=0.3)  # lets the receiver see the two leave
        with aq.Sender(endpoint, stream="legitimate", role="connect", send_timeout=10) as pusher:
            pusher.send(np.arange(4))
            message = receiver.receive(timeout=10)
        assert message is not None and message.stream == "legitimate" and (message.array == np.arange(4)).all()
        assert receiver.statistics()["peers_dropped"] == 3


def test_a_receiver_that_never_receives_still_cuts_beyond_its_limit():
    """Its housekeeping thread checks the connections about every 0.1 s while no receive call
    does: the limit holds for an application that receives rarely."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with aq.Receiver(endpoint, role="bind", fast_path="disabled", maximum_connections=2) as receiver:
        raw = _raw_connections(endpoint, 5)
        try:
            statistics = eventually(receiver.statistics, lambda s: s["peers_dropped"] >= 3, within=20.0)
            assert statistics["peers_dropped"] == 3, statistics
            assert [_ended(connection, 10) for connection in raw[2:]] == [True] * 3
            assert [_ended(connection, 0.2) for connection in raw[:2]] == [False] * 2
        finally:
            for connection in raw:
                connection.close()


def test_a_sender_with_a_limit_of_2_cuts_3_of_5_raw_connections():
    with aq.Sender("tcp://127.0.0.1:*", stream="limited", fast_path="disabled", send_timeout=10,
                   maximum_connections=2) as sender:
        raw = _raw_connections(sender.endpoint, 5)
        try:
            statistics = eventually(sender.statistics, lambda s: s["peers_dropped"] >= 3, within=20.0)
            assert statistics["peers_dropped"] == 3 and statistics["peers"] == 2, statistics
            assert [_ended(connection, 10) for connection in raw[2:]] == [True] * 3
            assert [_ended(connection, 0.2) for connection in raw[:2]] == [False] * 2
            statistics = eventually(sender.statistics, lambda s: s["peers_disconnected"] >= 3, within=20.0)
            assert statistics["peers_disconnected"] == 3 and statistics["peers_dropped"] == 3, statistics
        finally:
            for connection in raw:
                connection.close()
        assert eventually(sender.statistics, lambda s: s["peers"] == 0, within=20.0)["peers"] == 0
        with aq.Receiver(sender.endpoint) as puller:
            sender.send(np.arange(4))
            message = puller.receive(timeout=10)
        assert message is not None and message.stream == "limited"
    assert sender.statistics()["peers_dropped"] == 3  # the counters the close left


@pytest.mark.parametrize("limit, kept", [(None, 256), (0, 258)])
def test_none_is_the_default_of_256_and_0_is_no_limit(limit, kept):
    """258 raw connections to a sender: the default keeps 256, 0 all of them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 1024:  # ours and libzmq's descriptor of each
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024 if hard == resource.RLIM_INFINITY else min(1024, hard), hard))
    with aq.Sender("tcp://127.0.0.1:*", stream="many", fast_path="disabled", maximum_connections=limit) as sender:
        raw = _raw_connections(sender.endpoint, 258)
        try:
            eventually(sender.statistics, lambda s: s["peers"] + s["peers_dropped"] >= 258, within=20.0)
            time.sleep(0.3)  # past a housekeeping round: nothing more is cut
            statistics = sender.statistics()
            assert statistics["peers"] == kept and statistics["peers_dropped"] == 258 - kept, statistics
        finally:
            for connection in raw:
                connection.close()


@pytest.mark.parametrize("bad", [-1, -(2**63)])
def test_a_negative_limit_is_refused(bad):
    with pytest.raises(aq.InvalidArgument, match="maximum_connections"):
        aq.Sender(f"tcp://127.0.0.1:{free_port()}", maximum_connections=bad)
    with pytest.raises(aq.InvalidArgument, match="maximum_connections"):
        aq.Receiver(f"tcp://127.0.0.1:{free_port()}", role="bind", maximum_connections=bad)
    with pytest.raises(TypeError):
        aq.Receiver(f"tcp://127.0.0.1:{free_port()}", maximum_connections=2.5)
