/* The broker object: lifecycle, producers (admission, volatile publish, blocked
 * producers), temp destinations, the per-iteration run, expiry scans and statistics. */
#include <stdio.h>

#include "broker_int.h"

int broker_new(broker_t **out, const broker_options_t *opts, const broker_log_t *log) {
    if (opts->broker_id != NULL && strlen(opts->broker_id) > 64) {
        return PMQ_EINVAL; /* message ids embed it: keep them short */
    }
    broker_t *b = pmq_calloc(1, sizeof(*b));
    if (b == NULL) {
        return PMQ_ENOMEM;
    }
    b->opt = *opts;
    b->log = *log;
    b->broker_id = pmq_strdup(opts->broker_id ? opts->broker_id : "paxmq");
    char dlq[RLOG_NAME_BYTES_MAX + 16];
    snprintf(dlq, sizeof(dlq), "/queue/%s", opts->dlq ? opts->dlq : "ActiveMQ.DLQ");
    b->dlq_name = pmq_strdup(dlq);
    if (b->broker_id == NULL || b->dlq_name == NULL) {
        broker_free(b);
        return PMQ_ENOMEM;
    }
    b->opt.broker_id = b->broker_id;
    b->opt.dlq = NULL;
    pmq_map_init(&b->queues);
    pmq_map_init(&b->topics);
    pmq_list_init(&b->wild_subs);
    pmq_list_init(&b->dsubs);
    pmq_list_init(&b->dirty);
    pmq_list_init(&b->batched);
    pmq_list_init(&b->wake);
    *out = b;
    return 0;
}

void broker_free(broker_t *b) {
    if (b == NULL) {
        return;
    }
    broker__mqtt_free(b); /* sessions and retained messages; their queues go below */
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&b->queues, &pos, NULL, &v)) {
        broker_queue_t *q = v;
        PMQ_ASSERT(pmq_list_is_empty(&q->consumers));
        broker__queue_destroy(b, q);
    }
    pos = 0;
    while (pmq_map_next(&b->topics, &pos, NULL, &v)) {
        broker_topic_t *t = v;
        pmq_free(t->name);
        pmq_free(t);
    }
    pmq_map_close(&b->queues);
    pmq_map_close(&b->topics);
    pmq_free(b->broker_id);
    pmq_free(b->dlq_name);
    pmq_free(b);
}

int broker_admit(broker_t *b, pmq_slice_t dest) {
    broker_queue_t *q = broker__queue_get(b, dest);
    if (q == NULL) {
        if (!pmq_slice_has_prefix(dest, "/queue/")) {
            return 0;
        }
        return pmq_map_count(&b->queues) >= b->opt.destinations_max ? PMQ_ETOOBIG : 0;
    }
    return broker__queue_has_room(b, q) ? 0 : PMQ_EFULL;
}

void broker_admit_reserve(broker_t *b, pmq_slice_t dest) {
    broker_queue_t *q = broker__queue_get(b, dest);
    if (q == NULL && pmq_slice_has_prefix(dest, "/queue/")) {
        q = broker__queue_ensure(b, dest, BQ_QUEUE);
    }
    if (q != NULL) {
        q->admitted_pending++;
    }
}

void broker_admit_release(broker_t *b, pmq_slice_t dest) {
    broker_queue_t *q = broker__queue_get(b, dest);
    if (q != NULL && q->admitted_pending > 0) {
        q->admitted_pending--;
    }
}

int broker_publish_volatile(broker_t *b, pmq_slice_t dest, const rlog_msg_props_t *p,
                            const rlog_header_t *headers, size_t header_count, pmq_slice_t body,
                            uint64_t now_ms) {
    (void)now_ms;
    b->last_congested = NULL;
    bool topic = pmq_slice_has_prefix(dest, "/topic/") ||
                 pmq_slice_has_prefix(dest, "/remote-temp-topic/");
    broker_queue_t *q = NULL;
    if (!topic) {
        q = broker__queue_get(b, dest);
        if (q == NULL && pmq_slice_has_prefix(dest, "/remote-temp-queue/")) {
            return PMQ_ENOTFOUND;
        }
        q = q ? q : broker__queue_ensure(b, dest, BQ_QUEUE);
        if (q == NULL) {
            return PMQ_ENOMEM;
        }
    }
    uint64_t seq = BROKER_VOLATILE_BIT | ++b->volatile_seq;
    pmq_msg_t *m = broker__msg_new(b, seq, dest, p, headers, header_count, body);
    if (m == NULL) {
        return PMQ_ENOMEM;
    }
    b->st.published_volatile++;
    int rc = 0;
    if (topic) {
        broker__topic_publish(b, dest, m, false);
    } else {
        rc = broker__enqueue(b, q, m);
    }
    pmq_msg_unref(m);
    return rc;
}

int broker_wait_for_room(broker_t *b, pmq_slice_t dest, void (*cb)(void *), void *arg,
                         broker_waiter_t **out) {
    broker_queue_t *q = broker__queue_get(b, dest);
    if (q == NULL) {
        return PMQ_ENOTFOUND;
    }
    broker_waiter_t *w = pmq_calloc(1, sizeof(*w));
    if (w == NULL) {
        return PMQ_ENOMEM;
    }
    w->cb = cb;
    w->arg = arg;
    pmq_list_push_back(&q->waiters, &w->link);
    *out = w;
    return 0;
}

void broker_waiter_cancel(broker_waiter_t *w) {
    pmq_list_remove(&w->link);
    pmq_free(w);
}

int broker_temp_resolve(broker_t *b, void *owner, uint64_t owner_id, pmq_slice_t dest,
                        pmq_buf_t *out) {
    bool is_queue = pmq_slice_has_prefix(dest, "/temp-queue/");
    size_t plen = is_queue ? strlen("/temp-queue/") : strlen("/temp-topic/");
    pmq_buf_reset(out);
    int rc = pmq_buf_appendf(out, "/remote-temp-%s/ID:%s-%llu:%.*s", is_queue ? "queue" : "topic",
                             b->broker_id, (unsigned long long)owner_id, (int)(dest.len - plen),
                             dest.ptr + plen);
    if (rc != 0 || !is_queue) {
        return rc;
    }
    broker_queue_t *q = broker__queue_get(b, pmq_buf_slice(out));
    if (q == NULL) {
        q = broker__queue_ensure(b, pmq_buf_slice(out), BQ_TEMP);
        if (q == NULL) {
            return PMQ_ENOMEM;
        }
        q->temp_owner = owner;
    }
    return 0;
}

void broker_owner_gone(broker_t *b, void *owner) {
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&b->queues, &pos, NULL, &v)) {
        broker_queue_t *q = v;
        if (q->kind == BQ_TEMP && q->temp_owner == owner && pmq_list_is_empty(&q->consumers)) {
            broker__queue_destroy(b, q);
        }
    }
}

/* Calls the producers that were blocked on a full queue which now has room. A callback
 * that finds the queue full again registers anew (on the queue, not on this list). */
static void run_wakeups(broker_t *b) {
    pmq_list_t ready;
    pmq_list_init(&ready);
    while (!pmq_list_is_empty(&b->wake)) {
        pmq_list_t *n = b->wake.next;
        pmq_list_remove(n);
        pmq_list_push_back(&ready, n);
    }
    while (!pmq_list_is_empty(&ready)) {
        broker_waiter_t *w = PMQ_CONTAINER_OF(ready.next, broker_waiter_t, link);
        pmq_list_remove(&w->link);
        void (*cb)(void *) = w->cb;
        void *arg = w->arg;
        pmq_free(w);
        cb(arg);
    }
}

bool broker_run(broker_t *b, uint64_t now_ms) {
    run_wakeups(b);
    uint32_t budget = BROKER_DISPATCH_BUDGET;
    while (!pmq_list_is_empty(&b->dirty) && budget > 0) {
        broker_queue_t *q = PMQ_CONTAINER_OF(b->dirty.next, broker_queue_t, dirty_link);
        pmq_list_remove(&q->dirty_link);
        broker__queue_dispatch(b, q, now_ms, &budget);
        if (budget == 0 && q->ready_count > 0) {
            broker__queue_mark_dirty(b, q); /* fairness: continue after the others */
        }
    }
    broker__batches_flush(b);
    return !pmq_list_is_empty(&b->dirty) || !pmq_list_is_empty(&b->wake);
}

void broker_expire_scan(broker_t *b, uint64_t now_ms) {
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&b->queues, &pos, NULL, &v)) {
        broker_queue_t *q = v;
        for (int p = 0; p < BROKER_PRIORITIES; p++) {
            pmq_list_t *it, *tmp;
            PMQ_LIST_FOREACH_SAFE(it, tmp, &q->ready[p]) {
                bq_entry_t *e = PMQ_CONTAINER_OF(it, bq_entry_t, link);
                if (e->msg->expires_ms != 0 && e->msg->expires_ms <= now_ms) {
                    /* Dispatch drops expired heads; move them to the head so it sees them. */
                    pmq_list_remove(&e->link);
                    pmq_list_push_front(&q->ready[p], &e->link);
                    broker__queue_mark_dirty(b, q);
                }
            }
        }
        if (pmq_list_is_empty(&q->consumers) && q->ready_count > 0) {
            /* Nobody dispatches an unconsumed queue: expire here directly. */
            uint32_t budget = 0;
            broker__queue_dispatch(b, q, now_ms, &budget);
        }
    }
}

void broker_stats_get(const broker_t *b, broker_stats_t *out) { *out = b->st; }

void broker_dest_foreach(const broker_t *b, void (*cb)(void *arg, const broker_dest_stats_t *s),
                         void *arg) {
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&b->queues, &pos, NULL, &v)) {
        const broker_queue_t *q = v;
        uint64_t consumers = 0;
        pmq_list_t *it, *tmp;
        PMQ_LIST_FOREACH_SAFE(it, tmp, (pmq_list_t *)&q->consumers) {
            consumers++;
        }
        broker_dest_stats_t s = {pmq_slice_cstr(q->name), false, q->depth, q->bytes,
                                 q->inflight, consumers, q->enqueued, q->dequeued, q->expired,
                                 q->dlq_moves, q->redelivered, 0};
        cb(arg, &s);
    }
    pos = 0;
    while (pmq_map_next(&b->topics, &pos, NULL, &v)) {
        const broker_topic_t *t = v;
        uint64_t consumers = 0;
        pmq_list_t *it, *tmp;
        PMQ_LIST_FOREACH_SAFE(it, tmp, (pmq_list_t *)&t->subs) {
            consumers++;
        }
        broker_dest_stats_t s = {.name = pmq_slice_cstr(t->name), .is_topic = true,
                                 .consumers = consumers, .enqueued = t->enqueued,
                                 .dropped = t->dropped};
        cb(arg, &s);
    }
}
