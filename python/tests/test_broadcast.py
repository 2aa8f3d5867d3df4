"""Broadcast queues from Python: every subscriber reads every record (issue 14), in this
process and across processes, with Swift's `aq put` or a Python producer."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import arrayqueues_swift as aq
from conftest import run, same_bits, sample, tool


def test_every_subscriber_gets_every_record_in_order(name):
    with aq.ArrayQueue.create(name, 1 << 20, broadcast=True) as q:
        with q.subscribe(policy="block", start="next") as first, q.subscribe(policy="drop", start="next") as second:
            arrays = [sample("float32", (3, 4), seed=i) for i in range(20)]
            for i, array in enumerate(arrays):
                q.put(array, index=i)
            for subscriber in (first, second):
                records = [subscriber.get_record(timeout=5) for _ in arrays]
                assert [record.index for record in records] == list(range(20))
                assert all(same_bits(record.array, array) for record, array in zip(records, arrays))
                assert [record.sequence for record in records] == sorted(record.sequence for record in records)
                assert (subscriber.delivered, subscriber.lost) == (20, 0)
                with pytest.raises(aq.Empty):
                    subscriber.get(timeout=0)
                with pytest.raises(aq.GetTimeout):
                    subscriber.get(timeout=0.01)


def test_borrow_is_read_only_and_unusable_after_the_block(name):
    with aq.ArrayQueue.create(name, 1 << 20, broadcast=True) as q, q.subscribe(start="next") as subscriber:
        array = sample("int16", (8, 8), seed=3)
        q.put(array, index=5)
        q.put(array + 1)
        with subscriber.borrow(timeout=5) as frame:
            assert isinstance(frame, aq.BorrowedArray)
            assert same_bits(np.array(frame), array) and frame.index == 5
            with pytest.raises(ValueError):
                frame[0, 0] = 1
            kept = frame[2:4]
            # One record at a time: the next read waits for this borrow's end.
            with pytest.raises(aq.InvalidArgument):
                subscriber.get(timeout=0)
        with pytest.raises(aq.Closed):
            kept.sum()
        assert same_bits(subscriber.get(timeout=5), array + 1)
        assert subscriber.delivered == 2


def test_large_records_and_iteration(name):
    big = sample("uint8", (3 << 20,), seed=4)
    with aq.ArrayQueue.create(name, 16 << 20, broadcast=True) as q, q.subscribe(start="oldest") as subscriber:
        q.put(big)
        q.put(big[:10])
        got = []
        for array in subscriber:
            got.append(array)
            if len(got) == 2:
                break
        assert same_bits(got[0], big) and same_bits(got[1], big[:10])


def test_get_follows_records_of_changing_dtype_and_shape(name):
    # Each get allocates the previous record's format first: a smaller record is reinterpreted,
    # a larger one is asked for again (kept by the subscriber meanwhile), an empty one is fine.
    arrays = [sample("uint8", (10,)), sample("float64", (50, 3), seed=1), sample("float64", (50, 3), seed=2),
              sample("int16", (2,), seed=3), np.zeros((0, 4), np.float32), sample("complex128", (7, 7), seed=4),
              sample("bool", (3, 3), seed=5)]
    with aq.ArrayQueue.create(name, 1 << 20, broadcast=True) as q, q.subscribe(start="next") as subscriber:
        for i, array in enumerate(arrays):
            q.put(array, index=i)
        for i, array in enumerate(arrays):
            record = subscriber.get_record(timeout=5)
            assert record.index == i and same_bits(record.array, array)
        assert subscriber.delivered == len(arrays)


def test_drop_policy_counts_what_it_lost(name):
    with aq.ArrayQueue.create(name, 64 << 10, broadcast=True) as q, q.subscribe(policy="drop", start="next") as viewer:
        for i in range(300):
            q.put(np.full(1024, i % 256, np.uint8), timeout=0)
        lost = viewer.lost
        assert lost > 0
        received = [record.array[0] for record in viewer.records(timeout=0.05)]
        assert len(received) + lost == 300 == viewer.delivered + viewer.lost
        # What it kept is the newest records, in order.
        assert received == [i % 256 for i in range(300 - len(received), 300)]


def test_block_policy_makes_producers_wait(name):
    with aq.ArrayQueue.create(name, 64 << 10, broadcast=True) as q, q.subscribe(policy="block", start="next") as recorder:
        put = 0
        with pytest.raises(aq.Full):
            while put < 1000:
                q.put(np.zeros(1024, np.uint8), timeout=0)
                put += 1
        assert 10 < put < 1000
        assert len(list(recorder.records(timeout=0.05))) == put and recorder.lost == 0


def test_refusals_and_close(name):
    with aq.ArrayQueue.create(name, 1 << 20) as plain:
        with pytest.raises(aq.InvalidArgument):
            plain.subscribe()
    aq.ArrayQueue.remove(name)
    with pytest.raises(aq.InvalidArgument):
        aq.ArrayQueue.create(name, 1 << 20, broadcast=True, shape_change="reset")
    with aq.ArrayQueue.create(name, 1 << 20, broadcast=True) as q:
        with pytest.raises(aq.InvalidArgument):
            q.get(timeout=0)
        with pytest.raises(ValueError):
            q.subscribe(policy="sometimes")
        with pytest.raises(ValueError):
            q.subscribe(start="yesterday")
        subscribers = [q.subscribe(policy="drop") for _ in range(32)]
        with pytest.raises(aq.Full):
            q.subscribe()
        subscribers[0].close()
        subscribers[0].close()
        assert subscribers[0].closed
        with pytest.raises(aq.Closed):
            subscribers[0].get(timeout=0)
        with pytest.raises(aq.Closed):
            subscribers[0].lost
        subscribers.append(q.subscribe())  # the slot was freed
        for subscriber in subscribers:
            subscriber.close()
        assert "closed" in repr(subscribers[0])


def test_one_thread_at_a_time(name):
    with aq.ArrayQueue.create(name, 1 << 20, broadcast=True) as q, q.subscribe(start="next") as subscriber:
        waiting = threading.Event()
        outcome = []

        def wait_for_a_record():
            waiting.set()
            outcome.append(subscriber.get(timeout=10))

        reader = threading.Thread(target=wait_for_a_record)
        reader.start()
        assert waiting.wait(10)
        # The reader is (or is about to be) inside get: another thread's call is refused.
        refused = False
        for _ in range(200):
            try:
                subscriber.get(timeout=0)
            except RuntimeError:
                refused = True
                break
            except aq.Empty:
                threading.Event().wait(0.005)
        assert refused
        q.put(np.arange(3))
        reader.join(10)
        assert not reader.is_alive() and same_bits(outcome[0], np.arange(3))


# A subscriber that borrows a record and holds it until it is killed.
HOLDER = textwrap.dedent("""
    import sys, time
    import arrayqueues_swift as aq
    q = aq.ArrayQueue.open(sys.argv[1])
    subscriber = q.subscribe(policy="block", start="oldest")
    with subscriber.borrow(timeout=30):
        print("holding", flush=True)
        time.sleep(60)
""")


def test_a_killed_subscriber_holding_a_borrow_stops_holding_producers(name):
    with aq.ArrayQueue.create(name, 64 << 10, broadcast=True) as q:
        q.put(np.zeros(1024, np.uint8))
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, name], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "holding"
            with q.subscribe(policy="block", start="next") as survivor:
                holder.send_signal(signal.SIGKILL)
                holder.wait(timeout=10)
                # Far more than the ring holds: the dead subscriber's slot and record are freed
                # by a producer that waits, and the living subscriber keeps up.
                for i in range(200):
                    q.put(np.full(1024, i % 256, np.uint8), timeout=10)
                    assert survivor.get(timeout=10)[0] == i % 256
                assert survivor.lost == 0
        finally:
            holder.kill()
            holder.wait(timeout=10)


# A subscriber process: subscribes, says "ready", reads `count` records and prints each
# record's index and a checksum of its bytes.
SUBSCRIBER = textwrap.dedent("""
    import sys, zlib
    import arrayqueues_swift as aq
    name, count = sys.argv[1], int(sys.argv[2])
    with aq.ArrayQueue.open(name) as q, q.subscribe(policy="block", start="next") as subscriber:
        print("ready", flush=True)
        for _ in range(count):
            record = subscriber.get_record(timeout=30)
            print(record.index, zlib.crc32(record.array.tobytes()), flush=True)
        print("delivered", subscriber.delivered, "lost", subscriber.lost, flush=True)
""")


@pytest.mark.parametrize("producer", ["swift", "python"])
def test_two_subscriber_processes_each_get_every_record(name, producer, tmp_path):
    import zlib

    count = 60
    array = sample("float64", (64, 64), seed=5)  # 32 KiB: the 256 KiB ring wraps many times
    np.save(tmp_path / "in.npy", array)
    with aq.ArrayQueue.create(name, 256 << 10, broadcast=True):
        readers = [subprocess.Popen([sys.executable, "-c", SUBSCRIBER, name, str(count)], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            for reader in readers:
                assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
            if producer == "swift":
                run(tool("aq"), "put", name, str(tmp_path / "in.npy"), "--repeat", str(count), "--index", "0", timeout=60)
            else:
                with aq.ArrayQueue.open(name) as q:
                    for i in range(count):
                        q.put(array, timeout=30, index=i)
            outputs = [reader.communicate(timeout=60) for reader in readers]
        finally:
            for reader in readers:
                reader.kill()
                reader.wait(timeout=10)
    checksum = zlib.crc32(array.tobytes())
    for (output, errors), reader in zip(outputs, readers):
        assert reader.returncode == 0, errors
        lines = output.splitlines()
        assert lines[:-1] == [f"{i} {checksum}" for i in range(count)]
        assert lines[-1] == f"delivered {count} lost 0"
