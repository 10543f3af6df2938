/* Probe endpoints (DESIGN §5, CLUSTER §4.2): /livez, /startupz, /readyz and /healthz.
 *
 * The application supplies named checks; this file owns the HTTP semantics. /livez has
 * two built-in checks (event-loop lag, store-writer stall) and never consults peers.
 * /readyz includes the startup checks: a node still recovering cannot serve. Bodies are
 * one line, `ok` or `not <live|started|ready>: <reason>`; `?verbose` lists every check
 * as Kubernetes does (`[+]name ok`, `[-]name failed: reason`). */
#define PMQ_HTTP_SERVER_INTERNALS 1
#include <stdio.h>

#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

#define REASON_MAX 200

typedef struct probe_run {
    http_server_t *srv;
    pmq_buf_t *verbose; /* NULL unless ?verbose */
    bool ok;
    char reason[REASON_MAX]; /* the first failure */
} probe_run_t;

static void record(probe_run_t *run, const char *name, bool ok, const char *reason) {
    if (!ok && run->ok) {
        run->ok = false;
        snprintf(run->reason, sizeof(run->reason), "%s", reason[0] ? reason : name);
    }
    if (run->verbose != NULL) {
        int rc = ok ? pmq_buf_appendf(run->verbose, "[+]%s ok\n", name)
                    : pmq_buf_appendf(run->verbose, "[-]%s failed: %s\n", name, reason);
        (void)rc; /* a truncated verbose listing still carries the status */
    }
}

static void builtin_live(probe_run_t *run) {
    http_server_t *srv = run->srv;
    char reason[REASON_MAX] = "";
    bool ok = srv->loop_lag_ms <= srv->limits.loop_lag_max_ms;
    if (!ok) {
        snprintf(reason, sizeof(reason), "event loop lagged %llu ms",
                 (unsigned long long)srv->loop_lag_ms);
    }
    record(run, "loop", ok, reason);
    if (srv->app.store_stall_ms != NULL) {
        uint64_t stall = srv->app.store_stall_ms(srv->app.arg);
        ok = stall <= srv->limits.store_stall_max_ms;
        reason[0] = '\0';
        if (!ok) {
            snprintf(reason, sizeof(reason), "store writer stalled for %llu ms",
                     (unsigned long long)stall);
        }
        record(run, "store", ok, reason);
    }
}

static void run_checks(probe_run_t *run, unsigned mask) {
    http_server_t *srv = run->srv;
    run->ok = true;
    run->reason[0] = '\0';
    if (mask & HTTP_PROBE_LIVE) {
        builtin_live(run);
    }
    for (size_t i = 0; i < srv->check_count; i++) {
        const http_check_t *c = &srv->checks[i];
        if ((c->mask & mask) == 0) {
            continue;
        }
        char reason[REASON_MAX] = "";
        bool ok = c->fn(c->arg, reason, sizeof(reason));
        /* Keep the reason on one line whatever the check wrote. */
        reason[sizeof(reason) - 1] = '\0';
        for (char *p = reason; *p; p++) {
            if (*p == '\n' || *p == '\r') {
                *p = ' ';
            }
        }
        record(run, c->name, ok, reason);
    }
}

static int probe(http_server_t *srv, const http_request_t *req, http_response_t *resp,
                 unsigned mask, const char *name, const char *word) {
    pmq_slice_t v;
    pmq_buf_t verbose;
    pmq_buf_init(&verbose, 64 * 1024);
    bool want_verbose = http_query_get(req->query, "verbose", &v);
    probe_run_t run = {.srv = srv, .verbose = want_verbose ? &verbose : NULL};
    run_checks(&run, mask);
    int status = run.ok ? 200 : 503;
    int rc;
    if (want_verbose) {
        http_response_set_status(resp, status);
        rc = http_response_add_header(resp, "Content-Type", "text/plain; charset=utf-8");
        if (rc == 0) {
            rc = pmq_buf_append_slice(http_response_body(resp), pmq_buf_slice(&verbose));
        }
        if (rc == 0) {
            rc = pmq_buf_appendf(http_response_body(resp), "%s check %s\n", name,
                                 run.ok ? "passed" : "failed");
        }
    } else if (run.ok) {
        rc = http_response_text(resp, 200, "ok");
    } else {
        rc = http_response_text(resp, 503, "not %s: %s", word, run.reason);
    }
    pmq_buf_close(&verbose);
    if (rc == 0) {
        rc = http_response_add_header(resp, "Cache-Control", "no-store");
    }
    return rc;
}

static int on_livez(void *arg, const http_request_t *req, http_response_t *resp) {
    return probe(arg, req, resp, HTTP_PROBE_LIVE, "livez", "live");
}

static int on_startupz(void *arg, const http_request_t *req, http_response_t *resp) {
    return probe(arg, req, resp, HTTP_PROBE_STARTUP, "startupz", "started");
}

static int on_readyz(void *arg, const http_request_t *req, http_response_t *resp) {
    return probe(arg, req, resp, HTTP_PROBE_READY | HTTP_PROBE_STARTUP, "readyz", "ready");
}

static void healthz_probe(http_json_t *j, http_server_t *srv, const char *key, unsigned mask) {
    probe_run_t run = {.srv = srv};
    run_checks(&run, mask);
    http_json_key(j, key);
    http_json_object_begin(j);
    http_json_key(j, "ok");
    http_json_bool(j, run.ok);
    if (!run.ok) {
        http_json_key(j, "reason");
        http_json_cstr(j, run.reason);
    }
    http_json_object_end(j);
}

static int on_healthz(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)req;
    http_server_t *srv = arg;
    http_json_t j;
    http_json_init(&j, http_response_body(resp));
    http_json_object_begin(&j);
    healthz_probe(&j, srv, "live", HTTP_PROBE_LIVE);
    healthz_probe(&j, srv, "started", HTTP_PROBE_STARTUP);
    healthz_probe(&j, srv, "ready", HTTP_PROBE_READY | HTTP_PROBE_STARTUP);
    http_json_key(&j, "uptime_seconds");
    http_json_uint(&j, (pmq_wall_ms() - srv->start_wall_ms) / 1000);
    http_json_key(&j, "http_connections");
    http_json_uint(&j, srv->conn_count);
    int rc = srv->app.healthz != NULL ? srv->app.healthz(srv->app.arg, &j) : 0;
    if (rc != 0) {
        return rc;
    }
    http_json_object_end(&j);
    rc = http_json_finish(&j);
    if (rc == 0) {
        rc = pmq_buf_append(http_response_body(resp), "\n", 1);
    }
    return rc == 0 ? http_response_json(resp, 200) : rc;
}

int http__probes_register(http_server_t *srv) {
    unsigned get = HTTP_MASK(HTTP_METHOD_GET);
    int rc = http__router_add(&srv->router, get, "/livez", 0, on_livez, srv);
    if (rc == 0) {
        rc = http__router_add(&srv->router, get, "/startupz", 0, on_startupz, srv);
    }
    if (rc == 0) {
        rc = http__router_add(&srv->router, get, "/readyz", 0, on_readyz, srv);
    }
    if (rc == 0) {
        rc = http__router_add(&srv->router, get, "/healthz", 0, on_healthz, srv);
    }
    return rc;
}
