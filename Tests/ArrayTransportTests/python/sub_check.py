"""Subscribes to a Swift publisher and checks every array bit for bit.

usage: sub_check.py ENDPOINT COUNT
Prints READY once the subscription carries messages, then OK <count> after the end message.
"""
import json
import sys

from arrf_common import DTYPES, T_NS_BASE, fail, np, pattern_array, zmq

endpoint, expected = sys.argv[1], int(sys.argv[2])
context = zmq.Context()
socket = context.socket(zmq.SUB)
socket.setsockopt(zmq.RCVTIMEO, 30_000)
socket.setsockopt(zmq.LINGER, 0)
socket.connect(endpoint)
socket.subscribe(b"interop")

ready = False
checked = 0
epoch = None
first_seq = None
while True:
    try:
        frames = socket.recv_multipart(copy=False)
    except zmq.Again:
        fail(f"timed out after {checked} messages")
    topic, header_frame, payload = frames[0], frames[1], frames[2:]
    h = json.loads(header_frame.bytes)
    if h["proto"] != "arrf/1" or topic.bytes != h["stream"].encode():
        fail(f"bad proto or topic: {h}")
    if epoch is None:
        epoch = h["epoch"]
    if h["epoch"] != epoch or not (0 < epoch < 2 ** 53):
        fail(f"epoch changed or out of range: {h['epoch']}")
    if not ready:
        ready = True
        print("READY", flush=True)
    if h["kind"] == "heartbeat":
        if not isinstance(h["seq"], int):
            fail(f"heartbeat seq is not an integer: {h}")
        continue
    if h["kind"] == "end":
        if h["seq"] != first_seq + checked - 1:
            fail(f"end carries seq {h['seq']}, expected {first_seq + checked - 1}")
        break
    meta = h["meta"]
    if meta.get("phase") == "warmup":
        continue
    i = meta["i"]
    if first_seq is None:
        first_seq = h["seq"] - i
    if h["seq"] != first_seq + i or h["index"] != i or h["t_ns"] != T_NS_BASE + i:
        fail(f"message {i}: seq {h['seq']}, index {h.get('index')}, t_ns {h['t_ns']}")
    if len(payload) != len(h["arrays"]):
        fail(f"message {i}: {len(payload)} payload frames for {len(h['arrays'])} arrays")
    if meta.get("kind") == "values":
        values = {a["name"]: np.frombuffer(f.buffer, dtype=a["dtype"]).reshape(a["shape"]) for a, f in zip(h["arrays"], payload)}
        checks = {
            "f8": values["f8"].tolist() == [0.5, -2.25, 1e300, -0.0] and np.signbit(values["f8"][3]),
            "i4": values["i4"].tolist() == [-1, 2, 2147483647],
            "c16": values["c16"].tolist() == [complex(1, 2), complex(-0.5, 3)],
            "u2": values["u2"].tolist() == [65535, 0],
            "b1": values["b1"].tolist() == [True, False],
            "f2": values["f2"].tolist() == [1.5, -2.0],
            "m": values["m"].shape == (2, 3) and values["m"].tolist() == [[1, 2, 3], [4, 5, 6]],
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            fail(f"typed values differ: {bad}: {values}")
    else:
        if meta.get("nested") != {"list": [1, 2.5, "x"], "big": 2 ** 62} or meta.get("text") != "ünïcødé ✓":
            fail(f"message {i}: meta {meta}")
        for j, (a, frame) in enumerate(zip(h["arrays"], payload)):
            if a["dtype"] != DTYPES[j % len(DTYPES)] or a["codec"] != "raw" or a["order"] != "C":
                fail(f"message {i} array {j}: {a}")
            received = np.frombuffer(frame.buffer, dtype=a["dtype"]).reshape(a["shape"])
            expected_array = pattern_array(a["dtype"], tuple(a["shape"]), i, j)
            if a["nbytes"] != received.nbytes or received.tobytes() != expected_array.tobytes():
                fail(f"message {i} array {j} ({a['dtype']} {a['shape']}) differs")
    checked += 1

if checked != expected:
    fail(f"checked {checked} messages, expected {expected}")
print(f"OK {checked}", flush=True)
