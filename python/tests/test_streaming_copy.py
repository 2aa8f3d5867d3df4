"""Copies of AQ_COPY_STREAMING_BYTES and more: aq_copy (streaming stores) in put, get and a
whole loan filled with `slot[...] = array`. Each must be bit-exact at every alignment and
length, and a fill that is not a plain whole copy must keep numpy's meaning."""

from __future__ import annotations

import ctypes
import os
import re

import numpy as np
import pytest

import arrayqueues_swift as aq
from conftest import ROOT, same_bits


def streaming_bytes() -> int:
    """AQ_COPY_STREAMING_BYTES, read from its one definition in the C header."""
    header = (ROOT / "Sources" / "CArrayQueuesC" / "include" / "arrayqueues.h").read_text()
    value, shift = re.search(r"#define AQ_COPY_STREAMING_BYTES \(\(size_t\)(\d+) << (\d+)\)", header).groups()
    return int(value) << int(shift)


STREAMING = streaming_bytes()


def loan_streaming_bytes() -> int:
    """AQ_LOAN_STREAMING_BYTES, read from its one definition in the C header."""
    header = (ROOT / "Sources" / "CArrayQueuesC" / "include" / "arrayqueues.h").read_text()
    value, shift = re.search(r"#define AQ_LOAN_STREAMING_BYTES \(\(size_t\)(\d+) << (\d+)\)", header).groups()
    return int(value) << int(shift)


LOAN_STREAMING = loan_streaming_bytes()


def library() -> ctypes.CDLL:
    lib = ctypes.CDLL(os.path.join(aq._loader.LIBRARY_DIR, "libArrayQueuesC.so"))
    for function in (lib.aq_copy, lib.aq_copy_streaming):
        function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        function.restype = None
    return lib


@pytest.mark.parametrize("function, length", [("aq_copy", STREAMING - 1), ("aq_copy", STREAMING),
                                              ("aq_copy", STREAMING + 200), ("aq_copy_streaming", 0),
                                              ("aq_copy_streaming", 100), ("aq_copy_streaming", 191),
                                              ("aq_copy_streaming", 4096 + 5), ("aq_copy_streaming", LOAN_STREAMING + 1)])
@pytest.mark.parametrize("source_offset, destination_offset", [(0, 0), (1, 0), (33, 63)])
def test_aq_copy_is_memcpy_at_every_alignment_and_length(function, length, source_offset, destination_offset):
    copy = getattr(library(), function)
    source = np.frombuffer(np.random.default_rng(length + 7).bytes(length + 64), np.uint8)
    target = np.full(length + 256, 0xA5, np.uint8)
    copy(target.ctypes.data + 64 + destination_offset, source.ctypes.data + source_offset, length)
    start = 64 + destination_offset
    assert target[start:start + length].tobytes() == source[source_offset:source_offset + length].tobytes()
    assert (target[:start] == 0xA5).all() and (target[start + length:] == 0xA5).all()  # nothing outside


@pytest.mark.parametrize("function", ["aq_copy", "aq_copy_streaming"])
def test_aq_copy_of_overlapping_ranges_is_memmove(function):
    copy = getattr(library(), function)
    data = (np.arange(STREAMING + 4096) % 251).astype(np.uint8)
    expected = data.copy()
    expected[1000:1000 + STREAMING] = data[0:STREAMING]
    copy(data.ctypes.data + 1000, data.ctypes.data, STREAMING)
    assert data.tobytes() == expected.tobytes()
    copy(data.ctypes.data, data.ctypes.data, 0)  # nothing to copy


def big(shape, dtype, offset=0, seed=0):
    """A C-contiguous array of `shape` and `dtype` whose data starts `offset` bytes after an
    aligned address (numpy allows unaligned arrays)."""
    count = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.frombuffer(np.random.default_rng(seed).bytes(count + offset), np.uint8)
    return raw[offset:].view(dtype).reshape(shape)


@pytest.mark.parametrize("offset", [0, 1])
def test_large_put_get_loan_and_borrow_are_bit_exact(name, offset):
    frames = [big((2048, 4096), np.uint16, offset, seed=1),          # exactly the threshold
              big((1031, 2053), np.float64, offset, seed=2)]          # more, with a ragged tail
    capacity = 3 * max(aq.ArrayQueue.record_size(frame.shape, frame.dtype) for frame in frames)
    with aq.ArrayQueue.create(name, capacity) as q:
        for frame in frames:
            assert frame.nbytes >= STREAMING
            q.put(frame, timeout=5)
            assert same_bits(q.get(timeout=5), frame)
            q.put(frame, timeout=5)
            out = np.empty_like(frame)
            assert q.get(timeout=5, out=out) is out and same_bits(out, frame)
            for key in (Ellipsis, slice(None)):
                with q.loan(frame.shape, frame.dtype, timeout=5) as slot:
                    slot[key] = frame
                with q.borrow(timeout=5) as view:
                    assert same_bits(np.array(view), frame)


@pytest.mark.parametrize("offset", [0, 1])
def test_whole_loans_from_the_loan_threshold_on_are_bit_exact(name, offset):
    frames = [big((LOAN_STREAMING // 2,), np.uint16, offset, seed=3),        # exactly the threshold
              big((LOAN_STREAMING // 8 + 3,), np.float64, offset, seed=4)]   # more, with a ragged tail
    capacity = 2 * max(aq.ArrayQueue.record_size(frame.shape, frame.dtype) for frame in frames)
    with aq.ArrayQueue.create(name, capacity) as q:
        for frame in frames:
            assert LOAN_STREAMING <= frame.nbytes < STREAMING
            with q.loan(frame.shape, frame.dtype, timeout=5) as slot:
                slot[...] = frame
            with q.borrow(timeout=5) as view:
                assert same_bits(view, frame)


def test_a_whole_loan_fill_that_is_not_a_plain_copy_keeps_numpys_meaning(name):
    shape = (2048, 4096)
    frame = big(shape, np.uint16, seed=3)
    with aq.ArrayQueue.create(name, 4 * aq.ArrayQueue.record_size(shape, np.uint16)) as q:
        cases = [
            frame[:, ::-1],                                  # not contiguous
            frame.astype(np.float64),                         # another dtype: converted
            frame[:1],                                        # broadcast along the first axis
            np.uint16(513),                                   # a scalar
            frame.astype(">u2"),                              # another byte order: converted
        ]
        for value in cases:
            with q.loan(shape, np.uint16, timeout=5) as slot:
                slot[...] = value
            expected = np.empty(shape, np.uint16)
            expected[...] = value
            with q.borrow(timeout=5) as view:
                assert same_bits(np.array(view), expected)
        with q.loan(shape, np.uint16, timeout=5) as slot:
            with pytest.raises(ValueError):
                slot[...] = frame[:, :100]                    # shapes that do not broadcast
            slot[...] = frame
        with q.borrow(timeout=5) as view:
            assert same_bits(np.array(view), frame)


def test_a_whole_loan_filled_from_a_borrow_of_another_queue_and_after_its_block(name):
    shape = (2048, 4096)
    frame = big(shape, np.uint16, seed=4)
    record = aq.ArrayQueue.record_size(shape, np.uint16)
    with aq.ArrayQueue.create(name, 2 * record) as source, aq.ArrayQueue.create(name + "-b", 2 * record, remove=True) as target:
        source.put(frame, timeout=5)
        with source.borrow(timeout=5) as view:
            with target.loan(shape, np.uint16, timeout=5) as slot:
                slot[...] = view
            kept = view
        assert same_bits(target.get(timeout=5), frame)
        with target.loan(shape, np.uint16, timeout=5) as slot:
            with pytest.raises(aq.ArrayQueuesError):
                slot[...] = kept                               # its block has ended
            slot[...] = 0
        assert (target.get(timeout=5) == 0).all()
