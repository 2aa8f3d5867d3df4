/*
 * Raw peers for the connection-limit checks of the C test programs: plain tcp connections to a
 * bound endpoint that never speak ZMTP (each takes a place among the endpoint's connections,
 * as in ArrayTransport's ConnectionLimitTests), and bounded waits on a sender's or receiver's
 * statistics. Include after check.h.
 */
#ifndef AQ_TEST_RAW_PEERS_H
#define AQ_TEST_RAW_PEERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline int64_t monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* A port of 127.0.0.1 that was free a moment ago. */
static inline int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, length) != 0 || getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
        perror("free_port");
        exit(2);
    }
    close(fd);
    return ntohs(address.sin_port);
}

/* Makes a receiver with `options` (which bind) on a free loopback port, writing its endpoint
 * into `endpoint`; returns aq_receiver_create()'s code. */
static inline int bind_receiver(const aq_receiver_options *options, char *endpoint, size_t capacity, aq_receiver **receiver) {
    int rc = AQ_EZMQ;
    for (int attempt = 0; attempt < 5 && rc == AQ_EZMQ; attempt++) {  /* the port may be taken meanwhile */
        snprintf(endpoint, capacity, "tcp://127.0.0.1:%d", free_port());
        rc = aq_receiver_create(endpoint, options, receiver);
    }
    return rc;
}

/* Opens `count` plain connections to "tcp://127.0.0.1:PORT", one after the other (libzmq accepts
 * them in that order), into `fds`; returns how many connected. */
static inline int raw_connect(const char *endpoint, int *fds, int count) {
    const char *colon = strrchr(endpoint, ':');
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon ? colon + 1 : "0")),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int made = 0;
    for (; made < count; made++) {
        fds[made] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[made] < 0 || connect(fds[made], (struct sockaddr *)&address, sizeof address) != 0) {
            perror("raw_connect");
            if (fds[made] >= 0) close(fds[made]);
            break;
        }
    }
    return made;
}

static inline void raw_close(int *fds, int count) {
    for (int i = 0; i < count; i++) close(fds[i]);
}

/* Whether the other side ended connection `fd` (end of file or a reset) within `ms`; what it
 * sent before (a ZMTP greeting) is read and dropped. */
static inline int connection_ended(int fd, int ms) {
    int64_t deadline = monotonic_ms() + ms;
    unsigned char buffer[4096];
    for (;;) {
        ssize_t got = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return 1;
        if (got > 0) continue;
        int64_t left = deadline - monotonic_ms();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, left < 100 ? (int)left : 100);
    }
}

/* Room for `descriptors` more open files: the soft limit raised towards the hard one. */
static inline void allow_descriptors(rlim_t descriptors) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < descriptors + 256) {
        limit.rlim_cur = limit.rlim_max == RLIM_INFINITY || limit.rlim_max > descriptors + 256 ? descriptors + 256 : limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

static inline aq_sender_statistics raw_sender_statistics(aq_sender *sender) {
    aq_sender_statistics s = {.size = sizeof s};
    EXPECT(aq_sender_statistics_get(sender, &s), AQ_OK);
    return s;
}

static inline aq_receiver_statistics raw_receiver_statistics(aq_receiver *receiver) {
    aq_receiver_statistics s = {.size = sizeof s};
    EXPECT(aq_receiver_statistics_get(receiver, &s), AQ_OK);
    return s;
}

/* Reads the sender's statistics into `s` every 20 ms until `condition` holds, at most `ms`;
 * a sender cuts connections in its own housekeeping (about every 100 ms). */
#define SENDER_WITHIN(ms, sender, s, condition)                                                                \
    do {                                                                                                       \
        int64_t deadline_ = monotonic_ms() + (ms);                                                             \
        for (s = raw_sender_statistics(sender); !(condition) && monotonic_ms() < deadline_;                    \
             s = raw_sender_statistics(sender))                                                                \
            nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);                                  \
    } while (0)

/* Receives in 20 ms slices (a receiver applies its limits while a receive call runs) until
 * `condition` holds of its statistics `s`, at most `ms`; messages that arrive are dropped. */
#define RECEIVER_WITHIN(ms, receiver, s, condition)                                                            \
    do {                                                                                                       \
        int64_t deadline_ = monotonic_ms() + (ms);                                                             \
        for (s = raw_receiver_statistics(receiver); !(condition) && monotonic_ms() < deadline_;                \
             s = raw_receiver_statistics(receiver)) {                                                          \
            aq_message *message_ = NULL;                                                                       \
            aq_receiver_receive(receiver, 20 * 1000 * 1000, 0, &message_);                                     \
            aq_message_free(message_);                                                                         \
        }                                                                                                      \
    } while (0)

#endif
