// The libzmq API as ArrayTransport sees it: <zmq.h> plus the few helpers Swift cannot write
// itself (option values passed by address with their C size, macros that are not simple literals).
#ifndef CZEROMQ_SHIM_H
#define CZEROMQ_SHIM_H

#include <stdint.h>
#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <zmq.h>

/// `zmq_setsockopt` for options whose value is a C `int`.
static inline int czmq_setsockopt_int(void *socket, int option, int value) {
    return zmq_setsockopt(socket, option, &value, sizeof value);
}

/// `zmq_setsockopt` for options whose value is an `int64_t` (ZMQ_MAXMSGSIZE).
static inline int czmq_setsockopt_int64(void *socket, int option, int64_t value) {
    return zmq_setsockopt(socket, option, &value, sizeof value);
}

/// `zmq_getsockopt` for options whose value is a C `int`; returns -1 and sets errno on failure.
static inline int czmq_getsockopt_int(void *socket, int option, int *value) {
    size_t size = sizeof *value;
    return zmq_getsockopt(socket, option, value, &size);
}

/// `zmq_getsockopt` for string options (ZMQ_LAST_ENDPOINT); `*size` is the buffer's size on
/// entry and the string's length including its terminating NUL on return.
static inline int czmq_getsockopt_string(void *socket, int option, char *buffer, size_t *size) {
    return zmq_getsockopt(socket, option, buffer, size);
}

/// The libzmq-specific error number for "the context was terminated".
static inline int czmq_eterm(void) { return ETERM; }

/// The libzmq-specific error number for "operation not valid in the socket's current state".
static inline int czmq_efsm(void) { return EFSM; }

/// The bytes waiting unread in socket `fd`'s kernel receive queue (`ioctl(FIONREAD)`, which is
/// variadic and so not callable from Swift); -1 with errno set on failure.
static inline int czmq_unread_bytes(int fd, int *bytes) {
    return ioctl(fd, FIONREAD, bytes);
}

/// libzmq's context option `ZMQ_ZERO_COPY_RECV` (10): <zmq.h> declares it only with the DRAFT
/// API, but libzmq 4.3 always accepts it (`ctx.cpp`); sockets made later read it.
static inline int czmq_zero_copy_receive_option(void) { return 10; }

#endif
