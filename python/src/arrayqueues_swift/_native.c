/*
 * arrayqueues_swift._native: the extension module over the C interface of ArrayQueues
 * (arrayqueues.h). It only converts: Python objects to the C calls' arguments and results
 * back, with the GIL released while a call may wait. Everything a queue does is done by the
 * Swift library behind the header; the Python classes in __init__.py, queue.py and
 * transport.py give it its public face.
 *
 * Why an extension module rather than ctypes or cffi: a put or get through ctypes costs ~10x
 * and through cffi ~4x the time of this module's (measured; see python/README.md), which
 * decides the rate of small arrays.
 *
 * numpy is used through Python calls only (numpy.empty, numpy.dtype), not its C API, so that
 * building needs nothing but Python's headers and the library's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <time.h>

#include "arrayqueues.h"

/* MARK: - Module state */

static PyObject *numpy_empty;          /* numpy.empty */
static PyObject *numpy_asarray;        /* numpy.asarray */
static PyObject *dtype_objects[16];    /* numpy.dtype per aq_dtype code */
static PyObject *error_classes;        /* dict: code -> exception class (set by _set_errors) */
static PyObject *base_error;           /* the class for codes missing from the dict */
static PyObject *order_c;              /* "C" */

/* Raises the Python exception of `code`, with the library's message for this thread. */
static PyObject *raise_code(int code, const char *message) {
    PyObject *cls = NULL;
    if (error_classes) {
        PyObject *key = PyLong_FromLong(code);
        if (key) {
            cls = PyDict_GetItemWithError(error_classes, key);
            Py_DECREF(key);
        }
    }
    if (!cls) cls = base_error ? base_error : PyExc_RuntimeError;
    PyObject *exception = PyObject_CallFunction(cls, "sii", message, code, aq_last_errno());
    if (exception) {
        PyErr_SetObject((PyObject *)Py_TYPE(exception), exception);
        Py_DECREF(exception);
    }
    return NULL;
}

static PyObject *raise_last(int code) {
    const char *message = aq_last_error_message();
    return raise_code(code, (message && *message) ? message : aq_strerror(code));
}

/* A timeout means "full" for calls that wait for room and "empty" for calls that wait for a
 * record: the keys PUT_TIMEOUT and GET_TIMEOUT of the error table give it both meanings. */
#define PUT_TIMEOUT 1001
#define GET_TIMEOUT 1002

static PyObject *raise_wait(int code, int timeout_key) {
    const char *message = aq_last_error_message();
    return raise_code(code == AQ_ETIMEOUT ? timeout_key : code, (message && *message) ? message : aq_strerror(code));
}

/* Timeouts arrive as nanoseconds (negative: forever); a deadline lets a retry use what is left. */
static int64_t monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* A blocking call of the library ends only when it is done or times out; a signal does not end
 * it (docs/C_API.md). So that Ctrl-C works, long waits go in slices of at most WAIT_SLICE_NS,
 * and between slices Python's signal handlers run (KeyboardInterrupt ends the wait). */
#define WAIT_SLICE_NS 100000000

typedef struct {
    int64_t timeout;  /* the caller's: negative waits without limit, 0 does not wait */
    int64_t started;
} wait_t;

static wait_t wait_begin(int64_t timeout_ns) {
    wait_t wait = {timeout_ns, timeout_ns > 0 ? monotonic_ns() : 0};
    return wait;
}

/* The timeout of the next slice: never 0 unless the caller asked not to wait (a 0 would turn
 * a timeout into "full" or "empty"). */
static int64_t wait_slice(const wait_t *wait) {
    if (wait->timeout <= 0) return wait->timeout == 0 ? 0 : WAIT_SLICE_NS;
    int64_t left = wait->timeout - (monotonic_ns() - wait->started);
    if (left < 1) left = 1;
    return left < WAIT_SLICE_NS ? left : WAIT_SLICE_NS;
}

/* After a slice that timed out: 1 to wait another slice, 0 when the caller's timeout has
 * passed, -1 when a signal handler raised (the exception is set). Needs the GIL. */
static int wait_again(const wait_t *wait) {
    if (wait->timeout == 0) return 0;
    if (wait->timeout > 0 && monotonic_ns() - wait->started >= wait->timeout) return 0;
    return PyErr_CheckSignals() < 0 ? -1 : 1;
}

/* MARK: - dtypes and buffers */

/* The aq_dtype of a buffer's struct format (numpy exports native formats without a prefix). */
static int dtype_of_format(const char *format, Py_ssize_t itemsize) {
    if (!format) return AQ_DTYPE_UINT8;
    if (*format == '@' || *format == '=' || *format == '<') format++;
    if (format[0] == 'Z' && format[1] == 'f' && format[2] == 0) return AQ_DTYPE_COMPLEX64;
    if (format[0] == 'Z' && format[1] == 'd' && format[2] == 0) return AQ_DTYPE_COMPLEX128;
    if (format[0] == 0 || format[1] != 0) return AQ_EUNSUPPORTED_DTYPE;
    switch (format[0]) {
    case '?': return AQ_DTYPE_BOOL;
    case 'b': return AQ_DTYPE_INT8;
    case 'B': return AQ_DTYPE_UINT8;
    case 'h': return AQ_DTYPE_INT16;
    case 'H': return AQ_DTYPE_UINT16;
    case 'i': return itemsize == 4 ? AQ_DTYPE_INT32 : AQ_EUNSUPPORTED_DTYPE;
    case 'I': return itemsize == 4 ? AQ_DTYPE_UINT32 : AQ_EUNSUPPORTED_DTYPE;
    case 'l': case 'q': return itemsize == 8 ? AQ_DTYPE_INT64 : (itemsize == 4 ? AQ_DTYPE_INT32 : AQ_EUNSUPPORTED_DTYPE);
    case 'L': case 'Q': return itemsize == 8 ? AQ_DTYPE_UINT64 : (itemsize == 4 ? AQ_DTYPE_UINT32 : AQ_EUNSUPPORTED_DTYPE);
    case 'e': return AQ_DTYPE_FLOAT16;
    case 'f': return AQ_DTYPE_FLOAT32;
    case 'd': return AQ_DTYPE_FLOAT64;
    default: return AQ_EUNSUPPORTED_DTYPE;
    }
}

/* The struct format a buffer of an aq_dtype exports. */
static const char *format_of_dtype(int dtype) {
    static const char *formats[] = {NULL, "?", "b", "B", "h", "H", "i", "I", "q", "Q", "e", "f", "d", "Zf", "Zd"};
    return dtype >= 1 && dtype <= 14 ? formats[dtype] : "B";
}

/* A C-contiguous buffer of `object`, converting it with numpy.asarray(object, order="C") if it
 * is not one already (a strided view, a list, ...). Fills dtype, ndim and shape. */
static int get_array_buffer(PyObject *object, Py_buffer *view, PyObject **converted, int *dtype, int *ndim, int64_t *shape) {
    *converted = NULL;
    if (PyObject_GetBuffer(object, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        *converted = PyObject_CallFunctionObjArgs(numpy_asarray, object, Py_None, order_c, NULL);
        if (!*converted) return -1;
        if (PyObject_GetBuffer(*converted, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
            /* numpy exports no buffer for datetimes, strings, objects, ... */
            PyErr_Clear();
            Py_CLEAR(*converted);
            raise_code(AQ_EUNSUPPORTED_DTYPE, "ArrayQueues supports bool, int8-64, uint8-64, float16-64, complex64 and complex128 (little-endian) arrays");
            return -1;
        }
    }
    *dtype = dtype_of_format(view->format, view->itemsize);
    if (*dtype < 0) {
        raise_code(AQ_EUNSUPPORTED_DTYPE, "ArrayQueues supports bool, int8-64, uint8-64, float16-64, complex64 and complex128 (little-endian) arrays");
        goto fail;
    }
    if (view->ndim > AQ_MAX_DIMS) {
        raise_code(AQ_EINVALID_SHAPE, "an array may have at most 32 dimensions");
        goto fail;
    }
    *ndim = view->ndim;
    for (int i = 0; i < view->ndim; i++) shape[i] = view->shape[i];
    if (view->ndim == 0 && view->len != view->itemsize) { /* a 1-d bytes-like object without shape */
        *ndim = 1;
        shape[0] = view->len / (view->itemsize ? view->itemsize : 1);
    }
    return 0;
fail:
    PyBuffer_Release(view);
    Py_CLEAR(*converted);
    return -1;
}

static PyObject *shape_tuple(int ndim, const int64_t *shape) {
    PyObject *tuple = PyTuple_New(ndim);
    if (!tuple) return NULL;
    for (int i = 0; i < ndim; i++) {
        PyObject *extent = PyLong_FromLongLong(shape[i]);
        if (!extent) { Py_DECREF(tuple); return NULL; }
        PyTuple_SET_ITEM(tuple, i, extent);
    }
    return tuple;
}

static PyObject *dtype_object(int dtype) {
    if (dtype < 1 || dtype > 14 || !dtype_objects[dtype]) {
        return raise_code(AQ_EUNSUPPORTED_DTYPE, "a record has an unknown dtype code");
    }
    Py_INCREF(dtype_objects[dtype]);
    return dtype_objects[dtype];
}

/* A new, uninitialized ndarray and its writable buffer. */
static PyObject *new_array(PyObject *shape, int dtype, Py_buffer *view) {
    PyObject *dtype_obj = dtype_object(dtype);
    if (!dtype_obj) return NULL;
    PyObject *array = PyObject_CallFunctionObjArgs(numpy_empty, shape, dtype_obj, NULL);
    Py_DECREF(dtype_obj);
    if (!array) return NULL;
    if (PyObject_GetBuffer(array, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        Py_DECREF(array);
        return NULL;
    }
    return array;
}

/* MARK: - Queue */

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

static PyTypeObject QueueType;

static void queue_finish_close(QueueObject *self) {
    if (self->queue && self->closing && self->busy == 0 && self->dependents == 0) {
        aq_queue *queue = self->queue;
        self->queue = NULL;
        aq_queue_close(queue);
    }
}

static int queue_enter(QueueObject *self) {
    if (!self->queue || self->closing) {
        raise_code(AQ_ECLOSED, "the queue handle is closed");
        return -1;
    }
    self->busy++;
    return 0;
}

static void queue_leave(QueueObject *self) {
    self->busy--;
    queue_finish_close(self);
}

static PyObject *queue_wrap(aq_queue *queue) {
    QueueObject *self = PyObject_New(QueueObject, &QueueType);
    if (!self) { aq_queue_close(queue); return NULL; }
    self->queue = queue;
    self->busy = 0;
    self->closing = 0;
    self->dependents = 0;
    self->last_dtype = 0;
    self->last_ndim = -1;
    self->last_shape_tuple = NULL;
    return (PyObject *)self;
}

static void queue_dealloc(QueueObject *self) {
    Py_CLEAR(self->last_shape_tuple);
    if (self->queue) aq_queue_close(self->queue);
    PyObject_Free(self);
}

static int fill_options(aq_queue_options *options, int overflow, int shape_change, long long spin_ns, unsigned int mode) {
    aq_queue_options_init(options);
    options->overflow = overflow;
    options->shape_change = shape_change;
    if (spin_ns >= 0) options->spin_ns = spin_ns;
    if (mode) options->mode = mode;
    return 0;
}

/* _native.open_queue(name, how, capacity, overflow, shape_change, spin_ns, mode); how: 0 create, 1 open, 2 open or create. */
static PyObject *native_open_queue(PyObject *module, PyObject *args) {
    const char *name;
    int how, overflow, shape_change;
    unsigned long long capacity;
    long long spin_ns;
    unsigned int mode;
    if (!PyArg_ParseTuple(args, "siKiiLI", &name, &how, &capacity, &overflow, &shape_change, &spin_ns, &mode)) return NULL;
    aq_queue_options options;
    fill_options(&options, overflow, shape_change, spin_ns, mode);
    aq_queue *queue = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    if (how == 0) rc = aq_queue_create(name, capacity, &options, &queue);
    else if (how == 1) rc = aq_queue_open(name, &options, &queue);
    else rc = aq_queue_open_or_create(name, capacity, &options, &queue);
    Py_END_ALLOW_THREADS
    if (rc < 0) return raise_last(rc);
    return queue_wrap(queue);
}

static PyObject *native_remove_queue(PyObject *module, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    int rc = aq_queue_remove(name);
    if (rc < 0) return raise_last(rc);
    Py_RETURN_NONE;
}

static PyObject *native_queue_exists(PyObject *module, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    return PyBool_FromLong(aq_queue_exists(name) == 1);
}

/* put(array, timeout_ns, flags, timestamp_ns, index) */
static PyObject *queue_put(QueueObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) { PyErr_SetString(PyExc_TypeError, "put takes 5 arguments"); return NULL; }
    int64_t timeout_ns = PyLong_AsLongLong(args[1]);
    int flags = (int)PyLong_AsLong(args[2]);
    int64_t timestamp_ns = PyLong_AsLongLong(args[3]);
    int64_t index = PyLong_AsLongLong(args[4]);
    if (PyErr_Occurred()) return NULL;
    Py_buffer view;
    PyObject *converted;
    int dtype, ndim;
    int64_t shape[AQ_MAX_DIMS];
    if (get_array_buffer(args[0], &view, &converted, &dtype, &ndim, shape) < 0) return NULL;
    if (queue_enter(self) < 0) { PyBuffer_Release(&view); Py_XDECREF(converted); return NULL; }
    int rc, again = 0;
    wait_t wait = wait_begin(timeout_ns);
    do {
        int64_t slice = wait_slice(&wait);
        Py_BEGIN_ALLOW_THREADS
        rc = aq_queue_put(self->queue, dtype, ndim, shape, view.buf, (size_t)view.len, slice, flags, timestamp_ns, index);
        Py_END_ALLOW_THREADS
    } while (rc == AQ_ETIMEOUT && (again = wait_again(&wait)) > 0);
    queue_leave(self);
    PyBuffer_Release(&view);
    Py_XDECREF(converted);
    if (again < 0) return NULL;
    if (rc < 0) return raise_wait(rc, PUT_TIMEOUT);
    Py_RETURN_NONE;
}

/* Takes the next record into a new array. */
static PyObject *queue_take(QueueObject *self, int64_t timeout_ns, aq_record_info *info) {
    if (queue_enter(self) < 0) return NULL;
    wait_t wait = wait_begin(timeout_ns);
    PyObject *array = NULL;
    Py_buffer view = {0};
    if (self->last_shape_tuple) {
        array = new_array(self->last_shape_tuple, self->last_dtype, &view);
        if (!array) goto fail;
    }
    for (;;) {
        int rc;
        void *buffer = array ? view.buf : NULL;
        size_t capacity = array ? (size_t)view.len : 0;
        int64_t slice = wait_slice(&wait);
        Py_BEGIN_ALLOW_THREADS
        rc = aq_queue_get(self->queue, buffer, capacity, info, slice);
        Py_END_ALLOW_THREADS
        if (rc == AQ_ETIMEOUT) {
            int again = wait_again(&wait);
            if (again > 0) continue;
            if (again < 0) goto fail;
        }
        int same = rc == 0 && array && info->dtype == self->last_dtype && info->ndim == self->last_ndim &&
                   memcmp(info->shape, self->last_shape, sizeof(int64_t) * (size_t)info->ndim) == 0;
        if (rc == 0 && same) break;
        if (rc < 0 && rc != AQ_EBUFFER_TOO_SMALL) { raise_wait(rc, GET_TIMEOUT); goto fail; }
        /* Another format: remember it, and either reinterpret the bytes received (rc == 0) or
         * allocate the right array and ask again (the record stayed in the queue). */
        PyObject *shape = shape_tuple(info->ndim, info->shape);
        if (!shape) goto fail;
        Py_XSETREF(self->last_shape_tuple, shape);
        self->last_dtype = info->dtype;
        self->last_ndim = info->ndim;
        memcpy(self->last_shape, info->shape, sizeof(int64_t) * (size_t)info->ndim);
        Py_buffer fresh;
        PyObject *replacement = new_array(shape, info->dtype, &fresh);
        if (!replacement) goto fail;
        if (rc == 0 && info->nbytes) memcpy(fresh.buf, view.buf, info->nbytes);
        if (array) { PyBuffer_Release(&view); Py_DECREF(array); }
        array = replacement;
        view = fresh;
        if (rc == 0) break;
    }
    PyBuffer_Release(&view);
    queue_leave(self);
    return array;
fail:
    if (array) { PyBuffer_Release(&view); Py_DECREF(array); }
    queue_leave(self);
    return NULL;
}

static PyObject *queue_get(QueueObject *self, PyObject *arg) {
    int64_t timeout_ns = PyLong_AsLongLong(arg);
    if (timeout_ns == -1 && PyErr_Occurred()) return NULL;
    aq_record_info info;
    return queue_take(self, timeout_ns, &info);
}

static PyObject *index_or_none(const aq_record_info *info) {
    if (info->has_index) return PyLong_FromLongLong(info->index);
    Py_RETURN_NONE;
}

/* get_record(timeout_ns) -> (array, timestamp_ns, index or None, sequence) */
static PyObject *queue_get_record(QueueObject *self, PyObject *arg) {
    int64_t timeout_ns = PyLong_AsLongLong(arg);
    if (timeout_ns == -1 && PyErr_Occurred()) return NULL;
    aq_record_info info;
    PyObject *array = queue_take(self, timeout_ns, &info);
    if (!array) return NULL;
    PyObject *index = index_or_none(&info);
    PyObject *result = Py_BuildValue("(NLNK)", array, (long long)info.timestamp_ns, index, (unsigned long long)info.sequence);
    return result;
}

/* MARK: - Loans and borrows: buffers over a record in shared memory */

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

static PyTypeObject LeaseType;

static LeaseObject *lease_new(QueueObject *owner, const aq_record_info *info) {
    LeaseObject *self = PyObject_New(LeaseObject, &LeaseType);
    if (!self) return NULL;
    Py_INCREF(owner);
    owner->dependents++;
    self->owner = owner;
    self->loan = NULL;
    self->borrow = NULL;
    self->info = *info;
    self->active = 1;
    Py_ssize_t itemsize = aq_dtype_itemsize(info->dtype);
    if (itemsize <= 0) itemsize = 1;
    Py_ssize_t stride = itemsize;
    for (int i = info->ndim - 1; i >= 0; i--) {
        self->shape[i] = (Py_ssize_t)info->shape[i];
        self->strides[i] = stride;
        stride *= info->shape[i] > 0 ? (Py_ssize_t)info->shape[i] : 1;
    }
    return self;
}

static void lease_end(LeaseObject *self) {
    self->active = 0;
    if (self->borrow) { aq_borrow_release(self->borrow); self->borrow = NULL; }
    if (self->loan) { aq_loan_abort(self->loan); self->loan = NULL; }
}

static void lease_dealloc(LeaseObject *self) {
    lease_end(self);
    QueueObject *owner = self->owner;
    owner->dependents--;
    queue_finish_close(owner);
    Py_DECREF(owner);
    PyObject_Free(self);
}

static int lease_getbuffer(LeaseObject *self, Py_buffer *view, int flags) {
    if (!self->active) {
        raise_code(AQ_ECLOSED, "this loan or borrow has ended: its memory belongs to the queue again");
        view->obj = NULL;
        return -1;
    }
    if ((flags & PyBUF_WRITABLE) && !self->writable) {
        PyErr_SetString(PyExc_BufferError, "a borrowed record is read-only");
        view->obj = NULL;
        return -1;
    }
    view->buf = self->data;
    view->obj = (PyObject *)self;
    Py_INCREF(self);
    view->len = (Py_ssize_t)self->nbytes;
    view->readonly = !self->writable;
    view->itemsize = aq_dtype_itemsize(self->info.dtype);
    view->format = (flags & PyBUF_FORMAT) ? (char *)format_of_dtype(self->info.dtype) : NULL;
    view->ndim = self->info.ndim;
    view->shape = (flags & PyBUF_ND) ? self->shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? self->strides : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    return 0;
}

static PyBufferProcs lease_buffer = {(getbufferproc)lease_getbuffer, NULL};

/* loan(dtype, shape, timeout_ns, flags, timestamp_ns, index) -> Lease (writable) */
static PyObject *queue_loan(QueueObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) { PyErr_SetString(PyExc_TypeError, "loan takes 6 arguments"); return NULL; }
    int dtype = (int)PyLong_AsLong(args[0]);
    PyObject *shape_obj = args[1];
    int64_t timeout_ns = PyLong_AsLongLong(args[2]);
    int flags = (int)PyLong_AsLong(args[3]);
    int64_t timestamp_ns = PyLong_AsLongLong(args[4]);
    int64_t index = PyLong_AsLongLong(args[5]);
    if (PyErr_Occurred()) return NULL;
    if (!PyTuple_Check(shape_obj) || PyTuple_GET_SIZE(shape_obj) > AQ_MAX_DIMS) {
        return raise_code(AQ_EINVALID_SHAPE, "the shape must be a tuple of at most 32 extents");
    }
    aq_record_info info = {0};
    info.dtype = dtype;
    info.ndim = (int)PyTuple_GET_SIZE(shape_obj);
    for (int i = 0; i < info.ndim; i++) {
        info.shape[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(shape_obj, i));
        if (info.shape[i] == -1 && PyErr_Occurred()) return NULL;
    }
    if (queue_enter(self) < 0) return NULL;
    void *data = NULL;
    size_t nbytes = 0;
    aq_loan *loan = NULL;
    int rc, again = 0;
    wait_t wait = wait_begin(timeout_ns);
    do {
        int64_t slice = wait_slice(&wait);
        Py_BEGIN_ALLOW_THREADS
        rc = aq_queue_loan(self->queue, dtype, info.ndim, info.shape, slice, flags, timestamp_ns, index, &data, &nbytes, &loan);
        Py_END_ALLOW_THREADS
    } while (rc == AQ_ETIMEOUT && (again = wait_again(&wait)) > 0);
    queue_leave(self);
    if (again < 0) return NULL;
    if (rc < 0) return raise_wait(rc, PUT_TIMEOUT);
    info.nbytes = nbytes;
    LeaseObject *lease = lease_new(self, &info);
    if (!lease) { aq_loan_abort(loan); return NULL; }
    lease->loan = loan;
    lease->data = data;
    lease->nbytes = nbytes;
    lease->writable = 1;
    return (PyObject *)lease;
}

/* borrow(timeout_ns) -> Lease (read-only) */
static PyObject *queue_borrow(QueueObject *self, PyObject *arg) {
    int64_t timeout_ns = PyLong_AsLongLong(arg);
    if (timeout_ns == -1 && PyErr_Occurred()) return NULL;
    if (queue_enter(self) < 0) return NULL;
    aq_record_info info;
    const void *data = NULL;
    aq_borrow *borrow = NULL;
    int rc, again = 0;
    wait_t wait = wait_begin(timeout_ns);
    do {
        int64_t slice = wait_slice(&wait);
        Py_BEGIN_ALLOW_THREADS
        rc = aq_queue_borrow(self->queue, slice, &info, &data, &borrow);
        Py_END_ALLOW_THREADS
    } while (rc == AQ_ETIMEOUT && (again = wait_again(&wait)) > 0);
    queue_leave(self);
    if (again < 0) return NULL;
    if (rc < 0) return raise_wait(rc, GET_TIMEOUT);
    LeaseObject *lease = lease_new(self, &info);
    if (!lease) { aq_borrow_release(borrow); return NULL; }
    lease->borrow = borrow;
    lease->data = (void *)data;
    lease->nbytes = (size_t)info.nbytes;
    lease->writable = 0;
    return (PyObject *)lease;
}

static PyObject *lease_commit(LeaseObject *self, PyObject *unused) {
    if (!self->active || !self->loan) return raise_code(AQ_ECLOSED, "this loan has ended already");
    aq_loan *loan = self->loan;
    self->loan = NULL;
    self->active = 0;
    int rc = aq_loan_commit(loan);
    if (rc < 0) return raise_last(rc);
    Py_RETURN_NONE;
}

/* release(): ends a borrow, or aborts a loan that was not committed. Idempotent. */
static PyObject *lease_release(LeaseObject *self, PyObject *unused) {
    lease_end(self);
    Py_RETURN_NONE;
}

static PyObject *lease_get_active(LeaseObject *self, void *unused) { return PyBool_FromLong(self->active); }
static PyObject *lease_get_dtype(LeaseObject *self, void *unused) { return dtype_object(self->info.dtype); }
static PyObject *lease_get_shape(LeaseObject *self, void *unused) { return shape_tuple(self->info.ndim, self->info.shape); }
static PyObject *lease_get_timestamp(LeaseObject *self, void *unused) { return PyLong_FromLongLong(self->info.timestamp_ns); }
static PyObject *lease_get_index(LeaseObject *self, void *unused) { return index_or_none(&self->info); }
static PyObject *lease_get_sequence(LeaseObject *self, void *unused) { return PyLong_FromUnsignedLongLong(self->info.sequence); }
static PyObject *lease_get_nbytes(LeaseObject *self, void *unused) { return PyLong_FromSize_t(self->nbytes); }

static PyGetSetDef lease_getset[] = {
    {"active", (getter)lease_get_active, NULL, "Whether the loan or borrow is still in force.", NULL},
    {"dtype", (getter)lease_get_dtype, NULL, "The record's numpy dtype.", NULL},
    {"shape", (getter)lease_get_shape, NULL, "The record's shape.", NULL},
    {"timestamp_ns", (getter)lease_get_timestamp, NULL, "Nanoseconds since the Unix epoch (borrows).", NULL},
    {"index", (getter)lease_get_index, NULL, "The producer's index, or None (borrows).", NULL},
    {"sequence", (getter)lease_get_sequence, NULL, "The queue-wide sequence number (borrows).", NULL},
    {"nbytes", (getter)lease_get_nbytes, NULL, "Payload bytes.", NULL},
    {NULL},
};

static PyMethodDef lease_methods[] = {
    {"commit", (PyCFunction)lease_commit, METH_NOARGS, "Publishes a loaned record."},
    {"release", (PyCFunction)lease_release, METH_NOARGS, "Ends a borrow, or aborts an uncommitted loan."},
    {NULL},
};

static PyTypeObject LeaseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "arrayqueues_swift._native.Lease",
    .tp_basicsize = sizeof(LeaseObject),
    .tp_dealloc = (destructor)lease_dealloc,
    .tp_as_buffer = &lease_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A record in shared memory lent to this process: a loan (writable, unpublished) or a borrow (read-only).",
    .tp_methods = lease_methods,
    .tp_getset = lease_getset,
};

/* MARK: - Queue: the rest */

static PyObject *queue_count(QueueObject *self, PyObject *unused) {
    if (queue_enter(self) < 0) return NULL;
    int64_t count = aq_queue_count(self->queue);
    queue_leave(self);
    if (count < 0) return raise_last((int)count);
    return PyLong_FromLongLong(count);
}

static PyObject *queue_is_empty(QueueObject *self, PyObject *unused) {
    if (queue_enter(self) < 0) return NULL;
    int rc = aq_queue_is_empty(self->queue);
    queue_leave(self);
    if (rc < 0) return raise_last(rc);
    return PyBool_FromLong(rc);
}

static PyObject *queue_clear(QueueObject *self, PyObject *unused) {
    if (queue_enter(self) < 0) return NULL;
    int64_t dropped;
    Py_BEGIN_ALLOW_THREADS
    dropped = aq_queue_clear(self->queue);
    Py_END_ALLOW_THREADS
    queue_leave(self);
    if (dropped < 0) return raise_last((int)dropped);
    return PyLong_FromLongLong(dropped);
}

static PyObject *queue_recover(QueueObject *self, PyObject *unused) {
    if (queue_enter(self) < 0) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = aq_queue_recover(self->queue);
    Py_END_ALLOW_THREADS
    queue_leave(self);
    if (rc < 0) return raise_last(rc);
    return PyBool_FromLong(rc);
}

static PyObject *queue_is_removed(QueueObject *self, PyObject *unused) {
    if (queue_enter(self) < 0) return NULL;
    int rc = aq_queue_is_removed(self->queue);
    queue_leave(self);
    if (rc < 0) return raise_last(rc);
    return PyBool_FromLong(rc);
}

static PyObject *queue_statistics(QueueObject *self, PyObject *unused) {
    if (queue_enter(self) < 0) return NULL;
    aq_queue_statistics s = {.size = sizeof(aq_queue_statistics)};
    int rc = aq_queue_statistics_get(self->queue, &s);
    queue_leave(self);
    if (rc < 0) return raise_last(rc);
    return Py_BuildValue("{sKsKsKsKsKsKsKsKsKsKsK}",
        "capacity", (unsigned long long)s.capacity, "bytes_used", (unsigned long long)s.bytes_used,
        "count", (unsigned long long)s.count, "puts", (unsigned long long)s.puts, "gets", (unsigned long long)s.gets,
        "drops", (unsigned long long)s.drops, "resets", (unsigned long long)s.resets, "clears", (unsigned long long)s.clears,
        "abandoned_writes", (unsigned long long)s.abandoned_writes, "lost_reads", (unsigned long long)s.lost_reads,
        "next_sequence", (unsigned long long)s.next_sequence);
}

static PyObject *queue_info(QueueObject *self, PyObject *unused) {
    if (queue_enter(self) < 0) return NULL;
    aq_queue_info s = {.size = sizeof(aq_queue_info)};
    int rc = aq_queue_info_get(self->queue, &s);
    queue_leave(self);
    if (rc < 0) return raise_last(rc);
    return Py_BuildValue("{sKsKsisisLsi}",
        "capacity", (unsigned long long)s.capacity, "segment_size", (unsigned long long)s.segment_size,
        "layout_version", (int)s.layout_version, "creator_pid", (int)s.creator_pid,
        "created_ns", (long long)s.created_ns, "shape_change", (int)s.shape_change);
}

static PyObject *queue_close(QueueObject *self, PyObject *unused) {
    self->closing = 1;
    queue_finish_close(self);
    Py_RETURN_NONE;
}

static PyObject *queue_get_closed(QueueObject *self, void *unused) { return PyBool_FromLong(!self->queue || self->closing); }

static PyObject *queue_get_name(QueueObject *self, void *unused) {
    if (!self->queue) return raise_code(AQ_ECLOSED, "the queue handle is closed");
    return PyUnicode_FromString(aq_queue_name(self->queue));
}

static PyObject *queue_get_capacity(QueueObject *self, void *unused) {
    if (!self->queue) return raise_code(AQ_ECLOSED, "the queue handle is closed");
    return PyLong_FromLongLong(aq_queue_capacity(self->queue));
}

static PyMethodDef queue_methods[] = {
    {"put", (PyCFunction)(void (*)(void))queue_put, METH_FASTCALL, "put(array, timeout_ns, flags, timestamp_ns, index)"},
    {"get", (PyCFunction)queue_get, METH_O, "get(timeout_ns) -> ndarray"},
    {"get_record", (PyCFunction)queue_get_record, METH_O, "get_record(timeout_ns) -> (ndarray, timestamp_ns, index, sequence)"},
    {"loan", (PyCFunction)(void (*)(void))queue_loan, METH_FASTCALL, "loan(dtype, shape, timeout_ns, flags, timestamp_ns, index) -> Lease"},
    {"borrow", (PyCFunction)queue_borrow, METH_O, "borrow(timeout_ns) -> Lease"},
    {"count", (PyCFunction)queue_count, METH_NOARGS, "Records waiting."},
    {"is_empty", (PyCFunction)queue_is_empty, METH_NOARGS, "Whether no record is waiting."},
    {"clear", (PyCFunction)queue_clear, METH_NOARGS, "Drops the waiting records; returns how many."},
    {"recover", (PyCFunction)queue_recover, METH_NOARGS, "Frees records of dead processes."},
    {"is_removed", (PyCFunction)queue_is_removed, METH_NOARGS, "Whether the name was removed since this handle opened it."},
    {"statistics", (PyCFunction)queue_statistics, METH_NOARGS, "Counters, as a dict."},
    {"info", (PyCFunction)queue_info, METH_NOARGS, "Facts fixed at creation, as a dict."},
    {"close", (PyCFunction)queue_close, METH_NOARGS, "Frees the handle (once loans and borrows are gone)."},
    {NULL},
};

static PyGetSetDef queue_getset[] = {
    {"closed", (getter)queue_get_closed, NULL, "Whether close() was called.", NULL},
    {"name", (getter)queue_get_name, NULL, "The queue's name.", NULL},
    {"capacity", (getter)queue_get_capacity, NULL, "Bytes of the ring.", NULL},
    {NULL},
};

static PyTypeObject QueueType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "arrayqueues_swift._native.Queue",
    .tp_basicsize = sizeof(QueueObject),
    .tp_dealloc = (destructor)queue_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An open queue handle (aq_queue).",
    .tp_methods = queue_methods,
    .tp_getset = queue_getset,
};

/* MARK: - Sender */

typedef struct {
    PyObject_HEAD
    aq_sender *sender;
    int busy;
} SenderObject;

static PyTypeObject SenderType;

static void sender_dealloc(SenderObject *self) {
    if (self->sender) {
        aq_sender *sender = self->sender;
        self->sender = NULL;
        Py_BEGIN_ALLOW_THREADS
        aq_sender_close(sender);
        Py_END_ALLOW_THREADS
    }
    PyObject_Free(self);
}

static const char *optional_string(PyObject *object) {
    return object == Py_None ? NULL : PyUnicode_AsUTF8(object);
}

/* _native.open_sender(endpoint, stream, pattern, role, fast_path, send_timeout_ns, byte_budget,
 *                     expected_message_bytes, heartbeat_interval_ns, linger_ns, shm_capacity,
 *                     curve_secret_key, curve_server_public_key); 0 for the numeric defaults. */
static PyObject *native_open_sender(PyObject *module, PyObject *args) {
    const char *endpoint, *stream;
    int pattern, role, fast_path;
    long long send_timeout_ns, byte_budget, expected, heartbeat, linger, shm_capacity;
    PyObject *secret, *server_public;
    if (!PyArg_ParseTuple(args, "ssiiiLLLLLLOO", &endpoint, &stream, &pattern, &role, &fast_path, &send_timeout_ns,
                          &byte_budget, &expected, &heartbeat, &linger, &shm_capacity, &secret, &server_public)) return NULL;
    aq_sender_options options;
    aq_sender_options_init(&options);
    options.pattern = pattern;
    options.role = role;
    options.fast_path = fast_path;
    if (send_timeout_ns != INT64_MIN) options.send_timeout_ns = send_timeout_ns;
    if (byte_budget > 0) options.byte_budget = byte_budget;
    if (expected > 0) options.expected_message_bytes = expected;
    if (heartbeat != 0) options.heartbeat_interval_ns = heartbeat;
    if (linger >= 0) options.linger_ns = linger;
    if (shm_capacity > 0) options.shm_capacity = shm_capacity;
    options.curve_secret_key = optional_string(secret);
    options.curve_server_public_key = optional_string(server_public);
    if (PyErr_Occurred()) return NULL;
    aq_sender *sender = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = aq_sender_create(endpoint, stream, &options, &sender);
    Py_END_ALLOW_THREADS
    if (rc < 0) return raise_last(rc);
    SenderObject *self = PyObject_New(SenderObject, &SenderType);
    if (!self) { aq_sender_close(sender); return NULL; }
    self->sender = sender;
    self->busy = 0;
    return (PyObject *)self;
}

static int sender_check(SenderObject *self) {
    if (!self->sender) { raise_code(AQ_ECLOSED, "the sender is closed"); return -1; }
    return 0;
}

/* send(arrays: sequence of (name, array), flags, timestamp_ns, index, meta_json or None) -> (status, sequence) */
static PyObject *sender_send(SenderObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) { PyErr_SetString(PyExc_TypeError, "send takes 5 arguments"); return NULL; }
    if (sender_check(self) < 0) return NULL;
    int flags = (int)PyLong_AsLong(args[1]);
    int64_t timestamp_ns = PyLong_AsLongLong(args[2]);
    int64_t index = PyLong_AsLongLong(args[3]);
    const char *meta = optional_string(args[4]);
    if (PyErr_Occurred()) return NULL;
    PyObject *items = PySequence_Fast(args[0], "arrays must be a sequence of (name, array) pairs");
    if (!items) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(items);
    if (count < 1 || count > 4096) {
        Py_DECREF(items);
        return raise_code(AQ_EINVALID_ARGUMENT, "a message has 1 to 4096 arrays");
    }
    aq_array *arrays = PyMem_Calloc((size_t)count, sizeof(aq_array));
    Py_buffer *views = PyMem_Calloc((size_t)count, sizeof(Py_buffer));
    PyObject **converted = PyMem_Calloc((size_t)count, sizeof(PyObject *));
    int64_t (*shapes)[AQ_MAX_DIMS] = PyMem_Calloc((size_t)count, sizeof(*shapes));
    Py_ssize_t filled = 0;
    PyObject *result = NULL;
    if (!arrays || !views || !converted || !shapes) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(items, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "arrays must be (name, array) pairs");
            goto done;
        }
        const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(pair, 0));
        if (!name) goto done;
        int dtype, ndim;
        if (get_array_buffer(PyTuple_GET_ITEM(pair, 1), &views[i], &converted[i], &dtype, &ndim, shapes[i]) < 0) goto done;
        filled = i + 1;
        arrays[i] = (aq_array){.name = name, .dtype = dtype, .ndim = ndim, .shape = shapes[i], .data = views[i].buf, .nbytes = (size_t)views[i].len};
    }
    uint64_t sequence = 0;
    int rc;
    self->busy++;
    Py_BEGIN_ALLOW_THREADS
    rc = aq_sender_send(self->sender, arrays, (size_t)count, flags, timestamp_ns, index, meta, &sequence);
    Py_END_ALLOW_THREADS
    self->busy--;
    if (rc < 0) { raise_wait(rc, PUT_TIMEOUT); goto done; }
    result = Py_BuildValue("(iK)", rc, (unsigned long long)sequence);
done:
    for (Py_ssize_t i = 0; i < filled; i++) { PyBuffer_Release(&views[i]); Py_XDECREF(converted[i]); }
    PyMem_Free(arrays);
    PyMem_Free(views);
    PyMem_Free(converted);
    PyMem_Free(shapes);
    Py_DECREF(items);
    return result;
}

static PyObject *sender_endpoint(SenderObject *self, PyObject *unused) {
    if (sender_check(self) < 0) return NULL;
    char buffer[4096];
    int rc = aq_sender_endpoint(self->sender, buffer, sizeof buffer);
    if (rc < 0) return raise_last(rc);
    return PyUnicode_FromString(buffer);
}

static PyObject *sender_statistics(SenderObject *self, PyObject *unused) {
    if (sender_check(self) < 0) return NULL;
    aq_sender_statistics s = {.size = sizeof(aq_sender_statistics)};
    int rc = aq_sender_statistics_get(self->sender, &s);
    if (rc < 0) return raise_last(rc);
    return Py_BuildValue("{sKsKsKsKsKsLsKsLsK}",
        "epoch", (unsigned long long)s.epoch, "sent", (unsigned long long)s.sent, "dropped", (unsigned long long)s.dropped,
        "bytes_sent", (unsigned long long)s.bytes_sent, "heartbeats", (unsigned long long)s.heartbeats,
        "in_flight_bytes", (long long)s.in_flight_bytes, "next_sequence", (unsigned long long)s.next_sequence,
        "shared_memory_subscribers", (long long)s.shared_memory_subscribers,
        "shared_memory_dropped", (unsigned long long)s.shared_memory_dropped);
}

static PyObject *sender_close(SenderObject *self, PyObject *unused) {
    if (self->sender && self->busy == 0) {
        aq_sender *sender = self->sender;
        self->sender = NULL;
        Py_BEGIN_ALLOW_THREADS
        aq_sender_close(sender);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyMethodDef sender_methods[] = {
    {"send", (PyCFunction)(void (*)(void))sender_send, METH_FASTCALL, "send(arrays, flags, timestamp_ns, index, meta_json) -> (status, sequence)"},
    {"endpoint", (PyCFunction)sender_endpoint, METH_NOARGS, "The bound endpoint."},
    {"statistics", (PyCFunction)sender_statistics, METH_NOARGS, "Counters, as a dict."},
    {"close", (PyCFunction)sender_close, METH_NOARGS, "Sends end and frees the sender."},
    {NULL},
};

static PyTypeObject SenderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "arrayqueues_swift._native.Sender",
    .tp_basicsize = sizeof(SenderObject),
    .tp_dealloc = (destructor)sender_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A sender handle (aq_sender).",
    .tp_methods = sender_methods,
};

/* MARK: - Receiver */

typedef struct {
    PyObject_HEAD
    aq_receiver *receiver;
    int busy;
    int closing;
} ReceiverObject;

static PyTypeObject ReceiverType;

static void receiver_finish_close(ReceiverObject *self) {
    if (self->receiver && self->closing && self->busy == 0) {
        aq_receiver *receiver = self->receiver;
        self->receiver = NULL;
        Py_BEGIN_ALLOW_THREADS
        aq_receiver_close(receiver);
        Py_END_ALLOW_THREADS
    }
}

static void receiver_dealloc(ReceiverObject *self) {
    self->closing = 1;
    receiver_finish_close(self);
    PyObject_Free(self);
}

/* _native.open_receiver(endpoint, pattern, role, fast_path, detects_loss, subscriptions (list of str),
 *                       fast_path_timeout_ns, linger_ns, shm_capacity, maximum_message_bytes,
 *                       curve_secret_key, curve_server_public_key); 0 or negative for the numeric defaults. */
static PyObject *native_open_receiver(PyObject *module, PyObject *args) {
    const char *endpoint;
    int pattern, role, fast_path, detects_loss;
    PyObject *subscriptions, *secret, *server_public;
    long long fast_path_timeout, linger, shm_capacity, maximum_bytes;
    if (!PyArg_ParseTuple(args, "siiiiOLLLLOO", &endpoint, &pattern, &role, &fast_path, &detects_loss, &subscriptions,
                          &fast_path_timeout, &linger, &shm_capacity, &maximum_bytes, &secret, &server_public)) return NULL;
    aq_receiver_options options;
    aq_receiver_options_init(&options);
    options.pattern = pattern;
    options.role = role;
    options.fast_path = fast_path;
    options.detects_loss = detects_loss;
    if (fast_path_timeout > 0) options.fast_path_timeout_ns = fast_path_timeout;
    if (linger >= 0) options.linger_ns = linger;
    if (shm_capacity > 0) options.shm_capacity = shm_capacity;
    if (maximum_bytes > 0) options.maximum_message_bytes = maximum_bytes;
    options.curve_secret_key = optional_string(secret);
    options.curve_server_public_key = optional_string(server_public);
    PyObject *items = PySequence_Fast(subscriptions, "subscriptions must be a sequence of strings");
    if (!items) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(items);
    const char **prefixes = PyMem_Calloc((size_t)count + 1, sizeof(char *));
    if (!prefixes) { Py_DECREF(items); return PyErr_NoMemory(); }
    for (Py_ssize_t i = 0; i < count; i++) {
        prefixes[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(items, i));
        if (!prefixes[i]) { PyMem_Free(prefixes); Py_DECREF(items); return NULL; }
    }
    options.subscriptions = count ? prefixes : NULL;
    options.subscription_count = (size_t)count;
    if (PyErr_Occurred()) { PyMem_Free(prefixes); Py_DECREF(items); return NULL; }
    aq_receiver *receiver = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = aq_receiver_create(endpoint, &options, &receiver);
    Py_END_ALLOW_THREADS
    PyMem_Free(prefixes);
    Py_DECREF(items);
    if (rc < 0) return raise_last(rc);
    ReceiverObject *self = PyObject_New(ReceiverObject, &ReceiverType);
    if (!self) { aq_receiver_close(receiver); return NULL; }
    self->receiver = receiver;
    self->busy = 0;
    self->closing = 0;
    return (PyObject *)self;
}

static int receiver_enter(ReceiverObject *self) {
    if (!self->receiver || self->closing) { raise_code(AQ_ECLOSED, "the receiver is closed"); return -1; }
    self->busy++;
    return 0;
}

static void receiver_leave(ReceiverObject *self) {
    self->busy--;
    receiver_finish_close(self);
}

/* The message as (kind, stream, epoch, sequence or None, timestamp_ns, index or None, meta_json, [(name, ndarray)]);
 * the arrays are copies the caller owns. */
static PyObject *message_tuple(aq_message *message) {
    aq_message_info info = {.size = sizeof(aq_message_info)};
    int rc = aq_message_info_get(message, &info);
    if (rc < 0) return raise_last(rc);
    PyObject *arrays = PyList_New((Py_ssize_t)info.array_count);
    if (!arrays) return NULL;
    for (size_t i = 0; i < info.array_count; i++) {
        aq_array array;
        rc = aq_message_array(message, i, &array);
        if (rc < 0) { Py_DECREF(arrays); return raise_last(rc); }
        PyObject *shape = shape_tuple(array.ndim, array.shape);
        if (!shape) { Py_DECREF(arrays); return NULL; }
        Py_buffer view;
        PyObject *copy = new_array(shape, array.dtype, &view);
        Py_DECREF(shape);
        if (!copy) { Py_DECREF(arrays); return NULL; }
        if ((size_t)view.len != array.nbytes) {
            PyBuffer_Release(&view);
            Py_DECREF(copy);
            Py_DECREF(arrays);
            return raise_code(AQ_EMALFORMED, "an array's payload does not match its dtype and shape");
        }
        if (array.nbytes) memcpy(view.buf, array.data, array.nbytes);
        PyBuffer_Release(&view);
        PyObject *pair = Py_BuildValue("(sN)", array.name ? array.name : "array", copy);
        if (!pair) { Py_DECREF(arrays); return NULL; }
        PyList_SET_ITEM(arrays, (Py_ssize_t)i, pair);
    }
    PyObject *sequence = info.has_sequence ? PyLong_FromUnsignedLongLong(info.sequence) : Py_NewRef(Py_None);
    PyObject *index = info.has_index ? PyLong_FromLongLong(info.index) : Py_NewRef(Py_None);
    return Py_BuildValue("(isKNLNsN)", (int)info.kind, info.stream ? info.stream : "", (unsigned long long)info.epoch,
                         sequence, (long long)info.timestamp_ns, index, info.meta_json ? info.meta_json : "{}", arrays);
}

/* receive(timeout_ns, flags) -> message tuple, or None when nothing arrived in time */
static PyObject *receiver_receive(ReceiverObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "receive takes 2 arguments"); return NULL; }
    int64_t timeout_ns = PyLong_AsLongLong(args[0]);
    int flags = (int)PyLong_AsLong(args[1]);
    if (PyErr_Occurred()) return NULL;
    if (receiver_enter(self) < 0) return NULL;
    aq_message *message = NULL;
    int rc, again = 0;
    wait_t wait = wait_begin(timeout_ns);
    do {
        int64_t slice = wait_slice(&wait);
        Py_BEGIN_ALLOW_THREADS
        rc = aq_receiver_receive(self->receiver, slice, flags, &message);
        Py_END_ALLOW_THREADS
    } while (rc == AQ_ETIMEOUT && (again = wait_again(&wait)) > 0);
    receiver_leave(self);
    if (again < 0) return NULL;
    if (rc == AQ_ETIMEOUT) Py_RETURN_NONE;
    if (rc < 0) return raise_last(rc);
    PyObject *result = message_tuple(message);
    aq_message_free(message);
    return result;
}

static PyObject *receiver_path(ReceiverObject *self, PyObject *unused) {
    if (receiver_enter(self) < 0) return NULL;
    int rc = aq_receiver_path(self->receiver);
    receiver_leave(self);
    if (rc < 0) return raise_last(rc);
    return PyLong_FromLong(rc);
}

static PyObject *receiver_fast_path_problem(ReceiverObject *self, PyObject *unused) {
    if (receiver_enter(self) < 0) return NULL;
    char buffer[4096];
    int rc = aq_receiver_fast_path_problem(self->receiver, buffer, sizeof buffer);
    receiver_leave(self);
    if (rc < 0) return raise_last(rc);
    return PyUnicode_FromString(buffer);
}

static PyObject *receiver_statistics(ReceiverObject *self, PyObject *unused) {
    if (receiver_enter(self) < 0) return NULL;
    aq_receiver_statistics s = {.size = sizeof(aq_receiver_statistics)};
    int rc = aq_receiver_statistics_get(self->receiver, &s);
    receiver_leave(self);
    if (rc < 0) return raise_last(rc);
    return Py_BuildValue("{sKsKsKsKsKsKsKsKsKsKsLsOsisKsK}",
        "received", (unsigned long long)s.received, "bytes_received", (unsigned long long)s.bytes_received,
        "heartbeats", (unsigned long long)s.heartbeats, "ends", (unsigned long long)s.ends, "lost", (unsigned long long)s.lost,
        "out_of_order", (unsigned long long)s.out_of_order, "malformed", (unsigned long long)s.malformed,
        "epochs_seen", (unsigned long long)s.epochs_seen, "restarts", (unsigned long long)s.restarts,
        "copied_payloads", (unsigned long long)s.copied_payloads, "silence_ns", (long long)s.silence_ns,
        "peer_is_silent", s.peer_is_silent ? Py_True : Py_False, "path", (int)s.path,
        "received_through_shared_memory", (unsigned long long)s.received_through_shared_memory,
        "switches_to_shared_memory", (unsigned long long)s.switches_to_shared_memory);
}

static PyObject *receiver_shutdown(ReceiverObject *self, PyObject *unused) {
    if (self->receiver) aq_receiver_shutdown(self->receiver);
    Py_RETURN_NONE;
}

static PyObject *receiver_close(ReceiverObject *self, PyObject *unused) {
    if (self->receiver) aq_receiver_shutdown(self->receiver);
    self->closing = 1;
    receiver_finish_close(self);
    Py_RETURN_NONE;
}

static PyMethodDef receiver_methods[] = {
    {"receive", (PyCFunction)(void (*)(void))receiver_receive, METH_FASTCALL, "receive(timeout_ns, flags) -> message tuple or None"},
    {"path", (PyCFunction)receiver_path, METH_NOARGS, "aq_path in use."},
    {"fast_path_problem", (PyCFunction)receiver_fast_path_problem, METH_NOARGS, "Why the fast path is not taken."},
    {"statistics", (PyCFunction)receiver_statistics, METH_NOARGS, "Counters, as a dict."},
    {"shutdown", (PyCFunction)receiver_shutdown, METH_NOARGS, "Wakes and stops waiting receives."},
    {"close", (PyCFunction)receiver_close, METH_NOARGS, "Frees the receiver (when no receive is running)."},
    {NULL},
};

static PyTypeObject ReceiverType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "arrayqueues_swift._native.Receiver",
    .tp_basicsize = sizeof(ReceiverObject),
    .tp_dealloc = (destructor)receiver_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A receiver handle (aq_receiver).",
    .tp_methods = receiver_methods,
};

/* MARK: - Module */

static PyObject *native_set_errors(PyObject *module, PyObject *args) {
    PyObject *table, *base;
    if (!PyArg_ParseTuple(args, "O!O", &PyDict_Type, &table, &base)) return NULL;
    Py_XSETREF(error_classes, Py_NewRef(table));
    Py_XSETREF(base_error, Py_NewRef(base));
    Py_RETURN_NONE;
}

static PyObject *native_strerror(PyObject *module, PyObject *arg) {
    return PyUnicode_FromString(aq_strerror((int)PyLong_AsLong(arg)));
}

static PyObject *native_record_size(PyObject *module, PyObject *args) {
    int dtype;
    PyObject *shape_obj;
    if (!PyArg_ParseTuple(args, "iO!", &dtype, &PyTuple_Type, &shape_obj)) return NULL;
    int ndim = (int)PyTuple_GET_SIZE(shape_obj);
    if (ndim > AQ_MAX_DIMS) return raise_code(AQ_EINVALID_SHAPE, "an array may have at most 32 dimensions");
    int64_t shape[AQ_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        shape[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(shape_obj, i));
        if (shape[i] == -1 && PyErr_Occurred()) return NULL;
    }
    uint64_t bytes = 0;
    int rc = aq_queue_record_size(dtype, ndim, shape, &bytes);
    if (rc < 0) return raise_last(rc);
    return PyLong_FromUnsignedLongLong(bytes);
}

static PyObject *native_curve_keypair(PyObject *module, PyObject *unused) {
    char public_key[AQ_CURVE_KEY_LENGTH + 1], secret_key[AQ_CURVE_KEY_LENGTH + 1];
    int rc = aq_curve_keypair(public_key, secret_key);
    if (rc < 0) return raise_last(rc);
    return Py_BuildValue("(ss)", public_key, secret_key);
}

static PyMethodDef module_methods[] = {
    {"open_queue", native_open_queue, METH_VARARGS, "open_queue(name, how, capacity, overflow, shape_change, spin_ns, mode) -> Queue"},
    {"remove_queue", native_remove_queue, METH_VARARGS, "remove_queue(name)"},
    {"queue_exists", native_queue_exists, METH_VARARGS, "queue_exists(name) -> bool"},
    {"open_sender", native_open_sender, METH_VARARGS, "open_sender(...) -> Sender"},
    {"open_receiver", native_open_receiver, METH_VARARGS, "open_receiver(...) -> Receiver"},
    {"record_size", native_record_size, METH_VARARGS, "record_size(dtype, shape) -> ring bytes"},
    {"curve_keypair", native_curve_keypair, METH_NOARGS, "curve_keypair() -> (public, secret)"},
    {"strerror", native_strerror, METH_O, "strerror(code) -> str"},
    {"_set_errors", native_set_errors, METH_VARARGS, "_set_errors(table, base)"},
    {NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_native", "The C interface of ArrayQueues, for arrayqueues_swift.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (aq_abi_version() != AQ_ABI_VERSION) {
        PyErr_Format(PyExc_ImportError, "libArrayQueuesC has ABI version %d, this module was built for %d", aq_abi_version(), AQ_ABI_VERSION);
        return NULL;
    }
    PyObject *numpy = PyImport_ImportModule("numpy");
    if (!numpy) return NULL;
    numpy_empty = PyObject_GetAttrString(numpy, "empty");
    numpy_asarray = PyObject_GetAttrString(numpy, "asarray");
    PyObject *dtype = PyObject_GetAttrString(numpy, "dtype");
    Py_DECREF(numpy);
    if (!numpy_empty || !numpy_asarray || !dtype) return NULL;
    for (int code = 1; code <= 14; code++) {
        dtype_objects[code] = PyObject_CallFunction(dtype, "s", aq_dtype_typestr(code));
        if (!dtype_objects[code]) { Py_DECREF(dtype); return NULL; }
    }
    Py_DECREF(dtype);
    order_c = PyUnicode_FromString("C");
    if (PyType_Ready(&QueueType) < 0 || PyType_Ready(&LeaseType) < 0 || PyType_Ready(&SenderType) < 0 ||
        PyType_Ready(&ReceiverType) < 0) return NULL;
    PyObject *module = PyModule_Create(&module_definition);
    if (!module) return NULL;
    PyModule_AddIntConstant(module, "ABI_VERSION", AQ_ABI_VERSION);
    PyModule_AddStringConstant(module, "LIBRARY_VERSION", aq_version());
    PyModule_AddObject(module, "Queue", Py_NewRef((PyObject *)&QueueType));
    PyModule_AddObject(module, "Lease", Py_NewRef((PyObject *)&LeaseType));
    PyModule_AddObject(module, "Sender", Py_NewRef((PyObject *)&SenderType));
    PyModule_AddObject(module, "Receiver", Py_NewRef((PyObject *)&ReceiverType));
    return module;
}
