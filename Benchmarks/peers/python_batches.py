#!/usr/bin/env python3
"""Two processes through one queue, from Python: records per second for put/get one at a time
and for put_many/get_many (batches of 64 put, up to 256 taken), at 4 B and 1 KiB.

    python python_batches.py LABEL

The producer puts for 1 s, then an empty array that ends the consumer, which counts from the
first record it got to the last. Prints one JSON line per case, tagged with LABEL. Run it with
the interpreter of each build's virtual environment, in alternation, to compare builds in one
run (docs/BENCHMARKS.md)."""
import json
import multiprocessing
import os
import sys
import time

import numpy as np
from arrayqueues_swift import ArrayQueue

SECONDS = 1.0


def consume(name, batched, ready, result):
    """Takes records until the empty one; reports (records after the first take, seconds)."""
    queue = ArrayQueue.open(name)
    ready.set()
    taken, counted_from, first, last = 0, 0, None, None
    while True:
        arrays = queue.get_many(256, timeout=5) if batched else [queue.get(timeout=5)]
        ended = arrays[-1].size == 0
        taken += len(arrays) - ended
        now = time.perf_counter()
        if first is None:
            first, counted_from = now, taken
        last = now
        if ended:
            break
    result.put((taken - counted_from, last - first))


def run(name, size, batched):
    """Records per second through a 64 MiB queue."""
    queue = ArrayQueue.create(name, 64 << 20)
    ready, result = multiprocessing.Event(), multiprocessing.Queue()
    consumer = multiprocessing.Process(target=consume, args=(name, batched, ready, result))
    consumer.start()
    ready.wait()
    one = np.ones(size, np.uint8)
    batch = np.ones((64, size), np.uint8)
    end = time.perf_counter() + SECONDS
    while time.perf_counter() < end:
        if batched:
            queue.put_many(batch, timeout=5)
        else:
            for _ in range(64):
                queue.put(one, timeout=5)
    queue.put(np.zeros(0, np.uint8), timeout=5)
    count, elapsed = result.get(timeout=30)
    consumer.join(10)
    queue.close()
    ArrayQueue.remove(name)
    return count / elapsed


if __name__ == "__main__":
    label = sys.argv[1]
    for size in (4, 1024):
        for batched in (False, True):
            rate = run(f"python-batches-{os.getpid()}", size, batched)
            print(json.dumps({"build": label, "size": size, "batched": batched, "records_per_s": rate}), flush=True)
