"""Sends malformed arrf/1 messages to a Swift PULL receiver, then one valid message.

usage: fuzz.py ENDPOINT COUNT SEED MAX_ARRAYS
Every message but the last breaks at least one rule of docs/WIRE.md, by construction.
Prints SENT <count> when done.
"""
import json
import random
import sys

from arrf_common import encode, header, np, zmq

endpoint, count, seed, max_arrays = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
context = zmq.Context()
socket = context.socket(zmq.PUSH)
socket.setsockopt(zmq.LINGER, 10_000)
socket.setsockopt(zmq.SNDTIMEO, 30_000)
socket.connect(endpoint)

STREAM = "fuzz"
EPOCH = 12345


def valid():
    a = (np.arange(rng.randint(1, 40)) % 2).astype(rng.choice(["<f4", "<u2", "|u1", "<c16", "|b1"]))
    h = header("data", STREAM, EPOCH, rng.randint(0, 10_000), 1_000, [("a", a)], index=1)
    return h, [a.tobytes()]


def first(h):
    return h["arrays"][0]


def spoil_proto(h, p):
    h["proto"] = rng.choice(["arrf/2", "arrf/0", "arrf/17", "arrf/x", "arrf/", "zmtp/1", "", "ARRF/1"])


def spoil_kind(h, p):
    h["kind"] = rng.choice(["pause", "DATA", "", "hb", 1, None])


def drop_key(h, p):
    del h[rng.choice(["proto", "kind", "stream", "epoch", "seq", "t_ns", "arrays"])]


def drop_array_key(h, p):
    del first(h)[rng.choice(["name", "dtype", "shape", "nbytes"])]


def wrong_type(h, p):
    key, value = rng.choice([("seq", "3"), ("epoch", 1.5), ("t_ns", "now"), ("stream", 7), ("arrays", {}),
                             ("meta", [1]), ("index", "x"), ("seq", True), ("epoch", None), ("seq", 1e400)])
    h[key] = value


def wrong_array_type(h, p):
    key, value = rng.choice([("shape", "3"), ("shape", [True]), ("shape", [2.5]), ("dtype", 4), ("nbytes", "8"),
                             ("name", 3), ("shape", None), ("nbytes", 1.5)])
    first(h)[key] = value


def wrong_nbytes(h, p):
    first(h)["nbytes"] += rng.choice([-1, 1, 7, 10 ** 6, -10 ** 6])


def short_payload(h, p):
    p[0] = p[0][:-1]


def long_payload(h, p):
    p[0] = p[0] + b"\0" * rng.randint(1, 64)


def bad_codec(h, p):
    first(h)["codec"] = rng.choice(["zstd", "lz4", "blosc", "", "RAW", None])


def bad_order(h, p):
    first(h)["order"] = rng.choice(["F", "A", "", None])


def bad_dtype(h, p):
    first(h)["dtype"] = rng.choice([">f4", ">i8", "|O", "|V8", "<f16", "<U4", "float32", "", "<c32", "<m8"])


def negative_extent(h, p):
    first(h)["shape"] = [rng.randint(1, 5), -rng.randint(1, 9)]


def too_many_dims(h, p):
    first(h)["shape"] = [1] * rng.randint(33, 64)


def overflow_shape(h, p):
    first(h)["shape"] = [2 ** 40, 2 ** 40, 2 ** rng.randint(20, 40)]


def huge_shape(h, p):
    first(h)["shape"] = [2 ** 62, 2 ** 62]


def zero_epoch(h, p):
    h["epoch"] = rng.choice([0, -5])


def negative_seq(h, p):
    h["seq"] = rng.choice([-1, -2, -10 ** 12])


def control_with_arrays(h, p):
    h["kind"] = rng.choice(["heartbeat", "end"])


def duplicate_key(h, p):
    raise Duplicate


def deep_meta(h, p):
    depth = rng.randint(65, 2000)
    h["meta"] = "DEEP"
    raise Deep(depth)


def oversized_header(h, p):
    h["meta"] = {"pad": "p" * rng.randint(66_000, 90_000)}


class Duplicate(Exception):
    pass


class Deep(Exception):
    def __init__(self, depth):
        self.depth = depth


HEADER_SPOILERS = [spoil_proto, spoil_kind, drop_key, drop_array_key, wrong_type, wrong_array_type, wrong_nbytes,
                   short_payload, long_payload, bad_codec, bad_order, bad_dtype, negative_extent, too_many_dims,
                   overflow_shape, huge_shape, zero_epoch, negative_seq, control_with_arrays, duplicate_key,
                   deep_meta, oversized_header]


def spoiled_header_message():
    h, payloads = valid()
    spoiler = rng.choice(HEADER_SPOILERS)
    try:
        spoiler(h, payloads)
        text = encode(h)
    except Duplicate:
        text = encode(h)[:-1] + b',"seq":' + str(h["seq"]).encode() + b"}"
    except Deep as deep:
        text = json.dumps(h, separators=(",", ":")).replace('"DEEP"', "[" * deep.depth + "]" * deep.depth).encode()
    return [STREAM.encode(), text] + payloads


def frame_level_message():
    h, payloads = valid()
    text = encode(h)
    choice = rng.randrange(9)
    if choice == 0:    # truncated JSON: any strict prefix of an object is invalid
        return [STREAM.encode(), text[:rng.randrange(len(text) - 1)]] + payloads
    if choice == 1:    # random bytes that start with a character no JSON value starts with
        return [STREAM.encode(), b"}" + rng.randbytes(rng.randint(0, 200))] + payloads
    if choice == 2:    # invalid UTF-8 inside a string
        return [STREAM.encode(), text.replace(b'"a"', b'"\xff\xfe"')] + payloads
    if choice == 3:    # topic only
        return [STREAM.encode()]
    if choice == 4:    # missing payload frame
        return [STREAM.encode(), text]
    if choice == 5:    # extra payload frames
        return [STREAM.encode(), text] + payloads * rng.randint(2, 3)
    if choice == 6:    # too many frames
        return [STREAM.encode(), text] + [b"x"] * (max_arrays + rng.randint(1, 20))
    if choice == 7:    # topic does not match the stream
        return [b"other" + rng.randbytes(2).hex().encode(), text] + payloads
    # topic not UTF-8
    return [b"\xff" + STREAM.encode(), text] + payloads


for n in range(count):
    frames = spoiled_header_message() if n % 3 else frame_level_message()
    socket.send_multipart(frames)

h, payloads = valid()
h["meta"] = {"final": True}
socket.send_multipart([STREAM.encode(), encode(h)] + payloads)
print("SENT", count, flush=True)
socket.close()
context.term()
