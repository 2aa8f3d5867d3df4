"""``zero_copy_receive`` of Receiver (the C interface's ``zero_copy_receive``, version 4 of
``aq_receiver_options``): a receiver whose ZeroMQ context receives with libzmq's zero-copy gets
messages of 40 B (a frame that is copied either way), 64 KiB and 1 MiB intact over tcp while it
holds every message received before; ``shm://`` ignores it."""

from __future__ import annotations

import numpy as np

import arrayqueues_swift as aq
from conftest import same_bits

SIZES = (40, 64 << 10, 1 << 20)


def _payload(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)


def test_zero_copy_receive_keeps_held_messages_intact():
    with aq.Sender("tcp://127.0.0.1:*", stream="s", fast_path="disabled", send_timeout=10) as sender, \
            aq.Receiver(sender.endpoint, fast_path="disabled", zero_copy_receive=True) as receiver:
        sent, held = [], []
        for _ in range(3):  # later messages arrive while the earlier ones are held
            for size in SIZES:
                payload = _payload(size, len(sent))
                sender.send(payload, index=len(sent))
                sent.append(payload)
            for _size in SIZES:
                message = receiver.receive(timeout=10)
                assert message is not None
                held.append(message)
        assert [message.index for message in held] == list(range(len(sent)))
        for message, payload in zip(held, sent):
            assert same_bits(message.array, payload), (message.index, payload.nbytes)
        assert receiver.statistics()["lost"] == 0


def test_zero_copy_receive_is_ignored_for_shared_memory(name):
    endpoint = f"shm://{name}"
    with aq.Receiver(endpoint, shm_capacity=8 << 20, zero_copy_receive=True) as receiver, \
            aq.Sender(endpoint, stream="s") as sender:
        payload = _payload(1 << 20, 1)
        sender.send(payload)
        message = receiver.receive(timeout=10)
        assert message is not None and same_bits(message.array, payload)
