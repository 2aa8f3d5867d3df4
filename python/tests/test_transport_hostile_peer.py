"""A Receiver bound on tcp against a hostile peer: a raw ZMTP 3.0 PUSH (NULL mechanism, Python's
socket module alone) that starts a message and never ends it. The receiver must cut it, count
it in ``statistics()["peers_dropped"]`` and still receive from a real Sender afterwards (docs/
RELIABILITY.md, "a message that never ends"). The same check from C:
Tests/ArrayQueuesCTests/c/hostile_peer_test.c, whose handshake bytes these are."""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

import numpy as np

import arrayqueues_swift as aq
from conftest import free_port, same_bits

# Greeting: signature, version 3.0, mechanism NULL (padded to 20 bytes), as-server 0, filler.
GREETING = bytes([0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0]) + b"NULL".ljust(20, b"\0") + bytes(32)
# READY (a short command of 26 bytes) with the one property Socket-Type = PUSH.
READY = bytes([0x04, 26, 5]) + b"READY" + bytes([11]) + b"Socket-Type" + struct.pack(">I", 4) + b"PUSH"
FRAME = 64 << 10
FIRST = bytes([0x01, 1]) + b"x"  # a one-byte frame flagged MORE
ENDLESS = bytes([0x03]) + struct.pack(">Q", FRAME) + bytes([0xAB]) * FRAME  # MORE | LONG, 64 KiB


def _bind_receiver() -> tuple[aq.Receiver, str]:
    """A pulling Receiver bound to a loopback port that takes messages of at most 1 MiB (the
    guard's bound for a message that does not end is a message of that size)."""
    for attempt in range(5):  # the port may be taken between the probe and the bind
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        try:
            return aq.Receiver(endpoint, role="bind", fast_path="disabled", maximum_message_bytes=1 << 20), endpoint
        except aq.ZMQError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


class _Flood(threading.Thread):
    """The hostile peer: connects, does the ZMTP handshake as a PUSH, then sends one frame
    flagged MORE and 64 KiB frames flagged MORE until stopped, cut off, or 1 GiB is sent."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.handshake_ok = False
        self.frames_sent = 0
        self.outcome = "not started"  # then "stopped", "cut", "sent everything" or "no handshake: ..."

    def _send_all(self, connection: socket.socket, data: bytes) -> bool:
        """Sends all of `data`, looking at `stop` every 50 ms: False once stopped."""
        view = memoryview(data)
        while view:
            if self.stop.is_set():
                return False
            _, writable, _ = select.select([], [connection], [], 0.05)
            if writable:
                try:
                    view = view[connection.send(view):]
                except BlockingIOError:
                    pass
        return True

    @staticmethod
    def _read_exactly(connection: socket.socket, count: int, deadline: float) -> bytes:
        data = b""
        while len(data) < count:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([connection], [], [], max(0.0, left))
            if not readable:
                raise TimeoutError(f"read {len(data)} of {count} bytes of the receiver's handshake in 10 s")
            chunk = connection.recv(count - len(data))
            if not chunk:
                raise ConnectionError("the receiver closed the connection during the handshake")
            data += chunk
        return data

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as connection:
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connection.setblocking(False)
                try:
                    deadline = time.monotonic() + 10
                    if not (self._send_all(connection, GREETING) and self._send_all(connection, READY)):
                        self.outcome = "stopped"
                        return
                    greeting = self._read_exactly(connection, 64, deadline)
                    command = self._read_exactly(connection, 2, deadline)
                    ready = self._read_exactly(connection, command[1], deadline)
                    if greeting[0] != 0xFF or greeting[10] != 3 or command[0] != 0x04 or not ready.startswith(b"\x05READY"):
                        raise ConnectionError(f"unexpected handshake: {greeting[:12].hex()} {command.hex()} {ready[:8]!r}")
                except (OSError, TimeoutError) as problem:
                    self.outcome = f"no handshake: {problem}"
                    return
                self.handshake_ok = True
                try:
                    if not self._send_all(connection, FIRST):
                        self.outcome = "stopped"
                        return
                    while self.frames_sent < (1 << 30) // FRAME:
                        if not self._send_all(connection, ENDLESS):
                            self.outcome = "stopped"
                            return
                        self.frames_sent += 1
                    self.outcome = "sent everything"
                except OSError:  # reset or broken pipe: the receiver cut the connection
                    self.outcome = "cut"
        except OSError as problem:
            self.outcome = f"no handshake: {problem}"


def test_a_raw_peer_that_never_ends_its_message_is_counted_in_peers_dropped_and_a_sender_still_gets_through():
    """A raw ZMTP PUSH that sends frames flagged "more" without end makes libzmq hold its
    unfinished message; the receiver's guard (run by each receive call, and between calls by its
    housekeeping thread) must cut the connection and count it in peers_dropped (from Python it
    was only ever seen at 0), and a
    real Sender connecting afterwards must still get its message through."""
    receiver, endpoint = _bind_receiver()
    flood = _Flood(int(endpoint.rsplit(":", 1)[1]))
    try:
        assert receiver.statistics()["peers_dropped"] == 0
        flood.start()
        deadline = time.monotonic() + 60
        statistics = receiver.statistics()
        while statistics["peers_dropped"] == 0 and time.monotonic() < deadline and flood.is_alive():
            message = receiver.receive(timeout=0.1, events=True)
            assert message is None, f"the endless message was delivered: {message}"
            statistics = receiver.statistics()
    finally:
        flood.stop.set()
        flood.join(10)
    assert not flood.is_alive(), "the hostile peer did not stop in 10 s"
    report = f"handshake {flood.handshake_ok}, {flood.frames_sent} frames of 64 KiB sent, outcome {flood.outcome!r}"
    assert flood.handshake_ok, report
    assert flood.outcome in ("stopped", "cut"), report  # "sent everything": 1 GiB and never cut
    assert statistics["peers_dropped"] >= 1, report
    assert (statistics["received"], statistics["malformed"]) == (0, 0), report

    tile = (np.arange(256, dtype=np.int32) * 7 - 100).reshape(16, 16)
    try:
        with aq.Sender(endpoint, stream="legitimate", role="connect", send_timeout=20) as sender:
            assert sender.send({"tile": tile}, index=41) == 0
            message = receiver.receive(timeout=20)
        assert message is not None, "the legitimate sender's message did not arrive in 20 s"
        assert (message.kind, message.stream, message.index, list(message.arrays)) == ("data", "legitimate", 41, ["tile"])
        assert same_bits(message["tile"], tile)
        statistics = receiver.statistics()
        assert (statistics["received"], statistics["lost"], statistics["malformed"]) == (1, 0, 0)
        assert statistics["peers_dropped"] >= 1
    finally:
        receiver.close()
