#include "CArrayQueuesShims.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

int caq_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *timeout) {
    long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, NULL, 0);
    return rc == 0 ? 0 : -errno;
}

int caq_futex_wake(uint32_t *word, int count) {
    long rc = syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
    return rc >= 0 ? (int)rc : -errno;
}

int caq_cpu_has_prefetchw = 0;

#if defined(__x86_64__)
#include <cpuid.h>

/// Runs before main, so that readers of the flag need no synchronisation.
__attribute__((constructor)) static void caq_detect_prefetchw(void) {
    unsigned int eax, ebx, ecx, edx;
    if (__get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx)) {
        caq_cpu_has_prefetchw = (ecx & (1u << 8)) != 0;
    }
}
#endif

void caq_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int caq_ofd(int fd, int command, short type, uint64_t byte) {
    struct flock lock = {.l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)byte, .l_len = 1, .l_pid = 0};
    if (fcntl(fd, command, &lock) != 0) return -errno;
    return command == F_OFD_GETLK ? lock.l_type != F_UNLCK : 0;
}

int caq_ofd_lock(int fd, uint64_t byte) { return caq_ofd(fd, F_OFD_SETLK, F_WRLCK, byte); }

int caq_ofd_unlock(int fd, uint64_t byte) { return caq_ofd(fd, F_OFD_SETLK, F_UNLCK, byte); }

int caq_ofd_is_locked(int fd, uint64_t byte) { return caq_ofd(fd, F_OFD_GETLK, F_WRLCK, byte); }
