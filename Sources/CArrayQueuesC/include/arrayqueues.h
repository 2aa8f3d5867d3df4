/*
 * arrayqueues.h — the C interface of ArrayQueues (libArrayQueuesC).
 *
 * ArrayQueues moves N-dimensional numeric arrays between processes through named POSIX
 * shared-memory queues, and between machines over ZeroMQ (the arrf/1 wire format). The
 * protocol is implemented once, in Swift; this header is a thin C face over it. See
 * docs/C_API.md for a guided tour and a complete example.
 *
 * Conventions (every function follows them):
 *
 * - Errors. Functions that can fail return `int` (or `int64_t` for counts): 0 (or a
 *   non-negative value) on success, a negative `AQ_E*` code on failure. After a failure,
 *   `aq_last_error_message()` describes it and `aq_last_errno()` gives the C library's
 *   `errno` (or libzmq's) when a system call failed; both are per thread and stay valid
 *   until the next failing call on the same thread. `aq_strerror(code)` names a code.
 *   Bad arguments (NULL pointers, unknown dtypes, more than AQ_MAX_DIMS dimensions,
 *   negative extents, shapes whose size overflows, buffers that are too small) are
 *   reported with an error code; they never crash the process.
 * - Handles are opaque pointers. Each is freed by exactly one call, named on the function
 *   that makes it (`aq_queue_close`, `aq_loan_commit` or `aq_loan_abort`,
 *   `aq_borrow_release`, `aq_subscriber_close`, `aq_message_free`, `aq_sender_close` or
 *   `aq_sender_close_with_statistics`, `aq_receiver_close`).
 *   Using a handle after that call is undefined behaviour, as with `free`. The free
 *   functions accept NULL and do nothing.
 * - Handles keep what they need alive: a loan, borrow or message stays valid after the
 *   queue or receiver it came from is closed.
 * - Timeouts are nanoseconds, `int64_t`: negative waits without limit (AQ_FOREVER),
 *   0 does not wait at all (the "try" variant), positive waits at most that long.
 * - Strings are NUL-terminated UTF-8. Strings returned by the library belong to the
 *   handle they came from and stay valid until it is freed.
 * - Options structs start with a `size` field; initialize them with the matching
 *   `*_init` function, which sets `size` and every default, then change what you need.
 *   Passing NULL means "all defaults". Newer versions of the header add fields at the end
 *   of a struct only; the library reads as many bytes as `size` says and gives the fields
 *   past them their defaults, so a program built against an older header keeps working.
 *   Output structs with a `size` field are filled up to that size (set it to `sizeof` the
 *   struct), so that newer libraries can add fields.
 * - Thread safety: queues, senders and receivers may be used from several threads at
 *   once (receives on one receiver are serialized). A loan or a borrow belongs to one
 *   thread at a time. A message is immutable and may be read from several threads; it
 *   must be freed once, after every reader is done.
 * - Arrays are C-order (row-major), little-endian, contiguous.
 *
 * Link with `pkg-config --cflags --libs arrayqueues`.
 */
#ifndef ARRAYQUEUES_H
#define ARRAYQUEUES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Versions                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/** The ABI version this header describes. Incremented when a function's signature or a
 *  struct's meaning changes incompatibly (adding functions or trailing struct fields does not). */
#define AQ_ABI_VERSION 1

/** The release version of ArrayQueues: this library, the `aq` and `aq-relay` tools and the
 *  Swift packages. Its one definition: the tools, the pkg-config file and the C library take it
 *  from here (CHANGELOG.md lists the releases). */
#define AQ_VERSION "0.1.0"

/** The ABI version of the loaded library; compare with AQ_ABI_VERSION at start-up. */
int aq_abi_version(void);

/** The loaded library's version (AQ_VERSION when it was built). Static storage: never free it. */
const char *aq_version(void);

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/** Success. */
#define AQ_OK 0
/* Codes of ArrayQueueError (queues), one to one. */
#define AQ_ETIMEOUT -1                 /**< A blocking call ran out of time. */
#define AQ_EFULL -2                    /**< No room now (timeout 0), or overflow policy "fail". */
#define AQ_EEMPTY -3                   /**< No record now (timeout 0). */
#define AQ_EOVERSIZE -4                /**< The array can never fit in this queue. */
#define AQ_EDTYPE_MISMATCH -5          /**< The record's dtype is not the one asked for. */
#define AQ_EINVALID_SHAPE -6           /**< > AQ_MAX_DIMS dims, a negative extent, or a size that overflows. */
#define AQ_EUNSUPPORTED_DTYPE -7       /**< A dtype code or typestr that is not supported. */
#define AQ_EINVALID_NAME -8            /**< A queue name that cannot name a shared-memory object. */
#define AQ_EINVALID_ARGUMENT -9        /**< A NULL pointer or a value out of range. */
#define AQ_ENOT_FOUND -10              /**< No queue has this name. */
#define AQ_EALREADY_EXISTS -11         /**< A queue with this name exists already. */
#define AQ_EFOREIGN -12                /**< The shared-memory object is not an ArrayQueues segment. */
#define AQ_EINCOMPATIBLE_VERSION -13   /**< The segment was made by an incompatible layout version. */
#define AQ_ECORRUPT -14                /**< The segment fails its consistency checks. */
#define AQ_ENO_SHARED_MEMORY -15       /**< /dev/shm cannot hold the segment. */
#define AQ_EINVALID_NPY -16            /**< Not a valid .npy file (not used by this API yet). */
#define AQ_ECANCELLED -17              /**< A waiting call was cancelled. */
#define AQ_ESYSTEM -18                 /**< A C library call failed; see aq_last_errno(). */
/* Codes of this C interface. */
#define AQ_EBUFFER_TOO_SMALL -19       /**< The caller's buffer cannot hold the record; nothing was taken. */
/* Codes of TransportError (senders and receivers), one to one. */
#define AQ_ECLOSED -20                 /**< The sender or receiver was closed. */
#define AQ_EINVALID_ENDPOINT -21       /**< An endpoint string that cannot be parsed or used. */
#define AQ_EMALFORMED -22              /**< A message that breaks the arrf/1 rules. */
#define AQ_EUNSUPPORTED_VERSION -23    /**< A message of an arrf major version this receiver does not read. */
#define AQ_EUNSUPPORTED -24            /**< A feature this build lacks (for example CURVE). */
#define AQ_EINVALID_ARRAY -25          /**< An array could not be made (bad dtype, shape or size). */
#define AQ_EZMQ -26                    /**< A libzmq call failed; see aq_last_errno(). */
#define AQ_EFAST_PATH_UNAVAILABLE -27  /**< The same-host fast path was required but cannot be used. */
/* Added to ArrayQueueError later (codes are never renumbered). */
#define AQ_EUNTRUSTED_OWNER -28        /**< The queue belongs to another user and allow_other_owner is 0. */
/** Lowest code in use; codes below it may be added by newer libraries. */
#define AQ_ELAST -28

/** A short constant description of `code` ("timed out", "queue is full", ...); never NULL.
 *  Unknown codes give "unknown error". Static storage. Thread-safe. */
const char *aq_strerror(int code);

/** The full message of the last error on the calling thread (for example
 *  "queue 'cam' is full (1 MiB of 1 MiB in use) and its overflow policy is 'fail'"), or ""
 *  if no call on this thread failed yet. Valid until the next failing call on this thread.
 *  Thread-local: never NULL, never free it. */
const char *aq_last_error_message(void);

/** The code of the last error on the calling thread (0 if none yet). */
int aq_last_error_code(void);

/** The errno of the failed C library or libzmq call behind the last error on the calling
 *  thread (AQ_ESYSTEM, AQ_EZMQ and some others), or 0. */
int aq_last_errno(void);

/* ------------------------------------------------------------------------------------------ */
/* Data types and shapes                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** Element types. The values are the codes stored in every record (docs/LAYOUT.md); they
 *  never change. Complex types are pairs of little-endian floats, real then imaginary. */
typedef enum aq_dtype {
    AQ_DTYPE_BOOL = 1,
    AQ_DTYPE_INT8 = 2,
    AQ_DTYPE_UINT8 = 3,
    AQ_DTYPE_INT16 = 4,
    AQ_DTYPE_UINT16 = 5,
    AQ_DTYPE_INT32 = 6,
    AQ_DTYPE_UINT32 = 7,
    AQ_DTYPE_INT64 = 8,
    AQ_DTYPE_UINT64 = 9,
    AQ_DTYPE_FLOAT16 = 10,
    AQ_DTYPE_FLOAT32 = 11,
    AQ_DTYPE_FLOAT64 = 12,
    AQ_DTYPE_COMPLEX64 = 13,
    AQ_DTYPE_COMPLEX128 = 14
} aq_dtype;

/** Most dimensions an array may have (numpy's limit). */
#define AQ_MAX_DIMS 32

/** Bytes per element of `dtype` (1 to 16), or AQ_EUNSUPPORTED_DTYPE. */
int aq_dtype_itemsize(int dtype);

/** numpy's name of `dtype` ("uint16", "complex64", ...), or NULL for an unknown code.
 *  Static storage. */
const char *aq_dtype_name(int dtype);

/** The numpy array-interface typestr of `dtype` ("<u2", "|b1", "<c16", ...), or NULL for
 *  an unknown code. Static storage. */
const char *aq_dtype_typestr(int dtype);

/** The dtype code of a numpy typestr ("<f4", "=u2", "|u1"; big-endian is not supported),
 *  or AQ_EUNSUPPORTED_DTYPE (AQ_EINVALID_ARGUMENT for NULL). */
int aq_dtype_from_typestr(const char *typestr);

/** Checks a shape and stores the byte size of a C-order `dtype` array of that shape in
 *  `*nbytes`. Errors: AQ_EUNSUPPORTED_DTYPE, AQ_EINVALID_SHAPE (ndim < 0 or > AQ_MAX_DIMS,
 *  a negative extent, an overflowing size), AQ_EINVALID_ARGUMENT (NULL `nbytes`, or NULL
 *  `shape` with ndim > 0). */
int aq_array_nbytes(int dtype, int ndim, const int64_t *shape, size_t *nbytes);

/* ------------------------------------------------------------------------------------------ */
/* Queues                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/** A handle to an open queue. Thread-safe. Freed by aq_queue_close(). */
typedef struct aq_queue aq_queue;
/** A reserved, unpublished record being written in place. Freed by aq_loan_commit() or aq_loan_abort(). */
typedef struct aq_loan aq_loan;
/** A claimed record being read in place. Freed by aq_borrow_release(). */
typedef struct aq_borrow aq_borrow;

/** What a put does when the queue has no room (per handle). */
typedef enum aq_overflow {
    AQ_OVERFLOW_BLOCK = 0,        /**< Wait for room, up to the timeout (default). */
    AQ_OVERFLOW_FAIL = 1,         /**< Fail at once with AQ_EFULL. */
    AQ_OVERFLOW_DROP_OLDEST = 2   /**< Drop the oldest waiting records (counted as drops). */
} aq_overflow;

/** What happens when a record's dtype or shape differs from the previous one (fixed at creation). */
typedef enum aq_shape_change {
    AQ_SHAPE_CHANGE_KEEP = 0,     /**< Records of any dtype and shape coexist (default). */
    AQ_SHAPE_CHANGE_RESET = 1     /**< Waiting records are dropped and a reset is counted. */
} aq_shape_change;

/** Wait without limit. */
#define AQ_FOREVER ((int64_t)-1)

/** Options of a queue handle. Initialize with aq_queue_options_init(). */
typedef struct aq_queue_options {
    size_t size;            /**< sizeof(aq_queue_options), set by aq_queue_options_init(). */
    int overflow;           /**< aq_overflow; default AQ_OVERFLOW_BLOCK. */
    int shape_change;       /**< aq_shape_change, used only when the call creates the queue; default KEEP. */
    int64_t spin_ns;        /**< How long a blocked call spins before it sleeps; default 30000 (30 µs), 0 sleeps at once. */
    uint32_t mode;          /**< Permission bits of a queue the call creates; default 0600 (must include 0600). */
    int32_t allow_other_owner; /**< 1: open a queue whose shared-memory object belongs to another user (a queue
                                    shared on purpose, mode 0660); 0 (default): refuse it with AQ_EUNTRUSTED_OWNER,
                                    since anyone can create a name in /dev/shm before its owner does. */
    /* Version 2 of the struct (the library defaults these for a `size` of version 1): */
    int32_t broadcast;      /**< 1: a queue the call creates is a broadcast queue, where every subscriber
                                 (aq_queue_subscribe()) reads every record; 0 (default): consumers share the
                                 records. Needs shape_change KEEP. */
    int32_t reserved;       /**< Ignored. It makes the struct end where its last field does: a later
                                 version's fields start at byte 40, so its size tells it apart from
                                 this one (padding would give both the same sizeof). */
} aq_queue_options;

/** The `size` of version 1 of aq_queue_options (before `broadcast`), still accepted. */
#define AQ_QUEUE_OPTIONS_SIZE_V1 offsetof(aq_queue_options, broadcast)

/** Sets the first `size` bytes of `*options` (at most sizeof(aq_queue_options)): `size` and
 *  every default. The aq_queue_options_init() macro passes the sizeof this header knows. */
void aq_queue_options_init_sized(aq_queue_options *options, size_t size);

/** Programs built against version 1 of this header call this function, which sets the
 *  fields of version 1 only (see aq_sender_options_init()). */
void aq_queue_options_init(aq_queue_options *options);

/** Sets `options->size` and every default. */
#define aq_queue_options_init(options) aq_queue_options_init_sized((options), sizeof(aq_queue_options))

/** Smallest and largest queue capacity in bytes. */
#define AQ_MIN_CAPACITY 4096
#define AQ_MAX_CAPACITY ((uint64_t)1 << 40)

/** Creates the queue `name` whose ring holds `capacity` bytes (rounded up to 4 KiB) and
 *  opens it; `*queue` receives a handle the caller owns (free with aq_queue_close()).
 *  The memory is reserved now. `options` may be NULL.
 *  Errors: AQ_EINVALID_NAME, AQ_EINVALID_ARGUMENT (capacity out of range, bad mode or
 *  options, NULL `name` or `queue`), AQ_EALREADY_EXISTS, AQ_ENO_SHARED_MEMORY, AQ_ESYSTEM. */
int aq_queue_create(const char *name, uint64_t capacity, const aq_queue_options *options, aq_queue **queue);

/** Opens the existing queue `name`. `*queue` receives a handle the caller owns.
 *  Errors: AQ_EINVALID_NAME, AQ_EINVALID_ARGUMENT, AQ_ENOT_FOUND, AQ_EFOREIGN, AQ_EUNTRUSTED_OWNER,
 *  AQ_EINCOMPATIBLE_VERSION, AQ_ECORRUPT, AQ_ESYSTEM. */
int aq_queue_open(const char *name, const aq_queue_options *options, aq_queue **queue);

/** Opens the queue `name`, creating it with `capacity` if it does not exist. `*queue`
 *  receives a handle the caller owns. Errors: those of create and open. */
int aq_queue_open_or_create(const char *name, uint64_t capacity, const aq_queue_options *options, aq_queue **queue);

/** Removes the name `name`. Processes that have the queue open keep using it; its memory
 *  is freed when the last of them closes it. Errors: AQ_EINVALID_NAME, AQ_ENOT_FOUND,
 *  AQ_EINVALID_ARGUMENT, AQ_ESYSTEM. */
int aq_queue_remove(const char *name);

/** 1 if a queue named `name` exists, 0 if not (or the name is invalid or NULL). */
int aq_queue_exists(const char *name);

/** Frees the handle (unmapping the queue once loans, borrows and other handles using it
 *  are gone). The queue itself stays until removed. NULL does nothing. */
void aq_queue_close(aq_queue *queue);

/** The queue's name. Owned by the handle. NULL for a NULL handle. */
const char *aq_queue_name(const aq_queue *queue);

/** Bytes of the data ring, or AQ_EINVALID_ARGUMENT for NULL. */
int64_t aq_queue_capacity(const aq_queue *queue);

/** From this many bytes, aq_copy() writes with non-temporal (streaming) stores. */
#define AQ_COPY_STREAMING_BYTES ((size_t)16 << 20)

/** Copies `nbytes` from `source` to `destination` as the library copies payloads
 *  (aq_queue_put(), aq_queue_get(), aq_subscriber_get()): memcpy below
 *  AQ_COPY_STREAMING_BYTES; from there, on x86-64, stores that bypass the cache and are
 *  fenced before it returns, which copies tens of MiB into memory that is not in the cache
 *  (a ring slot, a reused buffer) up to 1.6x faster. Use it to fill a loaned payload. Ranges
 *  that overlap are copied as memmove() does. */
void aq_copy(void *destination, const void *source, size_t nbytes);

/** From this many bytes, the Python package fills a whole loaned record with
 *  aq_copy_streaming(): a zero-copy pipeline is bound by its producer's copy, whose ordinary
 *  stores first read every line of the ring slot (docs/BENCHMARKS.md, "ArrayQueues from Python"). */
#define AQ_LOAN_STREAMING_BYTES ((size_t)8 << 20)

/** aq_copy() with streaming stores whatever the size (on x86-64; memmove() elsewhere, for
 *  overlapping ranges, and for the unaligned head and the tail): for filling a loaned payload
 *  that readers will read in place, where the writer's time bounds the pipeline. */
void aq_copy_streaming(void *destination, const void *source, size_t nbytes);

/** Flags of aq_queue_put() and aq_queue_loan(). */
#define AQ_PUT_TIMESTAMP 0x1   /**< Use `timestamp_ns` as the record's time (otherwise: now). */
#define AQ_PUT_INDEX 0x2       /**< Give the record `index` (otherwise it has none). */

/** Puts a copy of an array: `ndim` extents in `shape`, `nbytes` bytes at `data` (C order),
 *  which must be exactly the array's size. Waits for room up to `timeout_ns` under the
 *  AQ_OVERFLOW_BLOCK policy; with `timeout_ns` 0 it never waits and returns AQ_EFULL when
 *  there is no room. `flags` (AQ_PUT_*) say whether `timestamp_ns` (nanoseconds since the
 *  Unix epoch) and `index` are used. The caller keeps `shape` and `data`.
 *  Errors: AQ_EFULL, AQ_ETIMEOUT, AQ_EOVERSIZE, AQ_EUNSUPPORTED_DTYPE, AQ_EINVALID_SHAPE,
 *  AQ_EINVALID_ARGUMENT (NULL queue, NULL data with nbytes > 0, nbytes not the array's
 *  size, unknown flags), AQ_ECORRUPT. */
int aq_queue_put(aq_queue *queue, int dtype, int ndim, const int64_t *shape, const void *data, size_t nbytes,
                 int64_t timeout_ns, int flags, int64_t timestamp_ns, int64_t index);

/** Reserves room for an array of `dtype` and `shape` and lends its payload for writing in
 *  place, without an intermediate copy: `*data` receives the writable payload (64-byte
 *  aligned, `*nbytes` bytes, may be NULL if not wanted) and `*loan` a handle the caller
 *  owns. Fill every byte, then publish with aq_loan_commit() or give the room back with
 *  aq_loan_abort(); each frees the handle. Consumers never see an uncommitted record;
 *  other producers and consumers keep working meanwhile. Waiting, flags and errors as
 *  aq_queue_put() (no data/nbytes errors). If the process dies holding the loan, the
 *  record is discarded by the queue's dead-peer recovery. */
int aq_queue_loan(aq_queue *queue, int dtype, int ndim, const int64_t *shape, int64_t timeout_ns, int flags,
                  int64_t timestamp_ns, int64_t index, void **data, size_t *nbytes, aq_loan **loan);

/** The loan's writable payload, or NULL for a NULL loan. */
void *aq_loan_data(const aq_loan *loan);

/** The loan's payload size in bytes (0 for a NULL loan). */
size_t aq_loan_nbytes(const aq_loan *loan);

/** Publishes the loaned record and frees the handle (also when it fails).
 *  Errors: AQ_EINVALID_ARGUMENT (NULL, or a loan made by another process: a child made by
 *  fork() does not publish its parent's record), AQ_ECORRUPT (the record was taken away, for
 *  example because this process was thought dead). */
int aq_loan_commit(aq_loan *loan);

/** Discards the loaned record unpublished and frees the handle. NULL does nothing. */
void aq_loan_abort(aq_loan *loan);

/** Metadata of a record. */
typedef struct aq_record_info {
    int32_t dtype;                /**< aq_dtype. */
    int32_t ndim;                 /**< Number of dimensions, 0 to AQ_MAX_DIMS. */
    int64_t shape[AQ_MAX_DIMS];   /**< The first `ndim` entries are the extents. */
    uint64_t nbytes;              /**< Payload bytes. */
    uint64_t sequence;            /**< Queue-wide sequence number. */
    int64_t timestamp_ns;         /**< Nanoseconds since the Unix epoch. */
    int64_t index;                /**< The producer's frame number, if has_index. */
    int32_t has_index;            /**< 1 if the record has an index. */
    int32_t is_envelope;          /**< 1 if this uint8 record is an ArrayTransport message envelope. */
    uint64_t reserved[4];         /**< Zero; room for future fields. */
} aq_record_info;

/** Takes the oldest record and copies its payload into `buffer` (`capacity` bytes); `*info`
 *  receives its metadata. Waits up to `timeout_ns` while the queue is empty (0: never, then
 *  AQ_EEMPTY). If the payload is larger than `capacity`, nothing is taken: the record stays
 *  in the queue, `*info` still describes it and the call returns AQ_EBUFFER_TOO_SMALL, so a
 *  caller can allocate `info->nbytes` bytes and call again (another consumer may take that
 *  record meanwhile; then the next one is returned). `buffer` may be NULL when `capacity`
 *  is 0 (a wait for the next record's metadata).
 *  Errors: AQ_EEMPTY, AQ_ETIMEOUT, AQ_EBUFFER_TOO_SMALL, AQ_EINVALID_ARGUMENT (NULL queue or
 *  info, NULL buffer with capacity > 0), AQ_ECORRUPT. */
int aq_queue_get(aq_queue *queue, void *buffer, size_t capacity, aq_record_info *info, int64_t timeout_ns);

/** Takes the oldest record and lends it in place, without copying: `*data` receives the
 *  read-only payload (64-byte aligned, `info->nbytes` bytes; may be NULL if not wanted),
 *  `*info` its metadata (may be NULL), `*borrow` a handle the caller owns. The record's
 *  room is freed by aq_borrow_release(), which must be called exactly once; until then the
 *  payload stays valid and unchanged. Waiting and errors as aq_queue_get() (no
 *  AQ_EBUFFER_TOO_SMALL). A process that dies holding a borrow loses that record (counted
 *  as a lost read). */
int aq_queue_borrow(aq_queue *queue, int64_t timeout_ns, aq_record_info *info, const void **data, aq_borrow **borrow);

/** The borrowed payload, or NULL for a NULL borrow. */
const void *aq_borrow_data(const aq_borrow *borrow);

/** Fills `*info` with the borrowed record's metadata. Errors: AQ_EINVALID_ARGUMENT (NULL). */
int aq_borrow_info(const aq_borrow *borrow, aq_record_info *info);

/** Frees the borrowed record's room and the handle. NULL does nothing. */
void aq_borrow_release(aq_borrow *borrow);

/** Records waiting (committed, not yet taken), or a negative error (AQ_EINVALID_ARGUMENT,
 *  AQ_ECORRUPT). Exact at the instant it is counted, under the queue lock. */
int64_t aq_queue_count(aq_queue *queue);

/** 1 if no record is waiting, 0 if one is, or a negative error. */
int aq_queue_is_empty(aq_queue *queue);

/** Puts copies of `count` arrays of one dtype and shape, stored back to back at `data`
 *  (`count` × `nbytes` bytes; `nbytes` is one array's size), in order. Room for as many as
 *  fit is reserved under one hold of the queue lock (at most 256 at a time): for small
 *  arrays a fraction of the cost of aq_queue_put() each. Every record gets the time of the
 *  call and no index. Waits for room as aq_queue_put(), `timeout_ns` bounding the whole
 *  call; with `timeout_ns` 0 it puts what fits now and returns AQ_OK (AQ_EFULL if nothing
 *  fit). `*put` (may be NULL) receives how many were put, also when the call fails.
 *  Errors: those of aq_queue_put(), and AQ_EINVALID_ARGUMENT for a `count` whose bytes
 *  exceed the address space. */
int aq_queue_put_many(aq_queue *queue, int dtype, int ndim, const int64_t *shape, const void *data, size_t nbytes,
                      size_t count, int64_t timeout_ns, size_t *put);

/** Takes up to `max_records` records, copying their payloads into `buffer` (`capacity`
 *  bytes) one after the other, each at a multiple of 64 bytes: record i's payload is at
 *  `buffer + offsets[i]`, its metadata in `infos[i]` (both arrays hold `max_records`
 *  entries), and `*count` (may be NULL) receives how many were taken, also when the call
 *  fails. Waits for the first record as aq_queue_get() does, then takes what else is
 *  waiting and fits, claiming them under one hold of the queue lock. A record that does not
 *  fit in the rest of the buffer stays in the queue; if the first does not fit, `infos[0]`
 *  describes it and the call returns AQ_EBUFFER_TOO_SMALL, as aq_queue_get() does.
 *  Errors: those of aq_queue_get(), AQ_EINVALID_ARGUMENT for NULL infos or offsets or
 *  `max_records` 0. */
int aq_queue_get_many(aq_queue *queue, void *buffer, size_t capacity, aq_record_info *infos, size_t *offsets,
                      size_t max_records, size_t *count, int64_t timeout_ns);

/* Broadcast queues ------------------------------------------------------------------------- */

/** A subscriber of a broadcast queue: it reads every record committed from its start on, in
 *  order, exactly once, while other subscribers read the same records. Used by one thread at
 *  a time. Freed by aq_subscriber_close(). */
typedef struct aq_subscriber aq_subscriber;

/** What producers do when a subscriber falls a whole ring behind. */
typedef enum aq_subscriber_policy {
    AQ_SUBSCRIBER_BLOCK = 0,      /**< Lossless: producers wait for it (each up to its timeout), as a recorder wants. */
    AQ_SUBSCRIBER_DROP = 1        /**< Live: producers skip it ahead; it counts what it lost, as a viewer wants. */
} aq_subscriber_policy;

/** Where a new subscriber starts reading. */
typedef enum aq_subscriber_start {
    AQ_START_NEWEST = 0,          /**< At the newest committed record the ring holds (or the next one). */
    AQ_START_OLDEST = 1,          /**< At the oldest record the ring still holds. */
    AQ_START_NEXT = 2             /**< At the next record reserved after subscribing. */
} aq_subscriber_start;

/** Subscribes to the broadcast queue (created with aq_queue_options.broadcast = 1, or
 *  `aq create --broadcast`) with an aq_subscriber_policy and an aq_subscriber_start; `*subscriber`
 *  receives a handle the caller owns. It holds one of the queue's 32 subscriber slots until
 *  aq_subscriber_close(); a process that dies holding it is detached by the queue. On a
 *  broadcast queue aq_queue_get(), aq_queue_borrow() and aq_queue_get_many() return
 *  AQ_EINVALID_ARGUMENT (a consumer would take records away from the subscribers).
 *  Errors: AQ_EINVALID_ARGUMENT (NULL, an unknown policy or start, a queue that is not a
 *  broadcast queue), AQ_EFULL (every slot taken), AQ_ECORRUPT. */
int aq_queue_subscribe(aq_queue *queue, int policy, int start, aq_subscriber **subscriber);

/** Copies the subscriber's next record into `buffer` (`capacity` bytes); `*info` receives its
 *  metadata. Waits up to `timeout_ns` for one (0: never, then AQ_EEMPTY). If the payload is
 *  larger than `capacity`, `*info` describes it and the call returns AQ_EBUFFER_TOO_SMALL: the
 *  subscriber keeps the record (producers cannot reuse its room meanwhile) and the next
 *  aq_subscriber_get() or aq_subscriber_borrow() returns it, so a caller allocates
 *  `info->nbytes` bytes and calls again. `buffer` may be NULL when `capacity` is 0.
 *  Errors: AQ_EEMPTY, AQ_ETIMEOUT, AQ_EBUFFER_TOO_SMALL, AQ_EINVALID_ARGUMENT (NULL subscriber
 *  or info, NULL buffer with capacity > 0, a borrow of this subscriber not yet released),
 *  AQ_ECORRUPT. */
int aq_subscriber_get(aq_subscriber *subscriber, void *buffer, size_t capacity, aq_record_info *info, int64_t timeout_ns);

/** Lends the subscriber's next record in place, without copying, as aq_queue_borrow() does:
 *  `*data` (may be NULL if not wanted) the read-only payload, `*info` (may be NULL) its
 *  metadata, `*borrow` a handle the caller owns; aq_borrow_data(), aq_borrow_info() and
 *  aq_borrow_release() work on it. Other subscribers may read the same record meanwhile; the
 *  subscriber moves past it at aq_borrow_release(), and takes no other record until then.
 *  Waiting and errors as aq_subscriber_get() (no AQ_EBUFFER_TOO_SMALL). */
int aq_subscriber_borrow(aq_subscriber *subscriber, int64_t timeout_ns, aq_record_info *info, const void **data,
                         aq_borrow **borrow);

/** Records producers skipped this subscriber past (AQ_SUBSCRIBER_DROP) or aq_queue_clear()
 *  dropped before it read them, or AQ_EINVALID_ARGUMENT for NULL. */
int64_t aq_subscriber_lost(const aq_subscriber *subscriber);

/** Records this subscriber has read, or AQ_EINVALID_ARGUMENT for NULL. */
int64_t aq_subscriber_delivered(const aq_subscriber *subscriber);

/** Gives up the subscription (producers stop waiting for it; a borrow still out keeps its
 *  record until released, then the slot is freed) and frees the handle. NULL does nothing. */
void aq_subscriber_close(aq_subscriber *subscriber);

/** Drops every waiting record, for every process; returns how many, or a negative error.
 *  Records being written or read are not affected. */
int64_t aq_queue_clear(aq_queue *queue);

/** Frees the records of processes that died while writing or reading them; returns 1 if
 *  anything was freed, 0 if not, or a negative error. Blocked producers do this by themselves. */
int aq_queue_recover(aq_queue *queue);

/** 1 if the queue's name was removed (or now names another queue) since this handle opened
 *  it, 0 if not, or AQ_EINVALID_ARGUMENT. */
int aq_queue_is_removed(aq_queue *queue);

/** Counters and state of a queue, shared by every process using it. */
typedef struct aq_queue_statistics {
    size_t size;                 /**< Set to sizeof(aq_queue_statistics) before the call. */
    uint64_t capacity;           /**< Bytes of the data ring. */
    uint64_t bytes_used;         /**< Bytes in use by records (waiting, being written or read). */
    uint64_t count;              /**< Records waiting. */
    uint64_t puts;               /**< Records committed since creation. */
    uint64_t gets;               /**< Records consumed since creation. */
    uint64_t drops;              /**< Records dropped (drop-oldest, clear, reset). */
    uint64_t resets;             /**< Resets by the reset-on-shape-change policy. */
    uint64_t clears;             /**< Calls of clear. */
    uint64_t abandoned_writes;   /**< Records discarded because their producer died. */
    uint64_t lost_reads;         /**< Records lost because their consumer died. */
    uint64_t next_sequence;      /**< The sequence number the next record gets. */
} aq_queue_statistics;

/** Fills `*statistics` up to `statistics->size` bytes. Errors: AQ_EINVALID_ARGUMENT (NULL,
 *  or a size smaller than the `size` field), AQ_ECORRUPT. */
int aq_queue_statistics_get(aq_queue *queue, aq_queue_statistics *statistics);

/** Facts fixed at a queue's creation. */
typedef struct aq_queue_info {
    size_t size;                 /**< Set to sizeof(aq_queue_info) before the call. */
    uint64_t capacity;           /**< Bytes of the data ring. */
    uint64_t segment_size;       /**< Bytes of the shared-memory object (header + ring). */
    int32_t layout_version;      /**< The segment layout version. */
    int32_t creator_pid;         /**< The process that created the queue. */
    int64_t created_ns;          /**< Creation time, nanoseconds since the Unix epoch. */
    int32_t shape_change;        /**< aq_shape_change chosen at creation. */
    int32_t reserved;            /**< Set to 0. The struct ends where its last field does (see
                                      aq_queue_options.reserved). */
} aq_queue_info;

/** Fills `*info` up to `info->size` bytes. Errors: AQ_EINVALID_ARGUMENT. */
int aq_queue_info_get(aq_queue *queue, aq_queue_info *info);

/** One process attached to a queue. */
typedef struct aq_attachment {
    int32_t pid;                 /**< The process id. */
    int32_t alive;               /**< 1 if it was running when listed. */
} aq_attachment;

/** Lists the processes that have the queue open: writes up to `capacity` entries to
 *  `attachments` (may be NULL when `capacity` is 0) and returns how many there are in all
 *  (which may exceed `capacity`), or AQ_EINVALID_ARGUMENT. */
int64_t aq_queue_attachments(aq_queue *queue, aq_attachment *attachments, size_t capacity);

/** Ring bytes a record of `dtype` and `shape` needs (compare with the capacity), stored in
 *  `*bytes`. Errors: AQ_EUNSUPPORTED_DTYPE, AQ_EINVALID_SHAPE, AQ_EOVERSIZE, AQ_EINVALID_ARGUMENT. */
int aq_queue_record_size(int dtype, int ndim, const int64_t *shape, uint64_t *bytes);

/* ------------------------------------------------------------------------------------------ */
/* Transport: senders and receivers by endpoint                                               */
/* ------------------------------------------------------------------------------------------ */

/** Sends a stream of messages to an endpoint. Thread-safe. Freed by aq_sender_close(). */
typedef struct aq_sender aq_sender;
/** Receives messages from an endpoint. Thread-safe. Freed by aq_receiver_close(). */
typedef struct aq_receiver aq_receiver;
/** One received message or event. Immutable. Freed by aq_message_free(). */
typedef struct aq_message aq_message;

/** Patterns. On shm:// endpoints they mean the same: push/pull shares the records of a plain
 *  queue among its receivers; publish/subscribe uses a broadcast queue whose receivers each read
 *  every record from when they start (as drop subscribers: a slow one skips, counted as lost). */
typedef enum aq_pattern {
    AQ_PATTERN_PUSH_PULL = 0,    /**< Push/pull: senders wait when pullers are behind (default). */
    AQ_PATTERN_PUB_SUB = 1       /**< Publish/subscribe: slow subscribers lose messages; senders never wait. */
} aq_pattern;

/** Whether the endpoint is listened on or connected to (ignored for shm://). */
typedef enum aq_role {
    AQ_ROLE_DEFAULT = 0,         /**< Senders bind, receivers connect. */
    AQ_ROLE_BIND = 1,
    AQ_ROLE_CONNECT = 2
} aq_role;

/** The same-host fast path of ZeroMQ publishers and subscribers (docs/WIRE.md). */
typedef enum aq_fast_path {
    AQ_FAST_PATH_AUTOMATIC = 0,  /**< Shared memory when both sides can use it (default). */
    AQ_FAST_PATH_DISABLED = 1,   /**< Always the network. */
    AQ_FAST_PATH_REQUIRED = 2    /**< Shared memory only; fail with AQ_EFAST_PATH_UNAVAILABLE otherwise. */
} aq_fast_path;

/** Use the transport's default timeout (ZeroMQ pushers: no limit; shm:// senders: 10 s). */
#define AQ_TIMEOUT_DEFAULT INT64_MIN

/** `maximum_connections` of aq_sender_options and aq_receiver_options: a bound endpoint keeps
 *  every connection that reaches it (as `max_connections = 0` of aq-relay). The default, 256,
 *  bounds the descriptors and memory that peers opening connections can take. */
#define AQ_NO_CONNECTION_LIMIT 0

/** CURVE security: a Z85 key is 40 characters (plus the NUL). */
#define AQ_CURVE_KEY_LENGTH 40

/** Options of a sender. Initialize with aq_sender_options_init(). */
typedef struct aq_sender_options {
    size_t size;                      /**< sizeof(aq_sender_options), set by the init function. */
    int pattern;                      /**< aq_pattern; default AQ_PATTERN_PUSH_PULL. */
    int role;                         /**< aq_role; default AQ_ROLE_DEFAULT (bind). */
    int fast_path;                    /**< aq_fast_path (publishers that bind); default automatic. */
    int64_t byte_budget;              /**< Payload bytes libzmq may hold for this sender; default 256 MiB. */
    int64_t expected_message_bytes;   /**< Typical message size for the high-water mark; 0: unset (default). */
    int64_t send_timeout_ns;          /**< Longest a send waits for room; default AQ_TIMEOUT_DEFAULT, negative: no limit. */
    int64_t heartbeat_interval_ns;    /**< Idle time (tcp://, ipc://) before a heartbeat; default 1 s; 0 or negative:
                                           no heartbeats (as Python's heartbeat_interval=0); intervals under 1 ms
                                           are 1 ms. A sender that binds with `fast_path` not disabled still sends
                                           a heartbeat carrying its fast-path offer every second. */
    int64_t linger_ns;                /**< How long unsent messages are kept after close; default 1 s. */
    const char *curve_secret_key;     /**< This side's CURVE secret key (Z85), or NULL (default) for no security. */
    const char *curve_server_public_key; /**< With a secret key: NULL makes this side the CURVE server; the
                                              server's public key makes it a client. */
    int64_t shm_capacity;             /**< shm://: capacity of the queue if the sender creates it; default 256 MiB. */
    /* Version 2 of the struct (the library defaults these for a `size` of version 1): */
    uint32_t shm_mode;                /**< shm://: permission bits of a queue the sender creates; default 0600
                                           (must include 0600; 0660 lets a group share it). */
    int32_t shm_allow_other_owner;    /**< shm://: 1 opens a queue whose shared-memory object belongs to another
                                           user (a queue shared on purpose); 0 (default) refuses it with
                                           AQ_EUNTRUSTED_OWNER, as aq_queue_options.allow_other_owner. */
    /* Version 3 of the struct (the library defaults it for a `size` of version 1 or 2): */
    int64_t maximum_arrays;           /**< Most arrays aq_sender_send() sends in one message; default 256, what
                                           receivers take by default (aq_receiver_options.maximum_arrays): a
                                           longer message is refused with AQ_EINVALID_ARGUMENT rather than sent
                                           for receivers to drop as malformed. Raise both together. */
    /* Version 4 of the struct (the library defaults it for a `size` of version 1 to 3): */
    int64_t maximum_connections;      /**< Most connections each endpoint the sender binds (tcp://, ipc://) keeps at
                                           once; default 256. Each has its own share of the byte budget, so this
                                           bounds what peers can make the sender hold: those opened beyond it are
                                           shut down within about 0.1 s, newest first, and counted in
                                           aq_sender_statistics.peers_dropped. Connections the sender makes
                                           (AQ_ROLE_CONNECT) are not counted; ignored for shm://.
                                           AQ_NO_CONNECTION_LIMIT (0): no limit; negative: AQ_EINVALID_ARGUMENT. */
} aq_sender_options;

/** The `size` of version 1 of aq_sender_options (before `shm_mode`), still accepted. */
#define AQ_SENDER_OPTIONS_SIZE_V1 offsetof(aq_sender_options, shm_mode)
/** The `size` of version 2 of aq_sender_options (before `maximum_arrays`), still accepted. */
#define AQ_SENDER_OPTIONS_SIZE_V2 offsetof(aq_sender_options, maximum_arrays)
/** The `size` of version 3 of aq_sender_options (before `maximum_connections`), still accepted. */
#define AQ_SENDER_OPTIONS_SIZE_V3 offsetof(aq_sender_options, maximum_connections)

/** Sets the first `size` bytes of `*options` (at most sizeof(aq_sender_options)): `size` and
 *  every default. The aq_sender_options_init() macro passes the sizeof this header knows. */
void aq_sender_options_init_sized(aq_sender_options *options, size_t size);

/** Programs built against version 1 of this header call this function, which sets the
 *  fields of version 1 only; the macro below sends newer programs to
 *  aq_sender_options_init_sized(), so that a library never writes past a caller's struct. */
void aq_sender_options_init(aq_sender_options *options);

/** Sets `options->size` and every default. */
#define aq_sender_options_init(options) aq_sender_options_init_sized((options), sizeof(aq_sender_options))

/** Makes a sender of the stream `stream` (1 to 1024 bytes, not NULL; ignored for shm://, where
 *  the queue name is the stream) on `endpoint`: "tcp://HOST:PORT" (PORT may be * when binding), "ipc:///PATH" or
 *  "shm://NAME". `options` may be NULL. `*sender` receives a handle the caller owns.
 *  Errors: AQ_EINVALID_ENDPOINT, AQ_EINVALID_ARGUMENT, AQ_EUNSUPPORTED (CURVE without libzmq
 *  support), AQ_EZMQ (for example an address in use), AQ_EFAST_PATH_UNAVAILABLE, and for
 *  shm:// the queue errors of aq_queue_open_or_create(). */
int aq_sender_create(const char *endpoint, const char *stream, const aq_sender_options *options, aq_sender **sender);

/** Writes the endpoint the sender is bound to, with a wildcard port resolved (for example
 *  "tcp://127.0.0.1:41234"), into `buffer` (`capacity` bytes, NUL-terminated); for a
 *  sender that connects, or shm://, the endpoint it was made with. Errors:
 *  AQ_EINVALID_ARGUMENT, AQ_EBUFFER_TOO_SMALL. */
int aq_sender_endpoint(const aq_sender *sender, char *buffer, size_t capacity);

/** One array of a message to send, or of a received message. */
typedef struct aq_array {
    const char *name;        /**< The array's name in its message; NULL sends "array". */
    int32_t dtype;           /**< aq_dtype. */
    int32_t ndim;            /**< Number of dimensions, 0 to AQ_MAX_DIMS. */
    const int64_t *shape;    /**< `ndim` extents. */
    const void *data;        /**< C-order payload. */
    size_t nbytes;           /**< Payload bytes: exactly the array's size. */
} aq_array;

/** Flags of aq_sender_send() (same values as AQ_PUT_*). */
#define AQ_SEND_TIMESTAMP 0x1  /**< Use `timestamp_ns` (otherwise: now). */
#define AQ_SEND_INDEX 0x2      /**< Give the message `index`. */

/** aq_sender_send() returns this (positive) when flow control dropped the message: a
 *  publisher over its byte budget. The sequence number was used up. */
#define AQ_SEND_DROPPED 1

/** Sends one message of `count` arrays (1 to the sender's `maximum_arrays`, 256 by default),
 *  copying them (the caller keeps and may reuse its buffers as soon as the call returns).
 *  `meta_json` is a JSON object of application metadata, or NULL for none; its numbers must be
 *  finite (NaN, Infinity and literals too large for a double, such as 1e999, are refused on
 *  every endpoint). `*sequence` (may be NULL) receives the message's sequence number. A
 *  refused message uses no sequence number. Returns 0 when sent, AQ_SEND_DROPPED, or a
 *  negative error: AQ_ETIMEOUT, AQ_ECLOSED, AQ_EINVALID_ARGUMENT (more than `maximum_arrays`
 *  arrays, meta that is not a JSON object or holds a non-finite number, a header beyond
 *  64 KiB), AQ_EINVALID_ARRAY / AQ_EUNSUPPORTED_DTYPE / AQ_EINVALID_SHAPE (a bad array),
 *  AQ_EZMQ, and for shm:// the queue errors of aq_queue_put(). */
int aq_sender_send(aq_sender *sender, const aq_array *arrays, size_t count, int flags, int64_t timestamp_ns,
                   int64_t index, const char *meta_json, uint64_t *sequence);

/** A sender's counters. Version 2 of the struct added the fields after `shared_memory_dropped`,
 *  version 3 `shared_memory_lost`, version 4 `peers_dropped`; the library fills only the fields
 *  that fit in `size`, so a program built against an older version keeps working (its struct
 *  ends at AQ_SENDER_STATISTICS_SIZE_V1, AQ_SENDER_STATISTICS_SIZE_V2 or
 *  AQ_SENDER_STATISTICS_SIZE_V3). */
typedef struct aq_sender_statistics {
    size_t size;                      /**< Set to sizeof(aq_sender_statistics) before the call. */
    uint64_t epoch;                   /**< The sender's epoch (random, fixed at start). */
    uint64_t sent;                    /**< Data messages handed to the transport. */
    uint64_t dropped;                 /**< Data messages dropped by flow control. */
    uint64_t bytes_sent;              /**< Payload bytes sent. */
    uint64_t heartbeats;              /**< Heartbeats sent. */
    int64_t in_flight_bytes;          /**< Payload bytes the transport holds, not yet written. */
    uint64_t next_sequence;           /**< The sequence number of the next message. */
    int64_t shared_memory_subscribers;/**< Subscribers on this host taking the fast path now. */
    uint64_t shared_memory_dropped;   /**< Messages a fast-path subscriber's full queue could not take. */
    /* Version 2 of the struct (filled only when `size` includes them): */
    int64_t peers;                    /**< Peers connected to the ZeroMQ socket now (each has its own share of the
                                           byte budget), as of when the sender last serviced its socket (at sends,
                                           and about every 100 ms while idle). 0 for shm://. */
    uint64_t peers_disconnected;      /**< Connections that ended: peers that left, and peers dropped for breaking
                                           the protocol, sending a frame over the limit, or taking nothing for
                                           the stalled-peer timeout. 0 for shm://. */
    uint64_t rejected_subscriptions;  /**< Publishers: subscriptions that were not prefixes of the stream's name
                                           (and other messages peers sent): none can match the stream's topic. */
    /* Version 3 of the struct (filled only when `size` includes it): */
    uint64_t shared_memory_lost;      /**< Pushers: messages put into the same-host fast-path queue (and counted as
                                           sent) that no puller of this host took and the socket did not accept
                                           within the linger period when the sender closed. Counted (and logged) by
                                           the close, so 0 before it: read it with
                                           aq_sender_close_with_statistics(). */
    /* Version 4 of the struct (filled only when `size` includes it): */
    uint64_t peers_dropped;           /**< Connections the sender shut down itself: those beyond `maximum_connections`
                                           on an endpoint it binds, and those holding more than 4 KiB of refused
                                           subscriptions (each is counted in `peers_disconnected` too once libzmq
                                           has seen it end). They may connect again. 0 for shm://. */
} aq_sender_statistics;

/** The `size` of version 1 of aq_sender_statistics (before `peers`), still accepted. */
#define AQ_SENDER_STATISTICS_SIZE_V1 offsetof(aq_sender_statistics, peers)
/** The `size` of version 2 of aq_sender_statistics (before `shared_memory_lost`), still accepted. */
#define AQ_SENDER_STATISTICS_SIZE_V2 offsetof(aq_sender_statistics, shared_memory_lost)
/** The `size` of version 3 of aq_sender_statistics (before `peers_dropped`), still accepted. */
#define AQ_SENDER_STATISTICS_SIZE_V3 offsetof(aq_sender_statistics, peers_dropped)

/** Fills `*statistics` up to `statistics->size` bytes. Errors: AQ_EINVALID_ARGUMENT. */
int aq_sender_statistics_get(aq_sender *sender, aq_sender_statistics *statistics);

/** Sends "end", releases the transport and frees the handle (a ZeroMQ sender first waits up
 *  to its linger time for queued messages). A send waiting in another thread ends with
 *  AQ_ECLOSED on tcp:// and ipc://; on shm:// it is not cut short (it waits for room up to its
 *  timeout). NULL does nothing. */
void aq_sender_close(aq_sender *sender);

/** Closes and frees the sender as aq_sender_close() does, then fills `*statistics` (up to
 *  `statistics->size` bytes, as aq_sender_statistics_get()) with its counters as the close left
 *  them, among them `shared_memory_lost`, which only the close counts. The handle is freed
 *  whatever the return value, unless `sender` is NULL: a NULL or too small `statistics` is an
 *  error that leaves it unfilled. Returns 0, or AQ_EINVALID_ARGUMENT (NULL sender, NULL
 *  statistics, a `size` smaller than a `size_t`). */
int aq_sender_close_with_statistics(aq_sender *sender, aq_sender_statistics *statistics);

/** Options of a receiver. Initialize with aq_receiver_options_init(). */
typedef struct aq_receiver_options {
    size_t size;                      /**< sizeof(aq_receiver_options), set by the init function. */
    int pattern;                      /**< aq_pattern; default AQ_PATTERN_PUSH_PULL. */
    int role;                         /**< aq_role; default AQ_ROLE_DEFAULT (connect). */
    int fast_path;                    /**< aq_fast_path (subscribers that connect to one endpoint); default automatic. */
    int detects_loss;                 /**< 1 (default): sequence gaps count as lost; 0 for pullers sharing a pusher. */
    const char *const *subscriptions; /**< Pub/sub: stream-name prefixes; NULL or none subscribes to every stream. */
    size_t subscription_count;        /**< Entries in `subscriptions`. */
    int64_t maximum_message_bytes;    /**< Largest message accepted; default 1 GiB. */
    int64_t maximum_arrays;           /**< Most arrays per message; default 256 (what senders send at most by
                                           default). A message with more is counted as malformed and skipped. */
    int64_t byte_budget;              /**< Bytes of messages the receiving queue may hold; default 256 MiB. */
    int64_t expected_message_bytes;   /**< Typical message size; 0: unset (default). */
    int64_t heartbeat_interval_ns;    /**< The senders' heartbeat interval, by which silence is judged
                                           (`peer_is_silent` after `missed_heartbeats` of them without a message);
                                           default 1 s. Must be positive (0 or negative: AQ_EINVALID_ARGUMENT):
                                           for senders that send no heartbeats, the idle time to count as silent
                                           divided by `missed_heartbeats`. */
    int64_t missed_heartbeats;        /**< Intervals without a message before the peer counts as silent; at least 1, default 3. */
    int64_t linger_ns;                /**< ZMQ_LINGER after close; default 0. */
    const char *curve_secret_key;     /**< As in aq_sender_options. */
    const char *curve_server_public_key; /**< As in aq_sender_options. */
    int64_t fast_path_capacity;       /**< Smallest capacity of the fast-path queue; default 64 MiB. */
    int64_t fast_path_timeout_ns;     /**< With AQ_FAST_PATH_REQUIRED: time allowed to switch; default 5 s. */
    int64_t shm_capacity;             /**< shm://: capacity of the queue if the receiver creates it; default 256 MiB. */
    /* Version 2 of the struct (the library defaults these for a `size` of version 1): */
    uint32_t shm_mode;                /**< As in aq_sender_options: for a queue the receiver creates. */
    int32_t shm_allow_other_owner;    /**< As in aq_sender_options. */
    /* Version 3 of the struct (the library defaults it for a `size` of version 1 or 2): */
    int64_t maximum_connections;      /**< Most connections each endpoint the receiver binds (AQ_ROLE_BIND; tcp://,
                                           ipc://) keeps at once; default 256. Those opened beyond it are shut down,
                                           newest first, at the checks a receive call makes (every 5 to 10 ms while
                                           one runs) or, between calls, within about 0.1 s (the receiver's own
                                           housekeeping thread), and counted in aq_receiver_statistics.peers_dropped.
                                           Connections the receiver makes are not counted; ignored for shm://.
                                           AQ_NO_CONNECTION_LIMIT (0): no limit; negative: AQ_EINVALID_ARGUMENT. */
    /* Version 4 of the struct (the library defaults it for a `size` of version 1 to 3): */
    int64_t zero_copy_receive;        /**< Non-zero: the receiver gets a ZeroMQ context of its own (which it keeps
                                           alive until aq_receiver_close()) that receives with libzmq's zero-copy
                                           (ZMQ_ZERO_COPY_RECV 1), saving a copy of every frame over 33 bytes (1 MiB
                                           messages over tcp arrive about 1.17 times as fast). Only for trusted
                                           peers: each such frame then keeps alive the whole read buffer it arrived
                                           in (8 KiB and more), so a peer sending small frames a few at a time makes
                                           the receiver hold many times what it sends, beyond what the byte budget
                                           and the bound on unfinished messages allow for (docs/RELIABILITY.md).
                                           0 (default): each frame is copied out of the read buffer. Ignored for
                                           shm://. An int64_t, not an int32_t, so that no padding follows it and
                                           this version's sizeof is where the next version's fields begin. */
} aq_receiver_options;

/** The `size` of version 1 of aq_receiver_options (before `shm_mode`), still accepted. */
#define AQ_RECEIVER_OPTIONS_SIZE_V1 offsetof(aq_receiver_options, shm_mode)
/** The `size` of version 2 of aq_receiver_options (before `maximum_connections`), still accepted. */
#define AQ_RECEIVER_OPTIONS_SIZE_V2 offsetof(aq_receiver_options, maximum_connections)
/** The `size` of version 3 of aq_receiver_options (before `zero_copy_receive`), still accepted. */
#define AQ_RECEIVER_OPTIONS_SIZE_V3 offsetof(aq_receiver_options, zero_copy_receive)

/** Sets the first `size` bytes of `*options`, as aq_sender_options_init_sized(). */
void aq_receiver_options_init_sized(aq_receiver_options *options, size_t size);

/** For programs built against version 1 of this header, as aq_sender_options_init(). */
void aq_receiver_options_init(aq_receiver_options *options);

/** Sets `options->size` and every default. */
#define aq_receiver_options_init(options) aq_receiver_options_init_sized((options), sizeof(aq_receiver_options))

/** Makes a receiver on `endpoint` (as for aq_sender_create()). For shm:// the queue is
 *  created if it does not exist yet, so a receiver may start before its sender. `options`
 *  may be NULL. `*receiver` receives a handle the caller owns.
 *  Errors: as aq_sender_create(). */
int aq_receiver_create(const char *endpoint, const aq_receiver_options *options, aq_receiver **receiver);

/** Writes the endpoint the receiver is bound to (AQ_ROLE_BIND), with a wildcard port resolved
 *  (for example "tcp://127.0.0.1:41234"), into `buffer` (`capacity` bytes, NUL-terminated);
 *  for a receiver that connects, or shm://, the endpoint it was made with. As
 *  aq_sender_endpoint(). Errors: AQ_EINVALID_ARGUMENT, AQ_EBUFFER_TOO_SMALL. */
int aq_receiver_endpoint(const aq_receiver *receiver, char *buffer, size_t capacity);

/** Flags of aq_receiver_receive(). */
#define AQ_RECEIVE_EVENTS 0x1  /**< Also return heartbeat and end events (otherwise: data only). */

/** Kinds of received messages. */
typedef enum aq_event {
    AQ_EVENT_DATA = 0,           /**< A data message with arrays. */
    AQ_EVENT_HEARTBEAT = 1,      /**< A sender said it is alive while idle (no arrays). */
    AQ_EVENT_END = 2             /**< A sender closed its stream on purpose (no arrays). */
} aq_event;

/** Waits up to `timeout_ns` for the next message; `*message` receives it (a handle the
 *  caller owns, free with aq_message_free()). Malformed messages are counted and skipped.
 *  Errors: AQ_ETIMEOUT (nothing arrived; `*message` is NULL), AQ_ECLOSED,
 *  AQ_EFAST_PATH_UNAVAILABLE, AQ_EINVALID_ARGUMENT. */
int aq_receiver_receive(aq_receiver *receiver, int64_t timeout_ns, int flags, aq_message **message);

/** Called by aq_receiver_receive_lent() with a message lent to it: read it with
 *  aq_message_info_get() and aq_message_array(), whose pointers (the arrays' `data` included)
 *  are valid only until the callback returns. The callback must not free the message, keep it,
 *  or receive from the same receiver (such a receive fails with AQ_EINVALID_ARGUMENT, on every
 *  endpoint); it may call aq_receiver_shutdown() on it, which takes effect when the callback
 *  returns. `context` is the caller's, passed through. */
typedef void (*aq_lent_message_fn)(aq_message *message, void *context);

/** Waits up to `timeout_ns` for the next message (as aq_receiver_receive(), with the same
 *  flags) and lends it to `callback` without copying its arrays: their `data` point into the
 *  received ZeroMQ frames or, on the same-host fast path and shm://, into the record in shared
 *  memory, which stays reserved until the callback returns. The message counts as received once
 *  lent. Errors: AQ_ETIMEOUT (the callback was not called), AQ_ECLOSED,
 *  AQ_EFAST_PATH_UNAVAILABLE, AQ_EINVALID_ARGUMENT (NULL receiver or callback, unknown flags). */
int aq_receiver_receive_lent(aq_receiver *receiver, int64_t timeout_ns, int flags, aq_lent_message_fn callback, void *context);

/** How data arrives. */
typedef enum aq_path {
    AQ_PATH_NETWORK = 0,         /**< Through the ZeroMQ socket (or a shm:// queue). */
    AQ_PATH_SHARED_MEMORY = 1    /**< Through the same-host fast path. */
} aq_path;

/** A receiver's counters. Version 2 of the struct added `peers_dropped`; the library fills only
 *  the fields that fit in `size` (a version-1 struct ends at AQ_RECEIVER_STATISTICS_SIZE_V1). */
typedef struct aq_receiver_statistics {
    size_t size;                      /**< Set to sizeof(aq_receiver_statistics) before the call. */
    uint64_t received;                /**< Data messages delivered. */
    uint64_t bytes_received;          /**< Payload bytes delivered. */
    uint64_t heartbeats;              /**< Heartbeats received. */
    uint64_t ends;                    /**< End messages received. */
    uint64_t lost;                    /**< Data messages known to be missing (sequence gaps). */
    uint64_t out_of_order;            /**< Messages with a lower sequence than one delivered before. */
    uint64_t malformed;               /**< Messages rejected as malformed (the last one's reason:
                                           aq_receiver_last_malformed_reason()). */
    uint64_t epochs_seen;             /**< Distinct (stream, epoch) pairs seen. */
    uint64_t restarts;                /**< New epochs on a stream that had one: a sender restarted. */
    uint64_t copied_payloads;         /**< Large payloads copied for alignment. */
    int64_t silence_ns;               /**< Time since the last valid message. */
    int32_t peer_is_silent;           /**< 1 if the silence exceeds the allowed missed heartbeats. */
    int32_t path;                     /**< aq_path in use now. */
    uint64_t received_through_shared_memory; /**< Data messages that came through the fast path. */
    uint64_t switches_to_shared_memory;      /**< Switches from the network to the fast path. */
    /* Version 2 of the struct (filled only when `size` includes it): */
    uint64_t peers_dropped;           /**< Connections the receiver dropped: tcp ones for which libzmq held more
                                           than a queue of messages and one more, or than one message while it
                                           held no complete one (a message that does not end), and tcp or ipc
                                           ones beyond the `maximum_connections` (256 by default) a bound
                                           endpoint keeps at once; they may connect again. */
} aq_receiver_statistics;

/** The `size` of version 1 of aq_receiver_statistics (before `peers_dropped`), still accepted. */
#define AQ_RECEIVER_STATISTICS_SIZE_V1 offsetof(aq_receiver_statistics, peers_dropped)

/** Fills `*statistics` up to `statistics->size` bytes. Errors: AQ_EINVALID_ARGUMENT. */
int aq_receiver_statistics_get(aq_receiver *receiver, aq_receiver_statistics *statistics);

/** aq_path in use now, or AQ_EINVALID_ARGUMENT. */
int aq_receiver_path(aq_receiver *receiver);

/** Writes why the fast path was most recently not taken or left (or "" if it never was)
 *  into `buffer`, NUL-terminated. Errors: AQ_EINVALID_ARGUMENT, AQ_EBUFFER_TOO_SMALL. */
int aq_receiver_fast_path_problem(aq_receiver *receiver, char *buffer, size_t capacity);

/** Writes why the most recent malformed message (counted in aq_receiver_statistics.malformed)
 *  was rejected (or "" if none was) into `buffer`, NUL-terminated. Errors:
 *  AQ_EINVALID_ARGUMENT, AQ_EBUFFER_TOO_SMALL. */
int aq_receiver_last_malformed_reason(aq_receiver *receiver, char *buffer, size_t capacity);

/** Stops the receiver without freeing it: receives waiting in other threads return
 *  AQ_ECLOSED within about 100 ms, later ones at once. Thread-safe; idempotent. */
void aq_receiver_shutdown(aq_receiver *receiver);

/** Stops the receiver and frees the handle. No other thread may be using it (call
 *  aq_receiver_shutdown() first and wait for them). NULL does nothing. */
void aq_receiver_close(aq_receiver *receiver);

/** What a message says about itself. Pointers belong to the message. */
typedef struct aq_message_info {
    size_t size;                      /**< Set to sizeof(aq_message_info) before the call. */
    int32_t kind;                     /**< aq_event. */
    int32_t has_index;                /**< 1 if `index` is set (data messages). */
    const char *stream;               /**< The stream. */
    uint64_t epoch;                   /**< The sending instance. */
    uint64_t sequence;                /**< Data: position in the epoch. Heartbeat/end: the last data sequence, if has_sequence. */
    int32_t has_sequence;             /**< 1 for data; for heartbeat/end, 1 if the epoch sent any data. */
    int32_t reserved0;
    int64_t timestamp_ns;             /**< When the message was made (sender's clock). */
    int64_t index;                    /**< The producer's frame number, if has_index. */
    const char *meta_json;            /**< Application metadata as a JSON object ("{}" if none). */
    size_t array_count;               /**< Arrays in the message (0 for heartbeat and end). */
} aq_message_info;

/** Fills `*info` up to `info->size` bytes. Errors: AQ_EINVALID_ARGUMENT. */
int aq_message_info_get(const aq_message *message, aq_message_info *info);

/** Fills `*array` with array `i` of the message: its name, dtype, shape and payload pointers
 *  belong to the message and stay valid until aq_message_free(); the payload is not copied
 *  (64-byte aligned when the transport allows). Errors: AQ_EINVALID_ARGUMENT (NULL, or `i`
 *  out of range). */
int aq_message_array(const aq_message *message, size_t i, aq_array *array);

/** Frees the message and the arrays it lends. NULL does nothing. */
void aq_message_free(aq_message *message);

/** Makes a new random CURVE key pair, each key written as 40 Z85 characters plus a NUL into
 *  buffers of at least AQ_CURVE_KEY_LENGTH + 1 bytes. Errors: AQ_EUNSUPPORTED,
 *  AQ_EINVALID_ARGUMENT, AQ_EZMQ. */
int aq_curve_keypair(char *public_key, char *secret_key);

/** Derives the public key of a Z85 secret key into `public_key` (AQ_CURVE_KEY_LENGTH + 1
 *  bytes). Errors: AQ_EUNSUPPORTED, AQ_EINVALID_ARGUMENT. */
int aq_curve_public_key(const char *secret_key, char *public_key);

#ifdef __cplusplus
}
#endif

#endif /* ARRAYQUEUES_H */
