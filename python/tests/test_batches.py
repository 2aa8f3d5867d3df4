"""Batches from Python (issue 16): put_many and get_many over aq_queue_put_many / get_many."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest

import arrayqueues_swift as aq
from conftest import same_bits, sample


def test_put_many_then_get_many_in_order(name):
    batch = sample("int32", (100, 16), seed=1)
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        assert q.put_many(batch) == 100
        assert q.qsize() == 100
        got = []
        while len(got) < 100:
            arrays = q.get_many(64, timeout=5)
            assert 1 <= len(arrays) <= 64
            got.extend(arrays)
        assert all(same_bits(array, row) for array, row in zip(got, batch))
        # Arrays the caller owns: writing one leaves the others alone.
        got[0][...] = -1
        assert all(same_bits(array, row) for array, row in zip(got[1:], batch[1:]))
        assert q.empty()
        q.put(batch[7])
        (only,) = q.get_many(10, timeout=5)
        assert same_bits(only, batch[7])
        with pytest.raises(aq.Empty):
            q.get_many(10, timeout=0)
        with pytest.raises(aq.GetTimeout):
            q.get_many(10, timeout=0.01)


def test_get_many_takes_records_put_one_by_one_of_several_shapes(name):
    arrays = [sample("float64", (n, 3), seed=n) for n in range(1, 8)] + [sample("uint8", (200_000,), seed=9)]
    with aq.ArrayQueue.create(name, 4 << 20) as q:
        for array in arrays:
            q.put(array)
        got = []
        while len(got) < len(arrays):
            got.extend(q.get_many(100, timeout=5))
        # Each is a separate array the caller owns: writing one leaves the others alone.
        got[0][...] = 0
        assert all(same_bits(a, b) for a, b in zip(got[1:], arrays[1:]))
        assert same_bits(got[-1], arrays[-1])


def test_put_many_accepts_a_list_and_stops_when_full(name):
    with aq.ArrayQueue.create(name, 64 << 10) as q:
        rows = [np.full(1000, i, np.uint8) for i in range(200)]
        put = q.put_many(rows, timeout=0)
        assert 0 < put < 200 and q.qsize() == put
        with pytest.raises(aq.Full):
            q.put_many(rows[put:], timeout=0)
        with pytest.raises(aq.PutTimeout):
            q.put_many(rows[put:], timeout=0.01)
        first = q.get_many(put, timeout=1)
        assert [int(array[0]) for array in first] == list(range(len(first)))
        assert q.put_many(np.empty((0, 4), np.int8)) == 0
        with pytest.raises(aq.InvalidShape):
            q.put_many(np.int32(3))
        with pytest.raises(ValueError):
            q.get_many(0)


def test_get_many_returns_what_it_took_before_an_error_then_raises_it(name):
    """A record whose shape and size disagree (as another user writing the segment could make
    it) met in the middle of a batch: the records taken before it are returned, the error comes
    with the next call, and the records after it are still delivered; nothing is lost."""
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        for value in range(3):
            q.put(np.full(64, value, dtype=np.uint8))
        # Records of 64 bytes and one dimension take 192 bytes of the ring (a 64-byte header, the
        # shape padded to 128, the payload): the second one's extent is at 4096 + 192 + 64.
        with open(f"/dev/shm/aq.{name}", "r+b") as segment:
            segment.seek(4096 + 192 + 64)
            assert int.from_bytes(segment.read(8), "little") == 64
            segment.seek(4096 + 192 + 64)
            segment.write((32).to_bytes(8, "little"))
        got = [int(array[0]) for array in q.get_many(10, timeout=5)]
        assert got[0] == 0
        with pytest.raises(aq.CorruptSegment):
            q.get_many(10, timeout=5)
        if not q.empty():
            got += [int(array[0]) for array in q.get_many(10, timeout=5)]
        assert got == [0, 2]
        assert q.empty()


@pytest.mark.parametrize("reader", ["get", "get_record", "borrow"])
def test_the_error_get_many_kept_is_raised_by_the_next_read_of_any_kind(name, reader):
    """The error get_many met after it had taken records is raised by the handle's next read,
    whichever it is, then forgotten; the records after it still come. (get and borrow neither
    raised nor cleared it, so a later get_many raised an error long past.)"""
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        for value in range(3):
            q.put(np.full(64, value, dtype=np.uint8))
        with open(f"/dev/shm/aq.{name}", "r+b") as segment:  # the second record's extent, as above
            segment.seek(4096 + 192 + 64)
            segment.write((32).to_bytes(8, "little"))
        got = [int(array[0]) for array in q.get_many(10, timeout=5)]
        assert got[0] == 0

        def read():
            if reader == "borrow":
                with q.borrow(timeout=5) as array:
                    return int(array[0])
            if reader == "get_record":
                return int(q.get_record(timeout=5).array[0])
            return int(q.get(timeout=5)[0])

        with pytest.raises(aq.CorruptSegment):
            read()
        while not q.empty():
            got.append(read())
        assert got == [0, 2]
        q.put(np.full(64, 3, dtype=np.uint8))
        assert [int(array[0]) for array in q.get_many(10, timeout=5)] == [3]


ROWS = np.stack([np.full(1000, i % 256, np.uint8) for i in range(200)])  # about 50 fit a 64 KiB queue


def _when_partway(reader, action):
    """Runs `action` in a thread once `reader` sees records: a put_many then waits for room
    partway through its batch (nobody takes any)."""
    def run():
        deadline = time.monotonic() + 30
        while reader.qsize() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        action()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _taken(reader):
    """The first byte of every record waiting in `reader`'s queue, taking them."""
    values = []
    while not reader.empty():
        values += [int(array[0]) for array in reader.get_many(100, timeout=5)]
    return values


@pytest.mark.parametrize("timeout", [None, 30])
def test_put_many_closed_partway_returns_what_it_put(name, timeout):
    """Another thread closes the handle while put_many waits for room partway through its batch:
    the call returns how many arrays are in the queue, as when its timeout runs out, and the
    next call raises Closed. (It raised Closed, and the caller could not know which to resend.)"""
    with aq.ArrayQueue.create(name, 64 << 10) as reader:
        writer = aq.ArrayQueue.open(name)
        closer = _when_partway(reader, writer.close)
        put = writer.put_many(ROWS, timeout=timeout)
        closer.join(30)
        assert 0 < put < len(ROWS) and reader.qsize() == put
        with pytest.raises(aq.Closed):
            writer.put_many(ROWS[put:], timeout=timeout)
        assert _taken(reader) == [int(row[0]) for row in ROWS[:put]]


def test_put_many_closed_before_any_room_raises_closed_with_put_count(name):
    with aq.ArrayQueue.create(name, 64 << 10) as reader:
        writer = aq.ArrayQueue.open(name)
        first = writer.put_many(ROWS, timeout=0)
        closer = threading.Timer(0.3, writer.close)
        closer.start()
        with pytest.raises(aq.Closed) as raised:
            writer.put_many(ROWS[first:], timeout=None)
        closer.join(30)
        assert raised.value.put_count == 0 and reader.qsize() == first


class _Stop(Exception):
    """What the test's signal handler raises."""


def test_put_many_interrupted_by_a_signal_handler_says_how_many_it_put(name):
    """A signal handler's exception (Ctrl-C's KeyboardInterrupt) ends the wait partway at once,
    with the count in its put_count."""
    def stop(signum, frame):
        raise _Stop()
    previous = signal.signal(signal.SIGUSR1, stop)
    try:
        with aq.ArrayQueue.create(name, 64 << 10) as q:
            main = threading.main_thread().ident
            sender = _when_partway(q, lambda: signal.pthread_kill(main, signal.SIGUSR1))
            with pytest.raises(_Stop) as raised:
                q.put_many(ROWS, timeout=30)
            sender.join(30)
            put = raised.value.put_count
            assert 0 < put < len(ROWS) and q.qsize() == put
            assert _taken(q) == [int(row[0]) for row in ROWS[:put]]
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_get_many_closed_by_another_thread_loses_no_record(name):
    """get_many waits only for its first record, so a close() by another thread ends it before it
    took any: what it returned plus what is left is everything, in order."""
    values = np.arange(300, dtype=np.int64).reshape(300, 1)
    with aq.ArrayQueue.create(name, 1 << 20) as writer:
        reader = aq.ArrayQueue.open(name)

        def put_slowly():
            for start in range(0, len(values), 10):
                writer.put_many(values[start:start + 10], timeout=5)
                if start == 150:
                    reader.close()
                time.sleep(0.002)
        putter = threading.Thread(target=put_slowly, daemon=True)
        putter.start()
        got = []
        with pytest.raises(aq.Closed):
            while True:
                got += [int(array[0]) for array in reader.get_many(7, timeout=30)]
        putter.join(30)
        assert got + _taken(writer) == list(range(len(values)))


@pytest.fixture
def get_many_hook():
    """The extension module's test hook (_native._get_many_test_hook): makes get_many fail while it
    makes the arrays of records it has taken. Reset after the test."""
    from arrayqueues_swift import _native

    yield _native._get_many_test_hook
    _native._get_many_test_hook(0, 0)


def test_get_many_keeps_the_records_whose_arrays_it_could_not_make(name, get_many_hook):
    """A MemoryError while get_many makes the arrays of records it took from the queue: the
    records are not lost. The exception says how many it took (get_count), and the next calls
    return them (at most max_count each, without waiting), before any other record."""
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put_many(ROWS[:10])
        get_many_hook(1, 0)
        with pytest.raises(MemoryError) as raised:
            q.get_many(100, timeout=5)
        assert raised.value.get_count == 10
        assert q.qsize() == 10  # taken from the queue: the handle has them, its next ones
        q.put_many(ROWS[10:15])
        got = [int(array[0]) for array in q.get_many(4, timeout=0)]
        got += [int(array[0]) for array in q.get_many(100, timeout=0)]
        assert got == list(range(10))
        assert [int(array[0]) for array in q.get_many(100, timeout=0)] == list(range(10, 15))
        with pytest.raises(aq.Empty) as empty:
            q.get_many(100, timeout=0)
        assert empty.value.get_count == 0


def test_get_many_keeps_records_of_several_shapes_through_repeated_failures(name, get_many_hook):
    """Records of several shapes (an array each, not views of one buffer): a failure while the
    kept records are returned keeps them again; they come back once arrays can be made."""
    arrays = [np.full((n, 3), n, np.float64) for n in range(1, 6)]
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        for array in arrays:
            q.put(array)
        get_many_hook(2, 0)
        with pytest.raises(MemoryError) as first:
            q.get_many(100, timeout=5)
        assert first.value.get_count == 5
        with pytest.raises(MemoryError) as second:
            q.get_many(3, timeout=5)
        assert second.value.get_count == 3  # the three it tried to return, still kept
        got = q.get_many(3, timeout=5) + q.get_many(3, timeout=5)
        assert len(got) == 5 and all(same_bits(a, b) for a, b in zip(got, arrays))
        assert q.empty()


def test_get_many_keeps_the_records_when_a_signal_handler_raises_as_it_returns(name, get_many_hook):
    """A signal that comes while get_many makes the arrays (Ctrl-C, say) has its handler run by
    get_many itself, after the arrays are made: its exception carries get_count and the records
    are kept. (Left to the interpreter, the handler ran as the call returned, and the arrays it
    returned were dropped with the exception.)"""
    def stop(signum, frame):
        raise _Stop()
    previous = signal.signal(signal.SIGUSR1, stop)
    try:
        with aq.ArrayQueue.create(name, 1 << 20) as q:
            q.put_many(ROWS[:8])
            get_many_hook(1, signal.SIGUSR1)
            with pytest.raises(_Stop) as raised:
                q.get_many(100, timeout=5)
            assert raised.value.get_count == 8 and q.qsize() == 8
            assert [int(array[0]) for array in q.get_many(100, timeout=0)] == list(range(8))
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_every_read_of_the_handle_returns_the_records_get_many_kept_first(name, get_many_hook):
    """The records a failed get_many kept left the queue before any still in it: the handle's
    get, get_record, get(out=) and borrow return them first, in order, so each producer's order
    holds (they used to take newer records from the queue, leaving the kept ones for the next
    get_many). A borrow lends the kept copy; qsize and empty count the kept records."""
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put_many(ROWS[:6])
        get_many_hook(1, 0)
        with pytest.raises(MemoryError) as raised:
            q.get_many(4, timeout=5)
        assert raised.value.get_count == 4  # 0..3 kept, 4 and 5 still in the queue
        q.put_many(ROWS[6:8])
        assert q.qsize() == 8 and not q.empty()
        assert int(q.get(timeout=0)[0]) == 0
        record = q.get_record(timeout=0)
        assert int(record.array[0]) == 1 and record.sequence == 1 and record.index is None
        with q.borrow(timeout=0) as view:
            assert same_bits(view, ROWS[2]) and view.sequence == 2 and not view.flags.writeable
        with pytest.raises(aq.Closed):
            view.sum()
        out = np.empty_like(ROWS[0])
        assert q.get(timeout=0, out=out) is out and same_bits(out, ROWS[3])
        assert q.qsize() == 4
        assert [int(array[0]) for array in q.get_many(100, timeout=0)] == [4, 5, 6, 7]
        assert q.empty()


def test_a_kept_record_of_another_shape_than_out_comes_back_in_a_new_array(name, get_many_hook):
    """get(out=) with a kept record of another shape returns a new array, as for any record."""
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put(np.arange(6, dtype=np.int16).reshape(2, 3))
        q.put(np.arange(4, dtype=np.float32))
        get_many_hook(1, 0)
        with pytest.raises(MemoryError):
            q.get_many(10, timeout=5)
        out = np.zeros(5, np.int16)
        first = q.get(timeout=0, out=out)
        assert first is not out and same_bits(first, np.arange(6, dtype=np.int16).reshape(2, 3))
        second = q.get(timeout=0)
        assert same_bits(second, np.arange(4, dtype=np.float32))
        with pytest.raises(aq.Empty):
            q.get(timeout=0)


def test_clear_drops_the_records_get_many_kept(name, get_many_hook):
    """clear() drops the handle's kept records with the queue's, and counts them: otherwise
    they would come back after the clear, older than what is put next."""
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put_many(ROWS[:5])
        get_many_hook(1, 0)
        with pytest.raises(MemoryError):
            q.get_many(3, timeout=5)
        assert q.clear() == 5
        assert q.empty() and q.qsize() == 0
        q.put(ROWS[9])
        assert int(q.get(timeout=0)[0]) == 9


def test_closing_a_handle_drops_the_records_it_kept(name, get_many_hook):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        reader = aq.ArrayQueue.open(name)
        q.put_many(ROWS[:3])
        get_many_hook(1, 0)
        with pytest.raises(MemoryError):
            reader.get_many(10, timeout=5)
        reader.close()
        with pytest.raises(aq.Closed) as closed:
            reader.get_many(10, timeout=0)
        assert closed.value.get_count == 0
        assert q.empty()
