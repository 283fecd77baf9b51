/*
 * A minimal check harness for the C API tests: CHECK(cond) and
 * EXPECT(call, code) count and report failures (with the thread's last
 * error message), and check_summary() prints "N passed, M failed" and
 * returns the exit status.
 */
#ifndef LVS_CHECK_H
#define LVS_CHECK_H

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "lvs.h"

static atomic_int check_passed;
static atomic_int check_failed;

static inline void check_fail(const char *file, int line, const char *what) {
    char msg[1024];
    size_t len = 0;
    lvs_last_error(msg, sizeof msg, &len);
    fprintf(stderr, "%s:%d: FAILED: %s\n    last error: %s\n", file, line, what, msg);
    atomic_fetch_add(&check_failed, 1);
}

#define CHECK(cond)                                          \
    do {                                                     \
        if (cond) {                                          \
            atomic_fetch_add(&check_passed, 1);              \
        } else {                                             \
            check_fail(__FILE__, __LINE__, "CHECK(" #cond ")"); \
        }                                                    \
    } while (0)

static inline lvs_result check_expect(lvs_result got, lvs_result want, const char *call,
                               const char *file, int line) {
    if (got == want) {
        atomic_fetch_add(&check_passed, 1);
    } else {
        char what[1024];
        snprintf(what, sizeof what, "%s returned %u (%s), expected %u (%s)", call,
                 (unsigned)got, lvs_strerror(got), (unsigned)want, lvs_strerror(want));
        check_fail(file, line, what);
    }
    return got;
}

/* EXPECT(lvs_call(...), LVS_CODE): the call must return that code. */
#define EXPECT(call, want) check_expect((call), (want), #call, __FILE__, __LINE__)

/* The calling thread's last error, into a static buffer (tests only). */
static inline const char *last_error(void) {
    static _Thread_local char buf[2048];
    lvs_last_error(buf, sizeof buf, NULL);
    return buf;
}

/* The handle's last error, into a static buffer (tests only). */
static inline const char *handle_error(const lvs_handle *h) {
    static _Thread_local char buf[2048];
    lvs_handle_last_error(h, buf, sizeof buf, NULL);
    return buf;
}

/* CONTAINS(text, needle): text contains needle. */
#define CONTAINS(text, needle)                                                  \
    do {                                                                        \
        const char *t_ = (text);                                                \
        if (strstr(t_, (needle)) != NULL) {                                     \
            atomic_fetch_add(&check_passed, 1);                                 \
        } else {                                                                \
            char w_[2300];                                                      \
            snprintf(w_, sizeof w_, "\"%s\" does not contain \"%s\"", t_, (needle)); \
            check_fail(__FILE__, __LINE__, w_);                                 \
        }                                                                       \
    } while (0)

static inline int check_summary(const char *name) {
    int passed = atomic_load(&check_passed), failed = atomic_load(&check_failed);
    printf("%s: %d passed, %d failed\n", name, passed, failed);
    return failed == 0 ? 0 : 1;
}

#endif /* LVS_CHECK_H */
