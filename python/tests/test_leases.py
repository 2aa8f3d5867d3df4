"""Loans and borrows as context managers, and the arrays they lend (the extension module's
LoanedArray and BorrowedArray): what they accept, what they give back, and what they refuse
once their block has ended."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

import arrayqueues_swift as aq


def test_a_loan_aborted_by_an_exception_leaves_nothing(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        for failure in (RuntimeError("camera failed"), KeyboardInterrupt()):
            with pytest.raises(type(failure)):
                with q.loan((1000,), np.uint8) as slot:
                    slot[:] = 1
                    raise failure
        stats = q.statistics()
        assert (stats.count, stats.puts, stats.bytes_used) == (0, 0, 0)
        with pytest.raises(aq.Empty):
            q.get(timeout=0)
        with pytest.raises(aq.Closed):
            slot[0]  # the aborted slot's array is unusable too


def test_loan_takes_shapes_and_dtypes_as_numpy_does(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        for shape, dtype, expected in [
            (5, "uint16", ((5,), np.uint16)), (np.int64(3), np.float32, ((3,), np.float32)),
            ([2, 3], np.dtype("<i8"), ((2, 3), np.int64)), ((np.int32(2), 2), float, ((2, 2), np.float64)),
            ((), bool, ((), np.bool_)), ((2, 0), "c8", ((2, 0), np.complex64)),
        ]:
            with q.loan(shape, dtype) as slot:
                assert isinstance(slot, aq.LoanedArray) and slot.flags.writeable
                assert (slot.shape, slot.dtype) == (expected[0], np.dtype(expected[1]))
                slot[...] = 1
            back = q.get(timeout=5)
            assert (back.shape, back.dtype) == (expected[0], np.dtype(expected[1])) and (back == 1).all()
        # A dtype or shape no queue carries is refused at the call, before anything is reserved.
        for shape, dtype, error in [((2,), ">i4", aq.UnsupportedDType), ((2,), "U3", aq.UnsupportedDType),
                                    ((2,), np.longdouble, aq.UnsupportedDType), ((1,) * 33, np.uint8, aq.InvalidShape),
                                    ("ab", np.uint8, TypeError), ((2.5,), np.uint8, TypeError)]:
            with pytest.raises(error):
                q.loan(shape, dtype)
        assert q.statistics().bytes_used == 0
        assert aq.ArrayQueue.record_size([4], "u1") == aq.ArrayQueue.record_size(4, np.uint8)


def test_loan_and_put_take_every_kind_of_timestamp_and_index(name):
    import datetime as dt

    moment = dt.datetime(2026, 12, 6, 12, 0, 0, 250, tzinfo=dt.timezone.utc)
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        with q.loan((1,), np.uint8, timestamp=moment, index=np.int64(4)):
            pass
        q.put(np.zeros(1), timestamp=1_000_000_123)
        q.put(np.zeros(1), timestamp=1.5, index=9)
        first, second, third = (q.get_record(timeout=5) for _ in range(3))
        assert (first.timestamp, first.index) == (moment, 4)
        assert (second.timestamp_ns, second.index) == (1_000_000_123, None)
        assert (third.timestamp_ns, third.index) == (1_500_000_000, 9)
        for wrong in (True, "now", object()):
            with pytest.raises(TypeError):
                q.put(np.zeros(1), timestamp=wrong)
        with pytest.raises(TypeError):
            q.loan((1,), np.uint8, index="seven")
        assert q.empty()


def test_a_lease_is_entered_once(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put(np.arange(4))
        loan, borrow = q.loan((2,), np.uint8), q.borrow(timeout=5)
        with loan, borrow as view:
            assert view.sum() == 6
            with pytest.raises(RuntimeError):
                borrow.__enter__()
        for lease in (loan, borrow):
            with pytest.raises(RuntimeError):
                lease.__enter__()
            assert lease.__exit__(None, None, None) is None  # a second exit does nothing
        assert q.statistics().puts == 2 and q.qsize() == 1 and q.statistics().bytes_used > 0
        q.clear()
        unused = q.borrow(timeout=0)  # never entered: nothing is taken, nothing held
        del unused
        assert q.statistics().bytes_used == 0


@pytest.mark.parametrize("use", [
    lambda a: a[0], lambda a: a[1:].sum(), lambda a: a + 1, lambda a: np.sqrt(a), lambda a: np.add.reduce(a),
    lambda a: np.bitwise_xor.reduce(a.view(np.uint64)[::2]), lambda a: np.mean(a), lambda a: memoryview(a),
    lambda a: bytes(a), lambda a: len(a), lambda a: 3.0 in a, lambda a: bool(a[:1]),
    lambda a: a.item(0), lambda a: format(a[:1]), lambda a: copy.copy(a), lambda a: copy.deepcopy(a),
    lambda a: pickle.dumps(a), lambda a: a.astype(np.float32), lambda a: iter(a), lambda a: np.frombuffer(a),
    lambda a: np.concatenate([a]), lambda a: np.add(a, 1, out=np.empty(8)), lambda a: a.argmax(),
    lambda a: np.copyto(dst=np.empty(8), src=a), lambda a: np.stack(arrays=[a]),
    lambda a: a.flatten(), lambda a: a.take([1, 2]), lambda a: a.dot(a), lambda a: a.nonzero(), lambda a: a.max(),
    lambda a: a.cumsum(), lambda a: a.clip(1, 2), lambda a: a.__array__(), lambda a: a.flat[0],
])
def test_a_borrowed_array_raises_after_the_block_however_it_is_read(name, use):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put(np.arange(8, dtype=np.float64))
        with q.borrow(timeout=5) as view:
            use(view)  # fine inside
            reshaped = view.reshape(2, 4)
        for array in (view, reshaped.ravel()):
            with pytest.raises(aq.Closed):
                use(array)


def test_an_ended_loan_cannot_be_written_through_flat_real_imag_or_setfield(name):
    """`flat` (read or assigned), assigning `real` or `imag`, and `setfield` write the record's
    memory without indexing: after the block they raise Closed, so nothing can overwrite the
    slot a later record took."""
    with aq.ArrayQueue.create(name, 4096, overflow="fail") as q:
        with q.loan((50,), np.complex64) as slot:
            slot.flat = 1  # fine inside
            slot.flat[0] = 1
            slot.real, slot.imag = 2, 3
            slot[:1].setfield(np.complex64(2 + 3j), np.complex64)
            view = slot[::2]
        assert (q.get(timeout=5) == 2 + 3j).all()
        for i in range(5):  # later records take the ended slot's room
            q.put(np.full(3, i))
        for write in (lambda: slot.flat, lambda: setattr(slot, "flat", 0xFF), lambda: view.flat,
                      lambda: setattr(view, "flat", 0xFF), lambda: setattr(slot, "real", 0xFF),
                      lambda: setattr(view, "imag", 0xFF), lambda: slot.real, lambda: slot.setfield(3.0, np.float64)):
            with pytest.raises(aq.Closed):
                write()
        assert [q.get(timeout=5).tolist() for _ in range(5)] == [[i] * 3 for i in range(5)]


def test_an_ended_borrow_cannot_be_put_anywhere(name):
    """put and put_many of an array lent for a block that has ended raise Closed, as reading it
    does: they must not copy whatever now lies in the queue's room."""
    other_name = name + "-other"
    with aq.ArrayQueue.create(name, 1 << 20) as q, aq.ArrayQueue.create(other_name, 1 << 20) as other:
        try:
            q.put(np.arange(8, dtype=np.float64))
            with q.borrow(timeout=5) as view:
                other.put(view)  # inside the block: a copy of the record
                reshaped = view.reshape(2, 4)
            for put in (lambda: other.put(view), lambda: other.put_many([view]), lambda: other.put(reshaped)):
                with pytest.raises(aq.Closed):
                    put()
            assert other.get(timeout=5).tolist() == list(range(8))
            assert other.empty()
        finally:
            aq.ArrayQueue.remove(other_name)


def test_a_loan_is_published_only_by_the_process_that_took_it(name):
    """A child forked inside a loan's block that leaves the block neither publishes nor discards
    its parent's record: the parent's contents, written after the child left, are what arrives."""
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        parent = os.getpid()
        refused = False
        try:
            with q.loan((4,), np.uint8) as slot:
                slot[:] = 1
                child = os.fork()
                if child != 0:
                    _, status = os.waitpid(child, 0)
                    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the child published or crashed"
                    slot[:] = 2
        except aq.InvalidArgument:
            refused = True
        except BaseException:
            if os.getpid() != parent:
                os._exit(2)  # never let the child run pytest's reporting
            raise
        if os.getpid() != parent:
            os._exit(0 if refused else 1)
        assert not refused
        assert q.get(timeout=5).tolist() == [2, 2, 2, 2]
        assert q.empty()


def test_a_borrowed_scalar_raises_after_the_block_when_converted(name):
    import operator

    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put(np.array(3, np.int64))
        with q.borrow(timeout=5) as view:
            conversions = [int, float, bool, complex, operator.index, lambda a: a.item(), lambda a: f"{a}"]
            assert [convert(view) for convert in conversions] == [3, 3.0, True, 3 + 0j, 3, 3, "3"]
        for convert in conversions:
            with pytest.raises(aq.Closed):
                convert(view)


def test_a_borrowed_array_is_read_only_and_keeps_its_metadata(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        q.put(np.arange(6, dtype=np.int32), index=11, timestamp=5_000_000_000)
        with q.borrow(timeout=5) as view:
            assert memoryview(view).readonly and not view.flags.writeable
            for write in (lambda: view.__setitem__(0, 1), lambda: view.fill(0), lambda: np.add(view, 1, out=view)):
                with pytest.raises(ValueError):
                    write()
            assert (view.index, view.sequence, view.timestamp_ns) == (11, 0, 5_000_000_000)
            assert view.timestamp.year == 1970
            assert type(view.copy()) is np.ndarray and type(view + 1) is np.ndarray
            assert repr(view) == repr(np.arange(6, dtype=np.int32)) and list(view) == list(range(6))
            for kept in (pickle.loads(pickle.dumps(view)), copy.deepcopy(view), view.flatten()):
                assert type(kept) is np.ndarray and (kept == np.arange(6)).all()
        assert view.index == 11  # metadata stays readable
        with pytest.raises(AttributeError):
            aq.BorrowedArray((2,), np.uint8).index  # not over a record


def test_a_loaned_array_writes_in_place_with_ufuncs_and_assignment(name):
    with aq.ArrayQueue.create(name, 1 << 20) as q:
        with q.loan((4,), np.int64) as slot:
            slot[:] = np.arange(4)
            slot += 10
            assert isinstance(slot, aq.LoanedArray)
            assert np.multiply(slot, 2, out=slot) is slot
            part = slot[2:]
            part[...] = part  # a lent array as the value
        assert (q.get(timeout=5) == [20, 22, 24, 26]).all()
        with q.loan((4,), np.int64) as other:
            with q.loan((4,), np.int64) as second:
                second[...] = 1
            with pytest.raises(aq.Closed):
                other[...] = second  # an ended lease's array as the value
            other[...] = 2
        assert sorted(int(q.get(timeout=5)[0]) for _ in range(2)) == [1, 2]


def test_a_subscriber_borrow_is_a_lease_too_and_its_get_takes_out(name):
    with aq.ArrayQueue.create(name, 1 << 20, broadcast=True) as q, q.subscribe(start="next") as subscriber:
        for value in range(3):
            q.put(np.full(4, value, np.int16), index=value)
        with subscriber.borrow(timeout=5) as view:
            assert isinstance(view, aq.BorrowedArray) and view.index == 0 and int(view.sum()) == 0
        with pytest.raises(aq.Closed):
            view.sum()
        frame = np.empty(4, np.int16)
        assert subscriber.get(timeout=5, out=frame) is frame and (frame == 1).all()
        record = subscriber.get_record(timeout=5)
        assert record.index == 2 and (record.array == 2).all()


def test_leases_of_one_queue_from_many_threads(name):
    errors = []

    def produce(thread):
        try:
            for number in range(200):
                with q.loan((16,), np.uint32, timeout=10, index=thread * 1000 + number) as slot:
                    slot[...] = thread * 1000 + number
        except BaseException as error:  # reported below
            errors.append(error)

    def consume(seen):
        try:
            for _ in range(200):
                with q.borrow(timeout=10) as view:
                    assert (view == view.index).all()
                    seen.append(view.index)
        except BaseException as error:
            errors.append(error)

    with aq.ArrayQueue.create(name, 64 << 10) as q:
        seen: list = []
        threads = [threading.Thread(target=produce, args=(t,)) for t in range(2)]
        threads += [threading.Thread(target=consume, args=(seen,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors and not any(thread.is_alive() for thread in threads)
        assert sorted(seen) == sorted(t * 1000 + n for t in range(2) for n in range(200))


# Without numpy's C API table (ARRAYQUEUES_SWIFT_NO_NUMPY_API), lent arrays are made by
# ndarray.__new__ over the lease's buffer and copies by numpy.empty: the same arrays, the same
# checks.
WITHOUT_NUMPY_API = """
import sys
import numpy as np
import arrayqueues_swift as aq
assert aq._native._NUMPY_API == 0
with aq.ArrayQueue.create(sys.argv[1], 1 << 20, remove=True) as q:
    with q.loan((2, 3), np.int16, index=4) as slot:
        assert isinstance(slot, aq.LoanedArray) and slot.flags.writeable
        slot[...] = np.arange(6).reshape(2, 3)
    with q.borrow(timeout=5) as view:
        assert isinstance(view, aq.BorrowedArray) and not view.flags.writeable and view.index == 4
        assert int(view.sum()) == 15 and view.base.active
    q.put(np.arange(5, dtype=np.float32))
    assert (q.get(timeout=5) == np.arange(5)).all()  # numpy.empty for the copy
    try:
        view[0]
    except aq.Closed:
        print("closed")
"""


def test_lent_arrays_are_the_same_without_numpys_c_api(name):
    assert aq._native._NUMPY_API == 1  # this numpy's table is used
    environment = dict(os.environ, ARRAYQUEUES_SWIFT_NO_NUMPY_API="1")
    done = subprocess.run([sys.executable, "-c", WITHOUT_NUMPY_API, name], capture_output=True, text=True, timeout=60,
                          env=environment)
    assert done.returncode == 0 and done.stdout.strip() == "closed", done.stderr
