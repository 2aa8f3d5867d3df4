"""Negative durations: every one the Python API takes raises InvalidArgument (a ValueError) naming
it, where some were taken as 0 (timeouts, linger), as the default (spin, fast_path_timeout) or as
"do not wait" (send_timeout) without a word. NaN is refused alike. The drop-in
``shared_arrays.ArrayQueue.get`` keeps what ``multiprocessing.Queue.get`` does with a negative
timeout: it does not wait."""

from __future__ import annotations

import queue
import time

import numpy as np
import pytest

import arrayqueues_swift as aq
from conftest import free_port
from arrayqueues_swift import shared_arrays

BAD = [-1, -0.5, -1e-9, float("-inf"), float("nan")]


def _refused(what: str):
    """Expects InvalidArgument, a ValueError, whose message names `what`."""
    return pytest.raises(aq.InvalidArgument, match=what)


@pytest.mark.parametrize("bad", BAD)
def test_queue_calls_refuse_a_negative_timeout_and_leave_the_queue_alone(name, bad):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put(np.arange(4))
        with _refused("timeout"):
            q.put(np.arange(4), timeout=bad)
        with _refused("timeout"):
            q.put_many(np.zeros((3, 4)), timeout=bad)
        with _refused("timeout"):
            q.loan((4,), np.int64, timeout=bad)
        assert q.qsize() == 1  # nothing put
        with _refused("timeout"):
            q.get(timeout=bad)
        with _refused("timeout"):
            q.get_record(timeout=bad)
        with _refused("timeout"):
            q.borrow(timeout=bad)
        with _refused("timeout"):
            q.get_many(10, timeout=bad)
        with _refused("timeout"):
            next(q.records(timeout=bad))
        assert q.qsize() == 1  # nothing taken
        assert isinstance(aq.InvalidArgument("x"), ValueError)
        assert (q.get(timeout=0) == np.arange(4)).all()


def test_a_subscriber_refuses_a_negative_timeout(name):
    with aq.ArrayQueue.create(name, 1 << 20, broadcast=True) as q, q.subscribe(start="next") as subscriber:
        q.put(np.arange(3))
        with _refused("timeout"):
            subscriber.get(timeout=-1)
        with _refused("timeout"):
            subscriber.borrow(timeout=-1)
        assert subscriber.delivered == 0
        assert (subscriber.get(timeout=0) == np.arange(3)).all()


@pytest.mark.parametrize("bad", BAD)
def test_a_negative_spin_is_refused(name, bad):
    with _refused("spin"):
        aq.ArrayQueue.create(name, 1 << 20, spin=bad)
    assert not aq.ArrayQueue.exists(name)
    with _refused("spin"):
        aq.ArrayQueue.open_or_create(name, 1 << 20, spin=bad)
    with aq.ArrayQueue.create(name, 1 << 20, spin=0):
        with _refused("spin"):
            aq.ArrayQueue.open(name, spin=bad)


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("option", ["send_timeout", "linger", "heartbeat_interval"])
def test_a_sender_refuses_a_negative_duration(option, bad):
    with _refused(option):
        aq.Sender(f"tcp://127.0.0.1:{free_port()}", **{option: bad})


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("option", ["linger", "fast_path_timeout", "heartbeat_interval"])
def test_a_receiver_refuses_a_negative_duration(option, bad):
    with _refused(option):
        aq.Receiver(f"tcp://127.0.0.1:{free_port()}", **{option: bad})


def test_a_receiver_refuses_a_zero_fast_path_timeout_instead_of_taking_the_default():
    with _refused("fast_path_timeout"):
        aq.Receiver(f"tcp://127.0.0.1:{free_port()}", fast_path="required", pattern="pubsub", fast_path_timeout=0)


@pytest.mark.parametrize("endpoint", ["tcp", "shm"])
def test_a_receiver_refuses_a_zero_heartbeat_interval_and_fewer_than_one_missed_heartbeat(name, endpoint):
    """A receiver's heartbeat interval is what silence is judged by: 0 is refused (it does not
    mean "no heartbeats" as a sender's does), as the C interface refuses it; so is a
    missed_heartbeats under 1, on every endpoint alike."""
    address = f"tcp://127.0.0.1:{free_port()}" if endpoint == "tcp" else f"shm://{name}"
    with _refused("heartbeat_interval"):
        aq.Receiver(address, heartbeat_interval=0)
    for bad in (0, -1):
        with _refused("missed_heartbeats"):
            aq.Receiver(address, missed_heartbeats=bad)
    with pytest.raises(TypeError):
        aq.Receiver(address, missed_heartbeats=2.5)
    assert not aq.ArrayQueue.exists(name)  # refused before the endpoint was made


@pytest.mark.parametrize("bad", BAD)
def test_receive_refuses_a_negative_timeout(bad):
    with aq.Receiver(f"tcp://127.0.0.1:{free_port()}") as receiver:
        with _refused("timeout"):
            receiver.receive(timeout=bad)


def test_zero_durations_are_still_taken(name):
    """0 is a duration, not a mistake: no wait, no linger, no spin."""
    with aq.ArrayQueue.create(name, 1 << 20, spin=0) as q:
        with pytest.raises(aq.Empty):
            q.get(timeout=0)
    aq.ArrayQueue.remove(name)
    with aq.Receiver(f"shm://{name}", shm_capacity=1 << 20, linger=0) as receiver, \
            aq.Sender(f"shm://{name}", send_timeout=0, linger=0) as sender:
        sender.send(np.arange(3))
        message = receiver.receive(timeout=10)
        assert message is not None and (message.array == np.arange(3)).all()
        assert receiver.receive(timeout=0) is None
    aq.ArrayQueue.remove(name)


def test_the_drop_in_get_takes_a_negative_timeout_as_multiprocessing_does():
    """multiprocessing.Queue.get(True, -1), which the original arrayqueues calls, does not wait:
    it returns what is there or raises queue.Empty at once. The drop-in keeps that."""
    q = shared_arrays.ArrayQueue(1)
    try:
        started = time.monotonic()
        with pytest.raises(queue.Empty):
            q.get(timeout=-5)
        assert time.monotonic() - started < 2
        q.put(np.arange(5))
        assert (q.get(True, -1) == np.arange(5)).all()
    finally:
        q.close()
