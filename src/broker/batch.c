/* Batching of broker-originated commands. ACKs, DLQ moves and expiries gathered during
 * one loop iteration are proposed as one command per queue and kind in broker_run, so
 * a consumer acking 10,000 messages a second costs a few log entries per iteration, not
 * 10,000. Entries stay PENDING until the command is applied; if it fails they become
 * deliverable again, so nothing is lost. */
#include "broker_int.h"

typedef struct batch_done {
    broker_t *broker;
    rlog_cmd_type_t type;
    char *queue;
    uint64_t *seqs;
    size_t count;
    broker_waitlist_t *waiters;
} batch_done_t;

int broker__batch_add(broker_t *b, broker_queue_t *q, bq_batch_t *batch, uint64_t seq) {
    if (batch->count == batch->cap) {
        size_t cap = batch->cap ? batch->cap * 2 : 64;
        uint64_t *s = pmq_realloc(batch->seqs, cap * sizeof(*s));
        if (s == NULL) {
            return PMQ_ENOMEM;
        }
        batch->seqs = s;
        batch->cap = cap;
    }
    batch->seqs[batch->count++] = seq;
    if (!pmq_list_is_linked(&q->batch_link)) {
        pmq_list_push_back(&b->batched, &q->batch_link);
    }
    return 0;
}

int broker__waitlist_add(broker_waitlist_t **wlp, broker_done_cb cb, void *cookie) {
    broker_waitlist_t *wl = *wlp;
    if (wl == NULL) {
        wl = pmq_calloc(1, sizeof(*wl));
        if (wl == NULL) {
            return PMQ_ENOMEM;
        }
        *wlp = wl;
    }
    if (wl->count == wl->cap) {
        size_t cap = wl->cap ? wl->cap * 2 : 8;
        void *items = pmq_realloc(wl->items, cap * sizeof(wl->items[0]));
        if (items == NULL) {
            return PMQ_ENOMEM;
        }
        wl->items = items;
        wl->cap = cap;
    }
    wl->items[wl->count].cb = cb;
    wl->items[wl->count].cookie = cookie;
    wl->count++;
    return 0;
}

void broker__waitlist_finish(broker_waitlist_t *wl, int status) {
    if (wl == NULL) {
        return;
    }
    for (size_t i = 0; i < wl->count; i++) {
        wl->items[i].cb(wl->items[i].cookie, status);
    }
    pmq_free(wl->items);
    pmq_free(wl);
}

void broker__batch_free(bq_batch_t *batch) {
    pmq_free(batch->seqs);
    broker__waitlist_finish(batch->waiters, PMQ_ECLOSED);
    *batch = (bq_batch_t){0};
}

/* The command failed: make its entries deliverable again. */
static void batch_revert(broker_t *b, batch_done_t *d) {
    broker_queue_t *q = broker__queue_get(b, pmq_slice_cstr(d->queue));
    for (size_t i = 0; q != NULL && i < d->count; i++) {
        bq_entry_t *e = pmq_map_get(&q->by_seq, pmq_slice(&d->seqs[i], sizeof(uint64_t)));
        if (e != NULL && e->state == BQ_PENDING) {
            e->state = BQ_READY;
            pmq_list_push_front(&q->ready[e->msg->priority], &e->link);
            q->ready_count++;
            broker__queue_mark_dirty(b, q);
        }
    }
}

static void batch_done(void *cookie, int status) {
    batch_done_t *d = cookie;
    if (status != 0) {
        PMQ_LOG_WARN("batch_failed", "type=%s queue=%s count=%zu err=%s",
                     rlog_cmd_type_name(d->type), d->queue, d->count, pmq_strerror(status));
        batch_revert(d->broker, d);
    }
    broker__waitlist_finish(d->waiters, status);
    pmq_free(d->seqs);
    pmq_free(d->queue);
    pmq_free(d);
}

static void batch_propose(broker_t *b, broker_queue_t *q, bq_batch_t *batch, rlog_cmd_type_t type) {
    if (batch->count == 0) {
        return;
    }
    batch_done_t *d = pmq_calloc(1, sizeof(*d));
    char *qname = pmq_strdup(q->name);
    pmq_buf_t cmd;
    pmq_buf_init(&cmd, 0);
    int rc = PMQ_ENOMEM;
    if (d == NULL || qname == NULL) {
        goto fail;
    }
    *d = (batch_done_t){b, type, qname, batch->seqs, batch->count, batch->waiters};
    qname = NULL;
    *batch = (bq_batch_t){0};
    pmq_slice_t dlq = type == RLOG_CMD_DLQ ? pmq_slice_cstr(b->dlq_name) : pmq_slice(NULL, 0);
    rc = rlog_encode_seqs(&cmd, type, pmq_slice_cstr(q->name), dlq, d->seqs, d->count);
    if (rc == 0) {
        rc = b->log.propose(b->log.arg, pmq_buf_slice(&cmd), batch_done, d);
    }
    pmq_buf_close(&cmd);
    if (rc != 0) {
        batch_done(d, rc);
    }
    return;
fail:
    pmq_free(qname);
    pmq_free(d);
    PMQ_LOG_ERROR("batch_alloc_failed", "queue=%s", q->name);
}

void broker__batches_flush(broker_t *b) {
    while (!pmq_list_is_empty(&b->batched)) {
        broker_queue_t *q = PMQ_CONTAINER_OF(b->batched.next, broker_queue_t, batch_link);
        pmq_list_remove(&q->batch_link);
        batch_propose(b, q, &q->acks, RLOG_CMD_ACK);
        batch_propose(b, q, &q->dlqs, RLOG_CMD_DLQ);
        batch_propose(b, q, &q->expires, RLOG_CMD_EXPIRE);
    }
}
