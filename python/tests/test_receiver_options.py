"""A Receiver's ``endpoint`` (``aq_receiver_endpoint``): a receiver that binds a wildcard port
reports the port it got; one that connects, or a shm:// one, the endpoint it was made with."""

from __future__ import annotations

import numpy as np
import pytest

import arrayqueues_swift as aq
from conftest import free_port, same_bits


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
