"""Swift's `aq` tool and Python exchange every dtype, bit-exact, through one queue, both ways."""

from __future__ import annotations

import numpy as np
import pytest

import arrayqueues_swift as aq
from conftest import DTYPES, run, same_bits, sample, tool


@pytest.mark.parametrize("dtype", DTYPES)
def test_python_to_swift(name, dtype, tmp_path):
    array = sample(dtype, (4, 3, 2), seed=1)
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put(array, index=12)
        run(tool("aq"), "get", name, "--count", "1", "--out-dir", str(tmp_path), "--timeout", "10")
        (saved,) = tmp_path.glob("*.npy")
        assert same_bits(np.load(saved), array)
        assert q.empty()


@pytest.mark.parametrize("dtype", DTYPES)
def test_swift_to_python(name, dtype, tmp_path):
    array = sample(dtype, (5, 2), seed=2)
    np.save(tmp_path / "in.npy", array)
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        run(tool("aq"), "put", name, str(tmp_path / "in.npy"), "--repeat", "2", "--index", "40")
        first, second = q.get_record(timeout=10), q.get_record(timeout=10)
        assert same_bits(first.array, array) and same_bits(second.array, array)
        assert (first.index, second.index) == (40, 41)
