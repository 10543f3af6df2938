/* Inbound PUBLISH (MQTT 3.1.1 §3.3, §4.3) and PUBREL, and wills. A message goes to the
 * broker as a publish to "/topic/<mapped topic>": QoS 0 directly (volatile), QoS 1/2 as a
 * persistent PUBLISH command whose PUBACK/PUBREC is sent only once it is durable. QoS 2
 * uses "method B" (§4.3.3): the packet id is stored with the message (one TXN for a
 * persistent session), a re-sent PUBLISH with a stored id is answered, never published
 * again, and PUBREL releases the id. A retained publish also stores RLOG_CMD_RETAIN. */
#include <stdio.h>

#include "mqtt_int.h"

static bool is_sys(pmq_slice_t topic) {
    return pmq_slice_has_prefix(topic, "$SYS/") || pmq_slice_eq_cstr(topic, "$SYS");
}

/* Whether a retained publish may store its message: clearing always, replacing always,
 * a new topic only below mqtt.retained_max (checked here so apply never reads config). */
static bool retain_allowed(mqtt_server_t *srv, pmq_slice_t dest, pmq_slice_t payload) {
    if (payload.len == 0 || broker_retained_count(srv->broker) < srv->opt.retained_max ||
        broker_retained_has(srv->broker, dest)) {
        return true;
    }
    if (pmq_ratelimit_allow(&srv->bad_input_log, pmq_mono_ms())) {
        PMQ_LOG_WARN("mqtt_retained_max", "limit=%u dest=%.*s action=\"message delivered, not "
                     "retained; raise mqtt.retained_max or clear retained topics\"",
                     srv->opt.retained_max, (int)PMQ_MIN(dest.len, 200), dest.ptr);
    }
    return false;
}

typedef struct pub {
    pmq_slice_t dest;
    pmq_slice_t payload;
    uint8_t qos;
    bool retain;
    pmq_slice_t qos2_client; /* persistent session storing an inbound QoS 2 id, or empty */
    uint16_t pid;
} pub_t;

static int txn_add(mqtt_server_t *srv, size_t mark) {
    return rlog_txn_add_op(&srv->scratch, mark, pmq_buf_slice(&srv->op_buf));
}

/* Encodes what a QoS 1/2 publish stores into srv->scratch: PUBLISH alone, or a TXN with
 * RETAIN and/or MQTT_QOS2_IN. */
static int encode_store(mqtt_server_t *srv, const pub_t *m, const rlog_msg_props_t *props,
                        const rlog_header_t *h) {
    pmq_buf_reset(&srv->scratch);
    if (!m->retain && m->qos2_client.len == 0) {
        return rlog_encode_publish(&srv->scratch, m->dest, props, h, 1, m->payload);
    }
    size_t mark;
    pmq_buf_reset(&srv->op_buf);
    int rc = rlog_txn_begin(&srv->scratch, &mark);
    if (rc == 0) {
        rc = rlog_encode_publish(&srv->op_buf, m->dest, props, h, 1, m->payload);
    }
    if (rc == 0) {
        rc = txn_add(srv, mark);
    }
    if (rc == 0 && m->retain) {
        pmq_buf_reset(&srv->op_buf);
        rc = rlog_encode_retain(&srv->op_buf, m->dest, props, h, 1, m->payload);
        rc = rc == 0 ? txn_add(srv, mark) : rc;
    }
    if (rc == 0 && m->qos2_client.len > 0) {
        pmq_buf_reset(&srv->op_buf);
        rc = rlog_encode_mqtt_pid(&srv->op_buf, RLOG_CMD_MQTT_QOS2_IN, m->qos2_client, m->pid);
        rc = rc == 0 ? txn_add(srv, mark) : rc;
    }
    if (rc == 0) {
        rlog_txn_end(&srv->scratch, mark);
    }
    return rc;
}

/* Publishes m to the broker. op (may be NULL: a will) completes once it is durable;
 * a QoS 0 message is published now. Returns 0 or PMQ_E*: op was completed then. */
static int publish(mqtt_server_t *srv, const pub_t *m, mqtt_op_t *op) {
    char q[2] = {(char)('0' + m->qos), 0};
    rlog_header_t h = {PMQ_SLICE_LIT(BROKER_MQTT_QOS_HEADER), pmq_slice(q, 1)};
    rlog_msg_props_t props = {.priority = 4, .persistent = m->qos > 0,
                              .timestamp_ms = srv->wall_ms};
    pub_t mm = *m;
    mm.retain = m->retain && retain_allowed(srv, m->dest, m->payload);
    if (m->qos == 0) {
        /* The retained copy is stored through the log; the delivery does not wait for it. */
        int rc = broker_publish_volatile(srv->broker, mm.dest, &props, &h, 1, mm.payload,
                                         srv->wall_ms);
        if (rc == 0 && mm.retain) {
            pmq_buf_reset(&srv->scratch);
            if (rlog_encode_retain(&srv->scratch, mm.dest, &props, &h, 1, mm.payload) == 0) {
                mqtt__propose_quiet(srv, "retain");
            }
        }
        return rc;
    }
    int rc = encode_store(srv, &mm, &props, &h);
    if (rc != 0) {
        return rc;
    }
    if (op == NULL) {
        mqtt__propose_quiet(srv, "will");
    } else {
        mqtt__propose(srv, op);
    }
    return 0;
}

/* Answers a QoS 1/2 PUBLISH that is not stored (a $SYS topic) as if it had been. */
static void ack_unstored(mqtt_conn_t *c, const mqtt_publish_t *p) {
    if (p->qos == 1) {
        mqtt__send_ack(c, MQTT_PUBACK, p->pid);
    } else if (p->qos == 2) {
        mqtt__send_ack(c, MQTT_PUBREC, p->pid);
    }
}

static void on_uncongested(void *arg) {
    mqtt_conn_t *c = arg;
    c->waiter = NULL;
    mqtt__conn_unblock(c);
}

/* Producer flow control (as for STOMP): the QoS 0 message just published reached a
 * subscriber that is behind; read nothing more from this client until it drained. */
static void hold_if_congested(mqtt_conn_t *c) {
    if (c->waiter == NULL &&
        broker_wait_congestion(c->srv->broker, on_uncongested, c, &c->waiter) == 0) {
        mqtt__conn_block(c);
    }
}

static void count_pending(mqtt_conn_t *c) {
    if (++c->pending >= MQTT_INBOUND_PENDING_MAX && !c->pending_blocked) {
        c->pending_blocked = true;
        mqtt__conn_block(c); /* resumed by publish_done below half the limit */
    }
}

void mqtt__on_publish(mqtt_conn_t *c, const mqtt_publish_t *p) {
    mqtt_server_t *srv = c->srv;
    mqtt_sess_t *s = c->sess;
    PMQ_ASSERT(s != NULL && c->state == CONN_UP);
    srv->st.messages_in++;
    if (p->qos == 2) {
        uint32_t e = mqtt__in_get(s, p->pid);
        if (e != 0) {
            /* A re-sent PUBLISH (DUP) for an id we hold: never publish twice
             * [MQTT-4.3.3-2]; answer once it is stored. */
            if ((e & MQTT_IN_STORED) != 0) {
                mqtt__send_ack(c, MQTT_PUBREC, p->pid);
            }
            return;
        }
    }
    if (is_sys(p->topic)) {
        /* Clients do not publish into the broker's own statistics; acknowledged, dropped. */
        ack_unstored(c, p);
        return;
    }
    if (!mqtt__to_dest(srv, p->topic)) {
        mqtt__conn_close(c, "topic longer than a destination name may be");
        return;
    }
    pub_t m = {pmq_buf_slice(&srv->topic), p->payload, p->qos, p->retain, {0}, p->pid};
    mqtt_op_t *op = NULL;
    if (p->qos > 0) {
        op = mqtt__op_new(p->qos == 1 ? OP_PUBACK : OP_PUBREC, c, p->qos == 2 ? s : NULL, 0);
        if (op == NULL) {
            mqtt__conn_close(c, "out of memory");
            return;
        }
        op->pid = p->pid;
        count_pending(c);
        if (p->qos == 2 && !s->clean) {
            m.qos2_client = pmq_slice(s->client_id, s->id_len);
        }
        if (p->qos == 2 && mqtt__in_put(s, p->pid, false) != 0) {
            mqtt__op_complete(op, PMQ_ENOMEM);
            return;
        }
    }
    int rc = publish(srv, &m, op);
    if (rc != 0 && op != NULL) {
        mqtt__op_complete(op, rc);
    } else if (rc != 0) {
        mqtt__conn_close(c, "the message could not be published");
    } else if (p->qos == 0) {
        hold_if_congested(c);
    }
}

void mqtt__publish_done(mqtt_op_t *op, int status) {
    mqtt_conn_t *c = op->conn;
    mqtt_sess_t *s = op->sess;
    if (op->kind == OP_PUBCOMP) {
        if (status == 0) {
            mqtt__in_del(s, op->pid);
            if (s->conn != NULL) {
                mqtt__send_ack(s->conn, MQTT_PUBCOMP, op->pid);
            }
        }
        return;
    }
    PMQ_ASSERT(c->pending > 0);
    c->pending--;
    if (c->pending_blocked && c->pending <= MQTT_INBOUND_PENDING_MAX / 2) {
        c->pending_blocked = false;
        mqtt__conn_unblock(c);
    }
    if (status != 0) {
        if (s != NULL) {
            mqtt__in_del(s, op->pid);
        }
        mqtt__conn_close(c, "the message could not be stored");
        return;
    }
    if (op->kind == OP_PUBACK) {
        mqtt__send_ack(c, MQTT_PUBACK, op->pid); /* only on the connection it came from */
    } else if (mqtt__in_mark_stored(s, op->pid)) {
        if (s->conn != NULL) {
            mqtt__send_ack(s->conn, MQTT_PUBREC, op->pid);
        }
    }
}

void mqtt__on_pubrel(mqtt_conn_t *c, uint16_t pid) {
    mqtt_server_t *srv = c->srv;
    mqtt_sess_t *s = c->sess;
    if (mqtt__in_get(s, pid) == 0 || s->clean) {
        /* Unknown ids are answered too (§4.3.3: the sender may re-send PUBREL). */
        mqtt__in_del(s, pid);
        mqtt__send_ack(c, MQTT_PUBCOMP, pid);
        return;
    }
    pmq_buf_reset(&srv->scratch);
    mqtt_op_t *op = NULL;
    if (rlog_encode_mqtt_pid(&srv->scratch, RLOG_CMD_MQTT_QOS2_REL,
                             pmq_slice(s->client_id, s->id_len), pid) == 0) {
        op = mqtt__op_new(OP_PUBCOMP, NULL, s, 0);
    }
    if (op == NULL) {
        mqtt__conn_close(c, "out of memory");
        return;
    }
    op->pid = pid;
    mqtt__propose(srv, op);
}

void mqtt__publish_will(mqtt_conn_t *c) {
    mqtt_will_t *w = c->will;
    if (w == NULL) {
        return;
    }
    c->will = NULL;
    mqtt_server_t *srv = c->srv;
    srv->wall_ms = pmq_wall_ms(); /* outside an input batch: read the clock now */
    if (!is_sys(w->topic) && mqtt__to_dest(srv, w->topic)) {
        pub_t m = {pmq_buf_slice(&srv->topic), w->payload, w->qos, w->retain, {0}, 0};
        if (publish(srv, &m, NULL) == 0) {
            srv->st.wills_published++;
            PMQ_LOG_DEBUG("mqtt_will", "conn=%llu topic=%.*s qos=%u", (unsigned long long)c->id,
                          (int)PMQ_MIN(w->topic.len, 200), w->topic.ptr, w->qos);
        }
    }
    pmq_free(w);
}
