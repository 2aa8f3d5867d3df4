/*
 * The checks every C test program here shares: CHECK counts a condition, EXPECT a call's
 * return code (and, for an error, that the thread's last error says so with a message).
 * Each failure prints one line; a program ends with CHECK_SUMMARY, which exits 0 only if
 * every check passed.
 */
#ifndef AQ_TEST_CHECK_H
#define AQ_TEST_CHECK_H

#include <arrayqueues.h>
#include <stdio.h>

static int checks, failures;

#define CHECK(cond)                                                                                            \
    do {                                                                                                       \
        checks++;                                                                                              \
        if (!(cond)) {                                                                                         \
            failures++;                                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s (last error %d: %s)\n", __FILE__, __LINE__, #cond, aq_last_error_code(), \
                    aq_last_error_message());                                                                  \
        }                                                                                                      \
    } while (0)

/* The call returns `code`, and on failure the thread's last error says so with a message. */
#define EXPECT(call, code)                                                                                     \
    do {                                                                                                       \
        long long got_ = (long long)(call);                                                                    \
        checks++;                                                                                              \
        if (got_ != (code) || ((code) < 0 && (aq_last_error_code() != (code) || aq_last_error_message()[0] == 0))) { \
            failures++;                                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s returned %lld (%s), expected %d (%s); last error: %s\n", __FILE__, __LINE__, \
                    #call, got_, aq_strerror((int)got_), (code), aq_strerror(code), aq_last_error_message());  \
        }                                                                                                      \
    } while (0)

/* Prints "<program>: N checks, M failures" and returns the exit status. */
#define CHECK_SUMMARY(program)                                                                                 \
    (printf("%s: %d checks, %d failures\n", (program), checks, failures), failures == 0 ? 0 : 1)

#endif
