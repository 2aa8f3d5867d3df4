#!/usr/bin/env python3
"""Fan-out peers: one producer, N subscriber processes that each want every array.

    python fanout_peers.py [--peers iceoryx2,pyzmq-pub] [--subscribers 1,2,4] [--sizes 1024,1048576,8388608] [--seconds 1]

- ``iceoryx2``: its Python binding's publish/subscribe of ``Slice[c_uint8]``, N subscribers of one
  service. The producer loans a sample, copies the array into it and sends it, with
  ``BackpressureStrategy.RetryUntilDelivered`` (lossless: it waits for the slowest subscriber,
  as ArrayQueues' ``block`` policy); subscribers poll ``receive()`` (yielding the CPU when it is empty), read every cache line of the
  sample in place and release it.
- ``pyzmq-pub``: pyzmq PUB bound on ``tcp://127.0.0.1``, N SUB sockets connected, ``copy=False``
  both ways. PUB never waits: a subscriber behind by the high-water mark loses messages, so its
  figure is what arrives.

The channel holds 64 MiB worth of arrays (at least 8, at most 4096), as ArrayQueues' deep ring.
The producer first sends warm-up arrays until every subscriber has received one (at most 30 s),
then sends measured arrays for ``--seconds`` and then stop marks (the first payload byte says
which). Each subscriber times its measured arrays; a row gives the slowest subscriber's GB/s and
arrays/s (what every subscriber got: the producer's rate for a lossless peer), the sum over the
subscribers and the producer's sends per second. One JSON object per line; progress on stderr.
Every wait is bounded; workers still running after 60 s are killed and the row says so.
"""

import argparse
import ctypes
import json
import multiprocessing
import os
import sys
import time

import numpy as np

WARM, MEASURED, STOP = 0, 1, 2


def depth_for(size):
    return max(8, min(4096, (64 << 20) // size))


# MARK: - iceoryx2


def _iox_service(name, subscribers, depth):
    import iceoryx2 as iox2

    iox2.set_log_level(iox2.LogLevel.Error)
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    service = (
        node.service_builder(iox2.ServiceName.new(name))
        .publish_subscribe(iox2.Slice[ctypes.c_uint8])
        .max_publishers(1)
        .max_subscribers(subscribers)
        .history_size(0)
        .subscriber_max_buffer_size(depth)
        .subscriber_max_borrowed_samples(2)
        .enable_safe_overflow(False)
        .open_or_create()
    )
    return iox2, node, service


def iox_subscriber(name, subscribers, size, depth, ready, result):
    iox2, node, service = _iox_service(name, subscribers, depth)
    port = service.subscriber_builder().buffer_size(depth).create()
    ready.release()
    count, first, last, seen_any = 0, 0, 0, False
    hard = time.monotonic() + 60
    while time.monotonic() < hard:
        sample = port.receive()
        if sample is None:
            os.sched_yield()  # N pollers on few cores: let the producer run
            continue
        view = np.frombuffer((ctypes.c_uint8 * size).from_address(sample.payload_ptr), dtype=np.uint8)
        kind = int(view[0])
        if size >= 64:
            np.bitwise_xor.reduce(view.view(np.uint64)[::8])
        sample.delete()
        if not seen_any:
            seen_any = True
            result.put(("seen",))
        if kind == STOP:
            break
        if kind == MEASURED:
            now = time.monotonic_ns()
            first = first or now
            last = now
            count += 1
    result.put(("done", count, first, last))


def iox_produce(name, subscribers, size, depth, seconds, seen):
    iox2, node, service = _iox_service(name, subscribers, depth)
    publisher = (
        service.publisher_builder()
        .initial_max_slice_len(size)
        .max_loaned_samples(1)
        .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
        .create()
    )
    deadline = time.monotonic() + 30
    while service.dynamic_config.number_of_subscribers < subscribers:
        if time.monotonic() > deadline:
            raise TimeoutError("not every iceoryx2 subscriber appeared")
        time.sleep(0.001)
    if hasattr(publisher, "update_connections"):
        publisher.update_connections()
    source = (np.arange(size) % 251).astype(np.uint8)

    def send(kind):
        source[0] = kind
        sample = publisher.loan_slice_uninit(size)
        ctypes.memmove(sample.payload_ptr, source.ctypes.data, size)
        sample.assume_init().send()

    return send, (node, service, publisher)


# MARK: - pyzmq PUB/SUB


def zmq_subscriber(port, size, depth, ready, result):
    import zmq

    context = zmq.Context()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.RCVHWM, depth)
    socket.setsockopt(zmq.SUBSCRIBE, b"")
    socket.setsockopt(zmq.RCVTIMEO, 100)
    socket.connect(f"tcp://127.0.0.1:{port}")
    ready.release()
    count, first, last, seen_any = 0, 0, 0, False
    hard = time.monotonic() + 60
    while time.monotonic() < hard:
        try:
            frame = socket.recv(copy=False)
        except zmq.Again:
            continue
        view = np.frombuffer(frame.buffer, dtype=np.uint8)
        kind = int(view[0])
        if not seen_any:
            seen_any = True
            result.put(("seen",))
        if kind == STOP:
            break
        if kind == MEASURED:
            now = time.monotonic_ns()
            first = first or now
            last = now
            count += 1
    result.put(("done", count, first, last))
    socket.close(linger=0)
    context.term()


def zmq_produce(port_holder, depth):
    import zmq

    context = zmq.Context()
    socket = context.socket(zmq.PUB)
    socket.setsockopt(zmq.SNDHWM, depth)
    socket.setsockopt(zmq.LINGER, 0)
    port_holder.append(socket.bind_to_random_port("tcp://127.0.0.1"))

    def send(kind, source):
        source[0] = kind
        socket.send(source, copy=False)

    return send, (context, socket)


# MARK: - One row


def measure(peer, subscribers, size, seconds):
    ctx = multiprocessing.get_context("fork")
    depth = depth_for(size)
    ready = ctx.Semaphore(0)
    result = ctx.Queue()
    source = (np.arange(size) % 251).astype(np.uint8)
    if peer == "iceoryx2":
        name = f"aq-bench/fanout/{multiprocessing.current_process().pid}/{time.monotonic_ns()}"
        workers = [ctx.Process(target=iox_subscriber, args=(name, subscribers, size, depth, ready, result)) for _ in range(subscribers)]
        for worker in workers:
            worker.start()
        for _ in workers:
            if not ready.acquire(timeout=30):
                raise TimeoutError("a subscriber did not start")
        send_kind, keep = iox_produce(name, subscribers, size, depth, seconds, None)

        def send(kind):
            send_kind(kind)
    else:
        holder = []
        send_kind, keep = zmq_produce(holder, depth)
        workers = [ctx.Process(target=zmq_subscriber, args=(holder[0], size, depth, ready, result)) for _ in range(subscribers)]
        for worker in workers:
            worker.start()
        for _ in workers:
            if not ready.acquire(timeout=30):
                raise TimeoutError("a subscriber did not start")

        def send(kind):
            send_kind(kind, source)

    # Warm-up: until every subscriber has seen an array.
    seen = 0
    deadline = time.monotonic() + 30
    while seen < subscribers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {seen} of {subscribers} subscribers received the warm-up")
        send(WARM)
        time.sleep(0.001)
        while not result.empty():
            if result.get()[0] == "seen":
                seen += 1
    time.sleep(0.1)
    sent = 0
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        send(MEASURED)
        sent += 1
    send_seconds = time.monotonic() - start
    results = []
    deadline = time.monotonic() + 20
    while len(results) < subscribers and time.monotonic() < deadline:
        send(STOP)  # lossy PUB may drop some: repeated until every subscriber reported
        time.sleep(0.01)
        while not result.empty():
            item = result.get()
            if item[0] == "done":
                results.append(item[1:])
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            worker.kill()
    del keep
    rates = [(count - 1) / ((last - first) / 1e9) if count > 1 and last > first else 0.0 for count, first, last in results]
    rates += [0.0] * (subscribers - len(rates))
    slowest = min(rates)
    return {
        "scenario": f"fanout-{peer}-{subscribers}", "size_bytes": size, "subscribers": subscribers, "ring_records": depth,
        "gbps_slowest": round(slowest * size / 1e9, 3), "records_per_s_slowest": round(slowest, 1),
        "gbps_sum": round(sum(rates) * size / 1e9, 3), "sent_per_s": round(sent / send_seconds, 1),
        "received": [count for count, _, _ in results], "sent": sent,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers", default="iceoryx2,pyzmq-pub")
    parser.add_argument("--subscribers", default="1,2,4")
    parser.add_argument("--sizes", default=f"{1 << 10},{1 << 20},{8 << 20}")
    parser.add_argument("--seconds", type=float, default=1.0)
    options = parser.parse_args()
    for peer in options.peers.split(","):
        for size in [int(text) for text in options.sizes.split(",")]:
            for subscribers in [int(text) for text in options.subscribers.split(",")]:
                print(f"fanout_peers: {peer} {subscribers} × {size} B", file=sys.stderr, flush=True)
                try:
                    row = measure(peer, subscribers, size, options.seconds)
                except Exception as failure:  # a row that says why, the others still run
                    row = {"scenario": f"fanout-{peer}-{subscribers}", "size_bytes": size, "subscribers": subscribers,
                           "note": f"{type(failure).__name__}: {failure}"}
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
