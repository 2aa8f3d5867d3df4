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


_KEPT = []


def _create_in_child(inherited, names):
    """Creates two queues in a multiprocessing child and reports their names: one it drops at
    once, one it keeps until it ends."""
    names.put(shared_arrays.ArrayQueue(0.1).name)
    _KEPT.append(shared_arrays.ArrayQueue(0.1))  # still referenced when the child ends
    names.put(_KEPT[-1].name)


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_a_multiprocessing_child_removes_what_it_created_and_nothing_of_its_parent(method):
    """fork and forkserver children end with os._exit, which skips atexit: the queues they
    created are removed by multiprocessing's own exit finalizers, and only those."""
    context = multiprocessing.get_context(method)
    parents = shared_arrays.ArrayQueue(0.1)
    names = context.Queue()
    child = context.Process(target=_create_in_child, args=(parents, names))
    child.start()
    created = [names.get(timeout=60), names.get(timeout=60)]
    child.join(60)
    assert child.exitcode == 0
    assert not any(aq.ArrayQueue.exists(created_name) for created_name in created)
    assert aq.ArrayQueue.exists(parents.name)  # a forked child inherited the object, and left it
    parents.close()
    assert not aq.ArrayQueue.exists(parents.name)


def test_a_plain_forked_child_leaves_its_parents_queue_at_its_exit(tmp_path):
    """A child of os.fork() that exits normally runs the exit finalizers it inherited: they
    see that it is not the creator and leave the queue."""
    script = textwrap.dedent("""
        import os, sys
        from arrayqueues_swift import ArrayQueue as Native
        from arrayqueues_swift.shared_arrays import ArrayQueue
        q = ArrayQueue(0.1)
        child = os.fork()
        if child == 0:
            sys.exit(0)  # a normal exit: atexit and multiprocessing's finalizers run
        os.waitpid(child, 0)
        print(q.name, Native.exists(q.name))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    queue_name, existed = done.stdout.split()
    assert existed == "True" and not aq.ArrayQueue.exists(queue_name)


PICKLED_THEN_DROPPED = '''
import gc, multiprocessing, sys
import numpy as np
from arrayqueues_swift.shared_arrays import ArrayQueue

def child(q):
    print(int(q.get(timeout=60).sum()), flush=True)

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    q = ArrayQueue(0.1)
    print(q.name, flush=True)
    q.put(np.arange(5))
    process = context.Process(target=child, args=(q,))
    process.start()
    del q  # before the child has opened the queue: it must still find it
    gc.collect()
    process.join(60)
    print(process.exitcode, flush=True)
'''


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_queue_handed_to_a_child_outlives_the_parents_object(tmp_path, method):
    """Under spawn and forkserver the child opens the queue by name, after the parent may have
    dropped its object: a pickled queue is kept until close() or the creator's exit."""
    script = tmp_path / "dropped.py"
    script.write_text(PICKLED_THEN_DROPPED)
    done = subprocess.run([sys.executable, str(script), method], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    queue_name, total, exitcode = done.stdout.split()
    assert (total, exitcode) == ("10", "0"), done.stderr
    assert not aq.ArrayQueue.exists(queue_name)  # removed at the creator's exit


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
