/* One handler per client frame (STOMP 1.0/1.1/1.2 with ActiveMQ's conventions):
 * CONNECT/STOMP, SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, BEGIN, COMMIT, ABORT,
 * DISCONNECT. A handler either completes the frame, or sends ERROR (and the connection
 * closes), or returns PMQ_EAGAIN for a SEND that waits for room in a full queue. */
#include <stdio.h>
#include <stdlib.h>

#include "stomp_int.h"

typedef struct receipt_wait {
    stomp_session_t *session;
    pmq_slice_t dest;       /* admission reservation to release, or empty */
    stomp_txn_op_t *volatile_ops; /* COMMIT: non-persistent SENDs to run after the log */
    size_t receipt_len;
    char data[];            /* receipt id, then dest */
} receipt_wait_t;

static bool header(const stomp_frame_t *f, const char *name, pmq_slice_t *v) {
    return stomp_frame_header_value(f, name, v);
}

static int fail(stomp_session_t *s, const stomp_frame_t *f, const char *reason,
                const char *detail) {
    stomp__send_error(s, f, reason, detail);
    return PMQ_EPROTO;
}

static int require(stomp_session_t *s, const stomp_frame_t *f, const char *name, pmq_slice_t *v) {
    if (header(f, name, v) && v->len > 0) {
        return 0;
    }
    char reason[96];
    snprintf(reason, sizeof(reason), "%s frame is missing the required '%s' header",
             stomp_command_name(f->command), name);
    return fail(s, f, reason, NULL);
}

static void receipt_if_asked(stomp_session_t *s, const stomp_frame_t *f) {
    pmq_slice_t r;
    if (header(f, "receipt", &r)) {
        stomp__send_receipt(s, r);
    }
}

/* ---- CONNECT / STOMP ---- */

static stomp_version_t negotiate(pmq_slice_t accept) {
    stomp_version_t best = 0;
    while (accept.len > 0) {
        const char *comma = memchr(accept.ptr, ',', accept.len);
        size_t n = comma ? (size_t)(comma - accept.ptr) : accept.len;
        pmq_slice_t v = pmq_slice(accept.ptr, n);
        stomp_version_t got = pmq_slice_eq_cstr(v, "1.2")   ? STOMP_V1_2
                              : pmq_slice_eq_cstr(v, "1.1") ? STOMP_V1_1
                              : pmq_slice_eq_cstr(v, "1.0") ? STOMP_V1_0
                                                            : 0;
        best = got > best ? got : best;
        accept = comma ? pmq_slice(comma + 1, accept.len - n - 1) : pmq_slice(NULL, 0);
    }
    return best;
}

/* heart-beat: "cx,cy". Returns false when malformed. */
static bool parse_heartbeat(pmq_slice_t v, uint64_t *cx, uint64_t *cy) {
    const char *comma = memchr(v.ptr, ',', v.len);
    if (comma == NULL) {
        return false;
    }
    pmq_slice_t a = pmq_slice(v.ptr, (size_t)(comma - v.ptr));
    pmq_slice_t b = pmq_slice(comma + 1, v.len - a.len - 1);
    return pmq_slice_to_u64(a, UINT32_MAX, cx) && pmq_slice_to_u64(b, UINT32_MAX, cy);
}

static int on_connect(stomp_session_t *s, const stomp_frame_t *f) {
    stomp_server_t *srv = s->server;
    if (s->connected) {
        return fail(s, f, "already connected", "a second CONNECT on one connection is not allowed");
    }
    pmq_slice_t v;
    stomp_version_t version = STOMP_V1_0;
    if (header(f, "accept-version", &v)) {
        version = negotiate(v);
        if (version == 0) {
            return fail(s, f, "Supported protocol versions are 1.0,1.1,1.2", NULL);
        }
    }
    pmq_slice_t login = {NULL, 0}, passcode = {NULL, 0};
    bool has_login = header(f, "login", &login);
    (void)header(f, "passcode", &passcode);
    if (srv->opt.auth != NULL && auth_check(srv->opt.auth, has_login, login, passcode) != 0) {
        srv->st.auth_failures++;
        PMQ_LOG_WARN("stomp_auth_failed", "conn=%llu peer=%s login=%.*s",
                     (unsigned long long)s->id, net_conn_peer(s->conn),
                     (int)PMQ_MIN(login.len, 64), login.ptr ? login.ptr : "");
        return fail(s, f, "authentication failed",
                    has_login ? "wrong login or passcode"
                              : "this broker requires login and passcode (auth.anonymous=false)");
    }
    uint64_t cx = 0, cy = 0;
    if (version >= STOMP_V1_1 && header(f, "heart-beat", &v) && !parse_heartbeat(v, &cx, &cy)) {
        return fail(s, f, "invalid heart-beat header", "expected two integers: heart-beat:cx,cy");
    }
    if (header(f, "client-id", &v) && v.len > 0) {
        if (pmq_map_get(&srv->client_ids, v) != NULL) {
            return fail(s, f, "client-id already connected",
                        "another connection uses this client-id; close it or pick another id");
        }
        s->client_id = pmq_slice_dup(v);
        if (s->client_id == NULL ||
            pmq_map_put(&srv->client_ids, pmq_slice_cstr(s->client_id), s) != 0) {
            return fail(s, f, "out of memory", NULL);
        }
    }
    uint32_t min = srv->opt.heartbeat_min_ms;
    s->hb_send_ms = cy == 0 ? 0 : (uint32_t)PMQ_MAX(cy, min);
    s->hb_recv_ms = cx == 0 ? 0 : (uint32_t)PMQ_MAX(cx, min);
    s->version = version;
    s->connected = true;
    stomp_parser_set_version(&s->parser, version);
    srv->st.connects++;

    char session[32], hb[48], vers[8];
    snprintf(session, sizeof(session), "paxmq-%llu", (unsigned long long)s->id);
    snprintf(hb, sizeof(hb), "%u,%u", s->hb_send_ms, s->hb_recv_ms);
    snprintf(vers, sizeof(vers), "1.%d", version - 10);
    stomp_header_t h[4] = {{PMQ_SLICE_LIT("version"), pmq_slice_cstr(vers)},
                           {PMQ_SLICE_LIT("session"), pmq_slice_cstr(session)},
                           {PMQ_SLICE_LIT("server"), pmq_slice_cstr(srv->server_name)},
                           {PMQ_SLICE_LIT("heart-beat"), pmq_slice_cstr(hb)}};
    if (stomp_encode(net_conn_outbuf(s->conn), version, STOMP_CMD_CONNECTED, h, 4,
                     pmq_slice(NULL, 0), false) != 0 ||
        stomp__frame_trailer(net_conn_outbuf(s->conn)) != 0) {
        return fail(s, f, "out of memory", NULL);
    }
    net_conn_commit(s->conn);
    PMQ_LOG_DEBUG("stomp_connected", "conn=%llu version=%s heartbeat=%s client_id=%s",
                  (unsigned long long)s->id, vers, hb, s->client_id ? s->client_id : "-");
    return 0;
}

/* ---- SEND ---- */

/* Headers the broker sets itself and never stores from the client. */
static bool is_reserved(pmq_slice_t n) {
    static const char *const names[] = {"destination", "transaction", "receipt",
                                        "content-length", "persistent", "priority",
                                        "expires", "timestamp", "message-id",
                                        "subscription", "ack", "redelivered"};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(names); i++) {
        if (pmq_slice_eq_cstr(n, names[i])) {
            return true;
        }
    }
    return false;
}

/* Resolves /temp-queue/x and /temp-topic/x of this connection to broker-wide names. */
static int resolve_dest(stomp_session_t *s, pmq_slice_t dest, pmq_buf_t *out, pmq_slice_t *res) {
    if (pmq_slice_has_prefix(dest, "/temp-queue/") || pmq_slice_has_prefix(dest, "/temp-topic/")) {
        int rc = broker_temp_resolve(s->server->broker, s, s->id, dest, out);
        *res = pmq_buf_slice(out);
        return rc;
    }
    *res = dest;
    return 0;
}

typedef struct send_msg {
    pmq_slice_t dest;
    rlog_msg_props_t props;
    rlog_header_t headers[64];
    rlog_header_t *hdrs;
    size_t count;
    pmq_buf_t reply_to;
    pmq_buf_t dest_buf;
} send_msg_t;

static void send_msg_close(send_msg_t *m) {
    if (m->hdrs != m->headers) {
        pmq_free(m->hdrs);
    }
    pmq_buf_close(&m->reply_to);
    pmq_buf_close(&m->dest_buf);
}

/* Reads a SEND frame into m. Sends ERROR and returns PMQ_EPROTO on bad input. */
static int read_send(stomp_session_t *s, const stomp_frame_t *f, send_msg_t *m) {
    pmq_buf_init(&m->reply_to, 0);
    pmq_buf_init(&m->dest_buf, 0);
    m->hdrs = m->headers;
    pmq_slice_t dest, v;
    if (require(s, f, "destination", &dest) != 0) {
        return PMQ_EPROTO;
    }
    char reason[200];
    if (!broker_dest_is_valid(dest, false, reason, sizeof(reason))) {
        return fail(s, f, reason, NULL);
    }
    if (resolve_dest(s, dest, &m->dest_buf, &m->dest) != 0) {
        return fail(s, f, "out of memory", NULL);
    }
    m->props = (rlog_msg_props_t){.priority = 4, .timestamp_ms = pmq_wall_ms()};
    m->props.persistent = header(f, "persistent", &v) && pmq_slice_eq_cstr(v, "true");
    uint64_t n;
    if (header(f, "priority", &v)) {
        if (!pmq_slice_to_u64(v, 9, &n)) {
            return fail(s, f, "invalid priority header", "priority must be an integer from 0 to 9");
        }
        m->props.priority = (uint8_t)n;
    }
    if (header(f, "expires", &v) && !pmq_slice_to_u64(v, UINT64_MAX, &m->props.expires_ms)) {
        return fail(s, f, "invalid expires header",
                    "expires must be milliseconds since the epoch (0 = never)");
    }
    if (f->header_count > PMQ_ARRAY_LEN(m->headers)) {
        m->hdrs = pmq_calloc(f->header_count, sizeof(rlog_header_t));
        if (m->hdrs == NULL) {
            return fail(s, f, "out of memory", NULL);
        }
    }
    for (size_t i = 0; i < f->header_count; i++) {
        pmq_slice_t name = f->headers[i].name, value = f->headers[i].value;
        bool dup = false;
        for (size_t k = 0; k < m->count && !dup; k++) {
            dup = pmq_slice_eq(m->hdrs[k].name, name); /* STOMP 1.2: the first one wins */
        }
        if (dup || is_reserved(name)) {
            continue;
        }
        bool temp = pmq_slice_has_prefix(value, "/temp-queue/") ||
                    pmq_slice_has_prefix(value, "/temp-topic/");
        if (pmq_slice_eq_cstr(name, "reply-to") && temp) {
            if (broker_temp_resolve(s->server->broker, s, s->id, value, &m->reply_to) != 0) {
                return fail(s, f, "out of memory", NULL);
            }
            value = pmq_buf_slice(&m->reply_to);
        }
        m->hdrs[m->count++] = (rlog_header_t){name, value};
    }
    return 0;
}

static void receipt_done(void *cookie, int status);

/* Runs a non-persistent SEND (or a SEND to a temp destination). */
static int send_volatile(stomp_session_t *s, const stomp_frame_t *f, const send_msg_t *m,
                         pmq_slice_t body) {
    int rc = broker_publish_volatile(s->server->broker, m->dest, &m->props, m->hdrs, m->count,
                                     body, pmq_wall_ms());
    if (rc == PMQ_ENOTFOUND) {
        return fail(s, f, "temporary destination does not exist",
                    "its connection has closed");
    }
    if (rc != 0) {
        return fail(s, f, "could not enqueue the message", pmq_strerror(rc));
    }
    if (f != NULL) {
        receipt_if_asked(s, f);
        stomp__hold_if_congested(s);
    }
    return 0;
}

static receipt_wait_t *receipt_wait_new(stomp_session_t *s, const stomp_frame_t *f,
                                        pmq_slice_t dest) {
    pmq_slice_t r = pmq_slice(NULL, 0);
    if (f != NULL) {
        (void)header(f, "receipt", &r);
    }
    receipt_wait_t *w = pmq_malloc(sizeof(*w) + r.len + dest.len + 1);
    if (w == NULL) {
        return NULL;
    }
    w->session = s;
    w->receipt_len = r.len;
    w->volatile_ops = NULL;
    memcpy(w->data, r.ptr ? r.ptr : "", r.len);
    memcpy(w->data + r.len, dest.ptr ? dest.ptr : "", dest.len);
    w->dest = pmq_slice(w->data + r.len, dest.len);
    stomp__session_ref(s);
    s->durable_pending++;
    return w;
}

static void receipt_done(void *cookie, int status) {
    receipt_wait_t *w = cookie;
    stomp_session_t *s = w->session;
    PMQ_ASSERT(s->durable_pending > 0);
    s->durable_pending--;
    if (w->dest.len > 0) {
        broker_admit_release(s->server->broker, w->dest);
    }
    if (stomp__session_alive(s)) {
        if (status != 0) {
            char detail[160];
            snprintf(detail, sizeof(detail), "the message was not stored: %s",
                     pmq_strerror(status));
            stomp__send_error(s, NULL, "persistence failed", detail);
        } else {
            for (stomp_txn_op_t *op = w->volatile_ops; op != NULL; op = op->next) {
                send_msg_t m = {.dest = op->dest, .props = op->props, .hdrs = op->headers,
                                .count = op->header_count};
                if (broker_publish_volatile(s->server->broker, m.dest, &m.props, m.hdrs, m.count,
                                            op->body, pmq_wall_ms()) != 0) {
                    PMQ_LOG_WARN("txn_send_dropped", "conn=%llu dest=%.*s",
                                 (unsigned long long)s->id, (int)m.dest.len, m.dest.ptr);
                }
            }
            if (w->receipt_len > 0) {
                stomp__send_receipt(s, pmq_slice(w->data, w->receipt_len));
            }
            stomp__maybe_finish_disconnect(s);
        }
    }
    while (w->volatile_ops != NULL) {
        stomp_txn_op_t *op = w->volatile_ops;
        w->volatile_ops = op->next;
        pmq_free(op);
    }
    stomp__session_unref(s);
    pmq_free(w);
}

static int send_durable(stomp_session_t *s, const stomp_frame_t *f, const send_msg_t *m) {
    pmq_buf_t *cmd = &s->server->scratch;
    pmq_buf_reset(cmd);
    int rc = rlog_encode_publish(cmd, m->dest, &m->props, m->hdrs, m->count, f->body);
    if (rc != 0) {
        return fail(s, f, "message too large", pmq_strerror(rc));
    }
    receipt_wait_t *w = receipt_wait_new(s, f, m->dest);
    if (w == NULL) {
        return fail(s, f, "out of memory", NULL);
    }
    broker_admit_reserve(s->server->broker, m->dest);
    rc = s->server->log.propose(s->server->log.arg, pmq_buf_slice(cmd), receipt_done, w);
    if (rc != 0) {
        receipt_done(w, rc);
        return PMQ_EPROTO;
    }
    return 0;
}

static stomp_txn_t *find_txn(stomp_session_t *s, pmq_slice_t id) {
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &s->txns) {
        stomp_txn_t *t = PMQ_CONTAINER_OF(it, stomp_txn_t, link);
        if (pmq_slice_eq_cstr(id, t->id)) {
            return t;
        }
    }
    return NULL;
}

static int txn_lookup(stomp_session_t *s, const stomp_frame_t *f, stomp_txn_t **out) {
    pmq_slice_t id;
    *out = NULL;
    if (!header(f, "transaction", &id)) {
        return 0;
    }
    *out = find_txn(s, id);
    if (*out == NULL) {
        return fail(s, f, "unknown transaction", "BEGIN the transaction first");
    }
    if ((*out)->op_count >= s->server->opt.transaction_ops_max) {
        return fail(s, f, "transaction too large", "stomp.transaction_ops_max reached");
    }
    return 0;
}

static void txn_append(stomp_txn_t *t, stomp_txn_op_t *op) {
    op->next = NULL;
    if (t->tail != NULL) {
        t->tail->next = op;
    } else {
        t->head = op;
    }
    t->tail = op;
    t->op_count++;
}

/* Copies a SEND into a transaction op (one allocation). */
static stomp_txn_op_t *txn_send_op(const send_msg_t *m, pmq_slice_t body) {
    size_t size = sizeof(stomp_txn_op_t) + m->count * sizeof(rlog_header_t) + m->dest.len +
                  body.len;
    for (size_t i = 0; i < m->count; i++) {
        size += m->hdrs[i].name.len + m->hdrs[i].value.len;
    }
    stomp_txn_op_t *op = pmq_calloc(1, size);
    if (op == NULL) {
        return NULL;
    }
    op->kind = TXN_SEND;
    op->persistent = m->props.persistent && broker_dest_is_durable(m->dest);
    op->props = m->props;
    op->header_count = m->count;
    op->headers = (rlog_header_t *)op->data;
    char *p = (char *)(op->headers + m->count);
#define COPY(dst, src)                                                                  \
    do {                                                                                \
        memcpy(p, (src).ptr, (src).len);                                                \
        (dst) = pmq_slice(p, (src).len);                                                \
        p += (src).len;                                                                 \
    } while (0)
    COPY(op->dest, m->dest);
    COPY(op->body, body);
    for (size_t i = 0; i < m->count; i++) {
        COPY(op->headers[i].name, m->hdrs[i].name);
        COPY(op->headers[i].value, m->hdrs[i].value);
    }
#undef COPY
    return op;
}

static int on_send(stomp_session_t *s, const stomp_frame_t *f) {
    stomp_txn_t *txn;
    if (txn_lookup(s, f, &txn) != 0) {
        return PMQ_EPROTO;
    }
    send_msg_t m = {0};
    int rc = read_send(s, f, &m);
    if (rc != 0) {
        goto out;
    }
    if (txn != NULL) {
        stomp_txn_op_t *op = txn_send_op(&m, f->body);
        rc = op ? 0 : fail(s, f, "out of memory", NULL);
        if (op != NULL) {
            txn_append(txn, op);
            receipt_if_asked(s, f);
        }
        goto out;
    }
    rc = broker_admit(s->server->broker, m.dest);
    if (rc == PMQ_EFULL && s->server->opt.full_policy == BROKER_FULL_BLOCK) {
        rc = stomp__block_on(s, m.dest) == 0 ? PMQ_EAGAIN : fail(s, f, "queue is full", NULL);
        goto out;
    }
    if (rc != 0) {
        char reason[RLOG_NAME_BYTES_MAX + 64], detail[128];
        snprintf(reason, sizeof(reason), "%s: %.*s",
                 rc == PMQ_EFULL ? "queue is full" : "too many destinations", (int)m.dest.len,
                 m.dest.ptr);
        snprintf(detail, sizeof(detail),
                 "limit broker.queue_depth_max=%llu or broker.queue_bytes_max or "
                 "broker.destinations_max reached; consume messages and retry",
                 (unsigned long long)s->server->opt.queue_depth_max);
        rc = fail(s, f, reason, detail);
        goto out;
    }
    if (m.props.persistent && broker_dest_is_durable(m.dest)) {
        rc = send_durable(s, f, &m);
    } else {
        rc = send_volatile(s, f, &m, f->body);
    }
out:
    send_msg_close(&m);
    return rc;
}

/* ---- SUBSCRIBE / UNSUBSCRIBE ---- */

static stomp_sub_t *find_sub(stomp_session_t *s, pmq_slice_t id) {
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &s->subs) {
        stomp_sub_t *sub = PMQ_CONTAINER_OF(it, stomp_sub_t, link);
        if (pmq_slice_eq_cstr(id, sub->id)) {
            return sub;
        }
    }
    return NULL;
}

static int parse_ack_mode(pmq_slice_t v, broker_ack_mode_t *mode) {
    if (v.len == 0 || pmq_slice_eq_cstr(v, "auto")) {
        *mode = BROKER_ACK_AUTO;
    } else if (pmq_slice_eq_cstr(v, "client")) {
        *mode = BROKER_ACK_CLIENT;
    } else if (pmq_slice_eq_cstr(v, "client-individual")) {
        *mode = BROKER_ACK_CLIENT_INDIVIDUAL;
    } else {
        return PMQ_EINVAL;
    }
    return 0;
}

static int subscribe_checks(stomp_session_t *s, const stomp_frame_t *f, pmq_slice_t *dest,
                            pmq_slice_t *id) {
    if (require(s, f, "destination", dest) != 0) {
        return PMQ_EPROTO;
    }
    if (!header(f, "id", id) || id->len == 0) {
        if (s->version >= STOMP_V1_1) {
            return require(s, f, "id", id);
        }
        *id = *dest; /* STOMP 1.0: the destination names the subscription */
    }
    char reason[200];
    if (!broker_dest_is_valid(*dest, true, reason, sizeof(reason))) {
        return fail(s, f, reason, NULL);
    }
    pmq_slice_t v;
    if (header(f, "selector", &v)) {
        return fail(s, f, "message selectors are not supported",
                    "subscribe without the selector header and filter in the client");
    }
    if (find_sub(s, *id) != NULL) {
        return fail(s, f, "duplicate subscription id", "each SUBSCRIBE needs an id not in use");
    }
    if (s->sub_count >= s->server->opt.subscriptions_max) {
        return fail(s, f, "too many subscriptions", "stomp.subscriptions_max reached");
    }
    return 0;
}

static int on_subscribe(stomp_session_t *s, const stomp_frame_t *f) {
    pmq_slice_t dest, id, v;
    if (subscribe_checks(s, f, &dest, &id) != 0) {
        return PMQ_EPROTO;
    }
    broker_sub_spec_t spec = {0};
    if (parse_ack_mode(header(f, "ack", &v) ? v : pmq_slice(NULL, 0), &spec.ack_mode) != 0) {
        return fail(s, f, "invalid ack mode", "use auto, client or client-individual");
    }
    uint64_t n;
    if (header(f, "activemq.prefetchSize", &v)) {
        if (!pmq_slice_to_u64(v, 1000000, &n) || n == 0) {
            return fail(s, f, "invalid activemq.prefetchSize", "use an integer from 1 to 1000000");
        }
        spec.prefetch = (uint32_t)n;
    }
    if (header(f, "activemq.subscriptionName", &v) && v.len > 0) {
        if (s->client_id == NULL) {
            return fail(s, f, "durable subscription needs a client-id",
                        "send client-id in CONNECT to use activemq.subscriptionName");
        }
        spec.durable_name = v;
        spec.client_id = pmq_slice_cstr(s->client_id);
    }
    pmq_buf_t resolved;
    pmq_buf_init(&resolved, 0);
    stomp_sub_t *sub = pmq_calloc(1, sizeof(*sub));
    int rc = sub ? resolve_dest(s, dest, &resolved, &spec.dest) : PMQ_ENOMEM;
    if (rc == 0) {
        sub->session = s;
        sub->id = pmq_slice_dup(id);
        sub->dest = pmq_slice_dup(dest);
        sub->num = ++s->next_sub_num;
        sub->ack_mode = spec.ack_mode;
        sub->durable = spec.durable_name.len > 0;
        spec.user = sub;
        rc = sub->id && sub->dest ? 0 : PMQ_ENOMEM;
    }
    /* A durable subscription's RECEIPT waits until its log entry applied (receipts mean
     * durable); the broker calls receipt_done once, at once when nothing is pending. */
    receipt_wait_t *w = NULL;
    if (rc == 0 && spec.durable_name.len > 0) {
        w = receipt_wait_new(s, f, pmq_slice(NULL, 0));
        rc = w != NULL ? 0 : PMQ_ENOMEM;
        spec.durable_done = receipt_done;
        spec.durable_done_arg = w;
    }
    if (rc == 0) {
        rc = broker_subscribe(s->server->broker, &spec, &stomp__consumer_ops, s, &sub->bsub);
    }
    pmq_buf_close(&resolved);
    if (rc != 0 && w != NULL) {
        w->receipt_len = 0; /* not consumed by the broker: release it without a frame */
        receipt_done(w, 0);
    }
    if (rc != 0) {
        if (sub != NULL) {
            pmq_free(sub->id);
            pmq_free(sub->dest);
            pmq_free(sub);
        }
        return fail(s, f,
                    rc == PMQ_EEXIST      ? "durable subscription is already active"
                    : rc == PMQ_ENOTFOUND ? "temporary destination does not exist"
                    : rc == PMQ_ETOOBIG   ? "too many destinations"
                                          : "subscribe failed",
                    pmq_strerror(rc));
    }
    pmq_list_push_back(&s->subs, &sub->link);
    s->sub_count++;
    if (w == NULL) {
        receipt_if_asked(s, f);
    }
    return 0;
}

/* Open transactions drop their ACK/NACKs of a subscription that is going away: its
 * deliveries are redelivered by the broker anyway. */
static void txn_forget_sub(stomp_session_t *s, const stomp_sub_t *sub) {
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &s->txns) {
        stomp_txn_t *t = PMQ_CONTAINER_OF(it, stomp_txn_t, link);
        stomp_txn_op_t **pp = &t->head;
        t->tail = NULL;
        while (*pp != NULL) {
            stomp_txn_op_t *op = *pp;
            if (op->kind != TXN_SEND && op->sub == sub) {
                *pp = op->next;
                t->op_count--;
                pmq_free(op);
                continue;
            }
            t->tail = op;
            pp = &op->next;
        }
    }
}

static int on_unsubscribe(stomp_session_t *s, const stomp_frame_t *f) {
    pmq_slice_t id, v;
    if (!header(f, "id", &id) || id.len == 0) {
        if (s->version >= STOMP_V1_1 || !header(f, "destination", &id)) {
            return require(s, f, "id", &id);
        }
    }
    stomp_sub_t *sub = find_sub(s, id);
    if (sub == NULL && s->client_id != NULL && header(f, "activemq.subscriptionName", &v)) {
        /* ActiveMQ: delete a durable subscription whose subscriber is away. */
        receipt_wait_t *w = receipt_wait_new(s, f, pmq_slice(NULL, 0));
        if (w == NULL) {
            return fail(s, f, "out of memory", NULL);
        }
        int rc = broker_durable_remove(s->server->broker, pmq_slice_cstr(s->client_id), v,
                                       receipt_done, w);
        if (rc != 0) {
            w->receipt_len = 0;
            receipt_done(w, 0);
            return fail(s, f, "no such durable subscription",
                        "activemq.subscriptionName does not name a durable subscription of "
                        "this client-id");
        }
        return 0;
    }
    if (sub == NULL) {
        return fail(s, f, "no such subscription", "UNSUBSCRIBE names a subscription id in use");
    }
    bool remove = sub->durable && header(f, "activemq.subscriptionName", &v);
    txn_forget_sub(s, sub);
    pmq_list_remove(&sub->link);
    s->sub_count--;
    broker_unsubscribe(s->server->broker, sub->bsub, remove);
    pmq_free(sub->id);
    pmq_free(sub->dest);
    pmq_free(sub);
    receipt_if_asked(s, f);
    return 0;
}

/* ---- ACK / NACK ---- */

/* Our 1.2 ack ids are "<subscription number>-<delivery tag>". */
static stomp_sub_t *parse_ack_id(stomp_session_t *s, pmq_slice_t id, uint64_t *tag) {
    const char *dash = memchr(id.ptr, '-', id.len);
    if (dash == NULL) {
        return NULL;
    }
    size_t n = (size_t)(dash - id.ptr);
    uint64_t num;
    if (!pmq_slice_to_u64(pmq_slice(id.ptr, n), UINT32_MAX, &num) ||
        !pmq_slice_to_u64(pmq_slice(dash + 1, id.len - n - 1), UINT64_MAX, tag)) {
        return NULL;
    }
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &s->subs) {
        stomp_sub_t *c = PMQ_CONTAINER_OF(it, stomp_sub_t, link);
        if (c->num == num) {
            return c;
        }
    }
    return NULL;
}

/* Finds the subscription and delivery tag an ACK/NACK refers to. */
static int ack_target(stomp_session_t *s, const stomp_frame_t *f, stomp_sub_t **sub,
                      uint64_t *tag) {
    pmq_slice_t id, subid;
    if (s->version >= STOMP_V1_2) {
        if (require(s, f, "id", &id) != 0) {
            return PMQ_EPROTO;
        }
        *sub = parse_ack_id(s, id, tag);
        return *sub ? 0
                    : fail(s, f, "unknown ack id",
                           "the id does not name a message delivered on this connection");
    }
    if (require(s, f, "message-id", &id) != 0) {
        return PMQ_EPROTO;
    }
    pmq_list_t *it, *tmp;
    bool named = header(f, "subscription", &subid);
    PMQ_LIST_FOREACH_SAFE(it, tmp, &s->subs) {
        stomp_sub_t *c = PMQ_CONTAINER_OF(it, stomp_sub_t, link);
        bool match = !named || pmq_slice_eq_cstr(subid, c->id);
        if (match && broker_sub_find_tag(c->bsub, id, tag) == 0) {
            *sub = c;
            return 0;
        }
    }
    if (s->version == STOMP_V1_1 && !named) {
        return require(s, f, "subscription", &subid);
    }
    return fail(s, f, "unknown message-id", "the message is not awaiting acknowledgement");
}

static void ack_done(void *cookie, int status) { receipt_done(cookie, status); }

static int on_ack(stomp_session_t *s, const stomp_frame_t *f, bool nack) {
    stomp_sub_t *sub = NULL;
    uint64_t tag = 0;
    stomp_txn_t *txn = NULL;
    if (txn_lookup(s, f, &txn) != 0 || ack_target(s, f, &sub, &tag) != 0) {
        return PMQ_EPROTO;
    }
    if (sub->ack_mode == BROKER_ACK_AUTO) {
        receipt_if_asked(s, f); /* ActiveMQ ignores acks on auto subscriptions */
        return 0;
    }
    if (txn != NULL) {
        stomp_txn_op_t *op = pmq_calloc(1, sizeof(*op));
        if (op == NULL) {
            return fail(s, f, "out of memory", NULL);
        }
        *op = (stomp_txn_op_t){.kind = nack ? TXN_NACK : TXN_ACK, .sub = sub, .tag = tag};
        txn_append(txn, op);
        receipt_if_asked(s, f);
        return 0;
    }
    if (nack) {
        if (broker_nack(s->server->broker, sub->bsub, tag) != 0) {
            return fail(s, f, "unknown message", NULL);
        }
        receipt_if_asked(s, f);
        return 0;
    }
    pmq_slice_t r;
    receipt_wait_t *w = NULL;
    if (header(f, "receipt", &r)) {
        w = receipt_wait_new(s, f, pmq_slice(NULL, 0));
        if (w == NULL) {
            return fail(s, f, "out of memory", NULL);
        }
    }
    int rc = broker_ack(s->server->broker, sub->bsub, tag, w ? ack_done : NULL, w);
    if (rc != 0) {
        if (w != NULL) {
            w->receipt_len = 0;
            receipt_done(w, 0);
        }
        return fail(s, f, "unknown message", "the message is not awaiting acknowledgement");
    }
    return 0;
}

/* ---- BEGIN / COMMIT / ABORT ---- */

static int on_begin(stomp_session_t *s, const stomp_frame_t *f) {
    pmq_slice_t id;
    if (require(s, f, "transaction", &id) != 0) {
        return PMQ_EPROTO;
    }
    if (find_txn(s, id) != NULL) {
        return fail(s, f, "transaction already started", "use a new transaction id");
    }
    if (s->txn_count >= s->server->opt.transactions_max) {
        return fail(s, f, "too many open transactions", "stomp.transactions_max reached");
    }
    stomp_txn_t *t = pmq_calloc(1, sizeof(*t));
    if (t == NULL || (t->id = pmq_slice_dup(id)) == NULL) {
        pmq_free(t);
        return fail(s, f, "out of memory", NULL);
    }
    pmq_list_push_back(&s->txns, &t->link);
    s->txn_count++;
    receipt_if_asked(s, f);
    return 0;
}

static void txn_free(stomp_session_t *s, stomp_txn_t *t) {
    pmq_list_remove(&t->link);
    s->txn_count--;
    while (t->head != NULL) {
        stomp_txn_op_t *op = t->head;
        t->head = op->next;
        pmq_free(op);
    }
    pmq_free(t->id);
    pmq_free(t);
}

static int txn_take(stomp_session_t *s, const stomp_frame_t *f, stomp_txn_t **out) {
    pmq_slice_t id;
    if (require(s, f, "transaction", &id) != 0) {
        return PMQ_EPROTO;
    }
    *out = find_txn(s, id);
    return *out ? 0 : fail(s, f, "unknown transaction", "BEGIN the transaction first");
}

/* A transactional ACK/NACK whose message has meanwhile been redelivered elsewhere
 * (the tag is gone) has nothing left to undo. */
static void nack_quietly(stomp_session_t *s, const stomp_txn_op_t *op) {
    if (broker_nack(s->server->broker, op->sub->bsub, op->tag) != 0) {
        PMQ_LOG_DEBUG("txn_nack_stale", "conn=%llu tag=%llu", (unsigned long long)s->id,
                      (unsigned long long)op->tag);
    }
}

/* Builds the TXN command: persistent SENDs and durable ACKs go into the log as one
 * entry; non-persistent SENDs are moved to w->volatile_ops to run once it commits. */
static int commit_build(stomp_session_t *s, stomp_txn_t *t, receipt_wait_t *w, bool *has_durable) {
    pmq_buf_t *cmd = &s->server->scratch;
    pmq_buf_t op_bytes;
    pmq_buf_init(&op_bytes, 0);
    size_t mark;
    pmq_buf_reset(cmd);
    int rc = rlog_txn_begin(cmd, &mark);
    stomp_txn_op_t **vtail = &w->volatile_ops;
    while (rc == 0 && t->head != NULL) {
        stomp_txn_op_t *op = t->head;
        t->head = op->next;
        t->op_count--;
        if (op->kind == TXN_SEND && op->persistent) {
            pmq_buf_reset(&op_bytes);
            rc = rlog_encode_publish(&op_bytes, op->dest, &op->props, op->headers, op->header_count,
                                     op->body);
            if (rc == 0) {
                rc = rlog_txn_add_op(cmd, mark, pmq_buf_slice(&op_bytes));
                *has_durable = true;
            }
        } else if (op->kind == TXN_SEND) {
            op->next = NULL;
            *vtail = op;
            vtail = &op->next;
            continue;
        } else if (op->kind == TXN_ACK) {
            rc = broker_ack_encode(s->server->broker, op->sub->bsub, op->tag, cmd, mark,
                                   has_durable);
        } else {
            nack_quietly(s, op);
        }
        pmq_free(op);
    }
    t->tail = NULL;
    rlog_txn_end(cmd, mark);
    pmq_buf_close(&op_bytes);
    return rc;
}

static int on_commit(stomp_session_t *s, const stomp_frame_t *f) {
    stomp_txn_t *t;
    if (txn_take(s, f, &t) != 0) {
        return PMQ_EPROTO;
    }
    receipt_wait_t *w = receipt_wait_new(s, f, pmq_slice(NULL, 0));
    if (w == NULL) {
        return fail(s, f, "out of memory", NULL);
    }
    bool has_durable = false;
    int rc = commit_build(s, t, w, &has_durable);
    txn_free(s, t);
    if (rc == 0 && has_durable) {
        rc = s->server->log.propose(s->server->log.arg, pmq_buf_slice(&s->server->scratch),
                                    receipt_done, w);
        if (rc == 0) {
            return 0;
        }
    }
    receipt_done(w, rc); /* nothing durable: run the volatile part and answer now */
    return rc == 0 ? 0 : PMQ_EPROTO;
}

static int on_abort(stomp_session_t *s, const stomp_frame_t *f) {
    stomp_txn_t *t;
    if (txn_take(s, f, &t) != 0) {
        return PMQ_EPROTO;
    }
    /* Acknowledged-in-transaction messages go back for redelivery, as in ActiveMQ. */
    for (stomp_txn_op_t *op = t->head; op != NULL; op = op->next) {
        if (op->kind != TXN_SEND) {
            nack_quietly(s, op);
        }
    }
    txn_free(s, t);
    receipt_if_asked(s, f);
    return 0;
}

static int on_disconnect(stomp_session_t *s, const stomp_frame_t *f) {
    pmq_slice_t r;
    if (header(f, "receipt", &r) && pmq_buf_append_slice(&s->disconnect_receipt, r) != 0) {
        return fail(s, f, "out of memory", NULL);
    }
    s->disconnect_requested = true;
    stomp__maybe_finish_disconnect(s);
    return 0;
}

int stomp__handle_frame(stomp_session_t *s, const stomp_frame_t *f) {
    if (!s->connected && f->command != STOMP_CMD_CONNECT && f->command != STOMP_CMD_STOMP) {
        return fail(s, f, "not connected", "the first frame must be CONNECT or STOMP");
    }
    if (s->disconnect_requested) {
        return 0; /* frames after DISCONNECT are ignored */
    }
    switch (f->command) {
    case STOMP_CMD_CONNECT:
    case STOMP_CMD_STOMP:
        return on_connect(s, f);
    case STOMP_CMD_SEND:
        return on_send(s, f);
    case STOMP_CMD_SUBSCRIBE:
        return on_subscribe(s, f);
    case STOMP_CMD_UNSUBSCRIBE:
        return on_unsubscribe(s, f);
    case STOMP_CMD_ACK:
        return on_ack(s, f, false);
    case STOMP_CMD_NACK:
        if (s->version < STOMP_V1_1) {
            return fail(s, f, "NACK is not part of STOMP 1.0", NULL);
        }
        return on_ack(s, f, true);
    case STOMP_CMD_BEGIN:
        return on_begin(s, f);
    case STOMP_CMD_COMMIT:
        return on_commit(s, f);
    case STOMP_CMD_ABORT:
        return on_abort(s, f);
    case STOMP_CMD_DISCONNECT:
        return on_disconnect(s, f);
    default:
        break;
    }
    char reason[120];
    snprintf(reason, sizeof(reason), "unexpected frame %.*s from a client",
             (int)PMQ_MIN(f->command_name.len, 40), f->command_name.ptr);
    return fail(s, f, reason, NULL);
}
