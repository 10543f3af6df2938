/* admin internals shared by admin.c (probes, health, metrics) and api.c (/api/v1). */
#ifndef PMQ_ADMIN_INT_H
#define PMQ_ADMIN_INT_H

#include "paxmq/admin.h"
#include "paxmq/assert.h"

#define NAME_MAX_BYTES (RLOG_NAME_BYTES_MAX + 16)

struct admin {
    admin_deps_t d;
    char *node_name;
    uv_loop_t *loop;
    uv_timer_t drain_timer;
    bool draining;
    uint64_t started_ms;
};

#endif
