/* arrayqueues_swift._native: the memory of the arrays a copying get returns.
 *
 * Small arrays come from numpy.empty (through numpy's C API table where _native_lent.c uses
 * it). Large ones (LARGE_ARRAY bytes and more) live in a Buffer, an object of this module whose
 * memory is kept for reuse when the last array over it goes away: a fresh multi-megabyte
 * allocation comes from the kernel as pages it must zero and fault in before the copy can write
 * them (for 64 MiB: as much time again as the copy, and thousands of page faults), and a stream
 * of frames reuses the same few sizes. This is the
 * policy of the Swift library's own copying get (ArrayStorage and LargeBufferPool in
 * Sources/ArrayQueues/Arrays): huge-page-aligned memory advised to use transparent huge pages
 * from 4 MiB, and a pool bounded in buffers and bytes. The pool is guarded by the GIL: it is
 * only touched while the module holds it (allocation in a get, release in a deallocation).
 *
 * The array is an ordinary numpy.ndarray, writable and owned by the caller alone; only its
 * `base` is the Buffer (so `flags.owndata` is False, as for any array made over a buffer).
 */
#include "_native.h"

#include <stdlib.h>
#include <sys/mman.h>

#define LARGE_ARRAY ((size_t)1 << 20)      /* from here, arrays come from the pool */
#define HUGE_PAGE_ADVICE ((size_t)4 << 20) /* from here, the memory is advised to use huge pages */
#define HUGE_PAGE ((size_t)2 << 20)
#define POOL_BUFFERS 8
#define POOL_BYTES ((size_t)256 << 20)

static PyObject *numpy_empty;   /* numpy.empty */
static PyObject *numpy_ndarray; /* numpy.ndarray */

static struct {
    void *data[POOL_BUFFERS];
    size_t size[POOL_BUFFERS];
    int count;
    size_t bytes;
} pool;

/* The memory of a large array: reused from the pool when a buffer of exactly `size` is free. */
static void *large_take(size_t size) {
    for (int i = pool.count - 1; i >= 0; i--) {
        if (pool.size[i] != size) continue;
        void *data = pool.data[i];
        pool.count--;
        pool.data[i] = pool.data[pool.count];
        pool.size[i] = pool.size[pool.count];
        pool.bytes -= size;
        return data;
    }
    void *data = NULL;
    size_t alignment = size >= HUGE_PAGE_ADVICE ? HUGE_PAGE : 64;
    if (posix_memalign(&data, alignment, size) != 0) return NULL;
    if (size >= HUGE_PAGE_ADVICE) (void)madvise(data, size, MADV_HUGEPAGE);  /* advice: failure only costs speed */
    return data;
}

/* Keeps `data` for reuse if the pool has room, frees it otherwise. */
static void large_give(void *data, size_t size) {
    if (pool.count < POOL_BUFFERS && pool.bytes + size <= POOL_BYTES) {
        pool.data[pool.count] = data;
        pool.size[pool.count] = size;
        pool.count++;
        pool.bytes += size;
        return;
    }
    free(data);
}

/* The size a large array of `nbytes` takes: whole huge pages from 4 MiB (so that sizes a
 * stream reuses match), whole cache lines below. */
static size_t large_size(size_t nbytes) {
    size_t unit = nbytes >= HUGE_PAGE_ADVICE ? HUGE_PAGE : 64;
    return (nbytes + unit - 1) / unit * unit;
}

typedef struct {
    PyObject_HEAD
    void *data;
    size_t size;         /* bytes allocated (large_size) */
    Py_ssize_t nbytes;   /* bytes exported */
} BufferObject;

static void buffer_dealloc(BufferObject *self) {
    if (self->data) large_give(self->data, self->size);
    PyObject_Free(self);
}

static int buffer_getbuffer(BufferObject *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->data, self->nbytes, 0, flags);
}

static PyBufferProcs buffer_procs = {(getbufferproc)buffer_getbuffer, NULL};

PyTypeObject BufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "arrayqueues_swift._native.Buffer",
    .tp_basicsize = sizeof(BufferObject),
    .tp_dealloc = (destructor)buffer_dealloc,
    .tp_as_buffer = &buffer_procs,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The memory of a large array a get returned; reused when the array goes away.",
};

/* pool_state() -> (buffers, bytes) kept for reuse now (for tests). */
PyObject *native_pool_state(PyObject *module, PyObject *unused) {
    return Py_BuildValue("(in)", pool.count, (Py_ssize_t)pool.bytes);
}

int buffers_init(PyObject *numpy) {
    numpy_empty = PyObject_GetAttrString(numpy, "empty");
    numpy_ndarray = PyObject_GetAttrString(numpy, "ndarray");
    if (!numpy_empty || !numpy_ndarray) return -1;
    return PyType_Ready(&BufferType);
}

/* A new, uninitialized ndarray of `shape` (a tuple) and `dtype` (a code), and its writable
 * buffer. */
PyObject *new_array(PyObject *shape, int dtype, Py_buffer *view) {
    PyObject *dtype_obj = dtype_object(dtype);
    if (!dtype_obj) return NULL;
    PyObject *array = NULL;
    Py_ssize_t itemsize = aq_dtype_itemsize(dtype);
    size_t nbytes = itemsize > 0 ? (size_t)itemsize : 1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(shape); i++) {
        /* The extents come from the library, which checked that their product fits. */
        nbytes *= (size_t)PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, i));
    }
    if (PyErr_Occurred()) { Py_DECREF(dtype_obj); return NULL; }
    if (nbytes >= LARGE_ARRAY && nbytes <= PY_SSIZE_T_MAX) {
        BufferObject *buffer = PyObject_New(BufferObject, &BufferType);
        if (buffer) {
            buffer->size = large_size(nbytes);
            buffer->nbytes = (Py_ssize_t)nbytes;
            buffer->data = large_take(buffer->size);
            if (!buffer->data) {
                PyObject_Free(buffer);
                buffer = NULL;
                PyErr_NoMemory();
            }
        }
        if (buffer) {
            array = PyObject_CallFunctionObjArgs(numpy_ndarray, shape, dtype_obj, (PyObject *)buffer, NULL);
            Py_DECREF(buffer);  /* the array holds it as its base */
        }
    } else {
        array = numpy_api_empty(dtype, shape);
        if (!array && !PyErr_Occurred()) array = PyObject_CallFunctionObjArgs(numpy_empty, shape, dtype_obj, NULL);
    }
    Py_DECREF(dtype_obj);
    if (!array) return NULL;
    if (PyObject_GetBuffer(array, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        Py_DECREF(array);
        return NULL;
    }
    return array;
}

/* `count` arrays of one dtype and shape lying `stride` bytes apart in `buffer` (an object that
 * exports a buffer), as a list of views of one strided array over it: numpy makes each row in
 * C, which costs a fraction of an array made per record. */
PyObject *array_rows(PyObject *buffer, size_t start, int dtype, int ndim, const int64_t *shape, size_t count, size_t stride) {
    PyObject *dtype_obj = dtype_object(dtype);
    if (!dtype_obj) return NULL;
    PyObject *extents = PyTuple_New(ndim + 1), *strides = PyTuple_New(ndim + 1);
    PyObject *rows = NULL;
    if (!extents || !strides) goto done;
    PyTuple_SET_ITEM(extents, 0, PyLong_FromSize_t(count));
    PyTuple_SET_ITEM(strides, 0, PyLong_FromSize_t(stride));
    Py_ssize_t step = aq_dtype_itemsize(dtype);
    for (int i = ndim - 1; i >= 0; i--) {
        PyTuple_SET_ITEM(extents, i + 1, PyLong_FromLongLong(shape[i]));
        PyTuple_SET_ITEM(strides, i + 1, PyLong_FromSsize_t(step));
        step *= (Py_ssize_t)shape[i];
    }
    for (int i = 0; i <= ndim; i++) {
        if (!PyTuple_GET_ITEM(extents, i) || !PyTuple_GET_ITEM(strides, i)) goto done;
    }
    PyObject *offset = PyLong_FromSize_t(start);
    if (!offset) goto done;
    PyObject *all = PyObject_CallFunctionObjArgs(numpy_ndarray, extents, dtype_obj, buffer, offset, strides, NULL);
    Py_DECREF(offset);
    if (!all) goto done;
    rows = PySequence_List(all);
    Py_DECREF(all);
done:
    Py_XDECREF(extents);
    Py_XDECREF(strides);
    Py_DECREF(dtype_obj);
    return rows;
}
