/* arrayqueues_swift._native: batches of records (aq_queue_put_many, aq_queue_get_many). */
#include "_native.h"

/* Adds `put_count`, how many records of the batch are in the queue, to the exception being
 * raised (keeping it if the attribute cannot be set); returns NULL. */
static PyObject *raise_with_put_count(size_t done) {
    PyObject *exception = take_raised_exception();
    if (!exception) return NULL;
    PyObject *count = PyLong_FromSize_t(done);
    if (!count || PyObject_SetAttrString(exception, "put_count", count) < 0) PyErr_Clear();
    Py_XDECREF(count);
    PyErr_SetObject((PyObject *)Py_TYPE(exception), exception);
    Py_DECREF(exception);
    return NULL;
}

/* put_many(arrays, timeout) -> how many were put. `arrays` is one C-contiguous array whose
 * first axis counts the records (each of the remaining shape). Waits for room in slices, as
 * put does; a slice that runs out with part of the batch put goes on with the rest. The count
 * is never lost: a wait that ends with part of the batch put -- the timeout ran out, or another
 * thread closed the handle (its next call raises Closed) -- returns it, and an exception raised
 * once the arguments were accepted carries it as `put_count` (a signal handler's, an error of
 * the queue). So the timeout, Full and Closed are raised only when nothing was put. */
PyObject *queue_put_many(QueueObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "put_many takes 2 arguments"); return NULL; }
    int64_t timeout_ns;
    if (timeout_from(args[1], &timeout_ns) < 0) return NULL;
    Py_buffer view;
    PyObject *converted;
    int dtype, ndim;
    int64_t shape[AQ_MAX_DIMS];
    if (get_array_buffer(args[0], &view, &converted, &dtype, &ndim, shape) < 0) return NULL;
    if (ndim < 1) {
        PyBuffer_Release(&view);
        Py_XDECREF(converted);
        return raise_code(AQ_EINVALID_SHAPE, "put_many takes an array whose first axis counts the records");
    }
    size_t count = (size_t)shape[0];
    size_t nbytes = count ? (size_t)view.len / count : 0;
    if (queue_enter(self) < 0) { PyBuffer_Release(&view); Py_XDECREF(converted); return raise_with_put_count(0); }
    size_t done = 0;
    int rc = AQ_OK, again = 0;
    wait_t wait = wait_begin(timeout_ns, &self->closing);
    while (done < count) {
        int64_t slice = wait_slice(&wait);
        size_t put = 0;
        const char *data = (const char *)view.buf + done * nbytes;
        Py_BEGIN_ALLOW_THREADS
        rc = aq_queue_put_many(self->queue, dtype, ndim - 1, shape + 1, data, nbytes, count - done, slice, &put);
        Py_END_ALLOW_THREADS
        done += put;
        if (rc == AQ_ETIMEOUT && (again = wait_again(&wait)) > 0) continue;
        /* timeout 0: what fitted is put and AQ_OK returned; otherwise everything or an error */
        break;
    }
    /* Whether the wait ended because the handle was closed, not by a signal handler's
     * exception: read with the GIL held since wait_again, so no close() came in between. */
    int closed = again < 0 && self->closing;
    queue_leave(self);
    PyBuffer_Release(&view);
    Py_XDECREF(converted);
    if (closed && done > 0) {
        PyErr_Clear();  /* ended the wait, as a timeout does */
        return PyLong_FromSize_t(done);
    }
    if (again < 0) return raise_with_put_count(done);
    if (rc < 0 && (done == 0 || (rc != AQ_ETIMEOUT && rc != AQ_EFULL))) {
        raise_wait(rc, PUT_TIMEOUT);
        return raise_with_put_count(done);
    }
    return PyLong_FromSize_t(done);
}

static size_t round64(uint64_t value) { return (size_t)((value + 63) & ~(uint64_t)63); }

/* The most bytes one get_many asks for by itself (a larger first record gets its size). */
#define BATCH_BYTES_LIMIT ((size_t)64 << 20)

/* The arrays of a batch copied into `buffer`: views of it when the records have one dtype and
 * shape and lie at equal distances (what put_many makes), otherwise an array of each. */
static PyObject *batch_arrays(PyObject *buffer, const char *bytes, const aq_record_info *infos, const size_t *offsets, size_t count) {
    const aq_record_info *first = &infos[0];
    size_t stride = count > 1 ? offsets[1] - offsets[0] : 64;
    int uniform = offsets[0] == 0 && stride > 0;
    for (size_t i = 1; uniform && i < count; i++) {
        uniform = infos[i].dtype == first->dtype && infos[i].ndim == first->ndim &&
                  memcmp(infos[i].shape, first->shape, sizeof(int64_t) * (size_t)first->ndim) == 0 && offsets[i] == i * stride;
    }
    if (uniform) return array_rows(buffer, first->dtype, first->ndim, first->shape, count, stride);
    PyObject *arrays = PyList_New((Py_ssize_t)count);
    if (!arrays) return NULL;
    for (size_t i = 0; i < count; i++) {
        PyObject *shape = shape_tuple(infos[i].ndim, infos[i].shape);
        if (!shape) { Py_DECREF(arrays); return NULL; }
        Py_buffer view;
        PyObject *array = new_array(shape, infos[i].dtype, &view);
        Py_DECREF(shape);
        if (!array) { Py_DECREF(arrays); return NULL; }
        if (infos[i].nbytes) memcpy(view.buf, bytes + offsets[i], (size_t)infos[i].nbytes);
        PyBuffer_Release(&view);
        PyList_SET_ITEM(arrays, (Py_ssize_t)i, array);
    }
    return arrays;
}

/* get_many(max_count, timeout, record_bytes) -> (arrays, largest record's bytes): the records'
 * payloads are copied into one buffer, each at a multiple of 64 bytes. The buffer holds
 * max_count records of `record_bytes` (a guess: the caller passes the largest record it has
 * seen); a first record larger than that is asked for again with a buffer of its size (it
 * stays in the queue meanwhile). The library waits only for the first record: a timeout, a
 * close() by another thread or a signal handler's exception ends that wait, before any record
 * is taken, so none that was taken is lost to them. */
PyObject *queue_get_many(QueueObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) { PyErr_SetString(PyExc_TypeError, "get_many takes 3 arguments"); return NULL; }
    Py_ssize_t max_count = PyLong_AsSsize_t(args[0]);
    if (max_count == -1 && PyErr_Occurred()) return NULL;
    if (max_count < 1) { PyErr_SetString(PyExc_ValueError, "max_count must be at least 1"); return NULL; }
    int64_t timeout_ns;
    if (timeout_from(args[1], &timeout_ns) < 0) return NULL;
    unsigned long long guess = PyLong_AsUnsignedLongLong(args[2]);
    if (PyErr_Occurred()) return NULL;
    if ((size_t)max_count > SIZE_MAX / sizeof(aq_record_info)) return PyErr_NoMemory();
    if (self->pending_error) {
        /* Met by the last call after it had taken records, which it returned. */
        PyObject *error = self->pending_error;
        self->pending_error = NULL;
        PyErr_SetObject((PyObject *)Py_TYPE(error), error);
        Py_DECREF(error);
        return NULL;
    }
    aq_record_info *infos = PyMem_Malloc(sizeof(aq_record_info) * (size_t)max_count);
    size_t *offsets = PyMem_Malloc(sizeof(size_t) * (size_t)max_count);
    if (!infos || !offsets) { PyMem_Free(infos); PyMem_Free(offsets); return PyErr_NoMemory(); }
    size_t per_record = round64(guess > BATCH_BYTES_LIMIT ? BATCH_BYTES_LIMIT : guess);
    size_t capacity = per_record && (size_t)max_count > BATCH_BYTES_LIMIT / per_record ? BATCH_BYTES_LIMIT : per_record * (size_t)max_count;
    PyObject *buffer = NULL, *result = NULL;
    Py_buffer view = {0};
    size_t count = 0;
    int rc, again = 0;
    if (queue_enter(self) < 0) goto fail_unentered;
    wait_t wait = wait_begin(timeout_ns, &self->closing);
    for (;;) {
        if (!buffer) {
            PyObject *shape = Py_BuildValue("(n)", (Py_ssize_t)capacity);
            if (!shape) goto fail;
            buffer = new_array(shape, AQ_DTYPE_UINT8, &view);
            Py_DECREF(shape);
            if (!buffer) goto fail;
        }
        int64_t slice = wait_slice(&wait);
        Py_BEGIN_ALLOW_THREADS
        rc = aq_queue_get_many(self->queue, view.buf, capacity, infos, offsets, (size_t)max_count, &count, slice);
        Py_END_ALLOW_THREADS
        if (rc == AQ_ETIMEOUT && (again = wait_again(&wait)) > 0) continue;
        if (again < 0) goto fail;
        if (rc == AQ_EBUFFER_TOO_SMALL) {
            /* The first record is larger than the guess: room for max_count of its size, at
             * least one (the library checked that it fits in the queue, so in memory). */
            per_record = round64(infos[0].nbytes ? infos[0].nbytes : 1);  /* never 0: it divides below */
            capacity = (size_t)max_count > BATCH_BYTES_LIMIT / per_record ? BATCH_BYTES_LIMIT : per_record * (size_t)max_count;
            if (capacity < per_record) capacity = per_record;
            PyBuffer_Release(&view);
            Py_CLEAR(buffer);
            continue;
        }
        if (rc < 0) {
            raise_wait(rc, GET_TIMEOUT);
            if (count == 0) goto fail;
            /* The records taken before the error are the caller's: returned now, nothing lost;
             * the error is kept for the next call. */
            Py_XSETREF(self->pending_error, take_raised_exception());
        }
        break;
    }
    PyObject *arrays = batch_arrays(buffer, view.buf, infos, offsets, count);
    if (!arrays) goto fail;
    uint64_t largest = 0;
    for (size_t i = 0; i < count; i++) largest = infos[i].nbytes > largest ? infos[i].nbytes : largest;
    result = Py_BuildValue("(NK)", arrays, (unsigned long long)largest);
fail:
    queue_leave(self);
fail_unentered:
    if (buffer) PyBuffer_Release(&view);
    Py_XDECREF(buffer);
    PyMem_Free(infos);
    PyMem_Free(offsets);
    return result;
}
