/* http_testd: the real pmq_http server on a libuv loop with a fake application, for
 * tests/http/test_http.py. Its state is flipped through files in --state-dir, read on
 * every probe: `recovering` (startup check fails, reason = content), `notready` (ready
 * check fails), `stall` (store writer stalled for <content> ms), `fatal` (live check).
 * Test routes: /test/async?ms=N (async finish), /test/cancelled (count of cancelled
 * async responses), /test/shutdown (closes the server from inside a handler), /test/block?ms=N (blocks the loop), /test/big?bytes=N, POST
 * /test/echo, plus a fake admin API (/api/v1/status, /api/v1/destinations[/NAME[/purge]],
 * POST /api/v1/drain). Prints "listening PORT" on stdout; SIGTERM/SIGINT close cleanly. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <uv.h>

#include "paxmq/http.h"

typedef struct testd {
    uv_loop_t loop;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    http_server_t *srv;
    const char *state_dir;
    struct async_op *ops;
    uint64_t cancelled;
    bool draining;
} testd_t;

typedef struct async_op {
    uv_timer_t timer;
    testd_t *td;
    http_response_t *resp;
    struct async_op *next;
    struct async_op *prev;
    int kind; /* 0 = /test/async, 1 = purge */
} async_op_t;

/* Reads state-dir/name into buf; false when the file does not exist. */
static bool state_file(testd_t *td, const char *name, char *buf, size_t cap) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", td->state_dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) {
        buf[--n] = '\0';
    }
    return true;
}

static bool check_file_absent(testd_t *td, const char *file, const char *dflt, char *reason,
                              size_t len) {
    char buf[256];
    if (!state_file(td, file, buf, sizeof(buf))) {
        return true;
    }
    snprintf(reason, len, "%s", buf[0] ? buf : dflt);
    return false;
}

static bool check_recovery(void *arg, char *reason, size_t len) {
    return check_file_absent(arg, "recovering", "local recovery in progress", reason, len);
}

static bool check_member(void *arg, char *reason, size_t len) {
    return check_file_absent(arg, "notready", "not a member", reason, len);
}

static bool check_draining(void *arg, char *reason, size_t len) {
    testd_t *td = arg;
    if (td->draining) {
        snprintf(reason, len, "draining");
    }
    return !td->draining;
}

static bool check_fatal(void *arg, char *reason, size_t len) {
    return check_file_absent(arg, "fatal", "internal fatal flag set", reason, len);
}

static uint64_t store_stall(void *arg) {
    char buf[64];
    return state_file(arg, "stall", buf, sizeof(buf)) ? strtoull(buf, NULL, 10) : 0;
}

static int app_healthz(void *arg, http_json_t *j) {
    (void)arg;
    http_json_key(j, "node");
    http_json_cstr(j, "testd");
    http_json_key(j, "role");
    http_json_cstr(j, "master");
    http_json_key(j, "note");
    http_json_string(j, PMQ_SLICE_LIT("quote\" backslash\\ nl\n ctl\x01 bad\xff end"));
    return 0;
}

static int app_metrics(void *arg, pmq_buf_t *out) {
    (void)arg;
    static const double bounds[] = {0.001, 0.005, 0.025, 0.1};
    static const uint64_t counts[] = {5, 3, 1, 0, 1};
    http_prom_label_t d1[] = {{"destination", "/queue/orders"}, {"protocol", "stomp"}};
    http_prom_label_t d2[] = {{"destination", "/queue/we\"ird\\name\nx"}, {"protocol", "mqtt"}};
    int rc = http_prom_family(out, "paxmq_messages_in_total", HTTP_PROM_COUNTER,
                              "Messages received, per destination.");
    rc = rc ? rc : http_prom_sample_u64(out, "paxmq_messages_in_total", d1, 2, 10);
    rc = rc ? rc : http_prom_sample_u64(out, "paxmq_messages_in_total", d2, 2, 3);
    rc = rc ? rc : http_prom_family(out, "paxmq_queue_depth", HTTP_PROM_GAUGE,
                                    "Messages waiting in a queue.");
    rc = rc ? rc : http_prom_sample(out, "paxmq_queue_depth", d1, 1, 3);
    rc = rc ? rc : http_prom_family(out, "paxmq_store_commit_seconds", HTTP_PROM_HISTOGRAM,
                                    "Store commit latency.");
    rc = rc ? rc : http_prom_histogram(out, "paxmq_store_commit_seconds", NULL, 0, bounds,
                                       counts, 4, 0.0421);
    return rc;
}

/* ---- async operations ---- */

static void op_closed(uv_handle_t *h) { free(h->data); }

static void op_unlink(async_op_t *op) {
    if (op->prev != NULL) {
        op->prev->next = op->next;
    } else {
        op->td->ops = op->next;
    }
    if (op->next != NULL) {
        op->next->prev = op->prev;
    }
}

static void op_complete(async_op_t *op) {
    http_response_t *resp = op->resp;
    if (!http_response_is_cancelled(resp)) {
        int rc = op->kind == 1 ? http_response_json(resp, 200)
                               : http_response_text(resp, 200, "late");
        if (rc == 0 && op->kind == 1) {
            rc = pmq_buf_append_cstr(http_response_body(resp), "{\"purged\":3}\n");
        }
        (void)rc;
    }
    http_response_finish(resp);
    op_unlink(op);
    op->timer.data = op;
    uv_close((uv_handle_t *)&op->timer, op_closed);
}

static void op_fire(uv_timer_t *t) { op_complete(t->data); }

static void op_cancel(void *arg, http_response_t *resp) {
    (void)resp;
    async_op_t *op = arg;
    op->td->cancelled++;
}

static int start_async(testd_t *td, http_response_t *resp, uint64_t ms, int kind) {
    async_op_t *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        return PMQ_ENOMEM;
    }
    op->td = td;
    op->resp = resp;
    op->kind = kind;
    op->next = td->ops;
    if (td->ops != NULL) {
        td->ops->prev = op;
    }
    td->ops = op;
    uv_timer_init(&td->loop, &op->timer);
    op->timer.data = op;
    uv_timer_start(&op->timer, op_fire, ms, 0);
    http_response_on_cancel(resp, op_cancel, op);
    return HTTP_HANDLER_ASYNC;
}

static uint64_t query_u64(const http_request_t *req, const char *key, uint64_t dflt) {
    pmq_slice_t v;
    uint64_t n = dflt;
    if (http_query_get(req->query, key, &v) && !pmq_slice_to_u64(v, UINT64_MAX, &n)) {
        n = dflt;
    }
    return n;
}

/* ---- routes ---- */

static int on_async(void *arg, const http_request_t *req, http_response_t *resp) {
    return start_async(arg, resp, query_u64(req, "ms", 100), 0);
}

static int on_cancelled(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)req;
    testd_t *td = arg;
    return http_response_text(resp, 200, "%llu", (unsigned long long)td->cancelled);
}

static int on_block(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)arg;
    usleep((useconds_t)(query_u64(req, "ms", 100) * 1000));
    return http_response_text(resp, 200, "blocked");
}

static int on_big(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)arg;
    uint64_t n = query_u64(req, "bytes", 1000);
    pmq_buf_t *b = http_response_body(resp);
    int rc = pmq_buf_reserve(b, n);
    for (uint64_t i = 0; rc == 0 && i < n; i++) {
        b->data[b->len++] = (char)('a' + i % 26);
    }
    return rc;
}

static int on_echo(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)arg;
    int rc = pmq_buf_append_slice(http_response_body(resp), req->body);
    return rc ? rc : http_response_add_header(resp, "Content-Type", "application/octet-stream");
}

static int on_status(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)req;
    testd_t *td = arg;
    http_json_t j;
    http_json_init(&j, http_response_body(resp));
    http_json_object_begin(&j);
    http_json_key(&j, "node");
    http_json_cstr(&j, "testd");
    http_json_key(&j, "role");
    http_json_cstr(&j, "master");
    http_json_key(&j, "ballot");
    http_json_uint(&j, 3);
    http_json_key(&j, "commit_index");
    http_json_uint(&j, 42);
    http_json_key(&j, "draining");
    http_json_bool(&j, td->draining);
    http_json_object_end(&j);
    int rc = http_json_finish(&j);
    return rc ? rc : http_response_json(resp, 200);
}

static void dest(http_json_t *j, const char *name, const char *type, uint64_t depth,
                 uint64_t consumers) {
    http_json_object_begin(j);
    http_json_key(j, "name");
    http_json_cstr(j, name);
    http_json_key(j, "type");
    http_json_cstr(j, type);
    http_json_key(j, "depth");
    http_json_uint(j, depth);
    http_json_key(j, "consumers");
    http_json_uint(j, consumers);
    http_json_key(j, "enqueued");
    http_json_uint(j, depth * 3);
    http_json_key(j, "dequeued");
    http_json_uint(j, depth * 2);
    http_json_object_end(j);
}

static int on_destinations(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)arg;
    (void)req;
    http_json_t j;
    http_json_init(&j, http_response_body(resp));
    http_json_object_begin(&j);
    http_json_key(&j, "destinations");
    http_json_array_begin(&j);
    dest(&j, "/queue/orders", "queue", 3, 1);
    dest(&j, "/topic/pr\xc3\xa9\"ces", "topic", 0, 2);
    http_json_array_end(&j);
    http_json_object_end(&j);
    int rc = http_json_finish(&j);
    return rc ? rc : http_response_json(resp, 200);
}

/* /api/v1/destinations/NAME (GET) and /api/v1/destinations/NAME/purge (POST). */
static int on_destination(void *arg, const http_request_t *req, http_response_t *resp) {
    pmq_slice_t tail = req->route_tail;
    bool purge = tail.len > 6 && memcmp(tail.ptr + tail.len - 6, "/purge", 6) == 0;
    char name[256];
    size_t n = 0;
    if (http_pct_decode(purge ? pmq_slice(tail.ptr, tail.len - 6) : tail, name, sizeof(name),
                        &n) != 0) {
        return http_response_text(resp, 400, "bad destination name");
    }
    if (strcmp(name, "/queue/orders") != 0) {
        return http_response_text(resp, 404, "no such destination: %s", name);
    }
    if (req->method == HTTP_METHOD_POST) {
        return purge ? start_async(arg, resp, 50, 1)
                     : http_response_text(resp, 404, "unknown action");
    }
    return http_response_text(resp, 200, "{\"name\":\"/queue/orders\",\"depth\":3}");
}

static int on_drain(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)req;
    testd_t *td = arg;
    td->draining = true;
    int rc = http_response_json(resp, 202);
    return rc ? rc : pmq_buf_append_cstr(http_response_body(resp), "{\"draining\":true}\n");
}

/* ---- wiring ---- */

static void on_signal(uv_signal_t *s, int signum) {
    (void)signum;
    testd_t *td = s->data;
    http_server_close(td->srv);
    /* Finish what is pending (the server already cancelled it), then let the loop end. */
    while (td->ops != NULL) {
        uv_timer_stop(&td->ops->timer);
        op_complete(td->ops);
    }
    uv_close((uv_handle_t *)&td->sigterm, NULL);
    uv_close((uv_handle_t *)&td->sigint, NULL);
}

/* Closes the whole server from inside a handler (the two-step close must cope). */
static int on_shutdown(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)req;
    testd_t *td = arg;
    on_signal(&td->sigterm, SIGTERM);
    return http_response_text(resp, 200, "bye");
}

static int add_routes(testd_t *td) {
    unsigned get = HTTP_MASK(HTTP_METHOD_GET);
    unsigned post = HTTP_MASK(HTTP_METHOD_POST);
    http_server_t *s = td->srv;
    int rc = http_server_route(s, get, "/test/async", 0, on_async, td);
    rc = rc ? rc : http_server_route(s, get, "/test/cancelled", 0, on_cancelled, td);
    rc = rc ? rc : http_server_route(s, get, "/test/block", 0, on_block, td);
    rc = rc ? rc : http_server_route(s, get, "/test/big", 0, on_big, td);
    rc = rc ? rc : http_server_route(s, get, "/test/shutdown", 0, on_shutdown, td);
    rc = rc ? rc : http_server_route(s, post | HTTP_MASK(HTTP_METHOD_PUT), "/test/echo", 0,
                                     on_echo, td);
    rc = rc ? rc : http_server_route(s, get, "/api/v1/status", 0, on_status, td);
    rc = rc ? rc : http_server_route(s, get, "/api/v1/destinations", 0, on_destinations, td);
    rc = rc ? rc : http_server_route(s, get | post, "/api/v1/destinations/", HTTP_ROUTE_PREFIX,
                                     on_destination, td);
    rc = rc ? rc : http_server_route(s, post, "/api/v1/drain", 0, on_drain, td);
    rc = rc ? rc : http_server_add_check(s, HTTP_PROBE_STARTUP, "recovery", check_recovery, td);
    rc = rc ? rc : http_server_add_check(s, HTTP_PROBE_READY, "member", check_member, td);
    rc = rc ? rc : http_server_add_check(s, HTTP_PROBE_READY, "draining", check_draining, td);
    rc = rc ? rc : http_server_add_check(s, HTTP_PROBE_LIVE, "fatal", check_fatal, td);
    return rc;
}

static void usage(void) {
    fprintf(stderr, "usage: http_testd --state-dir DIR [--host H] [--port N] [--admin-user U"
                    " --admin-password P | --admin-open] [--limit NAME=VALUE]...\n");
    exit(2);
}

static void set_limit(http_limits_t *l, const char *spec) {
    char name[64];
    unsigned long long v = 0;
    if (sscanf(spec, "%63[a-z_]=%llu", name, &v) != 2) {
        usage();
    }
    if (strcmp(name, "body_bytes_max") == 0) {
        l->body_bytes_max = v;
    } else if (strcmp(name, "header_count_max") == 0) {
        l->header_count_max = v;
    } else if (strcmp(name, "header_bytes_max") == 0) {
        l->header_bytes_max = v;
    } else if (strcmp(name, "request_timeout_ms") == 0) {
        l->request_timeout_ms = (uint32_t)v;
    } else if (strcmp(name, "idle_timeout_ms") == 0) {
        l->idle_timeout_ms = (uint32_t)v;
    } else if (strcmp(name, "loop_lag_max_ms") == 0) {
        l->loop_lag_max_ms = (uint32_t)v;
    } else if (strcmp(name, "connections_max") == 0) {
        l->connections_max = (uint32_t)v;
    } else {
        usage();
    }
}

int main(int argc, char **argv) {
    testd_t td = {0};
    http_limits_t limits;
    http_limits_default(&limits);
    http_app_t app = {.arg = &td, .store_stall_ms = store_stall, .healthz = app_healthz,
                      .metrics = app_metrics};
    const char *host = "127.0.0.1";
    unsigned port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--admin-open") == 0) {
            app.admin_open = true;
            continue;
        }
        if (v == NULL) {
            usage();
        }
        i++;
        if (strcmp(a, "--state-dir") == 0) {
            td.state_dir = v;
        } else if (strcmp(a, "--host") == 0) {
            host = v;
        } else if (strcmp(a, "--port") == 0) {
            port = (unsigned)atoi(v);
        } else if (strcmp(a, "--admin-user") == 0) {
            app.admin_user = v;
        } else if (strcmp(a, "--admin-password") == 0) {
            app.admin_password = v;
        } else if (strcmp(a, "--limit") == 0) {
            set_limit(&limits, v);
        } else {
            usage();
        }
    }
    if (td.state_dir == NULL) {
        usage();
    }
    pmq_log_setup(PMQ_LOG_DEBUG, "testd");
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&td.loop);
    int rc = http_server_new(&td.srv, &td.loop, &limits, host, (uint16_t)port, &app);
    rc = rc ? rc : add_routes(&td);
    if (rc != 0) {
        fprintf(stderr, "http_testd: %s\n", pmq_strerror(rc));
        return 1;
    }
    uv_signal_init(&td.loop, &td.sigterm);
    uv_signal_init(&td.loop, &td.sigint);
    td.sigterm.data = td.sigint.data = &td;
    uv_signal_start(&td.sigterm, on_signal, SIGTERM);
    uv_signal_start(&td.sigint, on_signal, SIGINT);
    printf("listening %u\n", (unsigned)http_server_port(td.srv));
    fflush(stdout);
    uv_run(&td.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&td.loop);
    fprintf(stderr, "http_testd: exit loop_close=%d\n", rc);
    return rc == 0 ? 0 : 1;
}
