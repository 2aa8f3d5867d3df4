#include "CArrayQueuesShims.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static _Atomic uint32_t caq_forks;

static void caq_after_fork_in_child(void) { atomic_fetch_add_explicit(&caq_forks, 1, memory_order_relaxed); }

/* Registered when the library is loaded, before any code of it can run in a forked child
   (Python's multiprocessing forks processes that go on using the queues they inherited). */
__attribute__((constructor)) static void caq_register_fork_handler(void) {
    pthread_atfork(NULL, NULL, caq_after_fork_in_child);
}

uint32_t caq_fork_generation(void) { return atomic_load_explicit(&caq_forks, memory_order_relaxed); }

int caq_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *timeout) {
    long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, NULL, 0);
    return rc == 0 ? 0 : -errno;
}

int caq_futex_wake(uint32_t *word, int count) {
    long rc = syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
    return rc >= 0 ? (int)rc : -errno;
}

void caq_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
