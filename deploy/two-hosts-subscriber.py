"""The Python side of deploy/two-hosts.sh: a plain pyzmq + numpy subscriber (docs/WIRE.md).

usage: two-hosts-subscriber.py ENDPOINT STREAM COUNT SIZE READY_FILE
Touches READY_FILE once a heartbeat proves the subscription, then checks COUNT frames bit for
bit against the demo frame formula (Sources/aq-relay/Demo/Frames.swift) and prints OK COUNT.
"""
import json
import pathlib
import sys

import numpy as np
import zmq

endpoint, stream, count, size, ready_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
MASK = (1 << 64) - 1


def fail(message):
    print(f"FAIL {message}", flush=True)
    sys.exit(1)


def checksum(words):
    """Four-lane multiply-xor hash, exactly as Frames.checksum in Swift."""
    prime = 0x100000001B3
    l0, l1, l2, l3 = 1, 2, 3, 4
    n = len(words)
    i = 0
    while i + 4 <= n:
        l0 = ((l0 ^ words[i]) * prime) & MASK
        l1 = ((l1 ^ words[i + 1]) * prime) & MASK
        l2 = ((l2 ^ words[i + 2]) * prime) & MASK
        l3 = ((l3 ^ words[i + 3]) * prime) & MASK
        i += 4
    while i < n:
        l0 = ((l0 ^ words[i]) * prime) & MASK
        i += 1
    a = (l0 * 31 + l1) & MASK
    b = (l2 * 31 + l3) & MASK
    return ((a * 31 + b) & MASK) ^ n


def expected_frame(number, byte_count):
    """Frame `number` as Frames.fill writes it."""
    words = byte_count // 8
    seed = np.uint64((number * 0xD1B54A32D192ED03) & MASK)
    frame = (np.arange(words, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ seed
    frame[-1] = np.uint64(checksum(frame[:-1].tolist()))
    return frame


socket = zmq.Context().socket(zmq.SUB)
socket.setsockopt(zmq.RCVTIMEO, 60_000)
socket.setsockopt(zmq.RCVHWM, 100_000)
socket.setsockopt(zmq.LINGER, 0)
socket.connect(endpoint)
socket.subscribe(stream.encode())

checked = 0
epoch = None
next_seq = None
while checked < count:
    try:
        topic, header, *payload = socket.recv_multipart(copy=False)
    except zmq.Again:
        fail(f"timed out after {checked} frames")
    h = json.loads(header.bytes)
    if h["proto"] != "arrf/1" or topic.bytes != stream.encode() or h["stream"] != stream:
        fail(f"unexpected message {h}")
    if epoch is None:
        epoch = h["epoch"]
        pathlib.Path(ready_file).touch()
    if h["epoch"] != epoch:
        fail(f"the epoch changed from {epoch} to {h['epoch']}")
    if h["kind"] != "data":
        continue
    if next_seq is not None and h["seq"] != next_seq:
        fail(f"seq {h['seq']} after {next_seq - 1}: frames lost")
    next_seq = h["seq"] + 1
    (a,) = h["arrays"]
    if a["dtype"] != "<u2" or a["shape"] != [size, size] or a["nbytes"] != size * size * 2 or len(payload) != 1:
        fail(f"frame {h.get('index')}: {a}")
    received = np.frombuffer(payload[0].buffer, dtype="<u8")
    if not np.array_equal(received, expected_frame(h["index"], a["nbytes"])):
        fail(f"frame {h['index']} differs from what the producer wrote")
    if h["index"] != checked:
        fail(f"frame {h['index']} arrived as number {checked}")
    checked += 1

print(f"OK {checked}", flush=True)
