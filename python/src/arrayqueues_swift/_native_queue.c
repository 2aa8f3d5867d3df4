/* arrayqueues_swift._native: queue handles. Their get, get_record and borrow are the readers'
 * (_native_reader.c, _native_lease.c), their loans are leases (_native_lease.c). */
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

static int reader_enter(PyObject *self) { return queue_enter((QueueObject *)self); }
static void reader_leave(PyObject *self) { queue_leave((QueueObject *)self); }

static int reader_get_call(PyObject *self, void *buffer, size_t capacity, aq_record_info *info, int64_t timeout_ns) {
    return aq_queue_get(((QueueObject *)self)->queue, buffer, capacity, info, timeout_ns);
}

static int reader_borrow_call(PyObject *self, int64_t timeout_ns, aq_record_info *info, const void **data, aq_borrow **borrow) {
    return aq_queue_borrow(((QueueObject *)self)->queue, timeout_ns, info, data, borrow);
}

const reader_ops queue_reader_ops = {reader_enter, reader_leave, reader_get_call, reader_borrow_call};

static PyObject *queue_wrap(aq_queue *queue) {
    QueueObject *self = PyObject_New(QueueObject, &QueueType);
    if (!self) { aq_queue_close(queue); return NULL; }
    self->ops = &queue_reader_ops;
    self->owner = self;  /* not a reference: itself */
    self->last.shape_tuple = NULL;
    format_cache_clear(&self->last);
    self->queue = queue;
    self->busy = 0;
    self->closing = 0;
    self->dependents = 0;
    self->pending_error = NULL;
    self->kept = NULL;
    self->batch_record_bytes = 0;
    return (PyObject *)self;
}

static void queue_dealloc(QueueObject *self) {
    format_cache_clear(&self->last);
    Py_XDECREF(self->pending_error);
    kept_batches_free(self);
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
    PyObject *capacity_argument, *mode_argument;
    unsigned long long capacity, mode;
    long long spin_ns;
    int allow_other_owner, broadcast = 0;
    if (!PyArg_ParseTuple(args, "siOiiLOp|p", &name, &how, &capacity_argument, &overflow, &shape_change, &spin_ns,
                          &mode_argument, &allow_other_owner, &broadcast) ||
        unsigned_from(capacity_argument, UINT64_MAX, "capacity", &capacity) < 0 ||
        unsigned_from(mode_argument, UINT32_MAX, "mode", &mode) < 0) return NULL;
    aq_queue_options options;
    fill_options(&options, overflow, shape_change, spin_ns, (unsigned int)mode, allow_other_owner);
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

/* put(array, timeout[, timestamp, index]); timeout in seconds or None */
static PyObject *queue_put(QueueObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 4) { PyErr_SetString(PyExc_TypeError, "put(array, timeout[, timestamp, index])"); return NULL; }
    int64_t timeout_ns, timestamp_ns = 0, index = 0;
    int flags = 0;
    if (timeout_from(args[1], &timeout_ns) < 0 ||
        stamping_from(nargs > 2 ? args[2] : Py_None, nargs > 3 ? args[3] : Py_None, &flags, &timestamp_ns, &index) < 0) {
        return NULL;
    }
    Py_buffer view;
    PyObject *converted;
    int dtype, ndim;
    int64_t shape[AQ_MAX_DIMS];
    if (get_array_buffer(args[0], &view, &converted, &dtype, &ndim, shape) < 0) return NULL;
    if (queue_enter(self) < 0) { PyBuffer_Release(&view); Py_XDECREF(converted); return NULL; }
    int rc, again = 0;
    wait_t wait = wait_begin(timeout_ns, &self->closing);
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

/* MARK: - Queue: the rest */

static PyObject *queue_count(QueueObject *self, PyObject *unused) {
    if (queue_enter(self) < 0) return NULL;
    int64_t count = aq_queue_count(self->queue);
    queue_leave(self);
    if (count < 0) return raise_last((int)count);
    /* Records get_many kept are this handle's next ones: they count as waiting. */
    return PyLong_FromLongLong(count + (int64_t)kept_count(self));
}

static PyObject *queue_is_empty(QueueObject *self, PyObject *unused) {
    if (queue_enter(self) < 0) return NULL;
    if (self->kept) { queue_leave(self); Py_RETURN_FALSE; }  /* its next read returns a kept record */
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
    /* Records get_many kept would otherwise come back after the clear, older than what follows. */
    int64_t kept = (int64_t)kept_count(self);
    kept_batches_free(self);
    return PyLong_FromLongLong(dropped + kept);
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
    kept_batches_free(self);  /* no call returns them now: their memory goes at once */
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
    {"put", (PyCFunction)(void (*)(void))queue_put, METH_FASTCALL, "put(array, timeout[, timestamp, index]); timeout in seconds or None"},
    {"get", (PyCFunction)(void (*)(void))reader_get, METH_FASTCALL, "get(timeout[, out]) -> ndarray"},
    {"get_record", (PyCFunction)(void (*)(void))reader_get_record, METH_FASTCALL, "get_record(timeout[, out]) -> (ndarray, timestamp_ns, index, sequence)"},
    {"loan", (PyCFunction)(void (*)(void))lease_loan, METH_FASTCALL, "loan(shape, dtype[, timeout, timestamp, index]) -> Lease"},
    {"borrow", (PyCFunction)lease_borrow, METH_O, "borrow(timeout) -> Lease"},
    {"put_many", (PyCFunction)(void (*)(void))queue_put_many, METH_FASTCALL, "put_many(arrays, timeout) -> how many were put"},
    {"get_many", (PyCFunction)(void (*)(void))queue_get_many, METH_FASTCALL, "get_many(max_count, timeout) -> [ndarray]"},
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

