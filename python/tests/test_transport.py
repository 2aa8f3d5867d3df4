"""Sender and Receiver over shm:// and tcp://, and a Python subscriber of `aq-relay serve` that
receives bit-exact and takes the same-host fast path by itself."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import numpy as np
import pytest

import arrayqueues_swift as aq
from conftest import DTYPES, eventually, free_port, same_bits, sample, tool


def test_shm_sender_and_receiver_carry_multi_array_messages(name):
    with aq.Receiver(f"shm://{name}", shm_capacity=1 << 20) as receiver, aq.Sender(f"shm://{name}") as sender:
        arrays = {dtype: sample(dtype, (2, 3), seed=index) for index, dtype in enumerate(DTYPES)}
        sequence = sender.send(arrays, index=9, meta={"exposure": 0.01})
        message = receiver.receive(timeout=10)
        assert message is not None and message.kind == "data" and message.sequence == sequence
        assert message.index == 9 and message.meta == {"exposure": 0.01}
        assert list(message.arrays) == DTYPES
        for dtype, array in arrays.items():
            assert same_bits(message[dtype], array)
    aq.ArrayQueue.remove(name)


def test_a_repeated_array_name_is_refused_by_send_and_kept_first_on_receipt(name):
    """A Message holds its arrays by name, so Sender.send refuses pairs that repeat one rather
    than have the receiver keep only one of them. The wire format allows repeats (another
    language's sender may send them): a Receiver keeps the first, as Swift's message[name]."""
    first, second = np.arange(3), np.arange(3) + 10
    with aq.Receiver(f"shm://{name}", shm_capacity=1 << 20) as receiver, aq.Sender(f"shm://{name}") as sender:
        for pairs in ([("a", first), ("a", second)], (("a", first), ("b", first), ("a", second))):
            with pytest.raises(ValueError, match="'a'"):
                sender.send(pairs)
        sender.send([("a", first), ("b", second)])
        message = receiver.receive(timeout=10)
        assert list(message.arrays) == ["a", "b"] and (message["b"] == second).all()
        sender._handle.send((("a", first), ("b", second), ("a", second)), None, None, None)  # below the check
        message = receiver.receive(timeout=10)
        assert list(message.arrays) == ["a", "b"] and (message["a"] == first).all()
        assert receiver.receive(timeout=0) is None
    aq.ArrayQueue.remove(name)


def test_shm_patterns_mean_what_they_mean_on_the_network(name):
    """shm:// publish/subscribe: every subscriber gets every message (a broadcast queue);
    push/pull: the pullers share the messages of a plain queue."""
    with aq.Receiver(f"shm://{name}", pattern="pubsub", shm_capacity=1 << 20) as first, \
            aq.Receiver(f"shm://{name}", pattern="pubsub") as second, \
            aq.Sender(f"shm://{name}", pattern="pubsub") as sender:
        for index in range(20):
            sender.send({"x": np.full(4, index, dtype=np.int32)}, index=index)
        for receiver in (first, second):
            got = [receiver.receive(timeout=10) for _ in range(20)]
            assert [message.index for message in got] == list(range(20))
            assert all(int(message.array[0]) == message.index for message in got)
    aq.ArrayQueue.remove(name)

    pulled = f"{name}-p"
    with aq.Receiver(f"shm://{pulled}", shm_capacity=1 << 20) as first, aq.Receiver(f"shm://{pulled}") as second, \
            aq.Sender(f"shm://{pulled}") as sender:
        for index in range(20):
            sender.send({"x": np.full(4, index, dtype=np.int32)}, index=index)
        taken = [first.receive(timeout=10).index for _ in range(10)]
        taken += [second.receive(timeout=10).index for _ in range(10)]
        assert sorted(taken) == list(range(20))
        assert second.receive(timeout=0.2) is None
    aq.ArrayQueue.remove(pulled)


def _mode(name: str) -> int:
    return os.stat(f"/dev/shm/aq.{name}").st_mode & 0o777


def test_shm_mode_sets_the_permissions_of_a_queue_the_endpoint_creates(name):
    with aq.Sender(f"shm://{name}", shm_capacity=1 << 20, shm_mode=0o660):
        assert _mode(name) == 0o660
    aq.ArrayQueue.remove(name)
    with aq.Receiver(f"shm://{name}", shm_capacity=1 << 20, shm_mode=0o640):
        assert _mode(name) == 0o640
    aq.ArrayQueue.remove(name)
    with pytest.raises(aq.InvalidArgument):
        aq.Sender(f"shm://{name}", shm_mode=0o060)  # would lock its creator out
    assert not aq.ArrayQueue.exists(name)


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a queue as another user needs root")
def test_a_queue_of_another_user_needs_shm_allow_other_owner(name):
    child = os.fork()
    if child == 0:  # as nobody: create the queue (readable and writable by all), then leave
        code = 1
        try:
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            aq.ArrayQueue.create(name, 1 << 20, mode=0o666).close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with pytest.raises(aq.UntrustedOwner):
        aq.Sender(f"shm://{name}")
    with pytest.raises(aq.UntrustedOwner):
        aq.Receiver(f"shm://{name}")
    with aq.Receiver(f"shm://{name}", shm_allow_other_owner=True) as receiver, \
            aq.Sender(f"shm://{name}", shm_allow_other_owner=True) as sender:
        sender.send(sample("uint16", (3, 3)))
        message = receiver.receive(timeout=10)
        assert message is not None and same_bits(message["array"], sample("uint16", (3, 3)))


def test_tcp_push_pull_and_receive_timeout():
    port = free_port()
    with aq.Sender(f"tcp://127.0.0.1:{port}", stream="s") as sender, aq.Receiver(f"tcp://127.0.0.1:{port}") as receiver:
        assert receiver.receive(timeout=0.05) is None
        frame = sample("uint16", (64, 48))
        sender.send(frame, index=1)
        message = receiver.receive(timeout=10)
        assert message is not None and message.stream == "s" and same_bits(message.array, frame)
        assert receiver.path == "network"


def test_python_subscriber_of_aq_relay_serve_takes_the_fast_path(name):
    """A relay publishes a queue over tcp; a Python subscriber on the same host switches to
    shared memory by itself and receives every frame of every dtype bit-exact."""
    port = free_port()
    with aq.ArrayQueue.create(name, 16 << 20, remove=True) as q:
        relay = subprocess.Popen([tool("aq-relay"), "serve", "--queue", f"{name}=tcp://127.0.0.1:{port}",
                                  "--control", "none", "--stats-interval", "0", "--log-level", "warning"])
        try:
            with aq.Receiver(f"tcp://127.0.0.1:{port}", pattern="pubsub") as receiver:
                # Pub/sub drops what is published before the subscription reaches the relay:
                # markers go out until one arrives through shared memory.
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    q.put(np.zeros(1, np.uint8), timeout=10)
                    message = receiver.receive(timeout=0.1)
                    if message is not None and receiver.path == "shared-memory":
                        break
                assert receiver.path == "shared-memory", receiver.fast_path_problem
                lost_before = receiver.statistics()["lost"]  # markers published before the subscription arrived
                frames = [sample(dtype, (32, 16), seed=index) for index, dtype in enumerate(DTYPES * 3)]
                for frame in frames:
                    q.put(frame, timeout=10)
                received = []
                while len(received) < len(frames) and time.monotonic() < deadline:
                    message = receiver.receive(timeout=1)
                    if message is not None and message.array.shape != (1,):  # markers still in flight
                        received.append(message.array)
                assert len(received) == len(frames)
                for sent, got in zip(frames, received):
                    assert same_bits(sent, got)
                statistics = receiver.statistics()
                assert statistics["received_through_shared_memory"] >= len(frames) and statistics["lost"] == lost_before
        finally:
            relay.terminate()
            relay.wait(30)


def test_a_receivers_heartbeat_interval_and_missed_heartbeats_judge_silence():
    """heartbeat_interval and missed_heartbeats reach the receiver: with 50 ms and 1, a sender
    that sends no heartbeats counts as silent soon after its last message (the defaults, 1 s and
    3, would take 3 s); with 50 ms and 40 (2 s), not yet after 0.3 s."""
    with aq.Sender("tcp://127.0.0.1:*", stream="s", fast_path="disabled", heartbeat_interval=0) as sender, \
            aq.Receiver(sender.endpoint, fast_path="disabled", heartbeat_interval=0.05, missed_heartbeats=1) as quick:
        sender.send(np.arange(4))
        assert quick.receive(timeout=10) is not None
        silent = eventually(quick.statistics, lambda s: s["peer_is_silent"], within=2.0)
        assert silent["peer_is_silent"] and silent["silence_ns"] > 50_000_000, silent
    with aq.Sender("tcp://127.0.0.1:*", stream="s", fast_path="disabled", heartbeat_interval=0) as sender, \
            aq.Receiver(sender.endpoint, fast_path="disabled", heartbeat_interval=0.05, missed_heartbeats=40) as patient:
        sender.send(np.arange(4))
        assert patient.receive(timeout=10) is not None
        time.sleep(0.3)
        waited = patient.statistics()
        assert not waited["peer_is_silent"] and waited["silence_ns"] >= 250_000_000, waited


def test_a_pushers_shared_memory_lost_is_read_after_close():
    """What a pusher's same-host fast path lost at close (shared_memory_lost), read from
    statistics() after close(), which keeps the counters the close left: a local puller takes
    the fast path, five messages go into the shared queue that it never reads, it leaves, and
    the pusher closes with no puller anywhere and a 200 ms linger."""
    with aq.Sender("tcp://127.0.0.1:*", stream="lost", heartbeat_interval=0.02, send_timeout=0.3, linger=0.2) as sender:
        receiver = aq.Receiver(sender.endpoint, heartbeat_interval=0.02, detects_loss=False)
        try:
            for _ in range(2000):
                if receiver.path == "shared-memory":
                    break
                sender.send(np.arange(4, dtype=np.uint8))
                while receiver.receive(timeout=0.005) is not None:
                    pass
            assert receiver.path == "shared-memory"
            while receiver.receive(timeout=0.1) is not None:
                pass
            for _ in range(5):
                assert sender.send(np.arange(4, dtype=np.uint8)) is not None
        finally:
            receiver.close()
        left = eventually(sender.statistics, lambda s: s["peers"] == 0 and s["peers_disconnected"] == 1)
        assert left["peers_disconnected"] == 1 and left["shared_memory_lost"] == 0, left
    final = sender.statistics()
    assert final["shared_memory_lost"] == 5, final
    assert (final["sent"], final["next_sequence"], final["epoch"]) == (left["sent"], left["next_sequence"], left["epoch"])
    assert sender.statistics() == final
    with pytest.raises(aq.Closed):
        sender.send(np.arange(4))


def test_a_sender_that_closed_normally_reports_nothing_lost():
    port = free_port()
    with aq.Sender(f"tcp://127.0.0.1:{port}", stream="s") as sender, aq.Receiver(f"tcp://127.0.0.1:{port}") as receiver:
        sender.send(np.arange(3))
        assert receiver.receive(timeout=10) is not None
    final = sender.statistics()
    assert final["sent"] == 1 and final["shared_memory_lost"] == 0


def test_statistics_count_a_publishers_peers_and_rejected_subscriptions():
    """A tcp publisher counts its subscriber among its peers while it is connected and as a
    connection that ended once it leaves; a subscription that is no prefix of the stream's name
    is counted as rejected. A receiver's statistics carry peers_dropped."""
    with aq.Sender("tcp://127.0.0.1:*", stream="camera0", pattern="pubsub", fast_path="disabled",
                   heartbeat_interval=0.02) as sender:
        endpoint = sender.endpoint
        before = sender.statistics()
        assert (before["peers"], before["peers_disconnected"], before["rejected_subscriptions"]) == (0, 0, 0)
        receiver = aq.Receiver(endpoint, pattern="pubsub", fast_path="disabled", subscriptions=["cam", "lidar"])
        try:
            connected = eventually(sender.statistics, lambda s: s["peers"] == 1 and s["rejected_subscriptions"] == 1)
            assert connected["peers"] == 1 and connected["rejected_subscriptions"] == 1, connected
            assert connected["peers_disconnected"] == 0
            received = receiver.statistics()
            assert received["peers_dropped"] == 0 and received["malformed"] == 0
        finally:
            receiver.close()
        left = eventually(sender.statistics, lambda s: s["peers"] == 0 and s["peers_disconnected"] == 1)
        assert left["peers"] == 0 and left["peers_disconnected"] == 1, left
        assert left["rejected_subscriptions"] == 1


def test_a_message_over_the_receivers_limit_is_counted_malformed_with_its_reason():
    """Frames each under maximum_message_bytes that add up to more: the message is skipped,
    counted as malformed, and last_malformed_reason says why; the next message arrives."""
    with aq.Sender("tcp://127.0.0.1:*", stream="big", send_timeout=10) as sender, \
            aq.Receiver(sender.endpoint, maximum_message_bytes=64 << 10) as receiver:
        assert receiver.last_malformed_reason == ""
        part = np.zeros(30 << 10, dtype=np.uint8)
        sender.send({"a": part, "b": part, "c": part})
        sender.send(np.arange(3))
        message = receiver.receive(timeout=10)
        assert message is not None and message.sequence == 1
        assert receiver.statistics()["malformed"] == 1
        assert "at most 65536" in receiver.last_malformed_reason


def test_curve_encrypted_push_pull():
    server_public, server_secret = aq.curve_keypair()
    _, client_secret = aq.curve_keypair()
    assert len(server_public) == 40 and len(server_secret) == 40
    port = free_port()
    with aq.Sender(f"tcp://127.0.0.1:{port}", stream="secret", curve_secret_key=server_secret) as sender, \
            aq.Receiver(f"tcp://127.0.0.1:{port}", curve_secret_key=client_secret,
                        curve_server_public_key=server_public) as receiver:
        frame = sample("float32", (16, 16), seed=5)
        sender.send({"frame": frame}, index=3)
        message = receiver.receive(timeout=10)
        assert message is not None and message.index == 3 and same_bits(message["frame"], frame)


def test_bad_endpoints_and_options_raise_typed_errors():
    with pytest.raises(aq.InvalidEndpoint):
        aq.Sender("carrier-pigeon://here")
    with pytest.raises(ValueError):
        aq.Receiver("tcp://127.0.0.1:1", pattern="broadcast")


def test_an_infinite_timeout_means_the_longest_one_as_for_queues(name):
    """send_timeout, linger and fast_path_timeout of float("inf") are taken as the longest wait,
    as queue calls take it (they raised OverflowError converting infinity to an int)."""
    forever = float("inf")
    with aq.Receiver(f"shm://{name}", shm_capacity=1 << 20, fast_path_timeout=forever, linger=forever) as receiver, \
            aq.Sender(f"shm://{name}", send_timeout=forever, heartbeat_interval=forever, linger=forever) as sender:
        sender.send(np.arange(3))
        message = receiver.receive(timeout=forever)
        assert message is not None and (message.array == np.arange(3)).all()
    aq.ArrayQueue.remove(name)


def test_a_close_during_a_send_takes_effect_when_the_send_returns(name):
    """Sender.close while another thread waits in send (no room) is not lost: the sender closes
    as soon as that send returns (it used to do nothing, and the sender lived on)."""
    sender = aq.Sender(f"shm://{name}", shm_capacity=1 << 16, send_timeout=2.0)
    try:
        chunk = np.zeros(40_000, dtype=np.uint8)
        sender.send(chunk)  # no receiver takes it: the next one finds no room
        outcome = []

        def send_again():
            try:
                sender.send(chunk)
                outcome.append("sent")
            except aq.PutTimeout:
                outcome.append("timeout")

        waiting = threading.Thread(target=send_again)
        waiting.start()
        time.sleep(0.3)
        sender.close()  # returns at once; the send in progress is not cut short
        waiting.join(timeout=10)
        assert outcome == ["timeout"]
        with pytest.raises(aq.Closed):
            sender.send(chunk)
        # Closed for good: the close put its end after the first chunk, and left its counters.
        with aq.ArrayQueue.open(name) as queue:
            assert queue.qsize() == 2
        assert sender.statistics()["sent"] == 1
    finally:
        sender.close()
        aq.ArrayQueue.remove(name)
