#!/usr/bin/env python3
"""One peer, one array size, a long steady stream between two processes: what each side
spends per array, for finding where large arrays lose their time.

    python steady_stream.py PEER [--size BYTES] [--depth N] [--seconds S] [--perf record|stat]

PEER is an adapter of adapters.py (iceoryx2, arrayqueues-swift, arrayqueues-swift-zerocopy,
...). The producer sends one prepared uint8 array as fast as the peer lets it; the consumer
receives and reads it as peer_bench.py does. After 2 x depth + 2 arrays (every slot written
and read at least twice, so no first-touch page faults are counted), both sides measure for
`seconds`. Printed: GB/s at the consumer; the producer's and the consumer's CPU time per array
(`time.process_time`; on a loaded machine these move much less than GB/s, which also measures
the share of the CPUs each side got); and how many distinct payload addresses the consumer saw,
that is how much memory the stream cycles through (a ring: its depth; a pool: the chunks it
reuses). With --perf, each process runs `perf record -g` or `perf stat` on itself for the
measured phase only (files <peer>-producer.* and <peer>-consumer.* in --perf-dir).
Every wait is bounded; the workers are killed after 120 s.
"""

import argparse
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np

from adapters import PEERS
from peer_bench import read


def start_perf(mode, path):
    if mode is None:
        return None
    if mode == "record":
        command = ["perf", "record", "-g", "-o", path + ".data", "-p", str(os.getpid())]
    else:
        command = ["perf", "stat", "-e", "page-faults,task-clock,context-switches", "-o", path + ".stat", "-p", str(os.getpid())]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)  # perf attaches
    return process


def stop_perf(process):
    if process is not None:
        process.send_signal(2)
        process.wait(30)


def produce(peer, channel, size, phase, stop, out, perf, prefix):
    sender = peer.sender(channel, size, blocking=False)
    if hasattr(sender, "connected"):
        sender.connected(30)
    source = (np.arange(size) % 251).astype(np.uint8)
    profiler, started, count = None, None, 0
    while not stop.value:
        if phase.value == 1 and started is None:
            profiler = start_perf(perf, prefix + "-producer")
            phase.value, started, count = 2, time.process_time(), 0
        sender.send(source, timeout=30)
        count += 1
    if started is not None:
        out[2] = (time.process_time() - started) / max(count, 1) * 1e3
    stop_perf(profiler)
    sender.close()


def consume(peer, channel, size, depth, phase, stop, out, seconds, perf, prefix):
    receiver = peer.receiver(channel, size, blocking=False)
    if hasattr(receiver, "connected"):
        receiver.connected(30)
    received, measured, first, profiler, addresses = 0, 0, None, None, set()
    hard = time.monotonic() + seconds + 60
    while time.monotonic() < hard:
        array = receiver.recv(1.0)
        if array is None:
            continue
        read(array, peer.borrowed)
        if first is not None:
            addresses.add(array.__array_interface__["data"][0])
        receiver.release()
        received += 1
        if first is None and received == 2 * depth + 2:
            phase.value = 1
            profiler = start_perf(perf, prefix + "-consumer")
            wait = time.monotonic() + 5
            while phase.value != 2 and time.monotonic() < wait:
                time.sleep(0.0001)
            first, cpu = time.monotonic(), time.process_time()
        elif first is not None:
            measured += 1
            if time.monotonic() - first >= seconds:
                break
    elapsed = time.monotonic() - first if first else 0
    stop.value = 1
    if first:
        out[0], out[1] = measured * size / elapsed / 1e9, measured
        out[3] = (time.process_time() - cpu) / max(measured, 1) * 1e3
        out[4] = len(addresses)
    stop_perf(profiler)
    while receiver.recv(0.5) is not None:
        receiver.release()
    receiver.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("--size", type=int, default=64 << 20, help="array bytes (default 64 MiB)")
    parser.add_argument("--depth", type=int, default=8, help="arrays the channel buffers (default 8, peer_bench's deep ring at 64 MiB)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--perf", choices=["record", "stat"])
    parser.add_argument("--perf-dir", default=".")
    arguments = parser.parse_args()
    peer = PEERS[arguments.peer]
    context = multiprocessing.get_context("fork")
    channel = peer.channel(context, arguments.size, arguments.depth)
    phase = context.Value("i", 0, lock=False)
    stop = context.Value("b", 0, lock=False)
    out = context.Array("d", 5, lock=False)
    prefix = os.path.join(arguments.perf_dir, peer.name)
    workers = [
        context.Process(target=consume, args=(peer, channel, arguments.size, arguments.depth, phase, stop, out, arguments.seconds,
                                              arguments.perf, prefix)),
        context.Process(target=produce, args=(peer, channel, arguments.size, phase, stop, out, arguments.perf, prefix)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        if worker.is_alive():
            worker.kill()
            worker.join(5)
    if out[1] < 1:
        print(f"{peer.name}: nothing measured", file=sys.stderr)
        return 1
    print(f"{peer.name} {arguments.size} B x {arguments.depth}: {out[0]:.3f} GB/s, {int(out[1])} arrays; CPU per array: "
          f"producer {out[2]:.2f} ms, consumer {out[3]:.2f} ms; {int(out[4])} payload addresses; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
