/* Snapshots of the durable broker state: last_seq, last_applied, the durable
 * subscriptions in creation order, and every persistent message of every queue in
 * sequence order. Volatile things (consumers, in-flight state, non-persistent
 * messages, temp queues) are not part of it. Format (big-endian, versioned):
 *   u8 version, u64 last_seq, u64 last_applied,
 *   u32 n_dsubs, n x {bytes queue_name, bytes pattern},
 *   u32 n_queues, n x {bytes name, u32 n_msgs, n x {u64 seq, bytes publish_cmd}},
 *   version 2 adds the MQTT section (sessions, retained messages: mqtt_state.c). */
#include <stdlib.h>

#include "broker_int.h"

#define SNAPSHOT_VERSION 2
#define SNAPSHOT_VERSION_MIN 1 /* before the MQTT section */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int encode_queue(const broker_queue_t *q, pmq_buf_t *out, pmq_buf_t *tmp) {
    size_t n = 0;
    uint64_t *seqs = pmq_calloc(pmq_map_count(&q->by_seq) + 1, sizeof(uint64_t));
    if (seqs == NULL) {
        return PMQ_ENOMEM;
    }
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&q->by_seq, &pos, NULL, &v)) {
        const bq_entry_t *e = v;
        if (e->msg->persistent && (e->seq & BROKER_VOLATILE_BIT) == 0) {
            seqs[n++] = e->seq;
        }
    }
    qsort(seqs, n, sizeof(uint64_t), cmp_u64);
    int rc = pmq_buf_put_bytes(out, pmq_slice_cstr(q->name));
    if (rc == 0) {
        rc = pmq_buf_put_u32(out, (uint32_t)n);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const bq_entry_t *e = pmq_map_get(&q->by_seq, pmq_slice(&seqs[i], sizeof(uint64_t)));
        const pmq_msg_t *m = e->msg;
        rlog_msg_props_t p = {m->priority, true, m->expires_ms, m->timestamp_ms};
        pmq_buf_reset(tmp);
        rc = rlog_encode_publish(tmp, m->dest, &p, m->headers, m->header_count, m->body);
        if (rc == 0 && (rc = pmq_buf_put_u64(out, e->seq)) == 0) {
            rc = pmq_buf_put_bytes(out, pmq_buf_slice(tmp));
        }
    }
    pmq_free(seqs);
    return rc;
}

int broker_snapshot_encode(const broker_t *b, pmq_buf_t *out) {
    pmq_buf_t tmp;
    pmq_buf_init(&tmp, 0);
    int rc;
    uint32_t n_dsubs = 0, n_queues = 0;
    pmq_list_t *it, *t2;
    PMQ_LIST_FOREACH_SAFE(it, t2, (pmq_list_t *)&b->dsubs) {
        n_dsubs++;
    }
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&b->queues, &pos, NULL, &v)) {
        n_queues += ((const broker_queue_t *)v)->kind != BQ_TEMP;
    }
    if ((rc = pmq_buf_put_u8(out, SNAPSHOT_VERSION)) != 0 ||
        (rc = pmq_buf_put_u64(out, b->last_seq)) != 0 ||
        (rc = pmq_buf_put_u64(out, b->last_applied)) != 0 ||
        (rc = pmq_buf_put_u32(out, n_dsubs)) != 0) {
        goto out;
    }
    PMQ_LIST_FOREACH_SAFE(it, t2, (pmq_list_t *)&b->dsubs) {
        const broker_queue_t *q = PMQ_CONTAINER_OF(it, broker_queue_t, dsub_link);
        if ((rc = pmq_buf_put_bytes(out, pmq_slice_cstr(q->name))) != 0 ||
            (rc = pmq_buf_put_bytes(out, pmq_slice_cstr(q->pattern))) != 0) {
            goto out;
        }
    }
    if ((rc = pmq_buf_put_u32(out, n_queues)) != 0) {
        goto out;
    }
    pos = 0;
    while (pmq_map_next(&b->queues, &pos, NULL, &v)) {
        const broker_queue_t *q = v;
        if (q->kind != BQ_TEMP && (rc = encode_queue(q, out, &tmp)) != 0) {
            goto out;
        }
    }
    rc = broker__mqtt_snapshot_encode(b, out);
out:
    pmq_buf_close(&tmp);
    return rc;
}

static int restore_queue(broker_t *b, pmq_rd_t *r) {
    pmq_slice_t name = pmq_rd_bytes(r, RLOG_NAME_BYTES_MAX + 16);
    uint32_t n = pmq_rd_u32(r);
    if (r->err) {
        return PMQ_ECORRUPT;
    }
    bq_kind_t kind = pmq_slice_has_prefix(name, "dsub:") ? BQ_DSUB : BQ_QUEUE;
    broker_queue_t *q = broker__queue_ensure(b, name, kind);
    if (q == NULL) {
        return PMQ_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t seq = pmq_rd_u64(r);
        pmq_slice_t bytes = pmq_rd_bytes(r, RLOG_BODY_BYTES_MAX * 2u);
        rlog_cmd_t c;
        if (r->err || rlog_cmd_decode(bytes, &c) != 0 || c.type != RLOG_CMD_PUBLISH ||
            seq > b->last_seq) {
            return PMQ_ECORRUPT;
        }
        pmq_msg_t *m = broker__msg_from_cmd(b, seq, &c);
        if (m == NULL) {
            return PMQ_ENOMEM;
        }
        int rc = broker__enqueue(b, q, m);
        pmq_msg_unref(m);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int broker_snapshot_restore(broker_t *b, pmq_slice_t bytes) {
    PMQ_ASSERT(pmq_map_count(&b->queues) == 0);
    pmq_rd_t r = pmq_rd_init(bytes);
    uint8_t version = pmq_rd_u8(&r);
    b->last_seq = pmq_rd_u64(&r);
    b->last_applied = pmq_rd_u64(&r);
    uint32_t n_dsubs = pmq_rd_u32(&r);
    if (r.err) {
        return PMQ_ECORRUPT;
    }
    if (version < SNAPSHOT_VERSION_MIN || version > SNAPSHOT_VERSION) {
        return version > SNAPSHOT_VERSION ? PMQ_EVERSION : PMQ_ECORRUPT;
    }
    for (uint32_t i = 0; i < n_dsubs; i++) {
        pmq_slice_t name = pmq_rd_bytes(&r, RLOG_NAME_BYTES_MAX + 16);
        pmq_slice_t pattern = pmq_rd_bytes(&r, RLOG_NAME_BYTES_MAX);
        if (r.err) {
            return PMQ_ECORRUPT;
        }
        broker_queue_t *q = broker__queue_ensure(b, name, BQ_DSUB);
        if (q == NULL || (q->pattern = pmq_slice_dup(pattern)) == NULL) {
            return PMQ_ENOMEM;
        }
        pmq_list_push_back(&b->dsubs, &q->dsub_link);
    }
    uint32_t n_queues = pmq_rd_u32(&r);
    for (uint32_t i = 0; i < n_queues && !r.err; i++) {
        int rc = restore_queue(b, &r);
        if (rc != 0) {
            return rc;
        }
    }
    if (version >= 2 && !r.err) {
        int rc = broker__mqtt_snapshot_restore(b, &r);
        if (rc != 0) {
            return rc;
        }
    }
    if (r.err || r.left != 0) {
        return PMQ_ECORRUPT;
    }
    b->st.last_applied_index = b->last_applied;
    return 0;
}
