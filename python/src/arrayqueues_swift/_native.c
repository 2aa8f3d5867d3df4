/*
 * arrayqueues_swift._native: the extension module over the C interface of ArrayQueues
 * (arrayqueues.h). It only converts: Python objects to the C calls' arguments and results
 * back, with the GIL released while a call may wait. Everything a queue does is done by the
 * Swift library behind the header; the Python classes in __init__.py, queue.py, broadcast.py
 * and transport.py give it its public face. This file: errors, waits, dtypes, shapes and
 * timestamps, and the module; the others are listed in _native.h.
 *
 * Why an extension module rather than ctypes or cffi: a put or get through ctypes costs 6-50x
 * and through cffi 2.6-20x the time of this module's (measured; see docs/BENCHMARKS.md), which
 * decides the rate of small arrays.
 *
 * numpy is used through Python calls only (numpy.empty, numpy.ndarray, numpy.dtype), not its C API, so that
 * building needs nothing but Python's headers and the library's. The exceptions, for lent arrays
 * (_native_lent.c): reading an array's `base` field, and numpy's PyArray_NewFromDescr and
 * PyArray_SetBaseObject taken from its C API table; both are checked when the module loads.
 */
#include "_native.h"

/* MARK: - Module state */

static PyObject *numpy_asarray;        /* numpy.asarray */
static PyObject *dtype_objects[16];    /* numpy.dtype per aq_dtype code */
static PyObject *scalar_types[16];     /* its scalar type (numpy.uint8, ...) per aq_dtype code */
static PyObject *numpy_dtype;          /* numpy.dtype */
static PyObject *timestamp_function;   /* arrayqueues_swift._time.timestamp_ns, imported when first needed */
static PyObject *error_classes;        /* dict: code -> exception class (set by _set_errors) */
static PyObject *base_error;           /* the class for codes missing from the dict */
static PyObject *order_c;              /* "C" */

/* Raises the Python exception of `code`, with the library's message for this thread. */
PyObject *raise_code(int code, const char *message) {
    PyObject *cls = NULL;
    if (error_classes) {
        PyObject *key = PyLong_FromLong(code);
        if (key) {
            cls = PyDict_GetItemWithError(error_classes, key);
            Py_DECREF(key);
        }
    }
    if (!cls) cls = base_error ? base_error : PyExc_RuntimeError;
    /* Decoded leniently: the library cuts long messages at a byte count, maybe inside a character. */
    PyObject *text = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
    if (!text) return NULL;
    PyObject *exception = PyObject_CallFunction(cls, "Nii", text, code, aq_last_errno());
    if (exception) {
        PyErr_SetObject((PyObject *)Py_TYPE(exception), exception);
        Py_DECREF(exception);
    }
    return NULL;
}

PyObject *take_raised_exception(void) {
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (value && traceback) PyException_SetTraceback(value, traceback);
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    return value;
#endif
}

PyObject *raise_last(int code) {
    const char *message = aq_last_error_message();
    return raise_code(code, (message && *message) ? message : aq_strerror(code));
}

PyObject *raise_wait(int code, int timeout_key) {
    const char *message = aq_last_error_message();
    return raise_code(code == AQ_ETIMEOUT ? timeout_key : code, (message && *message) ? message : aq_strerror(code));
}

/* Timeouts arrive as nanoseconds (negative: forever); a deadline lets a retry use what is left. */
int64_t monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* A blocking call of the library ends only when it is done or times out; a signal does not end
 * it (docs/C_API.md). So that Ctrl-C works, long waits go in slices of at most WAIT_SLICE_NS,
 * and between slices Python's signal handlers run (KeyboardInterrupt ends the wait); so that
 * another thread's close() ends a wait without a timeout, the `closing` flag is read there too. */
#define WAIT_SLICE_NS 100000000

wait_t wait_begin(int64_t timeout_ns, const int *closing) {
    wait_t wait = {timeout_ns, timeout_ns > 0 ? monotonic_ns() : 0, closing};
    return wait;
}

/* The timeout of the next slice: never 0 unless the caller asked not to wait (a 0 would turn
 * a timeout into "full" or "empty"). */
int64_t wait_slice(const wait_t *wait) {
    if (wait->timeout <= 0) return wait->timeout == 0 ? 0 : WAIT_SLICE_NS;
    int64_t left = wait->timeout - (monotonic_ns() - wait->started);
    if (left < 1) left = 1;
    return left < WAIT_SLICE_NS ? left : WAIT_SLICE_NS;
}

int timeout_from(PyObject *seconds, int64_t *nanoseconds) {
    if (seconds == Py_None) {
        *nanoseconds = AQ_FOREVER;
        return 0;
    }
    double value = PyFloat_AsDouble(seconds);  /* ints and floats (and __float__) */
    if (value == -1.0 && PyErr_Occurred()) return -1;
    if (value != value || value < 0) {
        /* Refused rather than taken as 0: a negative timeout is a caller's mistake (a deadline
         * computed wrong, say), and "do not wait" is spelled 0. */
        PyObject *text = PyUnicode_FromFormat("timeout is %R: it must be None (no limit) or a number of seconds, "
                                              "0 or more (0: do not wait)", seconds);
        const char *message = text ? PyUnicode_AsUTF8(text) : NULL;
        if (message) raise_code(AQ_EINVALID_ARGUMENT, message);
        Py_XDECREF(text);
        return -1;
    }
    *nanoseconds = value == 0 ? 0 : value >= 4e9 ? ((int64_t)1 << 62) : (int64_t)(value * 1e9);
    return 0;
}

/* After a slice that timed out: 1 to wait another slice, 0 when the caller's timeout has
 * passed, -1 when a signal handler raised or the object was closed meanwhile (the exception is
 * set). Needs the GIL (close() sets the flag under it). */
int wait_again(const wait_t *wait) {
    if (wait->timeout == 0) return 0;
    if (wait->closing && *wait->closing) {
        raise_code(AQ_ECLOSED, "closed by another thread while this call waited");
        return -1;
    }
    if (wait->timeout > 0 && monotonic_ns() - wait->started >= wait->timeout) return 0;
    return PyErr_CheckSignals() < 0 ? -1 : 1;
}

/* MARK: - dtypes and buffers */

/* The aq_dtype of a buffer's struct format (numpy exports native formats without a prefix). */
int dtype_of_format(const char *format, Py_ssize_t itemsize) {
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
const char *format_of_dtype(int dtype) {
    static const char *formats[] = {NULL, "?", "b", "B", "h", "H", "i", "I", "q", "Q", "e", "f", "d", "Zf", "Zd"};
    return dtype >= 1 && dtype <= 14 ? formats[dtype] : "B";
}

/* A C-contiguous buffer of `object`, converting it with numpy.asarray(object, order="C") if it
 * is not one already (a strided view, a list, ...). Fills dtype, ndim and shape. */
int get_array_buffer(PyObject *object, Py_buffer *view, PyObject **converted, int *dtype, int *ndim, int64_t *shape) {
    *converted = NULL;
    /* An array lent for a block that has ended, or a list of them, raises Closed: numpy.asarray
     * would read room that belongs to the queue again, maybe to another record by now. */
    if (refuse_ended_loans(object) < 0) return -1;
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

PyObject *shape_tuple(int ndim, const int64_t *shape) {
    PyObject *tuple = PyTuple_New(ndim);
    if (!tuple) return NULL;
    for (int i = 0; i < ndim; i++) {
        PyObject *extent = PyLong_FromLongLong(shape[i]);
        if (!extent) { Py_DECREF(tuple); return NULL; }
        PyTuple_SET_ITEM(tuple, i, extent);
    }
    return tuple;
}

PyObject *dtype_object(int dtype) {
    if (dtype < 1 || dtype > 14 || !dtype_objects[dtype]) {
        return raise_code(AQ_EUNSUPPORTED_DTYPE, "a record has an unknown dtype code");
    }
    Py_INCREF(dtype_objects[dtype]);
    return dtype_objects[dtype];
}

int dtype_code(PyObject *dtype) {
    for (int code = 1; code <= 14; code++) {  /* the usual arguments: numpy's own objects */
        if (dtype == dtype_objects[code] || dtype == scalar_types[code]) return code;
    }
    PyObject *converted = PyObject_CallOneArg(numpy_dtype, dtype);
    if (!converted) return -1;
    for (int code = 1; code <= 14; code++) {
        int equal = PyObject_RichCompareBool(converted, dtype_objects[code], Py_EQ);
        if (equal != 0) {
            Py_DECREF(converted);
            return equal < 0 ? -1 : code;
        }
    }
    PyObject *text = PyObject_Str(converted);
    Py_DECREF(converted);
    if (!text) return -1;
    char message[200];
    snprintf(message, sizeof message, "dtype %s is not carried by ArrayQueues", PyUnicode_AsUTF8(text) ? PyUnicode_AsUTF8(text) : "?");
    Py_DECREF(text);
    PyErr_Clear();
    raise_code(AQ_EUNSUPPORTED_DTYPE, message);
    return -1;
}

int shape_from(PyObject *shape, int *ndim, int64_t *extents, PyObject **tuple) {
    if (tuple) *tuple = NULL;
    if (!PyTuple_Check(shape) && !PyList_Check(shape) && PyIndex_Check(shape)) {  /* one extent: int, numpy.int64, ... */
        PyObject *extent = PyNumber_Index(shape);
        if (extent) {
            extents[0] = PyLong_AsLongLong(extent);
            Py_DECREF(extent);
            if (extents[0] == -1 && PyErr_Occurred()) return -1;
            *ndim = 1;
            return tuple ? ((*tuple = shape_tuple(1, extents)) ? 0 : -1) : 0;
        }
        if (!PySequence_Check(shape)) return -1;
        PyErr_Clear();  /* an array of extents, say */
    }
    PyObject *items = PySequence_Fast(shape, "the shape must be an int or a sequence of ints");
    if (!items) return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(items);
    int exact = PyTuple_CheckExact(shape);
    if (count > AQ_MAX_DIMS) {
        Py_DECREF(items);
        raise_code(AQ_EINVALID_SHAPE, "an array may have at most 32 dimensions");
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(items, i);
        exact = exact && PyLong_CheckExact(item);
        extents[i] = PyLong_AsLongLong(item);
        if (extents[i] == -1 && PyErr_Occurred()) { Py_DECREF(items); return -1; }
    }
    Py_DECREF(items);
    *ndim = (int)count;
    if (!tuple) return 0;
    *tuple = exact ? Py_NewRef(shape) : shape_tuple(*ndim, extents);  /* numpy takes a tuple of ints as it is */
    return *tuple ? 0 : -1;
}

int unsigned_from(PyObject *object, unsigned long long maximum, const char *what, unsigned long long *value) {
    PyObject *number = PyNumber_Index(object);
    if (!number) return -1;
    *value = PyLong_AsUnsignedLongLong(number);
    if (*value == (unsigned long long)-1 && PyErr_Occurred()) {
        /* OverflowError: a negative int, or one past 2**64 - 1 */
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) { Py_DECREF(number); return -1; }
        PyErr_Clear();
    } else if (*value <= maximum) {
        Py_DECREF(number);
        return 0;
    }
    PyObject *text = PyUnicode_FromFormat("%s %S is out of range (0 to %llu)", what, number, maximum);
    Py_DECREF(number);
    if (!text) return -1;
    const char *message = PyUnicode_AsUTF8(text);
    if (message) raise_code(AQ_EINVALID_ARGUMENT, message);
    Py_DECREF(text);
    return -1;
}

int stamping_from(PyObject *timestamp, PyObject *index, int *flags, int64_t *timestamp_ns, int64_t *index_value) {
    *flags = 0;
    *timestamp_ns = *index_value = 0;
    if (timestamp != Py_None) {
        if (PyLong_CheckExact(timestamp)) {
            *timestamp_ns = PyLong_AsLongLong(timestamp);
        } else {
            if (!timestamp_function) {
                PyObject *module = PyImport_ImportModule("arrayqueues_swift._time");
                if (!module) return -1;
                timestamp_function = PyObject_GetAttrString(module, "timestamp_ns");
                Py_DECREF(module);
                if (!timestamp_function) return -1;
            }
            PyObject *nanoseconds = PyObject_CallOneArg(timestamp_function, timestamp);
            if (!nanoseconds) return -1;
            *timestamp_ns = PyLong_AsLongLong(nanoseconds);
            Py_DECREF(nanoseconds);
        }
        if (*timestamp_ns == -1 && PyErr_Occurred()) return -1;
        *flags |= AQ_PUT_TIMESTAMP;
    }
    if (index != Py_None) {
        *index_value = PyLong_AsLongLong(index);
        if (*index_value == -1 && PyErr_Occurred()) return -1;
        *flags |= AQ_PUT_INDEX;
    }
    return 0;
}

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

/* record_size(shape, dtype) */
static PyObject *native_record_size(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "record_size(shape, dtype)"); return NULL; }
    int ndim, dtype;
    int64_t shape[AQ_MAX_DIMS];
    if (shape_from(args[0], &ndim, shape, NULL) < 0 || (dtype = dtype_code(args[1])) < 0) return NULL;
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

/* refuse_ended(object): raises Closed if `object`, or an item of a list or tuple, is an array
 * lent for a block that has ended (numpy's asarray and stack would copy it unasked). */
static PyObject *native_refuse_ended(PyObject *module, PyObject *object) {
    if (refuse_ended_loans(object) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"open_queue", native_open_queue, METH_VARARGS, "open_queue(name, how, capacity, overflow, shape_change, spin_ns, mode, allow_other_owner[, broadcast]) -> Queue"},
    {"remove_queue", native_remove_queue, METH_VARARGS, "remove_queue(name)"},
    {"queue_exists", native_queue_exists, METH_VARARGS, "queue_exists(name) -> bool"},
    {"open_sender", native_open_sender, METH_VARARGS, "open_sender(...) -> Sender"},
    {"open_receiver", native_open_receiver, METH_VARARGS, "open_receiver(...) -> Receiver"},
    {"record_size", (PyCFunction)(void (*)(void))native_record_size, METH_FASTCALL, "record_size(shape, dtype) -> ring bytes"},
    {"curve_keypair", native_curve_keypair, METH_NOARGS, "curve_keypair() -> (public, secret)"},
    {"strerror", native_strerror, METH_O, "strerror(code) -> str"},
    {"refuse_ended", native_refuse_ended, METH_O, "refuse_ended(object): raises Closed for an array lent for a block that has ended, or a list or tuple holding one"},
    {"_pool_state", native_pool_state, METH_NOARGS, "_pool_state() -> (buffers, bytes) kept for reuse by large gets"},
    {"_set_errors", native_set_errors, METH_VARARGS, "_set_errors(table, base)"},
    {"_get_many_test_hook", native_get_many_test_hook, METH_VARARGS,
     "_get_many_test_hook(failures, signal): test hook, for python/tests only: the next `failures` batches get_many "
     "takes fail while their arrays are made, with MemoryError (signal 0) or by raising `signal`"},
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
    numpy_asarray = PyObject_GetAttrString(numpy, "asarray");
    numpy_dtype = PyObject_GetAttrString(numpy, "dtype");
    if (!numpy_asarray || !numpy_dtype || buffers_init(numpy) < 0) { Py_DECREF(numpy); return NULL; }
    /* The dtypes are the library's (aq_dtype_typestr): the one table of them. */
    PyObject *dtypes = PyTuple_New(14);
    if (!dtypes) { Py_DECREF(numpy); return NULL; }
    for (int code = 1; code <= 14; code++) {
        dtype_objects[code] = PyObject_CallFunction(numpy_dtype, "s", aq_dtype_typestr(code));
        scalar_types[code] = dtype_objects[code] ? PyObject_GetAttrString(dtype_objects[code], "type") : NULL;
        if (!scalar_types[code]) { Py_DECREF(numpy); Py_DECREF(dtypes); return NULL; }
        PyTuple_SET_ITEM(dtypes, code - 1, Py_NewRef(dtype_objects[code]));
    }
    order_c = PyUnicode_FromString("C");
    if (PyType_Ready(&QueueType) < 0 || leases_init() < 0 || PyType_Ready(&SubscriberType) < 0 || PyType_Ready(&SenderType) < 0 ||
        PyType_Ready(&ReceiverType) < 0) { Py_DECREF(numpy); Py_DECREF(dtypes); return NULL; }
    PyObject *module = PyModule_Create(&module_definition);
    if (!module || lent_arrays_init(numpy, module) < 0) { Py_DECREF(numpy); Py_DECREF(dtypes); Py_XDECREF(module); return NULL; }
    Py_DECREF(numpy);
    PyModule_AddObject(module, "DTYPES", dtypes);  /* the dtype of code c is DTYPES[c - 1] */
    PyModule_AddIntConstant(module, "ABI_VERSION", AQ_ABI_VERSION);
    PyModule_AddStringConstant(module, "LIBRARY_VERSION", aq_version());
    PyModule_AddObject(module, "Queue", Py_NewRef((PyObject *)&QueueType));
    PyModule_AddObject(module, "Lease", Py_NewRef((PyObject *)&LeaseType));
    PyModule_AddObject(module, "Subscriber", Py_NewRef((PyObject *)&SubscriberType));
    PyModule_AddObject(module, "Sender", Py_NewRef((PyObject *)&SenderType));
    PyModule_AddObject(module, "Receiver", Py_NewRef((PyObject *)&ReceiverType));
    return module;
}
