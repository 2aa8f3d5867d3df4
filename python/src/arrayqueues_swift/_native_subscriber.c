/* arrayqueues_swift._native: subscribers of broadcast queues (aq_subscriber). Their borrows
 * are Lease objects of the queue handle they came from, as the queue's own borrows are. */
#include "_native.h"

typedef struct {
    PyObject_HEAD
    QueueObject *owner;        /* the queue handle: borrows are its leases */
    aq_subscriber *subscriber;
    int busy;                  /* a call is in progress with the GIL released (one at a time) */
    int closing;               /* close() was called; the handle goes when busy is 0 */
    /* The previous record's format: get allocates it before it asks, which saves the call
     * that asks for the size when records keep their dtype and shape (as queue handles do). */
    int last_dtype;
    int last_ndim;
    int64_t last_shape[AQ_MAX_DIMS];
    PyObject *last_shape_tuple;
} SubscriberObject;

static void subscriber_finish_close(SubscriberObject *self) {
    if (self->subscriber && self->closing && !self->busy) {
        aq_subscriber *subscriber = self->subscriber;
        self->subscriber = NULL;
        aq_subscriber_close(subscriber);
    }
}

/* A subscriber reads one record at a time: a second thread's call is refused, not queued. */
static int subscriber_enter(SubscriberObject *self) {
    if (!self->subscriber || self->closing) {
        raise_code(AQ_ECLOSED, "the subscriber is closed");
        return -1;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the subscriber is in use by another thread: a subscriber reads one record at a time");
        return -1;
    }
    self->busy = 1;
    return 0;
}

static void subscriber_leave(SubscriberObject *self) {
    self->busy = 0;
    subscriber_finish_close(self);
}

/* subscribe(policy, start) -> Subscriber */
PyObject *queue_subscribe(QueueObject *self, PyObject *args) {
    int policy, start;
    if (!PyArg_ParseTuple(args, "ii", &policy, &start)) return NULL;
    if (queue_enter(self) < 0) return NULL;
    aq_subscriber *subscriber = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = aq_queue_subscribe(self->queue, policy, start, &subscriber);
    Py_END_ALLOW_THREADS
    queue_leave(self);
    if (rc < 0) return raise_last(rc);
    SubscriberObject *object = PyObject_New(SubscriberObject, &SubscriberType);
    if (!object) { aq_subscriber_close(subscriber); return NULL; }
    object->owner = (QueueObject *)Py_NewRef(self);
    object->subscriber = subscriber;
    object->busy = 0;
    object->closing = 0;
    object->last_dtype = 0;
    object->last_ndim = -1;
    object->last_shape_tuple = NULL;
    return (PyObject *)object;
}

static void subscriber_dealloc(SubscriberObject *self) {
    if (self->subscriber) aq_subscriber_close(self->subscriber);
    Py_CLEAR(self->last_shape_tuple);
    Py_DECREF(self->owner);
    PyObject_Free(self);
}

/* get(timeout) -> (array, timestamp_ns, index or None, sequence): the next record copied into
 * an array of the previous record's format, allocated before the call; a record of another
 * format is copied or, if it did not fit, asked for again (the subscriber keeps it meanwhile). */
static PyObject *subscriber_get(SubscriberObject *self, PyObject *arg) {
    int64_t timeout_ns;
    if (timeout_from(arg, &timeout_ns) < 0) return NULL;
    if (subscriber_enter(self) < 0) return NULL;
    aq_record_info info;
    PyObject *array = NULL;
    Py_buffer view = {0};
    if (self->last_shape_tuple) {
        array = new_array(self->last_shape_tuple, self->last_dtype, &view);
        if (!array) goto fail;
    }
    wait_t wait = wait_begin(timeout_ns);
    int64_t slice = wait_slice(&wait);
    for (;;) {
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = aq_subscriber_get(self->subscriber, array ? view.buf : NULL, array ? (size_t)view.len : 0, &info, slice);
        Py_END_ALLOW_THREADS
        if (rc == AQ_ETIMEOUT) {
            int again = wait_again(&wait);
            if (again < 0) goto fail;
            if (again > 0) { slice = wait_slice(&wait); continue; }
        }
        if (rc < 0 && rc != AQ_EBUFFER_TOO_SMALL) { raise_wait(rc, GET_TIMEOUT); goto fail; }
        int same = rc == 0 && array && info.dtype == self->last_dtype && info.ndim == self->last_ndim &&
                   memcmp(info.shape, self->last_shape, sizeof(int64_t) * (size_t)info.ndim) == 0;
        if (same) break;
        /* Another format: remember it, and either reinterpret the bytes received (rc == 0) or
         * allocate the right array and ask again at once (the subscriber kept the record). */
        PyObject *shape = shape_tuple(info.ndim, info.shape);
        if (!shape) goto fail;
        Py_XSETREF(self->last_shape_tuple, shape);
        self->last_dtype = info.dtype;
        self->last_ndim = info.ndim;
        memcpy(self->last_shape, info.shape, sizeof(int64_t) * (size_t)info.ndim);
        Py_buffer fresh;
        PyObject *replacement = new_array(shape, info.dtype, &fresh);
        if (!replacement) goto fail;
        if (rc == 0 && info.nbytes) memcpy(fresh.buf, view.buf, (size_t)info.nbytes);
        if (array) { PyBuffer_Release(&view); Py_DECREF(array); }
        array = replacement;
        view = fresh;
        if (rc == 0) break;
        slice = 0;
    }
    PyBuffer_Release(&view);
    subscriber_leave(self);
    return Py_BuildValue("(NLNK)", array, (long long)info.timestamp_ns, index_or_none(&info), (unsigned long long)info.sequence);
fail:
    if (array) { PyBuffer_Release(&view); Py_DECREF(array); }
    subscriber_leave(self);
    return NULL;
}

/* borrow(timeout) -> Lease (read-only) */
static PyObject *subscriber_borrow(SubscriberObject *self, PyObject *arg) {
    int64_t timeout_ns;
    if (timeout_from(arg, &timeout_ns) < 0) return NULL;
    if (subscriber_enter(self) < 0) return NULL;
    aq_record_info info;
    const void *data = NULL;
    aq_borrow *borrow = NULL;
    int rc, again = 0;
    wait_t wait = wait_begin(timeout_ns);
    do {
        int64_t slice = wait_slice(&wait);
        Py_BEGIN_ALLOW_THREADS
        rc = aq_subscriber_borrow(self->subscriber, slice, &info, &data, &borrow);
        Py_END_ALLOW_THREADS
    } while (rc == AQ_ETIMEOUT && (again = wait_again(&wait)) > 0);
    subscriber_leave(self);
    if (again < 0) return NULL;
    if (rc < 0) return raise_wait(rc, GET_TIMEOUT);
    LeaseObject *lease = lease_new(self->owner, &info);
    if (!lease) { aq_borrow_release(borrow); return NULL; }
    lease->borrow = borrow;
    lease->data = (void *)data;
    lease->nbytes = (size_t)info.nbytes;
    lease->writable = 0;
    return (PyObject *)lease;
}

static PyObject *subscriber_close(SubscriberObject *self, PyObject *unused) {
    self->closing = 1;
    subscriber_finish_close(self);
    Py_RETURN_NONE;
}

static PyObject *subscriber_counter(SubscriberObject *self, int64_t (*counter)(const aq_subscriber *)) {
    if (!self->subscriber || self->closing) return raise_code(AQ_ECLOSED, "the subscriber is closed");
    int64_t value = counter(self->subscriber);
    if (value < 0) return raise_last((int)value);
    return PyLong_FromLongLong(value);
}

static PyObject *subscriber_get_lost(SubscriberObject *self, void *unused) { return subscriber_counter(self, aq_subscriber_lost); }
static PyObject *subscriber_get_delivered(SubscriberObject *self, void *unused) { return subscriber_counter(self, aq_subscriber_delivered); }
static PyObject *subscriber_get_closed(SubscriberObject *self, void *unused) { return PyBool_FromLong(!self->subscriber || self->closing); }

static PyMethodDef subscriber_methods[] = {
    {"get", (PyCFunction)subscriber_get, METH_O, "get(timeout) -> (ndarray, timestamp_ns, index, sequence)"},
    {"borrow", (PyCFunction)subscriber_borrow, METH_O, "borrow(timeout) -> Lease"},
    {"close", (PyCFunction)subscriber_close, METH_NOARGS, "Gives up the subscription and frees the handle."},
    {NULL},
};

static PyGetSetDef subscriber_getset[] = {
    {"lost", (getter)subscriber_get_lost, NULL, "Records the subscriber was skipped past.", NULL},
    {"delivered", (getter)subscriber_get_delivered, NULL, "Records the subscriber has read.", NULL},
    {"closed", (getter)subscriber_get_closed, NULL, "Whether close() was called.", NULL},
    {NULL},
};

PyTypeObject SubscriberType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "arrayqueues_swift._native.Subscriber",
    .tp_basicsize = sizeof(SubscriberObject),
    .tp_dealloc = (destructor)subscriber_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A subscriber of a broadcast queue (aq_subscriber).",
    .tp_methods = subscriber_methods,
    .tp_getset = subscriber_getset,
};
