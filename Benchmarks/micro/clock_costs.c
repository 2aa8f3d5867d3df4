// What a clock read, a 64-bit division and a pause cost on this machine, in ns each: the
// figures behind `Deadline` and `LapStart` (docs/BENCHMARKS.md, "A clock read per call").
//
//   cc -O2 -o /tmp/clock_costs clock_costs.c && /tmp/clock_costs
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    (void)argv;
    const long n = 20000000;
    volatile uint64_t capacity = (64u << 20) - 4096 + (uint64_t)argc;  // not a constant: a real division
    uint64_t sink = 0, divisor = capacity;
    struct timespec t;
    double start = seconds();
    for (long i = 0; i < n; i++) { clock_gettime(CLOCK_MONOTONIC, &t); sink += (uint64_t)t.tv_nsec; }
    printf("clock_gettime(CLOCK_MONOTONIC)  %5.1f ns\n", (seconds() - start) / n * 1e9);
    start = seconds();
    for (long i = 0; i < n; i++) { clock_gettime(CLOCK_REALTIME, &t); sink += (uint64_t)t.tv_nsec; }
    printf("clock_gettime(CLOCK_REALTIME)   %5.1f ns\n", (seconds() - start) / n * 1e9);
    start = seconds();
    for (long i = 0; i < n; i++) sink += __rdtsc();
    printf("rdtsc                           %5.1f ns\n", (seconds() - start) / n * 1e9);
    start = seconds();
    for (long i = 0; i < n; i++) sink += (123456789123ull + (uint64_t)i * 64 + sink) % divisor;
    printf("64-bit division, dependent      %5.1f ns\n", (seconds() - start) / n * 1e9);
    start = seconds();
    for (long i = 0; i < n; i++) sink += (123456789123ull + (uint64_t)i * 64) % divisor;
    printf("64-bit division, independent    %5.1f ns\n", (seconds() - start) / n * 1e9);
    start = seconds();
    for (long i = 0; i < n / 10; i++) _mm_pause();
    printf("pause                           %5.1f ns\n", (seconds() - start) / (n / 10) * 1e9);
    printf("(checksum %llu)\n", (unsigned long long)sink);  // keeps every loop's work
    return 0;
}
