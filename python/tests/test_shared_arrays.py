"""arrayqueues_swift.shared_arrays: the original arrayqueues API and semantics, and its fixed defects."""

from __future__ import annotations

import datetime
import multiprocessing
import queue
import time

import numpy as np
import pytest

from arrayqueues_swift import shared_arrays


def test_put_raises_full_and_get_raises_empty_as_the_original():
    q = shared_arrays.ArrayQueue(0.01)  # 10 kB
    with pytest.raises(queue.Empty):
        q.get(block=False)
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    block = np.zeros(3000, np.uint8)
    with pytest.raises(queue.Full):
        for _ in range(100):
            q.put(block)
    assert 3 <= q.qsize() < 100 and not q.empty()
    q.clear()
    assert q.empty() and q.qsize() == 0
    q.close()


def test_a_queue_with_room_for_one_array_does_not_deadlock():
    q = shared_arrays.ArrayQueue(0.004)  # exactly one 4000-byte array
    for value in range(5):
        q.put(np.full(4000, value, np.uint8))
        assert (q.get(timeout=5) == value).all()
    q.close()


def test_get_result_is_not_overwritten_by_later_puts():
    q = shared_arrays.ArrayQueue(0.02)
    q.put(np.full(1000, 1, np.uint8))
    first = q.get(timeout=5)
    for value in range(2, 60):
        q.put(np.full(1000, value, np.uint8))
        q.get(timeout=5)
    assert (first == 1).all()
    q.close()


def test_a_shape_change_resets_the_queue_cleanly_and_counts_it():
    q = shared_arrays.ArrayQueue(1)
    q.put(np.ones((2, 2)))
    q.put(np.ones((2, 2)))
    q.put(np.full((3,), 7, np.int16))
    assert q.qsize() == 1
    assert (q.get(timeout=5) == 7).all()
    stats = q.statistics()
    assert (stats.resets, stats.drops) == (1, 2)
    q.close()


def test_timestamped_returns_timestamp_then_array():
    q = shared_arrays.TimestampedArrayQueue(1)
    when = datetime.datetime(2025, 5, 6, 7, 8, 9, 123456)
    q.put(np.arange(4), when)
    before = datetime.datetime.now()
    q.put(np.arange(4))
    stamp, array = q.get(timeout=5)
    assert stamp == when and (array == np.arange(4)).all()
    stamp, _ = q.get(timeout=5)
    assert abs((stamp - before).total_seconds()) < 60
    q.close()


def test_indexed_numbers_records_from_zero_and_returns_timestamp_index_array():
    q = shared_arrays.IndexedArrayQueue(1)
    for value in range(3):
        q.put(np.full(2, value))
    got = [q.get(timeout=5) for _ in range(3)]
    assert [index for _, index, _ in got] == [0, 1, 2]
    assert all(isinstance(stamp, datetime.datetime) for stamp, _, _ in got)
    assert [int(array[0]) for _, _, array in got] == [0, 1, 2]
    assert q.counter == 3
    q.close()


@pytest.mark.parametrize("cls", [shared_arrays.TimestampedArrayQueue, shared_arrays.IndexedArrayQueue])
def test_a_timestamp_comes_back_as_the_type_it_was_put_with(cls):
    q = cls(1)
    when = datetime.datetime(2025, 5, 6, 7, 8, 9, 123456)
    seconds = time.time()
    stamps = [when, seconds, int(seconds), -5, None, np.float64(seconds), np.int64(7)]
    for stamp in stamps:
        q.put(np.arange(3), stamp)
    got = [q.get(timeout=5)[0] for _ in stamps]
    assert got[0] == when
    assert isinstance(got[1], float) and abs(got[1] - seconds) < 1e-6
    assert got[2] == int(seconds) and type(got[2]) is int
    assert got[3] == -5
    assert isinstance(got[4], datetime.datetime)
    assert type(got[5]) is float and abs(got[5] - seconds) < 1e-6  # numpy numbers as Python's
    assert type(got[6]) is int and got[6] == 7
    assert abs(time.time() - got[1]) < 60  # what the original's users compute
    with pytest.raises(TypeError):
        q.put(np.arange(3), "yesterday")
    q.close()


def test_timestamps_outside_int64_nanoseconds_or_nan_raise_as_documented():
    q = shared_arrays.TimestampedArrayQueue(0.1)
    for stamp in (datetime.datetime(1677, 9, 20), datetime.datetime(2262, 4, 12), 1e10, float("inf"), 2**63):
        with pytest.raises(OverflowError):
            q.put(np.zeros(1), stamp)
    with pytest.raises(ValueError):
        q.put(np.zeros(1), float("nan"))
    inside = datetime.datetime(1677, 9, 22)
    q.put(np.zeros(1), inside)
    assert q.get(timeout=5)[0] == inside and q.empty()
    q.close()


def test_a_non_native_byte_order_is_put_as_the_same_values():
    q = shared_arrays.ArrayQueue(1)
    swapped = np.arange(5, dtype=np.float64).astype(np.dtype(np.float64).newbyteorder("S"))
    q.put(swapped)
    back = q.get(timeout=5)
    assert back.dtype.isnative and back.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    q.close()


@pytest.mark.parametrize("max_mbytes", [-1, 0, -0.5, float("nan")])
def test_a_max_mbytes_that_is_not_positive_raises_value_error(max_mbytes):
    # The original's multiprocessing.Array("c", negative) raises ValueError too.
    with pytest.raises(ValueError):
        shared_arrays.ArrayQueue(max_mbytes)


def test_max_mbytes_is_the_capacity_in_millions_of_bytes():
    q = shared_arrays.ArrayQueue(max_mbytes=2)
    assert q.maxbytes == 2_000_000 and q._queue.capacity >= 2_000_000
    q.put(np.zeros(2_000_000, np.uint8))
    q.close()


@pytest.mark.parametrize("max_mbytes", [0.05, 1])
@pytest.mark.parametrize("shape, dtype", [((4096,), np.uint8), ((4097,), np.uint8), ((10_000,), np.uint8),
                                          ((64, 64, 3), np.float32), ((3, 50, 50), np.uint16), ((1, 1, 5000), np.int64)])
def test_as_many_arrays_of_4_kib_or_more_fit_as_in_the_original(max_mbytes, shape, dtype):
    """Records take a header and padding beyond the array; the ring's allowance makes up for
    it from 4 KiB on. The original holds max_mbytes * 10**6 // nbytes arrays."""
    q = shared_arrays.ArrayQueue(max_mbytes)
    array = np.zeros(shape, dtype)
    fitted = 0
    with pytest.raises(queue.Full):
        for fitted in range(1, 10_000):
            q.put(array)
    assert fitted - 1 >= int(max_mbytes * 1_000_000) // array.nbytes
    q.close()


def _produce(q, producer, count):
    deadline = time.monotonic() + 60
    for number in range(count):
        array = np.full(256, producer * 1_000_000 + number, np.int64)
        while True:
            try:
                q.put(array)  # raises queue.Full instead of waiting, as the original
                break
            except queue.Full:
                assert time.monotonic() < deadline, "the consumers stopped taking arrays"
                time.sleep(0.001)


def _consume(q, results, count):
    for _ in range(count):
        _, index, array = q.get(timeout=60)
        assert (array == array[0]).all()  # never a torn or overwritten array
        results.put((index, int(array[0])))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_several_producers_and_consumers_deliver_every_array_once(method):
    context = multiprocessing.get_context(method)
    q = shared_arrays.IndexedArrayQueue(0.05)  # room for ~20 arrays: producers meet Full often
    results = context.Queue()
    producers, consumers, per_producer = 2, 2, 150
    total = producers * per_producer
    workers = [context.Process(target=_produce, args=(q, p, per_producer)) for p in range(producers)]
    workers += [context.Process(target=_consume, args=(q, results, total // consumers)) for _ in range(consumers)]
    for worker in workers:
        worker.start()
    got = [results.get(timeout=120) for _ in range(total)]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    values = sorted(value for _, value in got)
    assert values == sorted(p * 1_000_000 + n for p in range(producers) for n in range(per_producer))
    assert sorted(index for index, _ in got) == list(range(total))
    q.close()
