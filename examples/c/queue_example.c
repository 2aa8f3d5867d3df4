/*
 * A producer and a consumer sharing one ArrayQueues queue, as two processes.
 *
 *   cc -o queue_example queue_example.c $(pkg-config --cflags --libs arrayqueues)
 *   ./queue_example
 *
 * The program creates a queue, starts a copy of itself as the consumer, and puts 8 frames
 * of 480 x 640 float32: the first half copied in with aq_queue_put(), the rest written in
 * place through a loan (no intermediate copy). The consumer takes the first half with
 * aq_queue_get() into a buffer it grows when a record does not fit (the record stays in the
 * queue until it does), and the rest with a zero-copy borrow. Every frame's pixels are
 * checked. The creator removes the queue at the end.
 */
#define _GNU_SOURCE
#include <arrayqueues.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { FRAMES = 8, HEIGHT = 480, WIDTH = 640 };
static const int64_t TIMEOUT_NS = 10LL * 1000 * 1000 * 1000;  /* 10 s */

/* Prints the failed call's error and exits. */
static void check(int rc, const char *what) {
    if (rc < 0) {
        fprintf(stderr, "%s failed: %s (%s)\n", what, aq_strerror(rc), aq_last_error_message());
        exit(1);
    }
}

/* Pixel (y, x) of frame i. */
static float pixel(int64_t i, int y, int x) { return (float)(i * 1000 + y + x); }

static int frame_is_right(const float *pixels, int64_t i) {
    for (int y = 0; y < HEIGHT; y++)
        for (int x = 0; x < WIDTH; x++)
            if (pixels[y * WIDTH + x] != pixel(i, y, x)) return 0;
    return 1;
}

static int consume(const char *name) {
    aq_queue *queue;
    check(aq_queue_open(name, NULL, &queue), "aq_queue_open");
    aq_record_info info;
    void *buffer = NULL;
    size_t capacity = 0;
    int good = 0;
    for (int i = 0; i < FRAMES / 2; i++) {
        int rc;
        /* Copy the record out; grow the buffer if it is too small and ask again. */
        while ((rc = aq_queue_get(queue, buffer, capacity, &info, TIMEOUT_NS)) == AQ_EBUFFER_TOO_SMALL) {
            capacity = info.nbytes;
            buffer = realloc(buffer, capacity);
            printf("consumer: buffer grown to %zu bytes\n", capacity);
        }
        check(rc, "aq_queue_get");
        int right = info.dtype == AQ_DTYPE_FLOAT32 && info.ndim == 2 && info.shape[0] == HEIGHT && info.shape[1] == WIDTH &&
                    info.has_index && frame_is_right(buffer, info.index);
        good += right;
        printf("consumer: got frame %lld (copied) %s\n", (long long)info.index, right ? "ok" : "WRONG");
    }
    for (int i = FRAMES / 2; i < FRAMES; i++) {
        /* Read the record in place, in shared memory, then release it. */
        const void *pixels;
        aq_borrow *borrow;
        check(aq_queue_borrow(queue, TIMEOUT_NS, &info, &pixels, &borrow), "aq_queue_borrow");
        int right = info.dtype == AQ_DTYPE_FLOAT32 && info.has_index && frame_is_right(pixels, info.index);
        good += right;
        aq_borrow_release(borrow);
        printf("consumer: got frame %lld (borrowed) %s\n", (long long)info.index, right ? "ok" : "WRONG");
    }
    free(buffer);
    aq_queue_close(queue);
    printf("consumer: %d of %d frames ok\n", good, FRAMES);
    return good == FRAMES ? 0 : 1;
}

static int produce(void) {
    char name[64];
    snprintf(name, sizeof name, "c-example-%d", (int)getpid());
    aq_queue_options options;
    aq_queue_options_init(&options);
    options.overflow = AQ_OVERFLOW_BLOCK;
    aq_queue *queue;
    /* Room for about three frames: the producer waits for the consumer when it is ahead. */
    check(aq_queue_create(name, 4 << 20, &options, &queue), "aq_queue_create");

    fflush(stdout);  /* or the child would print before what this process printed so far */
    pid_t child = fork();
    if (child == 0) {
        execl("/proc/self/exe", "queue_example", "consume", name, (char *)NULL);
        _exit(127);
    }
    const int64_t shape[2] = {HEIGHT, WIDTH};
    float *frame = malloc(sizeof(float) * HEIGHT * WIDTH);
    for (int64_t i = 0; i < FRAMES / 2; i++) {
        for (int y = 0; y < HEIGHT; y++)
            for (int x = 0; x < WIDTH; x++) frame[y * WIDTH + x] = pixel(i, y, x);
        check(aq_queue_put(queue, AQ_DTYPE_FLOAT32, 2, shape, frame, sizeof(float) * HEIGHT * WIDTH, TIMEOUT_NS,
                           AQ_PUT_INDEX, 0, i), "aq_queue_put");
    }
    free(frame);
    for (int64_t i = FRAMES / 2; i < FRAMES; i++) {
        void *data;
        size_t nbytes;
        aq_loan *loan;
        check(aq_queue_loan(queue, AQ_DTYPE_FLOAT32, 2, shape, TIMEOUT_NS, AQ_PUT_INDEX, 0, i, &data, &nbytes, &loan),
              "aq_queue_loan");
        float *pixels = data;  /* writable shared memory, 64-byte aligned */
        for (int y = 0; y < HEIGHT; y++)
            for (int x = 0; x < WIDTH; x++) pixels[y * WIDTH + x] = pixel(i, y, x);
        check(aq_loan_commit(loan), "aq_loan_commit");
    }
    printf("producer: put %d frames\n", FRAMES);

    int status = 0;
    waitpid(child, &status, 0);
    aq_queue_statistics statistics = {.size = sizeof statistics};
    check(aq_queue_statistics_get(queue, &statistics), "aq_queue_statistics_get");
    printf("producer: queue statistics: %llu puts, %llu gets, %llu waiting\n", (unsigned long long)statistics.puts,
           (unsigned long long)statistics.gets, (unsigned long long)statistics.count);
    aq_queue_close(queue);
    check(aq_queue_remove(name), "aq_queue_remove");
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (aq_abi_version() != AQ_ABI_VERSION) {
        fprintf(stderr, "libArrayQueuesC has ABI %d, this program was built for %d\n", aq_abi_version(), AQ_ABI_VERSION);
        return 1;
    }
    if (argc == 3 && strcmp(argv[1], "consume") == 0) return consume(argv[2]);
    printf("ArrayQueues %s\n", aq_version());
    return produce();
}
