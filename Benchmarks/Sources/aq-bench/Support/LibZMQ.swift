import CBenchShims
@preconcurrency import Glibc

/// One libzmq context and socket driven through the C API directly (`CBenchShims/zmq_baseline.c`):
/// the baseline the ArrayTransport figures are divided by. Every call into that C file is
/// wrapped here, once. Closed (context terminated) on deinit.
struct LibZMQSocket: ~Copyable {
    private let handle: OpaquePointer

    /// What a receive brought.
    enum Received {
        /// A record; `firstWord` is its payload's first 8 bytes.
        case record(bytes: Int, firstWord: UInt64)
        /// The sender's "end" message.
        case end
        /// Nothing within the socket's timeout.
        case nothing
    }

    /// A sender (`push`/`pub`) or a receiver (`pull`/`sub`) that binds `address` or connects to it.
    /// The corresponding C calls are `zmq_ctx_new`, `zmq_socket`, `zmq_setsockopt`, `zmq_connect` or `zmq_bind`.
    init(_ kind: cbench_zmq_kind, address: String, binds: Bool, highWaterMark: Int, timeoutMilliseconds: Int) throws(BenchError) {
        var failedCall: UnsafePointer<CChar>?
        guard let handle = cbench_zmq_open(kind, address, binds ? 1 : 0, Int32(clamping: highWaterMark), Int32(clamping: timeoutMilliseconds), &failedCall) else {
            throw .system(failedCall.map { String(cString: $0) } ?? "zmq", "cannot open a libzmq socket on \(address)")
        }
        self.handle = handle
    }

    /// The TCP port bound (`ZMQ_LAST_ENDPOINT`), or 0.
    var boundPort: Int { Int(cbench_zmq_bound_port(handle)) }

    /// Sends topic, header and the `size` bytes at `payload` without copying; the bytes must stay
    /// valid until this socket is gone. The corresponding C calls are `zmq_send` and `zmq_msg_send`.
    func send(stream: String, payload: UnsafeRawPointer, size: Int, sequence: Int) throws(BenchError) {
        guard cbench_zmq_send(handle, stream, payload, size, Int64(sequence)) == 0 else {
            throw .system("zmq_msg_send", "libzmq did not take record \(sequence)")
        }
    }

    /// Sends the two-frame "end" message (`zmq_send`).
    func sendEnd(stream: String) throws(BenchError) {
        guard cbench_zmq_send_end(handle, stream) == 0 else { throw .system("zmq_send", "libzmq did not take the end message") }
    }

    /// Receives one whole message (`zmq_msg_recv`), waiting at most the socket's timeout.
    func receive() throws(BenchError) -> Received {
        var bytes = 0
        var firstWord: UInt64 = 0
        switch cbench_zmq_receive(handle, &bytes, &firstWord) {
        case 0: return .nothing
        case 2: return .end
        case 3: return .record(bytes: bytes, firstWord: firstWord)
        case -1: throw .system("zmq_msg_recv", "libzmq failed to receive")
        case let frames: throw BenchError("libzmq received a message of \(frames) frames; expected 2 or 3")
        }
    }

    /// Closes the socket with ZMQ_LINGER `lingerMilliseconds` and terminates the context, which
    /// waits (at most that long) until queued messages are sent.
    consuming func close(lingerMilliseconds: Int) {
        cbench_zmq_close(handle, Int32(clamping: lingerMilliseconds))
        discard self
    }

    deinit {
        cbench_zmq_close(handle, 0)
    }
}
