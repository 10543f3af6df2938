/* The loop-thread side of the store: open/close, the write API that enqueues ops for the
 * store thread, the uv_async callback that reports durability, and statistics.
 *
 * Ops are allocated here and freed here (from the done list), never on the store thread.
 * Every queue has a bound (queue_ops_max, queue_bytes_max): past it writes return
 * PMQ_EFULL and the caller waits for the next durable callback. */
#include "store_int.h"

static void on_async(uv_async_t *handle);

static void free_op(store__op_t *op) {
    if (op->bytes_owned) {
        pmq_free(op->bytes);
    }
    pmq_free(op);
}

static void free_op_list(store__op_t *op) {
    while (op != NULL) {
        store__op_t *next = op->next;
        free_op(op);
        op = next;
    }
}

/* Releases everything store_open set up, in reverse order. Loop thread; the writer has
 * been joined (or never started) and the async handle is not initialized. */
static void teardown(store_t *s) {
    PMQ_ASSERT(!s->async_inited);
    free_op_list(s->done_head);
    free_op_list(s->q_head);
    store__env_close(s);
    if (s->mu_inited) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->mu);
    }
    pmq_free(s);
}

static void stop_writer(store_t *s) {
    if (!s->thread_started) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    int rc = pthread_join(s->thread, NULL);
    PMQ_ASSERT(rc == 0);
    s->thread_started = false;
}

static void copy_options(store_t *s, const store_options_t *o) {
    s->sync = o->sync;
    s->group_commit_max = o->group_commit_max ? o->group_commit_max
                                              : STORE_DEFAULT_GROUP_COMMIT_MAX;
    s->queue_ops_max = o->queue_ops_max ? o->queue_ops_max : STORE_DEFAULT_QUEUE_OPS_MAX;
    s->queue_bytes_max = o->queue_bytes_max ? o->queue_bytes_max
                                            : STORE_DEFAULT_QUEUE_BYTES_MAX;
    s->entry_bytes_max = o->entry_bytes_max ? o->entry_bytes_max
                                            : STORE_DEFAULT_ENTRY_BYTES_MAX;
}

int store_open(store_t **out, uv_loop_t *loop, const store_options_t *opts,
               store_durable_cb cb, void *cb_arg) {
    PMQ_ASSERT(out != NULL);
    *out = NULL;
    if (loop == NULL || opts == NULL || cb == NULL || opts->dir == NULL ||
        opts->dir[0] == '\0') {
        return PMQ_EINVAL;
    }
    store_t *s = pmq_calloc(1, sizeof(*s));
    if (s == NULL) {
        return PMQ_ENOMEM;
    }
    s->loop = loop;
    s->cb = cb;
    s->cb_arg = cb_arg;
    s->next_seq = 1;
    copy_options(s, opts);
    int rc = store__env_open(s, opts);
    if (rc != 0) {
        goto fail;
    }
    rc = -pthread_mutex_init(&s->mu, NULL);
    if (rc == 0) {
        rc = -pthread_cond_init(&s->cond, NULL);
        if (rc != 0) {
            pthread_mutex_destroy(&s->mu);
        }
    }
    if (rc != 0) {
        goto fail;
    }
    s->mu_inited = true;
    /* The thread first, then the async handle: the writer touches the handle only after
     * a batch, and no op can be queued before we return, so failing here stays
     * synchronous (no uv_close round trip). */
    rc = -pthread_create(&s->thread, NULL, store__writer_main, s);
    if (rc != 0) {
        goto fail;
    }
    s->thread_started = true;
    rc = uv_async_init(loop, &s->async, on_async);
    if (rc != 0) {
        goto fail;
    }
    s->async_inited = true;
    *out = s;
    return 0;
fail:
    PMQ_LOG_ERROR("store_open_failed", "dir=%s err=%s", opts->dir, pmq_errname(rc));
    stop_writer(s);
    teardown(s);
    return rc;
}

/* ---- the write API ---- */

/* Allocates an op with room for extra bytes after the header. */
static store__op_t *op_new(store__op_kind_t kind, uint64_t index, size_t extra) {
    if (extra > SIZE_MAX - sizeof(store__op_t)) {
        return NULL;
    }
    store__op_t *op = pmq_malloc(sizeof(*op) + extra);
    if (op == NULL) {
        return NULL;
    }
    *op = (store__op_t){.kind = kind, .index = index, .bytes = (char *)(op + 1)};
    return op;
}

/* Queues op (taking ownership on success and failure) and sets *seq. */
static int enqueue_take(store_t *s, store__op_t *op, uint64_t *seq) {
    PMQ_ASSERT(!s->closing);
    PMQ_ASSERT(seq != NULL);
    pthread_mutex_lock(&s->mu);
    int rc = s->failed;
    if (rc == 0 && s->pending_ops >= s->queue_ops_max) {
        rc = PMQ_EFULL;
    }
    /* An op larger than the byte bound still goes through when nothing else is queued. */
    if (rc == 0 && s->pending_bytes > 0 &&
        (s->pending_bytes >= s->queue_bytes_max ||
         op->len > s->queue_bytes_max - s->pending_bytes)) {
        rc = PMQ_EFULL;
    }
    if (rc != 0) {
        pthread_mutex_unlock(&s->mu);
        free_op(op);
        return rc;
    }
    op->seq = s->next_seq++;
    op->enq_ms = pmq_mono_ms();
    if (s->q_tail != NULL) {
        s->q_tail->next = op;
    } else {
        s->q_head = op;
    }
    s->q_tail = op;
    s->pending_ops++;
    s->pending_bytes += op->len;
    if (s->writer_waiting) {
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->mu);
    *seq = op->seq;
    PMQ_ASSERT(*seq >= 1);
    return 0;
}

int store_log_append(store_t *s, uint64_t index, pmq_slice_t bytes, uint64_t *seq) {
    PMQ_ASSERT(s != NULL);
    PMQ_ASSERT(bytes.ptr != NULL || bytes.len == 0);
    if (index == 0) {
        return PMQ_EINVAL;
    }
    if (bytes.len > s->entry_bytes_max) {
        return PMQ_ETOOBIG;
    }
    store__op_t *op = op_new(STORE__OP_APPEND, index, bytes.len);
    if (op == NULL) {
        return PMQ_ENOMEM;
    }
    if (bytes.len > 0) {
        memcpy(op->bytes, bytes.ptr, bytes.len);
    }
    op->len = bytes.len;
    return enqueue_take(s, op, seq);
}

int store_log_truncate_from(store_t *s, uint64_t index, uint64_t *seq) {
    PMQ_ASSERT(s != NULL);
    if (index == 0) {
        return PMQ_EINVAL;
    }
    store__op_t *op = op_new(STORE__OP_TRUNCATE, index, 0);
    if (op == NULL) {
        return PMQ_ENOMEM;
    }
    return enqueue_take(s, op, seq);
}

int store_meta_put(store_t *s, const char *key, pmq_slice_t value, uint64_t *seq) {
    PMQ_ASSERT(s != NULL);
    PMQ_ASSERT(value.ptr != NULL || value.len == 0);
    size_t klen = key != NULL ? strnlen(key, STORE_META_KEY_MAX + 1) : 0;
    if (klen == 0 || klen > STORE_META_KEY_MAX ||
        strncmp(key, STORE__RESERVED_PREFIX, strlen(STORE__RESERVED_PREFIX)) == 0) {
        return PMQ_EINVAL;
    }
    if (value.len > STORE_META_VALUE_MAX) {
        return PMQ_ETOOBIG;
    }
    store__op_t *op = op_new(STORE__OP_META_PUT, 0, klen + 1 + value.len);
    if (op == NULL) {
        return PMQ_ENOMEM;
    }
    char *k = op->bytes + value.len;
    memcpy(k, key, klen + 1);
    op->key = k;
    if (value.len > 0) {
        memcpy(op->bytes, value.ptr, value.len);
    }
    op->len = value.len;
    return enqueue_take(s, op, seq);
}

int store_snapshot_put_take(store_t *s, uint64_t index, char *bytes, size_t len,
                            uint64_t *seq) {
    PMQ_ASSERT(s != NULL);
    PMQ_ASSERT(bytes != NULL || len == 0);
    if (index == 0) {
        pmq_free(bytes);
        return PMQ_EINVAL;
    }
    store__op_t *op = op_new(STORE__OP_SNAP_PUT, index, 0);
    if (op == NULL) {
        pmq_free(bytes);
        return PMQ_ENOMEM;
    }
    op->bytes = bytes;
    op->len = len;
    op->bytes_owned = true;
    return enqueue_take(s, op, seq);
}

/* ---- the loop side of durability ---- */

static void on_async(uv_async_t *handle) {
    store_t *s = PMQ_CONTAINER_OF(handle, store_t, async);
    PMQ_ASSERT(!s->closing);
    pthread_mutex_lock(&s->mu);
    store__op_t *done = s->done_head;
    s->done_head = s->done_tail = NULL;
    uint64_t durable = s->durable_seq;
    int failed = s->failed;
    pthread_mutex_unlock(&s->mu);
    free_op_list(done);

    PMQ_ASSERT(durable >= s->reported_seq);
    PMQ_ASSERT(durable < s->next_seq);
    bool report_failure = failed != 0 && !s->failure_reported;
    if (durable == s->reported_seq && !report_failure) {
        return; /* uv_async coalesces wake-ups; this one brought nothing new */
    }
    s->reported_seq = durable;
    s->failure_reported = s->failure_reported || report_failure;
    if (report_failure) {
        PMQ_LOG_ERROR("store_failed", "err=%s durable_seq=%llu", pmq_errname(failed),
                      (unsigned long long)durable);
    }
    /* Last: the callback may call store_close. */
    s->cb(s->cb_arg, durable, report_failure ? failed : 0);
}

uint64_t store_durable_seq(store_t *s) {
    pthread_mutex_lock(&s->mu);
    uint64_t v = s->durable_seq;
    pthread_mutex_unlock(&s->mu);
    return v;
}

int store_failed(store_t *s) {
    pthread_mutex_lock(&s->mu);
    int v = s->failed;
    pthread_mutex_unlock(&s->mu);
    return v;
}

uint64_t store_commit_bucket_upper_us(unsigned bucket) {
    PMQ_ASSERT(bucket < STORE_COMMIT_BUCKETS);
    return bucket == STORE_COMMIT_BUCKETS - 1 ? UINT64_MAX : 64ull << bucket;
}

void store_stats_get(store_t *s, store_stats_t *out) {
    PMQ_ASSERT(s != NULL);
    PMQ_ASSERT(out != NULL);
    uint64_t now = pmq_mono_ms();
    pthread_mutex_lock(&s->mu);
    const store__wstats_t *w = &s->w;
    *out = (store_stats_t){.txns = w->txns, .ops = w->ops, .bytes_written = w->bytes_written,
                           .syncs = w->syncs, .queued_ops = s->pending_ops,
                           .commit_us_sum = w->commit_us_sum,
                           .commit_count = w->commit_count, .log_entries = w->log_entries,
                           .log_bytes = w->log_bytes, .failed = s->failed};
    memcpy(out->commit_us_buckets, w->commit_us_buckets, sizeof(out->commit_us_buckets));
    const store__op_t *oldest = s->batch_head != NULL ? s->batch_head : s->q_head;
    if (oldest != NULL) {
        out->oldest_pending_age_ms = now > oldest->enq_ms ? now - oldest->enq_ms : 0;
    }
    pthread_mutex_unlock(&s->mu);
}

void store_debug_stall(store_t *s, uint32_t ms) {
    pthread_mutex_lock(&s->mu);
    s->stall_ms = ms;
    pthread_mutex_unlock(&s->mu);
}

static void on_close(uv_handle_t *handle) {
    store_t *s = PMQ_CONTAINER_OF((uv_async_t *)handle, store_t, async);
    s->async_inited = false;
    teardown(s);
}

void store_close(store_t *s) {
    if (s == NULL) {
        return;
    }
    PMQ_ASSERT(!s->closing);
    PMQ_ASSERT(s->async_inited);
    s->closing = true;
    uint64_t t0 = pmq_mono_ms();
    stop_writer(s);
    /* The writer is gone: every op is durable (or discarded by a failure) and sits on
     * the done list; teardown frees it from the close callback. */
    PMQ_ASSERT(s->q_head == NULL);
    PMQ_ASSERT(s->pending_ops == 0);
    PMQ_LOG_INFO("store_closed", "durable_seq=%llu failed=%s drain_ms=%llu",
                 (unsigned long long)s->durable_seq, pmq_errname(s->failed),
                 (unsigned long long)(pmq_mono_ms() - t0));
    store__env_close(s);
    uv_close((uv_handle_t *)&s->async, on_close);
}
