/* STOMP connection lifecycle: accept, the input loop over the codec, ERROR and RECEIPT
 * frames, heart-beats and timeouts, back-pressure, and release of everything a session
 * held when its connection goes. Frame semantics live in stomp_frames.c. */
#include <stdio.h>

#include "stomp_int.h"

static void session_input(stomp_session_t *s);

void stomp__session_ref(stomp_session_t *s) {
    PMQ_ASSERT(s->refs > 0);
    s->refs++;
}

void stomp__session_unref(stomp_session_t *s) {
    PMQ_ASSERT(s->refs > 0);
    if (--s->refs > 0) {
        return;
    }
    PMQ_ASSERT(s->conn == NULL);
    stomp_parser_close(&s->parser);
    pmq_free(s->held_headers);
    pmq_buf_close(&s->stash);
    pmq_buf_close(&s->disconnect_receipt);
    pmq_free(s);
}

bool stomp__session_alive(const stomp_session_t *s) { return s->conn != NULL && !s->closing; }

static void write_frame_or_close(stomp_session_t *s) {
    net_conn_commit(s->conn);
    s->server->st.frames_out++;
}

void stomp__send_error(stomp_session_t *s, const stomp_frame_t *f, const char *reason,
                       const char *detail) {
    if (!stomp__session_alive(s)) {
        return;
    }
    stomp_server_t *srv = s->server;
    srv->st.errors_sent++;
    if (pmq_ratelimit_allow(&srv->bad_input_log, pmq_mono_ms())) {
        PMQ_LOG_INFO("stomp_error_sent", "conn=%llu peer=%s reason=\"%s\"",
                     (unsigned long long)s->id, net_conn_peer(s->conn), reason);
    }
    pmq_buf_t *out = net_conn_outbuf(s->conn);
    stomp_version_t v = s->connected ? s->version : STOMP_V1_2;
    pmq_slice_t receipt;
    int rc = stomp_encode_begin(out, STOMP_CMD_ERROR);
    if (rc == 0) {
        rc = stomp_encode_header(out, v, STOMP_CMD_ERROR, PMQ_SLICE_LIT("message"),
                                 pmq_slice_cstr(reason));
    }
    if (rc == 0 && f != NULL && stomp_frame_header_value(f, "receipt", &receipt)) {
        rc = stomp_encode_header(out, v, STOMP_CMD_ERROR, PMQ_SLICE_LIT("receipt-id"), receipt);
    }
    if (rc == 0) {
        rc = stomp_encode_header(out, v, STOMP_CMD_ERROR, PMQ_SLICE_LIT("content-type"),
                                 PMQ_SLICE_LIT("text/plain"));
    }
    if (rc == 0) {
        rc = stomp_encode_end(out, pmq_slice_cstr(detail ? detail : reason), true);
    }
    if (rc == 0) {
        rc = stomp__frame_trailer(out);
    }
    if (rc == 0) {
        write_frame_or_close(s);
    }
    s->closing = true;
    net_conn_close(s->conn);
}

void stomp__send_receipt(stomp_session_t *s, pmq_slice_t receipt_id) {
    if (!stomp__session_alive(s)) {
        return;
    }
    pmq_buf_t *out = net_conn_outbuf(s->conn);
    int rc = stomp_encode_begin(out, STOMP_CMD_RECEIPT);
    if (rc == 0) {
        rc = stomp_encode_header(out, s->version, STOMP_CMD_RECEIPT, PMQ_SLICE_LIT("receipt-id"),
                                 receipt_id);
    }
    if (rc == 0) {
        rc = stomp_encode_end(out, pmq_slice(NULL, 0), false);
    }
    if (rc == 0) {
        rc = stomp__frame_trailer(out);
    }
    if (rc == 0) {
        write_frame_or_close(s);
    }
}

void stomp__maybe_finish_disconnect(stomp_session_t *s) {
    if (!s->disconnect_requested || s->durable_pending > 0 || !stomp__session_alive(s)) {
        return;
    }
    /* Release the client-id and subscriptions now, before the RECEIPT: a client that
     * reconnects right after it must find them free (ActiveMQ does the same). */
    stomp__session_release(s);
    if (s->disconnect_receipt.len > 0) {
        stomp__send_receipt(s, pmq_buf_slice(&s->disconnect_receipt));
    }
    s->closing = true;
    net_conn_close(s->conn);
}

/* Everything the session holds in the broker goes back: subscriptions (their unacked
 * messages are redelivered), transactions (discarded), temp destinations, waiters. */
void stomp__session_release(stomp_session_t *s) {
    stomp_server_t *srv = s->server;
    while (!pmq_list_is_empty(&s->txns)) {
        stomp_txn_t *t = PMQ_CONTAINER_OF(s->txns.next, stomp_txn_t, link);
        pmq_list_remove(&t->link);
        while (t->head != NULL) {
            stomp_txn_op_t *op = t->head;
            t->head = op->next;
            pmq_free(op);
        }
        pmq_free(t->id);
        pmq_free(t);
    }
    while (!pmq_list_is_empty(&s->subs)) {
        stomp_sub_t *sub = PMQ_CONTAINER_OF(s->subs.next, stomp_sub_t, link);
        pmq_list_remove(&sub->link);
        broker_unsubscribe(srv->broker, sub->bsub, false);
        pmq_free(sub->id);
        pmq_free(sub->dest);
        pmq_free(sub);
    }
    if (s->waiter != NULL) {
        broker_waiter_cancel(s->waiter);
        s->waiter = NULL;
    }
    broker_owner_gone(srv->broker, s);
    if (s->client_id != NULL) {
        if (pmq_map_get(&srv->client_ids, pmq_slice_cstr(s->client_id)) == s) {
            (void)pmq_map_del(&srv->client_ids, pmq_slice_cstr(s->client_id));
        }
        pmq_free(s->client_id);
        s->client_id = NULL;
    }
}

static void on_close(net_conn_t *c, int status) {
    stomp_session_t *s = net_conn_data(c);
    stomp_server_t *srv = s->server;
    PMQ_LOG_DEBUG("stomp_closed", "conn=%llu status=%s", (unsigned long long)s->id,
                  status ? pmq_errname(status) : "ok");
    stomp__session_release(s);
    pmq_list_remove(&s->link);
    PMQ_ASSERT(srv->session_count > 0);
    srv->session_count--;
    s->conn = NULL;
    stomp__session_unref(s);
}

static void on_drain(net_conn_t *c) {
    stomp_session_t *s = net_conn_data(c);
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &s->subs) {
        stomp_sub_t *sub = PMQ_CONTAINER_OF(it, stomp_sub_t, link);
        broker_sub_resume(s->server->broker, sub->bsub);
    }
}

/* The codec rejected a frame before handing it over (unknown command, limits): find a
 * raw "receipt:" line in the frame's head so the ERROR can carry receipt-id (STOMP 1.2
 * "ERROR": the server SHOULD match the receipt of the offending frame). */
static void send_parse_error(stomp_session_t *s, const char *head, size_t len, const char *reason) {
    size_t n = PMQ_MIN(len, s->server->opt.limits.header_bytes_max * 4 + 256);
    const char *end = head + n;
    const char *line = memchr(head, '\n', n);
    stomp_header_t h = {PMQ_SLICE_LIT("receipt"), {NULL, 0}};
    while (line != NULL && line + 1 < end && line[1] != '\n' && line[1] != '\r') {
        const char *start = line + 1;
        line = memchr(start, '\n', (size_t)(end - start));
        size_t l = (size_t)((line ? line : end) - start);
        if (l > 8 && memcmp(start, "receipt:", 8) == 0) {
            h.value = pmq_slice(start + 8, l - 8 - (start[l - 1] == '\r'));
            break;
        }
    }
    stomp_frame_t f = {.headers = &h, .header_count = h.value.ptr ? 1 : 0};
    stomp__send_error(s, &f, reason, NULL);
}

/* Moves every slice of the held frame by delta bytes (its bytes were copied/moved). */
static void held_rebase(stomp_session_t *s, ptrdiff_t delta) {
    stomp_frame_t *f = &s->held;
    f->command_name.ptr += delta;
    f->body.ptr += delta;
    for (size_t i = 0; i < f->header_count; i++) {
        f->headers[i].name.ptr += delta;
        f->headers[i].value.ptr += delta;
    }
}

/* Parses and handles every complete frame in buf. Returns the bytes consumed. When a
 * SEND blocks on a full queue, the parsed frame is kept in s->held (its bytes are the
 * first unconsumed ones) and handled again when the queue has room: frames are parsed
 * once because header unescaping happens in place. */
static size_t process(stomp_session_t *s, char *buf, size_t len) {
    size_t off = 0;
    while (off < len && stomp__session_alive(s) && !s->blocked) {
        size_t used = 0;
        stomp_frame_t f;
        pmq_proto_err_t err = {0};
        int rc = stomp_parse(&s->parser, buf + off, len - off, &used, &f, &err);
        if (rc == PMQ_EAGAIN) {
            off += used;
            break;
        }
        if (rc != 0) {
            s->server->st.protocol_errors++;
            send_parse_error(s, buf + off, len - off, err.reason);
            return len;
        }
        s->server->st.frames_in++;
        rc = stomp__handle_frame(s, &f);
        if (rc == PMQ_EAGAIN) {
            /* Keep the frame: its headers move out of the shared array. */
            s->holding = true;
            s->held = f;
            s->held_bytes = used;
            s->held_headers = pmq_calloc(f.header_count + 1, sizeof(stomp_header_t));
            if (s->held_headers == NULL) {
                stomp__send_error(s, NULL, "out of memory", NULL);
                return len;
            }
            memcpy(s->held_headers, f.headers, f.header_count * sizeof(stomp_header_t));
            s->held.headers = s->held_headers;
            break;
        }
        off += used;
        stomp_parser_reset(&s->parser);
    }
    return off;
}

static void session_input(stomp_session_t *s) {
    size_t used = process(s, s->stash.data, s->stash.len);
    if (stomp__session_alive(s) && used > 0) {
        pmq_buf_consume(&s->stash, used);
        if (s->holding) {
            held_rebase(s, -(ptrdiff_t)used);
        }
    }
}

static void on_read(net_conn_t *c, char *data, size_t len) {
    stomp_session_t *s = net_conn_data(c);
    if (s->stash.len == 0 && !s->blocked) {
        /* Fast path: parse straight out of the shared read buffer. */
        size_t used = process(s, data, len);
        if (used < len && stomp__session_alive(s)) {
            if (pmq_buf_append(&s->stash, data + used, len - used) != 0) {
                stomp__send_error(s, NULL, "frame too large to buffer", NULL);
            } else if (s->holding) {
                held_rebase(s, s->stash.data - (data + used));
            }
        }
    } else if (pmq_buf_append(&s->stash, data, len) != 0) {
        stomp__send_error(s, NULL, "frame too large to buffer", NULL);
    } else if (!s->blocked) {
        session_input(s);
    }
    if (s->stash.len == 0) {
        s->partial_since_ms = 0;
        /* Give back the memory of a large frame once it is handled. */
        if (s->stash.cap > 64 * 1024) {
            pmq_buf_close(&s->stash);
            pmq_buf_init(&s->stash, s->server->opt.limits.frame_bytes_max + 4096);
        }
    } else if (s->partial_since_ms == 0) {
        s->partial_since_ms = pmq_mono_ms();
    }
}

/* A producer blocked on a full queue may go on: handle the held frame, then the rest. */
static void on_room(void *arg) {
    stomp_session_t *s = arg;
    s->waiter = NULL;
    s->blocked = false;
    if (!stomp__session_alive(s)) {
        return;
    }
    int rc = stomp__handle_frame(s, &s->held);
    if (rc == PMQ_EAGAIN || !stomp__session_alive(s)) {
        return; /* blocked again (a new waiter is registered), or closed */
    }
    pmq_buf_consume(&s->stash, s->held_bytes);
    pmq_free(s->held_headers);
    s->held_headers = NULL;
    s->holding = false;
    stomp_parser_reset(&s->parser);
    net_conn_resume_read(s->conn);
    session_input(s);
}

/* A subscriber this producer's last message reached has drained: read on. */
static void on_uncongested(void *arg) {
    stomp_session_t *s = arg;
    s->waiter = NULL;
    s->blocked = false;
    if (!stomp__session_alive(s)) {
        return;
    }
    net_conn_resume_read(s->conn);
    session_input(s);
}

void stomp__hold_if_congested(stomp_session_t *s) {
    if (broker_wait_congestion(s->server->broker, on_uncongested, s, &s->waiter) == 0) {
        s->blocked = true;
        s->server->st.held_producers++;
        net_conn_pause_read(s->conn);
    }
}

int stomp__block_on(stomp_session_t *s, pmq_slice_t dest) {
    int rc = broker_wait_for_room(s->server->broker, dest, on_room, s, &s->waiter);
    if (rc != 0) {
        return rc;
    }
    s->blocked = true;
    s->server->st.blocked_producers++;
    net_conn_pause_read(s->conn);
    return 0;
}

static const net_conn_ops_t conn_ops = {on_read, on_drain, on_close};

static int on_accept(void *arg, net_conn_t *c) {
    stomp_server_t *srv = arg;
    stomp_session_t *s = pmq_calloc(1, sizeof(*s));
    if (s == NULL) {
        return PMQ_ENOMEM;
    }
    if (stomp_parser_init_shared(&s->parser, &srv->opt.limits, srv->headers) != 0) {
        pmq_free(s);
        return PMQ_ENOMEM;
    }
    s->server = srv;
    s->conn = c;
    s->refs = 1;
    s->id = net_conn_id(c);
    s->version = STOMP_V1_0;
    s->accepted_ms = pmq_mono_ms();
    pmq_buf_init(&s->stash, srv->opt.limits.frame_bytes_max + 4096);
    pmq_buf_init(&s->disconnect_receipt, 0);
    pmq_list_init(&s->subs);
    pmq_list_init(&s->txns);
    pmq_list_push_back(&srv->sessions, &s->link);
    srv->session_count++;
    srv->st.sessions++;
    net_conn_setup(c, &conn_ops, s);
    if (srv->session_count > srv->opt.connections_max) {
        srv->st.rejected_connections++;
        char detail[128];
        snprintf(detail, sizeof(detail),
                 "the broker already has %u connections (net.connections_max)",
                 srv->opt.connections_max);
        stomp__send_error(s, NULL, "too many connections", detail);
    }
    return 0;
}

int stomp_server_new(stomp_server_t **out, net_t *net, broker_t *b, const broker_log_t *log,
                     const stomp_server_options_t *opts) {
    stomp_server_t *srv = pmq_calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return PMQ_ENOMEM;
    }
    srv->net = net;
    srv->broker = b;
    srv->log = *log;
    srv->opt = *opts;
    srv->server_name = pmq_strdup(opts->server_name ? opts->server_name : "paxmq");
    srv->headers = pmq_calloc(PMQ_MAX(opts->limits.header_count_max, 1), sizeof(stomp_header_t));
    if (srv->server_name == NULL || srv->headers == NULL) {
        pmq_free(srv->server_name);
        pmq_free(srv->headers);
        pmq_free(srv);
        return PMQ_ENOMEM;
    }
    srv->opt.server_name = srv->server_name;
    pmq_list_init(&srv->sessions);
    pmq_map_init(&srv->client_ids);
    pmq_buf_init(&srv->scratch, 0);
    pmq_ratelimit_init(&srv->bad_input_log, 20, 10000);
    *out = srv;
    return 0;
}

int stomp_server_listen(stomp_server_t *srv, const char *host, uint16_t port) {
    return net_listen(srv->net, "stomp", host, port, on_accept, srv, NULL);
}

/* The tick that checks heart-beats runs every STOMP_TICK_MS, so a beat is due one tick
 * before the interval ends: "at least every n milliseconds" then holds despite jitter. */
#define STOMP_TICK_MS 100

static void heartbeat(stomp_session_t *s, uint64_t now) {
    uint64_t due = s->hb_send_ms > 2 * STOMP_TICK_MS ? s->hb_send_ms - STOMP_TICK_MS
                                                     : s->hb_send_ms / 2;
    if (s->hb_send_ms > 0 && now - net_conn_last_write_ms(s->conn) >= due &&
        net_conn_outbound_bytes(s->conn) == 0) {
        if (net_conn_write(s->conn, "\n", 1) != 0) {
            return;
        }
    }
    uint64_t limit = (uint64_t)s->hb_recv_ms * (100 + s->server->opt.heartbeat_grace_pct) / 100;
    if (s->hb_recv_ms > 0 && now - net_conn_last_read_ms(s->conn) > limit) {
        s->server->st.heartbeat_timeouts++;
        char detail[128];
        snprintf(detail, sizeof(detail), "nothing received for %llu ms (heart-beat %u ms + grace)",
                 (unsigned long long)(now - net_conn_last_read_ms(s->conn)), s->hb_recv_ms);
        stomp__send_error(s, NULL, "heart-beat timeout", detail);
    }
}

void stomp_server_tick(stomp_server_t *srv, uint64_t now) {
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &srv->sessions) {
        stomp_session_t *s = PMQ_CONTAINER_OF(it, stomp_session_t, link);
        if (!stomp__session_alive(s)) {
            continue;
        }
        uint32_t limit = srv->opt.connect_timeout_ms;
        if (!s->connected && now - s->accepted_ms > limit) {
            stomp__send_error(s, NULL, "no CONNECT frame received in time",
                              "send CONNECT or STOMP first (stomp.connect_timeout_ms)");
        } else if (s->partial_since_ms != 0 && !s->blocked && now - s->partial_since_ms > limit &&
                   now - net_conn_last_read_ms(s->conn) > limit) {
            stomp__send_error(s, NULL, "incomplete frame timed out",
                              "a frame stayed incomplete for longer than stomp.connect_timeout_ms");
        } else if (srv->opt.idle_timeout_ms > 0 &&
                   now - net_conn_last_read_ms(s->conn) > srv->opt.idle_timeout_ms) {
            stomp__send_error(s, NULL, "idle timeout",
                              "nothing received for net.idle_timeout_ms; send heart-beats");
        } else if (s->connected) {
            heartbeat(s, now);
        }
    }
}

void stomp_server_shutdown(stomp_server_t *srv) {
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &srv->sessions) {
        stomp_session_t *s = PMQ_CONTAINER_OF(it, stomp_session_t, link);
        stomp__send_error(s, NULL, "broker is shutting down", "reconnect to another node or retry");
    }
}

void stomp_server_free(stomp_server_t *srv) {
    if (srv == NULL) {
        return;
    }
    PMQ_ASSERT(pmq_list_is_empty(&srv->sessions));
    pmq_map_close(&srv->client_ids);
    pmq_buf_close(&srv->scratch);
    pmq_free(srv->headers);
    pmq_free(srv->server_name);
    pmq_free(srv);
}

void stomp_server_stats_get(const stomp_server_t *srv, stomp_server_stats_t *out) {
    *out = srv->st;
    out->sessions = srv->session_count;
}

void stomp_server_foreach(const stomp_server_t *srv,
                          void (*cb)(void *arg, const stomp_session_info_t *info), void *arg) {
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, (pmq_list_t *)&srv->sessions) {
        const stomp_session_t *s = PMQ_CONTAINER_OF(it, stomp_session_t, link);
        if (s->conn == NULL) {
            continue;
        }
        stomp_session_info_t info = {.id = s->id,
                                     .peer = net_conn_peer(s->conn),
                                     .client_id = s->client_id,
                                     .version = s->connected ? (int)s->version : 0,
                                     .subscriptions = s->sub_count,
                                     .transactions = s->txn_count,
                                     .connected_ms = s->accepted_ms,
                                     .outbound_bytes = net_conn_outbound_bytes(s->conn)};
        cb(arg, &info);
    }
}

int stomp_server_close_session(stomp_server_t *srv, uint64_t id, const char *reason) {
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &srv->sessions) {
        stomp_session_t *s = PMQ_CONTAINER_OF(it, stomp_session_t, link);
        if (s->id == id && stomp__session_alive(s)) {
            stomp__send_error(s, NULL, reason, "closed by an administrator");
            return 0;
        }
    }
    return PMQ_ENOTFOUND;
}
