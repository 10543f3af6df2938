/* SUBSCRIBE and UNSUBSCRIBE (MQTT 3.1.1 §3.8 - §3.11). A filter becomes a broker topic
 * pattern ("a/+/#" -> "/topic/a.*.>"). A clean session changes its volatile broker session
 * at once; a persistent one stores MQTT_SUB / MQTT_UNSUB commands (one TXN per packet) and
 * answers once they are durable, holding the connection's input meanwhile so that later
 * packets see the new subscriptions. After SUBACK, the matching retained messages follow
 * with RETAIN set [MQTT-3.3.1-6], [MQTT-3.3.1-8]; a filter that cannot be granted gets
 * 0x80 (longer than a destination name, or past BROKER_MQTT_FILTERS_MAX). */
#include <stdio.h>

#include "mqtt_int.h"

typedef struct retained_ctx {
    mqtt_sess_t *sess;
    uint8_t granted;
} retained_ctx_t;

static void offer_retained(void *arg, pmq_msg_t *m) {
    retained_ctx_t *r = arg;
    uint8_t qos = PMQ_MIN(r->granted, broker_msg_mqtt_qos(m));
    (void)mqtt__sess_offer(r->sess, m, qos, true); /* counts what it drops */
}

/* Sends what is retained for one granted filter (MQTT form). */
static void send_retained(mqtt_sess_t *s, pmq_slice_t filter, uint8_t granted) {
    mqtt_server_t *srv = s->srv;
    if (s->conn == NULL || !mqtt__to_dest(srv, filter)) {
        return;
    }
    retained_ctx_t r = {s, granted};
    broker_retained_match(srv->broker, pmq_buf_slice(&srv->topic), offer_retained, &r);
    mqtt__sys_replay(s, filter, granted);
}

static void send_suback(mqtt_conn_t *c, uint16_t pid, const uint8_t *codes, uint32_t n) {
    if (!mqtt__conn_alive(c)) {
        return;
    }
    if (mqtt_encode_suback(net_conn_outbuf(c->net), pid, codes, n) != 0) {
        mqtt__conn_close(c, "out of memory for SUBACK");
        return;
    }
    mqtt__packet_out(c);
}

/* Walks the filters of op's data: codes[count] then (u16 length, filter) pairs. */
static void op_retained(mqtt_op_t *op) {
    const uint8_t *codes = (const uint8_t *)op->data;
    pmq_rd_t rd = pmq_rd_init(pmq_slice(op->data + op->count, op->len - op->count));
    for (uint32_t i = 0; i < op->count; i++) {
        uint16_t n = pmq_rd_u16(&rd);
        pmq_slice_t f = pmq_rd_raw(&rd, n);
        PMQ_ASSERT(!rd.err);
        if (codes[i] != MQTT_SUBACK_FAILURE && op->sess->conn == op->conn) {
            send_retained(op->sess, f, codes[i]);
        }
    }
}

/* Sizes the op: one code per filter plus each filter with a 16-bit length. */
static size_t sub_op_bytes(const mqtt_packet_t *p) {
    size_t n = p->subscribe.count;
    mqtt_filter_iter_t it;
    mqtt_filter_t f;
    mqtt_filter_iter_init(&it, p);
    while (mqtt_filter_iter_next(&it, &f)) {
        n += 2 + f.filter.len;
    }
    return n;
}

/* Grants or refuses each filter: a clean session changes its broker session now; a
 * persistent one adds MQTT_SUB ops to the TXN in srv->scratch (*ops counts them). */
static void sub_filters(mqtt_conn_t *c, const mqtt_packet_t *p, mqtt_op_t *op, size_t mark,
                        uint32_t *ops) {
    mqtt_server_t *srv = c->srv;
    mqtt_sess_t *s = c->sess;
    uint8_t *codes = (uint8_t *)op->data;
    char *w = op->data + op->count;
    uint32_t have = s->bs != NULL ? broker_msess_filter_count(s->bs) : 0;
    mqtt_filter_iter_t it;
    mqtt_filter_t f;
    mqtt_filter_iter_init(&it, p);
    for (uint32_t i = 0; mqtt_filter_iter_next(&it, &f); i++) {
        pmq_store_u16be(w, (uint16_t)f.filter.len);
        memcpy(w + 2, f.filter.ptr, f.filter.len);
        w += 2 + f.filter.len;
        codes[i] = MQTT_SUBACK_FAILURE;
        if (!mqtt__to_dest(srv, f.filter) || have + *ops >= BROKER_MQTT_FILTERS_MAX) {
            continue;
        }
        pmq_slice_t pattern = pmq_buf_slice(&srv->topic);
        if (s->clean) {
            codes[i] = broker_msess_sub_volatile(srv->broker, s->bs, pattern, f.qos) == 0
                           ? f.qos : MQTT_SUBACK_FAILURE;
            continue;
        }
        pmq_buf_reset(&srv->op_buf);
        if (rlog_encode_mqtt_sub(&srv->op_buf, pmq_slice(s->client_id, s->id_len), pattern,
                                 f.qos) == 0 &&
            rlog_txn_add_op(&srv->scratch, mark, pmq_buf_slice(&srv->op_buf)) == 0) {
            codes[i] = f.qos; /* MQTT 3.1.1 grants every QoS it is asked for */
            (*ops)++;
        }
    }
}

/* A clean session's broker session is created with its first SUBSCRIBE. */
static int ensure_volatile(mqtt_sess_t *s) {
    mqtt_server_t *srv = s->srv;
    if (s->bs != NULL) {
        return 0;
    }
    PMQ_ASSERT(s->clean);
    int rc = broker_msess_new_volatile(srv->broker, pmq_slice(s->client_id, s->id_len), &s->bs);
    if (rc == 0) {
        broker_msess_bind(srv->broker, s->bs, &mqtt__direct_ops, s);
    }
    return rc;
}

void mqtt__on_subscribe(mqtt_conn_t *c, const mqtt_packet_t *p) {
    mqtt_server_t *srv = c->srv;
    mqtt_sess_t *s = c->sess;
    PMQ_ASSERT(s != NULL && s->conn == c);
    if (ensure_volatile(s) != 0) {
        mqtt__conn_close(c, "out of memory");
        return;
    }
    mqtt_op_t *op = mqtt__op_new(OP_SUBACK, c, s, sub_op_bytes(p));
    size_t mark = 0;
    pmq_buf_reset(&srv->scratch);
    if (op == NULL || rlog_txn_begin(&srv->scratch, &mark) != 0) {
        if (op != NULL) {
            mqtt__op_complete(op, PMQ_ENOMEM);
        }
        mqtt__conn_close(c, "out of memory");
        return;
    }
    op->pid = p->subscribe.pid;
    op->count = p->subscribe.count;
    uint32_t ops = 0;
    sub_filters(c, p, op, mark, &ops);
    if (ops == 0) {
        mqtt__op_complete(op, 0); /* nothing to store: SUBACK now */
        return;
    }
    rlog_txn_end(&srv->scratch, mark);
    op->held = true; /* released in mqtt__sub_done */
    mqtt__conn_block(c);
    mqtt__propose(srv, op);
}

static void unsub_filters(mqtt_conn_t *c, const mqtt_packet_t *p, size_t mark, uint32_t *ops) {
    mqtt_server_t *srv = c->srv;
    mqtt_sess_t *s = c->sess;
    mqtt_filter_iter_t it;
    mqtt_filter_t f;
    mqtt_filter_iter_init(&it, p);
    while (mqtt_filter_iter_next(&it, &f)) {
        if (!mqtt__to_dest(srv, f.filter)) {
            continue; /* could never have been granted */
        }
        pmq_slice_t pattern = pmq_buf_slice(&srv->topic);
        if (s->clean) {
            (void)broker_msess_unsub_volatile(srv->broker, s->bs, pattern);
            continue;
        }
        pmq_buf_reset(&srv->op_buf);
        if (rlog_encode_mqtt_unsub(&srv->op_buf, pmq_slice(s->client_id, s->id_len),
                                   pattern) == 0 &&
            rlog_txn_add_op(&srv->scratch, mark, pmq_buf_slice(&srv->op_buf)) == 0) {
            (*ops)++;
        }
    }
}

void mqtt__on_unsubscribe(mqtt_conn_t *c, const mqtt_packet_t *p) {
    mqtt_server_t *srv = c->srv;
    mqtt_sess_t *s = c->sess;
    PMQ_ASSERT(s != NULL && s->conn == c);
    size_t mark = 0;
    uint32_t ops = 0;
    pmq_buf_reset(&srv->scratch);
    if (s->bs == NULL) {
        mqtt__send_ack(c, MQTT_UNSUBACK, p->unsubscribe.pid); /* it has no subscriptions */
        return;
    }
    if (rlog_txn_begin(&srv->scratch, &mark) != 0) {
        mqtt__conn_close(c, "out of memory");
        return;
    }
    unsub_filters(c, p, mark, &ops);
    if (ops == 0) {
        mqtt__send_ack(c, MQTT_UNSUBACK, p->unsubscribe.pid); /* [MQTT-3.10.4-5] */
        return;
    }
    rlog_txn_end(&srv->scratch, mark);
    mqtt_op_t *op = mqtt__op_new(OP_UNSUBACK, c, s, 0);
    if (op == NULL) {
        mqtt__conn_close(c, "out of memory");
        return;
    }
    op->pid = p->unsubscribe.pid;
    op->held = true;
    mqtt__conn_block(c);
    mqtt__propose(srv, op);
}

void mqtt__sub_done(mqtt_op_t *op, int status) {
    mqtt_conn_t *c = op->conn;
    if (status != 0) {
        mqtt__conn_close(c, "the subscription change could not be stored");
    } else if (op->kind == OP_UNSUBACK) {
        mqtt__send_ack(c, MQTT_UNSUBACK, op->pid);
    } else {
        send_suback(c, op->pid, (const uint8_t *)op->data, op->count);
        op_retained(op);
    }
    if (op->held) {
        mqtt__conn_unblock(c);
    }
}
