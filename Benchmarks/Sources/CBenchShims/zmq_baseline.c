#define _GNU_SOURCE
#include "CBenchZeroMQ.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

struct cbench_zmq {
    void *context;
    void *socket;
    /// Payload frames libzmq still holds; decremented by release_payload on an I/O thread.
    _Atomic int64_t in_flight;
    /// A random epoch, as an ArrayTransport sender has.
    uint64_t epoch;
};

static void release_payload(void *data, void *hint) {
    (void)data;
    atomic_fetch_sub_explicit(&((cbench_zmq *)hint)->in_flight, 1, memory_order_release);
}

static int set_int(void *socket, int option, int value) {
    return zmq_setsockopt(socket, option, &value, sizeof value);
}

cbench_zmq *cbench_zmq_open(cbench_zmq_kind kind, const char *address, int binds, int high_water_mark, int timeout_ms,
                            const char **failed_call) {
    static const int types[] = {ZMQ_PUSH, ZMQ_PULL, ZMQ_PUB, ZMQ_SUB};
    cbench_zmq *endpoint = calloc(1, sizeof *endpoint);
    if (!endpoint) {
        *failed_call = "calloc";
        return NULL;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    endpoint->epoch = ((uint64_t)now.tv_nsec * 2654435761u ^ (uint64_t)now.tv_sec) & ((1ull << 53) - 1);
    endpoint->context = zmq_ctx_new();
    if (!endpoint->context) {
        *failed_call = "zmq_ctx_new";
        free(endpoint);
        return NULL;
    }
    endpoint->socket = zmq_socket(endpoint->context, types[kind]);
    int64_t maximum = (int64_t)1 << 30;
    int receiver = kind == CBENCH_ZMQ_PULL || kind == CBENCH_ZMQ_SUB;
    const char *call = NULL;
    if (!endpoint->socket) call = "zmq_socket";
    else if (!receiver && set_int(endpoint->socket, ZMQ_SNDHWM, high_water_mark) != 0) call = "zmq_setsockopt(ZMQ_SNDHWM)";
    else if (receiver && set_int(endpoint->socket, ZMQ_RCVHWM, high_water_mark) != 0) call = "zmq_setsockopt(ZMQ_RCVHWM)";
    else if (set_int(endpoint->socket, ZMQ_SNDTIMEO, timeout_ms) != 0) call = "zmq_setsockopt(ZMQ_SNDTIMEO)";
    else if (set_int(endpoint->socket, ZMQ_RCVTIMEO, timeout_ms) != 0) call = "zmq_setsockopt(ZMQ_RCVTIMEO)";
    else if (receiver && zmq_setsockopt(endpoint->socket, ZMQ_MAXMSGSIZE, &maximum, sizeof maximum) != 0) call = "zmq_setsockopt(ZMQ_MAXMSGSIZE)";
    else if (kind == CBENCH_ZMQ_SUB && zmq_setsockopt(endpoint->socket, ZMQ_SUBSCRIBE, "", 0) != 0) call = "zmq_setsockopt(ZMQ_SUBSCRIBE)";
    else if (binds ? zmq_bind(endpoint->socket, address) != 0 : zmq_connect(endpoint->socket, address) != 0) call = binds ? "zmq_bind" : "zmq_connect";
    if (call) {
        int saved = zmq_errno();
        *failed_call = call;
        cbench_zmq_close(endpoint, 0);
        errno = saved;
        return NULL;
    }
    return endpoint;
}

int cbench_zmq_bound_port(cbench_zmq *endpoint) {
    char address[256];
    size_t size = sizeof address;
    if (zmq_getsockopt(endpoint->socket, ZMQ_LAST_ENDPOINT, address, &size) != 0) return 0;
    if (strncmp(address, "tcp://", 6) != 0) return 0;
    const char *colon = strrchr(address, ':');
    return colon ? atoi(colon + 1) : 0;
}

/// Writes an arrf/1 header (docs/WIRE.md) into `text`; `size` 0 with `data` 0 is "end".
static int header(cbench_zmq *endpoint, char *text, size_t capacity, const char *stream, int data, int64_t sequence, size_t size) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t nanoseconds = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    if (!data) {
        return snprintf(text, capacity, "{\"proto\":\"arrf/1\",\"kind\":\"end\",\"stream\":\"%s\",\"epoch\":%" PRIu64
                        ",\"seq\":%" PRId64 ",\"t_ns\":%" PRId64 ",\"arrays\":[],\"meta\":{}}",
                        stream, endpoint->epoch, sequence, nanoseconds);
    }
    return snprintf(text, capacity, "{\"proto\":\"arrf/1\",\"kind\":\"data\",\"stream\":\"%s\",\"epoch\":%" PRIu64
                    ",\"seq\":%" PRId64 ",\"t_ns\":%" PRId64 ",\"index\":%" PRId64 ",\"arrays\":[{\"name\":\"array\","
                    "\"dtype\":\"|u1\",\"shape\":[%zu],\"order\":\"C\",\"nbytes\":%zu,\"codec\":\"raw\"}],\"meta\":{}}",
                    stream, endpoint->epoch, sequence, nanoseconds, sequence, size, size);
}

int cbench_zmq_send(cbench_zmq *endpoint, const char *stream, const void *payload, size_t size, int64_t sequence) {
    char text[512];
    int length = header(endpoint, text, sizeof text, stream, 1, sequence, size);
    if (zmq_send(endpoint->socket, stream, strlen(stream), ZMQ_SNDMORE) < 0) return -1;
    // Once the first frame is taken, libzmq takes the rest of the message without blocking.
    if (zmq_send(endpoint->socket, text, (size_t)length, ZMQ_SNDMORE) < 0) return -1;
    zmq_msg_t message;
    atomic_fetch_add_explicit(&endpoint->in_flight, 1, memory_order_relaxed);
    if (zmq_msg_init_data(&message, (void *)payload, size, release_payload, endpoint) != 0) {
        atomic_fetch_sub_explicit(&endpoint->in_flight, 1, memory_order_relaxed);
        return -1;
    }
    if (zmq_msg_send(&message, endpoint->socket, 0) < 0) {
        int saved = zmq_errno();
        zmq_msg_close(&message);  // calls release_payload
        errno = saved;
        return -1;
    }
    return 0;
}

int cbench_zmq_send_end(cbench_zmq *endpoint, const char *stream) {
    char text[512];
    int length = header(endpoint, text, sizeof text, stream, 0, -1, 0);
    if (zmq_send(endpoint->socket, stream, strlen(stream), ZMQ_SNDMORE) < 0) return -1;
    return zmq_send(endpoint->socket, text, (size_t)length, 0) < 0 ? -1 : 0;
}

int64_t cbench_zmq_in_flight(cbench_zmq *endpoint) {
    return atomic_load_explicit(&endpoint->in_flight, memory_order_acquire);
}

int cbench_zmq_receive(cbench_zmq *endpoint, size_t *payload_bytes, uint64_t *first_word) {
    int frames = 0;
    *payload_bytes = 0;
    *first_word = 0;
    while (1) {
        zmq_msg_t message;
        zmq_msg_init(&message);
        if (zmq_msg_recv(&message, endpoint->socket, 0) < 0) {
            int saved = zmq_errno();
            zmq_msg_close(&message);
            // A timeout before the first frame is "nothing yet"; within a message, an error.
            if (frames == 0 && (saved == EAGAIN || saved == EINTR)) return 0;
            errno = saved;
            return -1;
        }
        frames += 1;
        if (frames == 3) {
            size_t size = zmq_msg_size(&message);
            *payload_bytes = size;
            if (size >= 8) memcpy(first_word, zmq_msg_data(&message), 8);
        }
        int more = zmq_msg_more(&message);
        zmq_msg_close(&message);
        if (!more) return frames;
    }
}

void cbench_zmq_close(cbench_zmq *endpoint, int linger_ms) {
    if (endpoint->socket) {
        set_int(endpoint->socket, ZMQ_LINGER, linger_ms);
        zmq_close(endpoint->socket);
    }
    while (zmq_ctx_term(endpoint->context) != 0 && zmq_errno() == EINTR) {}
    free(endpoint);
}
