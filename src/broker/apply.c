/* broker_apply: the deterministic state machine over committed log commands.
 *
 * Rules (DESIGN §1): no clock, no randomness, no I/O decisions here. Everything that
 * varies between nodes (consumers, in-flight deliveries) may be touched, but the
 * durable state that results — the messages in each queue and durable subscription,
 * the durable subscriptions themselves and last_seq — depends only on the commands. */
#include "broker_int.h"

static int apply_one(broker_t *b, const rlog_cmd_t *c);

static int apply_publish(broker_t *b, const rlog_cmd_t *c) {
    PMQ_ASSERT(c->type == RLOG_CMD_PUBLISH);
    uint64_t seq = ++b->last_seq;
    PMQ_ASSERT((seq & BROKER_VOLATILE_BIT) == 0);
    pmq_msg_t *m = broker__msg_from_cmd(b, seq, c);
    if (m == NULL) {
        return PMQ_ENOMEM;
    }
    b->st.published_persistent++;
    int rc = 0;
    if (pmq_slice_has_prefix(c->dest, "/topic/")) {
        broker__topic_publish(b, c->dest, m, true);
    } else {
        broker_queue_t *q = broker__queue_ensure(b, c->dest, BQ_QUEUE);
        rc = q ? broker__enqueue(b, q, m) : PMQ_ENOMEM;
    }
    pmq_msg_unref(m);
    return rc;
}

static void apply_seqs(broker_t *b, const rlog_cmd_t *c) {
    broker_queue_t *q = broker__queue_get(b, c->dest);
    broker_queue_t *dlq = NULL;
    if (c->type == RLOG_CMD_DLQ) {
        dlq = broker__queue_ensure(b, c->dlq, BQ_QUEUE);
    }
    rlog_iter_t it = rlog_seqs_iter(c);
    uint64_t seq;
    while (q != NULL && rlog_seqs_next(&it, &seq)) {
        bq_entry_t *e = pmq_map_get(&q->by_seq, pmq_slice(&seq, sizeof(seq)));
        if (e == NULL) {
            continue; /* already gone (purged, or acked twice): commands are idempotent */
        }
        if (dlq != NULL && dlq != q && broker__enqueue(b, dlq, e->msg) == 0) {
            q->dlq_moves++;
            b->st.dlq_moves++;
        }
        broker__entry_remove(b, e);
    }
}

static void apply_dsub_add(broker_t *b, const rlog_cmd_t *c) {
    pmq_buf_t name;
    pmq_buf_init(&name, 0);
    broker__dsub_name(&name, c->client_id, c->sub_name);
    broker_queue_t *q = broker__queue_get(b, pmq_buf_slice(&name));
    if (q != NULL && !pmq_slice_eq_cstr(c->pattern, q->pattern)) {
        /* Re-pointed at another topic: ActiveMQ drops the old subscription's messages. */
        broker__queue_clear(b, q);
        pmq_free(q->pattern);
        q->pattern = NULL;
    }
    if (q == NULL) {
        q = broker__queue_ensure(b, pmq_buf_slice(&name), BQ_DSUB);
        if (q != NULL) {
            pmq_list_push_back(&b->dsubs, &q->dsub_link);
        }
    }
    if (q != NULL && q->pattern == NULL) {
        q->pattern = pmq_slice_dup(c->pattern);
        PMQ_ASSERT(q->pattern != NULL);
    }
    pmq_buf_close(&name);
}

static void apply_dsub_del(broker_t *b, const rlog_cmd_t *c) {
    pmq_buf_t name;
    pmq_buf_init(&name, 0);
    broker__dsub_name(&name, c->client_id, c->sub_name);
    broker_queue_t *q = broker__queue_get(b, pmq_buf_slice(&name));
    if (q != NULL && pmq_list_is_empty(&q->consumers)) {
        broker__queue_destroy(b, q);
    } else if (q != NULL) {
        broker__queue_clear(b, q); /* still attached: it ends when its consumer leaves */
    }
    pmq_buf_close(&name);
}

static void apply_dest_op(broker_t *b, const rlog_cmd_t *c) {
    broker_queue_t *q = broker__queue_get(b, c->dest);
    if (q == NULL) {
        return;
    }
    if (c->type == RLOG_CMD_DEST_DELETE && pmq_list_is_empty(&q->consumers) &&
        q->kind != BQ_DSUB && q->kind != BQ_MQTT) {
        broker__queue_destroy(b, q);
        return;
    }
    broker__queue_clear(b, q);
}

static int apply_txn(broker_t *b, const rlog_cmd_t *c) {
    rlog_iter_t it = rlog_txn_iter(c);
    pmq_slice_t op;
    while (rlog_txn_next(&it, &op)) {
        rlog_cmd_t inner;
        int rc = rlog_cmd_decode(op, &inner);
        PMQ_ASSERT(rc == 0); /* the outer decode validated every op */
        rc = apply_one(b, &inner);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int apply_one(broker_t *b, const rlog_cmd_t *c) {
    switch (c->type) {
    case RLOG_CMD_PUBLISH:
        return apply_publish(b, c);
    case RLOG_CMD_ACK:
    case RLOG_CMD_DLQ:
    case RLOG_CMD_EXPIRE:
        apply_seqs(b, c);
        return 0;
    case RLOG_CMD_DSUB_ADD:
        apply_dsub_add(b, c);
        return 0;
    case RLOG_CMD_DSUB_DEL:
        apply_dsub_del(b, c);
        return 0;
    case RLOG_CMD_PURGE:
    case RLOG_CMD_DEST_DELETE:
        apply_dest_op(b, c);
        return 0;
    case RLOG_CMD_TXN:
        return apply_txn(b, c);
    case RLOG_CMD_MQTT_SESSION_OPEN:
    case RLOG_CMD_MQTT_SESSION_CLOSE:
    case RLOG_CMD_MQTT_SUB:
    case RLOG_CMD_MQTT_UNSUB:
    case RLOG_CMD_RETAIN:
    case RLOG_CMD_MQTT_QOS2_IN:
    case RLOG_CMD_MQTT_QOS2_REL:
    case RLOG_CMD_MQTT_OUT_BIND:
    case RLOG_CMD_MQTT_OUT_REC:
    case RLOG_CMD_MQTT_OUT_COMP:
        return broker__mqtt_apply(b, c); /* mqtt_state.c, retain.c */
    }
    PMQ_UNREACHABLE();
}

int broker_apply(broker_t *b, uint64_t index, pmq_slice_t cmd) {
    PMQ_ASSERT(index > b->last_applied);
    rlog_cmd_t c;
    int rc = rlog_cmd_decode(cmd, &c);
    if (rc != 0) {
        PMQ_LOG_ERROR("apply_decode_failed", "index=%llu err=%s", (unsigned long long)index,
                      pmq_strerror(rc));
        return rc;
    }
    rc = apply_one(b, &c);
    if (rc != 0) {
        return rc;
    }
    b->last_applied = index;
    b->st.applied_commands++;
    b->st.last_applied_index = index;
    return 0;
}

uint64_t broker_last_applied(const broker_t *b) { return b->last_applied; }

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h;
}

uint64_t broker_state_hash(const broker_t *b) {
    /* Order-independent over queues (XOR of per-queue hashes), order-dependent inside a
     * queue's ready lists is not needed: the set of (queue, seq) pairs is the state. */
    uint64_t h = mix(0, b->last_seq);
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&b->queues, &pos, NULL, &v)) {
        const broker_queue_t *q = v;
        if (q->kind == BQ_TEMP) {
            continue;
        }
        uint64_t qh = pmq_hash(pmq_slice_cstr(q->name));
        if (q->pattern != NULL) {
            qh = mix(qh, pmq_hash(pmq_slice_cstr(q->pattern)));
        }
        size_t p2 = 0;
        void *ev;
        while (pmq_map_next(&q->by_seq, &p2, NULL, &ev)) {
            const bq_entry_t *e = ev;
            if (e->msg->persistent) {
                qh ^= mix(pmq_hash(e->msg->body), e->seq);
            }
        }
        h ^= qh;
    }
    return h ^ broker__mqtt_state_hash(b); /* MQTT sessions, retained messages; 0 if none */
}
