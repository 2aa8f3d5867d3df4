// userfaultfd(2) for the tests: a page whose first touch blocks until the test resolves it, so
// that a test can hold a thread inside a page fault for as long as it likes.
#ifndef C_USER_FAULTS_H
#define C_USER_FAULTS_H

#include <stddef.h>
#include <stdint.h>

/// A userfaultfd descriptor (non-blocking, close-on-exec) after the API handshake, for faults
/// in user mode only where the kernel allows that to unprivileged callers; -errno on failure
/// (the function that failed is `userfaultfd` or `ioctl(UFFDIO_API)`).
int cuf_open(void);

/// Registers `length` bytes at `address` (page-aligned, mapped anonymous and private, never
/// touched) for missing-page faults. 0, or -errno of `ioctl(UFFDIO_REGISTER)`.
int cuf_register_missing(int fd, void *address, size_t length);

/// Waits at most `milliseconds` for a page fault in a registered range and reads it: 0 with
/// `*address` the faulting address, -ETIMEDOUT, or -errno of `poll` or `read`.
int cuf_wait_fault(int fd, int milliseconds, uintptr_t *address);

/// Maps zero pages over `length` bytes at `address` and wakes the threads faulting there.
/// 0, or -errno of `ioctl(UFFDIO_ZEROPAGE)`.
int cuf_zero_pages(int fd, void *address, size_t length);

#endif
