// The one definition of the ArrayQueues shared-memory layout, plus the few C calls
// Swift cannot make itself (futex goes through the variadic syscall()).
// docs/LAYOUT.md explains every field and the protocol that uses it.
#ifndef CARRAYQUEUES_SHIMS_H
#define CARRAYQUEUES_SHIMS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

// MARK: - Constants

/// "AQSEGMNT" read as a little-endian 64-bit integer.
#define CAQ_MAGIC 0x544E4D4745535141ULL
#define CAQ_LAYOUT_VERSION 4u
/// Size of the segment header; the data ring starts right after it.
#define CAQ_HEADER_SIZE 4096u
/// Every record, payload and ring position is a multiple of this.
#define CAQ_ALIGNMENT 64u
#define CAQ_MAX_DIMS 32u
/// Capacity of the attached-process table in the header.
#define CAQ_MAX_ATTACHED 64u
/// Capacity of the subscriber table of a broadcast queue.
#define CAQ_MAX_SUBSCRIBERS 32u
/// Fixed part of a record header; the shape follows it.
#define CAQ_RECORD_HEADER_SIZE 64u
/// Stamped into every record header (xor its sequence number) to catch garbage.
#define CAQ_RECORD_CHECK 0x52514141u

// Values of caq_segment_header.init_state.
#define CAQ_INIT_BUSY 0x494E4954u   /* "INIT": the creator is still writing the header */
#define CAQ_INIT_READY 0x4F50454Eu  /* "OPEN": the segment may be used */

// Values of caq_record_header.state. Distinct, unlikely bit patterns so that garbage is noticed.
#define CAQ_STATE_WRITING 0x57524954u   /* reserved, a producer is filling it */
#define CAQ_STATE_READY 0x52454459u     /* "REDY": committed, waiting for a consumer */
#define CAQ_STATE_READING 0x52454144u   /* "READ": claimed by a consumer */
#define CAQ_STATE_DONE 0x444F4E45u      /* consumed, dropped or abandoned: space can be reclaimed */
#define CAQ_STATE_SKIP 0x534B4950u      /* filler at the end of the ring before a wrap */

// Bits of caq_segment_header.flags.
#define CAQ_FLAG_RESET_ON_SHAPE_CHANGE 1u
#define CAQ_FLAG_BROADCAST 2u   /* every subscriber reads every record (the subscriber table) */

// Values of caq_subscriber.state. Anything else (0 included) is a free slot.
#define CAQ_SUBSCRIBER_IDLE 0x53554249u       /* "SUBI": subscribed, holding no record */
#define CAQ_SUBSCRIBER_BORROWING 0x53554242u  /* "SUBB": reading the record at its cursor in place */

// Values of caq_subscriber.policy (anything else reads as BLOCK, the safe choice).
#define CAQ_POLICY_BLOCK 1u  /* lossless: producers wait for this subscriber */
#define CAQ_POLICY_DROP 2u   /* live: producers skip it ahead and count what it lost */

// Bits of caq_record_header.flags.
#define CAQ_RECORD_HAS_INDEX 1u
#define CAQ_RECORD_DROPPED 2u    /* DONE because dropped (overflow, clear or reset), not consumed */
#define CAQ_RECORD_ABANDONED 4u  /* DONE because its writer or reader died */
#define CAQ_RECORD_ENVELOPE 8u   /* a uint8 record holding a whole transport message (ArrayTransport) */

// MARK: - Layout

/// One process attached to the segment (used to find stale segments and dead peers).
typedef struct caq_attachment {
    uint32_t pid;          /* 0 = free entry; the pid as seen in the process's own pid namespace */
    uint32_t pid_ns;       /* low 32 bits of the inode of its /proc/self/ns/pid, CAQ_PID_NS_UNKNOWN, or 0 (see below) */
    uint64_t start_time;   /* the process's start time in clock ticks since boot (/proc/PID/stat field 22) */
} caq_attachment;

/// caq_attachment.pid_ns of a process that holds its slot's advisory lock but could not read its
/// pid namespace. An entry with pid_ns == 0 was written by a process that holds no lock (layout
/// version 1 before pid namespaces were recorded): only its pid and start time tell whether it lives.
#define CAQ_PID_NS_UNKNOWN 0xFFFFFFFFu

// Advisory locks (Linux open-file-description locks, F_OFD_SETLK) on bytes of the segment's file
// tell whether a process is alive whatever its pid namespace: the kernel drops a lock when the
// last descriptor of its open file description closes, that is when its process exits.
// Byte i (0 <= i < CAQ_MAX_ATTACHED) is write-locked by the process in attached[i] if its pid_ns != 0.
/// Write-locked by the creator from shm_open until init_state is READY.
#define CAQ_CREATOR_LOCK_BYTE 64u
/// Byte CAQ_SUBSCRIBER_LOCK_BYTE + i is write-locked by the process in subscribers[i] if its pid_ns != 0.
#define CAQ_SUBSCRIBER_LOCK_BYTE 128u

/// One subscriber of a broadcast queue (guarded by the queue lock, except that its owner gives
/// back a record, BORROWING → IDLE with cursor first, without it). Its owner fields mean what
/// caq_attachment's do. A slot is taken by writing every field but `state`, then `state`; it is
/// freed by one store of 0 to `state`.
///
/// A skip (a producer moving a drop-policy subscriber ahead) first stages its outcome in
/// skip_lost and skip_cursor, then stores lost and cursor, then clears skip_cursor: whoever next
/// reads the slot under the lock finishes a skip whose process died, so `lost` stays exact.
typedef struct caq_subscriber {
    uint32_t state;        /* 0   CAQ_SUBSCRIBER_*; any other value: free */
    uint32_t policy;       /* 4   CAQ_POLICY_* */
    uint32_t pid;          /* 8   owner, as in caq_attachment */
    uint32_t pid_ns;       /* 12 */
    uint64_t start_time;   /* 16 */
    uint64_t cursor;       /* 24  ring position of the next record it reads (or is reading) */
    uint64_t delivered;    /* 32  records it has read and released */
    uint64_t lost;         /* 40  records it was skipped past (drop policy, clear) */
    uint64_t skip_cursor;  /* 48  a staged skip's new cursor; 0: no skip under way */
    uint64_t skip_lost;    /* 56  a staged skip's new lost count */
} caq_subscriber;

/// The segment header: one page at offset 0 of the shared-memory object.
typedef struct caq_segment_header {
    // Identity: written once by the creator before init_state becomes READY.
    uint64_t magic;                 /* 0   CAQ_MAGIC */
    uint32_t layout_version;        /* 8   CAQ_LAYOUT_VERSION */
    uint32_t header_size;           /* 12  CAQ_HEADER_SIZE */
    uint64_t capacity;              /* 16  bytes in the data ring, a multiple of CAQ_ALIGNMENT */
    uint64_t segment_size;          /* 24  header_size + capacity */
    int64_t created_ns;             /* 32  CLOCK_REALTIME at creation */
    uint32_t creator_pid;           /* 40 */
    uint32_t flags;                 /* 44  CAQ_FLAG_* */
    uint32_t init_state;            /* 48  atomic: CAQ_INIT_BUSY, then CAQ_INIT_READY */
    uint32_t reserved0;             /* 52 */
    uint8_t pad0[8];                /* 56 */

    // Cache lines are grouped by who writes them on the common path (docs/LAYOUT.md), so that a
    // producer and a consumer that keep up with each other move as few lines between cores as
    // possible: producers' lock and cursors, the published end alone, the consumers' cursor.

    // The queue lock (a process-shared, robust pthread mutex: 40 bytes on glibc x86-64, 48 on
    // aarch64), taken by producers for every reservation and by consumers only on rare paths,
    // shares its line with the producers' state it guards.
    pthread_mutex_t lock;           /* 64 */
    uint8_t pad1[112 - 64 - sizeof(pthread_mutex_t)];
    uint64_t head;                  /* 112 oldest byte still in use; everything before it is free */
    uint64_t next_seq;              /* 120 sequence number of the next record reserved */

    // Ring cursors are monotonically increasing byte positions; physical offset = position % capacity.
    uint64_t tail;                  /* 128 end of the reserved bytes; the next record starts here (stored under the lock) */
    uint8_t pad2[192 - 136];

    // The consumers' line: read moves by compare-exchange, without the lock (docs/LAYOUT.md, "Get").
    uint64_t read;                  /* 192 every record before it has been claimed, dropped or skipped */
    uint64_t gets;                  /* 200 records consumed */
    uint64_t lost_reads;            /* 208 records lost because their consumer died */
    uint8_t pad3[256 - 216];

    // Wake-up words (futex, shared). A word is bumped when something its watchers wait for may
    // have happened, but only if someone watches; FUTEX_WAKE is called only if someone sleeps
    // who may not have been woken yet (the sleep count tells a notifier whether anyone went to
    // sleep since its last wake-up: docs/LAYOUT.md, "Waiting and notifying").
    uint32_t data_signal;           /* 256 bumped after a record becomes READY */
    uint32_t data_watchers;         /* 260 consumers spinning or sleeping on data_signal */
    uint32_t data_sleepers;         /* 264 consumers in FUTEX_WAIT (or about to be) on data_signal */
    uint32_t data_sleeps;           /* 268 sleeps begun on data_signal (wrapping count) */
    uint8_t pad4[320 - 272];
    uint32_t space_signal;          /* 320 bumped after room may have been freed */
    uint32_t space_watchers;        /* 324 producers spinning or sleeping on space_signal */
    uint32_t space_sleepers;        /* 328 producers in FUTEX_WAIT (or about to be) on space_signal */
    uint32_t space_sleeps;          /* 332 sleeps begun on space_signal (wrapping count) */
    uint8_t pad5[384 - 336];

    // Producer-side counters (atomic, relaxed) and rarely written state.
    uint64_t shape_signature;       /* 384 dtype+shape of the last put, for the reset policy */
    uint64_t puts;                  /* 392 records committed */
    uint64_t drops;                 /* 400 records dropped by drop-oldest, clear or reset */
    uint64_t resets;                /* 408 resets by the shape-change policy */
    uint64_t clears;                /* 416 calls of clear() */
    uint64_t abandoned_writes;      /* 424 records discarded because their producer died */
    int64_t last_recovery_ns;       /* 432 CLOCK_MONOTONIC of the last dead-peer sweep */
    uint8_t pad6[512 - 440];

    // Attached processes, guarded by the lock.
    caq_attachment attached[CAQ_MAX_ATTACHED]; /* 512 .. 1536 */

    // Broadcast queues only (CAQ_FLAG_BROADCAST), guarded by the lock.
    uint64_t subscribers_joined;    /* 1536 subscriptions taken since creation */
    uint64_t subscribers_left;      /* 1544 subscriptions given up by their owner */
    uint64_t subscribers_reaped;    /* 1552 subscriptions freed because their owner died */
    uint8_t pad7[2048 - 1560];
    caq_subscriber subscribers[CAQ_MAX_SUBSCRIBERS]; /* 2048 .. 4096 */
} caq_segment_header;

/// The fixed part of every record in the data ring. The shape (ndim × uint64) follows at
/// offset 64; the payload starts at payload_offset, a multiple of CAQ_ALIGNMENT.
typedef struct caq_record_header {
    // state and owner_pid form one little-endian u64 (state in the low half): a consumer
    // claims a READY record by one 64-bit compare-exchange of both (layout version 4).
    uint32_t state;            /* 0   atomic: CAQ_STATE_* */
    uint32_t owner_pid;        /* 4   writer while WRITING, low 32 bits of seq while READY, reader while READING */
    uint64_t length;           /* 8   bytes from this header to the next record (header, shape, payload, padding) */
    uint64_t seq;              /* 16  queue-wide sequence number, in reservation order */
    int64_t timestamp_ns;      /* 24  nanoseconds since the Unix epoch (UTC) */
    int64_t index;             /* 32  producer's frame number, valid if CAQ_RECORD_HAS_INDEX */
    uint64_t payload_bytes;    /* 40  product(shape) × item size */
    uint32_t payload_offset;   /* 48  from the start of this header */
    uint8_t dtype;             /* 52  ArrayQueues DType code (docs/LAYOUT.md) */
    uint8_t ndim;              /* 53  0 ... CAQ_MAX_DIMS */
    uint16_t flags;            /* 54  CAQ_RECORD_* */
    uint32_t check;            /* 56  CAQ_RECORD_CHECK ^ (uint32_t)seq */
    uint32_t owner_start;      /* 60  low 32 bits of the owner's start time (pid reuse check); 0: unknown, judge by pid */
} caq_record_header;

_Static_assert(sizeof(pthread_mutex_t) <= 48, "the lock, head and next_seq must share a cache line");
_Static_assert(offsetof(caq_segment_header, lock) == 64, "layout");
_Static_assert(offsetof(caq_segment_header, head) == 112, "layout");
_Static_assert(offsetof(caq_segment_header, next_seq) == 120, "layout");
_Static_assert(offsetof(caq_segment_header, tail) == 128, "layout: tail has a cache line of its own");
_Static_assert(offsetof(caq_segment_header, read) == 192, "layout: the consumers' line");
_Static_assert(offsetof(caq_segment_header, gets) == 200, "layout");
_Static_assert(offsetof(caq_segment_header, shape_signature) == 384, "layout");
_Static_assert(offsetof(caq_segment_header, last_recovery_ns) == 432, "layout");
_Static_assert(offsetof(caq_segment_header, data_signal) == 256, "layout");
_Static_assert(offsetof(caq_segment_header, data_sleeps) == 268, "layout");
_Static_assert(offsetof(caq_segment_header, space_signal) == 320, "layout");
_Static_assert(offsetof(caq_segment_header, space_sleeps) == 332, "layout");
_Static_assert(offsetof(caq_segment_header, space_sleeps) - offsetof(caq_segment_header, space_signal) ==
               offsetof(caq_segment_header, data_sleeps) - offsetof(caq_segment_header, data_signal), "both signals alike");
_Static_assert(offsetof(caq_segment_header, attached) == 512, "layout");
_Static_assert(offsetof(caq_segment_header, subscribers_joined) == 1536, "layout");
_Static_assert(offsetof(caq_segment_header, subscribers) == 2048, "layout");
_Static_assert(sizeof(caq_subscriber) == 64, "layout");
_Static_assert(offsetof(caq_subscriber, cursor) == 24, "layout");
_Static_assert(CAQ_SUBSCRIBER_LOCK_BYTE > CAQ_CREATOR_LOCK_BYTE, "subscriber lock bytes are no other lock's");
_Static_assert(sizeof(caq_segment_header) == CAQ_HEADER_SIZE, "the header is one page");
_Static_assert(sizeof(caq_attachment) == 16, "layout");
_Static_assert(offsetof(caq_attachment, pid_ns) == 4, "layout");
_Static_assert(CAQ_CREATOR_LOCK_BYTE >= CAQ_MAX_ATTACHED, "the creator's lock byte is no slot's");
_Static_assert(sizeof(caq_record_header) == CAQ_RECORD_HEADER_SIZE, "layout");
_Static_assert(offsetof(caq_record_header, check) == 56, "layout");
_Static_assert(offsetof(caq_record_header, owner_pid) == 4 && _Alignof(caq_record_header) == 8,
               "state and owner_pid are claimed together by one aligned 64-bit compare-exchange");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the segment layout is little-endian"
#endif
_Static_assert(CAQ_HEADER_SIZE % CAQ_ALIGNMENT == 0, "the data ring starts aligned");

// MARK: - Calls Swift cannot make directly

/// FUTEX_WAIT (shared, never FUTEX_PRIVATE_FLAG: waiters live in other processes).
/// Sleeps while *word == expected, at most `timeout` (NULL: forever).
/// Returns 0 when woken, or -errno (-EAGAIN: the word had changed, -ETIMEDOUT, -EINTR).
int caq_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *timeout);

/// FUTEX_WAKE (shared). Returns the number of waiters woken, or -errno.
int caq_futex_wake(uint32_t *word, int count);

/// A spin-loop hint to the CPU (x86 `pause`, arm `yield`).
void caq_cpu_relax(void);

/// Whether this x86-64 CPU reports `prefetchw` (CPUID 0x80000001 ECX bit 8, PRFCHW); set before
/// `main` runs. Always 0 on other architectures.
extern int caq_cpu_has_prefetchw;

/// Asks the CPU to bring the cache line holding `address` into this core's cache owned for
/// writing (x86 `prefetchw`; `prefetcht0` on x86 CPUs without it; arm `prfm pstl1keep`). A hint:
/// it never faults, whatever the address, and changes no memory. For a line another core holds
/// that this one is about to compare-exchange or store to: it arrives owned in one transfer,
/// rather than shared by a load and then taken over by the store.
static inline void caq_prefetch_for_write(const void *address) {
#if defined(__x86_64__)
    if (caq_cpu_has_prefetchw) {
        __asm__ __volatile__("prefetchw (%0)" : : "r"(address));
    } else {
        __builtin_prefetch(address, 0, 3);
    }
#else
    __builtin_prefetch(address, 1, 3);
#endif
}

/// Asks the CPU to bring the cache line holding `address` into this core's cache for reading
/// (a hint, as caq_prefetch_for_write).
static inline void caq_prefetch_for_read(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// Reads the byte at `address` and discards it (a volatile load the compiler keeps): faults its
/// page in now, not later, where a fault would cost more.
static inline void caq_touch(const void *address) {
    (void)*(const volatile unsigned char *)address;
}

/// F_OFD_SETLK: write-locks byte `byte` of the file through `fd`'s open file description, without
/// waiting. Returns 0, or -errno (-EAGAIN: another open file description holds it).
int caq_ofd_lock(int fd, uint64_t byte);

/// Releases a lock taken with caq_ofd_lock. Returns 0 or -errno.
int caq_ofd_unlock(int fd, uint64_t byte);

/// F_OFD_GETLK: 1 if an open file description other than `fd`'s holds a lock on byte `byte`,
/// 0 if none does, or -errno.
int caq_ofd_is_locked(int fd, uint64_t byte);

#endif
