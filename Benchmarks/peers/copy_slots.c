/* The copy a producer makes into a ring slot, alone: memcpy against streaming (non-temporal)
 * stores, into a shared-memory ring of N slots, each copy followed by a read of every cache line
 * of the slot (what the consumer does). Thread CPU time per copy and per read, the first lap not
 * counted (page faults).
 *
 *   cc -O2 -mavx2 -o copy_slots Benchmarks/peers/copy_slots.c
 *   ./copy_slots MIB SLOTS COPIES [streaming]
 *
 * Found the cost of 64 MiB arrays from Python (docs/BENCHMARKS.md, "ArrayQueues from Python"):
 * glibc's memcpy uses ordinary stores below 3/4 of the last-level cache it detects, which read
 * every destination line from memory first. The streaming loop here is aq_copy's
 * (Sources/CArrayQueuesC/copy.c), with an aligned source. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double thread_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void streaming_copy(char *to, const char *from, size_t count) {
    for (size_t i = 0; i < count; i += 128) {
        __m256i a = _mm256_load_si256((const __m256i *)(from + i)), b = _mm256_load_si256((const __m256i *)(from + i + 32));
        __m256i c = _mm256_load_si256((const __m256i *)(from + i + 64)), d = _mm256_load_si256((const __m256i *)(from + i + 96));
        _mm256_stream_si256((__m256i *)(to + i), a);
        _mm256_stream_si256((__m256i *)(to + i + 32), b);
        _mm256_stream_si256((__m256i *)(to + i + 64), c);
        _mm256_stream_si256((__m256i *)(to + i + 96), d);
    }
    _mm_sfence();
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: copy_slots MIB SLOTS COPIES [streaming]\n"); return 64; }
    size_t size = (size_t)atoi(argv[1]) << 20;
    int slots = atoi(argv[2]), copies = atoi(argv[3]), streaming = argc > 4;
    if (size == 0 || slots < 1 || copies <= slots) { fprintf(stderr, "copy_slots: bad arguments\n"); return 64; }
    char name[64];
    snprintf(name, sizeof name, "/copy-slots-%d", (int)getpid());
    int fd = shm_open(name, O_CREAT | O_RDWR | O_EXCL, 0600);
    if (fd < 0) { perror("shm_open"); return 1; }
    shm_unlink(name);
    if (ftruncate(fd, (off_t)(size * slots)) != 0) { perror("ftruncate"); return 1; }
    char *ring = mmap(NULL, size * slots, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *source = aligned_alloc(4096, size);
    if (ring == MAP_FAILED || !source) { perror("mmap"); return 1; }
    for (size_t i = 0; i < size; i++) source[i] = (char)(i % 251);
    double copying = 0, reading = 0;
    uint64_t sum = 0;
    for (int k = 0; k < copies; k++) {
        char *slot = ring + (size_t)(k % slots) * size;
        double start = thread_seconds();
        if (streaming) streaming_copy(slot, source, size); else memcpy(slot, source, size);
        double copied = thread_seconds();
        for (size_t i = 0; i < size; i += 64) sum ^= *(volatile uint64_t *)(slot + i);
        if (k >= slots) { copying += copied - start; reading += thread_seconds() - copied; }
    }
    int counted = copies - slots;
    printf("%s %zu MiB, %d slots: copy %.2f ms, read %.2f ms (mean of %d) %u\n", streaming ? "streaming" : "memcpy   ",
           size >> 20, slots, copying / counted * 1e3, reading / counted * 1e3, counted, (unsigned)(sum & 1));
    return 0;
}
