"""Shared helpers of the arrayqueues_swift tests.

The tests use the installed package (``scripts/test`` installs ``./python`` into
``.venv-test``), and the Swift executables ``aq`` and ``aq-relay`` built at the repository
root (``.build/debug``, or the directory in ``AQ_BIN_DIR``). Every wait is bounded: each call
that waits has a timeout, and pytest-timeout stops a test that runs too long anyway.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Every dtype a queue carries, with values that exercise it (extremes, NaN, infinities, signs).
DTYPES = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"]


def sample(dtype: str, shape=(3, 5), seed: int = 0) -> np.ndarray:
    """Deterministic values of `dtype`, with the dtype's extremes and (for floats) NaN and infinities."""
    generator = np.random.default_rng(seed)
    count = int(np.prod(shape))
    kind = np.dtype(dtype)
    if kind == np.bool_:
        values = generator.integers(0, 2, count).astype(bool)
    elif kind.kind in "iu":
        info = np.iinfo(kind)
        values = generator.integers(info.min, info.max, count, dtype=kind, endpoint=True)
        values[: min(2, count)] = [info.min, info.max][: min(2, count)]
    elif kind.kind == "f":
        values = (generator.standard_normal(count) * 1000).astype(kind)
        values[: min(4, count)] = [np.nan, np.inf, -np.inf, -0.0][: min(4, count)]
    else:
        values = (generator.standard_normal(count) + 1j * generator.standard_normal(count)).astype(kind)
        values[:1] = [complex(np.nan, np.inf)][: min(1, count)]
    return values.reshape(shape)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (NaN payloads included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.fixture
def name(request):
    """A unique queue name, removed after the test if the test left it."""
    import arrayqueues_swift as aq

    queue_name = f"pytest-{os.getpid()}-{secrets.token_hex(4)}"
    yield queue_name
    try:
        aq.ArrayQueue.remove(queue_name)
    except aq.QueueNotFound:
        pass


def tool(executable: str) -> str:
    """The path of a Swift executable of this repository (fails the test if it was not built)."""
    directory = Path(os.environ.get("AQ_BIN_DIR", ROOT / ".build" / "debug"))
    path = directory / executable
    if not path.exists():
        found = shutil.which(executable)
        if found:
            return found
        pytest.fail(f"{path} does not exist: build it first (swift build --product {executable}), or set AQ_BIN_DIR")
    return str(path)


def run(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess:
    done = subprocess.run(arguments, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(arguments)} exited with {done.returncode}: {done.stderr}"
    return done


def free_port() -> int:
    """A port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def eventually(read, condition, within=10.0):
    """The last of ``read()``'s results, looked at every 20 ms until ``condition`` holds of one or
    ``within`` seconds passed."""
    deadline = time.monotonic() + within
    value = read()
    while not condition(value) and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value
