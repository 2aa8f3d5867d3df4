/* arrayqueues_swift._native: get and get_record, written once for both readers -- queue handles
 * and broadcast subscribers (reader_ops); their borrow is lease_borrow (_native_lease.c). */
#include "_native.h"

void format_cache_clear(format_cache *cache) {
    cache->dtype = 0;
    cache->ndim = -1;
    Py_CLEAR(cache->shape_tuple);
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

/* A get of a queue handle that keeps records get_many took (an exception came while it made
 * their arrays): the oldest of them, copied into `out` (whose buffer is `out_view`) if it has
 * the record's dtype and shape, otherwise into a new array. Those records left the queue before
 * any record still in it, so returning one of them first keeps each producer's order. Sets
 * `*found` to 0 (and returns NULL without an exception) when none was kept. */
static PyObject *take_kept(QueueObject *queue, PyObject *out, Py_buffer *out_view, aq_record_info *info, int *found) {
    const void *payload;
    PyObject *holder;
    struct kept_batch *batch = kept_detach(queue, info, &payload, &holder);
    *found = batch != NULL;
    if (!batch) return NULL;
    Py_INCREF(holder);  /* the payload stays valid even if a close() frees the batch meanwhile */
    size_t nbytes = (size_t)info->nbytes;
    PyObject *array = NULL;
    int same = out && dtype_of_format(out_view->format, out_view->itemsize) == info->dtype && out_view->ndim == info->ndim &&
               (size_t)out_view->len == nbytes;
    for (int i = 0; same && i < info->ndim; i++) same = out_view->shape[i] == info->shape[i];
    if (same) {
        aq_copy(out_view->buf, payload, nbytes);
        array = Py_NewRef(out);
    } else {
        PyObject *shape = shape_tuple(info->ndim, info->shape);
        Py_buffer view;
        array = shape ? new_array(shape, info->dtype, &view) : NULL;
        Py_XDECREF(shape);
        if (array) {
            if ((size_t)view.len >= nbytes) {
                aq_copy(view.buf, payload, nbytes);
            } else {  /* get_many's checks passed it, so this cannot happen: refuse rather than overrun */
                Py_CLEAR(array);
                raise_code(AQ_ECORRUPT, "a kept record is described as larger than its shape holds");
            }
            PyBuffer_Release(&view);
        }
    }
    kept_attach(queue, batch, array != NULL);  /* not taken on failure: the next read returns it */
    Py_DECREF(holder);
    return array;
}

/* Takes the next record into an array: `out` (may be NULL) if the record has its dtype and
 * shape, otherwise a new one. Without `out`, the array is allocated before the call with the
 * previous record's format, which saves a second call when records keep it (the common case).
 * A record of another format is reinterpreted if it fit, or asked for again in an array of its
 * size (the queue, or the subscriber, kept it). */
static PyObject *reader_take(PyObject *self, int64_t timeout_ns, PyObject *out, aq_record_info *info) {
    ReaderObject *reader = (ReaderObject *)self;
    format_cache *last = &reader->last;
    PyObject *array = NULL;
    Py_buffer view = {0};
    int want_dtype = 0, want_ndim = -1;
    int64_t want_shape[AQ_MAX_DIMS];
    if (out) {
        if (out_buffer(out, &view, &want_dtype, &want_ndim, want_shape) < 0) return NULL;
        array = Py_NewRef(out);
    }
    if (reader->ops->enter(self) < 0) goto fail_unentered;
    if (reader->ops == &queue_reader_ops && ((QueueObject *)self)->kept) {
        int found;
        PyObject *kept = take_kept((QueueObject *)self, out, &view, info, &found);
        if (found) {
            reader->ops->leave(self);
            if (array) { PyBuffer_Release(&view); Py_DECREF(array); }
            return kept;
        }
    }
    if (reader->ops == &queue_reader_ops && raise_pending_error((QueueObject *)self) < 0) goto fail;
    wait_t wait = wait_begin(timeout_ns, &reader->closing);
    if (!out && last->shape_tuple) {
        array = new_array(last->shape_tuple, last->dtype, &view);
        if (!array) goto fail;
        want_dtype = last->dtype;
        want_ndim = last->ndim;
        memcpy(want_shape, last->shape, sizeof(int64_t) * (size_t)want_ndim);
    }
    for (;;) {
        int rc;
        void *buffer = array ? view.buf : NULL;
        size_t capacity = array ? (size_t)view.len : 0;
        int64_t slice = wait_slice(&wait);
        Py_BEGIN_ALLOW_THREADS
        rc = reader->ops->get(self, buffer, capacity, info, slice);
        Py_END_ALLOW_THREADS
        if (rc == AQ_ETIMEOUT) {
            int again = wait_again(&wait);
            if (again > 0) continue;
            if (again < 0) goto fail;
        }
        int same = rc == 0 && array && info->dtype == want_dtype && info->ndim == want_ndim &&
                   memcmp(info->shape, want_shape, sizeof(int64_t) * (size_t)info->ndim) == 0;
        if (same) break;
        if (rc < 0 && rc != AQ_EBUFFER_TOO_SMALL) { raise_wait(rc, GET_TIMEOUT); goto fail; }
        PyObject *shape = shape_tuple(info->ndim, info->shape);
        if (!shape) goto fail;
        Py_XSETREF(last->shape_tuple, shape);
        last->dtype = want_dtype = info->dtype;
        last->ndim = want_ndim = info->ndim;
        memcpy(last->shape, info->shape, sizeof(int64_t) * (size_t)info->ndim);
        memcpy(want_shape, info->shape, sizeof(int64_t) * (size_t)info->ndim);
        Py_buffer fresh;
        PyObject *replacement = new_array(shape, info->dtype, &fresh);
        if (!replacement) goto fail;
        if ((size_t)fresh.len < (size_t)info->nbytes) {
            /* A record described as larger than its shape holds (a corrupt or hostile writer changed
             * its header after the library checked it): a buffer sized by the shape would be too
             * small again, without end. The next get checks it afresh, and frees it if it still disagrees. */
            PyBuffer_Release(&fresh);
            Py_DECREF(replacement);
            raise_code(AQ_ECORRUPT, "a record is described as larger than its shape holds (its header was changed by another process)");
            goto fail;
        }
        if (rc == 0) aq_copy(fresh.buf, view.buf, (size_t)info->nbytes);
        if (array) { PyBuffer_Release(&view); Py_DECREF(array); }
        array = replacement;
        view = fresh;
        if (rc == 0) break;
    }
    PyBuffer_Release(&view);
    reader->ops->leave(self);
    return array;
fail:
    reader->ops->leave(self);
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

PyObject *reader_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t timeout_ns;
    PyObject *out;
    if (take_arguments(args, nargs, &timeout_ns, &out) < 0) return NULL;
    aq_record_info info;
    return reader_take(self, timeout_ns, out, &info);
}

PyObject *index_or_none(const aq_record_info *info) {
    if (info->has_index) return PyLong_FromLongLong(info->index);
    Py_RETURN_NONE;
}

PyObject *reader_get_record(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int64_t timeout_ns;
    PyObject *out;
    if (take_arguments(args, nargs, &timeout_ns, &out) < 0) return NULL;
    aq_record_info info;
    PyObject *array = reader_take(self, timeout_ns, out, &info);
    if (!array) return NULL;
    return Py_BuildValue("(NLNK)", array, (long long)info.timestamp_ns, index_or_none(&info), (unsigned long long)info.sequence);
}
