/*
 * The parts of arrayqueues_swift._native shared by its files: _native.c (errors, waits, dtypes,
 * shapes, timestamps, the module), _native_buffers.c (the arrays a get returns),
 * _native_reader.c (get and get_record of queues and subscribers alike), _native_queue.c
 * (queue handles), _native_subscriber.c (broadcast subscribers), _native_lease.c (loans and
 * borrows), _native_lent.c (the arrays they lend), _native_batches.c (put_many, get_many) and
 * _native_transport.c (senders, receivers). Built with -fvisibility=hidden: nothing here leaves
 * the module.
 */
#ifndef ARRAYQUEUES_SWIFT_NATIVE_H
#define ARRAYQUEUES_SWIFT_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <time.h>

#include "arrayqueues.h"

/* Errors: the Python exception of a code, with the library's message for this thread. A
 * timeout means "full" for calls that wait for room and "empty" for calls that wait for a
 * record: the keys PUT_TIMEOUT and GET_TIMEOUT of the error table give it both meanings. */
#define PUT_TIMEOUT 1001
#define GET_TIMEOUT 1002
PyObject *raise_code(int code, const char *message);
/* The exception being raised, cleared (a new reference; NULL if none). */
PyObject *take_raised_exception(void);
PyObject *raise_last(int code);
PyObject *raise_wait(int code, int timeout_key);

/* Waits in slices, so that Python's signal handlers run and a close() by another thread ends
 * the wait (see _native.c). */
typedef struct {
    int64_t timeout;     /* the caller's: negative waits without limit, 0 does not wait */
    int64_t started;
    const int *closing;  /* the waited-on object's close() flag, or NULL */
} wait_t;
int64_t monotonic_ns(void);
wait_t wait_begin(int64_t timeout_ns, const int *closing);
int64_t wait_slice(const wait_t *wait);
int wait_again(const wait_t *wait);
/* A Python timeout in seconds (None: no limit; 0: do not wait) as nanoseconds (-1: no limit).
 * Returns -1 with InvalidArgument (a ValueError) set for a negative or NaN one, TypeError for
 * anything but a number or None. */
int timeout_from(PyObject *seconds, int64_t *nanoseconds);

/* dtypes and buffers */
int dtype_of_format(const char *format, Py_ssize_t itemsize);
const char *format_of_dtype(int dtype);
int get_array_buffer(PyObject *object, Py_buffer *view, PyObject **converted, int *dtype, int *ndim, int64_t *shape);
PyObject *shape_tuple(int ndim, const int64_t *shape);
PyObject *dtype_object(int dtype);
/* The aq_dtype code of a dtype argument (a numpy dtype, a scalar type such as numpy.uint8, or
 * anything numpy.dtype() takes); -1 with UnsupportedDType (or numpy's error) set otherwise. */
int dtype_code(PyObject *dtype);
/* A shape argument (an int or a sequence of ints) as extents, and as a tuple of ints for numpy
 * (`tuple` may be NULL). -1 with an exception set for anything else. */
int shape_from(PyObject *shape, int *ndim, int64_t *extents, PyObject **tuple);
/* An int argument in 0...maximum (a capacity, permission bits) as `*value`; -1 with
 * InvalidArgument naming `what` for an int outside it (PyArg's "K" and "I" would reduce it modulo
 * 2**64 or 2**32: 2**64 + 8192 bytes made an 8 KiB queue), TypeError for anything but an int. */
int unsigned_from(PyObject *object, unsigned long long maximum, const char *what, unsigned long long *value);
/* The AQ_PUT_* flags, timestamp and index of a record from the Python arguments: timestamp
 * None (now), nanoseconds as an int, or anything _time.timestamp_ns takes (a datetime, seconds
 * as a float); index None or an int. -1 with an exception set. */
int stamping_from(PyObject *timestamp, PyObject *index, int *flags, int64_t *timestamp_ns, int64_t *index_value);

/* Arrays a get returns (_native_buffers.c): numpy.empty, or reusable memory for large ones. */
PyObject *new_array(PyObject *shape, int dtype, Py_buffer *view);
/* `count` arrays of `dtype` and `shape`, views of `buffer` from byte `start` on, `stride` bytes apart. */
PyObject *array_rows(PyObject *buffer, size_t start, int dtype, int ndim, const int64_t *shape, size_t count, size_t stride);
int buffers_init(PyObject *numpy);
PyObject *native_pool_state(PyObject *module, PyObject *unused);

/* The dtype and shape of the previous record a reader took: its next get allocates that array
 * before it asks, which saves a second call when records keep their format (the common case). */
typedef struct {
    int dtype;
    int ndim;            /* -1 before the first record */
    int64_t shape[AQ_MAX_DIMS];
    PyObject *shape_tuple;
} format_cache;

/* What records are read from -- a queue handle or a broadcast subscriber (both kinds of object
 * start with ReaderHead) -- so that get, get_record and borrow are written once. `get` and
 * `borrow` are called without the GIL, between `enter` (which may refuse with an exception
 * set) and `leave`. */
typedef struct {
    int (*enter)(PyObject *reader);
    void (*leave)(PyObject *reader);
    int (*get)(PyObject *reader, void *buffer, size_t capacity, aq_record_info *info, int64_t timeout_ns);
    int (*borrow)(PyObject *reader, int64_t timeout_ns, aq_record_info *info, const void **data, aq_borrow **borrow);
} reader_ops;

struct QueueObject;
#define ReaderHead \
    PyObject_HEAD \
    const reader_ops *ops; \
    struct QueueObject *owner; /* the queue handle whose mapping the records are in (itself for a queue) */ \
    int closing;         /* close() was called: calls are refused, and waits end with Closed */ \
    format_cache last;

typedef struct { ReaderHead } ReaderObject;

/* get(timeout[, out]) -> ndarray and get_record(timeout[, out]) -> (ndarray, timestamp_ns,
 * index or None, sequence), for any reader. */
PyObject *reader_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *reader_get_record(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
void format_cache_clear(format_cache *cache);

/* A queue handle (_native_queue.c). */
typedef struct QueueObject {
    ReaderHead
    aq_queue *queue;
    int busy;            /* calls in progress with the GIL released; once closing, the handle
                          * goes when busy and dependents are 0 */
    Py_ssize_t dependents; /* loans and borrows that may still have arrays over the mapping */
    PyObject *pending_error; /* an error get_many met after it had taken records: those are
                              * returned first, and the error is raised by the next read call */
    struct kept_batch *kept; /* records get_many took but could not return (an exception came
                              * while it made their arrays), oldest first: every read call
                              * returns them before it takes others (_native_batches.c) */
    uint64_t batch_record_bytes; /* the largest record get_many has taken: its buffer's guess */
} QueueObject;
void queue_finish_close(QueueObject *self);
/* Frees the records get_many kept (at close: no call can return them any more). */
void kept_batches_free(QueueObject *self);
/* The records get_many kept, for the handle's other calls: they are older than any record
 * still in the queue, so get, get_record and borrow return them first (each producer's order
 * holds), and count and is_empty count them. kept_count: how many. kept_detach: the oldest
 * one's description, payload and the array that holds the payload (borrowed: the caller takes
 * a reference to keep it), with its batch detached from the handle while the caller makes
 * something of it (Python code may run meanwhile; NULL if none is kept or the handle is
 * closing). kept_attach puts the batch back in front -- past that record if it was `taken` --
 * or frees it when nothing is left in it or the handle was closed meanwhile. Neither can fail,
 * so a record is never lost on the way. */
size_t kept_count(const QueueObject *self);
/* Raises the error a get_many met after it had taken records (kept for the handle's next read
 * call, whichever it is, once the kept records are returned): -1 with it set, or 0 if none. */
int raise_pending_error(QueueObject *self);
struct kept_batch *kept_detach(QueueObject *self, aq_record_info *info, const void **payload, PyObject **buffer);
void kept_attach(QueueObject *self, struct kept_batch *batch, int taken);
int queue_enter(QueueObject *self);
void queue_leave(QueueObject *self);

/* Loans and borrows (_native_lease.c): each its own context manager, whose __enter__ reserves
 * or takes the record and returns a LoanedArray or BorrowedArray over it, and whose __exit__
 * commits, aborts or releases it. The arrays find their lease at the root of their base chain. */
enum { LEASE_NEW, LEASE_WAITING, LEASE_ACTIVE, LEASE_ENDED };
typedef struct {
    PyObject_HEAD
    PyObject *reader;    /* the queue handle or subscriber a borrow takes from (NULL for a loan) */
    QueueObject *owner;  /* keeps the mapping (through the queue handle) while arrays may point into it */
    int state;           /* LEASE_* */
    int writable;        /* a loan */
    aq_loan *loan;       /* while a loan is active */
    aq_borrow *borrow;   /* while a borrow is active */
    PyObject *kept;      /* a borrow of a record get_many kept: the array holding its payload
                          * (held until the lease goes, as the mapping is for other borrows) */
    void *data;
    size_t nbytes;
    int64_t timeout_ns;  /* of __enter__ */
    int flags;           /* a loan's AQ_PUT_* flags, timestamp and index */
    int64_t stamp;
    int64_t index;
    PyObject *shape_tuple; /* the array's shape (a loan's from its arguments) */
    aq_record_info info;
    Py_ssize_t shape[AQ_MAX_DIMS];
    Py_ssize_t strides[AQ_MAX_DIMS];
} LeaseObject;
PyObject *lease_loan(QueueObject *queue, PyObject *const *args, Py_ssize_t nargs);
PyObject *lease_borrow(PyObject *reader, PyObject *timeout);  /* borrow(timeout) of any reader */
int leases_init(void);
/* The arrays leases lend (_native_lent.c), made by lent_arrays_init. */
extern PyTypeObject *LoanedArrayType, *BorrowedArrayType;
int lent_arrays_init(PyObject *numpy, PyObject *module);
/* A LoanedArray or BorrowedArray over an active lease's record, with the lease as its base. */
PyObject *lent_array_new(LeaseObject *lease);
/* -1 with Closed raised if `object`, or an item of it when it is a list or tuple, is an array
 * (or a view of one) lent for a block that has ended; 0 otherwise. */
int refuse_ended_loans(PyObject *object);
/* numpy.empty(shape, dtype) through numpy's C API table, or NULL without an exception when the
 * module does not use the table. */
PyObject *numpy_api_empty(int dtype, PyObject *shape);
PyObject *index_or_none(const aq_record_info *info);

/* The types and module functions of the other files. */
extern PyTypeObject QueueType, LeaseType, SubscriberType, SenderType, ReceiverType;
extern const reader_ops queue_reader_ops, subscriber_reader_ops;
PyObject *queue_subscribe(QueueObject *self, PyObject *args);
PyObject *queue_put_many(QueueObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *queue_get_many(QueueObject *self, PyObject *const *args, Py_ssize_t nargs);
/* _get_many_test_hook(failures, signal): a test hook of python/tests (see _native_batches.c). */
PyObject *native_get_many_test_hook(PyObject *module, PyObject *args);
PyObject *native_open_queue(PyObject *module, PyObject *args);
PyObject *native_remove_queue(PyObject *module, PyObject *args);
PyObject *native_queue_exists(PyObject *module, PyObject *args);
PyObject *native_open_sender(PyObject *module, PyObject *args);
PyObject *native_open_receiver(PyObject *module, PyObject *args);

#endif
