// aq_copy: the copy of a payload into or out of shared memory. Kept in C because Swift has no
// non-temporal stores.
//
// Why not memcpy alone: glibc switches to non-temporal stores above a threshold it derives from
// the size of the last-level cache the CPU reports (3/4 of it). A virtual machine may report
// the host's whole cache (262 MiB here, so 99 MiB), of which the guest gets much less; copies of
// tens of MiB then use ordinary stores, which read every destination line from memory before
// writing it (a slot of a ring last touched a lap ago is never cached). Measured on that
// machine: a 64 MiB copy into a ring slot took 1.3-1.6x as long as with streaming stores,
// and the consumer's read of it afterwards was no slower (docs/BENCHMARKS.md, "ArrayQueues
// from Python"). Below AQ_COPY_STREAMING_BYTES memcpy is kept: there the destination may be
// read from the cache soon after, which streaming stores would prevent. aq_copy_streaming streams
// at every size: the Python package fills whole loans of AQ_LOAN_STREAMING_BYTES and more with it,
// where the producer's copy bounds a zero-copy pipeline (measured at 8 MiB: the producer gained
// more than the in-place reader lost; for `get`, which also writes what it read, it did not).
#include "arrayqueues_internal.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

/* 64-byte-aligned destination, 128 bytes a step, loads unaligned (the source is the caller's). */
__attribute__((target("avx2")))
static void stream_avx2(unsigned char *to, const unsigned char *from, size_t count) {
    for (size_t i = 0; i < count; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(from + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(from + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(from + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(from + i + 96));
        _mm256_stream_si256((__m256i *)(to + i), a);
        _mm256_stream_si256((__m256i *)(to + i + 32), b);
        _mm256_stream_si256((__m256i *)(to + i + 64), c);
        _mm256_stream_si256((__m256i *)(to + i + 96), d);
    }
}

/* The same with SSE2, which every x86-64 CPU has. */
static void stream_sse2(unsigned char *to, const unsigned char *from, size_t count) {
    for (size_t i = 0; i < count; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(from + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(from + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(from + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(from + i + 48));
        _mm_stream_si128((__m128i *)(to + i), a);
        _mm_stream_si128((__m128i *)(to + i + 16), b);
        _mm_stream_si128((__m128i *)(to + i + 32), c);
        _mm_stream_si128((__m128i *)(to + i + 48), d);
    }
}
#endif

void aq_copy_streaming(void *destination, const void *source, size_t nbytes) {
    unsigned char *to = destination;
    const unsigned char *from = source;
#if defined(__x86_64__)
    /* Overlapping ranges (memcpy's contract excludes them, but a caller's mistake must not
     * become a torn copy here) take memmove. */
    uintptr_t t = (uintptr_t)to, f = (uintptr_t)from;
    int overlap = t < f + nbytes && f < t + nbytes;
    size_t head = (64 - (t & 63)) & 63;  /* bytes until the destination is 64-byte aligned */
    if (!overlap && nbytes >= head + 128) {
        memcpy(to, from, head);
        size_t body = (nbytes - head) & ~(size_t)127;
        __builtin_cpu_init();  /* idempotent; the library may be loaded before the CPU was probed */
        if (__builtin_cpu_supports("avx2")) stream_avx2(to + head, from + head, body);
        else stream_sse2(to + head, from + head, body);
        /* Streaming stores are weakly ordered: fence them before the caller's next store (the
         * commit that publishes the record to another process). */
        _mm_sfence();
        memcpy(to + head + body, from + head + body, nbytes - head - body);
        return;
    }
#endif
    if (nbytes > 0) memmove(to, from, nbytes);
}

void aq_copy(void *destination, const void *source, size_t nbytes) {
    if (nbytes >= AQ_COPY_STREAMING_BYTES) aq_copy_streaming(destination, source, nbytes);
    else if (nbytes > 0) memmove(destination, source, nbytes);
}
