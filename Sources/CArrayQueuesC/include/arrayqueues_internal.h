/* Internal to libArrayQueuesC: the Swift half records errors through this function. Not
 * installed for C users (scripts/c-library copies only arrayqueues.h). */
#ifndef ARRAYQUEUES_INTERNAL_H
#define ARRAYQUEUES_INTERNAL_H

#include "arrayqueues.h"

/** Records the calling thread's last error (the message is copied, truncated to fit) and
 *  returns `code`. */
__attribute__((visibility("hidden")))
int aqc_set_error(int code, const char *message, int errno_value);

#endif
