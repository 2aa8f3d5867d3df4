#!/usr/bin/env python3
"""Per-record cost of the Python paths, in one process (no second process, no waiting): what a
1 KiB record costs in interpreter and library work, with the operations of the peer harness
(Benchmarks/peers/adapters.py) -- `loan` + copy in, `borrow` + read every cache line, and the
copying `put` / `get` -- and the same for iceoryx2's Python binding when it is importable.

    python python/benchmarks/per_record.py [--size 1024] [--records 20000] [--rounds 7] [--pieces]

Prints one line per path: nanoseconds per record, the median record of the best round (and of
the median round); each record is timed on its own, so that the other processes of a busy
machine cost the rounds a few records rather than their averages.
With --pieces, also each call of a loan and a borrow timed on its own (minus the clock's own
cost), to see where a record's time goes. Figures are only comparable within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "Benchmarks" / "peers"))
from adapters import PEERS  # noqa: E402


def pair(peer_name: str, size: int):
    """A sender and a receiver of the peer in this process, over a channel of 64 records."""
    import multiprocessing

    peer = PEERS[peer_name]
    channel = peer.channel(multiprocessing.get_context("fork"), size, 64)
    sender, receiver = peer.sender(channel, size, False), peer.receiver(channel, size, False)
    for port in (sender, receiver):
        if hasattr(port, "connected"):
            port.connected(10)
    return peer, channel, sender, receiver


def read(array, borrowed):
    # The harness's consumer (peer_bench.read): every cache line of a view, the first word of a copy.
    if borrowed:
        return int(np.bitwise_xor.reduce(array.view(np.uint64)[::8]))
    return int(array[0])


def per_record(peer_name: str, size: int, records: int, rounds: int) -> list[float]:
    """Each round: the median time of a record (send, receive, read, release), each record
    timed on its own so that a preemption costs one record, not the round."""
    peer, channel, sender, receiver = pair(peer_name, size)
    source = (np.arange(size) % 251).astype(np.uint8)
    send, recv, release, borrowed = sender.send, receiver.recv, receiver.release, peer.borrowed
    clock = time.perf_counter_ns
    results = []
    for _ in range(rounds):
        spent = []
        for _ in range(records):
            started = clock()
            send(source, 5)
            array = recv(5)
            read(array, borrowed)
            release()
            spent.append(clock() - started)
        results.append(statistics.median(spent))
    receiver.close()
    sender.close()
    del channel
    return results


def pieces(size: int, records: int) -> None:
    """Each call of `with q.loan(...) as slot: slot[...] = a` and of a borrow and its read, timed
    on its own; the clock's own cost is subtracted."""
    import arrayqueues_swift as aq

    clock = time.perf_counter_ns
    empty = min(-(clock() - clock()) for _ in range(10000))
    name = f"per-record-{os.getpid()}"
    queue = aq.ArrayQueue.create(name, 1 << 20, remove=True)
    source = (np.arange(size) % 251).astype(np.uint8)
    shape, dtype = source.shape, source.dtype
    steps = ["q.loan(...)", "__enter__ (reserve)", "slot[...] = a", "__exit__ (commit)",
             "q.borrow(...)", "__enter__ (take)", "view.view(uint64)", "[::8]", "bitwise_xor.reduce", "int()",
             "__exit__ (release)"]
    spent = [[] for _ in steps]
    for _ in range(records):
        marks = [clock()]
        loan = queue.loan(shape, dtype, 5)
        marks.append(clock())
        slot = loan.__enter__()
        marks.append(clock())
        slot[...] = source
        marks.append(clock())
        loan.__exit__(None, None, None)
        marks.append(clock())
        borrow = queue.borrow(5)
        marks.append(clock())
        view = borrow.__enter__()
        marks.append(clock())
        words = view.view(np.uint64)
        marks.append(clock())
        lines = words[::8]
        marks.append(clock())
        mixed = np.bitwise_xor.reduce(lines)
        marks.append(clock())
        int(mixed)
        marks.append(clock())
        borrow.__exit__(None, None, None)
        marks.append(clock())
        for step in range(len(steps)):
            spent[step].append(marks[step + 1] - marks[step] - empty)
    queue.close()
    for step, values in zip(steps, spent):
        print(f"  {step:24s} {statistics.median(values):8.0f} ns (median)")
    print(f"  {'sum':24s} {sum(statistics.median(values) for values in spent):8.0f} ns")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--peers", default="arrayqueues-swift-zerocopy,arrayqueues-swift,iceoryx2")
    parser.add_argument("--pieces", action="store_true")
    arguments = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; {arguments.size} bytes; {arguments.rounds} rounds "
          f"of {arguments.records} records", flush=True)
    for name in arguments.peers.split(","):
        try:
            results = per_record(name, arguments.size, arguments.records, arguments.rounds)
        except ImportError as missing:
            print(f"{name:28s} not importable here ({missing})")
            continue
        print(f"{name:28s} {min(results):8.0f} ns/record ({statistics.median(results):.0f})", flush=True)
    if arguments.pieces:
        pieces(arguments.size, arguments.records)


if __name__ == "__main__":
    main()
