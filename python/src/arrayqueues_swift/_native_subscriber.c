/* arrayqueues_swift._native: subscribers of broadcast queues (aq_subscriber). They are readers
 * as queue handles are (get, get_record and borrow are written once, in _native_reader.c and
 * _native_lease.c); their borrows are leases of the queue handle they came from. */
#include "_native.h"

typedef struct {
    ReaderHead                 /* owner: the queue handle (a reference) */
    aq_subscriber *subscriber;
    int busy;                  /* a call is in progress with the GIL released (one at a time);
                                * once closing, the handle goes when busy is 0 */
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

static int reader_enter(PyObject *self) { return subscriber_enter((SubscriberObject *)self); }
static void reader_leave(PyObject *self) { subscriber_leave((SubscriberObject *)self); }

static int reader_get_call(PyObject *self, void *buffer, size_t capacity, aq_record_info *info, int64_t timeout_ns) {
    return aq_subscriber_get(((SubscriberObject *)self)->subscriber, buffer, capacity, info, timeout_ns);
}

static int reader_borrow_call(PyObject *self, int64_t timeout_ns, aq_record_info *info, const void **data, aq_borrow **borrow) {
    return aq_subscriber_borrow(((SubscriberObject *)self)->subscriber, timeout_ns, info, data, borrow);
}

const reader_ops subscriber_reader_ops = {reader_enter, reader_leave, reader_get_call, reader_borrow_call};

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
    object->ops = &subscriber_reader_ops;
    object->owner = (QueueObject *)Py_NewRef(self);
    object->last.shape_tuple = NULL;
    format_cache_clear(&object->last);
    object->subscriber = subscriber;
    object->busy = 0;
    object->closing = 0;
    return (PyObject *)object;
}

static void subscriber_dealloc(SubscriberObject *self) {
    if (self->subscriber) aq_subscriber_close(self->subscriber);
    format_cache_clear(&self->last);
    Py_DECREF(self->owner);
    PyObject_Free(self);
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
    {"get", (PyCFunction)(void (*)(void))reader_get, METH_FASTCALL, "get(timeout[, out]) -> ndarray"},
    {"get_record", (PyCFunction)(void (*)(void))reader_get_record, METH_FASTCALL, "get_record(timeout[, out]) -> (ndarray, timestamp_ns, index, sequence)"},
    {"borrow", (PyCFunction)lease_borrow, METH_O, "borrow(timeout) -> Lease"},
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
