/* Retained MQTT messages: at most one per topic, set and cleared only by RLOG_CMD_RETAIN in
 * apply (so they survive restarts and are the same on every node), looked up when a client
 * subscribes. Not here: the retained_max limit (the MQTT session checks it before it
 * proposes, so apply never depends on configuration) and $SYS messages (volatile, kept by
 * the MQTT server). A retained message takes a message sequence number from last_seq, so
 * its message-id is stable across restarts. */
#include "broker_int.h"

static void retained_del(broker_mqtt_t *mq, pmq_slice_t dest) {
    pmq_msg_t *old = pmq_map_del(&mq->retained, dest);
    if (old != NULL) {
        pmq_msg_unref(old);
    }
}

/* Stores m (takes the caller's reference) as the retained message of its topic. */
static int retained_put(broker_mqtt_t *mq, pmq_msg_t *m) {
    retained_del(mq, m->dest);
    if (pmq_map_put(&mq->retained, m->dest, m) != 0) {
        pmq_msg_unref(m);
        return PMQ_ENOMEM;
    }
    return 0;
}

static pmq_msg_t *msg_from_retain(broker_t *b, uint64_t seq, const rlog_cmd_t *c) {
    /* RETAIN carries PUBLISH's fields, so the message is built the same way. */
    rlog_cmd_t as_publish = *c;
    as_publish.type = RLOG_CMD_PUBLISH;
    return broker__msg_from_cmd(b, seq, &as_publish);
}

int broker__retain_apply(broker_t *b, broker_mqtt_t *mq, const rlog_cmd_t *c) {
    PMQ_ASSERT(c->type == RLOG_CMD_RETAIN);
    if (c->body.len == 0) {
        /* [MQTT-3.3.1-10], [MQTT-3.3.1-11]: an empty retained payload clears the topic. */
        retained_del(mq, c->dest);
        return 0;
    }
    uint64_t seq = ++b->last_seq;
    PMQ_ASSERT((seq & BROKER_VOLATILE_BIT) == 0);
    pmq_msg_t *m = msg_from_retain(b, seq, c);
    if (m == NULL) {
        return PMQ_ENOMEM;
    }
    PMQ_ASSERT(pmq_slice_eq(m->dest, c->dest));
    return retained_put(mq, m);
}

uint64_t broker_retained_count(const broker_t *b) {
    return b->mqtt != NULL ? pmq_map_count(&b->mqtt->retained) : 0;
}

bool broker_retained_has(const broker_t *b, pmq_slice_t dest) {
    return b->mqtt != NULL && pmq_map_get(&b->mqtt->retained, dest) != NULL;
}

void broker_retained_match(const broker_t *b, pmq_slice_t pattern,
                           void (*cb)(void *arg, pmq_msg_t *m), void *arg) {
    if (b->mqtt == NULL) {
        return;
    }
    const pmq_map_t *map = &b->mqtt->retained;
    if (!broker__is_wildcard(pattern)) {
        pmq_msg_t *m = pmq_map_get(map, pattern);
        if (m != NULL) {
            cb(arg, m);
        }
        return;
    }
    /* A wildcard walks every retained message: O(retained) per SUBSCRIBE, bounded by
     * mqtt.retained_max (docs/MQTT.md). */
    size_t pos = 0;
    void *v;
    while (pmq_map_next(map, &pos, NULL, &v)) {
        pmq_msg_t *m = v;
        if (broker__mqtt_dollar_ok(pattern, m->dest) && broker__pattern_matches(pattern, m->dest)) {
            cb(arg, m);
        }
    }
}

uint64_t broker__retain_hash(const broker_mqtt_t *mq) {
    uint64_t h = pmq_map_count(&mq->retained);
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&mq->retained, &pos, NULL, &v)) {
        const pmq_msg_t *m = v;
        h ^= pmq_hash(m->dest) * 31 + pmq_hash(m->body) + m->seq * 0x9E3779B97F4A7C15ull;
    }
    return h;
}

/* Layout: u32 n, n x {u64 seq, bytes RETAIN command}. */
int broker__retain_snapshot_encode(const broker_mqtt_t *mq, pmq_buf_t *out) {
    pmq_buf_t cmd;
    pmq_buf_init(&cmd, 0);
    int rc = pmq_buf_put_u32(out, (uint32_t)pmq_map_count(&mq->retained));
    size_t pos = 0;
    void *v;
    while (rc == 0 && pmq_map_next(&mq->retained, &pos, NULL, &v)) {
        const pmq_msg_t *m = v;
        rlog_msg_props_t p = {m->priority, m->persistent, m->expires_ms, m->timestamp_ms};
        pmq_buf_reset(&cmd);
        rc = rlog_encode_retain(&cmd, m->dest, &p, m->headers, m->header_count, m->body);
        if (rc == 0) {
            rc = pmq_buf_put_u64(out, m->seq);
        }
        if (rc == 0) {
            rc = pmq_buf_put_bytes(out, pmq_buf_slice(&cmd));
        }
    }
    pmq_buf_close(&cmd);
    return rc;
}

int broker__retain_snapshot_restore(broker_t *b, broker_mqtt_t *mq, pmq_rd_t *r) {
    uint32_t n = pmq_rd_u32(r);
    if (r->err) {
        return PMQ_ECORRUPT;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t seq = pmq_rd_u64(r);
        pmq_slice_t bytes = pmq_rd_bytes(r, RLOG_BODY_BYTES_MAX * 2u);
        rlog_cmd_t c;
        if (r->err || rlog_cmd_decode(bytes, &c) != 0 || c.type != RLOG_CMD_RETAIN ||
            c.body.len == 0 || seq > b->last_seq || (seq & BROKER_VOLATILE_BIT) != 0) {
            return PMQ_ECORRUPT;
        }
        pmq_msg_t *m = msg_from_retain(b, seq, &c);
        if (m == NULL) {
            return PMQ_ENOMEM;
        }
        int rc = retained_put(mq, m);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

void broker__retain_free(broker_mqtt_t *mq) {
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&mq->retained, &pos, NULL, &v)) {
        pmq_msg_unref(v);
    }
    pmq_map_close(&mq->retained);
}
