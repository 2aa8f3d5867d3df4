/*
 * The checks every C test program here shares: CHECK counts a condition, EXPECT a call's
 * return code (and, for an error, that the thread's last error says so with a message).
 * Each failure prints one line; a program ends with CHECK_SUMMARY, which exits 0 only if
 * every check passed.
 *
 * The thread's last error stays until the next failing call, and the C interface has no call
 * that clears it, so a failure line names it as the checked call's only when the check saw it
 * change (the call, or a call in the condition, failed); otherwise it is labelled as possibly
 * an earlier call's.
 */
#ifndef AQ_TEST_CHECK_H
#define AQ_TEST_CHECK_H

#include <arrayqueues.h>
#include <stdio.h>
#include <string.h>

static int checks, failures;

/* The thread's last error as a check found it before its call: a copy of the message, which
 * the next failing call overwrites in place. */
typedef struct {
    int code;
    char message[4096];
} check_error_state;

static inline void check_save_error(check_error_state *saved) {
    saved->code = aq_last_error_code();
    snprintf(saved->message, sizeof saved->message, "%s", aq_last_error_message());
}

/* Ends a failure line (after its text) with the thread's last error: as the check's own when
 * it differs from `before`, labelled as possibly an earlier call's when it does not, and not
 * at all when no call on this thread has failed yet. */
static inline void check_print_error(const check_error_state *before) {
    int code = aq_last_error_code();
    const char *message = aq_last_error_message();
    if (code != before->code || strncmp(message, before->message, sizeof before->message - 1) != 0) {
        fprintf(stderr, "; last error %d: %s\n", code, message);
    } else if (code != 0) {
        fprintf(stderr, "; last error (not set by this check, maybe from an earlier call) %d: %s\n", code, message);
    } else {
        fprintf(stderr, "; no last error\n");
    }
}

#define CHECK(cond)                                                                                            \
    do {                                                                                                       \
        check_error_state before_;                                                                             \
        check_save_error(&before_);                                                                            \
        checks++;                                                                                              \
        if (!(cond)) {                                                                                         \
            failures++;                                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s", __FILE__, __LINE__, #cond);                                      \
            check_print_error(&before_);                                                                       \
        }                                                                                                      \
    } while (0)

/* The call returns `code`, and on failure the thread's last error says so with a message. */
#define EXPECT(call, code)                                                                                     \
    do {                                                                                                       \
        check_error_state before_;                                                                             \
        check_save_error(&before_);                                                                            \
        long long got_ = (long long)(call);                                                                    \
        checks++;                                                                                              \
        if (got_ != (code) || ((code) < 0 && (aq_last_error_code() != (code) || aq_last_error_message()[0] == 0))) { \
            failures++;                                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s returned %lld (%s), expected %d (%s)", __FILE__, __LINE__, #call,  \
                    got_, aq_strerror((int)got_), (code), aq_strerror(code));                                  \
            check_print_error(&before_);                                                                       \
        }                                                                                                      \
    } while (0)

/* Prints "<program>: N checks, M failures" and returns the exit status. */
#define CHECK_SUMMARY(program)                                                                                 \
    (printf("%s: %d checks, %d failures\n", (program), checks, failures), failures == 0 ? 0 : 1)

/* A struct the library fills up to the `size` its caller set (a versioned options or output
 * struct), with 16 spare bytes after it: filled with a pattern first, the bytes past `size` show
 * whether the library wrote beyond what an older caller's struct has. */
#define WITH_SPARE_BYTES(type) union { type head; unsigned char bytes[sizeof(type) + 16]; }

/* The bytes from `from` to `to` of `bytes` all still hold the pattern `fill`. */
static inline int untouched(const void *bytes, size_t from, size_t to, unsigned char fill) {
    for (size_t i = from; i < to; i++)
        if (((const unsigned char *)bytes)[i] != fill) return 0;
    return 1;
}

#endif
