"""Queues handed to multiprocessing.Process under fork, spawn and forkserver, both layers, and
the original arrayqueues README example with one changed import."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import arrayqueues_swift as aq
from arrayqueues_swift import shared_arrays

METHODS = ["fork", "spawn", "forkserver"]


def _echo_native(source, sink, count):
    for _ in range(count):
        record = source.get_record(timeout=30)
        sink.put(record.array * 2, timeout=30, index=record.index)


def _echo_compat(source, sink, count):
    for _ in range(count):
        timestamp, index, array = source.get(timeout=30)
        sink.put(array + index, timestamp)


@pytest.mark.parametrize("method", METHODS)
def test_native_queues_cross_processes(name, method):
    context = multiprocessing.get_context(method)
    with aq.ArrayQueue.create(name, 1 << 20, remove=True) as source, \
            aq.ArrayQueue.create(name + "-back", 1 << 20, remove=True) as sink:
        child = context.Process(target=_echo_native, args=(source, sink, 20))
        child.start()
        for index in range(20):
            source.put(np.full((3, 3), index, np.int32), index=index)
        for index in range(20):
            record = sink.get_record(timeout=30)
            assert record.index == index and (record.array == 2 * index).all()
        child.join(30)
        assert child.exitcode == 0


@pytest.mark.parametrize("method", METHODS)
def test_drop_in_queues_cross_processes(method):
    context = multiprocessing.get_context(method)
    source = shared_arrays.IndexedArrayQueue(1)
    sink = shared_arrays.TimestampedArrayQueue(1)
    child = context.Process(target=_echo_compat, args=(source, sink, 10))
    child.start()
    for value in range(10):
        source.put(np.full((4,), value, np.int64))
    for value in range(10):
        _, array = sink.get(timeout=30)
        assert (array == 2 * value).all()  # value + its index, which is the value too
    child.join(30)
    assert child.exitcode == 0
    # The child opened the queues by name or inherited them; only this process removes them.
    assert aq.ArrayQueue.exists(source.name)
    source.close()
    sink.close()
    assert not aq.ArrayQueue.exists(source.name) and not aq.ArrayQueue.exists(sink.name)


def test_the_creator_removes_its_queue_when_dropped_or_at_exit(tmp_path):
    import gc

    q = shared_arrays.ArrayQueue(1)
    name = q.name
    del q
    gc.collect()
    assert not aq.ArrayQueue.exists(name)
    script = "from arrayqueues_swift.shared_arrays import ArrayQueue\nq = ArrayQueue(1)\nprint(q.name)\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not aq.ArrayQueue.exists(done.stdout.strip())


README_EXAMPLE = '''
from arrayqueues_swift.shared_arrays import ArrayQueue
from multiprocessing import Process
import numpy as np

class ReadProcess(Process):
    def __init__(self, source_queue):
        super().__init__()
        self.source_queue = source_queue

    def run(self):
        print(self.source_queue.get())

if __name__ == "__main__":
    q = ArrayQueue(1) # intitialises an ArrayQueue which can hold 1MB of data
    n = np.full((5,5), 5)
    q.put(n)
    r = ReadProcess(q)
    r.start()
    r.join()
'''


@pytest.mark.parametrize("method", METHODS)
def test_the_original_readme_example_runs_with_one_changed_import(tmp_path, method):
    script = tmp_path / "example.py"
    script.write_text(textwrap.dedent(README_EXAMPLE).replace(
        'if __name__ == "__main__":\n', f'if __name__ == "__main__":\n    import multiprocessing; multiprocessing.set_start_method("{method}")\n'))
    before = {entry for entry in os.listdir("/dev/shm") if entry.startswith("aq.arrayqueues-")}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[[5", "5", "5", "5", "5]"] + ["[5", "5", "5", "5", "5]"] * 3 + ["[5", "5", "5", "5", "5]]"]
    after = {entry for entry in os.listdir("/dev/shm") if entry.startswith("aq.arrayqueues-")}
    assert after <= before  # the example's queue was removed when it exited


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="a private /dev/shm needs root and unshare")
def test_a_crashed_creator_leaves_its_queue_to_aq_gc(tmp_path):
    """In a private /dev/shm: a process that creates a drop-in queue and is killed leaves the
    segment behind, and `aq gc` removes it since no live process uses it."""
    from conftest import tool

    crash = "import os, signal; from arrayqueues_swift.shared_arrays import ArrayQueue; q = ArrayQueue(1); os.kill(os.getpid(), signal.SIGKILL)"
    script = (f"mount -t tmpfs none /dev/shm && {{ {sys.executable} -c '{crash}'; true; }} && ls /dev/shm && echo --- "
              f"&& {tool('aq')} gc >&2 && ls /dev/shm")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.split("---")
    assert "aq.arrayqueues-" in before and "aq.arrayqueues-" not in after
