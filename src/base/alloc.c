/* The allocator hook: production uses libc; unit tests install cmocka's
 * test_malloc/test_free so a leak fails the test. */
#include <stdlib.h>
#include <string.h>

#include "paxmq/base.h"

static pmq_alloc_hooks_t hooks = {malloc, calloc, realloc, free};

void pmq_alloc_set_hooks(const pmq_alloc_hooks_t *h) {
    if (h == NULL) {
        hooks = (pmq_alloc_hooks_t){malloc, calloc, realloc, free};
        return;
    }
    hooks = *h;
}

void *pmq_malloc(size_t n) { return hooks.malloc_fn(n ? n : 1); }
void *pmq_calloc(size_t count, size_t n) { return hooks.calloc_fn(count ? count : 1, n ? n : 1); }
void *pmq_realloc(void *p, size_t n) { return hooks.realloc_fn(p, n ? n : 1); }

void pmq_free(void *p) {
    if (p != NULL) {
        hooks.free_fn(p);
    }
}

char *pmq_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = pmq_malloc(n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

char *pmq_slice_dup(pmq_slice_t s) {
    char *d = pmq_malloc(s.len + 1);
    if (d != NULL) {
        if (s.len > 0) {
            memcpy(d, s.ptr, s.len);
        }
        d[s.len] = '\0';
    }
    return d;
}
