#define _GNU_SOURCE
#include "CUserFaults.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

int cuf_open(void) {
    // User-mode faults only (Linux 5.11+) need no privilege; older kernels refuse the flag.
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0 && errno == EINVAL) fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct uffdio_api api = {.api = UFFD_API};
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int cuf_register_missing(int fd, void *address, size_t length) {
    struct uffdio_register request = {
        .range = {.start = (uintptr_t)address, .len = length}, .mode = UFFDIO_REGISTER_MODE_MISSING};
    return ioctl(fd, UFFDIO_REGISTER, &request) == 0 ? 0 : -errno;
}

int cuf_wait_fault(int fd, int milliseconds, uintptr_t *address) {
    struct pollfd ready = {.fd = fd, .events = POLLIN};
    int polled = poll(&ready, 1, milliseconds);
    if (polled < 0) return -errno;
    if (polled == 0) return -ETIMEDOUT;
    struct uffd_msg message;
    ssize_t got = read(fd, &message, sizeof message);
    if (got < 0) return -errno;
    if (got != sizeof message || message.event != UFFD_EVENT_PAGEFAULT) return -EPROTO;
    *address = (uintptr_t)message.arg.pagefault.address;
    return 0;
}

int cuf_zero_pages(int fd, void *address, size_t length) {
    struct uffdio_zeropage request = {.range = {.start = (uintptr_t)address, .len = length}};
    return ioctl(fd, UFFDIO_ZEROPAGE, &request) == 0 ? 0 : -errno;
}
