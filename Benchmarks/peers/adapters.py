"""One adapter per peer: what a user would pick instead of ArrayQueues to move numpy arrays
between two processes on one machine.

An adapter knows how to make a channel in the parent process (before the worker processes are
forked from it), and how each worker opens its end: a sender with ``send(array)`` and a
receiver with ``recv(timeout)``. Every call that waits has a timeout. Each library is imported
only by its own adapter, so that a virtual environment needs only the peer it runs.

``depth`` is how many arrays the channel buffers; ``borrowed`` says whether ``recv`` returns a
view into shared memory (the consumer then reads every cache line of it, like ArrayQueues'
zero-copy consumer) or an array the receiver owns (the consumer touches its first word, like
ArrayQueues' copying consumer).
"""

import ctypes
import queue
import time

import numpy as np


class Timeout(Exception):
    """A send or receive did not complete in time."""


class MultiprocessingQueue:
    """``multiprocessing.Queue``: arrays are pickled through a pipe by a feeder thread."""

    name = "mpqueue"
    borrowed = False

    def versions(self):
        import platform

        return {"python": platform.python_version(), "numpy": np.__version__}

    def channel(self, ctx, size, depth):
        return ctx.Queue(maxsize=depth)

    def sender(self, channel, size, blocking):
        return _QueueSender(channel)

    def receiver(self, channel, size, blocking):
        return _QueueReceiver(channel)


class _QueueSender:
    def __init__(self, q):
        self.q = q

    def send(self, array, timeout):
        try:
            self.q.put(array, timeout=timeout)
        except queue.Full as error:
            raise Timeout("put timed out") from error

    def close(self):
        pass


class _QueueReceiver:
    def __init__(self, q):
        self.q = q

    def recv(self, timeout):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None

    def release(self):
        pass

    def close(self):
        pass


class FasterFifo(MultiprocessingQueue):
    """``faster_fifo.Queue``: pickled arrays in a circular buffer in shared memory, guarded by
    a process-shared mutex and condition variables."""

    name = "faster-fifo"

    def versions(self):
        from importlib.metadata import version

        import faster_fifo  # noqa: F401  (fails here if it is not installed)

        return {"faster-fifo": version("faster-fifo")}

    def channel(self, ctx, size, depth):
        import faster_fifo

        # Room for `depth` pickled arrays (a pickle adds about 150 bytes to the data).
        return faster_fifo.Queue(max_size_bytes=depth * (size + 256) + (1 << 20))

    def sender(self, channel, size, blocking):
        return _FasterFifoSender(channel)

    def receiver(self, channel, size, blocking):
        return _FasterFifoReceiver(channel)


class _FasterFifoSender(_QueueSender):
    def send(self, array, timeout):
        import faster_fifo

        try:
            self.q.put(array, timeout=timeout)
        except faster_fifo.Full as error:
            raise Timeout("put timed out") from error


class _FasterFifoReceiver(_QueueReceiver):
    def recv(self, timeout):
        import faster_fifo

        try:
            return self.q.get(timeout=timeout)
        except faster_fifo.Empty:
            return None


class OriginalArrayQueues:
    """The original Python ``arrayqueues`` 1.4.1: arrays are copied into a
    ``multiprocessing.Array``, their slot index travels through a ``multiprocessing.Queue``.
    ``put`` never blocks (it raises ``queue.Full``), so the sender retries until it fits;
    ``get`` returns a view of the shared array, which the next puts may overwrite."""

    name = "arrayqueues"
    borrowed = True

    def versions(self):
        from importlib.metadata import version

        import arrayqueues  # noqa: F401  (fails here if it is not installed)

        return {"arrayqueues": version("arrayqueues"), "numpy": np.__version__}

    def channel(self, ctx, size, depth):
        from arrayqueues.shared_arrays import ArrayQueue

        # max_mbytes counts 10^6 bytes; a few bytes more so that rounding keeps `depth` slots.
        return ArrayQueue(max_mbytes=(depth * size + 64) / 1e6)

    def sender(self, channel, size, blocking):
        return _ArrayQueuesSender(channel)

    def receiver(self, channel, size, blocking):
        return _QueueReceiver(channel)


class _ArrayQueuesSender:
    def __init__(self, q):
        self.q = q

    def send(self, array, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.q.put(array)
                return
            except queue.Full:
                if time.monotonic() > deadline:
                    raise Timeout("put kept failing with queue.Full") from None

    def close(self):
        pass


class PyZmqTcp:
    """pyzmq PUSH/PULL over ``tcp://127.0.0.1``, sent and received with ``copy=False``.
    The high-water marks (in messages) are the depth."""

    name = "pyzmq-tcp"
    borrowed = False

    def versions(self):
        import zmq

        return {"pyzmq": zmq.__version__, "libzmq": zmq.zmq_version()}

    def channel(self, ctx, size, depth):
        # The receiver binds a free port and publishes it here; the sender waits for it.
        return {"port": ctx.Value("i", 0), "depth": depth}

    def sender(self, channel, size, blocking):
        return _ZmqSender(channel)

    def receiver(self, channel, size, blocking):
        return _ZmqReceiver(channel)


class _ZmqSender:
    def __init__(self, channel):
        import zmq

        self.zmq = zmq
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PUSH)
        self.socket.setsockopt(zmq.SNDHWM, channel["depth"])
        self.socket.setsockopt(zmq.LINGER, 1000)
        deadline = time.monotonic() + 30
        while channel["port"].value == 0:
            if time.monotonic() > deadline:
                raise Timeout("the receiver never bound a port")
            time.sleep(0.001)
        self.socket.connect(f"tcp://127.0.0.1:{channel['port'].value}")

    def send(self, array, timeout):
        self.socket.setsockopt(self.zmq.SNDTIMEO, int(timeout * 1000))
        try:
            self.socket.send(array, copy=False)
        except self.zmq.Again as error:
            raise Timeout("send timed out") from error

    def close(self):
        self.socket.close()
        self.context.term()


class _ZmqReceiver:
    def __init__(self, channel):
        import zmq

        self.zmq = zmq
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PULL)
        self.socket.setsockopt(zmq.RCVHWM, channel["depth"])
        self.socket.setsockopt(zmq.LINGER, 0)
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        channel["port"].value = port

    def recv(self, timeout):
        self.socket.setsockopt(self.zmq.RCVTIMEO, int(timeout * 1000))
        try:
            frame = self.socket.recv(copy=False)
        except self.zmq.Again:
            return None
        return np.frombuffer(frame.buffer, dtype=np.uint8)

    def release(self):
        pass

    def close(self):
        self.socket.close()
        self.context.term()


class Iceoryx2:
    """iceoryx2's Python binding: publish-subscribe of ``Slice[c_uint8]`` samples in shared
    memory. The sender loans a sample, copies the array into it and sends it; the receiver
    borrows the sample and releases it after reading. No overflow: the publisher retries
    until the subscriber has room. For throughput the receiver polls ``receive()``; for the
    blocking ping-pong an event service wakes it (``Notifier.notify`` / ``Listener``)."""

    name = "iceoryx2"
    borrowed = True

    def versions(self):
        from importlib.metadata import version

        import iceoryx2  # noqa: F401  (fails here if it is not installed)

        return {"iceoryx2": version("iceoryx2")}

    def channel(self, ctx, size, depth):
        import os

        Iceoryx2.serial = getattr(Iceoryx2, "serial", 0) + 1
        return {"service": f"aq-bench/peers/{os.getpid()}/{Iceoryx2.serial}", "depth": depth}

    def sender(self, channel, size, blocking):
        return _IoxPort(channel, size, blocking, publisher=True)

    def receiver(self, channel, size, blocking):
        return _IoxPort(channel, size, blocking, publisher=False)


class _IoxPort:
    def __init__(self, channel, size, blocking, publisher):
        import iceoryx2 as iox2

        iox2.set_log_level(iox2.LogLevel.Error)
        self.iox2 = iox2
        self.size = size
        self.blocking = blocking
        depth = channel["depth"]
        self.node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
        name = iox2.ServiceName.new(channel["service"])
        self.service = (
            self.node.service_builder(name)
            .publish_subscribe(iox2.Slice[ctypes.c_uint8])
            .max_publishers(1)
            .max_subscribers(1)
            .history_size(0)
            .subscriber_max_buffer_size(depth)
            .subscriber_max_borrowed_samples(2)
            .enable_safe_overflow(False)
            .open_or_create()
        )
        self.events = None
        if blocking:
            self.events = self.node.service_builder(iox2.ServiceName.new(channel["service"] + "/events")).event().open_or_create()
        self.sample = None
        self.notifier = None
        self.listener = None
        if publisher:
            self.port = (
                self.service.publisher_builder()
                .initial_max_slice_len(size)
                .max_loaned_samples(1)
                .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
                .create()
            )
            self.notifier = self.events.notifier_builder().create() if blocking else None
        else:
            self.port = self.service.subscriber_builder().buffer_size(depth).create()
            self.listener = self.events.listener_builder().create() if blocking else None

    def connected(self, timeout):
        """Waits until the other side's port exists, so that nothing is sent into the void."""
        deadline = time.monotonic() + timeout
        while True:
            config = self.service.dynamic_config
            if config.number_of_publishers >= 1 and config.number_of_subscribers >= 1:
                if hasattr(self.port, "update_connections"):
                    self.port.update_connections()
                return
            if time.monotonic() > deadline:
                raise Timeout("the other iceoryx2 port never appeared")
            time.sleep(0.001)

    def send(self, array, timeout):
        sample = self.port.loan_slice_uninit(self.size)
        ctypes.memmove(sample.payload_ptr, array.ctypes.data, self.size)
        sample.assume_init().send()
        if self.notifier is not None:
            self.notifier.notify()

    def recv(self, timeout):
        deadline = time.monotonic() + timeout
        receive = self.port.receive
        spins = 0
        while True:
            sample = receive()
            if sample is not None:
                self.sample = sample
                view = (ctypes.c_uint8 * self.size).from_address(sample.payload_ptr)
                return np.frombuffer(view, dtype=np.uint8)
            if self.listener is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.listener.timed_wait(self.iox2.Duration.from_secs_f64(min(remaining, 0.1)))
            else:
                spins += 1
                if spins % 256 == 0 and time.monotonic() > deadline:
                    return None

    def release(self):
        if self.sample is not None:
            self.sample.delete()
            self.sample = None

    def close(self):
        self.release()


class ArrayQueuesSwift:
    """ArrayQueues driven from Python: the ``arrayqueues_swift`` package (``python/``), whose
    extension module calls the Swift library's C interface. ``put`` copies the array into the
    queue, ``get`` copies it out into an array the receiver owns (as ArrayQueues' copying
    consumer). Both wait in the library (spin, then futex), never in Python."""

    name = "arrayqueues-swift"
    borrowed = False

    def versions(self):
        from importlib.metadata import version

        import arrayqueues_swift

        return {"arrayqueues-swift": version("arrayqueues-swift"), "ArrayQueues (C library)": arrayqueues_swift.library_version}

    def channel(self, ctx, size, depth):
        import os

        import arrayqueues_swift as aq

        ArrayQueuesSwift.serial = getattr(ArrayQueuesSwift, "serial", 0) + 1
        name = f"peer-bench-{os.getpid()}-{ArrayQueuesSwift.serial}"
        # Room for `depth` records of `size` bytes, each with its header.
        capacity = max(4096, depth * aq.ArrayQueue.record_size((size,), np.uint8))
        # Created here, before the workers fork; removed when this process drops it.
        return aq.ArrayQueue.create(name, capacity, remove=True)

    def sender(self, channel, size, blocking):
        return _AqsSender(channel)

    def receiver(self, channel, size, blocking):
        return _AqsReceiver(channel)


class _AqsSender:
    def __init__(self, q):
        import arrayqueues_swift as aq

        self.put = q.put
        self.timeout_error = aq.PutTimeout

    def send(self, array, timeout):
        try:
            self.put(array, timeout)
        except self.timeout_error as error:
            raise Timeout("put timed out") from error

    def close(self):
        pass


class _AqsReceiver:
    def __init__(self, q):
        import arrayqueues_swift as aq

        self.get = q.get
        self.timeout_error = aq.GetTimeout

    def recv(self, timeout):
        try:
            return self.get(timeout)
        except self.timeout_error:
            return None

    def release(self):
        pass

    def close(self):
        pass


class ArrayQueuesSwiftZeroCopy(ArrayQueuesSwift):
    """``arrayqueues_swift`` zero-copy: the producer loans a slot and copies the array into it
    (``with q.loan(shape, dtype) as slot: slot[...] = array``), the consumer borrows the record in
    place (``with q.borrow() as view``) and reads every cache line of it, as ArrayQueues'
    zero-copy consumer and iceoryx2's."""

    name = "arrayqueues-swift-zerocopy"
    borrowed = True

    def sender(self, channel, size, blocking):
        return _AqsLoaningSender(channel)

    def receiver(self, channel, size, blocking):
        return _AqsBorrowingReceiver(channel)


class _AqsLoaningSender:
    def __init__(self, q):
        import arrayqueues_swift as aq

        self.loan = q.loan
        self.timeout_error = aq.PutTimeout

    def send(self, array, timeout):
        try:
            with self.loan(array.shape, array.dtype, timeout) as slot:
                slot[...] = array
        except self.timeout_error as error:
            raise Timeout("loan timed out") from error

    def close(self):
        pass


class _AqsBorrowingReceiver:
    def __init__(self, q):
        import arrayqueues_swift as aq

        self.q = q
        self.borrow = None
        self.timeout_error = aq.GetTimeout

    def recv(self, timeout):
        self.borrow = self.q.borrow(timeout)
        try:
            return self.borrow.__enter__()
        except self.timeout_error:
            self.borrow = None
            return None

    def release(self):
        if self.borrow is not None:
            self.borrow.__exit__(None, None, None)
            self.borrow = None

    def close(self):
        self.release()


PEERS = {
    peer.name: peer
    for peer in (MultiprocessingQueue(), OriginalArrayQueues(), FasterFifo(), Iceoryx2(), PyZmqTcp(), ArrayQueuesSwift(),
                 ArrayQueuesSwiftZeroCopy())
}
