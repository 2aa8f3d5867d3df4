// The few C calls aq-bench's raw baselines need that Swift cannot make itself.
#ifndef CBENCH_SHIMS_H
#define CBENCH_SHIMS_H

#include <stdint.h>

#include "CBenchZeroMQ.h"

/// FUTEX_WAIT on a 32-bit word that may be shared between processes (never FUTEX_PRIVATE_FLAG):
/// sleeps while `*word == expected`, at most `timeout_ns` nanoseconds (negative: no limit).
/// Returns 0 when woken, or -errno (EAGAIN: the word had changed; ETIMEDOUT; EINTR).
int cbench_futex_wait(void *word, uint32_t expected, int64_t timeout_ns);

/// FUTEX_WAKE: wakes up to `count` waiters on `word` in any process. Returns how many, or -errno.
int cbench_futex_wake(void *word, int count);

/// A spin-loop hint to the CPU (x86 `pause`, arm `yield`).
static inline void cbench_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// The process's environment (`environ`), for posix_spawn.
char *const *cbench_environ(void);

#endif
