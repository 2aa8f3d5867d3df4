"""The native API: every dtype, metadata, waiting, errors, loans and borrows, lifetime."""

from __future__ import annotations

import os
import pickle
import queue
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import arrayqueues_swift as aq
from conftest import DTYPES, ROOT, same_bits, sample


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_round_trips_bit_exact(name, dtype):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        for shape in [(3, 5), (), (0,), (2, 1, 3, 1)]:
            array = sample(dtype, shape)
            q.put(array)
            back = q.get(timeout=5)
            assert same_bits(array, back)
            assert back.flags.owndata or back.base is not None and back.flags.writeable


def test_get_returns_an_array_the_caller_owns(name):
    with aq.ArrayQueue.create(name, 64 << 10) as q:
        q.put(np.full((4, 4), 1, np.int32))
        first = q.get(timeout=5)
        for value in range(2, 50):  # the ring wraps many times over the first record's slot
            q.put(np.full((4, 4), value, np.int32))
            q.get(timeout=5)
        assert (first == 1).all()
        first[0, 0] = 99  # writable, ours


def test_large_arrays_are_owned_and_their_memory_is_reused_when_they_go(name):
    size = 6 << 20  # from 1 MiB, get's arrays come from memory this process keeps for reuse
    source = (np.arange(size) % 251).astype(np.uint8).reshape(3, -1)
    with aq.ArrayQueue.create(name, 4 * aq.ArrayQueue.record_size(source.shape, np.uint8)) as q:
        kept, kept_bytes = aq._native._pool_state()
        q.put(source)
        first = q.get(timeout=5)
        assert type(first) is np.ndarray and first.flags.writeable and first.flags.c_contiguous
        assert same_bits(first, source)
        assert aq._native._pool_state() == (kept, kept_bytes)  # in use, not kept
        q.put(source + 1)
        second = q.get(timeout=5)  # a different buffer: the first array still lives
        first[...] = 7
        assert same_bits(second, source + 1) and (first == 7).all()
        del first
        buffers, held = aq._native._pool_state()
        assert buffers == kept + 1 and held > kept_bytes  # kept for the next large get
        q.put(source)
        third = q.get(timeout=5)  # reuses it
        assert aq._native._pool_state() == (kept, kept_bytes) and same_bits(third, source)
        view = third[1:]
        del third
        assert aq._native._pool_state() == (kept, kept_bytes)  # a view keeps the memory alive
        assert same_bits(view, source[1:])
        assert pickle.loads(pickle.dumps(view)).tobytes() == source[1:].tobytes()


def test_get_into_a_callers_array(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        out = np.zeros((4, 5), np.float32)
        q.put(sample("float32", (4, 5)))
        result = q.get(timeout=5, out=out)
        assert result is out and same_bits(out, sample("float32", (4, 5)))
        q.put(sample("float32", (4, 5), seed=1), index=3)
        record = q.get_record(timeout=5, out=out)
        assert record.array is out and record.index == 3 and same_bits(out, sample("float32", (4, 5), seed=1))
        # Another dtype or shape: a new array, and the record is not lost, whether it fits in out or not.
        q.put(sample("int16", (2, 2)))
        q.put(sample("float64", (10, 10)))
        smaller, larger = q.get(timeout=5, out=out), q.get(timeout=5, out=out)
        assert smaller is not out and same_bits(smaller, sample("int16", (2, 2)))
        assert larger is not out and same_bits(larger, sample("float64", (10, 10)))
        read_only = np.zeros(20, np.float32)
        read_only.flags.writeable = False
        q.put(sample("float32", (4, 5)))
        for bad in (np.zeros(40, np.float32)[::2], read_only, b"bytes"):
            with pytest.raises(ValueError):
                q.get(timeout=5, out=bad)
        assert same_bits(q.get(timeout=5), sample("float32", (4, 5)))  # still there
        with pytest.raises(aq.Empty):
            q.get(timeout=0, out=out)


def test_records_carry_timestamp_index_and_sequence(name):
    import datetime

    with aq.ArrayQueue.create(name, 1 << 20) as q:
        when = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc)
        q.put(np.arange(3), timestamp=when, index=41)
        q.put(np.arange(3), timestamp=1_700_000_000_123_456_789)
        q.put(np.arange(3))
        first, second, third = (q.get_record(timeout=5) for _ in range(3))
        assert (first.timestamp, first.index, first.sequence) == (when, 41, 0)
        assert (second.timestamp_ns, second.index, second.sequence) == (1_700_000_000_123_456_789, None, 1)
        assert third.sequence == 2 and third.index is None


def test_non_contiguous_and_non_array_inputs_are_copied(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        base = np.arange(48, dtype=np.float64).reshape(6, 8)
        q.put(base[::2, 1::3])
        assert same_bits(q.get(timeout=5), np.ascontiguousarray(base[::2, 1::3]))
        q.put(base.T)
        assert same_bits(q.get(timeout=5), np.ascontiguousarray(base.T))
        q.put([[1, 2], [3, 4]])
        assert (q.get(timeout=5) == [[1, 2], [3, 4]]).all()


def test_unsupported_arrays_are_refused_with_a_typed_error(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        for array in (np.zeros(3, ">i4"), np.zeros(3, "datetime64[s]"), np.zeros(3, np.longdouble), np.zeros(2, "U3")):
            with pytest.raises(aq.UnsupportedDType):
                q.put(array)
        with pytest.raises(aq.Oversize):
            q.put(np.zeros(2 << 20, np.uint8))
        with pytest.raises(aq.InvalidShape):
            with q.loan((-1, 3), np.uint8):
                pass
        assert q.empty()


def test_empty_full_and_timeouts_are_queue_exceptions(name):
    with aq.ArrayQueue.create(name, 8192, overflow="block") as q:
        with pytest.raises(aq.Empty) as empty:
            q.get(timeout=0)
        assert isinstance(empty.value, queue.Empty) and empty.value.code == -3
        with pytest.raises(aq.GetTimeout) as waited:
            q.get(timeout=0.05)
        assert isinstance(waited.value, queue.Empty) and isinstance(waited.value, TimeoutError)
        with pytest.raises(aq.GetTimeout):
            with q.borrow(timeout=0.05):
                pass
        chunk = np.zeros(3000, np.uint8)
        q.put(chunk, timeout=1)
        q.put(chunk, timeout=1)
        with pytest.raises(aq.Full) as full:
            q.put(chunk, timeout=0)
        assert isinstance(full.value, queue.Full)
        with pytest.raises(aq.PutTimeout) as put_waited:
            q.put(chunk, timeout=0.05)
        assert isinstance(put_waited.value, queue.Full) and isinstance(put_waited.value, TimeoutError)
    with aq.ArrayQueue.open(name, overflow="fail") as failing:
        with pytest.raises(aq.Full):
            failing.put(chunk, timeout=5)


def test_a_blocked_get_wakes_when_another_thread_puts(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        results = []
        reader = threading.Thread(target=lambda: results.append(q.get(timeout=30)))
        reader.start()
        q.put(np.arange(5))
        reader.join(30)
        assert not reader.is_alive() and (results[0] == np.arange(5)).all()


@pytest.mark.parametrize("call", [
    "empty.get()", "empty.get_record()", "empty.borrow().__enter__()", "empty.get_many(4)",
    "full.put(np.zeros(3000, np.uint8))", "full.loan((3000,), np.uint8).__enter__()",
    "full.put_many(np.zeros((1, 3000), np.uint8))", "subscriber.get()", "subscriber.borrow().__enter__()",
])
def test_a_wait_without_timeout_ends_with_closed_when_another_thread_closes(name, call):
    """A call waiting with no timeout reads its handle's close() flag between wait slices: a
    close() by another thread makes it raise Closed instead of waiting forever."""
    with aq.ArrayQueue.create(name, 4096, remove=True) as empty, \
            aq.ArrayQueue.create(name + "-full", 4096, remove=True) as full, \
            aq.ArrayQueue.create(name + "-broadcast", 4096, broadcast=True, remove=True) as broadcast:
        full.put(np.zeros(3000, np.uint8))  # no room for another
        subscriber = broadcast.subscribe(start="next")  # nothing will be put: it waits
        handle = {"empty": empty, "full": full, "subscriber": subscriber}[call.split(".")[0]]
        outcome = []

        def waiter():
            try:
                eval(call, {"np": np, "empty": empty, "full": full, "subscriber": subscriber})
                outcome.append("returned")
            except BaseException as error:  # noqa: BLE001 - the test checks what it was
                outcome.append(error)

        thread = threading.Thread(target=waiter, daemon=True)
        thread.start()
        thread.join(0.5)  # let it enter its wait (were it not there yet, it would raise Closed at the call)
        assert thread.is_alive(), outcome
        handle.close()
        thread.join(30)
        assert not thread.is_alive() and len(outcome) == 1 and isinstance(outcome[0], aq.Closed), outcome


def test_loan_publishes_on_success_and_discards_on_error(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        with q.loan((2, 3), np.float32, index=7) as slot:
            assert isinstance(slot, aq.LoanedArray) and slot.shape == (2, 3) and slot.dtype == np.float32
            slot[:] = np.arange(6).reshape(2, 3)
        with pytest.raises(RuntimeError):
            with q.loan((4,), np.uint8) as slot:
                slot[:] = 1
                raise RuntimeError("camera failed")
        record = q.get_record(timeout=5)
        assert (record.array == np.arange(6).reshape(2, 3)).all() and record.index == 7
        assert q.empty() and q.statistics().puts == 1


def test_borrow_reads_in_place_and_is_read_only(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put(np.arange(12, dtype=np.int16).reshape(3, 4), index=3)
        with q.borrow(timeout=5) as view:
            assert isinstance(view, aq.BorrowedArray)
            assert (view == np.arange(12).reshape(3, 4)).all() and view.index == 3 and view.sequence == 0
            assert int(view.sum()) == 66 and int(np.sum(view[1:])) == 60
            with pytest.raises(ValueError):
                view[0, 0] = 5
            kept = view.copy()
        assert (kept == np.arange(12).reshape(3, 4)).all()
        assert q.statistics().gets == 1 and q.statistics().bytes_used == 0


@pytest.mark.parametrize("use", [
    lambda a: a[0], lambda a: a.sum(), lambda a: a + 1, lambda a: np.mean(a), lambda a: repr(a), lambda a: str(a),
    lambda a: a.tobytes(), lambda a: a.tolist(), lambda a: a.copy(), lambda a: list(a), lambda a: np.concatenate([a, a]),
    lambda a: float(a[0:1]), lambda a: a == 3, lambda a: np.array(a[1:]).sum(),
])
def test_a_borrowed_array_and_its_views_raise_after_the_block(name, use):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put(np.arange(8, dtype=np.float64))
        with q.borrow(timeout=5) as view:
            part = view[2:]
            typed = view.view(np.uint64)
        for array in (view, part, typed):
            with pytest.raises(aq.Closed):
                use(array)
        # The record's room is back: producers fill the whole ring again.
        assert q.statistics().bytes_used == 0


def test_a_loaned_array_raises_after_the_block(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        with q.loan((4,), np.uint8) as slot:
            slot[:] = 9
        with pytest.raises(aq.Closed):
            slot[0] = 1
        with pytest.raises(aq.Closed):
            slot += 1
        assert (q.get(timeout=5) == 9).all()


def test_closing_a_queue_with_an_array_still_lent_keeps_the_memory_mapped(name):
    q = aq.ArrayQueue.create(name, 1 << 20)
    q.put(np.arange(1000, dtype=np.int64))
    borrow = q.borrow(timeout=5)
    view = borrow.__enter__()
    escaped = np.asarray(view.view(np.ndarray))  # an unprotected view, on purpose
    q.close()
    assert int(escaped[999]) == 999  # still mapped: no crash
    borrow.__exit__(None, None, None)
    with pytest.raises(aq.Closed):
        q.get(timeout=0)


def test_statistics_clear_and_reset_policy(name):
    with aq.ArrayQueue.create(name, 1 << 20, shape_change="reset") as q:
        for _ in range(3):
            q.put(np.zeros((2, 2)))
        q.put(np.zeros((3, 3)))  # another shape: the waiting records go
        stats = q.statistics()
        assert (stats.count, stats.resets, stats.drops) == (1, 1, 3)
        q.put(np.zeros((3, 3)))
        assert q.qsize() == 2 and len(q) == 2 and q.clear() == 2 and q.empty()
        assert q.statistics().clears == 1


def test_iteration_and_records(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        for value in range(3):
            q.put(np.array([value]))
        assert [int(r.array[0]) for r in q.records(timeout=0.05)] == [0, 1, 2]
        q.put(np.array([5]))
        assert int(next(iter(q))[0]) == 5


def test_open_remove_exists_and_pickling_by_name(name):
    q = aq.ArrayQueue.create(name, 1 << 20, remove=True)
    assert aq.ArrayQueue.exists(name)
    other = pickle.loads(pickle.dumps(q))
    assert other.name == name and other.capacity == q.capacity
    other.put(np.arange(3))
    assert (q.get(timeout=5) == np.arange(3)).all()
    other.close()
    q.close()
    q.close()
    assert not aq.ArrayQueue.exists(name)
    with pytest.raises(aq.QueueNotFound) as missing:
        aq.ArrayQueue.open(name)
    assert isinstance(missing.value, FileNotFoundError)
    with pytest.raises(aq.Closed):
        q.put(np.arange(3))
    with pytest.raises(aq.InvalidName):
        aq.ArrayQueue.create("no/slashes", 1 << 20)
    with pytest.raises(aq.InvalidArgument):
        aq.ArrayQueue.create(name, 10)


def test_capacities_and_modes_beyond_their_c_types_are_refused_not_wrapped(name):
    """Python ints past the C types were reduced modulo 2**64 (capacity) or 2**32 (mode): a
    capacity of 2**64 + 8 KiB made an 8 KiB queue, a mode of 2**32 + 0o600 one of mode 0600."""
    for capacity in (2**64 + 8192, 2**64, -1):
        with pytest.raises(aq.InvalidArgument, match="capacity"):
            aq.ArrayQueue.create(name, capacity)
    for mode in (2**32 + 0o600, -1):
        with pytest.raises(aq.InvalidArgument, match="mode"):
            aq.ArrayQueue.create(name, 8192, mode=mode)
        with pytest.raises(aq.InvalidArgument, match="mode"):
            aq.Sender(f"shm://{name}", shm_capacity=8192, shm_mode=mode)
        with pytest.raises(aq.InvalidArgument, match="mode"):
            aq.Receiver(f"shm://{name}", shm_capacity=8192, shm_mode=mode)
    assert not aq.ArrayQueue.exists(name)


def test_remove_true_removes_the_queue_when_dropped_or_at_exit_but_never_in_a_forked_child(name):
    q = aq.ArrayQueue.create(name, 1 << 20, remove=True)
    assert aq.ArrayQueue.exists(name)
    child = os.fork()
    if child == 0:  # a child that drops the inherited handle and exits normally
        del q
        os._exit(0 if aq.ArrayQueue.exists(name) else 1)
    assert os.waitpid(child, 0)[1] == 0
    assert aq.ArrayQueue.exists(name), "a forked child removed its parent's queue"
    del q
    assert not aq.ArrayQueue.exists(name), "dropping the creating handle left the queue"
    # A process that exits with the handle still referenced removes it too.
    script = f"import arrayqueues_swift as aq; q = aq.ArrayQueue.create({name!r}, 1 << 20, remove=True); print('made')"
    made = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert made.stdout.strip() == "made", made.stderr
    assert not aq.ArrayQueue.exists(name), "the creating process exited and left the queue"


def test_every_error_code_of_the_header_has_an_exception_class():
    header = (ROOT / "Sources" / "CArrayQueuesC" / "include" / "arrayqueues.h").read_text()
    codes = {int(value) for value in re.findall(r"#define AQ_E\w+ (-\d+)", header)}
    assert codes and codes <= set(aq.errors.CODES)
    for code in codes:
        assert issubclass(aq.errors.CODES[code], aq.ArrayQueuesError)
    error = aq.errors.CODES[-18]("shm_open failed", -18, 13)
    assert isinstance(error, OSError) and error.errno == 13 and str(error) == "shm_open failed"
    assert pickle.loads(pickle.dumps(error)).code == -18


@pytest.mark.parametrize("call", ["q.get()", "q.borrow().__enter__()", "aq.Receiver('shm://' + sys.argv[1] + '-r').receive()"])
def test_ctrl_c_ends_a_wait_without_timeout(name, call):
    """The library's waits ignore signals; the extension waits in slices and runs Python's
    signal handlers between them, so Ctrl-C (SIGINT) raises KeyboardInterrupt."""
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    # Python keeps SIGINT ignored if its parent ignored it (as a shell does for background
    # jobs): install its usual handler explicitly.
    script = textwrap.dedent(f"""
        import signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import arrayqueues_swift as aq
        q = aq.ArrayQueue.open(sys.argv[1])
        print("waiting", flush=True)
        {call}
    """)
    with aq.ArrayQueue.create(name, 1 << 20, remove=True):
        child = subprocess.Popen([sys.executable, "-c", script, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "waiting"
            time.sleep(0.5)  # let it enter the wait (were it not there yet, this would not test the wait)
            child.send_signal(signal.SIGINT)
            _, errors = child.communicate(timeout=30)
        finally:
            child.kill()
        assert child.returncode != 0 and "KeyboardInterrupt" in errors
    try:
        aq.ArrayQueue.remove(name + "-r")
    except aq.QueueNotFound:
        pass
