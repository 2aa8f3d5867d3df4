/* arrayqueues_swift._native: batches of records (aq_queue_put_many, aq_queue_get_many). */
#include "_native.h"

#include <signal.h>

/* Adds `attribute` (`put_count`, `get_count`: how many records of the batch are in the queue,
 * or were taken from it) to the exception being raised, keeping the exception if the attribute
 * cannot be set; returns NULL. */
static PyObject *raise_with_count(const char *attribute, size_t count) {
    PyObject *exception = take_raised_exception();
    if (!exception) return NULL;
    PyObject *number = PyLong_FromSize_t(count);
    if (!number || PyObject_SetAttrString(exception, attribute, number) < 0) PyErr_Clear();
    Py_XDECREF(number);
    PyErr_SetObject((PyObject *)Py_TYPE(exception), exception);
    Py_DECREF(exception);
    return NULL;
}

static PyObject *raise_with_put_count(size_t done) { return raise_with_count("put_count", done); }

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

/* Records get_many took from the queue but did not return, because an exception came while it
 * made their arrays (a MemoryError, or a signal handler's): their payloads stay in `buffer`,
 * and the handle keeps them (QueueObject.kept) for its next get_many. Everything a kept batch
 * needs is allocated before the records are taken, so keeping them cannot fail. */
typedef struct kept_batch {
    struct kept_batch *next;
    PyObject *buffer;        /* the uint8 array the payloads were copied into */
    Py_buffer view;          /* held on `buffer` */
    aq_record_info *infos;
    size_t *offsets;         /* of each payload in `buffer` */
    size_t count;            /* records in the batch */
    size_t start;            /* the first one not returned yet */
} kept_batch;

static void kept_batch_free(kept_batch *batch) {
    if (batch->buffer) PyBuffer_Release(&batch->view);
    Py_XDECREF(batch->buffer);
    PyMem_Free(batch->infos);
    PyMem_Free(batch->offsets);
    PyMem_Free(batch);
}

void kept_batches_free(QueueObject *self) {
    while (self->kept) {
        kept_batch *batch = self->kept;
        self->kept = batch->next;
        kept_batch_free(batch);
    }
}

int raise_pending_error(QueueObject *self) {
    if (!self->pending_error) return 0;
    PyObject *error = self->pending_error;
    self->pending_error = NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(error), error);
    Py_DECREF(error);
    return -1;
}

size_t kept_count(const QueueObject *self) {
    size_t count = 0;
    for (const kept_batch *batch = self->kept; batch; batch = batch->next) count += batch->count - batch->start;
    return count;
}

kept_batch *kept_detach(QueueObject *self, aq_record_info *info, const void **payload, PyObject **buffer) {
    kept_batch *batch = self->kept;
    if (!batch || self->closing) return NULL;
    self->kept = batch->next;
    batch->next = NULL;
    *info = batch->infos[batch->start];
    *payload = (const char *)batch->view.buf + batch->offsets[batch->start];
    *buffer = batch->buffer;
    return batch;
}

void kept_attach(QueueObject *self, kept_batch *batch, int taken) {
    if (taken) batch->start++;
    if (batch->start == batch->count || self->closing) {
        kept_batch_free(batch);  /* empty, or closed meanwhile: close() has freed the others */
    } else {
        batch->next = self->kept;  /* back in front: the oldest */
        self->kept = batch;
    }
}

/* Test hook (_native._get_many_test_hook, for python/tests only): the next `hook_failures`
 * batches get_many makes arrays of fail as if memory ran out -- or, with `hook_signal`, raise
 * that signal while the arrays are made, so that its Python handler runs after them -- to
 * check that no record taken is lost. 0 and 0 (the default): no effect. */
static long hook_failures;
static int hook_signal;

PyObject *native_get_many_test_hook(PyObject *module, PyObject *args) {
    if (!PyArg_ParseTuple(args, "li", &hook_failures, &hook_signal)) return NULL;
    Py_RETURN_NONE;
}

/* The arrays of `count` records copied into `buffer`: views of it when the records have one
 * dtype and shape and lie at equal distances (what put_many makes), otherwise an array of each.
 * Then Python's signal handlers run, so that one that raises does so here, where the records
 * are kept, rather than as this call returns, where they would be lost. NULL with an exception
 * set: the records were not returned. */
static PyObject *batch_arrays(PyObject *buffer, const char *bytes, const aq_record_info *infos, const size_t *offsets, size_t count) {
    if (hook_failures > 0) {
        hook_failures--;
        if (!hook_signal) return PyErr_NoMemory();
        raise(hook_signal);  /* Python's C-level handler only notes it; the Python one runs below */
    }
    const aq_record_info *first = &infos[0];
    size_t stride = count > 1 ? offsets[1] - offsets[0] : 64;
    int uniform = stride > 0;
    for (size_t i = 1; uniform && i < count; i++) {
        uniform = infos[i].dtype == first->dtype && infos[i].ndim == first->ndim &&
                  memcmp(infos[i].shape, first->shape, sizeof(int64_t) * (size_t)first->ndim) == 0 &&
                  offsets[i] == offsets[0] + i * stride;
    }
    PyObject *arrays;
    if (uniform) {
        arrays = array_rows(buffer, offsets[0], first->dtype, first->ndim, first->shape, count, stride);
    } else {
        arrays = PyList_New((Py_ssize_t)count);
        for (size_t i = 0; arrays && i < count; i++) {
            PyObject *shape = shape_tuple(infos[i].ndim, infos[i].shape);
            if (!shape) { Py_CLEAR(arrays); break; }
            Py_buffer view;
            PyObject *array = new_array(shape, infos[i].dtype, &view);
            Py_DECREF(shape);
            if (!array) { Py_CLEAR(arrays); break; }
            if (infos[i].nbytes) memcpy(view.buf, bytes + offsets[i], (size_t)infos[i].nbytes);
            PyBuffer_Release(&view);
            PyList_SET_ITEM(arrays, (Py_ssize_t)i, array);
        }
    }
    if (arrays && PyErr_CheckSignals() < 0) Py_CLEAR(arrays);
    return arrays;
}

/* Up to `max_count` of the records the oldest kept batch holds, without touching the queue; if
 * their arrays cannot be made either, they stay kept and the exception says how many. */
static PyObject *return_kept(QueueObject *self, size_t max_count) {
    kept_batch *batch = self->kept;
    self->kept = batch->next;  /* detached while Python code may run (numpy, signal handlers) */
    batch->next = NULL;
    size_t count = batch->count - batch->start;
    if (count > max_count) count = max_count;
    PyObject *arrays = batch_arrays(batch->buffer, batch->view.buf, batch->infos + batch->start,
                                    batch->offsets + batch->start, count);
    if (arrays) batch->start += count;
    if (batch->start == batch->count) {
        kept_batch_free(batch);
    } else if (self->closing) {
        kept_batch_free(batch);  /* closed meanwhile: close() has freed the others */
    } else {
        batch->next = self->kept;  /* back in front: the oldest */
        self->kept = batch;
    }
    return arrays ? arrays : raise_with_count("get_count", count);
}

/* get_many(max_count, timeout) -> [ndarray]: the records' payloads are copied into one buffer,
 * each at a multiple of 64 bytes. The buffer holds max_count records of the largest size this
 * handle has taken so far (a guess); a first record larger than that is asked for again with a
 * buffer of its size (it stays in the queue meanwhile). The library waits only for the first
 * record: a timeout, a close() by another thread or a signal handler's exception ends that
 * wait, before any record is taken. Records taken are never lost: those taken before an error
 * are returned (the error is kept for the next call), and those whose arrays could not be made
 * are kept for the next call (the exception's `get_count` says how many), which returns them
 * before it takes others. Every exception raised after the arguments were checked has
 * `get_count` (0 unless records were taken), as put_many's have `put_count`. */
PyObject *queue_get_many(QueueObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "get_many takes 2 arguments"); return NULL; }
    Py_ssize_t max_count = PyLong_AsSsize_t(args[0]);
    if (max_count == -1 && PyErr_Occurred()) return NULL;
    if (max_count < 1) { PyErr_SetString(PyExc_ValueError, "max_count must be at least 1"); return NULL; }
    int64_t timeout_ns;
    if (timeout_from(args[1], &timeout_ns) < 0) return NULL;
    if ((size_t)max_count > SIZE_MAX / sizeof(aq_record_info)) return PyErr_NoMemory();
    if (self->kept && !self->closing) return return_kept(self, (size_t)max_count);
    /* Met by the last call after it had taken records, which it returned. */
    if (raise_pending_error(self) < 0) return raise_with_count("get_count", 0);
    aq_record_info *infos = PyMem_Malloc(sizeof(aq_record_info) * (size_t)max_count);
    size_t *offsets = PyMem_Malloc(sizeof(size_t) * (size_t)max_count);
    kept_batch *keeper = PyMem_Malloc(sizeof(kept_batch));
    if (!infos || !offsets || !keeper) {
        PyMem_Free(infos);
        PyMem_Free(offsets);
        PyMem_Free(keeper);
        PyErr_NoMemory();
        return raise_with_count("get_count", 0);
    }
    uint64_t guess = self->batch_record_bytes;
    size_t per_record = round64(guess > BATCH_BYTES_LIMIT ? BATCH_BYTES_LIMIT : guess);
    size_t capacity = per_record && (size_t)max_count > BATCH_BYTES_LIMIT / per_record ? BATCH_BYTES_LIMIT : per_record * (size_t)max_count;
    PyObject *buffer = NULL, *result = NULL;
    Py_buffer view = {0};
    size_t count = 0, taken = 0;
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
    /* From here on `count` records are out of the queue: they are returned or kept. */
    taken = count;
    for (size_t i = 0; i < count; i++) {
        if (infos[i].nbytes > self->batch_record_bytes) self->batch_record_bytes = infos[i].nbytes;
    }
    result = batch_arrays(buffer, view.buf, infos, offsets, count);
    if (!result) {
        *keeper = (kept_batch){.next = NULL, .buffer = buffer, .view = view, .infos = infos, .offsets = offsets,
                               .count = count, .start = 0};
        kept_batch **last = &self->kept;
        while (*last) last = &(*last)->next;
        *last = keeper;
        keeper = NULL;
        buffer = NULL;
        infos = NULL;
        offsets = NULL;
        if (self->closing) kept_batches_free(self);  /* closed while the arrays were made */
    }
fail:
    queue_leave(self);
fail_unentered:
    if (buffer) PyBuffer_Release(&view);
    Py_XDECREF(buffer);
    PyMem_Free(infos);
    PyMem_Free(offsets);
    PyMem_Free(keeper);
    return result ? result : raise_with_count("get_count", taken);
}
