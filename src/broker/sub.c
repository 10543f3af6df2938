/* Subscriptions: attach consumers to queues, topics (exact or wildcard) and durable
 * topic subscriptions; acknowledgements (auto, cumulative, individual), NACKs, and
 * the redelivery of whatever a closing consumer still held. */
#include "broker_int.h"

void *broker_sub_user(const broker_sub_t *sub) { return sub->user; }

static void sub_unref(broker_sub_t *s) {
    PMQ_ASSERT(s->refs > 0);
    if (--s->refs == 0) {
        PMQ_ASSERT(s->closed);
        pmq_free(s->pattern);
        pmq_free(s->dsub_name);
        pmq_free(s);
    }
}

static void attach_queue(broker_t *b, broker_sub_t *s, broker_queue_t *q) {
    s->queue = q;
    pmq_list_push_back(&q->consumers, &s->qlink);
    b->st.consumers++;
    broker__queue_mark_dirty(b, q);
}

static int attach_topic(broker_t *b, broker_sub_t *s, pmq_slice_t dest) {
    s->pattern = pmq_slice_dup(dest);
    if (s->pattern == NULL) {
        return PMQ_ENOMEM;
    }
    if (broker__is_wildcard(dest)) {
        s->wildcard = true;
        pmq_list_push_back(&b->wild_subs, &s->qlink);
        b->st.consumers++;
        return 0;
    }
    broker_topic_t *t = pmq_map_get(&b->topics, dest);
    if (t == NULL) {
        t = pmq_calloc(1, sizeof(*t));
        char *name = pmq_slice_dup(dest);
        if (t == NULL || name == NULL || pmq_map_put(&b->topics, pmq_slice_cstr(name), t) != 0) {
            pmq_free(name);
            pmq_free(t);
            return PMQ_ENOMEM;
        }
        t->name = name;
        pmq_list_init(&t->subs);
    }
    s->topic = t;
    pmq_list_push_back(&t->subs, &s->qlink);
    b->st.consumers++;
    return 0;
}

/* Called when the DSUB_ADD command for a durable subscription has been applied. */
static void dsub_created(void *cookie, int status) {
    broker_sub_t *s = cookie;
    broker_t *b = s->broker;
    if (!s->closed) {
        broker_queue_t *q = status == 0 ? broker__queue_get(b, pmq_slice_cstr(s->dsub_name)) : NULL;
        if (q != NULL) {
            attach_queue(b, s, q);
        } else {
            PMQ_LOG_WARN("dsub_create_failed", "name=%s err=%s", s->dsub_name,
                         pmq_strerror(status));
        }
    }
    if (s->durable_done != NULL) {
        s->durable_done(s->durable_done_arg, status);
    }
    sub_unref(s);
}

static int subscribe_durable(broker_t *b, broker_sub_t *s, const broker_sub_spec_t *spec) {
    pmq_buf_t name, cmd;
    pmq_buf_init(&name, 0);
    pmq_buf_init(&cmd, 0);
    broker__dsub_name(&name, spec->client_id, spec->durable_name);
    int rc = PMQ_ENOMEM;
    s->dsub_name = pmq_slice_dup(pmq_buf_slice(&name));
    if (name.len == 0 || s->dsub_name == NULL) {
        goto out;
    }
    broker_queue_t *q = broker__queue_get(b, pmq_buf_slice(&name));
    if (q != NULL && !pmq_list_is_empty(&q->consumers)) {
        rc = PMQ_EEXIST;
        goto out;
    }
    if (q != NULL && strcmp(q->pattern, s->pattern) == 0) {
        attach_queue(b, s, q);
        if (spec->durable_done != NULL) {
            spec->durable_done(spec->durable_done_arg, 0); /* already durable */
        }
        rc = 0;
        goto out;
    }
    /* New, or re-pointed at another topic: the subscription changes through the log. */
    rc = rlog_encode_dsub_add(&cmd, spec->client_id, spec->durable_name, spec->dest);
    if (rc == 0) {
        s->refs++;
        s->durable_done = spec->durable_done;
        s->durable_done_arg = spec->durable_done_arg;
        rc = b->log.propose(b->log.arg, pmq_buf_slice(&cmd), dsub_created, s);
        if (rc != 0) {
            s->refs--;
            s->durable_done = NULL;
        }
    }
out:
    pmq_buf_close(&name);
    pmq_buf_close(&cmd);
    return rc;
}

broker_sub_t *broker__sub_new(broker_t *b, const broker_consumer_ops_t *ops, void *owner,
                              void *user, broker_ack_mode_t ack_mode, uint32_t prefetch) {
    broker_sub_t *s = pmq_calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    *s = (broker_sub_t){.broker = b,
                        .ops = ops,
                        .owner = owner,
                        .user = user,
                        .ack_mode = ack_mode,
                        .prefetch = prefetch,
                        .refs = 1};
    pmq_list_init(&s->qlink);
    pmq_list_init(&s->inflight);
    pmq_list_init(&s->congestion_waiters);
    return s;
}

int broker_subscribe(broker_t *b, const broker_sub_spec_t *spec, const broker_consumer_ops_t *ops,
                     void *owner, broker_sub_t **out) {
    char reason[160];
    if (!broker_dest_is_valid(spec->dest, true, reason, sizeof(reason))) {
        return PMQ_EINVAL;
    }
    broker_sub_t *s = broker__sub_new(b, ops, owner, spec->user, spec->ack_mode,
                                      spec->prefetch ? spec->prefetch : b->opt.prefetch_default);
    if (s == NULL) {
        return PMQ_ENOMEM;
    }
    bool is_topic = pmq_slice_has_prefix(spec->dest, "/topic/") ||
                    pmq_slice_has_prefix(spec->dest, "/remote-temp-topic/");
    int rc;
    bool durable = is_topic && spec->durable_name.len > 0 && spec->client_id.len > 0 &&
                   pmq_slice_has_prefix(spec->dest, "/topic/");
    if (durable) {
        s->pattern = pmq_slice_dup(spec->dest);
        rc = s->pattern ? subscribe_durable(b, s, spec) : PMQ_ENOMEM;
    } else if (is_topic) {
        rc = attach_topic(b, s, spec->dest);
    } else {
        broker_queue_t *q = broker__queue_get(b, spec->dest);
        if (q == NULL && pmq_slice_has_prefix(spec->dest, "/remote-temp-queue/")) {
            rc = PMQ_ENOTFOUND; /* temp queues exist only while their owner lives */
        } else if (q == NULL && pmq_map_count(&b->queues) >= b->opt.destinations_max) {
            rc = PMQ_ETOOBIG;
        } else {
            q = q ? q : broker__queue_ensure(b, spec->dest, BQ_QUEUE);
            rc = q ? 0 : PMQ_ENOMEM;
            if (q != NULL) {
                attach_queue(b, s, q);
            }
        }
    }
    if (rc != 0) {
        s->closed = true;
        sub_unref(s);
        return rc;
    }
    if (!durable && spec->durable_done != NULL) {
        spec->durable_done(spec->durable_done_arg, 0); /* nothing to make durable */
    }
    *out = s;
    return 0;
}

/* Gives back every delivery s still holds, counting a redelivery for each. */
static void return_inflight(broker_t *b, broker_sub_t *s) {
    /* From the newest back to the oldest: each goes to the head of the ready list, so
     * the original order is restored. */
    while (!pmq_list_is_empty(&s->inflight)) {
        bq_entry_t *e = PMQ_CONTAINER_OF(s->inflight.prev, bq_entry_t, link);
        broker__entry_requeue(b, e, true, 0);
    }
}

void broker_unsubscribe(broker_t *b, broker_sub_t *s, bool remove_durable) {
    PMQ_ASSERT(!s->closed);
    return_inflight(b, s);
    broker__release_congestion(b, s);
    if (b->last_congested == s) {
        b->last_congested = NULL;
    }
    s->closed = true;
    if (pmq_list_is_linked(&s->qlink)) {
        pmq_list_remove(&s->qlink);
        PMQ_ASSERT(b->st.consumers > 0);
        b->st.consumers--;
    }
    if (s->topic != NULL && pmq_list_is_empty(&s->topic->subs)) {
        broker_topic_t *t = pmq_map_del(&b->topics, pmq_slice_cstr(s->topic->name));
        PMQ_ASSERT(t == s->topic);
        pmq_free(t->name);
        pmq_free(t);
    }
    if (remove_durable && s->dsub_name != NULL) {
        pmq_slice_t name = pmq_slice_cstr(s->dsub_name + 5); /* "CLIENT:NAME" */
        const char *colon = memchr(name.ptr, ':', name.len);
        pmq_buf_t cmd;
        pmq_buf_init(&cmd, 0);
        if (colon != NULL &&
            rlog_encode_dsub_del(&cmd, pmq_slice(name.ptr, (size_t)(colon - name.ptr)),
                                 pmq_slice_cstr(colon + 1)) == 0 &&
            b->log.propose(b->log.arg, pmq_buf_slice(&cmd), NULL, NULL) != 0) {
            PMQ_LOG_WARN("dsub_delete_failed", "name=%s", s->dsub_name);
        }
        pmq_buf_close(&cmd);
    }
    sub_unref(s);
}

int broker_durable_remove(broker_t *b, pmq_slice_t client_id, pmq_slice_t name,
                          broker_done_cb done, void *cookie) {
    pmq_buf_t qname, cmd;
    pmq_buf_init(&qname, 0);
    pmq_buf_init(&cmd, 0);
    broker__dsub_name(&qname, client_id, name);
    int rc = PMQ_ENOTFOUND;
    if (broker__queue_get(b, pmq_buf_slice(&qname)) != NULL) {
        rc = rlog_encode_dsub_del(&cmd, client_id, name);
        if (rc == 0) {
            rc = b->log.propose(b->log.arg, pmq_buf_slice(&cmd), done, cookie);
        }
    }
    pmq_buf_close(&qname);
    pmq_buf_close(&cmd);
    return rc;
}

void broker_sub_resume(broker_t *b, broker_sub_t *s) {
    if (s->paused) {
        s->paused = false;
        if (s->queue != NULL) {
            broker__queue_mark_dirty(b, s->queue);
        }
    }
    broker__release_congestion(b, s);
}

int broker_wait_congestion(broker_t *b, void (*cb)(void *), void *arg, broker_waiter_t **out) {
    broker_sub_t *s = b->last_congested;
    b->last_congested = NULL;
    if (s == NULL || s->closed) {
        return PMQ_ENOTFOUND;
    }
    broker_waiter_t *w = pmq_calloc(1, sizeof(*w));
    if (w == NULL) {
        return PMQ_ENOMEM;
    }
    w->cb = cb;
    w->arg = arg;
    pmq_list_push_back(&s->congestion_waiters, &w->link);
    *out = w;
    return 0;
}

static bq_entry_t *find_inflight(const broker_sub_t *s, uint64_t tag) {
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, (pmq_list_t *)&s->inflight) {
        bq_entry_t *e = PMQ_CONTAINER_OF(it, bq_entry_t, link);
        if (e->tag == tag) {
            return e;
        }
    }
    return NULL;
}

int broker_sub_find_tag(const broker_sub_t *s, pmq_slice_t message_id, uint64_t *tag) {
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, (pmq_list_t *)&s->inflight) {
        bq_entry_t *e = PMQ_CONTAINER_OF(it, bq_entry_t, link);
        if (pmq_slice_eq(e->msg->id, message_id)) {
            *tag = e->tag;
            return 0;
        }
    }
    return PMQ_ENOTFOUND;
}

/* Acks one entry: volatile ones go now, durable ones join the queue's ACK batch. */
static int ack_entry(broker_t *b, bq_entry_t *e, broker_done_cb done, void *cookie) {
    broker_queue_t *q = e->queue;
    b->st.acked++;
    if (!e->msg->persistent) {
        broker__entry_remove(b, e);
        return 0;
    }
    /* Leave the consumer's window now (as ActiveMQ does); the entry is PENDING until
     * the ACK command is applied. */
    PMQ_ASSERT(e->state == BQ_INFLIGHT);
    e->owner->inflight_count--;
    q->inflight--;
    e->owner = NULL;
    pmq_list_remove(&e->link);
    e->state = BQ_PENDING;
    broker__queue_mark_dirty(b, q);
    int rc = broker__batch_add(b, q, &q->acks, e->seq);
    if (rc == 0 && done != NULL) {
        rc = broker__waitlist_add(&q->acks.waiters, done, cookie);
    }
    return rc;
}

int broker_ack(broker_t *b, broker_sub_t *s, uint64_t tag, broker_done_cb done, void *cookie) {
    if (s->queue == NULL) {
        /* Topic subscriptions hold nothing to acknowledge; accept tags we handed out. */
        return tag >= 1 && tag <= s->next_tag ? 0 : PMQ_ENOTFOUND;
    }
    bq_entry_t *target = find_inflight(s, tag);
    if (target == NULL) {
        return PMQ_ENOTFOUND;
    }
    int rc = 0;
    bool waiting = false;
    if (s->ack_mode == BROKER_ACK_CLIENT) {
        /* Cumulative: everything delivered before target on this subscription too. */
        while (!pmq_list_is_empty(&s->inflight) && rc == 0) {
            bq_entry_t *e = PMQ_CONTAINER_OF(s->inflight.next, bq_entry_t, link);
            bool last = e == target;
            bool durable = e->msg->persistent;
            rc = ack_entry(b, e, last && durable ? done : NULL, cookie);
            waiting |= last && durable;
            if (last) {
                break;
            }
        }
    } else {
        waiting = target->msg->persistent;
        rc = ack_entry(b, target, done, cookie);
    }
    if (rc == 0 && !waiting && done != NULL) {
        done(cookie, 0);
    }
    return rc;
}

int broker_nack(broker_t *b, broker_sub_t *s, uint64_t tag) {
    if (s->queue == NULL) {
        return tag >= 1 && tag <= s->next_tag ? 0 : PMQ_ENOTFOUND;
    }
    bq_entry_t *target = find_inflight(s, tag);
    if (target == NULL) {
        return PMQ_ENOTFOUND;
    }
    if (s->ack_mode == BROKER_ACK_CLIENT) {
        /* Cumulative: target and everything delivered before it, requeued newest first
         * so the queue keeps their order. */
        pmq_list_t *it = &target->link;
        while (it != &s->inflight) {
            pmq_list_t *prev = it->prev;
            broker__entry_requeue(b, PMQ_CONTAINER_OF(it, bq_entry_t, link), true, 0);
            it = prev;
        }
    } else {
        broker__entry_requeue(b, target, true, 0);
    }
    return 0;
}

int broker_ack_encode(broker_t *b, broker_sub_t *s, uint64_t tag, pmq_buf_t *txn, size_t mark,
                      bool *has_durable) {
    if (s->queue == NULL) {
        return 0;
    }
    bq_entry_t *target = find_inflight(s, tag);
    if (target == NULL) {
        return 0; /* already acked or redelivered elsewhere: nothing to do at COMMIT */
    }
    pmq_buf_t op;
    pmq_buf_init(&op, 0);
    int rc = 0;
    for (;;) {
        bq_entry_t *e = s->ack_mode == BROKER_ACK_CLIENT
                            ? PMQ_CONTAINER_OF(s->inflight.next, bq_entry_t, link)
                            : target;
        bool last = e == target;
        if (e->msg->persistent) {
            pmq_buf_reset(&op);
            rc = rlog_encode_seqs(&op, RLOG_CMD_ACK, pmq_slice_cstr(e->queue->name),
                                  pmq_slice(NULL, 0), &e->seq, 1);
            if (rc == 0) {
                rc = rlog_txn_add_op(txn, mark, pmq_buf_slice(&op));
            }
            if (rc != 0) {
                break;
            }
            *has_durable = true;
            /* Out of the consumer's window, PENDING until the transaction applies. */
            e->owner->inflight_count--;
            e->queue->inflight--;
            e->owner = NULL;
            pmq_list_remove(&e->link);
            e->state = BQ_PENDING;
            b->st.acked++;
        } else {
            rc = ack_entry(b, e, NULL, NULL);
        }
        if (last || rc != 0) {
            break;
        }
    }
    pmq_buf_close(&op);
    return rc;
}
