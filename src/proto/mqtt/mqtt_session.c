/* MQTT connection lifecycle: accept, the input loop over the codec (parsing straight from
 * the shared read buffer, stashing only a partial packet), the one place that turns a
 * codec rejection into CONNACK-and-close or close, keep-alive and connect timeouts, the
 * log operations that reply once durable, and the server object. Packet semantics live in
 * mqtt_session_connect.c, _publish.c, _sub.c and _deliver.c. */
#include <stdio.h>

#include "mqtt_int.h"

void mqtt_server_options_default(mqtt_server_options_t *o) {
    *o = (mqtt_server_options_t){.inflight_max = 32,
                                 .queued_max = 1000,
                                 .keepalive_grace_pct = 50,
                                 .retained_max = 100000,
                                 .sys_interval_ms = 10000,
                                 .connections_max = 10000,
                                 .connect_timeout_ms = 10000,
                                 .read_bytes_max = 65536,
                                 .sessions_max = 10000,
                                 .server_name = "paxmq"};
    mqtt_parser_cfg_default(&o->parser);
    o->parser.packet_bytes_max = 1024 * 1024;
}

/* ---- references ---- */

void mqtt__conn_ref(mqtt_conn_t *c) {
    PMQ_ASSERT(c->refs > 0);
    c->refs++;
}

static void stash_free(mqtt_conn_t *c) {
    if (c->stash != NULL) {
        pmq_buf_close(c->stash);
        pmq_free(c->stash);
        c->stash = NULL;
    }
}

void mqtt__conn_unref(mqtt_conn_t *c) {
    PMQ_ASSERT(c->refs > 0);
    if (--c->refs > 0) {
        return;
    }
    PMQ_ASSERT(c->net == NULL);
    PMQ_ASSERT(c->sess == NULL);
    pmq_free(c->will);
    pmq_free(c->req);
    stash_free(c);
    pmq_free(c);
}

void mqtt__sess_ref(mqtt_sess_t *s) { s->refs++; }

void mqtt__sess_unref(mqtt_sess_t *s) {
    PMQ_ASSERT(s->refs > 0);
    if (--s->refs > 0) {
        return;
    }
    PMQ_ASSERT(!s->in_map);
    PMQ_ASSERT(s->conn == NULL);
    PMQ_ASSERT(s->sub == NULL && s->bs == NULL);
    mqtt__win_free(s);
    pmq_free(s);
}

bool mqtt__conn_alive(const mqtt_conn_t *c) { return c->net != NULL && !c->closing; }

/* ---- output ---- */

void mqtt__packet_out(mqtt_conn_t *c) {
    net_conn_commit(c->net);
    c->srv->st.packets_out++;
}

void mqtt__send_ack(mqtt_conn_t *c, mqtt_type_t type, uint16_t pid) {
    if (!mqtt__conn_alive(c)) {
        return;
    }
    if (mqtt_encode_ack(net_conn_outbuf(c->net), type, pid) != 0) {
        mqtt__conn_close(c, "out of memory for an acknowledgement");
        return;
    }
    mqtt__packet_out(c);
}

bool mqtt__to_dest(mqtt_server_t *srv, pmq_slice_t topic) {
    pmq_buf_reset(&srv->topic);
    return mqtt_topic_to_stomp(topic, &srv->topic) == 0 && srv->topic.len <= RLOG_NAME_BYTES_MAX;
}

void mqtt__conn_close(mqtt_conn_t *c, const char *why) {
    if (!mqtt__conn_alive(c)) {
        return;
    }
    PMQ_LOG_DEBUG("mqtt_close", "conn=%llu peer=%s reason=\"%s\"", (unsigned long long)c->id,
                  net_conn_peer(c->net), why);
    c->closing = true;
    net_conn_close(c->net);
}

/* The one place a codec rejection becomes MQTT behaviour (STYLE §3): CONNACK with the
 * code the codec chose, if any, then close. */
static void proto_fail(mqtt_conn_t *c, const pmq_proto_err_t *err) {
    mqtt_server_t *srv = c->srv;
    srv->st.protocol_errors++;
    if (pmq_ratelimit_allow(&srv->bad_input_log, pmq_mono_ms())) {
        PMQ_LOG_INFO("mqtt_protocol_error", "conn=%llu peer=%s connack=%d reason=\"%s\"",
                     (unsigned long long)c->id, net_conn_peer(c->net), err->code, err->reason);
    }
    if (err->code != 0 && c->state == CONN_NEW &&
        mqtt_encode_connack(net_conn_outbuf(c->net), false, (uint8_t)err->code) == 0) {
        mqtt__packet_out(c);
    }
    mqtt__conn_close(c, err->reason);
}

/* ---- input ---- */

/* A partial packet plus one read batch: what the stash may need while input is held. */
static size_t stash_limit(const mqtt_server_t *srv) {
    return (size_t)srv->opt.parser.packet_bytes_max + PMQ_MAX(srv->opt.read_bytes_max, 4096u);
}

void mqtt__conn_block(mqtt_conn_t *c) {
    PMQ_ASSERT(c->blocks < UINT8_MAX);
    if (c->blocks++ == 0 && mqtt__conn_alive(c)) {
        net_conn_pause_read(c->net);
    }
}

static size_t process(mqtt_conn_t *c, const char *buf, size_t len);

/* An empty stash is freed: an idle connection holds no input buffer at all. */
static void stash_settle(mqtt_conn_t *c) {
    if (c->stash == NULL || c->stash->len == 0) {
        stash_free(c);
        c->partial_since_ms = 0;
    } else if (c->partial_since_ms == 0) {
        c->partial_since_ms = pmq_mono_ms();
    }
}

static int stash_append(mqtt_conn_t *c, const char *data, size_t len) {
    if (c->stash == NULL) {
        c->stash = pmq_malloc(sizeof(*c->stash));
        if (c->stash == NULL) {
            return PMQ_ENOMEM;
        }
        pmq_buf_init(c->stash, stash_limit(c->srv));
    }
    return pmq_buf_append(c->stash, data, len);
}

static void conn_input(mqtt_conn_t *c) {
    if (c->stash == NULL) {
        return;
    }
    size_t used = process(c, c->stash->data, c->stash->len);
    if (mqtt__conn_alive(c) && used > 0) {
        pmq_buf_consume(c->stash, used);
    }
    stash_settle(c);
}

void mqtt__conn_unblock(mqtt_conn_t *c) {
    PMQ_ASSERT(c->blocks > 0);
    if (--c->blocks > 0 || !mqtt__conn_alive(c)) {
        return;
    }
    c->srv->wall_ms = pmq_wall_ms();
    net_conn_resume_read(c->net);
    if (!c->in_process) {
        conn_input(c); /* else the loop that is parsing goes on by itself */
    }
}

static void dispatch(mqtt_conn_t *c, const mqtt_packet_t *p) {
    switch (p->type) {
    case MQTT_CONNECT:
        mqtt__on_connect(c, &p->connect);
        break;
    case MQTT_PUBLISH:
        mqtt__on_publish(c, &p->publish);
        break;
    case MQTT_PUBACK:
        mqtt__on_puback(c, p->pid);
        break;
    case MQTT_PUBREC:
        mqtt__on_pubrec(c, p->pid);
        break;
    case MQTT_PUBREL:
        mqtt__on_pubrel(c, p->pid);
        break;
    case MQTT_PUBCOMP:
        mqtt__on_pubcomp(c, p->pid);
        break;
    case MQTT_SUBSCRIBE:
        mqtt__on_subscribe(c, p);
        break;
    case MQTT_UNSUBSCRIBE:
        mqtt__on_unsubscribe(c, p);
        break;
    case MQTT_PINGREQ:
        if (mqtt_encode_pingresp(net_conn_outbuf(c->net)) == 0) {
            mqtt__packet_out(c);
        }
        break;
    case MQTT_DISCONNECT:
        /* §3.14.4: the will is discarded and the connection closed [MQTT-3.14.4-3]. */
        c->clean_disconnect = true;
        mqtt__conn_close(c, "DISCONNECT");
        break;
    default:
        PMQ_UNREACHABLE(); /* the server-role parser rejects the rest */
    }
}

/* Parses and handles every complete packet in buf; returns the bytes consumed. Stops early
 * when a handler blocks the input (a log operation must complete first). */
static size_t process(mqtt_conn_t *c, const char *buf, size_t len) {
    PMQ_ASSERT(!c->in_process);
    c->in_process = true;
    size_t off = 0;
    while (off < len && mqtt__conn_alive(c) && c->blocks == 0) {
        size_t used = 0;
        mqtt_packet_t p;
        pmq_proto_err_t err = {0};
        int rc = mqtt_parse(&c->parser, buf + off, len - off, &used, &p, &err);
        if (rc == PMQ_EAGAIN) {
            break;
        }
        if (rc != 0) {
            proto_fail(c, &err);
            off = len;
            break;
        }
        c->srv->st.packets_in++;
        dispatch(c, &p);
        off += used;
    }
    c->in_process = false;
    return off;
}

static void on_read(net_conn_t *n, char *data, size_t len) {
    mqtt_conn_t *c = net_conn_data(n);
    c->srv->wall_ms = pmq_wall_ms(); /* one clock read per batch, not per message */
    if (c->stash == NULL && c->blocks == 0) {
        /* Fast path: parse straight out of the shared read buffer. */
        size_t used = process(c, data, len);
        if (used < len && mqtt__conn_alive(c) && stash_append(c, data + used, len - used) != 0) {
            mqtt__conn_close(c, "input too large to buffer");
        }
    } else if (stash_append(c, data, len) != 0) {
        mqtt__conn_close(c, "input too large to buffer");
    } else if (c->blocks == 0) {
        conn_input(c);
    }
    stash_settle(c);
}

static void on_drain(net_conn_t *n) {
    mqtt_conn_t *c = net_conn_data(n);
    mqtt_sess_t *s = c->sess;
    if (s != NULL && s->conn == c) {
        if (s->bs != NULL) {
            broker_msess_drained(c->srv->broker, s->bs); /* held publishers go on */
        }
        mqtt__sess_refill(s);
    }
}

static void on_close(net_conn_t *n, int status) {
    mqtt_conn_t *c = net_conn_data(n);
    mqtt_server_t *srv = c->srv;
    PMQ_LOG_DEBUG("mqtt_closed", "conn=%llu status=%s", (unsigned long long)c->id,
                  status ? pmq_errname(status) : "ok");
    c->closing = true;
    if (c->waiter != NULL) {
        broker_waiter_cancel(c->waiter);
        c->waiter = NULL;
    }
    mqtt__conn_detach(c);
    pmq_list_remove(&c->link);
    PMQ_ASSERT(srv->conn_count > 0);
    srv->conn_count--;
    c->net = NULL;
    mqtt__conn_unref(c);
}

static const net_conn_ops_t conn_ops = {on_read, on_drain, on_close};

static int on_accept(void *arg, net_conn_t *n) {
    mqtt_server_t *srv = arg;
    mqtt_conn_t *c = pmq_calloc(1, sizeof(*c));
    if (c == NULL) {
        return PMQ_ENOMEM;
    }
    c->srv = srv;
    c->net = n;
    c->refs = 1;
    c->id = net_conn_id(n);
    c->accepted_ms = pmq_mono_ms();
    mqtt_parser_init(&c->parser, &srv->opt.parser);
    pmq_list_push_back(&srv->conns, &c->link);
    srv->conn_count++;
    net_conn_setup(n, &conn_ops, c);
    return 0;
}

/* ---- log operations ---- */

mqtt_op_t *mqtt__op_new(mqtt_op_kind_t kind, mqtt_conn_t *c, mqtt_sess_t *s, size_t extra) {
    mqtt_op_t *op = pmq_calloc(1, sizeof(*op) + extra);
    if (op == NULL) {
        return NULL;
    }
    op->kind = kind;
    op->len = extra;
    if (c != NULL) {
        op->conn = c;
        mqtt__conn_ref(c);
    }
    if (s != NULL) {
        op->sess = s;
        mqtt__sess_ref(s);
    }
    return op;
}

static void op_done(void *cookie, int status) {
    mqtt_op_t *op = cookie;
    if (status != 0) {
        PMQ_LOG_WARN("mqtt_log_failed", "op=%d err=%s", (int)op->kind, pmq_strerror(status));
    }
    switch (op->kind) {
    case OP_PUBACK:
    case OP_PUBREC:
    case OP_PUBCOMP:
        mqtt__publish_done(op, status);
        break;
    case OP_SUBACK:
    case OP_UNSUBACK:
        mqtt__sub_done(op, status);
        break;
    case OP_BIND:
    case OP_OUTREC:
        mqtt__deliver_done(op, status);
        break;
    case OP_SESSION:
        mqtt__connect_done(op, status);
        break;
    }
    mqtt__op_discard(op);
}

void mqtt__op_complete(mqtt_op_t *op, int status) { op_done(op, status); }

void mqtt__op_discard(mqtt_op_t *op) {
    if (op->conn != NULL) {
        mqtt__conn_unref(op->conn);
    }
    if (op->sess != NULL) {
        mqtt__sess_unref(op->sess);
    }
    pmq_free(op);
}

void mqtt__propose_buf(mqtt_server_t *srv, const pmq_buf_t *cmd, mqtt_op_t *op) {
    int rc = srv->log.propose(srv->log.arg, pmq_buf_slice(cmd), op_done, op);
    if (rc != 0) {
        op_done(op, rc);
    }
}

void mqtt__propose(mqtt_server_t *srv, mqtt_op_t *op) { mqtt__propose_buf(srv, &srv->scratch, op); }

void mqtt__propose_quiet(mqtt_server_t *srv, const char *what) {
    if (srv->log.propose(srv->log.arg, pmq_buf_slice(&srv->scratch), NULL, NULL) != 0) {
        PMQ_LOG_WARN("mqtt_log_failed", "what=%s", what);
    }
}

/* ---- the server ---- */

int mqtt_server_new(mqtt_server_t **out, net_t *net, broker_t *b, const broker_log_t *log,
                    const mqtt_server_options_t *opts) {
    PMQ_ASSERT(opts->inflight_max >= 1 && opts->inflight_max <= 65535);
    mqtt_server_t *srv = pmq_calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return PMQ_ENOMEM;
    }
    srv->net = net;
    srv->broker = b;
    srv->log = *log;
    srv->opt = *opts;
    srv->opt.parser.role = MQTT_ROLE_SERVER;
    PMQ_ASSERT(mqtt_parser_cfg_is_valid(&srv->opt.parser));
    srv->server_name = pmq_strdup(opts->server_name ? opts->server_name : "paxmq");
    if (srv->server_name == NULL) {
        pmq_free(srv);
        return PMQ_ENOMEM;
    }
    srv->opt.server_name = srv->server_name;
    pmq_list_init(&srv->conns);
    pmq_map_init(&srv->sessions);
    pmq_buf_init(&srv->scratch, 0);
    pmq_buf_init(&srv->op_buf, 0);
    pmq_buf_init(&srv->topic, 0);
    pmq_buf_init(&srv->out_topic, 0);
    pmq_buf_init(&srv->out_cmd, 0);
    pmq_ratelimit_init(&srv->bad_input_log, 20, 10000);
    srv->nonce = pmq_mono_ns() ^ (pmq_wall_ms() << 20);
    srv->started_ms = pmq_mono_ms();
    srv->wall_ms = pmq_wall_ms();
    *out = srv;
    return 0;
}

int mqtt_server_listen(mqtt_server_t *srv, const char *host, uint16_t port) {
    return net_listen(srv->net, "mqtt", host, port, on_accept, srv, &srv->listener);
}

uint16_t mqtt_server_port(const mqtt_server_t *srv) {
    return srv->listener != NULL ? net_listener_port(srv->listener) : 0;
}

static void check_timers(mqtt_conn_t *c, uint64_t now) {
    mqtt_server_t *srv = c->srv;
    uint64_t limit = srv->opt.connect_timeout_ms;
    uint64_t last_read = net_conn_last_read_ms(c->net);
    if (c->state == CONN_NEW && now - c->accepted_ms > limit) {
        mqtt__conn_close(c, "no CONNECT in time");
    } else if (c->partial_since_ms != 0 && c->blocks == 0 && now - c->partial_since_ms > limit &&
               now - last_read > limit) {
        mqtt__conn_close(c, "a packet stayed incomplete for too long");
    } else if (srv->opt.idle_timeout_ms > 0 && now - last_read > srv->opt.idle_timeout_ms) {
        mqtt__conn_close(c, "idle timeout (net.idle_timeout_ms)");
    } else if (c->state == CONN_UP && c->keepalive_s > 0) {
        /* [MQTT-3.1.2-24]: one and a half times the keep-alive by default. */
        uint64_t ka = (uint64_t)c->keepalive_s * 1000 * (100 + srv->opt.keepalive_grace_pct) / 100;
        if (now - last_read > ka) {
            srv->st.keepalive_timeouts++;
            mqtt__conn_close(c, "keep-alive timeout");
        }
    }
}

void mqtt_server_tick(mqtt_server_t *srv, uint64_t now_ms) {
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &srv->conns) {
        mqtt_conn_t *c = PMQ_CONTAINER_OF(it, mqtt_conn_t, link);
        if (mqtt__conn_alive(c)) {
            check_timers(c, now_ms);
        }
    }
    if (srv->opt.sys_interval_ms > 0 && now_ms >= srv->next_sys_ms && !srv->shutting_down) {
        srv->next_sys_ms = now_ms + srv->opt.sys_interval_ms;
        mqtt__sys_publish(srv, now_ms);
    }
}

void mqtt_server_shutdown(mqtt_server_t *srv) {
    srv->shutting_down = true;
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &srv->conns) {
        mqtt__conn_close(PMQ_CONTAINER_OF(it, mqtt_conn_t, link), "broker shutting down");
    }
}

void mqtt_server_free(mqtt_server_t *srv) {
    if (srv == NULL) {
        return;
    }
    PMQ_ASSERT(pmq_list_is_empty(&srv->conns));
    srv->shutting_down = true;
    /* Offline persistent sessions still hold their queue consumers: release them. The
     * durable state stays in the log. */
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&srv->sessions, &pos, NULL, &v)) {
        mqtt__sess_discard(v);
    }
    pmq_map_close(&srv->sessions);
    mqtt__sys_free(srv);
    pmq_buf_close(&srv->scratch);
    pmq_buf_close(&srv->op_buf);
    pmq_buf_close(&srv->topic);
    pmq_buf_close(&srv->out_topic);
    pmq_buf_close(&srv->out_cmd);
    pmq_free(srv->server_name);
    pmq_free(srv);
}

void mqtt_server_stats_get(const mqtt_server_t *srv, mqtt_server_stats_t *out) {
    *out = srv->st;
    out->connections = srv->conn_count;
    out->sessions = pmq_map_count(&srv->sessions);
}
