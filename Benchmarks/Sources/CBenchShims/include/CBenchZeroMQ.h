// The libzmq C API used directly: the baseline of aq-bench's zmq-tcp and zmq-ipc scenarios.
// Each record is one multipart message shaped like ArrayTransport's arrf/1 messages: a topic
// frame, a JSON header frame of the same size, and the payload frame, which is sent without
// copying (zmq_msg_init_data with a free callback, as pyzmq's copy=False does).
#ifndef CBENCH_ZEROMQ_H
#define CBENCH_ZEROMQ_H

#include <stddef.h>
#include <stdint.h>

/// The socket type of an endpoint.
typedef enum {
    CBENCH_ZMQ_PUSH = 0,
    CBENCH_ZMQ_PULL = 1,
    CBENCH_ZMQ_PUB = 2,
    CBENCH_ZMQ_SUB = 3,
} cbench_zmq_kind;

/// A libzmq context with one I/O thread (libzmq's default, as ArrayTransport's) and one socket.
typedef struct cbench_zmq cbench_zmq;

/// Makes a context and a socket of `kind`, with ZMQ_SNDHWM (senders) or ZMQ_RCVHWM (receivers)
/// set to `high_water_mark` messages, as ArrayTransport sets them, ZMQ_SNDTIMEO and ZMQ_RCVTIMEO
/// to `timeout_ms`, ZMQ_MAXMSGSIZE to 1 GiB (receivers), and a subscription to everything (sub). Then binds
/// `address` (`binds` non-zero) or connects to it. Returns NULL on failure, with `*failed_call`
/// naming the libzmq function and errno set.
cbench_zmq *cbench_zmq_open(cbench_zmq_kind kind, const char *address, int binds, int high_water_mark, int timeout_ms,
                            const char **failed_call);

/// The TCP port the socket bound (ZMQ_LAST_ENDPOINT), or 0 for other transports or on failure.
int cbench_zmq_bound_port(cbench_zmq *endpoint);

/// Sends one record: topic `stream`, an arrf/1 data header naming `sequence` and a uint8 array
/// of `size` bytes, then the `size` bytes at `payload` without copying them. libzmq releases
/// the payload later, on its I/O thread (see cbench_zmq_in_flight). Blocks while the peers are
/// full, at most the timeout (push); drops at the high-water mark (pub). Returns 0, or -1 with
/// errno set (EAGAIN: timed out).
int cbench_zmq_send(cbench_zmq *endpoint, const char *stream, const void *payload, size_t size, int64_t sequence);

/// Sends a two-frame "end" message (topic, header without arrays). Returns 0 or -1 with errno.
int cbench_zmq_send_end(cbench_zmq *endpoint, const char *stream);

/// Payload frames handed to libzmq and not yet released by it.
int64_t cbench_zmq_in_flight(cbench_zmq *endpoint);

/// Receives one whole message and reads the first 8 bytes of its third frame (the payload)
/// into `*first_word`. Returns the number of frames (3 for a record, 2 for "end"), 0 if
/// nothing arrived within the timeout, or -1 with errno set. `*payload_bytes` is the third
/// frame's size (0 without one).
int cbench_zmq_receive(cbench_zmq *endpoint, size_t *payload_bytes, uint64_t *first_word);

/// Closes the socket with ZMQ_LINGER `linger_ms` and terminates the context (which waits for
/// queued messages to be sent, at most the linger period); then frees `endpoint`. Every payload
/// is released when this returns.
void cbench_zmq_close(cbench_zmq *endpoint, int linger_ms);

#endif
