/*
 * Broadcast queues from C: aq_queue_options.broadcast, aq_queue_subscribe, copies and borrows
 * of subscribers, the block and drop policies, the lost and delivered counters, and the
 * error paths. Run by ArrayQueuesCTests (compiled with pkg-config); prints one line per failed
 * check and a summary, and exits 0 only if every check passed.
 */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS (1000 * 1000LL)

static char prefix[64];

static const char *queue_name(const char *suffix) {
    static char name[128];
    snprintf(name, sizeof name, "%s-%s", prefix, suffix);
    return name;
}

static aq_queue *create_broadcast(const char *suffix, uint64_t capacity) {
    aq_queue_options options;
    aq_queue_options_init(&options);
    CHECK(options.broadcast == 0);
    options.broadcast = 1;
    aq_queue *queue = NULL;
    CHECK(aq_queue_create(queue_name(suffix), capacity, &options, &queue) == AQ_OK);
    return queue;
}

/* Puts int32[4] {value, value+1, value+2, value+3}. */
static int put_four(aq_queue *queue, int32_t value, int64_t timeout_ns) {
    const int64_t shape[1] = {4};
    int32_t data[4] = {value, value + 1, value + 2, value + 3};
    return aq_queue_put(queue, AQ_DTYPE_INT32, 1, shape, data, sizeof data, timeout_ns, AQ_PUT_INDEX, 0, value);
}

/* Two subscribers each read every record, in order: one by copies, one by borrows. */
static void test_every_subscriber_gets_every_record(void) {
    aq_queue *queue = create_broadcast("every", 1 << 20);
    aq_subscriber *copier = NULL, *borrower = NULL;
    CHECK(aq_queue_subscribe(queue, AQ_SUBSCRIBER_BLOCK, AQ_START_NEXT, &copier) == AQ_OK && copier);
    CHECK(aq_queue_subscribe(queue, AQ_SUBSCRIBER_DROP, AQ_START_NEXT, &borrower) == AQ_OK && borrower);
    for (int32_t i = 0; i < 10; i++) CHECK(put_four(queue, i * 10, AQ_FOREVER) == AQ_OK);

    uint64_t previous = 0;
    for (int32_t i = 0; i < 10; i++) {
        int32_t got[4] = {0};
        aq_record_info info;
        CHECK(aq_subscriber_get(copier, got, sizeof got, &info, 1000 * MS) == AQ_OK);
        CHECK(got[0] == i * 10 && got[3] == i * 10 + 3);
        CHECK(info.dtype == AQ_DTYPE_INT32 && info.ndim == 1 && info.shape[0] == 4 && info.nbytes == 16);
        CHECK(info.has_index == 1 && info.index == i * 10);
        CHECK(i == 0 || info.sequence > previous);
        previous = info.sequence;

        const void *data = NULL;
        aq_borrow *borrow = NULL;
        aq_record_info borrowed;
        CHECK(aq_subscriber_borrow(borrower, 1000 * MS, &borrowed, &data, &borrow) == AQ_OK && borrow && data);
        CHECK(data && ((const int32_t *)data)[0] == i * 10 && ((const int32_t *)data)[3] == i * 10 + 3);
        CHECK(borrowed.sequence == info.sequence && borrowed.index == i * 10);
        CHECK(aq_borrow_data(borrow) == data);
        aq_record_info again;
        CHECK(aq_borrow_info(borrow, &again) == AQ_OK && again.sequence == info.sequence && again.nbytes == 16);
        /* One record at a time: a second read before the release is refused. */
        if (i == 0) {
            aq_record_info ignored;
            CHECK(aq_subscriber_get(borrower, NULL, 0, &ignored, 0) == AQ_EINVALID_ARGUMENT);
        }
        aq_borrow_release(borrow);
    }
    CHECK(aq_subscriber_delivered(copier) == 10 && aq_subscriber_delivered(borrower) == 10);
    CHECK(aq_subscriber_lost(copier) == 0 && aq_subscriber_lost(borrower) == 0);

    /* Nothing more: AQ_EEMPTY without waiting, AQ_ETIMEOUT after a bounded wait. */
    aq_record_info info;
    CHECK(aq_subscriber_get(copier, NULL, 0, &info, 0) == AQ_EEMPTY);
    CHECK(aq_subscriber_get(copier, NULL, 0, &info, 2 * MS) == AQ_ETIMEOUT);
    aq_borrow *none = (aq_borrow *)1;
    CHECK(aq_subscriber_borrow(borrower, 0, NULL, NULL, &none) == AQ_EEMPTY && none == NULL);

    /* A consumer's get would take records away from the subscribers. */
    CHECK(aq_queue_get(queue, NULL, 0, &info, 0) == AQ_EINVALID_ARGUMENT);
    aq_record_info infos[4];
    size_t offsets[4], count = 9;
    CHECK(aq_queue_get_many(queue, NULL, 0, infos, offsets, 4, &count, 0) == AQ_EINVALID_ARGUMENT && count == 0);

    /* A batch of puts reaches every subscriber too. */
    const int64_t shape[1] = {4};
    int32_t batch[3][4] = {{100, 101, 102, 103}, {200, 201, 202, 203}, {300, 301, 302, 303}};
    size_t put = 0;
    CHECK(aq_queue_put_many(queue, AQ_DTYPE_INT32, 1, shape, batch, sizeof batch[0], 3, AQ_FOREVER, &put) == AQ_OK && put == 3);
    for (int i = 0; i < 3; i++) {
        int32_t got[4] = {0};
        CHECK(aq_subscriber_get(copier, got, sizeof got, &info, 0) == AQ_OK && got[2] == batch[i][2]);
        CHECK(aq_subscriber_get(borrower, got, sizeof got, &info, 0) == AQ_OK && got[3] == batch[i][3]);
    }

    aq_subscriber_close(copier);
    aq_subscriber_close(borrower);
    aq_queue_close(queue);
    CHECK(aq_queue_remove(queue_name("every")) == AQ_OK);
}

/* A record too large for the buffer is kept by the subscriber for the next call. */
static void test_buffer_too_small_keeps_the_record(void) {
    aq_queue *queue = create_broadcast("small", 1 << 20);
    aq_subscriber *subscriber = NULL;
    CHECK(aq_queue_subscribe(queue, AQ_SUBSCRIBER_BLOCK, AQ_START_OLDEST, &subscriber) == AQ_OK);
    const int64_t shape[1] = {1000};
    static uint8_t payload[1000];
    for (int i = 0; i < 1000; i++) payload[i] = (uint8_t)(i * 7);
    CHECK(aq_queue_put(queue, AQ_DTYPE_UINT8, 1, shape, payload, sizeof payload, AQ_FOREVER, 0, 0, 0) == AQ_OK);
    CHECK(put_four(queue, 5, AQ_FOREVER) == AQ_OK);

    uint8_t little[8];
    aq_record_info info;
    CHECK(aq_subscriber_get(subscriber, little, sizeof little, &info, 1000 * MS) == AQ_EBUFFER_TOO_SMALL);
    CHECK(info.nbytes == 1000 && info.dtype == AQ_DTYPE_UINT8);
    uint64_t sequence = info.sequence;
    CHECK(aq_subscriber_get(subscriber, NULL, 0, &info, 0) == AQ_EBUFFER_TOO_SMALL && info.sequence == sequence);
    CHECK(aq_subscriber_delivered(subscriber) == 0);
    uint8_t *buffer = malloc(info.nbytes);
    CHECK(aq_subscriber_get(subscriber, buffer, info.nbytes, &info, 0) == AQ_OK);
    CHECK(info.sequence == sequence && memcmp(buffer, payload, sizeof payload) == 0);
    free(buffer);
    /* The kept record may be borrowed too; the next one follows. */
    CHECK(aq_subscriber_get(subscriber, little, 4, &info, 1000 * MS) == AQ_EBUFFER_TOO_SMALL && info.nbytes == 16);
    aq_borrow *borrow = NULL;
    const void *data = NULL;
    CHECK(aq_subscriber_borrow(subscriber, 0, &info, &data, &borrow) == AQ_OK && data && ((const int32_t *)data)[0] == 5);
    aq_borrow_release(borrow);
    CHECK(aq_subscriber_delivered(subscriber) == 2);
    aq_subscriber_close(subscriber);
    aq_queue_close(queue);
    CHECK(aq_queue_remove(queue_name("small")) == AQ_OK);
}

/* block: producers find no room while a subscriber is a ring behind; drop: skipped, counted. */
static void test_policies(void) {
    aq_queue *queue = create_broadcast("block", 64 * 1024);
    aq_subscriber *recorder = NULL;
    CHECK(aq_queue_subscribe(queue, AQ_SUBSCRIBER_BLOCK, AQ_START_NEXT, &recorder) == AQ_OK);
    const int64_t shape[1] = {1024};
    static uint8_t kib[1024];
    int put = 0;
    while (put < 1000 && aq_queue_put(queue, AQ_DTYPE_UINT8, 1, shape, kib, sizeof kib, 0, 0, 0, 0) == AQ_OK) put++;
    CHECK(put > 10 && put < 1000);
    CHECK(aq_last_error_code() == AQ_EFULL);
    aq_record_info info;
    CHECK(aq_subscriber_get(recorder, kib, sizeof kib, &info, 0) == AQ_OK);
    CHECK(aq_queue_put(queue, AQ_DTYPE_UINT8, 1, shape, kib, sizeof kib, 1000 * MS, 0, 0, 0) == AQ_OK);
    int read = 1;
    while (aq_subscriber_get(recorder, kib, sizeof kib, &info, 0) == AQ_OK) read++;
    CHECK(read == put + 1 && aq_subscriber_lost(recorder) == 0);
    aq_subscriber_close(recorder);
    aq_queue_close(queue);
    CHECK(aq_queue_remove(queue_name("block")) == AQ_OK);

    queue = create_broadcast("drop", 64 * 1024);
    aq_subscriber *viewer = NULL;
    CHECK(aq_queue_subscribe(queue, AQ_SUBSCRIBER_DROP, AQ_START_NEXT, &viewer) == AQ_OK);
    for (int i = 0; i < 300; i++) CHECK(aq_queue_put(queue, AQ_DTYPE_UINT8, 1, shape, kib, sizeof kib, 0, 0, 0, 0) == AQ_OK);
    int64_t lost = aq_subscriber_lost(viewer);
    CHECK(lost > 0);
    read = 0;
    while (aq_subscriber_get(viewer, kib, sizeof kib, &info, 0) == AQ_OK) read++;
    CHECK(read > 0 && lost + read == 300 && aq_subscriber_delivered(viewer) == read);
    aq_subscriber_close(viewer);
    aq_queue_close(queue);
    CHECK(aq_queue_remove(queue_name("drop")) == AQ_OK);
}

static void test_errors_and_lifetimes(void) {
    aq_queue *plain = NULL;
    CHECK(aq_queue_create(queue_name("plain"), 1 << 20, NULL, &plain) == AQ_OK);
    aq_subscriber *subscriber = (aq_subscriber *)1;
    CHECK(aq_queue_subscribe(plain, AQ_SUBSCRIBER_BLOCK, AQ_START_NEWEST, &subscriber) == AQ_EINVALID_ARGUMENT && subscriber == NULL);
    aq_queue_close(plain);
    CHECK(aq_queue_remove(queue_name("plain")) == AQ_OK);

    aq_queue *queue = create_broadcast("errors", 1 << 20);
    CHECK(aq_queue_subscribe(queue, 7, AQ_START_NEWEST, &subscriber) == AQ_EINVALID_ARGUMENT);
    CHECK(aq_queue_subscribe(queue, AQ_SUBSCRIBER_BLOCK, 9, &subscriber) == AQ_EINVALID_ARGUMENT);
    CHECK(aq_queue_subscribe(NULL, AQ_SUBSCRIBER_BLOCK, AQ_START_NEWEST, &subscriber) == AQ_EINVALID_ARGUMENT);
    CHECK(aq_queue_subscribe(queue, AQ_SUBSCRIBER_BLOCK, AQ_START_NEWEST, NULL) == AQ_EINVALID_ARGUMENT);
    aq_record_info info;
    CHECK(aq_subscriber_get(NULL, NULL, 0, &info, 0) == AQ_EINVALID_ARGUMENT);
    CHECK(aq_subscriber_borrow(NULL, 0, NULL, NULL, NULL) == AQ_EINVALID_ARGUMENT);
    CHECK(aq_subscriber_lost(NULL) == AQ_EINVALID_ARGUMENT && aq_subscriber_delivered(NULL) == AQ_EINVALID_ARGUMENT);
    aq_subscriber_close(NULL);

    /* A broadcast queue cannot reset on a shape change. */
    aq_queue_options options;
    aq_queue_options_init(&options);
    options.broadcast = 1;
    options.shape_change = AQ_SHAPE_CHANGE_RESET;
    aq_queue *refused = NULL;
    CHECK(aq_queue_create(queue_name("reset"), 1 << 20, &options, &refused) == AQ_EINVALID_ARGUMENT && refused == NULL);

    /* newest starts at the newest committed record; a borrow outlives its subscriber's and
     * queue's handles, and the slot is freed when it is released. */
    CHECK(put_four(queue, 1, AQ_FOREVER) == AQ_OK && put_four(queue, 2, AQ_FOREVER) == AQ_OK);
    CHECK(aq_queue_subscribe(queue, AQ_SUBSCRIBER_BLOCK, AQ_START_NEWEST, &subscriber) == AQ_OK);
    aq_subscriber *others[40];
    int taken = 0;
    while (taken < 40 && aq_queue_subscribe(queue, AQ_SUBSCRIBER_DROP, AQ_START_NEXT, &others[taken]) == AQ_OK) taken++;
    CHECK(taken == 31 && aq_last_error_code() == AQ_EFULL);
    for (int i = 0; i < taken; i++) aq_subscriber_close(others[i]);
    aq_borrow *borrow = NULL;
    const void *data = NULL;
    CHECK(aq_subscriber_borrow(subscriber, 1000 * MS, &info, &data, &borrow) == AQ_OK && data && ((const int32_t *)data)[0] == 2);
    aq_subscriber_close(subscriber);
    aq_queue_close(queue);
    CHECK(((const int32_t *)aq_borrow_data(borrow))[3] == 5);
    aq_borrow_release(borrow);

    CHECK(aq_queue_open(queue_name("errors"), NULL, &queue) == AQ_OK);
    aq_subscriber *again[32];
    taken = 0;
    while (taken < 32 && aq_queue_subscribe(queue, AQ_SUBSCRIBER_DROP, AQ_START_NEXT, &again[taken]) == AQ_OK) taken++;
    CHECK(taken == 32);
    for (int i = 0; i < taken; i++) aq_subscriber_close(again[i]);
    aq_queue_close(queue);
    CHECK(aq_queue_remove(queue_name("errors")) == AQ_OK);
}

int main(void) {
    snprintf(prefix, sizeof prefix, "c-broadcast-%d-%ld", (int)getpid(), (long)time(NULL) % 100000);
    test_every_subscriber_gets_every_record();
    test_buffer_too_small_keeps_the_record();
    test_policies();
    test_errors_and_lifetimes();
    return CHECK_SUMMARY("broadcast_test");
}
