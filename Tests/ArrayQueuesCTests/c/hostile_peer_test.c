/*
 * A receiver made through the C ABI cuts a tcp connection whose peer never ends its message,
 * counts it in aq_receiver_statistics.peers_dropped, and still receives from a legitimate
 * sender afterwards (docs/RELIABILITY.md, "a message that never ends"). The hostile peer is a
 * raw ZMTP 3.0 PUSH (NULL mechanism) on a thread of this program: one message of 64 KiB frames,
 * every one flagged MORE. Run by ArrayQueuesCTests; exits 0 only if every check passed.
 */
#define _GNU_SOURCE
#include "check.h"
#include "raw_peers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const int64_t MS = 1000 * 1000;

/* Reads exactly `n` bytes, waiting at most 10 s in all; 0 on success. */
static int read_exactly(int fd, unsigned char *buffer, size_t n) {
    int64_t deadline = monotonic_ms() + 10000;
    size_t have = 0;
    while (have < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - monotonic_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) return -1;
        ssize_t got = recv(fd, buffer + have, n - have, 0);
        if (got <= 0) return -1;
        have += (size_t)got;
    }
    return 0;
}

/* Sends all of `buffer` on a non-blocking socket, looking at `stop` every 50 ms:
 * 0 when sent, 1 when stopped, -1 when the connection failed (cut). */
static atomic_int stop_flood;
static int send_all(int fd, const unsigned char *buffer, size_t n) {
    size_t sent = 0;
    while (sent < n) {
        if (atomic_load(&stop_flood)) return 1;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 50) < 0 && errno != EINTR) return -1;
        if (p.revents & (POLLERR | POLLHUP)) return -1;
        if (!(p.revents & POLLOUT)) continue;
        ssize_t wrote = send(fd, buffer + sent, n - sent, MSG_NOSIGNAL);
        if (wrote < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (wrote <= 0) return -1;
        sent += (size_t)wrote;
    }
    return 0;
}

struct flood {
    int port;
    int handshake_ok;        /* 1 once the receiver's greeting and READY were read */
    long long frames_sent;   /* frames of the endless message sent */
    int outcome;             /* 1 stopped, -1 cut, 0 sent everything (the flood was not cut), -2 no flood */
    atomic_int finished;     /* set when the thread ends */
};

/* The hostile peer: connects, completes the ZMTP handshake as a PUSH, sends one frame flagged
 * MORE and then 64 KiB frames flagged MORE until told to stop, cut off, or 1 GiB is sent. */
static void *flood(void *argument) {
    struct flood *f = argument;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        perror("flood: connect");
        f->outcome = -2;
        atomic_store(&f->finished, 1);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Greeting: signature, version 3.0, mechanism NULL, as-server 0, filler. */
    unsigned char greeting[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0, 'N', 'U', 'L', 'L'};
    static const unsigned char ready[] = {0x04, 26, 5, 'R', 'E', 'A', 'D', 'Y', 11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y',
                                          'p', 'e', 0, 0, 0, 4, 'P', 'U', 'S', 'H'};
    unsigned char peer[64];
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (send_all(fd, greeting, sizeof greeting) != 0 || send_all(fd, ready, sizeof ready) != 0 ||
        read_exactly(fd, peer, 64) != 0 || read_exactly(fd, peer, 2) != 0 || peer[0] != 0x04 || read_exactly(fd, peer + 2, peer[1]) != 0) {
        fprintf(stderr, "flood: the ZMTP handshake failed\n");
        f->outcome = -2;
        close(fd);
        atomic_store(&f->finished, 1);
        return NULL;
    }
    f->handshake_ok = 1;
    static const unsigned char first[] = {0x01, 1, 'x'};
    enum { FRAME = 64 << 10 };
    static unsigned char frame[9 + FRAME];
    frame[0] = 0x03; /* MORE | LONG */
    for (int i = 0; i < 8; i++) frame[1 + i] = (unsigned char)((uint64_t)FRAME >> (56 - 8 * i));
    memset(frame + 9, 0xab, FRAME);
    int outcome = send_all(fd, first, sizeof first);
    while (outcome == 0 && f->frames_sent < (1LL << 30) / FRAME) {
        outcome = send_all(fd, frame, sizeof frame);
        if (outcome == 0) f->frames_sent++;
    }
    f->outcome = outcome;
    close(fd);
    atomic_store(&f->finished, 1);
    return NULL;
}

int main(void) {
    /* A pulling receiver bound to a loopback port; messages of at most 1 MiB and a byte budget
     * of 8 MiB, so that the guard's bounds are a few MiB. */
    aq_receiver_options options;
    aq_receiver_options_init(&options);
    options.role = AQ_ROLE_BIND;
    options.fast_path = AQ_FAST_PATH_DISABLED;
    options.maximum_message_bytes = 1 << 20;
    options.byte_budget = 8 << 20;
    aq_receiver *receiver = NULL;
    char endpoint[64];
    int port = 0, rc = AQ_EZMQ;
    for (int attempt = 0; attempt < 5 && rc == AQ_EZMQ; attempt++) {  /* the port may be taken meanwhile */
        port = free_port();
        snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
        rc = aq_receiver_create(endpoint, &options, &receiver);
    }
    EXPECT(rc, AQ_OK);
    if (rc != AQ_OK) return CHECK_SUMMARY("hostile_peer_test");

    struct flood f = {.port = port};
    pthread_t flooder;
    CHECK(pthread_create(&flooder, NULL, flood, &f) == 0);

    /* The guard checks while a receive call runs: receive (nothing arrives) until the
     * connection is cut, for at most 60 s. */
    aq_receiver_statistics s = raw_receiver_statistics(receiver);
    CHECK(s.peers_dropped == 0);
    int64_t deadline = monotonic_ms() + 60000;
    while (s.peers_dropped == 0 && monotonic_ms() < deadline && !atomic_load(&f.finished)) {
        aq_message *message = NULL;
        int got = aq_receiver_receive(receiver, 100 * MS, AQ_RECEIVE_EVENTS, &message);
        CHECK(got == AQ_ETIMEOUT);  /* the endless message is never delivered */
        aq_message_free(message);
        s = raw_receiver_statistics(receiver);
    }
    atomic_store(&stop_flood, 1);
    CHECK(pthread_join(flooder, NULL) == 0);
    printf("hostile peer: handshake %s, %lld frames of 64 KiB sent, outcome %d; peers_dropped %llu\n",
           f.handshake_ok ? "done" : "failed", f.frames_sent, f.outcome, (unsigned long long)s.peers_dropped);
    CHECK(f.handshake_ok);
    CHECK(f.outcome == 1 || f.outcome == -1);  /* 0: it sent 1 GiB and was never cut */
    CHECK(s.peers_dropped >= 1);
    CHECK(s.received == 0 && s.malformed == 0);

    /* A legitimate pusher connects to the same receiver afterwards: its message arrives. */
    aq_sender_options sender_options;
    aq_sender_options_init(&sender_options);
    sender_options.role = AQ_ROLE_CONNECT;
    aq_sender *sender = NULL;
    EXPECT(aq_sender_create(endpoint, "legitimate", &sender_options, &sender), AQ_OK);
    int32_t payload[256];
    for (int i = 0; i < 256; i++) payload[i] = i * 7 - 100;
    int64_t shape[] = {16, 16};
    aq_array array = {.name = "tile", .dtype = AQ_DTYPE_INT32, .ndim = 2, .shape = shape, .data = payload, .nbytes = sizeof payload};
    uint64_t sequence = 99;
    EXPECT(aq_sender_send(sender, &array, 1, AQ_SEND_INDEX, 0, 41, NULL, &sequence), AQ_OK);
    CHECK(sequence == 0);
    aq_message *message = NULL;
    EXPECT(aq_receiver_receive(receiver, 20000 * MS, 0, &message), AQ_OK);
    if (message) {
        aq_message_info info = {.size = sizeof info};
        EXPECT(aq_message_info_get(message, &info), AQ_OK);
        CHECK(info.kind == AQ_EVENT_DATA && strcmp(info.stream, "legitimate") == 0 && info.has_index && info.index == 41 &&
              info.array_count == 1);
        aq_array got;
        EXPECT(aq_message_array(message, 0, &got), AQ_OK);
        CHECK(strcmp(got.name, "tile") == 0 && got.dtype == AQ_DTYPE_INT32 && got.ndim == 2 && got.shape[0] == 16 &&
              got.shape[1] == 16 && got.nbytes == sizeof payload && memcmp(got.data, payload, sizeof payload) == 0);
        aq_message_free(message);
    }
    s = raw_receiver_statistics(receiver);
    CHECK(s.received == 1 && s.lost == 0 && s.malformed == 0 && s.peers_dropped >= 1);
    aq_sender_close(sender);
    aq_receiver_close(receiver);
    return CHECK_SUMMARY("hostile_peer_test");
}
