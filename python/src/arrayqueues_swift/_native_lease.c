/*
 * arrayqueues_swift._native: loans and borrows.
 *
 * `queue.loan(...)`, `queue.borrow(...)` and `subscriber.borrow(...)` return a Lease, which is
 * its own context manager: __enter__ reserves (loan) or takes (borrow) the record and returns
 * a LoanedArray or BorrowedArray over it in shared memory (_native_lent.c); __exit__ commits
 * the loan (or aborts it when the block raised) or releases the borrow. A Lease is entered
 * once; the arrays keep it (as their base) and ask it whether their block has ended.
 */
#include "_native.h"

static PyObject *readonly_message;  /* of the BufferError numpy gets when it asks a borrow for a writable buffer */

/* MARK: - Leases */

static LeaseObject *lease_alloc(QueueObject *owner, PyObject *reader) {
    LeaseObject *self = PyObject_New(LeaseObject, &LeaseType);
    if (!self) return NULL;
    self->owner = (QueueObject *)Py_NewRef(owner);
    owner->dependents++;
    self->reader = Py_XNewRef(reader);
    self->state = LEASE_NEW;
    self->writable = reader == NULL;
    self->loan = NULL;
    self->borrow = NULL;
    self->kept = NULL;
    self->data = NULL;
    self->nbytes = 0;
    self->timeout_ns = AQ_FOREVER;
    self->flags = 0;
    self->stamp = 0;
    self->index = 0;
    self->shape_tuple = NULL;
    memset(&self->info, 0, sizeof self->info);
    return self;
}

/* loan(shape, dtype[, timeout, timestamp, index]) -> Lease: checks the arguments now; the slot
 * is reserved by __enter__. */
PyObject *lease_loan(QueueObject *queue, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 5) { PyErr_SetString(PyExc_TypeError, "loan(shape, dtype[, timeout, timestamp, index])"); return NULL; }
    aq_record_info info = {0};
    PyObject *shape = NULL;
    int64_t timeout_ns = AQ_FOREVER, stamp = 0, index = 0;
    int flags = 0;
    if (shape_from(args[0], &info.ndim, info.shape, &shape) < 0) return NULL;
    if ((info.dtype = dtype_code(args[1])) < 0 || (nargs > 2 && timeout_from(args[2], &timeout_ns) < 0) ||
        stamping_from(nargs > 3 ? args[3] : Py_None, nargs > 4 ? args[4] : Py_None, &flags, &stamp, &index) < 0) {
        Py_DECREF(shape);
        return NULL;
    }
    LeaseObject *self = lease_alloc(queue, NULL);
    if (!self) { Py_DECREF(shape); return NULL; }
    self->info = info;
    self->shape_tuple = shape;
    self->timeout_ns = timeout_ns;
    self->flags = flags;
    self->stamp = stamp;
    self->index = index;
    return (PyObject *)self;
}

/* borrow(timeout) -> Lease of a queue handle or a subscriber: the record is taken by __enter__. */
PyObject *lease_borrow(PyObject *reader, PyObject *timeout) {
    int64_t timeout_ns;
    if (timeout_from(timeout, &timeout_ns) < 0) return NULL;
    LeaseObject *self = lease_alloc(((ReaderObject *)reader)->owner, reader);
    if (self) self->timeout_ns = timeout_ns;
    return (PyObject *)self;
}

/* Reserves the loan's slot or takes the borrow's record, waiting in slices (_native.c);
 * 0, or -1 with an exception set. */
static int lease_acquire(LeaseObject *self) {
    PyObject *reader = self->writable ? (PyObject *)self->owner : self->reader;  /* a loan's is its queue */
    const reader_ops *ops = ((ReaderObject *)reader)->ops;
    if (ops->enter(reader) < 0) return -1;
    aq_record_info *info = &self->info;
    const void *data = NULL;
    size_t nbytes = 0;
    aq_loan *loan = NULL;
    aq_borrow *borrow = NULL;
    int rc = AQ_OK, again = 0;
    int from_kept = 0;
    if (!self->writable && reader == (PyObject *)self->owner && self->owner->kept) {
        /* A record get_many kept is older than any in the queue: lent first, from the kept
         * copy (the lease holds the array it is in). */
        PyObject *holder;
        struct kept_batch *batch = kept_detach(self->owner, info, &data, &holder);
        if (batch) {
            self->kept = Py_NewRef(holder);
            kept_attach(self->owner, batch, 1);
            from_kept = 1;
        }
    }
    if (!from_kept && !self->writable && reader == (PyObject *)self->owner && raise_pending_error(self->owner) < 0) {
        ops->leave(reader);
        return -1;
    }
    wait_t wait = wait_begin(self->timeout_ns, &((ReaderObject *)reader)->closing);
    while (!from_kept) {
        int64_t slice = wait_slice(&wait);
        Py_BEGIN_ALLOW_THREADS
        if (self->writable) {
            rc = aq_queue_loan(self->owner->queue, info->dtype, info->ndim, info->shape, slice, self->flags, self->stamp,
                               self->index, (void **)&data, &nbytes, &loan);
        } else {
            rc = ops->borrow(reader, slice, info, &data, &borrow);
        }
        Py_END_ALLOW_THREADS
        if (!(rc == AQ_ETIMEOUT && (again = wait_again(&wait)) > 0)) break;
    }
    ops->leave(reader);
    if (again < 0) return -1;
    if (rc < 0) { raise_wait(rc, self->writable ? PUT_TIMEOUT : GET_TIMEOUT); return -1; }
    self->loan = loan;
    self->borrow = borrow;
    self->data = (void *)data;
    if (self->writable) info->nbytes = nbytes;
    self->nbytes = (size_t)info->nbytes;
    if (self->shape_tuple) return 0;  /* a loan's, from its arguments */
    /* A borrow's: the shape tuple of the reader's previous record serves when the format repeats. */
    format_cache *last = &((ReaderObject *)reader)->last;
    if (last->shape_tuple && last->dtype == info->dtype && last->ndim == info->ndim &&
        memcmp(last->shape, info->shape, sizeof(int64_t) * (size_t)info->ndim) == 0) {
        self->shape_tuple = Py_NewRef(last->shape_tuple);
        return 0;
    }
    return (self->shape_tuple = shape_tuple(info->ndim, info->shape)) ? 0 : -1;
}

/* Gives the record back: releases a borrow, aborts a loan that was not committed. */
static void lease_end(LeaseObject *self) {
    self->state = LEASE_ENDED;
    if (self->borrow) { aq_borrow_release(self->borrow); self->borrow = NULL; }
    if (self->loan) { aq_loan_abort(self->loan); self->loan = NULL; }
}

static PyObject *lease_enter(LeaseObject *self, PyObject *unused) {
    if (self->state != LEASE_NEW) {
        PyErr_SetString(PyExc_RuntimeError, "a loan or borrow is entered once: call loan() or borrow() again");
        return NULL;
    }
    self->state = LEASE_WAITING;  /* another thread's __enter__ is refused meanwhile */
    if (lease_acquire(self) < 0) {
        lease_end(self);
        return NULL;
    }
    const aq_record_info *info = &self->info;
    Py_ssize_t stride = aq_dtype_itemsize(info->dtype);
    for (int i = info->ndim - 1; i >= 0; i--) {
        self->shape[i] = (Py_ssize_t)info->shape[i];
        self->strides[i] = stride;
        stride *= info->shape[i] > 0 ? (Py_ssize_t)info->shape[i] : 1;
    }
    self->state = LEASE_ACTIVE;
    PyObject *array = lent_array_new(self);  /* its base is this lease */
    if (!array) lease_end(self);
    return array;
}

/* __exit__(type, value, traceback): commits a loan if the block ended without an exception,
 * else aborts it; releases a borrow. Never suppresses the exception. */
static PyObject *lease_exit(LeaseObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (self->state != LEASE_ACTIVE) Py_RETURN_NONE;
    if (self->loan && nargs >= 1 && args[0] == Py_None) {
        aq_loan *loan = self->loan;
        self->loan = NULL;
        self->state = LEASE_ENDED;
        int rc = aq_loan_commit(loan);
        if (rc < 0) return raise_last(rc);
        Py_RETURN_NONE;
    }
    lease_end(self);
    Py_RETURN_NONE;
}

static void lease_dealloc(LeaseObject *self) {
    lease_end(self);
    QueueObject *owner = self->owner;
    owner->dependents--;
    queue_finish_close(owner);
    Py_DECREF(owner);
    Py_XDECREF(self->reader);
    Py_XDECREF(self->kept);
    Py_XDECREF(self->shape_tuple);
    PyObject_Free(self);
}

static int lease_getbuffer(LeaseObject *self, Py_buffer *view, int flags) {
    if (self->state != LEASE_ACTIVE) {
        raise_code(AQ_ECLOSED, "this loan or borrow has ended: its memory belongs to the queue again");
        view->obj = NULL;
        return -1;
    }
    if ((flags & PyBUF_WRITABLE) && !self->writable) {
        /* numpy asks for a writable buffer first and takes this answer as "read-only" */
        PyErr_SetObject(PyExc_BufferError, readonly_message);
        view->obj = NULL;
        return -1;
    }
    view->buf = self->data;
    view->obj = Py_NewRef((PyObject *)self);
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

static PyObject *lease_get_active(LeaseObject *self, void *unused) { return PyBool_FromLong(self->state == LEASE_ACTIVE); }
static PyObject *lease_get_nbytes(LeaseObject *self, void *unused) { return PyLong_FromSize_t(self->nbytes); }

static PyGetSetDef lease_getset[] = {
    {"active", (getter)lease_get_active, NULL, "Whether the record is lent now (between __enter__ and __exit__).", NULL},
    {"nbytes", (getter)lease_get_nbytes, NULL, "Payload bytes.", NULL},
    {NULL},
};

static PyMethodDef lease_methods[] = {
    {"__enter__", (PyCFunction)lease_enter, METH_NOARGS, "Reserves (loan) or takes (borrow) the record; returns the array over it."},
    {"__exit__", (PyCFunction)(void (*)(void))lease_exit, METH_FASTCALL, "Commits the loan (aborts it after an exception) or releases the borrow."},
    {NULL},
};

PyTypeObject LeaseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "arrayqueues_swift._native.Lease",
    .tp_basicsize = sizeof(LeaseObject),
    .tp_dealloc = (destructor)lease_dealloc,
    .tp_as_buffer = &lease_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A loan (a slot to write, published at the end of the `with` block) or a borrow (a record to read in place), "
              "as a context manager entered once.",
    .tp_methods = lease_methods,
    .tp_getset = lease_getset,
};

int leases_init(void) {
    readonly_message = PyUnicode_FromString("a borrowed record is read-only");
    return readonly_message ? PyType_Ready(&LeaseType) : -1;
}
