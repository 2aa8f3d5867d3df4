/* arrayqueues_swift._native: queue handles, and the loans and borrows they lend. */
#include "_native.h"

/* MARK: - Queue */



void queue_finish_close(QueueObject *self) {
    if (self->queue && self->closing && self->busy == 0 && self->dependents == 0) {
        aq_queue *queue = self->queue;
        self->queue = NULL;
        aq_queue_close(queue);
    }
}

int queue_enter(QueueObject *self) {
    if (!self->queue || self->closing) {
        raise_code(AQ_ECLOSED, "the queue handle is closed");
        return -1;
    }
    self->busy++;
    return 0;
}

void queue_leave(QueueObject *self) {
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

static int fill_options(aq_queue_options *options, int overflow, int shape_change, long long spin_ns, unsigned int mode,
                        int allow_other_owner) {
    aq_queue_options_init(options);
    options->allow_other_owner = allow_other_owner ? 1 : 0;
    options->overflow = overflow;
    options->shape_change = shape_change;
    if (spin_ns >= 0) options->spin_ns = spin_ns;
    if (mode) options->mode = mode;
    return 0;
}

/* _native.open_queue(name, how, capacity, overflow, shape_change, spin_ns, mode, allow_other_owner, broadcast);
 * how: 0 create, 1 open, 2 open or create. */
PyObject *native_open_queue(PyObject *module, PyObject *args) {
    const char *name;
    int how, overflow, shape_change;
    unsigned long long capacity;
    long long spin_ns;
    unsigned int mode;
    int allow_other_owner, broadcast = 0;
    if (!PyArg_ParseTuple(args, "siKiiLIp|p", &name, &how, &capacity, &overflow, &shape_change, &spin_ns, &mode,
                          &allow_other_owner, &broadcast)) return NULL;
    aq_queue_options options;
    fill_options(&options, overflow, shape_change, spin_ns, mode, allow_other_owner);
    options.broadcast = broadcast ? 1 : 0;
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

PyObject *native_remove_queue(PyObject *module, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    int rc = aq_queue_remove(name);
    if (rc < 0) return raise_last(rc);
    Py_RETURN_NONE;
}

PyObject *native_queue_exists(PyObject *module, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    return PyBool_FromLong(aq_queue_exists(name) == 1);
}

/* put(array, timeout[, flags, timestamp_ns, index]); timeout in seconds or None */
static PyObject *queue_put(QueueObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 && nargs != 5) { PyErr_SetString(PyExc_TypeError, "put takes 2 or 5 arguments"); return NULL; }
    int64_t timeout_ns;
    if (timeout_from(args[1], &timeout_ns) < 0) return NULL;
    int flags = 0;
    int64_t timestamp_ns = 0, index = 0;
    if (nargs == 5) {
        flags = (int)PyLong_AsLong(args[2]);
        timestamp_ns = PyLong_AsLongLong(args[3]);
        index = PyLong_AsLongLong(args[4]);
        if (PyErr_Occurred()) return NULL;
    }
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

/* The writable, C-contiguous buffer of a caller's `out` array and its dtype and shape. */
static int out_buffer(PyObject *out, Py_buffer *view, int *dtype, int *ndim, int64_t *shape) {
    if (PyObject_GetBuffer(out, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "out must be a writable, C-contiguous array");
        return -1;
    }
    *dtype = dtype_of_format(view->format, view->itemsize);
    if (*dtype < 0 || view->ndim > AQ_MAX_DIMS) {
        PyBuffer_Release(view);
        raise_code(AQ_EUNSUPPORTED_DTYPE, "out must have a dtype ArrayQueues carries and at most 32 dimensions");
        return -1;
    }
    *ndim = view->ndim;
    for (int i = 0; i < view->ndim; i++) shape[i] = view->shape[i];
    return 0;
}

/* Takes the next record into an array: `out` (may be NULL) if the record has its dtype and
 * shape, otherwise a new one. Without `out`, the array is allocated before the call with the
 * previous record's format, which saves a second call when records keep it (the common case). */
static PyObject *queue_take(QueueObject *self, int64_t timeout_ns, PyObject *out, aq_record_info *info) {
    PyObject *array = NULL;
    Py_buffer view = {0};
    int want_dtype = 0, want_ndim = -1;
    int64_t want_shape[AQ_MAX_DIMS];
    if (out) {
        if (out_buffer(out, &view, &want_dtype, &want_ndim, want_shape) < 0) return NULL;
        array = Py_NewRef(out);
    }
    if (queue_enter(self) < 0) goto fail_unentered;
    wait_t wait = wait_begin(timeout_ns);
    if (!out && self->last_shape_tuple) {
        array = new_array(self->last_shape_tuple, self->last_dtype, &view);
        if (!array) goto fail;
        want_dtype = self->last_dtype;
        want_ndim = self->last_ndim;
        memcpy(want_shape, self->last_shape, sizeof(int64_t) * (size_t)want_ndim);
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
        int same = rc == 0 && array && info->dtype == want_dtype && info->ndim == want_ndim &&
                   memcmp(info->shape, want_shape, sizeof(int64_t) * (size_t)info->ndim) == 0;
        if (rc == 0 && same) break;
        if (rc < 0 && rc != AQ_EBUFFER_TOO_SMALL) { raise_wait(rc, GET_TIMEOUT); goto fail; }
        /* Another format: remember it, and either reinterpret the bytes received (rc == 0) or
         * allocate the right array and ask again (the record stayed in the queue). */
        PyObject *shape = shape_tuple(info->ndim, info->shape);
        if (!shape) goto fail;
        Py_XSETREF(self->last_shape_tuple, shape);
        self->last_dtype = want_dtype = info->dtype;
        self->last_ndim = want_ndim = info->ndim;
        memcpy(self->last_shape, info->shape, sizeof(int64_t) * (size_t)info->ndim);
        memcpy(want_shape, info->shape, sizeof(int64_t) * (size_t)info->ndim);
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
    queue_leave(self);
fail_unentered:
    if (array) { PyBuffer_Release(&view); Py_DECREF(array); }
    return NULL;
}

/* The arguments of get and get_record: (timeout[, out]); out None or absent: a new array. */
static int take_arguments(PyObject *const *args, Py_ssize_t nargs, int64_t *timeout_ns, PyObject **out) {
    if (nargs != 1 && nargs != 2) { PyErr_SetString(PyExc_TypeError, "takes a timeout and an optional out array"); return -1; }
    *out = nargs == 2 && args[1] != Py_None ? args[1] : NULL;
    return timeout_from(args[0], timeout_ns);
}

static PyObject *queue_get(QueueObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t timeout_ns;
    PyObject *out;
    if (take_arguments(args, nargs, &timeout_ns, &out) < 0) return NULL;
    aq_record_info info;
    return queue_take(self, timeout_ns, out, &info);
}

PyObject *index_or_none(const aq_record_info *info) {
    if (info->has_index) return PyLong_FromLongLong(info->index);
    Py_RETURN_NONE;
}

/* get_record(timeout[, out]) -> (array, timestamp_ns, index or None, sequence) */
static PyObject *queue_get_record(QueueObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t timeout_ns;
    PyObject *out;
    if (take_arguments(args, nargs, &timeout_ns, &out) < 0) return NULL;
    aq_record_info info;
    PyObject *array = queue_take(self, timeout_ns, out, &info);
    if (!array) return NULL;
    PyObject *index = index_or_none(&info);
    PyObject *result = Py_BuildValue("(NLNK)", array, (long long)info.timestamp_ns, index, (unsigned long long)info.sequence);
    return result;
}

/* MARK: - Loans and borrows: buffers over a record in shared memory */



LeaseObject *lease_new(QueueObject *owner, const aq_record_info *info) {
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

/* loan(dtype, shape, timeout, flags, timestamp_ns, index) -> Lease (writable) */
static PyObject *queue_loan(QueueObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) { PyErr_SetString(PyExc_TypeError, "loan takes 6 arguments"); return NULL; }
    int dtype = (int)PyLong_AsLong(args[0]);
    PyObject *shape_obj = args[1];
    int64_t timeout_ns;
    if (timeout_from(args[2], &timeout_ns) < 0) return NULL;
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

/* borrow(timeout) -> Lease (read-only) */
static PyObject *queue_borrow(QueueObject *self, PyObject *arg) {
    int64_t timeout_ns;
    if (timeout_from(arg, &timeout_ns) < 0) return NULL;
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

/* array(cls) -> cls.__new__(cls, shape, dtype, self): the ndarray (subclass) over the record,
 * made here in one call because a stream of small records pays for every Python step. */
static PyObject *lease_array(LeaseObject *self, PyObject *cls) {
    if (!PyType_Check(cls)) { PyErr_SetString(PyExc_TypeError, "array() takes an ndarray subclass"); return NULL; }
    PyObject *shape = shape_tuple(self->info.ndim, self->info.shape);
    if (!shape) return NULL;
    PyObject *dtype = dtype_object(self->info.dtype);
    if (!dtype) { Py_DECREF(shape); return NULL; }
    PyObject *make = PyObject_GetAttrString(cls, "__new__");
    PyObject *array = make ? PyObject_CallFunctionObjArgs(make, cls, shape, dtype, (PyObject *)self, NULL) : NULL;
    Py_XDECREF(make);
    Py_DECREF(shape);
    Py_DECREF(dtype);
    return array;
}

static PyMethodDef lease_methods[] = {
    {"array", (PyCFunction)lease_array, METH_O, "array(cls) -> an array of class cls (an ndarray subclass) over the record."},
    {"commit", (PyCFunction)lease_commit, METH_NOARGS, "Publishes a loaned record."},
    {"release", (PyCFunction)lease_release, METH_NOARGS, "Ends a borrow, or aborts an uncommitted loan."},
    {NULL},
};

PyTypeObject LeaseType = {
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
    {"put", (PyCFunction)(void (*)(void))queue_put, METH_FASTCALL, "put(array, timeout[, flags, timestamp_ns, index]); timeout in seconds or None"},
    {"get", (PyCFunction)(void (*)(void))queue_get, METH_FASTCALL, "get(timeout[, out]) -> ndarray"},
    {"get_record", (PyCFunction)(void (*)(void))queue_get_record, METH_FASTCALL, "get_record(timeout[, out]) -> (ndarray, timestamp_ns, index, sequence)"},
    {"loan", (PyCFunction)(void (*)(void))queue_loan, METH_FASTCALL, "loan(dtype, shape, timeout, flags, timestamp_ns, index) -> Lease"},
    {"borrow", (PyCFunction)queue_borrow, METH_O, "borrow(timeout) -> Lease"},
    {"put_many", (PyCFunction)(void (*)(void))queue_put_many, METH_FASTCALL, "put_many(arrays, timeout) -> how many were put"},
    {"get_many", (PyCFunction)(void (*)(void))queue_get_many, METH_FASTCALL, "get_many(max_count, timeout, record_bytes) -> (buffer, entries)"},
    {"subscribe", (PyCFunction)queue_subscribe, METH_VARARGS, "subscribe(policy, start) -> Subscriber"},
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

PyTypeObject QueueType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "arrayqueues_swift._native.Queue",
    .tp_basicsize = sizeof(QueueObject),
    .tp_dealloc = (destructor)queue_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An open queue handle (aq_queue).",
    .tp_methods = queue_methods,
    .tp_getset = queue_getset,
};

