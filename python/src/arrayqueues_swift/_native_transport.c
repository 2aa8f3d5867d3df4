/* arrayqueues_swift._native: senders and receivers (ArrayTransport through the C interface). */
#include "_native.h"

/* MARK: - Sender */

typedef struct {
    PyObject_HEAD
    aq_sender *sender;
    int busy;     /* sends in progress with the GIL released */
    int closing;  /* close() was called: the sender goes when the last send returns */
    PyObject *final_statistics; /* the counters as the close left them (a dict), or NULL: some,
                                 * shared_memory_lost, are counted by the close itself */
} SenderObject;

/* The counters as the dict statistics() returns. */
static PyObject *sender_statistics_dict(const aq_sender_statistics *s) {
    return Py_BuildValue("{sKsKsKsKsKsLsKsLsKsLsKsKsKsK}",
        "epoch", (unsigned long long)s->epoch, "sent", (unsigned long long)s->sent, "dropped", (unsigned long long)s->dropped,
        "bytes_sent", (unsigned long long)s->bytes_sent, "heartbeats", (unsigned long long)s->heartbeats,
        "in_flight_bytes", (long long)s->in_flight_bytes, "next_sequence", (unsigned long long)s->next_sequence,
        "shared_memory_subscribers", (long long)s->shared_memory_subscribers,
        "shared_memory_dropped", (unsigned long long)s->shared_memory_dropped,
        "peers", (long long)s->peers, "peers_disconnected", (unsigned long long)s->peers_disconnected,
        "rejected_subscriptions", (unsigned long long)s->rejected_subscriptions,
        "shared_memory_lost", (unsigned long long)s->shared_memory_lost,
        "peers_dropped", (unsigned long long)s->peers_dropped);
}

/* Closes the sender once close() was called and no send is running, keeping the final counters
 * (`keep`: not when the object itself is going). Called with the GIL held. */
static void sender_finish_close_keeping(SenderObject *self, int keep) {
    if (self->sender && self->closing && self->busy == 0) {
        aq_sender *sender = self->sender;
        self->sender = NULL;
        aq_sender_statistics s = {.size = sizeof(aq_sender_statistics)};
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = aq_sender_close_with_statistics(sender, &s);
        Py_END_ALLOW_THREADS
        if (keep && rc == AQ_OK) {
            PyObject *final = sender_statistics_dict(&s);
            if (!final) PyErr_Clear();  /* statistics() then raises Closed, as before */
            Py_XSETREF(self->final_statistics, final);
        }
    }
}

static void sender_finish_close(SenderObject *self) { sender_finish_close_keeping(self, 1); }

static void sender_dealloc(SenderObject *self) {
    self->closing = 1;
    sender_finish_close_keeping(self, 0);
    Py_XDECREF(self->final_statistics);
    PyObject_Free(self);
}

static const char *optional_string(PyObject *object) {
    return object == Py_None ? NULL : PyUnicode_AsUTF8(object);
}

/* _native.open_sender(endpoint, stream, pattern, role, fast_path, send_timeout_ns, byte_budget,
 *                     expected_message_bytes, heartbeat_interval_ns, linger_ns, shm_capacity,
 *                     curve_secret_key, curve_server_public_key, shm_mode, shm_allow_other_owner,
 *                     maximum_arrays, maximum_connections);
 * 0 for the numeric defaults (-1 for linger_ns and maximum_connections, INT64_MIN for
 * send_timeout_ns: 0 means something there); other values go to the C interface as given, which refuses negative sizes
 * (AQ_EINVALID_ARGUMENT); a negative heartbeat_interval_ns means none (transport.py passes -1
 * for heartbeat_interval=0, and checked every duration). */
PyObject *native_open_sender(PyObject *module, PyObject *args) {
    const char *endpoint, *stream;
    int pattern, role, fast_path, shm_allow_other_owner;
    long long send_timeout_ns, byte_budget, expected, heartbeat, linger, shm_capacity, maximum_arrays, maximum_connections;
    unsigned long long shm_mode;
    PyObject *secret, *server_public, *mode_argument;
    if (!PyArg_ParseTuple(args, "ssiiiLLLLLLOOOpLL", &endpoint, &stream, &pattern, &role, &fast_path, &send_timeout_ns,
                          &byte_budget, &expected, &heartbeat, &linger, &shm_capacity, &secret, &server_public, &mode_argument,
                          &shm_allow_other_owner, &maximum_arrays, &maximum_connections) ||
        unsigned_from(mode_argument, UINT32_MAX, "shm_mode", &shm_mode) < 0) return NULL;
    aq_sender_options options;
    aq_sender_options_init(&options);
    options.pattern = pattern;
    options.role = role;
    options.fast_path = fast_path;
    if (send_timeout_ns != INT64_MIN) options.send_timeout_ns = send_timeout_ns;
    if (byte_budget != 0) options.byte_budget = byte_budget;
    if (expected != 0) options.expected_message_bytes = expected;
    if (heartbeat != 0) options.heartbeat_interval_ns = heartbeat;
    if (linger >= 0) options.linger_ns = linger;
    if (shm_capacity != 0) options.shm_capacity = shm_capacity;
    if (maximum_arrays != 0) options.maximum_arrays = maximum_arrays;
    if (maximum_connections != -1) options.maximum_connections = maximum_connections;
    options.shm_mode = (uint32_t)shm_mode;
    options.shm_allow_other_owner = shm_allow_other_owner;
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
    self->closing = 0;
    self->final_statistics = NULL;
    return (PyObject *)self;
}

static int sender_check(SenderObject *self) {
    if (!self->sender || self->closing) { raise_code(AQ_ECLOSED, "the sender is closed"); return -1; }
    return 0;
}

/* send(arrays: sequence of (name, array), timestamp, index, meta_json or None) -> (status, sequence);
 * timestamp and index as put takes them (None: now, none). */
static PyObject *sender_send(SenderObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) { PyErr_SetString(PyExc_TypeError, "send takes 4 arguments"); return NULL; }
    if (sender_check(self) < 0) return NULL;
    int flags;
    int64_t timestamp_ns, index;
    if (stamping_from(args[1], args[2], &flags, &timestamp_ns, &index) < 0) return NULL;
    const char *meta = optional_string(args[3]);
    if (PyErr_Occurred()) return NULL;
    PyObject *items = PySequence_Fast(args[0], "arrays must be a sequence of (name, array) pairs");
    if (!items) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(items);
    /* The sender's maximum_arrays (256 by default) is checked by the C interface; this bounds
     * what is allocated here, as aq_sender_send() bounds `count`. */
    if (count < 1 || count > 65536) {
        Py_DECREF(items);
        return raise_code(AQ_EINVALID_ARGUMENT, "a message has 1 to 65536 arrays (at most the sender's maximum_arrays)");
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
    sender_finish_close(self);  /* a close() that came during the send */
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

/* The counters now; after close(), those the close left (a copy each time), which include
 * what only the close counts (shared_memory_lost). While a close waits for another thread's
 * send, the counters of now. */
static PyObject *sender_statistics(SenderObject *self, PyObject *unused) {
    if (self->final_statistics) return PyDict_Copy(self->final_statistics);
    if (!self->sender) return raise_code(AQ_ECLOSED, "the sender is closed");
    aq_sender_statistics s = {.size = sizeof(aq_sender_statistics)};
    int rc = aq_sender_statistics_get(self->sender, &s);
    if (rc < 0) return raise_last(rc);
    return sender_statistics_dict(&s);
}

/* Closes now, or, while another thread sends, when that send returns. */
static PyObject *sender_close(SenderObject *self, PyObject *unused) {
    self->closing = 1;
    sender_finish_close(self);
    Py_RETURN_NONE;
}

static PyMethodDef sender_methods[] = {
    {"send", (PyCFunction)(void (*)(void))sender_send, METH_FASTCALL, "send(arrays, timestamp, index, meta_json) -> (status, sequence)"},
    {"endpoint", (PyCFunction)sender_endpoint, METH_NOARGS, "The bound endpoint."},
    {"statistics", (PyCFunction)sender_statistics, METH_NOARGS, "Counters, as a dict."},
    {"close", (PyCFunction)sender_close, METH_NOARGS, "Sends end and frees the sender."},
    {NULL},
};

PyTypeObject SenderType = {
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
 *                       curve_secret_key, curve_server_public_key, shm_mode, shm_allow_other_owner,
 *                       maximum_arrays, heartbeat_interval_ns, missed_heartbeats,
 *                       maximum_connections, zero_copy_receive (bool), byte_budget);
 *                       0 for the numeric defaults (-1 for linger_ns and
 *                       maximum_connections, where 0 means something); negative
 *                       sizes go to the C interface, which refuses them (transport.py refused
 *                       negative durations, and a heartbeat interval, missed_heartbeats or
 *                       byte_budget under 1, already). */
PyObject *native_open_receiver(PyObject *module, PyObject *args) {
    const char *endpoint;
    int pattern, role, fast_path, detects_loss, shm_allow_other_owner, zero_copy_receive;
    PyObject *subscriptions, *secret, *server_public;
    long long fast_path_timeout, linger, shm_capacity, maximum_bytes, maximum_arrays, heartbeat, missed, maximum_connections,
        byte_budget;
    unsigned long long shm_mode;
    PyObject *mode_argument;
    if (!PyArg_ParseTuple(args, "siiiiOLLLLOOOpLLLLpL", &endpoint, &pattern, &role, &fast_path, &detects_loss, &subscriptions,
                          &fast_path_timeout, &linger, &shm_capacity, &maximum_bytes, &secret, &server_public, &mode_argument,
                          &shm_allow_other_owner, &maximum_arrays, &heartbeat, &missed, &maximum_connections,
                          &zero_copy_receive, &byte_budget) ||
        unsigned_from(mode_argument, UINT32_MAX, "shm_mode", &shm_mode) < 0) return NULL;
    aq_receiver_options options;
    aq_receiver_options_init(&options);
    options.pattern = pattern;
    options.role = role;
    options.fast_path = fast_path;
    options.detects_loss = detects_loss;
    if (fast_path_timeout > 0) options.fast_path_timeout_ns = fast_path_timeout;
    if (linger >= 0) options.linger_ns = linger;
    if (shm_capacity != 0) options.shm_capacity = shm_capacity;
    if (maximum_bytes != 0) options.maximum_message_bytes = maximum_bytes;
    if (maximum_arrays != 0) options.maximum_arrays = maximum_arrays;
    if (heartbeat != 0) options.heartbeat_interval_ns = heartbeat;
    if (missed != 0) options.missed_heartbeats = missed;
    if (maximum_connections != -1) options.maximum_connections = maximum_connections;
    if (byte_budget != 0) options.byte_budget = byte_budget;
    options.zero_copy_receive = zero_copy_receive;
    options.shm_mode = (uint32_t)shm_mode;
    options.shm_allow_other_owner = shm_allow_other_owner;
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

/* receive(timeout, flags) -> message tuple, or None when nothing arrived in time */
static PyObject *receiver_receive(ReceiverObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "receive takes 2 arguments"); return NULL; }
    int64_t timeout_ns;
    if (timeout_from(args[0], &timeout_ns) < 0) return NULL;
    int flags = (int)PyLong_AsLong(args[1]);
    if (PyErr_Occurred()) return NULL;
    if (receiver_enter(self) < 0) return NULL;
    aq_message *message = NULL;
    int rc, again = 0;
    wait_t wait = wait_begin(timeout_ns, &self->closing);
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

/* A text the C library writes about the receiver (`get`: one of its aq_receiver_* text calls). */
static PyObject *receiver_text(ReceiverObject *self, int (*get)(aq_receiver *, char *, size_t)) {
    if (receiver_enter(self) < 0) return NULL;
    char buffer[4096];
    int rc = get(self->receiver, buffer, sizeof buffer);
    receiver_leave(self);
    if (rc < 0) return raise_last(rc);
    return PyUnicode_FromString(buffer);
}

static PyObject *receiver_fast_path_problem(ReceiverObject *self, PyObject *unused) {
    return receiver_text(self, aq_receiver_fast_path_problem);
}

static PyObject *receiver_last_malformed_reason(ReceiverObject *self, PyObject *unused) {
    return receiver_text(self, aq_receiver_last_malformed_reason);
}

/* aq_receiver_endpoint, whose handle is const, in receiver_text's shape. */
static int receiver_endpoint_text(aq_receiver *receiver, char *buffer, size_t capacity) {
    return aq_receiver_endpoint(receiver, buffer, capacity);
}

static PyObject *receiver_endpoint(ReceiverObject *self, PyObject *unused) {
    return receiver_text(self, receiver_endpoint_text);
}

static PyObject *receiver_statistics(ReceiverObject *self, PyObject *unused) {
    if (receiver_enter(self) < 0) return NULL;
    aq_receiver_statistics s = {.size = sizeof(aq_receiver_statistics)};
    int rc = aq_receiver_statistics_get(self->receiver, &s);
    receiver_leave(self);
    if (rc < 0) return raise_last(rc);
    return Py_BuildValue("{sKsKsKsKsKsKsKsKsKsKsLsOsisKsKsK}",
        "received", (unsigned long long)s.received, "bytes_received", (unsigned long long)s.bytes_received,
        "heartbeats", (unsigned long long)s.heartbeats, "ends", (unsigned long long)s.ends, "lost", (unsigned long long)s.lost,
        "out_of_order", (unsigned long long)s.out_of_order, "malformed", (unsigned long long)s.malformed,
        "epochs_seen", (unsigned long long)s.epochs_seen, "restarts", (unsigned long long)s.restarts,
        "copied_payloads", (unsigned long long)s.copied_payloads, "silence_ns", (long long)s.silence_ns,
        "peer_is_silent", s.peer_is_silent ? Py_True : Py_False, "path", (int)s.path,
        "received_through_shared_memory", (unsigned long long)s.received_through_shared_memory,
        "switches_to_shared_memory", (unsigned long long)s.switches_to_shared_memory,
        "peers_dropped", (unsigned long long)s.peers_dropped);
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
    {"receive", (PyCFunction)(void (*)(void))receiver_receive, METH_FASTCALL, "receive(timeout, flags) -> message tuple or None"},
    {"path", (PyCFunction)receiver_path, METH_NOARGS, "aq_path in use."},
    {"endpoint", (PyCFunction)receiver_endpoint, METH_NOARGS, "The bound endpoint."},
    {"fast_path_problem", (PyCFunction)receiver_fast_path_problem, METH_NOARGS, "Why the fast path is not taken."},
    {"last_malformed_reason", (PyCFunction)receiver_last_malformed_reason, METH_NOARGS, "Why the last malformed message was rejected."},
    {"statistics", (PyCFunction)receiver_statistics, METH_NOARGS, "Counters, as a dict."},
    {"shutdown", (PyCFunction)receiver_shutdown, METH_NOARGS, "Wakes and stops waiting receives."},
    {"close", (PyCFunction)receiver_close, METH_NOARGS, "Frees the receiver (when no receive is running)."},
    {NULL},
};

PyTypeObject ReceiverType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "arrayqueues_swift._native.Receiver",
    .tp_basicsize = sizeof(ReceiverObject),
    .tp_dealloc = (destructor)receiver_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A receiver handle (aq_receiver).",
    .tp_methods = receiver_methods,
};

