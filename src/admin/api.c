/* The /api/v1 admin API (JSON). Reads are answered from the loop's current state;
 * purge and delete are commands proposed through the log and answered once applied
 * (the response is asynchronous). Mutations need credentials (the HTTP layer checks
 * Basic auth for POST/PUT/DELETE). */
#include <inttypes.h>
#include <stdio.h>

#include "admin_int.h"

static int json_reply(http_response_t *resp, int status, pmq_buf_t *body) {
    int rc = http_response_json(resp, status);
    return rc == 0 ? pmq_buf_append_slice(http_response_body(resp), pmq_buf_slice(body)) : rc;
}

/* Builds a JSON body with fill(a, json) and replies 200 (the common shape of the GET
 * handlers). */
static int reply_built(http_response_t *resp, admin_t *a, void (*fill)(admin_t *, http_json_t *)) {
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    http_json_t j;
    http_json_init(&j, &b);
    fill(a, &j);
    int rc = http_json_finish(&j);
    if (rc == 0) {
        rc = json_reply(resp, 200, &b);
    }
    pmq_buf_close(&b);
    return rc;
}

static int error_reply(http_response_t *resp, int status, const char *msg) {
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    http_json_t j;
    http_json_init(&j, &b);
    http_json_object_begin(&j);
    http_json_key(&j, "error");
    http_json_cstr(&j, msg);
    http_json_object_end(&j);
    int rc = http_json_finish(&j);
    if (rc == 0) {
        rc = json_reply(resp, status, &b);
    }
    pmq_buf_close(&b);
    return rc;
}

static void fill_status(admin_t *a, http_json_t *j) {
    node_stats_t ns;
    node_stats_get(a->d.node, &ns);
    broker_stats_t bs;
    broker_stats_get(a->d.broker, &bs);
    net_stats_t nets;
    net_stats_get(a->d.net, &nets);
    http_json_object_begin(j);
    http_json_key(j, "node");
    http_json_cstr(j, a->node_name);
    http_json_key(j, "version");
    http_json_cstr(j, PMQ_VERSION);
    http_json_key(j, "role");
    http_json_cstr(j, "standalone");
    http_json_key(j, "ready");
    http_json_bool(j, !a->draining && ns.failed == 0);
    http_json_key(j, "draining");
    http_json_bool(j, a->draining);
    const struct {
        const char *k;
        uint64_t v;
    } f[] = {{"uptime_ms", pmq_mono_ms() - a->started_ms}, {"applied_index", ns.applied_index},
             {"connections", nets.open},                   {"destinations", bs.destinations},
             {"messages", bs.messages},                    {"consumers", bs.consumers}};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(f); i++) {
        http_json_key(j, f[i].k);
        http_json_uint(j, f[i].v);
    }
    http_json_object_end(j);
}

static int api_status(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)req;
    return reply_built(resp, arg, fill_status);
}

typedef struct dest_list {
    http_json_t *j;
    pmq_slice_t only; /* one destination, or empty for all */
    bool found;
} dest_list_t;

static void dest_json(void *arg, const broker_dest_stats_t *s) {
    dest_list_t *l = arg;
    if (l->only.len > 0 && !pmq_slice_eq(l->only, s->name)) {
        return;
    }
    l->found = true;
    http_json_t *j = l->j;
    http_json_object_begin(j);
    http_json_key(j, "name");
    http_json_string(j, s->name);
    http_json_key(j, "type");
    http_json_cstr(j, s->is_topic ? "topic"
                      : pmq_slice_has_prefix(s->name, "dsub:") ? "durable-subscription"
                                                               : "queue");
    const struct {
        const char *k;
        uint64_t v;
    } f[] = {{"depth", s->depth},         {"bytes", s->bytes},       {"inflight", s->inflight},
             {"consumers", s->consumers}, {"enqueued", s->enqueued}, {"dequeued", s->dequeued},
             {"expired", s->expired},     {"dead_lettered", s->dlq_moves},
             {"redelivered", s->redelivered}, {"dropped", s->dropped}};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(f); i++) {
        http_json_key(j, f[i].k);
        http_json_uint(j, f[i].v);
    }
    http_json_object_end(j);
}

static void fill_destinations(admin_t *a, http_json_t *j) {
    http_json_object_begin(j);
    http_json_key(j, "destinations");
    http_json_array_begin(j);
    dest_list_t l = {j, {NULL, 0}, false};
    broker_dest_foreach(a->d.broker, dest_json, &l);
    http_json_array_end(j);
    http_json_object_end(j);
}

static int api_destinations(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)req;
    return reply_built(resp, arg, fill_destinations);
}

/* "/queue/x" percent-encoded or plain; "queue/x" is accepted as "/queue/x". */
static int decode_name(pmq_slice_t tail, char *out, size_t cap, size_t *len) {
    char tmp[NAME_MAX_BYTES];
    size_t n;
    int rc = http_pct_decode(tail, tmp, sizeof(tmp), &n);
    if (rc != 0 || n == 0 || n + 2 > cap) {
        return PMQ_EINVAL;
    }
    size_t off = 0;
    if (tmp[0] != '/') {
        out[off++] = '/';
    }
    memcpy(out + off, tmp, n);
    *len = n + off;
    out[*len] = '\0';
    return 0;
}

typedef struct pending_op {
    http_response_t *resp;
    char name[NAME_MAX_BYTES];
    const char *verb;
} pending_op_t;

static void op_done(void *cookie, int status) {
    pending_op_t *op = cookie;
    if (!http_response_is_cancelled(op->resp)) {
        int rc = status == 0 ? http_response_text(op->resp, 200, "%s %s", op->verb, op->name)
                             : error_reply(op->resp, 503, pmq_strerror(status));
        if (rc != 0) {
            http_response_set_status(op->resp, 500);
        }
    }
    http_response_finish(op->resp);
    pmq_free(op);
}

static int propose_dest_op(admin_t *a, http_response_t *resp, rlog_cmd_type_t type,
                           const char *name, size_t len) {
    pending_op_t *op = pmq_calloc(1, sizeof(*op));
    if (op == NULL) {
        return PMQ_ENOMEM;
    }
    op->resp = resp;
    op->verb = type == RLOG_CMD_PURGE ? "purged" : "deleted";
    memcpy(op->name, name, len + 1);
    pmq_buf_t cmd;
    pmq_buf_init(&cmd, 0);
    int rc = rlog_encode_dest_op(&cmd, type, pmq_slice(name, len));
    if (rc == 0) {
        broker_log_t log = node_log(a->d.node);
        rc = log.propose(log.arg, pmq_buf_slice(&cmd), op_done, op);
    }
    pmq_buf_close(&cmd);
    if (rc != 0) {
        pmq_free(op);
        return error_reply(resp, 503, pmq_strerror(rc));
    }
    return HTTP_HANDLER_ASYNC;
}

/* /api/v1/destinations/<name>          GET one, DELETE it
 * /api/v1/destinations/<name>/purge    POST */
static int api_destination(void *arg, const http_request_t *req, http_response_t *resp) {
    admin_t *a = arg;
    pmq_slice_t tail = req->route_tail;
    bool purge = tail.len > 6 && memcmp(tail.ptr + tail.len - 6, "/purge", 6) == 0;
    if (purge) {
        tail.len -= 6;
    }
    char name[NAME_MAX_BYTES];
    size_t len;
    if (decode_name(tail, name, sizeof(name), &len) != 0) {
        return error_reply(resp, 400, "bad destination name");
    }
    if (purge || req->method == HTTP_METHOD_DELETE) {
        if (purge && req->method != HTTP_METHOD_POST) {
            return error_reply(resp, 405, "use POST to purge");
        }
        return propose_dest_op(a, resp, purge ? RLOG_CMD_PURGE : RLOG_CMD_DEST_DELETE, name, len);
    }
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    http_json_t j;
    http_json_init(&j, &b);
    dest_list_t l = {&j, pmq_slice(name, len), false};
    broker_dest_foreach(a->d.broker, dest_json, &l);
    int rc = http_json_finish(&j);
    if (rc == 0) {
        rc = l.found ? json_reply(resp, 200, &b) : error_reply(resp, 404, "no such destination");
    }
    pmq_buf_close(&b);
    return rc;
}

static void conn_json(void *arg, const stomp_session_info_t *i) {
    http_json_t *j = arg;
    http_json_object_begin(j);
    http_json_key(j, "id");
    http_json_uint(j, i->id);
    http_json_key(j, "protocol");
    http_json_cstr(j, "stomp");
    http_json_key(j, "peer");
    http_json_cstr(j, i->peer);
    http_json_key(j, "client_id");
    http_json_cstr(j, i->client_id);
    http_json_key(j, "version");
    char v[16];
    snprintf(v, sizeof(v), "1.%d", i->version ? i->version - 10 : 0);
    http_json_cstr(j, i->version ? v : NULL);
    http_json_key(j, "subscriptions");
    http_json_uint(j, i->subscriptions);
    http_json_key(j, "outbound_bytes");
    http_json_uint(j, i->outbound_bytes);
    http_json_key(j, "age_ms");
    http_json_uint(j, pmq_mono_ms() - i->connected_ms);
    http_json_object_end(j);
}

static void fill_connections(admin_t *a, http_json_t *j) {
    http_json_object_begin(j);
    http_json_key(j, "connections");
    http_json_array_begin(j);
    if (a->d.stomp != NULL) {
        stomp_server_foreach(a->d.stomp, conn_json, j);
    }
    http_json_array_end(j);
    http_json_object_end(j);
}

static int api_connections(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)req;
    return reply_built(resp, arg, fill_connections);
}

/* DELETE /api/v1/connections/<id>: closes a client connection. */
static int api_connection(void *arg, const http_request_t *req, http_response_t *resp) {
    admin_t *a = arg;
    uint64_t id;
    if (!pmq_slice_to_u64(req->route_tail, UINT64_MAX, &id)) {
        return error_reply(resp, 400, "connection id must be a number");
    }
    if (a->d.stomp == NULL ||
        stomp_server_close_session(a->d.stomp, id, "connection closed") != 0) {
        return error_reply(resp, 404, "no such connection");
    }
    return http_response_text(resp, 200, "closed %" PRIu64, id);
}

static void on_drain_timer(uv_timer_t *t) {
    admin_t *a = t->data;
    PMQ_LOG_INFO("drain_closing_clients", "grace_ms=%u", a->d.drain_grace_ms);
    if (a->d.stomp != NULL) {
        stomp_server_shutdown(a->d.stomp);
    }
}

/* POST /api/v1/drain: NotReady now (endpoints stop routing here), then after the grace
 * period every client gets the protocol's goodbye. The node keeps running. */
static int api_drain(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)req;
    admin_t *a = arg;
    if (!a->draining) {
        a->draining = true;
        PMQ_LOG_INFO("drain_started", "grace_ms=%u", a->d.drain_grace_ms);
        uv_timer_start(&a->drain_timer, on_drain_timer, a->d.drain_grace_ms, 0);
    }
    return http_response_text(resp, 202, "draining: clients are closed in %u ms",
                              a->d.drain_grace_ms);
}

int admin__register_api(admin_t *a, http_server_t *srv);
int admin__register_api(admin_t *a, http_server_t *srv) {
    unsigned get = HTTP_MASK(HTTP_METHOD_GET);
    unsigned post = HTTP_MASK(HTTP_METHOD_POST);
    unsigned del = HTTP_MASK(HTTP_METHOD_DELETE);
    int rc = http_server_route(srv, get, "/api/v1/status", 0, api_status, a);
    if (rc == 0) {
        rc = http_server_route(srv, get, "/api/v1/destinations", 0, api_destinations, a);
    }
    if (rc == 0) {
        rc = http_server_route(srv, get | post | del, "/api/v1/destinations/", HTTP_ROUTE_PREFIX,
                               api_destination, a);
    }
    if (rc == 0) {
        rc = http_server_route(srv, get, "/api/v1/connections", 0, api_connections, a);
    }
    if (rc == 0) {
        rc = http_server_route(srv, del, "/api/v1/connections/", HTTP_ROUTE_PREFIX,
                               api_connection, a);
    }
    if (rc == 0) {
        rc = http_server_route(srv, post, "/api/v1/drain", 0, api_drain, a);
    }
    return rc;
}
