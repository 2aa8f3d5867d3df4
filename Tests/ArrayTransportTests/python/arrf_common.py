"""Shared by the interop scripts: imports, deterministic payloads, arrf/1 headers.

The payload formula matches patternByte() in Tests/ArrayTransportTests/Support.swift.
"""
import json
import sys

try:
    import numpy as np
    import zmq
except ImportError as error:  # the Swift test reports this; never skip silently
    print(f"interop: cannot import {error.name}: install it with "
          f"'python3 -m pip install pyzmq numpy' (scripts/bootstrap does this)", file=sys.stderr)
    sys.exit(3)

# Same order as interopDTypes in Support.swift.
DTYPES = ["|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8", "<c8", "<c16"]
T_NS_BASE = 1_764_028_800_123_456_789


def pattern_bytes(message, array, nbytes):
    k = np.arange(nbytes, dtype=np.int64)
    return ((k * 131 + message * 7 + array * 13 + 1) % 251).astype(np.uint8)


def pattern_array(dtype, shape, message, array):
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    raw = pattern_bytes(message, array, count * dtype.itemsize)
    return np.frombuffer(raw.tobytes(), dtype=dtype).reshape(shape)


def header(kind, stream, epoch, seq, t_ns, arrays=(), index=None, meta=None):
    h = {"proto": "arrf/1", "kind": kind, "stream": stream, "epoch": epoch, "seq": seq, "t_ns": t_ns,
         "arrays": [{"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "order": "C",
                     "nbytes": a.nbytes, "codec": "raw"} for name, a in arrays],
         "meta": meta or {}}
    if index is not None:
        h["index"] = index
    return h


def encode(h):
    return json.dumps(h, separators=(",", ":")).encode()


def decode(topic, header_frame, payload_frames):
    h = json.loads(bytes(header_frame))
    arrays = [np.frombuffer(memoryview(f), dtype=a["dtype"]).reshape(a["shape"])
              for a, f in zip(h.get("arrays", []), payload_frames)]
    return h, arrays


def fail(message):
    print(f"FAIL {message}", flush=True)
    print(message, file=sys.stderr)
    sys.exit(1)
