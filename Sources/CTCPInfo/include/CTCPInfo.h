// The one reader of the kernel's `struct tcp_info` (`getsockopt(TCP_INFO)`), for ArrayTransport's
// inbound guard and ArrayRelay's metrics watchdog. Its own target, declaring nothing but
// <stdint.h> types, so that importing it brings no socket types into a Swift module (a module
// that re-declares `sockaddr_in` hides other packages' extensions on Glibc's).
#ifndef CTCPINFO_H
#define CTCPINFO_H

#include <stdint.h>

/// The byte counts of TCP socket `fd` so far, from `getsockopt(TCP_INFO)`: `tcpi_bytes_acked`
/// (bytes we sent that the peer acknowledged) and `tcpi_bytes_received` (Linux 4.1+). 0 on
/// success; -1 with errno set if `fd` is not a TCP socket or the kernel does not report them
/// (ENOPROTOOPT), and then `*acked` and `*received` are unchanged.
int ctcpinfo_bytes(int fd, uint64_t *acked, uint64_t *received);

#endif
