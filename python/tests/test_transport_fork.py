"""A shm:// push/pull Sender (and Receiver) inherited by children forked without exec
(multiprocessing's "fork" start method, and a plain os.fork()): the parent's stream must go on
undisturbed -- every message intact, in the parent's epoch and numbering, ended only by the
parent's close -- whether a child ignores the handles, closes them, drops them (at once, or by
the interpreter's exit), or sends through the sender (its messages then come under an epoch of
their own, numbered from 0). The same checks from C: Tests/ArrayQueuesCTests/c/fork_test.c."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import arrayqueues_swift as aq
from conftest import same_bits

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")

ELEMENTS = 2048
TIMEOUT = 10  # seconds any one receive, send or child may take


def _values(index: int) -> np.ndarray:
    """The array of message `index`: element i is index * 1,000,000 + i."""
    return np.arange(ELEMENTS, dtype=np.int64) + index * 1_000_000


def _send(sender: aq.Sender, index: int) -> int:
    return sender.send({"values": _values(index)}, index=index)


def _expect(receiver: aq.Receiver, kind: str, epoch: int, sequence: int, index: int = 0) -> aq.Message:
    """The next message or event must be `kind` of `epoch` with `sequence`, and data must carry
    message `index` intact."""
    message = receiver.receive(timeout=TIMEOUT, events=True)
    assert message is not None, f"nothing arrived in {TIMEOUT} s; expected {kind} of epoch {epoch}, sequence {sequence}"
    got = (message.kind, message.epoch, message.sequence, message.index if kind == "data" else None)
    assert got == (kind, epoch, sequence, index if kind == "data" else None)
    if kind == "data":
        assert list(message.arrays) == ["values"] and same_bits(message["values"], _values(index))
    return message


def _expect_nothing(receiver: aq.Receiver) -> None:
    message = receiver.receive(timeout=0.1, events=True)
    assert message is None, f"unexpected {message.kind} of epoch {message.epoch}, sequence {message.sequence}"


# The children. Each gets the parent's handles in a dict that only the parent's test holds
# otherwise (so that the child can drop the last reference), and a pipe for what it saw.

def _child_ignores(handles, report):
    report.send("ignored")


def _child_closes(handles, report):
    handles["sender"].close()
    handles["receiver"].close()
    report.send(handles["sender"].statistics())  # the counters the close left: the parent's


def _child_drops(handles, report):
    held = {key: sys.getrefcount(handles[key]) - 1 for key in ("sender", "receiver")}  # 1: the dict's alone
    handles.clear()  # the last references in this process: the handles' dealloc closes them now
    report.send(held)


def _child_sends(handles, report):
    sender = handles["sender"]
    before = sender.statistics()
    first = _send(sender, 100)
    after_first = sender.statistics()
    second = _send(sender, 101)
    sender.close()
    report.send({"before": before, "sequences": [first, second], "after_first": after_first})


def _in_child(target, handles) -> object:
    """Runs `target(handles, pipe)` in a child forked by multiprocessing; returns what it sent
    once it exited with 0."""
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(handles, theirs))
    child.start()
    theirs.close()
    reported = None
    try:
        if ours.poll(60):
            reported = ours.recv()
    except EOFError:  # it exited without reporting (its traceback is on stderr)
        pass
    finally:
        child.join(60)
        if child.exitcode is None:
            child.kill()
            child.join(10)
        ours.close()
    assert child.exitcode == 0, f"{target.__name__}: the child exited with {child.exitcode}"
    assert reported is not None, f"{target.__name__}: the child reported nothing in 60 s"
    return reported


def test_forked_children_leave_the_parents_shm_stream_alone_and_send_under_their_own_epoch(name):
    """After a child that ignores the inherited Sender and Receiver, closes them, drops them, or
    sends through the sender, the parent's messages all arrive intact in its epoch and
    numbering, and its stream ends only at its own close. A child's close or drop of a sender it
    never used must put no end marker (it did: Python's sender_dealloc in the child ended the
    parent's stream); a child's messages must not reuse the parent's epoch and numbers (they did,
    and the parent's next messages then repeated the child's numbers)."""
    # Only `handles` refers to the Sender and Receiver, so that a child can drop them.
    handles = {"receiver": aq.Receiver(f"shm://{name}", shm_capacity=4 << 20)}
    handles["sender"] = aq.Sender(f"shm://{name}", send_timeout=TIMEOUT)
    parent_epoch = handles["sender"].statistics()["epoch"]
    assert _send(handles["sender"], 0) == 0

    # (a) A child that never touches them and exits (multiprocessing ends it with os._exit).
    assert _in_child(_child_ignores, handles) == "ignored"
    assert _send(handles["sender"], 1) == 1
    _expect(handles["receiver"], "data", parent_epoch, 0, 0)
    _expect(handles["receiver"], "data", parent_epoch, 1, 1)
    _expect_nothing(handles["receiver"])

    # (b) A child that closes both: no end marker, nothing taken from the queue.
    assert _send(handles["sender"], 2) == 2
    closed = _in_child(_child_closes, handles)
    assert (closed["epoch"], closed["sent"], closed["next_sequence"]) == (parent_epoch, 3, 3)
    assert _send(handles["sender"], 3) == 3
    _expect(handles["receiver"], "data", parent_epoch, 2, 2)
    _expect(handles["receiver"], "data", parent_epoch, 3, 3)
    _expect_nothing(handles["receiver"])

    # (b') A child that drops its last references (the native handles' dealloc closes them).
    assert _send(handles["sender"], 4) == 4
    assert _in_child(_child_drops, handles) == {"sender": 1, "receiver": 1}  # so clear() deallocated them
    assert _send(handles["sender"], 5) == 5
    _expect(handles["receiver"], "data", parent_epoch, 4, 4)
    _expect(handles["receiver"], "data", parent_epoch, 5, 5)
    _expect_nothing(handles["receiver"])

    # (c) A child that sends through the inherited sender, then closes it: an epoch of its own,
    # numbered from 0, ended by its close; the parent's numbering goes on where it was.
    sent = _in_child(_child_sends, handles)
    assert sent["before"]["epoch"] == parent_epoch  # the parent's counters until its first send
    assert sent["sequences"] == [0, 1]
    child_epoch = sent["after_first"]["epoch"]
    assert child_epoch != parent_epoch
    assert (sent["after_first"]["sent"], sent["after_first"]["next_sequence"]) == (1, 1)
    assert _send(handles["sender"], 6) == 6
    _expect(handles["receiver"], "data", child_epoch, 0, 100)
    _expect(handles["receiver"], "data", child_epoch, 1, 101)
    _expect(handles["receiver"], "end", child_epoch, 1)
    _expect(handles["receiver"], "data", parent_epoch, 6, 6)
    _expect_nothing(handles["receiver"])

    # The parent's counters and close: its end marker ends its stream after sequence 6.
    statistics = handles["sender"].statistics()
    assert (statistics["epoch"], statistics["sent"], statistics["next_sequence"]) == (parent_epoch, 7, 7)
    handles["sender"].close()
    _expect(handles["receiver"], "end", parent_epoch, 6)
    _expect_nothing(handles["receiver"])
    counts = handles["receiver"].statistics()
    assert (counts["received"], counts["ends"], counts["malformed"]) == (9, 2, 0)
    handles["receiver"].close()
    aq.ArrayQueue.remove(name)


# A parent script whose os.fork() child ends through the interpreter's normal exit: its
# finalization drops the inherited Sender (module globals), as a user's forking script does.
FORKING_SCRIPT = '''
import os, sys
import numpy as np
import arrayqueues_swift as aq

sender = aq.Sender("shm://" + sys.argv[1], send_timeout=10)
print(sender.statistics()["epoch"], flush=True)
values = lambda index: np.arange(2048, dtype=np.int64) + index * 1_000_000
assert sender.send({"values": values(0)}, index=0) == 0
child = os.fork()
if child == 0:
    sys.exit(0)  # a normal exit: the interpreter's finalization deallocates `sender`
_, status = os.waitpid(child, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert sender.send({"values": values(1)}, index=1) == 1
sender.close()
print("done", flush=True)
'''


def test_a_forked_child_whose_interpreter_exits_does_not_end_the_parents_shm_stream(name):
    """A child of os.fork() that exits normally drops the inherited Sender in the interpreter's
    finalization (sender_dealloc): that must put no end marker into the parent's stream (it did,
    and a receiver took the parent's stream as ended after its first message)."""
    with aq.Receiver(f"shm://{name}", shm_capacity=1 << 20) as receiver:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(FORKING_SCRIPT), name],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        epoch, finished = done.stdout.split()
        assert finished == "done"
        _expect(receiver, "data", int(epoch), 0, 0)
        _expect(receiver, "data", int(epoch), 1, 1)
        _expect(receiver, "end", int(epoch), 1)
        _expect_nothing(receiver)
    aq.ArrayQueue.remove(name)
