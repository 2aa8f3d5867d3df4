"""kill -9 of a Python producer inside a loan, or of a consumer inside a borrow (a separate
interpreter, or a forked multiprocessing child that inherited the queue), leaves the queue usable:
the unfinished write is discarded and counted, the unfinished read counted as lost, and the
room of both given back -- the same guarantees as for Swift processes."""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import arrayqueues_swift as aq

PRODUCER = '''
import sys, time, numpy as np
import arrayqueues_swift as aq
q = aq.ArrayQueue.open(sys.argv[1])
with q.loan((1000, 1000), np.uint8) as slot:
    slot[:500] = 1
    print("inside", flush=True)
    time.sleep(120)
'''

CONSUMER = '''
import sys, time
import arrayqueues_swift as aq
q = aq.ArrayQueue.open(sys.argv[1])
with q.borrow(timeout=30) as view:
    print("inside", int(view[0, 0]), flush=True)
    time.sleep(120)
'''


def _start_and_wait_inside(script: str, name: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), name], stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([child.stdout], [], [], 60)
    assert ready, "the child never reached its loan or borrow"
    assert child.stdout.readline().startswith("inside")
    return child


def _kill(child) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(30) if isinstance(child, subprocess.Popen) else child.join(30)


def _fill_and_drain(q: aq.ArrayQueue) -> None:
    """The whole ring is usable again: as many 1 MB records as fit, in and out."""
    count = 0
    while count < 100:
        try:
            q.put(np.full((1000, 1000), count, np.uint8), timeout=0)
        except aq.Full:
            break
        count += 1
    assert count >= 3
    for value in range(count):
        assert int(q.get(timeout=10)[0, 0]) == value


def test_producer_killed_inside_a_loan(name):
    with aq.ArrayQueue.create(name, 4 << 20, remove=True) as q:
        child = _start_and_wait_inside(PRODUCER, name)
        _kill(child)
        assert q.empty()  # the half-written record was never visible
        q.recover()
        stats = q.statistics()
        assert stats.abandoned_writes == 1 and stats.bytes_used == 0
        _fill_and_drain(q)


def test_consumer_killed_inside_a_borrow(name):
    with aq.ArrayQueue.create(name, 4 << 20, remove=True) as q:
        q.put(np.full((1000, 1000), 42, np.uint8))
        child = _start_and_wait_inside(CONSUMER, name)
        _kill(child)
        q.recover()
        stats = q.statistics()
        assert stats.lost_reads == 1 and stats.bytes_used == 0 and stats.count == 0
        _fill_and_drain(q)


def _borrow_and_hang(q, ready):
    with q.borrow(timeout=30):
        ready.set()
        import time

        time.sleep(120)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
def test_forked_child_killed_inside_a_borrow_is_noticed(name):
    """A forked child uses the queue handle it inherited: its borrow must be stamped with its
    own pid, not its parent's, or its death would never be noticed."""
    context = multiprocessing.get_context("fork")
    with aq.ArrayQueue.create(name, 4 << 20, remove=True) as q:
        q.put(np.full((1000, 1000), 7, np.uint8))
        ready = context.Event()
        child = context.Process(target=_borrow_and_hang, args=(q, ready))
        child.start()
        assert ready.wait(60)
        _kill(child)
        q.recover()
        stats = q.statistics()
        assert stats.lost_reads == 1 and stats.bytes_used == 0
        _fill_and_drain(q)
