/* Queue entries and dispatch: priority-ordered ready lists, round-robin delivery to
 * consumers under their prefetch window, redelivery, expiry at dispatch, and the
 * fan-out of topic publishes. Volatile bookkeeping only; durable changes to entries
 * come from apply.c. */
#include "broker_int.h"

static pmq_slice_t seq_key(const bq_entry_t *e) { return pmq_slice(&e->seq, sizeof(e->seq)); }

int broker__enqueue(broker_t *b, broker_queue_t *q, pmq_msg_t *m) {
    bq_entry_t *e = pmq_calloc(1, sizeof(*e));
    if (e == NULL) {
        return PMQ_ENOMEM;
    }
    e->msg = m;
    e->queue = q;
    e->seq = m->seq;
    e->state = BQ_READY;
    if (pmq_map_put(&q->by_seq, seq_key(e), e) != 0) {
        pmq_free(e);
        return PMQ_ENOMEM;
    }
    pmq_msg_ref(m);
    pmq_list_push_back(&q->ready[m->priority], &e->link);
    q->ready_count++;
    q->depth++;
    q->bytes += m->bytes;
    q->enqueued++;
    b->st.messages++;
    b->st.message_bytes += m->bytes;
    broker__queue_mark_dirty(b, q);
    return 0;
}

/* Takes e out of whatever list holds it, keeping the counters true. */
static void entry_unlink(broker_queue_t *q, bq_entry_t *e) {
    if (e->state == BQ_READY) {
        PMQ_ASSERT(q->ready_count > 0);
        q->ready_count--;
    } else if (e->state == BQ_INFLIGHT) {
        PMQ_ASSERT(e->owner != NULL);
        PMQ_ASSERT(e->owner->inflight_count > 0);
        e->owner->inflight_count--;
        q->inflight--;
        e->owner = NULL;
    }
    pmq_list_remove(&e->link);
}

void broker__entry_remove(broker_t *b, bq_entry_t *e) {
    broker_queue_t *q = e->queue;
    bool had_owner = e->state == BQ_INFLIGHT;
    entry_unlink(q, e);
    void *gone = pmq_map_del(&q->by_seq, seq_key(e));
    PMQ_ASSERT(gone == e);
    PMQ_ASSERT(q->depth > 0);
    q->depth--;
    q->bytes -= e->msg->bytes;
    b->st.messages--;
    b->st.message_bytes -= e->msg->bytes;
    pmq_msg_unref(e->msg);
    pmq_free(e);
    if (had_owner) {
        broker__queue_mark_dirty(b, q); /* its consumer has room again */
    }
    if (!pmq_list_is_empty(&q->waiters) && broker__queue_has_room(b, q)) {
        broker__wake_waiters(b, q);
    }
}

static void entry_to_dlq(broker_t *b, bq_entry_t *e) {
    broker_queue_t *q = e->queue;
    if (!e->msg->persistent || q->kind == BQ_TEMP) {
        /* As ActiveMQ does by default: non-persistent messages are not dead-lettered. */
        q->dlq_moves++;
        b->st.dlq_moves++;
        broker__entry_remove(b, e);
        return;
    }
    entry_unlink(q, e);
    e->state = BQ_PENDING;
    if (broker__batch_add(b, q, &q->dlqs, e->seq) != 0) {
        /* Out of memory for the batch: keep the message deliverable rather than lose it. */
        e->state = BQ_READY;
        pmq_list_push_front(&q->ready[e->msg->priority], &e->link);
        q->ready_count++;
    }
}

void broker__entry_requeue(broker_t *b, bq_entry_t *e, bool count_redelivery, uint64_t now_ms) {
    (void)now_ms;
    broker_queue_t *q = e->queue;
    PMQ_ASSERT(e->state == BQ_INFLIGHT);
    entry_unlink(q, e);
    if (count_redelivery) {
        e->redeliveries++;
        q->redelivered++;
        b->st.redelivered++;
        if (e->redeliveries > b->opt.max_redeliveries) {
            e->state = BQ_READY; /* entry_to_dlq unlinks from a self-linked node: harmless */
            q->ready_count++;
            entry_to_dlq(b, e);
            broker__queue_mark_dirty(b, q); /* its consumer has a free slot now */
            return;
        }
    }
    e->state = BQ_READY;
    /* Redelivered messages go back to the head so order is kept as far as possible. */
    pmq_list_push_front(&q->ready[e->msg->priority], &e->link);
    q->ready_count++;
    broker__queue_mark_dirty(b, q);
}

static bq_entry_t *pop_ready(broker_queue_t *q) {
    for (int p = BROKER_PRIORITIES - 1; p >= 0; p--) {
        pmq_list_t *n = pmq_list_first(&q->ready[p]);
        if (n != NULL) {
            return PMQ_CONTAINER_OF(n, bq_entry_t, link);
        }
    }
    return NULL;
}

static bool entry_expired(const bq_entry_t *e, uint64_t now_ms) {
    return e->msg->expires_ms != 0 && e->msg->expires_ms <= now_ms;
}

static void entry_expire(broker_t *b, bq_entry_t *e) {
    broker_queue_t *q = e->queue;
    q->expired++;
    b->st.expired++;
    if (!e->msg->persistent) {
        broker__entry_remove(b, e);
        return;
    }
    entry_unlink(q, e);
    e->state = BQ_PENDING;
    if (broker__batch_add(b, q, &q->expires, e->seq) != 0) {
        e->state = BQ_READY;
        pmq_list_push_back(&q->ready[e->msg->priority], &e->link);
        q->ready_count++;
    }
}

static broker_sub_t *next_consumer(broker_queue_t *q) {
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &q->consumers) {
        broker_sub_t *s = PMQ_CONTAINER_OF(it, broker_sub_t, qlink);
        if (!s->closed && !s->paused && s->inflight_count < s->prefetch) {
            return s;
        }
    }
    return NULL;
}

/* Hands e to s. Returns false when the connection is full (s is paused then). */
static bool deliver_entry(broker_t *b, broker_queue_t *q, broker_sub_t *s, bq_entry_t *e) {
    broker_delivery_t d = {.msg = e->msg,
                           .tag = ++s->next_tag,
                           .redelivered = e->redeliveries > 0,
                           .redeliveries = e->redeliveries,
                           .dest = q->kind == BQ_DSUB ? e->msg->dest : pmq_slice_cstr(q->name)};
    if (pmq_slice_eq_cstr(pmq_slice_cstr(q->name), b->dlq_name) &&
        !pmq_slice_eq_cstr(e->msg->dest, b->dlq_name)) {
        d.original_dest = e->msg->dest;
    }
    int rc = s->ops->deliver(s->owner, s, &d);
    if (rc == PMQ_EAGAIN) {
        s->paused = true; /* written; nothing more until the connection drains */
    } else if (rc != 0) {
        s->paused = true;
        return false;
    }
    b->st.delivered++;
    q->dequeued++;
    pmq_list_remove(&e->link);
    q->ready_count--;
    e->state = BQ_PENDING; /* out of the ready list; the branches below settle it */
    if (s->ack_mode == BROKER_ACK_AUTO) {
        /* Delivered is acknowledged: volatile messages go now, durable ones through the log. */
        b->st.acked++;
        if (!e->msg->persistent) {
            broker__entry_remove(b, e);
            return true;
        }
        if (broker__batch_add(b, q, &q->acks, e->seq) != 0) {
            PMQ_LOG_ERROR("ack_batch_failed", "queue=%s seq=%llu", q->name,
                          (unsigned long long)e->seq);
        }
        return true;
    }
    e->state = BQ_INFLIGHT;
    e->owner = s;
    e->tag = d.tag;
    pmq_list_push_back(&s->inflight, &e->link);
    s->inflight_count++;
    q->inflight++;
    return true;
}

void broker__queue_dispatch(broker_t *b, broker_queue_t *q, uint64_t now_ms, uint32_t *budget) {
    while (*budget > 0 && q->ready_count > 0) {
        bq_entry_t *e = pop_ready(q);
        PMQ_ASSERT(e != NULL);
        if (entry_expired(e, now_ms)) {
            entry_expire(b, e);
            continue;
        }
        broker_sub_t *s = next_consumer(q);
        if (s == NULL) {
            return;
        }
        if (!deliver_entry(b, q, s, e)) {
            continue; /* s is paused now; try the next consumer */
        }
        (*budget)--;
        /* Round robin: the consumer that just received goes to the back. */
        pmq_list_remove(&s->qlink);
        pmq_list_push_back(&q->consumers, &s->qlink);
    }
}

void broker__queue_clear(broker_t *b, broker_queue_t *q) {
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&q->by_seq, &pos, NULL, &v)) {
        broker__entry_remove(b, v);
    }
}

bool broker__queue_has_room(const broker_t *b, const broker_queue_t *q) {
    return q->depth + q->admitted_pending < b->opt.queue_depth_max &&
           q->bytes < b->opt.queue_bytes_max;
}

void broker__wake_waiters(broker_t *b, broker_queue_t *q) {
    if (pmq_list_is_empty(&q->waiters)) {
        return;
    }
    while (!pmq_list_is_empty(&q->waiters)) {
        pmq_list_t *n = q->waiters.next;
        pmq_list_remove(n);
        pmq_list_push_back(&b->wake, n);
    }
    broker__kick(b);
}

static void topic_deliver(broker_t *b, broker_topic_t *t, broker_sub_t *s, pmq_msg_t *m) {
    if (s->closed || s->queue != NULL) {
        return;
    }
    broker_delivery_t d = {.msg = m, .tag = ++s->next_tag, .dest = m->dest, .soft_limit = true};
    int rc = s->ops->deliver(s->owner, s, &d);
    if (rc == PMQ_EAGAIN) {
        /* Written, but the subscriber is behind: hold the producer back (flow control). */
        s->paused = true;
        if (b->last_congested == NULL) {
            b->last_congested = s;
        }
    } else if (rc != 0) {
        /* Past the hard cap (a subscriber that does not read at all): it loses the
         * message rather than growing the broker's memory. */
        b->st.dropped_slow++;
        if (t != NULL) {
            t->dropped++;
        }
        if (b->last_congested == NULL) {
            b->last_congested = s;
        }
        return;
    }
    b->st.delivered++;
}

void broker__release_congestion(broker_t *b, broker_sub_t *s) {
    if (pmq_list_is_empty(&s->congestion_waiters)) {
        return;
    }
    while (!pmq_list_is_empty(&s->congestion_waiters)) {
        pmq_list_t *n = s->congestion_waiters.next;
        pmq_list_remove(n);
        pmq_list_push_back(&b->wake, n);
    }
    broker__kick(b);
}

void broker__topic_publish(broker_t *b, pmq_slice_t dest, pmq_msg_t *m, bool durable_copies) {
    b->last_congested = NULL;
    broker_topic_t *t = pmq_map_get(&b->topics, dest);
    pmq_list_t *it, *tmp;
    if (t != NULL) {
        t->enqueued++;
        PMQ_LIST_FOREACH_SAFE(it, tmp, &t->subs) {
            topic_deliver(b, t, PMQ_CONTAINER_OF(it, broker_sub_t, qlink), m);
        }
    }
    PMQ_LIST_FOREACH_SAFE(it, tmp, &b->wild_subs) {
        broker_sub_t *s = PMQ_CONTAINER_OF(it, broker_sub_t, qlink);
        if (broker__pattern_matches(pmq_slice_cstr(s->pattern), dest)) {
            topic_deliver(b, NULL, s, m);
        }
    }
    /* Durable subscriptions keep persistent messages always, volatile ones only while a
     * consumer is attached (ActiveMQ semantics). */
    PMQ_LIST_FOREACH_SAFE(it, tmp, &b->dsubs) {
        broker_queue_t *q = PMQ_CONTAINER_OF(it, broker_queue_t, dsub_link);
        if (!broker__pattern_matches(pmq_slice_cstr(q->pattern), dest)) {
            continue;
        }
        if (!durable_copies && pmq_list_is_empty(&q->consumers)) {
            continue;
        }
        if (broker__enqueue(b, q, m) != 0) {
            PMQ_LOG_ERROR("dsub_enqueue_failed", "queue=%s", q->name);
        }
    }
    broker__mqtt_topic_publish(b, dest, m, durable_copies); /* MQTT sessions: mqtt_state.c */
}
