/*
 * maximum_connections from C (docs/RELIABILITY.md, "Many connections"): a receiver and a sender
 * bound with a limit of 2 cut the 3 newest of 5 raw tcp connections, count them in
 * peers_dropped, keep the 2 oldest, and serve a legitimate peer once places are free; a sender
 * with AQ_NO_CONNECTION_LIMIT keeps 258 connections, and a receiver made from a struct of
 * version 2 (before the field) keeps the default, 256, of 258. Run by ArrayQueuesCTests; exits 0
 * only if every check passed.
 */
#define _GNU_SOURCE
#include "check.h"
#include "raw_peers.h"

static const int64_t MS = 1000 * 1000;

/* One small array, sent and checked by the legitimate peers. */
static int32_t payload[16] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};
static const int64_t shape[1] = {16};
static const aq_array array = {.name = "digits", .dtype = AQ_DTYPE_INT32, .ndim = 1, .shape = shape, .data = payload,
                               .nbytes = sizeof payload};

/* Receives until a data message of `stream` arrives (at most 10 s); 1 if it did, intact. */
static int receives_from(aq_receiver *receiver, const char *stream) {
    int64_t deadline = monotonic_ms() + 10000;
    while (monotonic_ms() < deadline) {
        aq_message *message = NULL;
        if (aq_receiver_receive(receiver, 100 * MS, 0, &message) != AQ_OK) continue;
        aq_message_info info = {.size = sizeof info};
        aq_array got;
        int intact = aq_message_info_get(message, &info) == AQ_OK && strcmp(info.stream, stream) == 0 &&
                     aq_message_array(message, 0, &got) == AQ_OK && got.nbytes == sizeof payload &&
                     memcmp(got.data, payload, sizeof payload) == 0;
        aq_message_free(message);
        if (intact) return 1;
    }
    return 0;
}

static void test_receiver_limit(void) {
    aq_receiver_options options;
    aq_receiver_options_init(&options);
    options.role = AQ_ROLE_BIND;
    options.fast_path = AQ_FAST_PATH_DISABLED;
    options.maximum_connections = 2;
    aq_receiver *receiver = NULL;
    char endpoint[64];
    EXPECT(bind_receiver(&options, endpoint, sizeof endpoint, &receiver), AQ_OK);
    if (!receiver) return;
    int raw[5];
    int made = raw_connect(endpoint, raw, 5);
    CHECK(made == 5);
    aq_receiver_statistics s;
    RECEIVER_WITHIN(20000, receiver, s, s.peers_dropped >= 3);
    CHECK(s.peers_dropped == 3);
    for (int i = 2; i < made; i++) CHECK(connection_ended(raw[i], 10000));
    for (int i = 0; i < made && i < 2; i++) CHECK(!connection_ended(raw[i], 200));
    RECEIVER_WITHIN(300, receiver, s, s.peers_dropped > 3);  /* nothing more is cut */
    CHECK(s.peers_dropped == 3 && s.received == 0 && s.malformed == 0);
    printf("receiver: limit 2, 5 raw connections: peers_dropped %llu\n", (unsigned long long)s.peers_dropped);

    /* The two kept leave: a legitimate pusher takes a place and is served. */
    raw_close(raw, made);
    RECEIVER_WITHIN(300, receiver, s, 0);  /* lets the receiver see them go */
    aq_sender_options sender_options;
    aq_sender_options_init(&sender_options);
    sender_options.role = AQ_ROLE_CONNECT;
    sender_options.send_timeout_ns = 10000 * MS;
    aq_sender *sender = NULL;
    EXPECT(aq_sender_create(endpoint, "legitimate", &sender_options, &sender), AQ_OK);
    if (sender) EXPECT(aq_sender_send(sender, &array, 1, 0, 0, 0, NULL, NULL), AQ_OK);
    CHECK(receives_from(receiver, "legitimate"));
    s = raw_receiver_statistics(receiver);
    CHECK(s.peers_dropped == 3 && s.received == 1);
    aq_sender_close(sender);
    aq_receiver_close(receiver);
}

static void test_sender_limit(void) {
    aq_sender_options options;
    aq_sender_options_init(&options);
    options.fast_path = AQ_FAST_PATH_DISABLED;
    options.send_timeout_ns = 10000 * MS;
    options.maximum_connections = 2;
    aq_sender *sender = NULL;
    EXPECT(aq_sender_create("tcp://127.0.0.1:*", "limited", &options, &sender), AQ_OK);
    if (!sender) return;
    char endpoint[128];
    EXPECT(aq_sender_endpoint(sender, endpoint, sizeof endpoint), AQ_OK);
    int raw[5];
    int made = raw_connect(endpoint, raw, 5);
    CHECK(made == 5);
    aq_sender_statistics s;
    SENDER_WITHIN(20000, sender, s, s.peers_dropped >= 3);
    CHECK(s.peers_dropped == 3 && s.peers == 2);
    for (int i = 2; i < made; i++) CHECK(connection_ended(raw[i], 10000));
    for (int i = 0; i < made && i < 2; i++) CHECK(!connection_ended(raw[i], 200));
    SENDER_WITHIN(10000, sender, s, s.peers_disconnected >= 3);  /* each cut also ends, as libzmq sees it */
    CHECK(s.peers_disconnected == 3 && s.peers_dropped == 3);
    printf("sender: limit 2, 5 raw connections: peers_dropped %llu, peers %lld\n", (unsigned long long)s.peers_dropped,
           (long long)s.peers);

    /* The two kept leave: a legitimate puller takes a place and gets the message. */
    raw_close(raw, made);
    SENDER_WITHIN(10000, sender, s, s.peers == 0);
    CHECK(s.peers == 0);
    aq_receiver *receiver = NULL;
    EXPECT(aq_receiver_create(endpoint, NULL, &receiver), AQ_OK);
    EXPECT(aq_sender_send(sender, &array, 1, 0, 0, 0, NULL, NULL), AQ_OK);
    if (receiver) CHECK(receives_from(receiver, "limited"));
    SENDER_WITHIN(10000, sender, s, s.peers == 1);  /* as of the sender's next look at its socket */
    CHECK(s.peers == 1 && s.peers_dropped == 3);
    aq_receiver_close(receiver);
    aq_sender_close(sender);
}

enum { MANY = 258 };

/* AQ_NO_CONNECTION_LIMIT: a sender keeps all 258 (it would keep 256 with the default). */
static void test_no_limit(void) {
    aq_sender_options options;
    aq_sender_options_init(&options);
    options.fast_path = AQ_FAST_PATH_DISABLED;
    options.maximum_connections = AQ_NO_CONNECTION_LIMIT;
    aq_sender *sender = NULL;
    EXPECT(aq_sender_create("tcp://127.0.0.1:*", "unlimited", &options, &sender), AQ_OK);
    if (!sender) return;
    char endpoint[128];
    EXPECT(aq_sender_endpoint(sender, endpoint, sizeof endpoint), AQ_OK);
    static int raw[MANY];
    int made = raw_connect(endpoint, raw, MANY);
    CHECK(made == MANY);
    aq_sender_statistics s;
    SENDER_WITHIN(20000, sender, s, s.peers == MANY);
    nanosleep(&(struct timespec){.tv_nsec = 300 * MS}, NULL);  /* past a housekeeping round */
    s = raw_sender_statistics(sender);
    CHECK(s.peers == MANY && s.peers_dropped == 0);
    printf("sender: no limit, %d raw connections: peers %lld, peers_dropped %llu\n", made, (long long)s.peers,
           (unsigned long long)s.peers_dropped);
    raw_close(raw, made);
    aq_sender_close(sender);
}

/* A receiver made from a struct of version 2 keeps the default, 256, whatever the bytes after
 * it hold (here AQ_NO_CONNECTION_LIMIT): the 2 newest of 258 are cut. */
static void test_default_for_version_2(void) {
    aq_receiver_options options;
    memset(&options, 0, sizeof options);  /* maximum_connections, past the size: AQ_NO_CONNECTION_LIMIT */
    aq_receiver_options_init_sized(&options, AQ_RECEIVER_OPTIONS_SIZE_V2);
    options.role = AQ_ROLE_BIND;
    options.fast_path = AQ_FAST_PATH_DISABLED;
    aq_receiver *receiver = NULL;
    char endpoint[64];
    EXPECT(bind_receiver(&options, endpoint, sizeof endpoint, &receiver), AQ_OK);
    if (!receiver) return;
    static int raw[MANY];
    int made = raw_connect(endpoint, raw, MANY);
    CHECK(made == MANY);
    aq_receiver_statistics s;
    RECEIVER_WITHIN(20000, receiver, s, s.peers_dropped >= MANY - 256);
    RECEIVER_WITHIN(300, receiver, s, s.peers_dropped > MANY - 256);  /* nothing more is cut */
    CHECK(s.peers_dropped == MANY - 256);
    CHECK(made == MANY && connection_ended(raw[MANY - 1], 10000) && !connection_ended(raw[0], 0));
    printf("receiver: version-2 options, %d raw connections: peers_dropped %llu\n", made, (unsigned long long)s.peers_dropped);
    raw_close(raw, made);
    aq_receiver_close(receiver);
}

int main(void) {
    allow_descriptors(4 * MANY);  /* each raw connection takes two descriptors here: ours and libzmq's */
    test_receiver_limit();
    test_sender_limit();
    test_no_limit();
    test_default_for_version_2();
    return CHECK_SUMMARY("connection_limit_test");
}
