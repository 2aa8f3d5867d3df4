/*
 * Versions of the options structs: a program built against version 1 of arrayqueues.h (whose
 * aq_sender_options and aq_receiver_options end at shm_capacity, and aq_queue_options at
 * allow_other_owner) keeps working with this library, and the fields version 2 added
 * (shm_mode, shm_allow_other_owner; broadcast) do what they say; so does maximum_connections
 * (version 4 of aq_sender_options, 3 of aq_receiver_options), which an older struct never sets,
 * and zero_copy_receive (version 4 of aq_receiver_options).
 * Run by ArrayQueuesCTests (compiled with pkg-config); prints one line per failed check and a
 * summary, and exits 0 only if every check passed.
 */
#define _GNU_SOURCE
#include "check.h"
#include "raw_peers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* aq_sender_options and aq_receiver_options as version 1 of the header declared them. */
typedef struct {
    size_t size;
    int pattern, role, fast_path;
    int64_t byte_budget, expected_message_bytes, send_timeout_ns, heartbeat_interval_ns, linger_ns;
    const char *curve_secret_key, *curve_server_public_key;
    int64_t shm_capacity;
} v1_sender_options;

typedef struct {
    size_t size;
    int pattern, role, fast_path, detects_loss;
    const char *const *subscriptions;
    size_t subscription_count;
    int64_t maximum_message_bytes, maximum_arrays, byte_budget, expected_message_bytes, heartbeat_interval_ns,
        missed_heartbeats, linger_ns;
    const char *curve_secret_key, *curve_server_public_key;
    int64_t fast_path_capacity, fast_path_timeout_ns, shm_capacity;
} v1_receiver_options;

/* aq_queue_options as version 1 of the header declared it. */
typedef struct {
    size_t size;
    int overflow, shape_change;
    int64_t spin_ns;
    uint32_t mode;
    int32_t allow_other_owner;
} v1_queue_options;

static char prefix[64];

static const char *queue_name(const char *suffix) {
    static char name[128];
    snprintf(name, sizeof name, "%s-%s", prefix, suffix);
    return name;
}

static char endpoint_text[160];

static const char *endpoint(const char *suffix) {
    snprintf(endpoint_text, sizeof endpoint_text, "shm://%s", queue_name(suffix));
    return endpoint_text;
}

/* Permission bits of the queue's shared-memory object, or -1. */
static int queue_mode(const char *suffix) {
    char path[192];
    snprintf(path, sizeof path, "/dev/shm/aq.%s", queue_name(suffix));
    struct stat status;
    return stat(path, &status) == 0 ? (int)(status.st_mode & 0777) : -1;
}

static void test_version_1_programs(void) {
    CHECK(sizeof(v1_sender_options) == AQ_SENDER_OPTIONS_SIZE_V1);
    CHECK(sizeof(v1_receiver_options) == AQ_RECEIVER_OPTIONS_SIZE_V1);
    CHECK(sizeof(v1_sender_options) < sizeof(aq_sender_options));

    /* The function an old program calls writes version 1's fields and nothing after them. */
    struct {
        v1_sender_options options;
        unsigned char guard[64];
    } sender_frame;
    memset(&sender_frame, 0xA5, sizeof sender_frame);
    (aq_sender_options_init)((aq_sender_options *)&sender_frame.options);
    CHECK(sender_frame.options.size == sizeof(v1_sender_options));
    CHECK(sender_frame.options.shm_capacity == 256 << 20 && sender_frame.options.send_timeout_ns == AQ_TIMEOUT_DEFAULT);
    int untouched = 1;
    for (size_t i = 0; i < sizeof sender_frame.guard; i++) untouched &= sender_frame.guard[i] == 0xA5;
    CHECK(untouched);

    struct {
        v1_receiver_options options;
        unsigned char guard[64];
    } receiver_frame;
    memset(&receiver_frame, 0xA5, sizeof receiver_frame);
    (aq_receiver_options_init)((aq_receiver_options *)&receiver_frame.options);
    CHECK(receiver_frame.options.size == sizeof(v1_receiver_options) && receiver_frame.options.maximum_arrays == 256);
    untouched = 1;
    for (size_t i = 0; i < sizeof receiver_frame.guard; i++) untouched &= receiver_frame.guard[i] == 0xA5;
    CHECK(untouched);

    /* A version-1 struct is accepted: the library reads its size and defaults shm_mode (0600)
     * and shm_allow_other_owner (0); the guard bytes after it (0xA5...) are never read. */
    receiver_frame.options.shm_capacity = 1 << 20;
    aq_receiver *receiver = NULL;
    CHECK(aq_receiver_create(endpoint("v1"), (const aq_receiver_options *)&receiver_frame.options, &receiver) == AQ_OK);
    CHECK(queue_mode("v1") == 0600);
    aq_sender *sender = NULL;
    CHECK(aq_sender_create(endpoint("v1"), "ignored", (const aq_sender_options *)&sender_frame.options, &sender) == AQ_OK);
    int64_t shape[1] = {3};
    int32_t values[3] = {7, 8, 9};
    aq_array array = {.name = "array", .dtype = AQ_DTYPE_INT32, .ndim = 1, .shape = shape, .data = values, .nbytes = sizeof values};
    CHECK(aq_sender_send(sender, &array, 1, 0, 0, 0, NULL, NULL) == AQ_OK);
    aq_message *message = NULL;
    CHECK(aq_receiver_receive(receiver, 5000 * 1000 * 1000LL, 0, &message) == AQ_OK);
    aq_array received;
    CHECK(message && aq_message_array(message, 0, &received) == AQ_OK && received.nbytes == sizeof values &&
          memcmp(received.data, values, sizeof values) == 0);
    aq_message_free(message);
    aq_sender_close(sender);
    aq_receiver_close(receiver);
    CHECK(aq_queue_remove(queue_name("v1")) == AQ_OK);

    /* Smaller than version 1: refused, nothing created. */
    sender_frame.options.size = AQ_SENDER_OPTIONS_SIZE_V1 - 8;
    CHECK(aq_sender_create(endpoint("short"), "s", (const aq_sender_options *)&sender_frame.options, &sender) == AQ_EINVALID_ARGUMENT);
    receiver_frame.options.size = sizeof(size_t);
    CHECK(aq_receiver_create(endpoint("short"), (const aq_receiver_options *)&receiver_frame.options, &receiver) == AQ_EINVALID_ARGUMENT);
    CHECK(!aq_queue_exists(queue_name("short")));
}

static void test_queue_options_versions(void) {
    CHECK(sizeof(v1_queue_options) == AQ_QUEUE_OPTIONS_SIZE_V1);
    CHECK(sizeof(v1_queue_options) < sizeof(aq_queue_options));
    struct {
        v1_queue_options options;
        unsigned char guard[64];
    } frame;
    memset(&frame, 0xA5, sizeof frame);
    (aq_queue_options_init)((aq_queue_options *)&frame.options);
    CHECK(frame.options.size == sizeof(v1_queue_options) && frame.options.mode == 0600 && frame.options.spin_ns == 30000);
    int untouched = 1;
    for (size_t i = 0; i < sizeof frame.guard; i++) untouched &= frame.guard[i] == 0xA5;
    CHECK(untouched);
    /* A version-1 struct makes a plain queue (broadcast defaults to 0; the guard is not read). */
    aq_queue *queue = NULL;
    CHECK(aq_queue_create(queue_name("queue-v1"), 1 << 20, (const aq_queue_options *)&frame.options, &queue) == AQ_OK);
    aq_subscriber *subscriber = NULL;
    CHECK(aq_queue_subscribe(queue, AQ_SUBSCRIBER_BLOCK, AQ_START_NEWEST, &subscriber) == AQ_EINVALID_ARGUMENT);
    aq_queue_close(queue);
    CHECK(aq_queue_remove(queue_name("queue-v1")) == AQ_OK);

    /* Version 2: broadcast applies. */
    aq_queue_options options;
    aq_queue_options_init(&options);
    CHECK(options.size == sizeof options && options.broadcast == 0);
    options.broadcast = 1;
    CHECK(aq_queue_create(queue_name("queue-v2"), 1 << 20, &options, &queue) == AQ_OK);
    CHECK(aq_queue_subscribe(queue, AQ_SUBSCRIBER_BLOCK, AQ_START_NEWEST, &subscriber) == AQ_OK);
    aq_subscriber_close(subscriber);
    aq_queue_close(queue);
    CHECK(aq_queue_remove(queue_name("queue-v2")) == AQ_OK);

    /* Smaller than version 1: refused. */
    frame.options.size = AQ_QUEUE_OPTIONS_SIZE_V1 - 4;
    CHECK(aq_queue_create(queue_name("queue-short"), 1 << 20, (const aq_queue_options *)&frame.options, &queue) == AQ_EINVALID_ARGUMENT);
    CHECK(!aq_queue_exists(queue_name("queue-short")));
    aq_queue_options_init_sized(NULL, sizeof options);
}

static void test_sized_initialization(void) {
    aq_sender_options sender_options;
    aq_sender_options_init(&sender_options);  /* the macro: this header's size */
    CHECK(sender_options.size == sizeof sender_options && sender_options.shm_mode == 0600 &&
          sender_options.shm_allow_other_owner == 0);
    aq_receiver_options receiver_options;
    aq_receiver_options_init(&receiver_options);
    CHECK(receiver_options.size == sizeof receiver_options && receiver_options.shm_mode == 0600 &&
          receiver_options.shm_allow_other_owner == 0);

    /* A program built against a later header passes a larger size: the library writes what it
     * knows and says so in `size`; a size that cannot even hold `size` writes nothing. */
    struct {
        aq_sender_options options;
        unsigned char later[32];
    } larger;
    memset(&larger, 0xA5, sizeof larger);
    aq_sender_options_init_sized(&larger.options, sizeof larger);
    CHECK(larger.options.size == sizeof(aq_sender_options) && larger.later[0] == 0xA5 && larger.later[31] == 0xA5);
    memset(&larger, 0xA5, sizeof larger);
    aq_sender_options_init_sized(&larger.options, 4);
    CHECK(((unsigned char *)&larger)[0] == 0xA5);
    aq_sender_options_init_sized(NULL, sizeof larger);
    aq_receiver_options_init_sized(NULL, sizeof receiver_options);
}

static void test_shm_mode(void) {
    aq_sender_options sender_options;
    aq_sender_options_init(&sender_options);
    sender_options.shm_capacity = 1 << 20;
    sender_options.shm_mode = 0660;
    aq_sender *sender = NULL;
    CHECK(aq_sender_create(endpoint("mode"), "s", &sender_options, &sender) == AQ_OK);
    CHECK(queue_mode("mode") == 0660);
    aq_sender_close(sender);
    CHECK(aq_queue_remove(queue_name("mode")) == AQ_OK);

    aq_receiver_options receiver_options;
    aq_receiver_options_init(&receiver_options);
    receiver_options.shm_capacity = 1 << 20;
    receiver_options.shm_mode = 0640;
    aq_receiver *receiver = NULL;
    CHECK(aq_receiver_create(endpoint("mode-r"), &receiver_options, &receiver) == AQ_OK);
    CHECK(queue_mode("mode-r") == 0640);
    aq_receiver_close(receiver);
    CHECK(aq_queue_remove(queue_name("mode-r")) == AQ_OK);

    /* A mode without 0600 would lock the creator out: refused, nothing created. */
    sender_options.shm_mode = 0060;
    CHECK(aq_sender_create(endpoint("bad-mode"), "s", &sender_options, &sender) == AQ_EINVALID_ARGUMENT);
    CHECK(!aq_queue_exists(queue_name("bad-mode")));
}

/* Another user (nobody, through setresuid as root) creates a queue; this process refuses it
 * unless shm_allow_other_owner. */
static void test_other_owner(void) {
    if (geteuid() != 0) {
        fprintf(stderr, "options_versions_test: not root: the other-owner checks are skipped\n");
        return;
    }
    pid_t child = fork();
    if (child == 0) {
        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(3);
        aq_queue_options options;
        aq_queue_options_init(&options);
        options.mode = 0666;
        aq_queue *queue = NULL;
        _exit(aq_queue_create(queue_name("other"), 1 << 20, &options, &queue) == AQ_OK ? 0 : 4);
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);

    aq_sender *sender = NULL;
    aq_receiver *receiver = NULL;
    CHECK(aq_sender_create(endpoint("other"), "s", NULL, &sender) == AQ_EUNTRUSTED_OWNER && sender == NULL);
    CHECK(aq_receiver_create(endpoint("other"), NULL, &receiver) == AQ_EUNTRUSTED_OWNER && receiver == NULL);
    aq_sender_options sender_options;
    aq_sender_options_init(&sender_options);
    sender_options.shm_allow_other_owner = 1;
    aq_receiver_options receiver_options;
    aq_receiver_options_init(&receiver_options);
    receiver_options.shm_allow_other_owner = 1;
    CHECK(aq_sender_create(endpoint("other"), "s", &sender_options, &sender) == AQ_OK);
    CHECK(aq_receiver_create(endpoint("other"), &receiver_options, &receiver) == AQ_OK);
    int64_t shape[1] = {2};
    double values[2] = {1.5, -2.5};
    aq_array array = {.name = "array", .dtype = AQ_DTYPE_FLOAT64, .ndim = 1, .shape = shape, .data = values, .nbytes = sizeof values};
    CHECK(sender && aq_sender_send(sender, &array, 1, 0, 0, 0, NULL, NULL) == AQ_OK);
    aq_message *message = NULL;
    CHECK(receiver && aq_receiver_receive(receiver, 5000 * 1000 * 1000LL, 0, &message) == AQ_OK);
    aq_array received;
    CHECK(message && aq_message_array(message, 0, &received) == AQ_OK && memcmp(received.data, values, sizeof values) == 0);
    aq_message_free(message);
    aq_sender_close(sender);
    aq_receiver_close(receiver);
    CHECK(aq_queue_remove(queue_name("other")) == AQ_OK);
}

/* maximum_connections: the init functions set 256 and a struct of an earlier version writes
 * nothing of it; a struct whose `size` ends before it keeps the default even when the bytes
 * after it say 1 (the library never reads them), while the whole struct's 1 cuts the newest of
 * 3 raw tcp connections; negative values are refused. A sender's statistics of version 3 get
 * nothing of peers_dropped written. */
static void test_connection_limit_versions(void) {
    aq_sender_options sender_options;
    aq_sender_options_init(&sender_options);
    CHECK(sender_options.maximum_connections == 256);
    aq_receiver_options receiver_options;
    aq_receiver_options_init(&receiver_options);
    CHECK(receiver_options.maximum_connections == 256);

    /* The earlier versions' sizes are what their programs' sizeof was: each ended where the new
     * field starts, with no padding between. */
    CHECK(AQ_SENDER_OPTIONS_SIZE_V3 == offsetof(aq_sender_options, maximum_arrays) + sizeof(int64_t));
    CHECK(AQ_RECEIVER_OPTIONS_SIZE_V2 == offsetof(aq_receiver_options, shm_allow_other_owner) + sizeof(int32_t));
    CHECK(AQ_SENDER_STATISTICS_SIZE_V3 == offsetof(aq_sender_statistics, shared_memory_lost) + sizeof(uint64_t));

    memset(&sender_options, 0xA5, sizeof sender_options);
    aq_sender_options_init_sized(&sender_options, AQ_SENDER_OPTIONS_SIZE_V3);
    CHECK(sender_options.size == AQ_SENDER_OPTIONS_SIZE_V3 && sender_options.maximum_arrays == 256 &&
          untouched(&sender_options, AQ_SENDER_OPTIONS_SIZE_V3, sizeof sender_options, 0xA5));
    memset(&receiver_options, 0xA5, sizeof receiver_options);
    aq_receiver_options_init_sized(&receiver_options, AQ_RECEIVER_OPTIONS_SIZE_V2);
    CHECK(receiver_options.size == AQ_RECEIVER_OPTIONS_SIZE_V2 && receiver_options.shm_mode == 0600 &&
          untouched(&receiver_options, AQ_RECEIVER_OPTIONS_SIZE_V2, sizeof receiver_options, 0xA5));

    /* A sender of version 3 (the field after its size says 1): all 3 raw peers are kept. */
    sender_options.fast_path = AQ_FAST_PATH_DISABLED;
    sender_options.maximum_connections = 1;
    aq_sender *sender = NULL;
    EXPECT(aq_sender_create("tcp://127.0.0.1:*", "limit-v3", &sender_options, &sender), AQ_OK);
    char address[128] = "";
    int raw[3];
    aq_sender_statistics s = {0};
    if (sender) {
        EXPECT(aq_sender_endpoint(sender, address, sizeof address), AQ_OK);
        int made = raw_connect(address, raw, 3);
        CHECK(made == 3);
        SENDER_WITHIN(10000, sender, s, s.peers == 3);
        nanosleep(&(struct timespec){.tv_nsec = 300 * 1000 * 1000}, NULL);  /* past a housekeeping round */
        s = raw_sender_statistics(sender);
        CHECK(s.peers == 3 && s.peers_dropped == 0);
        raw_close(raw, made);
        aq_sender_close(sender);
    }

    /* Version 4, the whole struct: its 1 applies. */
    aq_sender_options_init(&sender_options);
    sender_options.fast_path = AQ_FAST_PATH_DISABLED;
    sender_options.maximum_connections = 1;
    sender = NULL;
    EXPECT(aq_sender_create("tcp://127.0.0.1:*", "limit-v4", &sender_options, &sender), AQ_OK);
    if (sender) {
        EXPECT(aq_sender_endpoint(sender, address, sizeof address), AQ_OK);
        int made = raw_connect(address, raw, 3);
        CHECK(made == 3);
        SENDER_WITHIN(10000, sender, s, s.peers_dropped >= 2);
        CHECK(s.peers_dropped == 2 && s.peers == 1);
        CHECK(made == 3 && connection_ended(raw[1], 10000) && connection_ended(raw[2], 10000) && !connection_ended(raw[0], 200));
        /* A caller of version 3 of the statistics gets nothing past it. */
        WITH_SPARE_BYTES(aq_sender_statistics) old;
        memset(&old, 0xA5, sizeof old);
        old.head.size = AQ_SENDER_STATISTICS_SIZE_V3;
        EXPECT(aq_sender_statistics_get(sender, &old.head), AQ_OK);
        CHECK(old.head.peers == 1 && untouched(old.bytes, AQ_SENDER_STATISTICS_SIZE_V3, sizeof old.bytes, 0xA5));
        raw_close(raw, made);
        aq_sender_close(sender);
    }

    /* A receiver of version 2 (the field after its size says 1): no raw peer is cut while it
     * receives for half a second (a limit is applied every 5 to 10 ms of a receive call); the
     * whole struct's 1 cuts 2 of 3. */
    receiver_options.role = AQ_ROLE_BIND;
    receiver_options.fast_path = AQ_FAST_PATH_DISABLED;
    receiver_options.maximum_connections = 1;
    aq_receiver *receiver = NULL;
    EXPECT(bind_receiver(&receiver_options, address, sizeof address, &receiver), AQ_OK);
    aq_receiver_statistics r = {0};
    if (receiver) {
        int made = raw_connect(address, raw, 3);
        CHECK(made == 3);
        RECEIVER_WITHIN(500, receiver, r, r.peers_dropped > 0);
        CHECK(r.peers_dropped == 0);
        for (int i = 0; i < made; i++) CHECK(!connection_ended(raw[i], 0));
        raw_close(raw, made);
        aq_receiver_close(receiver);
    }
    aq_receiver_options_init(&receiver_options);
    receiver_options.role = AQ_ROLE_BIND;
    receiver_options.fast_path = AQ_FAST_PATH_DISABLED;
    receiver_options.maximum_connections = 1;
    receiver = NULL;
    EXPECT(bind_receiver(&receiver_options, address, sizeof address, &receiver), AQ_OK);
    if (receiver) {
        int made = raw_connect(address, raw, 3);
        CHECK(made == 3);
        RECEIVER_WITHIN(10000, receiver, r, r.peers_dropped >= 2);
        CHECK(r.peers_dropped == 2);
        CHECK(made == 3 && connection_ended(raw[2], 10000) && !connection_ended(raw[0], 0));
        raw_close(raw, made);
        aq_receiver_close(receiver);
    }

    /* Negative: refused on every endpoint, saying which field; nothing made. */
    aq_sender_options_init(&sender_options);
    sender_options.maximum_connections = -1;
    sender = NULL;
    EXPECT(aq_sender_create("tcp://127.0.0.1:*", "s", &sender_options, &sender), AQ_EINVALID_ARGUMENT);
    CHECK(sender == NULL && strstr(aq_last_error_message(), "maximum_connections") != NULL);
    EXPECT(aq_sender_create(endpoint("limit-negative"), "s", &sender_options, &sender), AQ_EINVALID_ARGUMENT);
    aq_receiver_options_init(&receiver_options);
    receiver_options.maximum_connections = INT64_MIN;
    EXPECT(aq_receiver_create(endpoint("limit-negative"), &receiver_options, &receiver), AQ_EINVALID_ARGUMENT);
    CHECK(receiver == NULL && strstr(aq_last_error_message(), "maximum_connections") != NULL);
    CHECK(!aq_queue_exists(queue_name("limit-negative")));
}

/* Byte `i` of the array of `nbytes` bytes sent as message `seed`. */
static unsigned char pattern_byte(size_t i, size_t nbytes, int seed) {
    return (unsigned char)(i * 131 + nbytes * 7 + (size_t)seed * 29 + (i >> 8));
}

/* A message of one array of `nbytes` bytes, filled by pattern_byte(). */
static int send_pattern(aq_sender *sender, size_t nbytes, int seed) {
    unsigned char *bytes = malloc(nbytes);
    if (!bytes) return AQ_ESYSTEM;
    for (size_t i = 0; i < nbytes; i++) bytes[i] = pattern_byte(i, nbytes, seed);
    int64_t shape[1] = {(int64_t)nbytes};
    aq_array array = {.name = "bytes", .dtype = AQ_DTYPE_UINT8, .ndim = 1, .shape = shape, .data = bytes, .nbytes = nbytes};
    int rc = aq_sender_send(sender, &array, 1, 0, 0, seed, NULL, NULL);
    free(bytes);
    return rc;
}

/* The message holds the array send_pattern() sent as message `seed`. */
static int holds_pattern(aq_message *message, size_t nbytes, int seed) {
    aq_message_info info = {.size = sizeof info};
    aq_array array;
    if (!message || aq_message_info_get(message, &info) != AQ_OK || info.array_count != 1 ||
        aq_message_array(message, 0, &array) != AQ_OK || array.nbytes != nbytes)
        return 0;
    const unsigned char *bytes = array.data;
    for (size_t i = 0; i < nbytes; i++)
        if (bytes[i] != pattern_byte(i, nbytes, seed)) return 0;
    return 1;
}

/* zero_copy_receive (version 4 of aq_receiver_options): 0 from the init functions, which write
 * nothing of it for an earlier size; accepted at every size, with the field after an earlier
 * version's size saying 1 (the library never reads it) and in the whole struct: messages of
 * 40 B, 64 KiB and 1 MiB arrive intact over tcp while every message received so far is held,
 * two rounds of them; shm:// ignores it. Whether the receiver really receives with zero-copy
 * C cannot see: ReceiverSettingsTests (Swift) checks the context libzmq reports. */
static void test_zero_copy_receive_versions(void) {
    aq_receiver_options options;
    aq_receiver_options_init(&options);
    CHECK(options.zero_copy_receive == 0);
    /* Version 3's size was its sizeof: it ended where the new field starts; and version 4 has no
     * padding after the field, so its sizeof is where a version 5 would begin. */
    CHECK(AQ_RECEIVER_OPTIONS_SIZE_V3 == offsetof(aq_receiver_options, maximum_connections) + sizeof(int64_t));
    CHECK(sizeof(aq_receiver_options) == offsetof(aq_receiver_options, zero_copy_receive) + sizeof options.zero_copy_receive);
    memset(&options, 0xA5, sizeof options);
    aq_receiver_options_init_sized(&options, AQ_RECEIVER_OPTIONS_SIZE_V3);
    CHECK(options.size == AQ_RECEIVER_OPTIONS_SIZE_V3 && options.maximum_connections == 256 &&
          untouched(&options, AQ_RECEIVER_OPTIONS_SIZE_V3, sizeof options, 0xA5));

    enum { ROUNDS = 2, SIZES = 3 };
    static const size_t sizes[SIZES] = {40, 64 << 10, 1 << 20};
    const size_t struct_sizes[] = {AQ_RECEIVER_OPTIONS_SIZE_V1, AQ_RECEIVER_OPTIONS_SIZE_V2, AQ_RECEIVER_OPTIONS_SIZE_V3,
                                   sizeof(aq_receiver_options)};
    for (size_t version = 0; version < sizeof struct_sizes / sizeof struct_sizes[0]; version++) {
        aq_receiver_options_init(&options);
        options.role = AQ_ROLE_BIND;
        options.fast_path = AQ_FAST_PATH_DISABLED;  /* over tcp, not a same-host queue */
        options.zero_copy_receive = 1;
        options.size = struct_sizes[version];
        char address[128] = "";
        aq_receiver *receiver = NULL;
        EXPECT(bind_receiver(&options, address, sizeof address, &receiver), AQ_OK);
        aq_sender_options sender_options;
        aq_sender_options_init(&sender_options);
        sender_options.role = AQ_ROLE_CONNECT;
        sender_options.fast_path = AQ_FAST_PATH_DISABLED;
        sender_options.send_timeout_ns = 10000 * 1000 * 1000LL;
        aq_sender *sender = NULL;
        if (receiver) EXPECT(aq_sender_create(address, "zero-copy", &sender_options, &sender), AQ_OK);
        aq_message *held[ROUNDS * SIZES] = {0};
        int intact = 0;
        for (int round = 0; sender && round < ROUNDS; round++) {
            for (int k = 0; k < SIZES; k++) EXPECT(send_pattern(sender, sizes[k], round * SIZES + k), AQ_OK);
            for (int k = 0; k < SIZES; k++)
                EXPECT(aq_receiver_receive(receiver, 10000 * 1000 * 1000LL, 0, &held[round * SIZES + k]), AQ_OK);
        }
        for (int m = 0; m < ROUNDS * SIZES; m++) intact += holds_pattern(held[m], sizes[m % SIZES], m);
        if (intact != ROUNDS * SIZES) fprintf(stderr, "options_versions_test: size %zu: %d of %d intact\n", struct_sizes[version], intact, ROUNDS * SIZES);
        CHECK(intact == ROUNDS * SIZES);
        for (int m = 0; m < ROUNDS * SIZES; m++) aq_message_free(held[m]);
        if (sender) aq_sender_close(sender);
        if (receiver) aq_receiver_close(receiver);
    }

    /* shm:// ignores it. */
    aq_receiver_options_init(&options);
    options.zero_copy_receive = 1;
    options.shm_capacity = 4 << 20;
    aq_receiver *receiver = NULL;
    EXPECT(aq_receiver_create(endpoint("zero-copy"), &options, &receiver), AQ_OK);
    aq_sender *sender = NULL;
    if (receiver) EXPECT(aq_sender_create(endpoint("zero-copy"), "s", NULL, &sender), AQ_OK);
    aq_message *message = NULL;
    if (sender) {
        EXPECT(send_pattern(sender, 1 << 20, 7), AQ_OK);
        EXPECT(aq_receiver_receive(receiver, 5000 * 1000 * 1000LL, 0, &message), AQ_OK);
    }
    CHECK(holds_pattern(message, 1 << 20, 7));
    aq_message_free(message);
    if (sender) aq_sender_close(sender);
    if (receiver) aq_receiver_close(receiver);
    CHECK(aq_queue_remove(queue_name("zero-copy")) == AQ_OK);
}

/* Each struct ends where its last field does: trailing padding would let a later version add a
 * field there without changing sizeof, and the library could no longer tell the versions apart
 * by `size` (nor know whether those bytes were ever set). */
#define ENDS_AT_LAST_FIELD(type, last) CHECK(sizeof(type) == offsetof(type, last) + sizeof(((type *)0)->last))
static void test_no_trailing_padding(void) {
    ENDS_AT_LAST_FIELD(aq_queue_options, reserved);
    ENDS_AT_LAST_FIELD(aq_record_info, reserved);
    ENDS_AT_LAST_FIELD(aq_queue_statistics, next_sequence);
    ENDS_AT_LAST_FIELD(aq_queue_info, reserved);
    ENDS_AT_LAST_FIELD(aq_attachment, alive);
    ENDS_AT_LAST_FIELD(aq_sender_options, maximum_connections);
    ENDS_AT_LAST_FIELD(aq_array, nbytes);
    ENDS_AT_LAST_FIELD(aq_sender_statistics, peers_dropped);
    ENDS_AT_LAST_FIELD(aq_receiver_options, zero_copy_receive);
    ENDS_AT_LAST_FIELD(aq_receiver_statistics, peers_dropped);
    ENDS_AT_LAST_FIELD(aq_message_info, array_count);
    /* Filled by the library, never left as the caller's garbage. */
    aq_queue_options options;
    memset(&options, 0xAB, sizeof options);
    aq_queue_options_init(&options);
    CHECK(options.reserved == 0);
}

int main(void) {
    snprintf(prefix, sizeof prefix, "c-options-%d-%ld", (int)getpid(), (long)time(NULL) % 100000);
    test_other_owner();  /* forks: first, before anything could have started a thread */
    test_version_1_programs();
    test_queue_options_versions();
    test_sized_initialization();
    test_shm_mode();
    test_connection_limit_versions();
    test_zero_copy_receive_versions();
    test_no_trailing_padding();
    return CHECK_SUMMARY("options_versions_test");
}
