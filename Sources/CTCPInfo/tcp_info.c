#include "CTCPInfo.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
// The kernel's `struct tcp_info`, not glibc's <netinet/tcp.h> (which stops before the byte
// counts and clashes with this one): included here only, never in the header Swift imports.
#include <linux/tcp.h>

int ctcpinfo_bytes(int fd, uint64_t *acked, uint64_t *received) {
    struct tcp_info info;
    memset(&info, 0, sizeof info);
    socklen_t size = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return -1;
    // An older kernel fills a shorter prefix of the struct (it only ever grows).
    if (size < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) {
        errno = ENOPROTOOPT;
        return -1;
    }
    *acked = info.tcpi_bytes_acked;
    *received = info.tcpi_bytes_received;
    return 0;
}
