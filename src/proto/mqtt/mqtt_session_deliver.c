/* Outbound messages (MQTT 3.1.1 §4.3, §4.4, §4.6): the in-flight window of a session
 * (mqtt.inflight_max QoS 1/2 messages, in send order), the pending queue behind it
 * (mqtt.queued_max), packet id allocation, PUBACK / PUBREC / PUBCOMP from the client, and
 * the re-send of the window with DUP on reconnect. Two sources feed it: deliveries from a
 * persistent session's queue (with a broker tag, acknowledged through the log) and direct
 * deliveries (clean sessions, QoS 0, retained messages; kept in memory only). A QoS 2
 * message from the queue is bound to its packet id in the log before it is sent, so a
 * restart re-sends it under the same id and the client never delivers it twice. */
#include "mqtt_int.h"

/* ---- the window object: allocated on first use, freed when empty ---- */

static mqtt_win_t *win(mqtt_sess_t *s) {
    if (s->w == NULL) {
        s->w = pmq_calloc(1, sizeof(*s->w));
    }
    return s->w;
}

/* An idle session keeps no delivery state at all (memory per idle connection). */
static void win_trim(mqtt_sess_t *s) {
    mqtt_win_t *w = s->w;
    if (w == NULL || w->fl_count > 0 || w->pend_count > 0 || w->in_count > 0) {
        return;
    }
    pmq_free(w->fl);
    pmq_free(w->pend);
    pmq_free(w->in);
    pmq_free(w);
    s->w = NULL;
}

uint32_t mqtt__fl_count(const mqtt_sess_t *s) { return s->w != NULL ? s->w->fl_count : 0; }
uint32_t mqtt__pend_count(const mqtt_sess_t *s) { return s->w != NULL ? s->w->pend_count : 0; }

/* ---- the inbound QoS 2 id set (sorted by pid, flags above bit 15) ---- */

static bool in_find(const mqtt_sess_t *s, uint16_t pid, uint32_t *at) {
    *at = 0;
    if (s->w == NULL) {
        return false;
    }
    const mqtt_win_t *w = s->w;
    uint32_t lo = 0, hi = w->in_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((w->in[mid] & 0xFFFFu) < pid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *at = lo;
    return lo < w->in_count && (w->in[lo] & 0xFFFFu) == pid;
}

uint32_t mqtt__in_get(const mqtt_sess_t *s, uint16_t pid) {
    uint32_t at;
    return in_find(s, pid, &at) ? s->w->in[at] : 0;
}

int mqtt__in_put(mqtt_sess_t *s, uint16_t pid, bool stored) {
    PMQ_ASSERT(pid != 0);
    uint32_t at;
    if (in_find(s, pid, &at)) {
        s->w->in[at] |= stored ? MQTT_IN_STORED : 0;
        return 0;
    }
    mqtt_win_t *w = win(s);
    if (w == NULL) {
        return PMQ_ENOMEM;
    }
    if (w->in_count == w->in_cap) {
        uint32_t cap = w->in_cap ? w->in_cap * 2 : 4;
        uint32_t *v = pmq_realloc(w->in, cap * sizeof(*v));
        if (v == NULL) {
            win_trim(s);
            return PMQ_ENOMEM;
        }
        w->in = v;
        w->in_cap = cap;
    }
    memmove(w->in + at + 1, w->in + at, (w->in_count - at) * sizeof(*w->in));
    w->in[at] = pid | (stored ? MQTT_IN_STORED : 0);
    w->in_count++;
    return 0;
}

bool mqtt__in_mark_stored(mqtt_sess_t *s, uint16_t pid) {
    uint32_t at;
    if (!in_find(s, pid, &at)) {
        return false;
    }
    s->w->in[at] |= MQTT_IN_STORED;
    return true;
}

void mqtt__in_del(mqtt_sess_t *s, uint16_t pid) {
    uint32_t at;
    if (in_find(s, pid, &at)) {
        mqtt_win_t *w = s->w;
        memmove(w->in + at, w->in + at + 1, (w->in_count - at - 1) * sizeof(*w->in));
        w->in_count--;
        win_trim(s);
    }
}

/* ---- the window and the pending queue ---- */

mqtt_flight_t *mqtt__flight_find(mqtt_sess_t *s, uint16_t pid, uint32_t *at) {
    for (uint32_t i = 0; i < mqtt__fl_count(s); i++) {
        if (s->w->fl[i].pid == pid) {
            *at = i;
            return &s->w->fl[i];
        }
    }
    return NULL;
}

int mqtt__flight_push(mqtt_sess_t *s, const mqtt_flight_t *f) {
    PMQ_ASSERT(f->pid != 0);
    mqtt_win_t *w = win(s);
    if (w == NULL) {
        return PMQ_ENOMEM;
    }
    if (w->fl_count == w->fl_cap) {
        uint32_t cap = w->fl_cap ? w->fl_cap * 2 : 4;
        mqtt_flight_t *v = pmq_realloc(w->fl, cap * sizeof(*v));
        if (v == NULL) {
            win_trim(s);
            return PMQ_ENOMEM;
        }
        w->fl = v;
        w->fl_cap = cap;
    }
    w->fl[w->fl_count++] = *f;
    return 0;
}

void mqtt__flight_remove(mqtt_sess_t *s, uint32_t at) {
    mqtt_win_t *w = s->w;
    PMQ_ASSERT(w != NULL && at < w->fl_count);
    if (w->fl[at].msg != NULL) {
        pmq_msg_unref(w->fl[at].msg);
    }
    memmove(w->fl + at, w->fl + at + 1, (w->fl_count - at - 1) * sizeof(*w->fl));
    w->fl_count--;
    if (w->fl_count == 0 && w->fl_cap > 64) {
        pmq_free(w->fl); /* a burst is over: give the array back */
        w->fl = NULL;
        w->fl_cap = 0;
    }
    win_trim(s);
}

int mqtt__flight_add_rel(mqtt_sess_t *s, uint16_t pid) {
    mqtt_flight_t f = {.pid = pid, .qos = 2, .state = FL_PUBREL, .logged = true};
    return mqtt__flight_push(s, &f);
}

int mqtt__pend_push(mqtt_sess_t *s, const mqtt_pend_t *p) {
    mqtt_win_t *w = win(s);
    if (w == NULL) {
        return PMQ_ENOMEM;
    }
    if (w->pend_count == w->pend_cap) {
        uint32_t cap = w->pend_cap ? w->pend_cap * 2 : 8;
        mqtt_pend_t *v = pmq_malloc(cap * sizeof(*v));
        if (v == NULL) {
            win_trim(s);
            return PMQ_ENOMEM;
        }
        for (uint32_t i = 0; i < w->pend_count; i++) {
            v[i] = w->pend[(w->pend_head + i) % w->pend_cap];
        }
        pmq_free(w->pend);
        w->pend = v;
        w->pend_cap = cap;
        w->pend_head = 0;
    }
    w->pend[(w->pend_head + w->pend_count) % w->pend_cap] = *p;
    w->pend_count++;
    return 0;
}

bool mqtt__pend_pop(mqtt_sess_t *s, mqtt_pend_t *out) {
    mqtt_win_t *w = s->w;
    if (w == NULL || w->pend_count == 0) {
        return false;
    }
    *out = w->pend[w->pend_head];
    w->pend_head = (w->pend_head + 1) % w->pend_cap;
    w->pend_count--;
    if (w->pend_count == 0) {
        pmq_free(w->pend);
        w->pend = NULL;
        w->pend_cap = 0;
        w->pend_head = 0;
        win_trim(s);
    }
    return true;
}

void mqtt__win_free(mqtt_sess_t *s) {
    while (mqtt__fl_count(s) > 0) {
        mqtt__flight_remove(s, mqtt__fl_count(s) - 1);
    }
    mqtt_pend_t p;
    while (mqtt__pend_pop(s, &p)) {
        pmq_msg_unref(p.msg);
    }
    if (s->w != NULL) {
        s->w->in_count = 0;
        win_trim(s);
    }
    PMQ_ASSERT(s->w == NULL);
}

uint16_t mqtt__pid_alloc(mqtt_sess_t *s, bool (*in_use)(const void *arg, uint16_t pid),
                         const void *arg) {
    for (uint32_t tries = 0; tries < 65535; tries++) {
        uint16_t pid = s->next_pid;
        s->next_pid = pid == 65535 ? 1 : (uint16_t)(pid + 1);
        uint32_t at;
        if (mqtt__flight_find(s, pid, &at) == NULL && (in_use == NULL || !in_use(arg, pid))) {
            return pid;
        }
    }
    return 0;
}

static bool durable_in_use(const void *arg, uint16_t pid) {
    return broker_msess_pid_in_use(arg, pid);
}

static uint16_t pid_alloc(mqtt_sess_t *s) {
    bool durable = s->bs != NULL && broker_msess_is_durable(s->bs);
    return mqtt__pid_alloc(s, durable ? durable_in_use : NULL, s->bs);
}

/* ---- writing ---- */

static int write_publish(mqtt_conn_t *c, const pmq_msg_t *m, uint16_t pid, uint8_t qos, bool dup,
                         bool retain) {
    mqtt_server_t *srv = c->srv;
    pmq_buf_reset(&srv->out_topic);
    int rc = mqtt_topic_from_stomp(m->dest, &srv->out_topic);
    if (rc != 0) {
        return rc;
    }
    mqtt_publish_t p = {.topic = pmq_buf_slice(&srv->out_topic), .pid = qos > 0 ? pid : 0,
                        .qos = qos, .dup = dup && qos > 0, .retain = retain,
                        .payload = m->body};
    rc = mqtt_encode_publish(net_conn_outbuf(c->net), &p);
    if (rc == 0) {
        mqtt__packet_out(c);
        srv->st.messages_out++;
    }
    return rc;
}

void mqtt__write_raw(mqtt_conn_t *c, pmq_slice_t topic, pmq_slice_t payload, bool retain) {
    mqtt_publish_t p = {.topic = topic, .retain = retain, .payload = payload};
    if (mqtt__conn_alive(c) && mqtt_encode_publish(net_conn_outbuf(c->net), &p) == 0) {
        mqtt__packet_out(c);
        c->srv->st.messages_out++;
    }
}

static bool can_write(const mqtt_sess_t *s) {
    return s->conn != NULL && mqtt__conn_alive(s->conn) && !net_conn_is_full(s->conn->net);
}

/* Puts a message in the window and sends it (memory-only unless tag is set). */
static int send_new(mqtt_sess_t *s, pmq_msg_t *m, uint8_t qos, bool retain, uint64_t tag,
                    bool dup) {
    uint16_t pid = pid_alloc(s);
    if (pid == 0) {
        return PMQ_EFULL;
    }
    mqtt_flight_t f = {.msg = m, .tag = tag, .pid = pid, .qos = qos, .state = FL_SENT,
                       .retain = retain};
    if (mqtt__flight_push(s, &f) != 0) {
        return PMQ_EFULL;
    }
    pmq_msg_ref(m);
    if (write_publish(s->conn, m, pid, qos, dup, retain) != 0) {
        mqtt__conn_close(s->conn, "a PUBLISH could not be encoded");
    }
    return 0;
}

/* QoS 0 to a connection over net.outbound_bytes_max is still written up to this many
 * times the limit while its publishers are held back (as STOMP topic subscribers);
 * past it a client that does not read loses messages. */
#define MQTT_QOS0_HARD_CAP_FACTOR 4

static int offer_qos0(mqtt_sess_t *s, pmq_msg_t *m, bool retain) {
    mqtt_conn_t *c = s->conn;
    if (c == NULL || !mqtt__conn_alive(c) ||
        net_conn_outbound_bytes(c->net) >=
            MQTT_QOS0_HARD_CAP_FACTOR * net_conn_outbound_max(c->net) ||
        write_publish(c, m, 0, 0, false, retain) != 0) {
        s->srv->st.dropped++;
        return PMQ_EFULL; /* QoS 0 is at most once: it is lost */
    }
    return net_conn_is_full(c->net) ? PMQ_EAGAIN : 0;
}

int mqtt__sess_offer(mqtt_sess_t *s, pmq_msg_t *m, uint8_t qos, bool retain) {
    mqtt_server_t *srv = s->srv;
    if (qos == 0) {
        return offer_qos0(s, m, retain);
    }
    if (mqtt__pend_count(s) == 0 && mqtt__fl_count(s) < srv->opt.inflight_max && can_write(s) &&
        send_new(s, m, qos, retain, 0, false) == 0) {
        return 0;
    }
    mqtt_pend_t p = {m, qos, retain};
    if (mqtt__pend_count(s) >= srv->opt.queued_max || mqtt__pend_push(s, &p) != 0) {
        srv->st.dropped++;
        return PMQ_EFULL;
    }
    pmq_msg_ref(m);
    return 0;
}

static int direct_deliver(void *owner, pmq_msg_t *m, uint8_t qos) {
    return mqtt__sess_offer(owner, m, qos, false);
}

const broker_mqtt_ops_t mqtt__direct_ops = {direct_deliver};

/* A QoS 2 message from the queue: re-sent under its bound id, or bound first. */
static int queue_qos2(mqtt_sess_t *s, const broker_delivery_t *d) {
    uint16_t pid = 0;
    uint32_t at;
    if (broker_msess_out_pid(s->bs, d->msg->seq, &pid) && !mqtt__flight_find(s, pid, &at)) {
        mqtt_flight_t f = {d->msg, d->tag, pid, 2, FL_SENT, false, true};
        if (mqtt__flight_push(s, &f) != 0) {
            return PMQ_EFULL;
        }
        pmq_msg_ref(d->msg);
        (void)write_publish(s->conn, d->msg, pid, 2, true, false); /* [MQTT-4.4.0-1] */
        return 0;
    }
    pid = pid_alloc(s);
    mqtt_server_t *srv = s->srv;
    pmq_buf_reset(&srv->out_cmd);
    mqtt_op_t *op = NULL;
    if (pid != 0 && rlog_encode_mqtt_out_bind(&srv->out_cmd, pmq_slice(s->client_id, s->id_len),
                                              d->msg->seq, pid) == 0) {
        op = mqtt__op_new(OP_BIND, NULL, s, 0);
    }
    mqtt_flight_t f = {d->msg, d->tag, pid, 2, FL_BINDING, false, true};
    if (op == NULL || mqtt__flight_push(s, &f) != 0) {
        if (op != NULL) {
            mqtt__op_discard(op);
        }
        return PMQ_EFULL;
    }
    pmq_msg_ref(d->msg);
    op->pid = pid;
    mqtt__propose_buf(srv, &srv->out_cmd, op);
    return 0;
}

static int queue_deliver(void *owner, broker_sub_t *sub, const broker_delivery_t *d) {
    (void)sub;
    mqtt_sess_t *s = owner;
    if (!can_write(s) || mqtt__fl_count(s) >= s->srv->opt.inflight_max) {
        return PMQ_EFULL; /* resumed by refill */
    }
    uint8_t qos = broker_msess_qos_for(s->bs, d->msg);
    if (qos == 2) {
        return queue_qos2(s, d);
    }
    uint16_t pid = pid_alloc(s);
    mqtt_flight_t f = {d->msg, d->tag, pid, 1, FL_SENT, false, false};
    if (pid == 0 || mqtt__flight_push(s, &f) != 0) {
        return PMQ_EFULL;
    }
    pmq_msg_ref(d->msg);
    (void)write_publish(s->conn, d->msg, pid, 1, d->redelivered, false);
    return 0;
}

const broker_consumer_ops_t mqtt__queue_ops = {queue_deliver};

/* ---- acknowledgements from the client ---- */

void mqtt__sess_refill(mqtt_sess_t *s) {
    mqtt_pend_t p;
    while (mqtt__fl_count(s) < s->srv->opt.inflight_max && can_write(s) &&
           mqtt__pend_pop(s, &p)) {
        if (send_new(s, p.msg, p.qos, p.retain, 0, false) != 0) {
            s->srv->st.dropped++;
        }
        pmq_msg_unref(p.msg); /* send_new took its own reference */
    }
    if (s->sub != NULL && s->conn != NULL) {
        broker_sub_resume(s->srv->broker, s->sub);
    }
}

void mqtt__on_puback(mqtt_conn_t *c, uint16_t pid) {
    mqtt_sess_t *s = c->sess;
    uint32_t at;
    mqtt_flight_t *f = mqtt__flight_find(s, pid, &at);
    if (f == NULL || f->qos != 1) {
        return; /* not ours (any more): ignored */
    }
    if (f->tag != 0 && s->sub != NULL &&
        broker_ack(s->srv->broker, s->sub, f->tag, NULL, NULL) != 0) {
        PMQ_LOG_DEBUG("mqtt_puback_stale", "client=%s pid=%u", s->client_id, pid);
    }
    mqtt__flight_remove(s, at);
    mqtt__sess_refill(s);
}

void mqtt__on_pubrec(mqtt_conn_t *c, uint16_t pid) {
    mqtt_sess_t *s = c->sess;
    mqtt_server_t *srv = c->srv;
    uint32_t at;
    mqtt_flight_t *f = mqtt__flight_find(s, pid, &at);
    if (f == NULL || f->qos != 2) {
        return;
    }
    if (f->state == FL_PUBREL) {
        mqtt__send_ack(c, MQTT_PUBREL, pid); /* a repeated PUBREC */
        return;
    }
    if (f->state != FL_SENT) {
        return;
    }
    if (f->tag != 0) {
        /* The message leaves the queue and the id waits for PUBCOMP, durably, before
         * PUBREL: after a restart PUBREL is re-sent, never the PUBLISH. */
        pmq_buf_reset(&srv->out_cmd);
        mqtt_op_t *op = NULL;
        if (rlog_encode_mqtt_pid(&srv->out_cmd, RLOG_CMD_MQTT_OUT_REC,
                                 pmq_slice(s->client_id, s->id_len), pid) == 0) {
            op = mqtt__op_new(OP_OUTREC, NULL, s, 0);
        }
        if (op == NULL) {
            mqtt__conn_close(c, "out of memory");
            return;
        }
        f->state = FL_REC_PENDING;
        op->pid = pid;
        mqtt__propose_buf(srv, &srv->out_cmd, op);
        return;
    }
    pmq_msg_unref(f->msg);
    f->msg = NULL;
    f->state = FL_PUBREL;
    mqtt__send_ack(c, MQTT_PUBREL, pid);
}

void mqtt__on_pubcomp(mqtt_conn_t *c, uint16_t pid) {
    mqtt_sess_t *s = c->sess;
    mqtt_server_t *srv = c->srv;
    uint32_t at;
    mqtt_flight_t *f = mqtt__flight_find(s, pid, &at);
    if (f == NULL || f->state != FL_PUBREL) {
        return;
    }
    if (f->logged) {
        pmq_buf_reset(&srv->out_cmd);
        if (rlog_encode_mqtt_pid(&srv->out_cmd, RLOG_CMD_MQTT_OUT_COMP,
                                 pmq_slice(s->client_id, s->id_len), pid) == 0 &&
            srv->log.propose(srv->log.arg, pmq_buf_slice(&srv->out_cmd), NULL, NULL) != 0) {
            PMQ_LOG_WARN("mqtt_log_failed", "what=pubcomp client=%s", s->client_id);
        }
    }
    mqtt__flight_remove(s, at);
    mqtt__sess_refill(s);
}

void mqtt__deliver_done(mqtt_op_t *op, int status) {
    mqtt_sess_t *s = op->sess;
    uint32_t at;
    mqtt_flight_t *f = mqtt__flight_find(s, op->pid, &at);
    if (f == NULL || f->state != (op->kind == OP_BIND ? FL_BINDING : FL_REC_PENDING)) {
        return; /* the session was discarded meanwhile */
    }
    if (status != 0) {
        /* The log failed: the message stays in the queue and is sent again later. */
        if (op->kind == OP_BIND) {
            if (s->sub != NULL && broker_nack(s->srv->broker, s->sub, f->tag) != 0) {
                PMQ_LOG_DEBUG("mqtt_nack_stale", "client=%s", s->client_id);
            }
            mqtt__flight_remove(s, at);
        } else {
            f->state = FL_SENT;
        }
        return;
    }
    if (op->kind == OP_BIND) {
        f->state = FL_SENT;
        if (can_write(s)) {
            (void)write_publish(s->conn, f->msg, f->pid, 2, false, false);
        }
        return;
    }
    pmq_msg_unref(f->msg);
    f->msg = NULL;
    f->tag = 0;
    f->state = FL_PUBREL;
    if (s->conn != NULL) {
        mqtt__send_ack(s->conn, MQTT_PUBREL, op->pid);
    }
}

void mqtt__sess_resend(mqtt_sess_t *s) {
    /* [MQTT-4.4.0-1]: the unacknowledged PUBLISH and PUBREL packets, in their order, with
     * their packet ids; PUBLISH with DUP set [MQTT-3.3.1-1]. */
    for (uint32_t i = 0; i < mqtt__fl_count(s) && s->conn != NULL; i++) {
        mqtt_flight_t *f = &s->w->fl[i];
        if (f->state == FL_SENT) {
            (void)write_publish(s->conn, f->msg, f->pid, f->qos, true, f->retain);
        } else if (f->state == FL_PUBREL) {
            mqtt__send_ack(s->conn, MQTT_PUBREL, f->pid);
        }
    }
    mqtt__sess_refill(s);
}
