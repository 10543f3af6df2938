/* Shared cmocka glue: route pmq_malloc & co. through cmocka's test allocator so a
 * leak or double free fails the test (libuv's MAKE_VALGRIND_HAPPY idea). */
#ifndef PMQ_TEST_UTIL_H
#define PMQ_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "paxmq/base.h"

static void *pmq_test_malloc_(size_t n) { return test_malloc(n); }
static void *pmq_test_calloc_(size_t c, size_t n) { return test_calloc(c, n); }
static void *pmq_test_realloc_(void *p, size_t n) { return test_realloc(p, n); }
static void pmq_test_free_(void *p) { test_free(p); }

/* Call first thing in main(). */
static inline void pmq_test_use_cmocka_allocator(void) {
    static const pmq_alloc_hooks_t hooks = {pmq_test_malloc_, pmq_test_calloc_,
                                            pmq_test_realloc_, pmq_test_free_};
    pmq_alloc_set_hooks(&hooks);
}

#endif
