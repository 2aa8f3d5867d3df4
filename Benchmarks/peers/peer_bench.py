#!/usr/bin/env python3
"""Runs aq-bench's scenarios, where they apply, with a peer: what a user would pick instead of
ArrayQueues to move numpy arrays between two processes on one machine.

    python peer_bench.py --peer mpqueue [--quick] [--baselines aq-bench.jsonl]

Peers: mpqueue (multiprocessing.Queue), arrayqueues (the original Python package, 1.4.1),
faster-fifo, iceoryx2 (its Python binding) and pyzmq-tcp (PUSH/PULL over tcp://127.0.0.1,
copy=False). Each run uses two real processes, forked from this one.

Prints one JSON object per line, with the fields of aq-bench --json:

- ``peer-<name>`` and ``peer-<name>-shallow``: throughput of 1 KiB, 64 KiB, 1 MiB, 8 MiB and
  64 MiB arrays (uint8), as GB/s and arrays/s, compared with ``memcpy-<size>``; with a deep and a
  shallow channel, as ArrayQueues' ``queue-copy`` and ``queue-copy-shallow``;
- ``peer-<name>-rate``: 1 KiB arrays per second (the same run as the deep 1 KiB throughput),
  compared with ``spsc-ring-1KiB``;
- ``peer-<name>-pingpong``: round-trip time of an 8-byte array sent and answered through two
  channels, both processes blocking in receive; p50 compared with ``futex-pingpong-p50``.

The baselines come from the aq-bench results of the same run (``--baselines``); without them
the baseline fields are null. A row whose measurement failed or was skipped has null figures
and a ``note`` that says why; the other rows still run. Progress goes to standard error.

How a throughput figure is measured: the producer sends a prepared array as fast as the peer
lets it; the consumer receives, reads the array (every cache line of a borrowed view, the first
word of an array it owns) and stamps the time. The first pass over the channel (``depth``
arrays, at most 1 s) is a warm-up and is not measured. Then the consumer measures for a fixed
time (1 s, 0.5 s with --quick), tells the producer to stop and drains the channel.
GB/s = (arrays - 1) x size / (time of the last - time of the first measured array); the best of
2 runs (1 with --quick). With --aq-bench, each run is preceded by one of aq-bench's raw
pipeline with the same geometry (0.5 s) (raw_pipeline_gbps, best of those runs; ratio_raw).
``depth``, the number of arrays the channel buffers (ring_records), follows ArrayQueues' two ring
geometries: 64 MiB worth and at least 8 (deep), or 4 MiB worth and at least 3 (shallow). Every loop is bounded in count and time; worker processes still running
after their time limit are killed and the row says so.
"""

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
import traceback

import numpy as np

from adapters import PEERS, Timeout

SIZES = [1 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20]
MAX_RECORDS = 50_000_000
FIELDS = [
    "scenario", "size_bytes", "records", "seconds", "gbps", "records_per_s", "p50_us", "p99_us", "p999_us",
    "baseline", "baseline_value", "baseline_unit", "ratio", "note", "ring_records", "raw_pipeline_gbps", "ratio_raw",
]


def format_size(size):
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift}{unit}"
    return f"{size}B"


def row(scenario, **fields):
    out = {name: None for name in FIELDS}
    out["scenario"] = scenario
    for name, value in fields.items():
        out[name] = round(value, 3) if isinstance(value, float) else value
    return out


def emit(record):
    print(json.dumps(record), flush=True)


def note(message):
    print(f"peer_bench: {message}", file=sys.stderr, flush=True)


GEOMETRIES = {"deep": "", "shallow": "-shallow"}


def depth_for(size, geometry):
    """Arrays the channel buffers: ArrayQueues' two ring geometries. Deep: 64 MiB worth, at
    least 8; shallow: 4 MiB worth, at least 3."""
    if geometry == "deep":
        return max(8, (64 << 20) // size)
    return max(3, (4 << 20) // size)


def read(array, borrowed):
    """What the consumer does with an array: reads every cache line of a borrowed view (one
    uint64 of each 64 bytes), or the first word of an array it owns."""
    if borrowed and array.nbytes >= 64:
        return int(np.bitwise_xor.reduce(array.view(np.uint64)[::8]))
    return int(array[0]) if array.nbytes else 0


# MARK: - Throughput


def _produce(peer, channel, size, barrier, stop, sent, error, deadline_s):
    try:
        sender = peer.sender(channel, size, blocking=False)
        barrier.wait()
        if hasattr(sender, "connected"):
            sender.connected(30)
        source = (np.arange(size) % 251).astype(np.uint8)
        count = 0
        hard = time.monotonic() + deadline_s
        while not stop.value and count < MAX_RECORDS and time.monotonic() < hard:
            sender.send(source, timeout=30)
            count += 1
        sent.value = count
        sender.close()
    except BaseException as failure:  # the parent reports it; the row says what happened
        error.value = f"producer: {type(failure).__name__}: {failure}".encode()[:1000]
        traceback.print_exc()
        sys.exit(1)


def _consume(peer, channel, size, depth, barrier, stop, sent, error, out, warm_s, seconds, deadline_s):
    try:
        receiver = peer.receiver(channel, size, blocking=False)
        barrier.wait()
        if hasattr(receiver, "connected"):
            receiver.connected(30)
        warmup = depth
        hard = time.monotonic() + deadline_s
        received = 0
        measured = 0
        started = first = last = 0
        checksum = 0
        phase = "warm-up"
        while True:
            array = receiver.recv(0.1)
            if array is None:
                if 0 <= sent.value <= received:
                    break
                if time.monotonic() > hard:
                    raise Timeout(f"received {received} arrays, then nothing more (sent: {sent.value})")
                continue
            checksum ^= read(array, peer.borrowed)
            receiver.release()
            received += 1
            now = time.monotonic_ns()
            if phase == "warm-up":
                if received == 1:
                    started = now
                if received >= warmup or now - started >= warm_s * 1e9:
                    phase, first, last, measured = "measure", now, now, 1
            elif phase == "measure":
                measured += 1
                last = now
                if now - first >= seconds * 1e9 or measured >= MAX_RECORDS:
                    phase = "drain"
                    stop.value = 1
            if phase != "measure" and 0 <= sent.value <= received:
                break
            if time.monotonic() > hard:
                stop.value = 1
                raise Timeout(f"still receiving after {deadline_s:.0f} s")
        stop.value = 1
        out[0], out[1], out[2], out[3] = measured, first, last, checksum & 0xFFFF
        receiver.close()
    except BaseException as failure:
        stop.value = 1
        error.value = f"consumer: {type(failure).__name__}: {failure}".encode()[:1000]
        traceback.print_exc()
        sys.exit(1)


def run_processes(processes, limit_s):
    """Starts the processes and waits for them, at most `limit_s` in all; kills the ones still
    running then. Returns a reason if something went wrong, or None."""
    for process in processes:
        process.start()
    deadline = time.monotonic() + limit_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    late = [process for process in processes if process.is_alive()]
    for process in late:
        process.kill()
        process.join(5)
    if late:
        return f"{len(late)} worker process(es) still running after {limit_s:.0f} s, killed"
    failed = [process.exitcode for process in processes if process.exitcode != 0]
    return f"a worker exited with status {failed[0]}" if failed else None


def stream(peer, size, geometry, seconds, warm_s):
    ctx = multiprocessing.get_context("fork")
    depth = depth_for(size, geometry)
    channel = peer.channel(ctx, size, depth)
    barrier = ctx.Barrier(2, timeout=60)
    stop = ctx.Value("b", 0, lock=False)
    sent = ctx.Value("q", -1, lock=False)
    error = ctx.Array("c", 1024, lock=False)
    out = ctx.Array("d", 4, lock=False)
    deadline_s = warm_s + seconds + 60
    processes = [
        ctx.Process(target=_consume, args=(peer, channel, size, depth, barrier, stop, sent, error, out, warm_s, seconds, deadline_s)),
        ctx.Process(target=_produce, args=(peer, channel, size, barrier, stop, sent, error, deadline_s)),
    ]
    problem = run_processes(processes, deadline_s + 30)
    if problem or error.value:
        return None, depth, "; ".join(filter(None, [error.value.decode(errors="replace"), problem]))
    records, first, last = int(out[0]), out[1], out[2]
    if records < 2 or last <= first:
        return None, depth, f"only {records} array(s) measured"
    return (records, (last - first) / 1e9), depth, None


def probe(aq_bench, size, depth, seconds):
    """GB/s of aq-bench's raw two-process pipeline (`shm-pipeline`) with `depth` slots of
    `size` bytes, measured now: the physical limit of a shared-memory channel of that
    geometry, at this moment (on a virtual machine it changes when the hypervisor moves the
    vCPUs)."""
    if not aq_bench:
        return None
    command = [aq_bench, "pipeline", "--size", str(size), "--slots", str(depth), "--seconds", str(seconds), "--json"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        return json.loads(done.stdout.strip().splitlines()[-1])["gbps"] if done.returncode == 0 else None
    except (subprocess.TimeoutExpired, OSError, ValueError, IndexError, KeyError):
        return None


# MARK: - Ping-pong


def _ping(peer, ping, pong, barrier, stop, error, out, rounds, warm, cap_s):
    try:
        sender = peer.sender(ping, 8, blocking=True)
        receiver = peer.receiver(pong, 8, blocking=True)
        barrier.wait()
        for port in (sender, receiver):
            if hasattr(port, "connected"):
                port.connected(30)
        message = np.ones(8, dtype=np.uint8)
        times = []
        cap = time.monotonic() + cap_s
        for index in range(warm + rounds):
            if time.monotonic() > cap:
                break
            start = time.monotonic_ns()
            sender.send(message, timeout=10)
            answer = receiver.recv(10)
            end = time.monotonic_ns()
            if answer is None:
                raise Timeout("no answer within 10 s")
            receiver.release()
            if index >= warm:
                times.append(end - start)
        stop.value = 1
        if times:
            p50, p99, p999 = np.percentile(np.array(times, dtype=np.float64) / 1000, [50, 99, 99.9])
            out[0], out[1], out[2], out[3], out[4] = len(times), p50, p99, p999, sum(times) / 1e9
        sender.close()
        receiver.close()
    except BaseException as failure:
        stop.value = 1
        error.value = f"pinger: {type(failure).__name__}: {failure}".encode()[:1000]
        traceback.print_exc()
        sys.exit(1)


def _pong(peer, ping, pong, barrier, stop, error, limit_s):
    try:
        receiver = peer.receiver(ping, 8, blocking=True)
        sender = peer.sender(pong, 8, blocking=True)
        barrier.wait()
        for port in (sender, receiver):
            if hasattr(port, "connected"):
                port.connected(30)
        answer = np.full(8, 2, dtype=np.uint8)
        hard = time.monotonic() + limit_s
        while time.monotonic() < hard:
            message = receiver.recv(0.1)
            if message is None:
                if stop.value:
                    break
                continue
            receiver.release()
            sender.send(answer, timeout=10)
        sender.close()
        receiver.close()
    except BaseException as failure:
        error.value = f"ponger: {type(failure).__name__}: {failure}".encode()[:1000]
        traceback.print_exc()
        sys.exit(1)


def pingpong(peer, rounds, cap_s):
    ctx = multiprocessing.get_context("fork")
    ping = peer.channel(ctx, 8, 4)
    pong = peer.channel(ctx, 8, 4)
    barrier = ctx.Barrier(2, timeout=60)
    stop = ctx.Value("b", 0, lock=False)
    error = ctx.Array("c", 1024, lock=False)
    out = ctx.Array("d", 5, lock=False)
    limit_s = cap_s + 60
    processes = [
        ctx.Process(target=_pong, args=(peer, ping, pong, barrier, stop, error, limit_s)),
        ctx.Process(target=_ping, args=(peer, ping, pong, barrier, stop, error, out, rounds, 50, cap_s)),
    ]
    problem = run_processes(processes, limit_s + 30)
    if problem or error.value:
        return None, "; ".join(filter(None, [error.value.decode(errors="replace"), problem]))
    if out[0] < 1:
        return None, "no round trip measured"
    return (int(out[0]), out[1], out[2], out[3], out[4]), None


# MARK: - Main


def load_baselines(path):
    baselines = {}
    if not path or not os.path.exists(path):
        return baselines
    with open(path) as results:
        for line in results:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            scenario, size = record.get("scenario"), record.get("size_bytes")
            if scenario == "memcpy" and record.get("gbps"):
                baselines[f"memcpy-{format_size(size)}"] = record["gbps"]
            elif scenario == "spsc-ring-rate" and size == 1024:
                baselines["spsc-ring-1KiB"] = record.get("records_per_s")
            elif scenario == "futex-pingpong":
                baselines["futex-pingpong-p50"] = record.get("p50_us")
    return baselines


def compared(record, baselines, name, unit, figure):
    value = baselines.get(name)
    if value and figure is not None:
        record.update(baseline=name, baseline_value=round(value, 3), baseline_unit=unit, ratio=round(figure / value, 3))
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", required=True, choices=sorted(PEERS), help="the peer to measure")
    parser.add_argument("--quick", action="store_true", help="short runs (0.5 s per figure)")
    parser.add_argument("--baselines", help="aq-bench --json results of the same run, for the ratios")
    parser.add_argument("--sizes", help="comma-separated array sizes in bytes (default: 1 KiB to 64 MiB)")
    parser.add_argument("--geometry", choices=["deep", "shallow", "both"], default="both",
                        help="channel depth: 64 MiB worth (deep), 4 MiB worth (shallow), or both (default)")
    parser.add_argument("--aq-bench", help="the aq-bench executable: measures the raw pipeline of the same geometry before each figure (ratio_raw)")
    parser.add_argument("--skip-pingpong", action="store_true", help="throughput only")
    arguments = parser.parse_args()

    peer = PEERS[arguments.peer]
    scenario = f"peer-{peer.name}"
    baselines = load_baselines(arguments.baselines)
    sizes = [int(size) for size in arguments.sizes.split(",")] if arguments.sizes else SIZES
    seconds, warm_s, repetitions = (0.5, 1.0, 1) if arguments.quick else (1.0, 1.0, 2)
    geometries = ["deep", "shallow"] if arguments.geometry == "both" else [arguments.geometry]
    try:
        versions = peer.versions()
    except Exception as failure:  # the library is missing: one row says so, nothing else runs
        emit(row(scenario, note=f"not available: {type(failure).__name__}: {failure}"))
        return 0
    note(f"{peer.name}: {versions or ''}")

    for geometry in geometries:
        name = scenario + GEOMETRIES[geometry]
        gbps_so_far = None
        for size in sizes:
            label = format_size(size)
            depth = depth_for(size, geometry)
            # Bounded time: skip a size that would take more than a second per array at the
            # rate the previous size reached.
            if gbps_so_far and size / (gbps_so_far * 1e9) > 1.0:
                emit(row(name, size_bytes=size, ring_records=depth,
                         note=f"skipped: {gbps_so_far:.3f} GB/s at the previous size means over 1 s per {label} array"))
                continue
            note(f"{peer.name}: {label} arrays, {geometry} ({depth} arrays buffered)")
            started = time.monotonic()
            result, raw, problem = None, None, None
            for _ in range(repetitions):
                figure = probe(arguments.aq_bench, size, depth, 0.5)
                if figure is not None:
                    raw = max(raw or 0.0, figure)
                try:
                    attempt, depth, problem = stream(peer, size, geometry, seconds, warm_s)
                except Exception as failure:
                    attempt, problem = None, f"{type(failure).__name__}: {failure}"
                if attempt is None:
                    result = None
                    break
                if result is None or (attempt[0] - 1) / attempt[1] > (result[0] - 1) / result[1]:
                    result = attempt
            if result is None:
                note(f"{peer.name}: {label}: failed: {problem}")
                emit(row(name, size_bytes=size, ring_records=depth, note=f"failed: {problem}"))
                continue
            records, elapsed = result
            gbps = (records - 1) * size / elapsed / 1e9
            rate = (records - 1) / elapsed
            gbps_so_far = gbps
            record = compared(row(name, size_bytes=size, records=records, seconds=elapsed, gbps=gbps, records_per_s=rate, ring_records=depth),
                              baselines, f"memcpy-{label}", "GB/s", gbps)
            if raw:
                record.update(raw_pipeline_gbps=round(raw, 3), ratio_raw=round(gbps / raw, 3))
            emit(record)
            if size == 1024 and geometry == "deep":
                emit(compared(row(f"{scenario}-rate", size_bytes=size, records=records, seconds=elapsed, gbps=gbps, records_per_s=rate,
                                  ring_records=depth), baselines, "spsc-ring-1KiB", "records/s", rate))
            note(f"{peer.name}: {label}: {gbps:.3f} GB/s, {rate:.0f} arrays/s ({time.monotonic() - started:.1f} s)")

    if not arguments.skip_pingpong:
        rounds, cap_s = (500, 4.0) if arguments.quick else (2000, 10.0)
        note(f"{peer.name}: ping-pong")
        try:
            result, problem = pingpong(peer, rounds, cap_s)
        except Exception as failure:
            result, problem = None, f"{type(failure).__name__}: {failure}"
        if result is None:
            emit(row(f"{scenario}-pingpong", size_bytes=8, note=f"failed: {problem}"))
        else:
            count, p50, p99, p999, total = result
            emit(compared(row(f"{scenario}-pingpong", size_bytes=8, records=count, seconds=total, p50_us=p50, p99_us=p99, p999_us=p999),
                          baselines, "futex-pingpong-p50", "us", p50))
    return 0


if __name__ == "__main__":
    sys.exit(main())
