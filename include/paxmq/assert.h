/* Assertions for our own bugs only (STYLE §3): always compiled in, even in release.
 * Bad input from clients or peers is never asserted on; it is rejected as data.
 *
 * On failure PMQ_ASSERT logs the expression, file:line, the context registered with
 * pmq_assert_set_context (node, ballot, commit index) and a backtrace, then aborts. */
#ifndef PAXMQ_ASSERT_H
#define PAXMQ_ASSERT_H

#include "paxmq/base.h"

_Noreturn void pmq__assert_fail(const char *expr, const char *file, int line);

/* A callback that formats extra context (node id, ballot, commit index) into buf;
 * registered once by main or the simulator. */
typedef void (*pmq_assert_context_fn)(void *arg, char *buf, size_t len);
void pmq_assert_set_context(pmq_assert_context_fn fn, void *arg);

#define PMQ_ASSERT(cond)                                                                \
    do {                                                                                \
        if (PMQ_UNLIKELY(!(cond))) {                                                    \
            pmq__assert_fail(#cond, __FILE__, __LINE__);                                \
        }                                                                               \
    } while (0)

#ifdef PMQ_DEBUG_ASSERTS
#define PMQ_DASSERT(cond) PMQ_ASSERT(cond)
#else
#define PMQ_DASSERT(cond) ((void)sizeof(!(cond)))
#endif

#define PMQ_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define PMQ_UNREACHABLE() pmq__assert_fail("unreachable", __FILE__, __LINE__)

#endif
