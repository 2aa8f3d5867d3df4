// The remapping alternative to a checked ndarray subclass (docs/BENCHMARKS.md, "The zero-copy
// path, moved into C"): a borrow that gives its 1 KiB record a mapping of its own and unmaps it
// at the end of the block -- mmap one page of a shared-memory object, read the record's cache
// lines, munmap -- against reading the record through the existing mapping.
//
//     cc -O2 -o /tmp/remap_cost python/benchmarks/remap_cost.c && /tmp/remap_cost
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
static int64_t now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
int main(void) {
    char name[64]; snprintf(name, sizeof name, "/pyb-remap-%d", getpid());
    int fd = shm_open(name, O_CREAT | O_RDWR, 0600); shm_unlink(name);
    size_t size = 64 << 20; if (ftruncate(fd, size)) return 1;
    uint8_t *ring = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    for (size_t i = 0; i < size; i += 4096) ring[i] = 1;
    int n = 100000; volatile uint64_t sink = 0;
    for (int round = 0; round < 3; round++) {
        int64_t t0 = now();
        for (int i = 0; i < n; i++) {
            size_t offset = ((size_t)i * 4096) % size;
            const uint64_t *p = (const uint64_t *)(ring + offset);
            for (int j = 0; j < 128; j += 8) sink ^= p[j];
        }
        int64_t t1 = now();
        for (int i = 0; i < n; i++) {
            size_t offset = ((size_t)i * 4096) % size;
            const uint64_t *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)offset);
            for (int j = 0; j < 128; j += 8) sink ^= p[j];
            munmap((void *)p, 4096);
        }
        int64_t t2 = now();
        printf("read in place %.0f ns, mmap+read+munmap %.0f ns per record\n", (double)(t1 - t0) / n, (double)(t2 - t1) / n);
    }
    return 0;
}
