/* MQTT sessions in the broker: the filter index that routes topic publishes to sessions
 * (once per message per session, at the effective QoS), durable sessions changed only by
 * MQTT commands in apply (their queue "mqtt:CLIENT", filters, limit and QoS 2 state), and
 * volatile clean sessions changed directly. Not here: packets, packet ids in flight on a
 * connection, keep-alive (proto/mqtt). Invariants: a durable session's queue holds only
 * persistent messages, so its depth, and the drop decision at the limit, are the same on
 * every node that applied the same commands; volatile sessions never touch durable state. */
#include <stdio.h>

#include "broker_int.h"

#define TOPIC_PREFIX "/topic/"
#define TOPIC_PREFIX_LEN 7

uint8_t broker_msg_mqtt_qos(const pmq_msg_t *m) {
    if (!m->persistent) {
        return 0;
    }
    pmq_slice_t v;
    return pmq_msg_header(m, BROKER_MQTT_QOS_HEADER, &v) && pmq_slice_eq_cstr(v, "2") ? 2 : 1;
}

broker_mqtt_t *broker__mqtt_state(broker_t *b) {
    if (b->mqtt == NULL) {
        broker_mqtt_t *mq = pmq_calloc(1, sizeof(*mq));
        if (mq == NULL) {
            return NULL;
        }
        pmq_map_init(&mq->durable);
        pmq_map_init(&mq->volatiles);
        pmq_map_init(&mq->exact);
        pmq_map_init(&mq->retained);
        pmq_list_init(&mq->wild);
        b->mqtt = mq;
    }
    return b->mqtt;
}

bool broker__mqtt_dollar_ok(pmq_slice_t pattern, pmq_slice_t dest) {
    /* MQTT 3.1.1 §4.7.2 [MQTT-4.7.2-1]: "#" and "+/..." do not match "$SYS/...". */
    if (dest.len <= TOPIC_PREFIX_LEN || dest.ptr[TOPIC_PREFIX_LEN] != '$') {
        return true;
    }
    if (pattern.len <= TOPIC_PREFIX_LEN) {
        return true;
    }
    char c = pattern.ptr[TOPIC_PREFIX_LEN];
    bool whole_level = pattern.len == TOPIC_PREFIX_LEN + 1 ||
                       pattern.ptr[TOPIC_PREFIX_LEN + 1] == '.';
    return !((c == '*' || c == '>') && whole_level);
}

/* ---- sorted packet id sets ---- */

static bool pids_find(const bm_pids_t *s, uint16_t pid, uint32_t *at) {
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->v[mid] < pid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *at = lo;
    return lo < s->n && s->v[lo] == pid;
}

static int pids_add(bm_pids_t *s, uint16_t pid) {
    uint32_t at;
    if (pids_find(s, pid, &at)) {
        return 0;
    }
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 8;
        uint16_t *v = pmq_realloc(s->v, cap * sizeof(*v));
        if (v == NULL) {
            return PMQ_ENOMEM;
        }
        s->v = v;
        s->cap = cap;
    }
    memmove(s->v + at + 1, s->v + at, (s->n - at) * sizeof(*s->v));
    s->v[at] = pid;
    s->n++;
    PMQ_DASSERT(at == 0 || s->v[at - 1] < pid);
    return 0;
}

static void pids_del(bm_pids_t *s, uint16_t pid) {
    uint32_t at;
    if (pids_find(s, pid, &at)) {
        memmove(s->v + at, s->v + at + 1, (s->n - at - 1) * sizeof(*s->v));
        s->n--;
    }
}

static void pids_free(bm_pids_t *s) {
    pmq_free(s->v);
    *s = (bm_pids_t){0};
}

/* ---- the filter index ---- */

static void filter_unindex(broker_mqtt_t *mq, bm_filter_t *f) {
    pmq_list_remove(&f->link);
    if (f->wild) {
        return;
    }
    pmq_slice_t key = pmq_slice(f->pattern, f->len);
    bm_bucket_t *bk = pmq_map_get(&mq->exact, key);
    PMQ_ASSERT(bk != NULL);
    if (pmq_list_is_empty(&bk->filters)) {
        void *gone = pmq_map_del(&mq->exact, key);
        PMQ_ASSERT(gone == bk);
        pmq_free(bk->key);
        pmq_free(bk);
    }
}

static int filter_index(broker_mqtt_t *mq, bm_filter_t *f) {
    if (f->wild) {
        pmq_list_push_back(&mq->wild, &f->link);
        return 0;
    }
    pmq_slice_t key = pmq_slice(f->pattern, f->len);
    bm_bucket_t *bk = pmq_map_get(&mq->exact, key);
    if (bk == NULL) {
        bk = pmq_calloc(1, sizeof(*bk));
        char *k = pmq_slice_dup(key);
        if (bk == NULL || k == NULL || pmq_map_put(&mq->exact, pmq_slice_cstr(k), bk) != 0) {
            pmq_free(k);
            pmq_free(bk);
            return PMQ_ENOMEM;
        }
        bk->key = k;
        pmq_list_init(&bk->filters);
    }
    pmq_list_push_back(&bk->filters, &f->link);
    return 0;
}

static bm_filter_t *filter_find(const broker_msess_t *s, pmq_slice_t pattern, uint32_t *at) {
    for (uint32_t i = 0; i < s->filter_count; i++) {
        bm_filter_t *f = s->filters[i];
        if (pmq_slice_eq(pmq_slice(f->pattern, f->len), pattern)) {
            *at = i;
            return f;
        }
    }
    return NULL;
}

/* Adds or updates one filter. PMQ_ETOOBIG at the per-session limit (deterministic, so
 * apply may use it), PMQ_ENOMEM. */
static int filter_set(broker_mqtt_t *mq, broker_msess_t *s, pmq_slice_t pattern, uint8_t qos) {
    PMQ_ASSERT(qos <= 2);
    uint32_t at;
    bm_filter_t *f = filter_find(s, pattern, &at);
    if (f != NULL) {
        f->qos = qos; /* [MQTT-3.8.4-3]: a repeated filter replaces the old one */
        return 0;
    }
    if (s->filter_count >= BROKER_MQTT_FILTERS_MAX) {
        return PMQ_ETOOBIG;
    }
    if (s->filter_count == s->filter_cap) {
        uint32_t cap = s->filter_cap ? s->filter_cap * 2 : 4;
        bm_filter_t **v = pmq_realloc(s->filters, cap * sizeof(*v));
        if (v == NULL) {
            return PMQ_ENOMEM;
        }
        s->filters = v;
        s->filter_cap = cap;
    }
    f = pmq_calloc(1, sizeof(*f) + pattern.len + 1);
    if (f == NULL) {
        return PMQ_ENOMEM;
    }
    memcpy(f->pattern, pattern.ptr, pattern.len);
    f->len = pattern.len;
    f->sess = s;
    f->qos = qos;
    f->wild = broker__is_wildcard(pattern);
    f->skips_dollar = !broker__mqtt_dollar_ok(pattern, PMQ_SLICE_LIT(TOPIC_PREFIX "$"));
    if (filter_index(mq, f) != 0) {
        pmq_free(f);
        return PMQ_ENOMEM;
    }
    s->filters[s->filter_count++] = f;
    mq->st.filters++;
    return 0;
}

static bool filter_del(broker_mqtt_t *mq, broker_msess_t *s, pmq_slice_t pattern) {
    uint32_t at;
    bm_filter_t *f = filter_find(s, pattern, &at);
    if (f == NULL) {
        return false;
    }
    filter_unindex(mq, f);
    pmq_free(f);
    s->filters[at] = s->filters[--s->filter_count];
    PMQ_ASSERT(mq->st.filters > 0);
    mq->st.filters--;
    return true;
}

/* ---- sessions ---- */

static broker_msess_t *sess_new(pmq_slice_t client_id, bool durable) {
    broker_msess_t *s = pmq_calloc(1, sizeof(*s));
    char *id = pmq_slice_dup(client_id);
    if (s == NULL || id == NULL) {
        pmq_free(s);
        pmq_free(id);
        return NULL;
    }
    s->client_id = id;
    s->durable = durable;
    return s;
}

/* Releases the flow-control anchor: producers it held back go on. */
static void anchor_drop(broker_t *b, broker_msess_t *s) {
    if (s->anchor != NULL) {
        broker_unsubscribe(b, s->anchor, false);
        s->anchor = NULL;
    }
}

/* Frees a session that is in no map any more, with its filters and state (not its queue). */
static void sess_free(broker_mqtt_t *mq, broker_msess_t *s) {
    PMQ_ASSERT(s->anchor == NULL);
    while (s->filter_count > 0) {
        bool gone = filter_del(mq, s, pmq_slice(s->filters[0]->pattern, s->filters[0]->len));
        PMQ_ASSERT(gone);
    }
    pmq_free(s->filters);
    pids_free(&s->qos2_in);
    pids_free(&s->out_rel);
    pmq_free(s->binds);
    pmq_free(s->client_id);
    pmq_free(s);
}

broker_msess_t *broker_msess_find(const broker_t *b, pmq_slice_t client_id) {
    return b->mqtt != NULL ? pmq_map_get(&b->mqtt->durable, client_id) : NULL;
}

bool broker_msess_is_durable(const broker_msess_t *s) { return s->durable; }
uint32_t broker_msess_limit(const broker_msess_t *s) { return s->limit; }
uint32_t broker_msess_filter_count(const broker_msess_t *s) { return s->filter_count; }

uint64_t broker_msess_queued(const broker_msess_t *s) {
    return s->queue != NULL ? s->queue->depth : 0;
}

int broker_msess_new_volatile(broker_t *b, pmq_slice_t client_id, broker_msess_t **out) {
    broker_mqtt_t *mq = broker__mqtt_state(b);
    broker_msess_t *s = mq ? sess_new(client_id, false) : NULL;
    if (s == NULL) {
        return PMQ_ENOMEM;
    }
    PMQ_ASSERT(pmq_map_get(&mq->volatiles, client_id) == NULL);
    if (pmq_map_put(&mq->volatiles, pmq_slice_cstr(s->client_id), s) != 0) {
        sess_free(mq, s);
        return PMQ_ENOMEM;
    }
    mq->st.volatile_sessions++;
    *out = s;
    return 0;
}

void broker_msess_free_volatile(broker_t *b, broker_msess_t *s) {
    if (s == NULL) {
        return;
    }
    PMQ_ASSERT(!s->durable);
    broker_mqtt_t *mq = b->mqtt;
    anchor_drop(b, s);
    void *gone = pmq_map_del(&mq->volatiles, pmq_slice_cstr(s->client_id));
    PMQ_ASSERT(gone == s);
    mq->st.volatile_sessions--;
    sess_free(mq, s);
}

int broker_msess_sub_volatile(broker_t *b, broker_msess_t *s, pmq_slice_t pattern, uint8_t qos) {
    PMQ_ASSERT(!s->durable);
    PMQ_ASSERT(pattern.len > 0 && pattern.len <= RLOG_NAME_BYTES_MAX);
    return filter_set(b->mqtt, s, pattern, qos);
}

bool broker_msess_unsub_volatile(broker_t *b, broker_msess_t *s, pmq_slice_t pattern) {
    PMQ_ASSERT(!s->durable);
    return filter_del(b->mqtt, s, pattern);
}

void broker_msess_bind(broker_t *b, broker_msess_t *s, const broker_mqtt_ops_t *ops, void *owner) {
    PMQ_ASSERT(ops != NULL && owner != NULL);
    s->ops = ops;
    s->owner = owner;
    if (s->anchor == NULL) {
        /* A subscription object attached to nothing: broker_wait_congestion parks held
         * publishers on it (sub.c). Without one (no memory) there is no flow control. */
        s->anchor = broker__sub_new(b, NULL, owner, NULL, BROKER_ACK_AUTO, 1);
    }
}

void broker_msess_drained(broker_t *b, broker_msess_t *s) {
    if (s->anchor != NULL) {
        broker_sub_resume(b, s->anchor);
    }
}

void broker_msess_unbind(broker_t *b, broker_msess_t *s) {
    s->ops = NULL;
    s->owner = NULL;
    anchor_drop(b, s);
    if (s->removed) {
        /* Closed by apply while bound: its queue could not go then. */
        PMQ_ASSERT(pmq_list_is_empty(&s->queue->consumers));
        broker__queue_destroy(b, s->queue);
        sess_free(b->mqtt, s);
    }
}

int broker_msess_consume(broker_t *b, broker_msess_t *s, const broker_consumer_ops_t *ops,
                         void *owner, uint32_t prefetch, void *user, broker_sub_t **out) {
    if (!s->durable || s->queue == NULL) {
        return PMQ_EINVAL;
    }
    /* Like a queue subscription (sub.c), without a destination name to resolve. */
    broker_sub_t *sub = broker__sub_new(b, ops, owner, user, BROKER_ACK_CLIENT_INDIVIDUAL,
                                        prefetch > 0 ? prefetch : 1);
    if (sub == NULL) {
        return PMQ_ENOMEM;
    }
    sub->queue = s->queue;
    pmq_list_push_back(&s->queue->consumers, &sub->qlink);
    b->st.consumers++;
    broker__queue_mark_dirty(b, s->queue);
    *out = sub;
    return 0;
}

uint8_t broker_msess_qos_for(const broker_msess_t *s, const pmq_msg_t *m) {
    uint8_t best = 1;
    for (uint32_t i = 0; i < s->filter_count; i++) {
        const bm_filter_t *f = s->filters[i];
        pmq_slice_t p = pmq_slice(f->pattern, f->len);
        if (f->qos > best && broker__mqtt_dollar_ok(p, m->dest) &&
            broker__pattern_matches(p, m->dest)) {
            best = f->qos;
        }
    }
    uint8_t mqos = broker_msg_mqtt_qos(m);
    return mqos < best ? (mqos > 0 ? mqos : 1) : best;
}

uint32_t broker_msess_qos2_in(const broker_msess_t *s, const uint16_t **pids) {
    *pids = s->qos2_in.v;
    return s->qos2_in.n;
}

uint32_t broker_msess_out_rel(const broker_msess_t *s, const uint16_t **pids) {
    *pids = s->out_rel.v;
    return s->out_rel.n;
}

bool broker_msess_out_pid(const broker_msess_t *s, uint64_t seq, uint16_t *pid) {
    for (uint32_t i = 0; i < s->bind_count; i++) {
        if (s->binds[i].seq == seq) {
            *pid = s->binds[i].pid;
            return true;
        }
    }
    return false;
}

bool broker_msess_pid_in_use(const broker_msess_t *s, uint16_t pid) {
    uint32_t at;
    if (pids_find(&s->out_rel, pid, &at)) {
        return true;
    }
    for (uint32_t i = 0; i < s->bind_count; i++) {
        if (s->binds[i].pid == pid) {
            return true;
        }
    }
    return false;
}

void broker_mqtt_stats_get(const broker_t *b, broker_mqtt_stats_t *out) {
    if (b->mqtt == NULL) {
        *out = (broker_mqtt_stats_t){0};
        return;
    }
    *out = b->mqtt->st;
    out->durable_sessions = pmq_map_count(&b->mqtt->durable);
    out->retained = pmq_map_count(&b->mqtt->retained);
}

/* ---- routing a topic publish ---- */

static void touch(broker_mqtt_t *mq, const bm_filter_t *f, size_t *n) {
    broker_msess_t *s = f->sess;
    if (s->seen_gen == mq->gen) {
        s->best_qos = PMQ_MAX(s->best_qos, f->qos);
        return;
    }
    if (*n == mq->touched_cap) {
        size_t cap = mq->touched_cap ? mq->touched_cap * 2 : 16;
        broker_msess_t **v = pmq_realloc(mq->touched, cap * sizeof(*v));
        if (v == NULL) {
            PMQ_LOG_ERROR("mqtt_route_alloc_failed", "client=%s", s->client_id);
            return;
        }
        mq->touched = v;
        mq->touched_cap = cap;
    }
    s->seen_gen = mq->gen;
    s->best_qos = f->qos;
    mq->touched[(*n)++] = s;
}

/* One matched session: queue the message (durable, persistent, QoS >= 1: the same
 * decision on every node), or hand it to the online owner, or drop it (offline, QoS 0). */
static void route(broker_t *b, broker_mqtt_t *mq, broker_msess_t *s, pmq_msg_t *m, uint8_t qos,
                  bool durable_copies) {
    if (s->durable && qos >= 1 && durable_copies && m->persistent) {
        if (s->queue->depth >= s->limit) {
            mq->st.queued_dropped++;
            PMQ_LOG_DEBUG("mqtt_queue_full", "client=%s limit=%u", s->client_id, s->limit);
            return;
        }
        if (broker__enqueue(b, s->queue, m) != 0) {
            PMQ_LOG_ERROR("mqtt_enqueue_failed", "client=%s", s->client_id);
        }
        return;
    }
    if (s->ops == NULL) {
        return; /* offline: QoS 0 messages are not kept for an absent client */
    }
    int rc = s->ops->deliver(s->owner, m, qos);
    if (rc != 0 && b->last_congested == NULL && s->anchor != NULL) {
        b->last_congested = s->anchor; /* the publisher waits for this client to drain */
    }
    if (rc != 0 && rc != PMQ_EAGAIN) {
        mq->st.direct_dropped++;
        b->st.dropped_slow++;
        return;
    }
    b->st.delivered++;
}

/* Whether the topic maps to a valid MQTT topic name (§4.7.3): UTF-8 without U+0000 and
 * no '*' or '>' (they would become wildcards). STOMP can publish names that do not. */
static bool topic_is_mqtt(pmq_slice_t dest) {
    pmq_slice_t name = pmq_slice(dest.ptr + TOPIC_PREFIX_LEN, dest.len - TOPIC_PREFIX_LEN);
    bool ascii = true;
    for (size_t i = 0; i < name.len; i++) {
        unsigned char c = (unsigned char)name.ptr[i];
        if (c == '*' || c == '>') {
            return false;
        }
        ascii &= c - 1u < 0x7Fu; /* 1..127: no NUL, no multi-byte sequence */
    }
    /* One pass for the common all-ASCII name; the full UTF-8 check only otherwise. */
    return name.len > 0 && (ascii || pmq_utf8_is_valid(name, true));
}

void broker__mqtt_topic_publish(broker_t *b, pmq_slice_t dest, pmq_msg_t *m, bool durable_copies) {
    broker_mqtt_t *mq = b->mqtt;
    if (mq == NULL || (pmq_map_count(&mq->exact) == 0 && pmq_list_is_empty(&mq->wild))) {
        return;
    }
    if (!pmq_slice_has_prefix(dest, TOPIC_PREFIX)) {
        return;
    }
    bool dollar = dest.len > TOPIC_PREFIX_LEN && dest.ptr[TOPIC_PREFIX_LEN] == '$';
    mq->gen++;
    size_t n = 0;
    pmq_list_t *it, *tmp;
    bm_bucket_t *bk = pmq_map_get(&mq->exact, dest);
    if (bk != NULL) {
        PMQ_LIST_FOREACH_SAFE(it, tmp, &bk->filters) {
            touch(mq, PMQ_CONTAINER_OF(it, bm_filter_t, link), &n);
        }
    }
    PMQ_LIST_FOREACH_SAFE(it, tmp, &mq->wild) {
        bm_filter_t *f = PMQ_CONTAINER_OF(it, bm_filter_t, link);
        if (!(dollar && f->skips_dollar) &&
            broker__pattern_matches(pmq_slice(f->pattern, f->len), dest)) {
            touch(mq, f, &n);
        }
    }
    if (n > 0 && !topic_is_mqtt(dest)) {
        return;
    }
    uint8_t mqos = broker_msg_mqtt_qos(m);
    for (size_t i = 0; i < n; i++) {
        broker_msess_t *s = mq->touched[i];
        route(b, mq, s, m, PMQ_MIN(mqos, s->best_qos), durable_copies);
    }
}

/* ---- apply: durable sessions change only here ---- */

static int apply_open(broker_t *b, broker_mqtt_t *mq, const rlog_cmd_t *c) {
    broker_msess_t *s = pmq_map_get(&mq->durable, c->client_id);
    if (s == NULL) {
        s = sess_new(c->client_id, true);
        pmq_buf_t name;
        pmq_buf_init(&name, 0);
        int rc = s ? pmq_buf_append_cstr(&name, BROKER_MQTT_QUEUE_PREFIX) : PMQ_ENOMEM;
        if (rc == 0) {
            rc = pmq_buf_append_slice(&name, c->client_id);
        }
        if (rc == 0) {
            s->queue = broker__queue_ensure(b, pmq_buf_slice(&name), BQ_MQTT);
            rc = s->queue ? pmq_map_put(&mq->durable, pmq_slice_cstr(s->client_id), s)
                          : PMQ_ENOMEM;
        }
        pmq_buf_close(&name);
        if (rc != 0) {
            if (s != NULL) {
                sess_free(mq, s);
            }
            return rc;
        }
        s->queue->kind = BQ_MQTT;
    }
    PMQ_ASSERT(s->durable);
    s->limit = c->limit;
    return 0;
}

static void apply_close(broker_t *b, broker_mqtt_t *mq, const rlog_cmd_t *c) {
    broker_msess_t *s = pmq_map_del(&mq->durable, c->client_id);
    if (s == NULL) {
        return;
    }
    PMQ_ASSERT(s->durable);
    if (s->owner == NULL) {
        if (pmq_list_is_empty(&s->queue->consumers)) {
            broker__queue_destroy(b, s->queue);
        } else {
            broker__queue_clear(b, s->queue);
            PMQ_LOG_WARN("mqtt_session_queue_kept", "client=%s", s->client_id);
        }
        sess_free(mq, s);
        return;
    }
    /* Still bound to a connection on this node: empty it now, free it at unbind. Its queue
     * leaves the durable state at once (renamed, temporary) so that every node's state
     * hash and snapshot agree and a new session may take the name. */
    broker__queue_clear(b, s->queue);
    while (s->filter_count > 0) {
        (void)filter_del(mq, s, pmq_slice(s->filters[0]->pattern, s->filters[0]->len));
    }
    char name[48];
    snprintf(name, sizeof(name), "mqtt-closed:%llu", (unsigned long long)++mq->closed_count);
    char *copy = pmq_strdup(name);
    void *gone = pmq_map_del(&b->queues, pmq_slice_cstr(s->queue->name));
    PMQ_ASSERT(gone == s->queue);
    if (copy != NULL) {
        pmq_free(s->queue->name);
        s->queue->name = copy;
    }
    s->queue->kind = BQ_TEMP;
    if (pmq_map_put(&b->queues, pmq_slice_cstr(s->queue->name), s->queue) != 0) {
        PMQ_LOG_ERROR("mqtt_session_close_alloc_failed", "client=%s", s->client_id);
    }
    s->removed = true;
}

/* Forgets bindings whose message left the queue (expired, closed): their ids are free. */
static void binds_prune(broker_msess_t *s) {
    uint32_t kept = 0;
    for (uint32_t i = 0; i < s->bind_count; i++) {
        uint64_t seq = s->binds[i].seq;
        if (pmq_map_get(&s->queue->by_seq, pmq_slice(&seq, sizeof(seq))) != NULL) {
            s->binds[kept++] = s->binds[i];
        }
    }
    s->bind_count = kept;
}

static int apply_out_bind(broker_msess_t *s, const rlog_cmd_t *c) {
    binds_prune(s);
    uint64_t seq = c->seq;
    if (pmq_map_get(&s->queue->by_seq, pmq_slice(&seq, sizeof(seq))) == NULL) {
        return 0; /* acknowledged or expired before the binding: nothing in flight */
    }
    uint32_t kept = 0;
    for (uint32_t i = 0; i < s->bind_count; i++) {
        if (s->binds[i].seq != seq && s->binds[i].pid != c->pid) {
            s->binds[kept++] = s->binds[i];
        }
    }
    s->bind_count = kept;
    if (s->bind_count == s->bind_cap) {
        uint32_t cap = s->bind_cap ? s->bind_cap * 2 : 8;
        bm_bind_t *v = pmq_realloc(s->binds, cap * sizeof(*v));
        if (v == NULL) {
            return PMQ_ENOMEM;
        }
        s->binds = v;
        s->bind_cap = cap;
    }
    s->binds[s->bind_count++] = (bm_bind_t){seq, c->pid};
    return 0;
}

/* PUBREC for an outbound QoS 2 message: the message is done (removed from the queue as an
 * ACK would), its id now awaits PUBCOMP [MQTT-4.3.3-1]. */
static int apply_out_rec(broker_t *b, broker_msess_t *s, const rlog_cmd_t *c) {
    for (uint32_t i = 0; i < s->bind_count; i++) {
        if (s->binds[i].pid != c->pid) {
            continue;
        }
        uint64_t seq = s->binds[i].seq;
        s->binds[i] = s->binds[--s->bind_count];
        bq_entry_t *e = pmq_map_get(&s->queue->by_seq, pmq_slice(&seq, sizeof(seq)));
        if (e != NULL) {
            broker__entry_remove(b, e);
        }
        break;
    }
    return pids_add(&s->out_rel, c->pid);
}

static int apply_session_cmd(broker_t *b, broker_mqtt_t *mq, const rlog_cmd_t *c) {
    broker_msess_t *s = pmq_map_get(&mq->durable, c->client_id);
    if (s == NULL) {
        return 0; /* the session was closed before this command: it has nothing to change */
    }
    switch (c->type) {
    case RLOG_CMD_MQTT_SUB: {
        int rc = filter_set(mq, s, c->pattern, c->qos);
        return rc == PMQ_ETOOBIG ? 0 : rc; /* the session refused it with SUBACK 0x80 */
    }
    case RLOG_CMD_MQTT_UNSUB:
        (void)filter_del(mq, s, c->pattern);
        return 0;
    case RLOG_CMD_MQTT_QOS2_IN:
        return pids_add(&s->qos2_in, c->pid);
    case RLOG_CMD_MQTT_QOS2_REL:
        pids_del(&s->qos2_in, c->pid);
        return 0;
    case RLOG_CMD_MQTT_OUT_BIND:
        return apply_out_bind(s, c);
    case RLOG_CMD_MQTT_OUT_REC:
        return apply_out_rec(b, s, c);
    case RLOG_CMD_MQTT_OUT_COMP:
        pids_del(&s->out_rel, c->pid);
        return 0;
    default:
        PMQ_UNREACHABLE();
    }
}

int broker__mqtt_apply(broker_t *b, const rlog_cmd_t *c) {
    broker_mqtt_t *mq = broker__mqtt_state(b);
    if (mq == NULL) {
        return PMQ_ENOMEM;
    }
    switch (c->type) {
    case RLOG_CMD_MQTT_SESSION_OPEN:
        return apply_open(b, mq, c);
    case RLOG_CMD_MQTT_SESSION_CLOSE:
        apply_close(b, mq, c);
        return 0;
    case RLOG_CMD_RETAIN:
        return broker__retain_apply(b, mq, c);
    default:
        PMQ_ASSERT(c->type >= RLOG_CMD_MQTT_SUB && c->type <= RLOG_CMD_TYPE_LAST);
        return apply_session_cmd(b, mq, c);
    }
}

void broker__mqtt_free(broker_t *b) {
    broker_mqtt_t *mq = b->mqtt;
    if (mq == NULL) {
        return;
    }
    pmq_map_t *maps[] = {&mq->durable, &mq->volatiles};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(maps); i++) {
        size_t pos = 0;
        void *v;
        while (pmq_map_next(maps[i], &pos, NULL, &v)) {
            anchor_drop(b, v);
            sess_free(mq, v); /* queues go with the broker's queue table */
        }
        pmq_map_close(maps[i]);
    }
    PMQ_ASSERT(pmq_map_count(&mq->exact) == 0);
    PMQ_ASSERT(pmq_list_is_empty(&mq->wild));
    pmq_map_close(&mq->exact);
    broker__retain_free(mq);
    pmq_free(mq->touched);
    pmq_free(mq);
    b->mqtt = NULL;
}

/* ---- hash and snapshot of the durable part ---- */

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t sess_hash(const broker_msess_t *s) {
    uint64_t h = mix(pmq_hash(pmq_slice_cstr(s->client_id)), s->limit);
    uint64_t fh = 0; /* filters are a set: order-independent */
    for (uint32_t i = 0; i < s->filter_count; i++) {
        const bm_filter_t *f = s->filters[i];
        fh ^= mix(pmq_hash(pmq_slice(f->pattern, f->len)), f->qos);
    }
    h = mix(h, fh);
    for (uint32_t i = 0; i < s->qos2_in.n; i++) {
        h = mix(h, s->qos2_in.v[i]);
    }
    h = mix(h, 0x10000);
    for (uint32_t i = 0; i < s->out_rel.n; i++) {
        h = mix(h, s->out_rel.v[i]);
    }
    uint64_t bh = 0;
    for (uint32_t i = 0; i < s->bind_count; i++) {
        bh ^= mix(s->binds[i].seq, s->binds[i].pid);
    }
    return mix(h, bh);
}

uint64_t broker__mqtt_state_hash(const broker_t *b) {
    const broker_mqtt_t *mq = b->mqtt;
    if (mq == NULL) {
        return 0;
    }
    uint64_t h = 0;
    size_t pos = 0;
    void *v;
    while (pmq_map_next(&mq->durable, &pos, NULL, &v)) {
        h ^= sess_hash(v);
    }
    /* Empty MQTT state hashes to 0 whether or not it was ever allocated. */
    return h ^ (broker__retain_hash(mq) * 0xC2B2AE3D27D4EB4Full);
}

static int encode_pids(pmq_buf_t *out, const bm_pids_t *p) {
    int rc = pmq_buf_put_u32(out, p->n);
    for (uint32_t i = 0; i < p->n && rc == 0; i++) {
        rc = pmq_buf_put_u16(out, p->v[i]);
    }
    return rc;
}

static int encode_sess(pmq_buf_t *out, const broker_msess_t *s) {
    int rc = pmq_buf_put_bytes(out, pmq_slice_cstr(s->client_id));
    if (rc == 0) {
        rc = pmq_buf_put_u32(out, s->limit);
    }
    if (rc == 0) {
        rc = pmq_buf_put_u32(out, s->filter_count);
    }
    for (uint32_t i = 0; i < s->filter_count && rc == 0; i++) {
        rc = pmq_buf_put_bytes(out, pmq_slice(s->filters[i]->pattern, s->filters[i]->len));
        if (rc == 0) {
            rc = pmq_buf_put_u8(out, s->filters[i]->qos);
        }
    }
    if (rc == 0) {
        rc = encode_pids(out, &s->qos2_in);
    }
    if (rc == 0) {
        rc = encode_pids(out, &s->out_rel);
    }
    if (rc == 0) {
        rc = pmq_buf_put_u32(out, s->bind_count);
    }
    for (uint32_t i = 0; i < s->bind_count && rc == 0; i++) {
        rc = pmq_buf_put_u64(out, s->binds[i].seq);
        if (rc == 0) {
            rc = pmq_buf_put_u16(out, s->binds[i].pid);
        }
    }
    return rc;
}

/* Section layout: u32 n_sessions, n x {bytes client_id, u32 limit, u32 n_filters,
 * n x {bytes pattern, u8 qos}, u32 n, n x u16 qos2_in, u32 n, n x u16 out_rel,
 * u32 n_binds, n x {u64 seq, u16 pid}}, then the retained messages (retain.c). */
int broker__mqtt_snapshot_encode(const broker_t *b, pmq_buf_t *out) {
    const broker_mqtt_t *mq = b->mqtt;
    int rc = pmq_buf_put_u32(out, mq ? (uint32_t)pmq_map_count(&mq->durable) : 0);
    size_t pos = 0;
    void *v;
    while (rc == 0 && mq != NULL && pmq_map_next(&mq->durable, &pos, NULL, &v)) {
        rc = encode_sess(out, v);
    }
    if (rc == 0 && mq == NULL) {
        rc = pmq_buf_put_u32(out, 0); /* no retained messages */
    } else if (rc == 0) {
        rc = broker__retain_snapshot_encode(mq, out);
    }
    return rc;
}

/* Reads a u32 count then count packet ids into p (every id non-zero). */
static int restore_pids(pmq_rd_t *r, bm_pids_t *p) {
    uint32_t n = pmq_rd_u32(r);
    if (r->err || n > 65535) {
        return PMQ_ECORRUPT;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint16_t pid = pmq_rd_u16(r);
        if (r->err || pid == 0) {
            return PMQ_ECORRUPT;
        }
        if (pids_add(p, pid) != 0) {
            return PMQ_ENOMEM;
        }
    }
    return 0;
}

static int restore_filters_binds(broker_mqtt_t *mq, broker_msess_t *s, pmq_rd_t *r) {
    uint32_t n = pmq_rd_u32(r);
    if (r->err || n > BROKER_MQTT_FILTERS_MAX) {
        return PMQ_ECORRUPT;
    }
    for (uint32_t i = 0; i < n; i++) {
        pmq_slice_t pattern = pmq_rd_bytes(r, RLOG_NAME_BYTES_MAX);
        uint8_t qos = pmq_rd_u8(r);
        if (r->err || qos > 2 || pattern.len == 0) {
            return PMQ_ECORRUPT;
        }
        int rc = filter_set(mq, s, pattern, qos);
        if (rc != 0) {
            return rc == PMQ_ETOOBIG ? PMQ_ECORRUPT : rc;
        }
    }
    int rc = restore_pids(r, &s->qos2_in);
    if (rc == 0) {
        rc = restore_pids(r, &s->out_rel);
    }
    uint32_t nb = pmq_rd_u32(r);
    if (rc != 0 || r->err || nb > 65535) {
        return rc != 0 ? rc : PMQ_ECORRUPT;
    }
    s->binds = nb ? pmq_calloc(nb, sizeof(*s->binds)) : NULL;
    if (nb > 0 && s->binds == NULL) {
        return PMQ_ENOMEM;
    }
    s->bind_cap = nb;
    for (uint32_t i = 0; i < nb; i++) {
        uint64_t seq = pmq_rd_u64(r);
        uint16_t pid = pmq_rd_u16(r);
        if (r->err || pid == 0) {
            return PMQ_ECORRUPT;
        }
        s->binds[s->bind_count++] = (bm_bind_t){seq, pid};
    }
    return 0;
}

static int restore_sess(broker_t *b, broker_mqtt_t *mq, pmq_rd_t *r) {
    pmq_slice_t id = pmq_rd_bytes(r, RLOG_NAME_BYTES_MAX);
    uint32_t limit = pmq_rd_u32(r);
    if (r->err || id.len == 0 || pmq_map_get(&mq->durable, id) != NULL) {
        return PMQ_ECORRUPT;
    }
    /* Opening it as the command would; its queue was restored with the other queues. */
    rlog_cmd_t open = {.type = RLOG_CMD_MQTT_SESSION_OPEN, .client_id = id, .limit = limit};
    int rc = apply_open(b, mq, &open);
    if (rc != 0) {
        return rc;
    }
    return restore_filters_binds(mq, pmq_map_get(&mq->durable, id), r);
}

int broker__mqtt_snapshot_restore(broker_t *b, pmq_rd_t *r) {
    broker_mqtt_t *mq = broker__mqtt_state(b);
    if (mq == NULL) {
        return PMQ_ENOMEM;
    }
    uint32_t n = pmq_rd_u32(r);
    if (r->err) {
        return PMQ_ECORRUPT;
    }
    for (uint32_t i = 0; i < n; i++) {
        int rc = restore_sess(b, mq, r);
        if (rc != 0) {
            return rc;
        }
    }
    return broker__retain_snapshot_restore(b, mq, r);
}
