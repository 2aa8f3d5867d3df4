"""The same message means the same on every endpoint (shm:// and tcp://): array names, the
meta a sender refuses, the array count per message; and Sender/Receiver options that refuse
negative sizes and can turn heartbeats off."""

from __future__ import annotations

import contextlib
import socket

import numpy as np
import pytest

import arrayqueues_swift as aq


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _pair(kind, name, **sender_options):
    """A push/pull Sender and Receiver on a fresh shm:// queue or tcp port."""
    receiver_options = sender_options.pop("receiver", {})
    if kind == "shm":
        endpoint = f"shm://{name}"
        with aq.Receiver(endpoint, shm_capacity=1 << 20, **receiver_options) as receiver, \
                aq.Sender(endpoint, **sender_options) as sender:
            yield sender, receiver
        aq.ArrayQueue.remove(name)
    else:
        endpoint = f"tcp://127.0.0.1:{_free_port()}"
        with aq.Sender(endpoint, stream="s", **sender_options) as sender, aq.Receiver(endpoint, **receiver_options) as receiver:
            yield sender, receiver


@pytest.mark.parametrize("kind", ["shm", "tcp"])
def test_a_single_named_array_keeps_its_name(kind, name):
    frame = np.arange(6, dtype="<u2").reshape(2, 3)
    with _pair(kind, name) as (sender, receiver):
        sender.send({"frame": frame})
        message = receiver.receive(timeout=10)
        assert message is not None and list(message.arrays) == ["frame"] and (message["frame"] == frame).all()
        sender.send(frame)
        assert list(receiver.receive(timeout=10).arrays) == ["array"]


@pytest.mark.parametrize("kind", ["shm", "tcp"])
@pytest.mark.parametrize("meta", [{"x": float("inf")}, {"x": [1, float("nan")]}, {"x": 10.0 ** 308 * 10}])
def test_meta_json_cannot_carry_is_refused_alike(kind, name, meta):
    with _pair(kind, name) as (sender, receiver):
        with pytest.raises(aq.InvalidArgument, match="NaN or infinite"):
            sender.send(np.arange(3), meta=meta)
        assert sender.statistics()["next_sequence"] == 0
        assert receiver.receive(timeout=0.1) is None


def test_meta_text_1e999_is_refused_alike(name):
    """JSON text with a literal too large for a double (what another program may pass the C
    interface) parses to infinity: refused on shm:// as on tcp://."""
    for kind in ("shm", "tcp"):
        with _pair(kind, f"{name}-{kind}") as (sender, _):
            with pytest.raises(aq.InvalidArgument, match="NaN or infinite"):
                sender._handle.send((("a", np.arange(3)),), None, None, '{"huge": 1e999}')


@pytest.mark.parametrize("kind", ["shm", "tcp"])
def test_more_arrays_than_receivers_take_is_refused_by_the_sender(kind, name):
    arrays = [(f"a{i}", np.arange(2, dtype=np.uint8)) for i in range(257)]
    with _pair(kind, name) as (sender, receiver):
        with pytest.raises(aq.InvalidArgument, match="257 arrays"):
            sender.send(arrays)
        assert sender.statistics()["next_sequence"] == 0
        sender.send(arrays[:256])
        assert len(receiver.receive(timeout=10).arrays) == 256
        assert receiver.statistics()["malformed"] == 0
    with _pair(kind, f"{name}-more", maximum_arrays=300, receiver={"maximum_arrays": 300}) as (sender, receiver):
        sender.send(arrays)
        assert len(receiver.receive(timeout=10).arrays) == 257


@pytest.mark.parametrize("option", ["byte_budget", "expected_message_bytes", "shm_capacity", "maximum_arrays"])
@pytest.mark.parametrize("endpoint", ["shm", "tcp"])
def test_a_sender_refuses_negative_sizes(option, endpoint, name):
    where = f"shm://{name}" if endpoint == "shm" else f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(aq.InvalidArgument, match=option):
        aq.Sender(where, **{option: -1})
    assert isinstance(aq.InvalidArgument("x"), ValueError)


@pytest.mark.parametrize("option", ["shm_capacity", "maximum_message_bytes", "maximum_arrays"])
def test_a_receiver_refuses_negative_sizes(option, name):
    with pytest.raises(aq.InvalidArgument, match=option):
        aq.Receiver(f"tcp://127.0.0.1:{_free_port()}", **{option: -1})


def test_heartbeat_interval_zero_sends_none_and_negative_is_refused():
    port = _free_port()
    with aq.Sender(f"tcp://127.0.0.1:{port}", stream="quiet", heartbeat_interval=0, fast_path="disabled") as sender, \
            aq.Receiver(f"tcp://127.0.0.1:{port}") as receiver:
        assert receiver.receive(timeout=1.0, events=True) is None
        assert sender.statistics()["heartbeats"] == 0
    port = _free_port()
    with aq.Sender(f"tcp://127.0.0.1:{port}", stream="busy", heartbeat_interval=0.02) as sender, \
            aq.Receiver(f"tcp://127.0.0.1:{port}") as receiver:
        event = receiver.receive(timeout=10, events=True)
        assert event is not None and event.kind == "heartbeat"
    for bad in (-1, float("nan")):
        with pytest.raises(aq.InvalidArgument, match="heartbeat_interval"):
            aq.Sender(f"tcp://127.0.0.1:{_free_port()}", heartbeat_interval=bad)
