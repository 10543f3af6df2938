/* pmq_strerror / pmq_errname over the X-macro table in paxmq/err.h, falling back to
 * strerror for negative errno values (libuv passes those through). */
#include <stdio.h>
#include <string.h>

#include "paxmq/base.h"

const char *pmq_strerror(int err) {
    switch (err) {
    case 0:
        return "success";
#define PMQ__ERR_MSG(name, msg)                                                         \
    case PMQ_##name:                                                                    \
        return msg;
        PMQ_ERR_TABLE(PMQ__ERR_MSG)
#undef PMQ__ERR_MSG
    default:
        break;
    }
    if (err < 0 && err > -4096) {
        return strerror(-err);
    }
    return "unknown error";
}

const char *pmq_errname(int err) {
    switch (err) {
    case 0:
        return "OK";
#define PMQ__ERR_NAME(name, msg)                                                        \
    case PMQ_##name:                                                                    \
        return "PMQ_" #name;
        PMQ_ERR_TABLE(PMQ__ERR_NAME)
#undef PMQ__ERR_NAME
    default:
        break;
    }
    if (err < 0 && err > -4096) {
        const char *n = strerrorname_np(-err);
        return n ? n : "ERRNO";
    }
    return "UNKNOWN";
}

int pmq_proto_fail(pmq_proto_err_t *err, int rc, int code, bool must_close, const char *fmt, ...) {
    if (err != NULL) {
        err->code = code;
        err->must_close = must_close;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
        va_end(ap);
    }
    return rc;
}
