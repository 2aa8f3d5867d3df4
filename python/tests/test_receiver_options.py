"""A Receiver's ``byte_budget`` (the C interface's ``aq_receiver_options.byte_budget``) and its
``endpoint`` (``aq_receiver_endpoint``): a small budget makes the receiving socket hold fewer
messages, so a pusher waits sooner, yet a message larger than the budget still arrives; a bad
budget raises a typed error on every endpoint; a receiver that binds a wildcard port reports the
port it got."""

from __future__ import annotations

import numpy as np
import pytest

import arrayqueues_swift as aq
from conftest import free_port, same_bits

MESSAGE_BYTES = 256 << 10


def _sent_before_blocking(receiver_budget, limit: int) -> int:
    """How many messages of MESSAGE_BYTES a pusher sends (up to ``limit``) to a puller of
    ``receiver_budget`` that does not read, before a send waits past its timeout; the puller then
    receives every one of them, in order."""
    payload = np.arange(MESSAGE_BYTES, dtype=np.uint8)
    with aq.Sender("tcp://127.0.0.1:*", stream="budget", fast_path="disabled", heartbeat_interval=0,
                   send_timeout=0.5, byte_budget=1 << 20, expected_message_bytes=MESSAGE_BYTES) as sender, \
            aq.Receiver(sender.endpoint, fast_path="disabled", byte_budget=receiver_budget) as receiver:
        sent = 0
        while sent < limit:
            try:
                sender.send(payload, index=sent)
            except aq.PutTimeout:
                break
            sent += 1
        for index in range(sent):
            message = receiver.receive(timeout=10)
            assert message is not None and message.index == index and same_bits(message.array, payload)
        assert receiver.statistics()["lost"] == 0
        return sent


def test_a_small_byte_budget_makes_a_pusher_wait_sooner_and_still_delivers_larger_messages():
    # 1 byte: the socket queues one message (the least); 64 MiB: 256 messages of 256 KiB, more
    # than the kernel's socket buffers hold, so the difference is the receiver's queue.
    small = _sent_before_blocking(1, 400)
    large = _sent_before_blocking(64 << 20, 400)
    assert small < 400, "the pusher never waited against a receiver of a 1-byte budget"
    assert large - small >= 128, (small, large)


@pytest.mark.parametrize("endpoint", ["tcp", "shm"])
@pytest.mark.parametrize("budget, error", [(0, aq.InvalidArgument), (-1, aq.InvalidArgument),
                                           (-(2**63), aq.InvalidArgument), (1.5, TypeError), ("64", TypeError)])
def test_a_bad_byte_budget_raises_a_typed_error(name, endpoint, budget, error):
    address = f"tcp://127.0.0.1:{free_port()}" if endpoint == "tcp" else f"shm://{name}"
    # TypeError as operator.index raises it, not Receiver's for an unknown keyword.
    with pytest.raises(error, match="byte_budget" if error is aq.InvalidArgument else "as an integer"):
        aq.Receiver(address, byte_budget=budget)
    assert not aq.ArrayQueue.exists(name)


def test_a_receiver_reports_the_endpoint_it_bound_and_the_one_it_was_made_with(name):
    with aq.Receiver("tcp://127.0.0.1:*", role="bind", fast_path="disabled") as bound:
        endpoint = bound.endpoint
        assert endpoint.startswith("tcp://127.0.0.1:") and int(endpoint.rsplit(":", 1)[1]) > 0
        with aq.Sender(endpoint, stream="s", role="connect", send_timeout=10) as sender:
            frame = np.arange(12, dtype=np.float32).reshape(3, 4)
            sender.send(frame)
            message = bound.receive(timeout=10)
            assert message is not None and same_bits(message.array, frame)
    elsewhere = f"tcp://127.0.0.1:{free_port()}"
    with aq.Receiver(elsewhere) as connecting:  # connects; nothing need listen there
        assert connecting.endpoint == elsewhere
    with aq.Receiver(f"shm://{name}", shm_capacity=1 << 20) as local:
        assert local.endpoint == f"shm://{name}"
    with pytest.raises(aq.Closed):
        _ = local.endpoint
