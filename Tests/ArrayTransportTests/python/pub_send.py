"""Publishes arrays for a Swift subscriber.

usage: pub_send.py COUNT
Binds a PUB socket on loopback and prints ENDPOINT <address>. Sends heartbeats until a line GO
arrives on standard input, then COUNT data messages (every dtype, pattern payloads), one message
of typed values, and an end message. Prints SENT <count> and waits for DONE (or EOF) before exiting.
"""
import select
import sys
import time

from arrf_common import DTYPES, T_NS_BASE, encode, fail, header, np, pattern_array, zmq

count = int(sys.argv[1])
context = zmq.Context()
socket = context.socket(zmq.PUB)
socket.setsockopt(zmq.LINGER, 5000)
socket.bind("tcp://127.0.0.1:*")
print("ENDPOINT", socket.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)

stream = "pyinterop"
epoch = 4_503_599_627_370_495  # 2**52 - 1: large, and exact as a double
deadline = time.monotonic() + 30
while True:
    socket.send_multipart([stream.encode(), encode(header("heartbeat", stream, epoch, -1, time.time_ns()))])
    readable, _, _ = select.select([sys.stdin], [], [], 0.02)
    if readable and sys.stdin.readline().strip() == "GO":
        break
    if time.monotonic() > deadline:
        fail("no GO from the Swift subscriber within 30 s")

shapes = [(), (0,), (3, 5), (7, 11, 2), (64, 130)]
for i in range(count):
    arrays = [(f"a{j}", pattern_array(DTYPES[j], shapes[(i + j) % len(shapes)], i, j)) for j in range(len(DTYPES))]
    meta = {"i": i, "nested": {"list": [1, 2.5, "x"], "big": 2 ** 62}, "text": "ünïcødé ✓"}
    h = header("data", stream, epoch, i, T_NS_BASE + i, arrays, index=i, meta=meta)
    # Flat views of the arrays' own memory: pyzmq sends them without copying.
    socket.send_multipart([stream.encode(), encode(h)] + [a.reshape(-1) for _, a in arrays], copy=False)

values = [
    ("f8", np.array([0.5, -2.25, 1e300, -0.0], dtype="<f8")),
    ("i4", np.array([-1, 2, 2147483647], dtype="<i4")),
    ("c16", np.array([1 + 2j, -0.5 + 3j], dtype="<c16")),
    ("u2", np.array([65535, 0], dtype="<u2")),
    ("b1", np.array([True, False])),
    ("f2", np.array([1.5, -2.0], dtype="<f2")),
    ("m", np.array([[1, 2, 3], [4, 5, 6]], dtype="<i8")),
]
h = header("data", stream, epoch, count, T_NS_BASE + count, values, index=count, meta={"kind": "values", "i": count})
socket.send_multipart([stream.encode(), encode(h)] + [a for _, a in values])
socket.send_multipart([stream.encode(), encode(header("end", stream, epoch, count, time.time_ns()))])
print("SENT", count + 1, flush=True)

readable, _, _ = select.select([sys.stdin], [], [], 30)
socket.close()
context.term()
