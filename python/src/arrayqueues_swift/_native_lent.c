/*
 * arrayqueues_swift._native: the arrays loans and borrows lend (_native_lease.c makes them).
 *
 * LoanedArray and BorrowedArray are ndarray subclasses made here, as heap types whose base is
 * numpy.ndarray, so that the checks that make them unusable after their block run in C:
 * indexing, the buffer protocol (memoryview, bytes), len, truth and number conversions, repr
 * and str, iteration, the attributes flat, real and imag, __array_ufunc__ (every ufunc and the methods made of ufuncs: sum, mean,
 * ==, +=, ...), __array_function__ (numpy's functions), and the ndarray methods that read the
 * data otherwise. A Python subclass paid a Python call for each of them; for a 1 KiB record
 * that was most of the cost of a borrow.
 *
 * The lease is found at the root of an array's `base` chain, where numpy keeps it for every
 * view, so views made inside the block are checked too and nothing is stored per view.
 * numpy.asarray / numpy.array of the array itself and `a.view(numpy.ndarray)` make plain arrays
 * without asking the subclass, and a flat iterator (`a.flat`) or memoryview taken inside the
 * block is numpy's or Python's object, not the array: none of those is caught after the block
 * (they never touch unmapped memory: every lease keeps its queue handle, and so the mapping, alive).
 */
#include "_native.h"

#include <stdlib.h>

PyTypeObject *LoanedArrayType, *BorrowedArrayType;
static PyTypeObject *ndarray_type;       /* numpy.ndarray */
static PyObject *ndarray_view;           /* numpy.ndarray.view */
static PyObject *ndarray_copy;           /* numpy.ndarray.copy */
static PyObject *ndarray_array_function; /* numpy.ndarray.__array_function__ */
static PyTypeObject *lent_type;
static PyObject *str_base, *str_out, *str_call, *str_at, *utc_datetime;

/* MARK: - Finding an array's lease */

/* The first fields of numpy's array object (PyArrayObject_fields, the same since numpy 1.7 and
 * part of numpy's ABI: its headers read `base` this way in every compiled extension). Reading
 * the field costs a load where the attribute costs a lookup; lent_arrays_init checks the layout
 * on real arrays and uses the attribute if it does not hold. */
typedef struct {
    PyObject_HEAD
    char *data;
    int nd;
    Py_ssize_t *dimensions;
    Py_ssize_t *strides;
    PyObject *base;
} ndarray_head;
static int base_field_checked;

/* The array's base (borrowed: the array holds it), or NULL. */
static PyObject *array_base(PyObject *array) {
    if (base_field_checked) return ((ndarray_head *)array)->base;
    PyObject *base = PyObject_GetAttr(array, str_base);
    if (!base) { PyErr_Clear(); return NULL; }
    Py_DECREF(base);
    return base == Py_None ? NULL : base;
}

static LeaseObject *lease_of(PyObject *array) {
    PyObject *base = array_base(array);
    while (base) {
        if (Py_TYPE(base) == &LeaseType) return (LeaseObject *)base;
        if (!PyObject_TypeCheck(base, ndarray_type)) return NULL;
        base = array_base(base);
    }
    return NULL;
}

#define IS_LENT(object) PyObject_TypeCheck(object, lent_type)

/* 0 if `array` may be used: it is over no lease, or over one still in force. */
static int check(PyObject *array) {
    LeaseObject *lease = lease_of(array);
    if (lease && lease->state != LEASE_ACTIVE) {
        raise_code(AQ_ECLOSED, "this array was lent by a queue for a `with` block that has ended: its memory belongs to "
                               "the queue again; copy what you need inside the block");
        return -1;
    }
    return 0;
}

/* check() for `value` if it is of `type`, and for the items of `type` of a list or tuple
 * (numpy copies the items of those without asking them). */
static int check_items(PyObject *value, PyTypeObject *type) {
    if (PyObject_TypeCheck(value, type)) return check(value);
    if (PyList_Check(value) || PyTuple_Check(value)) {
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(value); i++) {
            PyObject *item = PySequence_Fast_GET_ITEM(value, i);
            if (PyObject_TypeCheck(item, type) && check(item) < 0) return -1;
        }
    }
    return 0;
}

/* Any ndarray, not only a lent one: a plain view of a lent array finds its lease too. */
int refuse_ended_loans(PyObject *object) { return check_items(object, ndarray_type); }

/* A plain ndarray over the same memory (new reference). */
static PyObject *plain(PyObject *array) {
    PyObject *args[2] = {array, (PyObject *)ndarray_type};
    return PyObject_Vectorcall(ndarray_view, args, 2, NULL);
}

/* A plain ndarray with a copy of the data (new reference). */
static PyObject *plain_copy(PyObject *array) {
    PyObject *view = plain(array);
    if (!view) return NULL;
    PyObject *copy = PyObject_CallOneArg(ndarray_copy, view);
    Py_DECREF(view);
    return copy;
}

/* `value` itself, or a plain view of it if it is a lent array in force (new reference). */
static PyObject *unlent(PyObject *value) {
    if (!IS_LENT(value)) return Py_NewRef(value);
    if (check(value) < 0) return NULL;
    return plain(value);
}

/* MARK: - The checked slots */

static PyObject *lent_subscript(PyObject *self, PyObject *key) {
    if (check(self) < 0) return NULL;
    return ndarray_type->tp_as_mapping->mp_subscript(self, key);
}

/* `slot[...] = array` (or `slot[:] = array`) filling a whole loaned record of
 * AQ_LOAN_STREAMING_BYTES or more from a C-contiguous array of the same dtype and shape: copied
 * by aq_copy_streaming, with streaming stores and without the GIL, where numpy would call memmove, whose
 * ordinary stores first read every line of the ring slot from memory (docs/BENCHMARKS.md,
 * "ArrayQueues from Python"). 1 if done, 0 if numpy must do it, -1 on error. */
static int fill_whole_loan(PyObject *self, PyObject *key, PyObject *value) {
    int whole = key == Py_Ellipsis;
    if (!whole && PySlice_Check(key)) {
        PySliceObject *slice = (PySliceObject *)key;
        whole = slice->start == Py_None && slice->stop == Py_None && slice->step == Py_None;
    }
    if (!whole || !base_field_checked || !PyObject_TypeCheck(value, ndarray_type)) return 0;
    LeaseObject *lease = lease_of(self);
    if (!lease || !lease->writable || lease->nbytes < AQ_LOAN_STREAMING_BYTES ||
        ((ndarray_head *)self)->data != lease->data) return 0;
    Py_buffer to, from;
    if (ndarray_type->tp_as_buffer->bf_getbuffer(self, &to, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        return 0;
    }
    if (PyObject_GetBuffer(value, &from, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&to);
        if (PyErr_ExceptionMatches(PyExc_BufferError) || PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();  /* not contiguous, or a dtype the buffer protocol cannot describe */
            return 0;
        }
        return -1;  /* a lent value whose block ended */
    }
    int same = to.len == from.len && to.ndim == from.ndim && to.itemsize == from.itemsize &&
               strcmp(to.format ? to.format : "B", from.format ? from.format : "B") == 0 &&
               memcmp(to.shape, from.shape, sizeof(Py_ssize_t) * (size_t)to.ndim) == 0;
    if (same) {
        Py_BEGIN_ALLOW_THREADS
        aq_copy_streaming(to.buf, from.buf, (size_t)to.len);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&from);
    PyBuffer_Release(&to);
    return same;
}

static int lent_ass_subscript(PyObject *self, PyObject *key, PyObject *value) {
    if (check(self) < 0 || (value && IS_LENT(value) && check(value) < 0)) return -1;
    if (value) {
        int done = fill_whole_loan(self, key, value);
        if (done != 0) return done < 0 ? -1 : 0;
    }
    return ndarray_type->tp_as_mapping->mp_ass_subscript(self, key, value);
}

static PyObject *lent_item(PyObject *self, Py_ssize_t index) {
    if (check(self) < 0) return NULL;
    return ndarray_type->tp_as_sequence->sq_item(self, index);
}

static Py_ssize_t lent_length(PyObject *self) {
    if (check(self) < 0) return -1;
    return ndarray_type->tp_as_mapping->mp_length(self);
}

static int lent_contains(PyObject *self, PyObject *value) {
    if (check(self) < 0) return -1;
    return ndarray_type->tp_as_sequence->sq_contains(self, value);
}

static int lent_bool(PyObject *self) {
    if (check(self) < 0) return -1;
    return ndarray_type->tp_as_number->nb_bool(self);
}

static PyObject *lent_int(PyObject *self) {
    if (check(self) < 0) return NULL;
    return ndarray_type->tp_as_number->nb_int(self);
}

static PyObject *lent_float(PyObject *self) {
    if (check(self) < 0) return NULL;
    return ndarray_type->tp_as_number->nb_float(self);
}

static PyObject *lent_index(PyObject *self) {
    if (check(self) < 0) return NULL;
    return ndarray_type->tp_as_number->nb_index(self);
}

static int lent_getbuffer(PyObject *self, Py_buffer *view, int flags) {
    if (check(self) < 0) { view->obj = NULL; return -1; }
    return ndarray_type->tp_as_buffer->bf_getbuffer(self, view, flags);
}

/* repr, str and iteration work on a plain view (iteration on a copy: its rows stay valid). */
static PyObject *lent_unary(PyObject *self, PyObject *(*function)(PyObject *), int copied) {
    if (check(self) < 0) return NULL;
    PyObject *array = copied ? plain_copy(self) : plain(self);
    if (!array) return NULL;
    PyObject *result = function(array);
    Py_DECREF(array);
    return result;
}

static PyObject *lent_repr(PyObject *self) { return lent_unary(self, PyObject_Repr, 0); }
static PyObject *lent_str(PyObject *self) { return lent_unary(self, PyObject_Str, 0); }
static PyObject *lent_iter(PyObject *self) { return lent_unary(self, PyObject_GetIter, 1); }

/* __array_ufunc__(ufunc, method, *inputs, **kwargs): checks the lent arrays among the inputs
 * and `out`, and runs the ufunc on plain views of them. An `out` is returned as given (so that
 * `slot += 1` leaves `slot` a LoanedArray). */
static PyObject *lent_array_ufunc(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (nargs < 2) { PyErr_SetString(PyExc_TypeError, "__array_ufunc__(ufunc, method, *inputs, **kwargs)"); return NULL; }
    Py_ssize_t inputs = nargs - 2, keywords = kwnames ? PyTuple_GET_SIZE(kwnames) : 0, total = inputs + keywords;
    /* call[0] is the ufunc (the method's self), then the inputs, then the keyword values */
    PyObject *small[9], **call = total < 9 ? small : PyMem_Malloc(sizeof(PyObject *) * (size_t)(total + 1));
    if (!call) return PyErr_NoMemory();
    PyObject *out = NULL, *result = NULL, *method = args[1];
    Py_ssize_t made = 0;
    call[0] = args[0];
    for (; made < inputs; made++) {
        if (!(call[1 + made] = unlent(args[2 + made]))) goto done;
    }
    for (Py_ssize_t k = 0; k < keywords; k++, made++) {
        PyObject *value = args[nargs + k];
        if (PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, k), str_out) == 0 && PyTuple_Check(value)) {
            out = value;
            PyObject *converted = PyTuple_New(PyTuple_GET_SIZE(value));
            if (!converted) goto done;
            for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(value); i++) {
                PyObject *item = unlent(PyTuple_GET_ITEM(value, i));
                if (!item) { Py_DECREF(converted); goto done; }
                PyTuple_SET_ITEM(converted, i, item);
            }
            call[1 + made] = converted;
        } else {
            call[1 + made] = Py_NewRef(value);
        }
    }
    if (PyUnicode_Compare(method, str_call) == 0) {
        result = PyObject_Vectorcall(args[0], call + 1, (size_t)inputs | PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames);
    } else {  /* reduce, accumulate, reduceat, outer, at: without making a bound method */
        result = PyObject_VectorcallMethod(method, call, (size_t)inputs + 1, kwnames);
    }
    if (result && out && PyUnicode_Compare(method, str_at) != 0) {
        Py_SETREF(result, Py_NewRef(PyTuple_GET_SIZE(out) == 1 ? PyTuple_GET_ITEM(out, 0) : out));
    }
done:
    for (Py_ssize_t i = 0; i < made; i++) Py_DECREF(call[1 + i]);
    if (call != small) PyMem_Free(call);
    return result;
}

/* __array_function__(func, types, args, kwargs): checks the lent arrays among the arguments,
 * positional and keyword (and in lists and tuples of them, as numpy.concatenate takes), then
 * lets ndarray's run it. */
static PyObject *lent_array_function(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyTuple_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "__array_function__(func, types, args, kwargs)");
        return NULL;
    }
    PyObject *arguments = args[2];
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(arguments); i++) {
        if (check_items(PyTuple_GET_ITEM(arguments, i), lent_type) < 0) return NULL;
    }
    /* Keyword arguments too: np.copyto(dst=array, src=...) writes through one. */
    if (PyDict_Check(args[3])) {
        Py_ssize_t position = 0;
        PyObject *key, *value;
        while (PyDict_Next(args[3], &position, &key, &value)) {
            if (check_items(value, lent_type) < 0) return NULL;
        }
    }
    PyObject *call[5] = {self, args[0], args[1], args[2], args[3]};
    return PyObject_Vectorcall(ndarray_array_function, call, 5, NULL);
}

/* The ndarray methods that read or write the data without a ufunc: checked, then run on a plain
 * view (the copying ones return plain arrays, which stay valid after the block). Methods made
 * of ufuncs (sum, max, mean, clip, cumsum, ...) are checked by __array_ufunc__. */
enum { G_TOBYTES, G_TOLIST, G_ITEM, G_FILL, G_TOFILE, G_DUMP, G_DUMPS, G_BYTESWAP, G_COMPLEX, G_FORMAT, G_COPY, G_ASTYPE,
       G_REDUCE, G_REDUCE_EX, G_ARGMAX, G_ARGMIN, G_ARGSORT, G_ARGPARTITION, G_SORT, G_PARTITION, G_SEARCHSORTED,
       G_NONZERO, G_TAKE, G_COMPRESS, G_REPEAT, G_CHOOSE, G_FLATTEN, G_DOT, G_PUT, G_SETFIELD, G_ARRAY, G_DLPACK,
       GUARDED };
static const char *const guarded_names[GUARDED] = {"tobytes", "tolist", "item", "fill", "tofile", "dump", "dumps",
    "byteswap", "__complex__", "__format__", "copy", "astype", "__reduce__", "__reduce_ex__", "argmax", "argmin",
    "argsort", "argpartition", "sort", "partition", "searchsorted", "nonzero", "take", "compress", "repeat", "choose",
    "flatten", "dot", "put", "setfield", "__array__", "__dlpack__"};
static PyObject *guarded_methods[GUARDED];

static PyObject *call_guarded(PyObject *self, int which, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (check(self) < 0) return NULL;
    /* pickling a lent array pickles a copy */
    PyObject *target = which == G_REDUCE || which == G_REDUCE_EX ? plain_copy(self) : plain(self);
    if (!target) return NULL;
    Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
    PyObject *small[8], **call = total < 8 ? small : PyMem_Malloc(sizeof(PyObject *) * (size_t)(total + 1));
    if (!call) { Py_DECREF(target); return PyErr_NoMemory(); }
    call[0] = target;
    for (Py_ssize_t i = 0; i < total; i++) call[i + 1] = args[i];
    PyObject *result = PyObject_Vectorcall(guarded_methods[which], call, (size_t)nargs + 1, kwnames);
    if (call != small) PyMem_Free(call);
    Py_DECREF(target);
    return result;
}

#define GUARDED_METHOD(function, which) \
    static PyObject *function(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) { \
        return call_guarded(self, which, args, nargs, kwnames); \
    }
GUARDED_METHOD(lent_tobytes, G_TOBYTES)
GUARDED_METHOD(lent_tolist, G_TOLIST)
GUARDED_METHOD(lent_item_method, G_ITEM)
GUARDED_METHOD(lent_fill, G_FILL)
GUARDED_METHOD(lent_tofile, G_TOFILE)
GUARDED_METHOD(lent_dump, G_DUMP)
GUARDED_METHOD(lent_dumps, G_DUMPS)
GUARDED_METHOD(lent_byteswap, G_BYTESWAP)
GUARDED_METHOD(lent_complex, G_COMPLEX)
GUARDED_METHOD(lent_format, G_FORMAT)
GUARDED_METHOD(lent_copy, G_COPY)
GUARDED_METHOD(lent_astype, G_ASTYPE)
GUARDED_METHOD(lent_reduce, G_REDUCE)
GUARDED_METHOD(lent_reduce_ex, G_REDUCE_EX)
GUARDED_METHOD(lent_argmax, G_ARGMAX)
GUARDED_METHOD(lent_argmin, G_ARGMIN)
GUARDED_METHOD(lent_argsort, G_ARGSORT)
GUARDED_METHOD(lent_argpartition, G_ARGPARTITION)
GUARDED_METHOD(lent_sort, G_SORT)
GUARDED_METHOD(lent_partition, G_PARTITION)
GUARDED_METHOD(lent_searchsorted, G_SEARCHSORTED)
GUARDED_METHOD(lent_nonzero, G_NONZERO)
GUARDED_METHOD(lent_take, G_TAKE)
GUARDED_METHOD(lent_compress, G_COMPRESS)
GUARDED_METHOD(lent_repeat, G_REPEAT)
GUARDED_METHOD(lent_choose, G_CHOOSE)
GUARDED_METHOD(lent_flatten, G_FLATTEN)
GUARDED_METHOD(lent_dot, G_DOT)
GUARDED_METHOD(lent_put, G_PUT)
GUARDED_METHOD(lent_setfield, G_SETFIELD)
GUARDED_METHOD(lent_array, G_ARRAY)
GUARDED_METHOD(lent_dlpack, G_DLPACK)

/* __copy__() and __deepcopy__(memo): a plain copy. */
static PyObject *lent_copy_any(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return call_guarded(self, G_COPY, args, 0, NULL);
}

#define FAST_KEYWORDS(function) (PyCFunction)(void (*)(void))function, METH_FASTCALL | METH_KEYWORDS
static PyMethodDef lent_methods[] = {
    {"__array_ufunc__", FAST_KEYWORDS(lent_array_ufunc), "Runs the ufunc on plain views, after checking the lease."},
    {"__array_function__", (PyCFunction)(void (*)(void))lent_array_function, METH_FASTCALL, "Checks the lease, then as numpy.ndarray."},
    {"tobytes", FAST_KEYWORDS(lent_tobytes), "As numpy.ndarray.tobytes; raises Closed after the block."},
    {"tolist", FAST_KEYWORDS(lent_tolist), "As numpy.ndarray.tolist; raises Closed after the block."},
    {"item", FAST_KEYWORDS(lent_item_method), "As numpy.ndarray.item; raises Closed after the block."},
    {"fill", FAST_KEYWORDS(lent_fill), "As numpy.ndarray.fill; raises Closed after the block."},
    {"tofile", FAST_KEYWORDS(lent_tofile), "As numpy.ndarray.tofile; raises Closed after the block."},
    {"dump", FAST_KEYWORDS(lent_dump), "As numpy.ndarray.dump (of a copy); raises Closed after the block."},
    {"dumps", FAST_KEYWORDS(lent_dumps), "As numpy.ndarray.dumps (of a copy); raises Closed after the block."},
    {"byteswap", FAST_KEYWORDS(lent_byteswap), "As numpy.ndarray.byteswap; raises Closed after the block."},
    {"__complex__", FAST_KEYWORDS(lent_complex), NULL},
    {"__format__", FAST_KEYWORDS(lent_format), NULL},
    {"copy", FAST_KEYWORDS(lent_copy), "An ordinary array with a copy of the data; raises Closed after the block."},
    {"astype", FAST_KEYWORDS(lent_astype), "As numpy.ndarray.astype, an ordinary array; raises Closed after the block."},
    {"__reduce__", FAST_KEYWORDS(lent_reduce), NULL},
    {"__reduce_ex__", FAST_KEYWORDS(lent_reduce_ex), NULL},
    {"argmax", FAST_KEYWORDS(lent_argmax), "As numpy.ndarray.argmax; raises Closed after the block."},
    {"argmin", FAST_KEYWORDS(lent_argmin), "As numpy.ndarray.argmin; raises Closed after the block."},
    {"argsort", FAST_KEYWORDS(lent_argsort), "As numpy.ndarray.argsort; raises Closed after the block."},
    {"argpartition", FAST_KEYWORDS(lent_argpartition), "As numpy.ndarray.argpartition; raises Closed after the block."},
    {"sort", FAST_KEYWORDS(lent_sort), "As numpy.ndarray.sort; raises Closed after the block."},
    {"partition", FAST_KEYWORDS(lent_partition), "As numpy.ndarray.partition; raises Closed after the block."},
    {"searchsorted", FAST_KEYWORDS(lent_searchsorted), "As numpy.ndarray.searchsorted; raises Closed after the block."},
    {"nonzero", FAST_KEYWORDS(lent_nonzero), "As numpy.ndarray.nonzero; raises Closed after the block."},
    {"take", FAST_KEYWORDS(lent_take), "As numpy.ndarray.take; raises Closed after the block."},
    {"compress", FAST_KEYWORDS(lent_compress), "As numpy.ndarray.compress; raises Closed after the block."},
    {"repeat", FAST_KEYWORDS(lent_repeat), "As numpy.ndarray.repeat; raises Closed after the block."},
    {"choose", FAST_KEYWORDS(lent_choose), "As numpy.ndarray.choose; raises Closed after the block."},
    {"flatten", FAST_KEYWORDS(lent_flatten), "As numpy.ndarray.flatten, an ordinary array; raises Closed after the block."},
    {"dot", FAST_KEYWORDS(lent_dot), "As numpy.ndarray.dot; raises Closed after the block."},
    {"put", FAST_KEYWORDS(lent_put), "As numpy.ndarray.put; raises Closed after the block."},
    {"setfield", FAST_KEYWORDS(lent_setfield), "As numpy.ndarray.setfield; raises Closed after the block."},
    {"__array__", FAST_KEYWORDS(lent_array), NULL},
    {"__dlpack__", FAST_KEYWORDS(lent_dlpack), NULL},
    {"__copy__", FAST_KEYWORDS(lent_copy_any), NULL},
    {"__deepcopy__", FAST_KEYWORDS(lent_copy_any), NULL},
    {NULL},
};

/* ndarray attributes that reach the data in C, without indexing or a ufunc: assigning `flat`,
 * `real` or `imag` writes it, and `flat` is an iterator that reads and writes it without asking
 * the array. Checked, read or assigned, then ndarray's. An iterator taken inside the block
 * outlives it unchecked. */
enum { D_FLAT, D_REAL, D_IMAG, DESCRIBED };
static const char *const described_names[DESCRIBED] = {"flat", "real", "imag"};
static PyObject *ndarray_descriptors[DESCRIBED];

static PyObject *lent_attribute_get(PyObject *self, void *which) {
    if (check(self) < 0) return NULL;
    PyObject *descriptor = ndarray_descriptors[(intptr_t)which];
    return Py_TYPE(descriptor)->tp_descr_get(descriptor, self, (PyObject *)Py_TYPE(self));
}

static int lent_attribute_set(PyObject *self, PyObject *value, void *which) {
    if (check(self) < 0 || (value && IS_LENT(value) && check(value) < 0)) return -1;
    PyObject *descriptor = ndarray_descriptors[(intptr_t)which];
    return Py_TYPE(descriptor)->tp_descr_set(descriptor, self, value);
}

static PyGetSetDef lent_getset[] = {
    {"flat", lent_attribute_get, lent_attribute_set,
     "As numpy.ndarray.flat; raises Closed after the block (an iterator taken inside the block is not checked).",
     (void *)D_FLAT},
    {"real", lent_attribute_get, lent_attribute_set, "As numpy.ndarray.real; raises Closed after the block.", (void *)D_REAL},
    {"imag", lent_attribute_get, lent_attribute_set, "As numpy.ndarray.imag; raises Closed after the block.", (void *)D_IMAG},
    {NULL},
};

static PyType_Slot lent_slots[] = {
    {Py_tp_doc, (void *)"An ndarray over a record in shared memory, valid only while its loan or borrow lasts.\n\n"
        "After the `with` block, indexing it, printing it, converting it, iterating it, reading it through the buffer "
        "protocol (memoryview, bytes), reading or assigning flat, real or imag, calling a method that reads or writes "
        "its data, or passing it to any numpy function or ufunc raises "
        "arrayqueues_swift.Closed, and so do views of it made inside the block. Copies (.copy(), ufunc results) are "
        "ordinary arrays that stay valid. numpy.asarray(a), numpy.array(a) and a.view(numpy.ndarray) make plain "
        "arrays without asking it, and a flat iterator (a.flat) or memoryview taken inside the block is not the "
        "array: those are not caught after the block (they see later records' bytes, never unmapped memory)."},
    {Py_tp_methods, lent_methods},
    {Py_tp_getset, lent_getset},
    {Py_tp_repr, lent_repr},
    {Py_tp_str, lent_str},
    {Py_tp_iter, lent_iter},
    {Py_mp_subscript, lent_subscript},
    {Py_mp_ass_subscript, lent_ass_subscript},
    {Py_mp_length, lent_length},
    {Py_sq_length, lent_length},
    {Py_sq_item, lent_item},
    {Py_sq_contains, lent_contains},
    {Py_nb_bool, lent_bool},
    {Py_nb_int, lent_int},
    {Py_nb_float, lent_float},
    {Py_nb_index, lent_index},
    {Py_bf_getbuffer, lent_getbuffer},
    {0, NULL},
};

/* MARK: - A borrowed array's metadata */

static LeaseObject *metadata_lease(PyObject *self) {
    LeaseObject *lease = lease_of(self);
    if (!lease) PyErr_SetString(PyExc_AttributeError, "this array is not over a borrowed record");
    return lease;
}

static PyObject *borrowed_timestamp_ns(PyObject *self, void *unused) {
    LeaseObject *lease = metadata_lease(self);
    return lease ? PyLong_FromLongLong(lease->info.timestamp_ns) : NULL;
}

static PyObject *borrowed_timestamp(PyObject *self, void *unused) {
    LeaseObject *lease = metadata_lease(self);
    if (!lease) return NULL;
    if (!utc_datetime) {
        PyObject *module = PyImport_ImportModule("arrayqueues_swift._time");
        if (!module) return NULL;
        utc_datetime = PyObject_GetAttrString(module, "utc_datetime");
        Py_DECREF(module);
        if (!utc_datetime) return NULL;
    }
    PyObject *nanoseconds = PyLong_FromLongLong(lease->info.timestamp_ns);
    if (!nanoseconds) return NULL;
    PyObject *result = PyObject_CallOneArg(utc_datetime, nanoseconds);
    Py_DECREF(nanoseconds);
    return result;
}

static PyObject *borrowed_index(PyObject *self, void *unused) {
    LeaseObject *lease = metadata_lease(self);
    return lease ? index_or_none(&lease->info) : NULL;
}

static PyObject *borrowed_sequence(PyObject *self, void *unused) {
    LeaseObject *lease = metadata_lease(self);
    return lease ? PyLong_FromUnsignedLongLong(lease->info.sequence) : NULL;
}

static PyGetSetDef borrowed_getset[] = {
    {"timestamp_ns", borrowed_timestamp_ns, NULL, "Nanoseconds since the Unix epoch (the producer's clock).", NULL},
    {"timestamp", borrowed_timestamp, NULL, "The record's time as an aware UTC datetime.", NULL},
    {"index", borrowed_index, NULL, "The producer's index, or None.", NULL},
    {"sequence", borrowed_sequence, NULL, "The queue-wide sequence number.", NULL},
    {NULL},
};

static PyType_Slot loaned_slots[] = {
    {Py_tp_doc, (void *)"The writable array of `with queue.loan(shape, dtype) as a:` -- a slot of the queue. Fill it "
        "inside the block; it is published when the block ends (discarded if the block raises), and unusable afterwards."},
    {0, NULL},
};

static PyType_Slot borrowed_slots[] = {
    {Py_tp_doc, (void *)"The read-only array of `with queue.borrow() as a:` -- a record in place in the queue, with its "
        "metadata (timestamp_ns, timestamp, index, sequence). Unusable after the block, when the record's room is given "
        "back to producers."},
    {Py_tp_getset, borrowed_getset},
    {0, NULL},
};

/* MARK: - Making a lent array */

/* numpy's C API is a table of function pointers that numpy publishes as the capsule
 * `_ARRAY_API`; extensions compiled against numpy's headers call through it. This module is
 * compiled without numpy's headers (building needs only Python's), so it takes the two entries
 * it uses by their positions, which numpy keeps fixed within an ABI version
 * (numpy/_core/code_generators/numpy_api.py: "Whenever you change one index, you break the
 * ABI") -- and only for the ABI versions it knows, checked as numpy's own import_array() does,
 * and only if the table's ndarray type is numpy.ndarray. Otherwise (or with the environment
 * variable ARRAYQUEUES_SWIFT_NO_NUMPY_API set) the arrays are made by calling ndarray.__new__,
 * which parses its arguments and asks the lease for its buffer (about 200 ns more per block). */
#define NUMPY_ABI_1 0x01000009u
#define NUMPY_ABI_2 0x02000000u
#define API_GET_ABI_VERSION 0
#define API_NDARRAY_TYPE 2
#define API_NEW_FROM_DESCR 94  /* PyArray_NewFromDescr; steals the descr */
#define API_SET_BASE_OBJECT 282 /* PyArray_SetBaseObject; steals the base */
#define NPY_WRITEABLE 0x0400
typedef PyObject *(*new_from_descr_function)(PyTypeObject *, PyObject *, int, const Py_ssize_t *, const Py_ssize_t *, void *,
                                             int, PyObject *);
typedef int (*set_base_object_function)(PyObject *, PyObject *);
static new_from_descr_function new_from_descr;
static set_base_object_function set_base_object;

static void numpy_api_init(void) {
    const char *disabled = getenv("ARRAYQUEUES_SWIFT_NO_NUMPY_API");  /* the other way, for its test */
    if (disabled && *disabled) return;
    PyObject *module = PyImport_ImportModule("numpy._core._multiarray_umath");  /* numpy 2 */
    if (!module) {
        PyErr_Clear();
        module = PyImport_ImportModule("numpy.core._multiarray_umath");  /* numpy 1 */
    }
    PyObject *capsule = module ? PyObject_GetAttrString(module, "_ARRAY_API") : NULL;
    void **table = capsule && PyCapsule_CheckExact(capsule) ? PyCapsule_GetPointer(capsule, NULL) : NULL;
    if (table && table[API_NDARRAY_TYPE] == (void *)ndarray_type) {
        unsigned int abi = ((unsigned int (*)(void))table[API_GET_ABI_VERSION])();
        if (abi == NUMPY_ABI_1 || abi == NUMPY_ABI_2) {
            new_from_descr = (new_from_descr_function)table[API_NEW_FROM_DESCR];
            set_base_object = (set_base_object_function)table[API_SET_BASE_OBJECT];
        }
    }
    Py_XDECREF(capsule);
    Py_XDECREF(module);
    PyErr_Clear();  /* without the table, the arrays are made the slower way */
}

PyObject *lent_array_new(LeaseObject *lease) {
    PyTypeObject *type = lease->writable ? LoanedArrayType : BorrowedArrayType;
    PyObject *dtype = dtype_object(lease->info.dtype);
    if (!dtype) return NULL;
    if (!new_from_descr) {  /* ndarray.__new__(type, shape, dtype, buffer=lease) */
        PyObject *args = PyTuple_Pack(3, lease->shape_tuple, dtype, (PyObject *)lease);
        Py_DECREF(dtype);
        PyObject *array = args ? type->tp_new(type, args, NULL) : NULL;
        Py_XDECREF(args);
        return array;
    }
    PyObject *array = new_from_descr(type, dtype, lease->info.ndim, lease->shape, lease->strides, lease->data,
                                     lease->writable ? NPY_WRITEABLE : 0, NULL);
    if (!array) return NULL;
    if (set_base_object(array, Py_NewRef((PyObject *)lease)) < 0) {
        Py_DECREF(array);
        return NULL;
    }
    return array;
}

/* A new, uninitialized plain ndarray of `dtype` (a code) and `shape` (a tuple), as
 * numpy.empty, through numpy's C API table; NULL without an exception when the table is not
 * used (the caller calls numpy.empty then). */
PyObject *numpy_api_empty(int dtype, PyObject *shape) {
    Py_ssize_t ndim = PyTuple_GET_SIZE(shape), dims[AQ_MAX_DIMS];
    if (!new_from_descr || ndim > AQ_MAX_DIMS) return NULL;
    for (Py_ssize_t i = 0; i < ndim; i++) {
        dims[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, i));
        if (dims[i] == -1 && PyErr_Occurred()) return NULL;
    }
    PyObject *descr = dtype_object(dtype);
    return descr ? new_from_descr(ndarray_type, descr, (int)ndim, dims, NULL, NULL, 0, NULL) : NULL;
}

/* MARK: - Set-up */

static PyTypeObject *make_type(PyType_Spec *spec, PyTypeObject *base) {
    PyObject *bases = PyTuple_Pack(1, (PyObject *)base);
    if (!bases) return NULL;
    PyObject *type = PyType_FromSpecWithBases(spec, bases);
    Py_DECREF(bases);
    return (PyTypeObject *)type;
}

/* Whether ndarray_head matches numpy's layout: a view's base field is the array it views. */
static int check_base_field(PyObject *numpy) {
    PyObject *array = PyObject_CallMethod(numpy, "zeros", "i", 4);
    PyObject *view = array ? PyObject_CallMethod(array, "reshape", "ii", 2, 2) : NULL;
    int ok = view && ((ndarray_head *)array)->base == NULL && ((ndarray_head *)view)->base == array &&
             ((ndarray_head *)view)->nd == 2 && ((ndarray_head *)view)->dimensions[0] == 2;
    Py_XDECREF(view);
    Py_XDECREF(array);
    PyErr_Clear();
    return ok;
}

int lent_arrays_init(PyObject *numpy, PyObject *module) {
    static PyType_Spec lent_spec = {"arrayqueues_swift._native.LentArray", 0, 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, lent_slots};
    static PyType_Spec loaned_spec = {"arrayqueues_swift.LoanedArray", 0, 0, Py_TPFLAGS_DEFAULT, loaned_slots};
    static PyType_Spec borrowed_spec = {"arrayqueues_swift.BorrowedArray", 0, 0, Py_TPFLAGS_DEFAULT, borrowed_slots};
    ndarray_type = (PyTypeObject *)PyObject_GetAttrString(numpy, "ndarray");
    if (!ndarray_type || !PyType_Check(ndarray_type)) return -1;
    ndarray_view = PyObject_GetAttrString((PyObject *)ndarray_type, "view");
    ndarray_copy = PyObject_GetAttrString((PyObject *)ndarray_type, "copy");
    ndarray_array_function = PyObject_GetAttrString((PyObject *)ndarray_type, "__array_function__");
    if (!ndarray_view || !ndarray_copy || !ndarray_array_function) return -1;
    for (int i = 0; i < DESCRIBED; i++) {
        PyObject *descriptor = PyObject_GetAttrString((PyObject *)ndarray_type, described_names[i]);
        if (!descriptor) return -1;
        if (!Py_TYPE(descriptor)->tp_descr_get || !Py_TYPE(descriptor)->tp_descr_set) {
            PyErr_Format(PyExc_TypeError, "numpy.ndarray.%s is not a data descriptor", described_names[i]);
            Py_DECREF(descriptor);
            return -1;
        }
        ndarray_descriptors[i] = descriptor;
    }
    for (int i = 0; i < GUARDED; i++) {
        if (!(guarded_methods[i] = PyObject_GetAttrString((PyObject *)ndarray_type, guarded_names[i]))) return -1;
    }
    str_base = PyUnicode_InternFromString("base");
    str_out = PyUnicode_InternFromString("out");
    str_call = PyUnicode_InternFromString("__call__");
    str_at = PyUnicode_InternFromString("at");
    if (!str_base || !str_out || !str_call || !str_at) return -1;
    base_field_checked = check_base_field(numpy);
    numpy_api_init();
    if (!(lent_type = make_type(&lent_spec, ndarray_type)) || !(LoanedArrayType = make_type(&loaned_spec, lent_type)) ||
        !(BorrowedArrayType = make_type(&borrowed_spec, lent_type))) return -1;
    if (PyModule_AddIntConstant(module, "_NUMPY_API", new_from_descr != NULL) < 0 ||
        PyModule_AddObject(module, "LentArray", Py_NewRef((PyObject *)lent_type)) < 0 ||
        PyModule_AddObject(module, "LoanedArray", Py_NewRef((PyObject *)LoanedArrayType)) < 0 ||
        PyModule_AddObject(module, "BorrowedArray", Py_NewRef((PyObject *)BorrowedArrayType)) < 0) return -1;
    return 0;
}
