/*
 * The parts of arrayqueues_swift._native shared by its files: _native.c (errors, waits, dtypes
 * and buffers, the module), _native_buffers.c (the arrays a get returns), _native_queue.c
 * (queues, loans, borrows), _native_subscriber.c (broadcast subscribers), _native_batches.c
 * (put_many, get_many) and _native_transport.c (senders, receivers). Built with -fvisibility=hidden: nothing here leaves the module.
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
PyObject *raise_last(int code);
PyObject *raise_wait(int code, int timeout_key);

/* Waits in slices, so that Python's signal handlers run (see _native.c). */
typedef struct {
    int64_t timeout;  /* the caller's: negative waits without limit, 0 does not wait */
    int64_t started;
} wait_t;
int64_t monotonic_ns(void);
wait_t wait_begin(int64_t timeout_ns);
int64_t wait_slice(const wait_t *wait);
int wait_again(const wait_t *wait);
/* A Python timeout in seconds (None: no limit; 0 or less: do not wait) as nanoseconds
 * (-1: no limit). Returns -1 with TypeError or ValueError set for anything else. */
int timeout_from(PyObject *seconds, int64_t *nanoseconds);

/* dtypes and buffers */
int dtype_of_format(const char *format, Py_ssize_t itemsize);
const char *format_of_dtype(int dtype);
int get_array_buffer(PyObject *object, Py_buffer *view, PyObject **converted, int *dtype, int *ndim, int64_t *shape);
PyObject *shape_tuple(int ndim, const int64_t *shape);
PyObject *dtype_object(int dtype);

/* Arrays a get returns (_native_buffers.c): numpy.empty, or reusable memory for large ones. */
PyObject *new_array(PyObject *shape, int dtype, Py_buffer *view);
PyObject *array_rows(PyObject *buffer, int dtype, int ndim, const int64_t *shape, size_t count, size_t stride);
int buffers_init(PyObject *numpy);
PyObject *native_pool_state(PyObject *module, PyObject *unused);

/* A queue handle (_native_queue.c) and the loans and borrows it lends, also those of its
 * broadcast subscribers (_native_subscriber.c). */
typedef struct {
    PyObject_HEAD
    aq_queue *queue;
    int busy;            /* calls in progress with the GIL released */
    int closing;         /* close() was called; the handle goes when busy and dependents are 0 */
    Py_ssize_t dependents; /* loans and borrows that may still have arrays over the mapping */
    /* The previous record's format: the next get allocates it before it asks, which saves a
     * second call when records keep their dtype and shape (the common case). */
    int last_dtype;
    int last_ndim;
    int64_t last_shape[AQ_MAX_DIMS];
    PyObject *last_shape_tuple;
} QueueObject;
void queue_finish_close(QueueObject *self);
int queue_enter(QueueObject *self);
void queue_leave(QueueObject *self);

typedef struct {
    PyObject_HEAD
    QueueObject *owner;  /* keeps the mapping (through the queue handle) while arrays may point into it */
    aq_loan *loan;       /* for a loan */
    aq_borrow *borrow;   /* for a borrow */
    void *data;
    size_t nbytes;
    int writable;
    int active;          /* 1 until commit/abort/release */
    aq_record_info info;
    Py_ssize_t shape[AQ_MAX_DIMS];
    Py_ssize_t strides[AQ_MAX_DIMS];
} LeaseObject;
LeaseObject *lease_new(QueueObject *owner, const aq_record_info *info);
PyObject *index_or_none(const aq_record_info *info);

/* The types and module functions of _native_queue.c and _native_transport.c. */
extern PyTypeObject QueueType, LeaseType, SubscriberType, SenderType, ReceiverType;
PyObject *queue_subscribe(QueueObject *self, PyObject *args);
PyObject *queue_put_many(QueueObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *queue_get_many(QueueObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_open_queue(PyObject *module, PyObject *args);
PyObject *native_remove_queue(PyObject *module, PyObject *args);
PyObject *native_queue_exists(PyObject *module, PyObject *args);
PyObject *native_open_sender(PyObject *module, PyObject *args);
PyObject *native_open_receiver(PyObject *module, PyObject *args);

#endif
