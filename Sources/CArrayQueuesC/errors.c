// The per-thread error state of the C interface, and the constant strings. Kept in C because
// C has real thread-local storage (`_Thread_local`) and static strings with stable addresses.
#include "arrayqueues_internal.h"

#include <string.h>

/// Longest message kept; longer ones are truncated (they name at most a queue, a shape and a call).
#define AQC_MESSAGE_CAPACITY 2048

static _Thread_local char last_message[AQC_MESSAGE_CAPACITY];
static _Thread_local int last_code;
static _Thread_local int last_errno;

int aqc_set_error(int code, const char *message, int errno_value) {
    last_code = code;
    last_errno = errno_value;
    if (message == NULL) message = aq_strerror(code);
    size_t length = strlen(message);
    if (length >= AQC_MESSAGE_CAPACITY) length = AQC_MESSAGE_CAPACITY - 1;
    memcpy(last_message, message, length);
    last_message[length] = '\0';
    return code;
}

const char *aq_last_error_message(void) { return last_message; }
int aq_last_error_code(void) { return last_code; }
int aq_last_errno(void) { return last_errno; }

int aq_abi_version(void) { return AQ_ABI_VERSION; }

const char *aq_strerror(int code) {
    switch (code) {
    case AQ_OK: return "success";
    case AQ_ETIMEOUT: return "timed out";
    case AQ_EFULL: return "queue is full";
    case AQ_EEMPTY: return "queue is empty";
    case AQ_EOVERSIZE: return "array can never fit in the queue";
    case AQ_EDTYPE_MISMATCH: return "dtype mismatch";
    case AQ_EINVALID_SHAPE: return "invalid shape";
    case AQ_EUNSUPPORTED_DTYPE: return "unsupported dtype";
    case AQ_EINVALID_NAME: return "invalid queue name";
    case AQ_EINVALID_ARGUMENT: return "invalid argument";
    case AQ_ENOT_FOUND: return "queue not found";
    case AQ_EALREADY_EXISTS: return "queue already exists";
    case AQ_EFOREIGN: return "not an ArrayQueues segment";
    case AQ_EINCOMPATIBLE_VERSION: return "incompatible segment layout version";
    case AQ_ECORRUPT: return "corrupt segment";
    case AQ_ENO_SHARED_MEMORY: return "insufficient shared memory";
    case AQ_EINVALID_NPY: return "invalid .npy file";
    case AQ_ECANCELLED: return "cancelled";
    case AQ_ESYSTEM: return "system call failed";
    case AQ_EBUFFER_TOO_SMALL: return "buffer too small";
    case AQ_ECLOSED: return "closed";
    case AQ_EINVALID_ENDPOINT: return "invalid endpoint";
    case AQ_EMALFORMED: return "malformed message";
    case AQ_EUNSUPPORTED_VERSION: return "unsupported wire format version";
    case AQ_EUNSUPPORTED: return "unsupported feature";
    case AQ_EINVALID_ARRAY: return "invalid array";
    case AQ_EZMQ: return "ZeroMQ call failed";
    case AQ_EFAST_PATH_UNAVAILABLE: return "same-host fast path unavailable";
    case AQ_EUNTRUSTED_OWNER: return "queue belongs to another user";
    default: return "unknown error";
    }
}

static const char *const dtype_names[] = {
    NULL, "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
};
static const char *const dtype_typestrs[] = {
    NULL, "|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8", "<c8", "<c16",
};
static const int dtype_itemsizes[] = {0, 1, 1, 1, 2, 2, 4, 4, 8, 8, 2, 4, 8, 8, 16};
#define AQC_DTYPE_COUNT ((int)(sizeof dtype_itemsizes / sizeof dtype_itemsizes[0]))

const char *aq_dtype_name(int dtype) {
    return dtype > 0 && dtype < AQC_DTYPE_COUNT ? dtype_names[dtype] : NULL;
}

const char *aq_dtype_typestr(int dtype) {
    return dtype > 0 && dtype < AQC_DTYPE_COUNT ? dtype_typestrs[dtype] : NULL;
}

const char *aq_version(void) { return AQ_VERSION; }
