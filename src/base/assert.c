/* Assertion failure: log expression, location, registered context and a backtrace,
 * then abort. Always compiled in (STYLE §3). */
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "paxmq/assert.h"

static pmq_assert_context_fn ctx_fn;
static void *ctx_arg;

void pmq_assert_set_context(pmq_assert_context_fn fn, void *arg) {
    ctx_fn = fn;
    ctx_arg = arg;
}

void pmq__assert_fail(const char *expr, const char *file, int line) {
    char ctx[256] = "";
    if (ctx_fn != NULL) {
        ctx_fn(ctx_arg, ctx, sizeof(ctx));
    }
    pmq_log_write(PMQ_LOG_ERROR, "assert_failed", "expr=\"%s\" at=%s:%d %s", expr, file, line,
                  ctx);
    void *frames[64];
    int n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    abort();
}
