/* The store thread: takes every queued op (up to group_commit_max), runs them in one
 * LMDB write txn, commits (LMDB syncs on commit unless MDB_NOSYNC), publishes the new
 * durable seq and wakes the loop. While it commits, new ops pile up for the next batch,
 * which is how throughput exceeds the disk's sync rate (group commit).
 *
 * Invariants: ops run in seq order; a txn that fails is aborted whole and fails the
 * store (sticky), discarding every op not yet durable; this thread never allocates or
 * frees (see store_int.h) and is the only user of write txns after store_open. */
#include <time.h>

#include "store_int.h"

/* Log counter changes made by a txn, applied to s->w only once it commits. */
typedef struct delta {
    int64_t entries, bytes;
    uint64_t bytes_written;
    uint64_t log_last;
} delta_t;

/* Encodes one log entry straight into LMDB's page (MDB_RESERVE): the size pass is
 * store__log_value_size, the write pass store__log_value_encode. */
static int put_entry(store_t *s, MDB_txn *txn, const store__op_t *op, delta_t *d) {
    unsigned char kb[STORE__KEY_BYTES];
    store__key_encode(kb, op->index);
    MDB_val k = store__val(kb, sizeof(kb));
    MDB_val v;
    unsigned flags = MDB_RESERVE;
    if (op->index > d->log_last) {
        /* Past the last key: MDB_APPEND skips the search and fills pages densely. */
        flags |= MDB_APPEND;
        d->entries++;
    } else {
        int grc = mdb_get(txn, s->dbi_log, &k, &v);
        if (grc == 0) {
            d->bytes -= (int64_t)(v.mv_size - STORE__CRC_BYTES);
        } else if (grc == MDB_NOTFOUND) {
            d->entries++;
        } else {
            return store__mdb_err(grc, "log_get");
        }
    }
    size_t size = store__log_value_size(op->len);
    v = store__val(NULL, size);
    int rc = store__mdb_err(mdb_put(txn, s->dbi_log, &k, &v, flags), "log_put");
    if (rc != 0) {
        return rc;
    }
    PMQ_ASSERT(v.mv_size == size);
    store__log_value_encode(v.mv_data, op->index, pmq_slice(op->bytes, op->len));
    d->bytes += (int64_t)op->len;
    d->bytes_written += size + sizeof(kb);
    d->log_last = PMQ_MAX(d->log_last, op->index);
    return 0;
}

/* Deletes log entries >= from (upper == false) or <= to (upper == true). */
static int delete_range(store_t *s, MDB_txn *txn, uint64_t bound, bool upper, delta_t *d) {
    MDB_cursor *cur = NULL;
    int rc = store__mdb_err(mdb_cursor_open(txn, s->dbi_log, &cur), "cursor_open");
    if (rc != 0) {
        goto out;
    }
    unsigned char kb[STORE__KEY_BYTES];
    store__key_encode(kb, bound);
    MDB_val k = store__val(kb, sizeof(kb));
    MDB_val v;
    int mrc = mdb_cursor_get(cur, &k, &v, upper ? MDB_FIRST : MDB_SET_RANGE);
    for (; mrc == 0; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t index;
        if (store__key_decode(store__slice(k), &index) != 0 || v.mv_size < STORE__CRC_BYTES) {
            PMQ_LOG_ERROR("store_log_corrupt", "where=delete key_len=%zu", k.mv_size);
            rc = PMQ_ECORRUPT;
            goto out;
        }
        if (upper && index > bound) {
            break;
        }
        PMQ_ASSERT(upper || index >= bound);
        d->entries--;
        d->bytes -= (int64_t)(v.mv_size - STORE__CRC_BYTES);
        rc = store__mdb_err(mdb_cursor_del(cur, 0), "cursor_del");
        if (rc != 0) {
            goto out;
        }
    }
    rc = (mrc == 0 || mrc == MDB_NOTFOUND) ? 0 : store__mdb_err(mrc, "cursor_get");
    if (!upper && rc == 0) {
        /* Entries >= bound are gone, so bound - 1 is an upper bound of the last key. */
        d->log_last = PMQ_MIN(d->log_last, bound - 1);
    }
out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    return rc;
}

static int put_meta(store_t *s, MDB_txn *txn, const store__op_t *op, delta_t *d) {
    MDB_val k = store__val(op->key, strlen(op->key));
    size_t size = store__meta_value_size(op->len);
    MDB_val v = store__val(NULL, size);
    int rc = store__mdb_err(mdb_put(txn, s->dbi_meta, &k, &v, MDB_RESERVE), "meta_put");
    if (rc == 0) {
        PMQ_ASSERT(v.mv_size == size);
        store__meta_value_encode(v.mv_data, op->key, pmq_slice(op->bytes, op->len));
        d->bytes_written += size + k.mv_size;
    }
    return rc;
}

static int put_snapshot(store_t *s, MDB_txn *txn, const store__op_t *op, delta_t *d) {
    MDB_val k = store__val(STORE__SNAP_KEY, strlen(STORE__SNAP_KEY));
    size_t size = store__snap_value_size(op->len);
    MDB_val v = store__val(NULL, size);
    int rc = store__mdb_err(mdb_put(txn, s->dbi_snap, &k, &v, MDB_RESERVE), "snap_put");
    if (rc != 0) {
        return rc;
    }
    PMQ_ASSERT(v.mv_size == size);
    store__snap_value_encode(v.mv_data, op->index, pmq_slice(op->bytes, op->len));
    d->bytes_written += size + k.mv_size;
    return delete_range(s, txn, op->index, true, d);
}

static int apply_op(store_t *s, MDB_txn *txn, const store__op_t *op, delta_t *d) {
    switch (op->kind) {
    case STORE__OP_APPEND:
        return put_entry(s, txn, op, d);
    case STORE__OP_TRUNCATE:
        return delete_range(s, txn, op->index, false, d);
    case STORE__OP_META_PUT:
        return put_meta(s, txn, op, d);
    case STORE__OP_SNAP_PUT:
        return put_snapshot(s, txn, op, d);
    }
    PMQ_UNREACHABLE();
}

/* Runs batch (a NULL-terminated list in seq order) in one write txn. */
static int run_batch(store_t *s, const store__op_t *batch, delta_t *d) {
    MDB_txn *txn = NULL;
    int rc = store__mdb_err(mdb_txn_begin(s->env, NULL, 0, &txn), "txn_begin");
    if (rc != 0) {
        txn = NULL;
        goto out;
    }
    uint64_t prev_seq = 0;
    for (const store__op_t *op = batch; op != NULL; op = op->next) {
        PMQ_ASSERT(op->seq > prev_seq);
        prev_seq = op->seq;
        rc = apply_op(s, txn, op, d);
        if (rc != 0) {
            goto out;
        }
    }
    rc = store__mdb_err(mdb_txn_commit(txn), "txn_commit");
    txn = NULL; /* commit frees the txn on success and on failure */
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return rc;
}

static unsigned commit_bucket(uint64_t us) {
    unsigned i = 0;
    while (i < STORE_COMMIT_BUCKETS - 1 && us >= (64ull << i)) {
        i++;
    }
    return i;
}

/* Appends list [head, tail] to the done list. Under mu. */
static void done_append(store_t *s, store__op_t *head, store__op_t *tail) {
    if (head == NULL) {
        return;
    }
    if (s->done_tail != NULL) {
        s->done_tail->next = head;
    } else {
        s->done_head = head;
    }
    s->done_tail = tail;
}

/* Publishes a finished batch: counters, durable seq or failure, done list. Under mu. */
static void finish_batch(store_t *s, store__op_t *head, store__op_t *tail, uint64_t n,
                         size_t bytes, const delta_t *d, int rc, uint64_t us) {
    PMQ_ASSERT(s->pending_ops >= n);
    PMQ_ASSERT(s->pending_bytes >= bytes);
    s->batch_head = NULL;
    s->pending_ops -= n;
    s->pending_bytes -= bytes;
    done_append(s, head, tail);
    if (rc != 0) {
        /* The first error fails the store: discard everything still queued. */
        PMQ_ASSERT(s->failed == 0);
        s->failed = rc;
        done_append(s, s->q_head, s->q_tail);
        s->q_head = s->q_tail = NULL;
        s->pending_ops = 0;
        s->pending_bytes = 0;
        return;
    }
    PMQ_ASSERT(tail->seq > s->durable_seq);
    s->durable_seq = tail->seq;
    s->w.txns++;
    s->w.ops += n;
    s->w.syncs += s->sync ? 1 : 0;
    s->w.bytes_written += d->bytes_written;
    s->w.commit_us_buckets[commit_bucket(us)]++;
    s->w.commit_us_sum += us;
    s->w.commit_count++;
    PMQ_ASSERT((int64_t)s->w.log_entries + d->entries >= 0);
    PMQ_ASSERT((int64_t)s->w.log_bytes + d->bytes >= 0);
    s->w.log_entries = (uint64_t)((int64_t)s->w.log_entries + d->entries);
    s->w.log_bytes = (uint64_t)((int64_t)s->w.log_bytes + d->bytes);
    s->w_log_last = d->log_last;
}

/* Waits for work; returns false when stopping with nothing queued. Under mu. */
static bool wait_for_work(store_t *s) {
    for (;;) {
        if (s->stall_ms != 0) {
            /* Test hook: a stuck disk. Sleep without the lock so ops keep arriving. */
            uint32_t ms = s->stall_ms;
            s->stall_ms = 0;
            pthread_mutex_unlock(&s->mu);
            struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
            while (nanosleep(&ts, &ts) != 0) {
            }
            pthread_mutex_lock(&s->mu);
            continue;
        }
        if (s->q_head != NULL) {
            return true;
        }
        if (s->stopping) {
            return false;
        }
        s->writer_waiting = true;
        pthread_cond_wait(&s->cond, &s->mu);
        s->writer_waiting = false;
    }
}

/* Detaches up to group_commit_max ops from the queue into the current batch. Under mu. */
static store__op_t *take_batch(store_t *s, store__op_t **tail, uint64_t *n, size_t *bytes) {
    store__op_t *head = s->q_head;
    store__op_t *op = head;
    *n = 1;
    *bytes = op->len;
    while (op->next != NULL && *n < s->group_commit_max) {
        op = op->next;
        (*n)++;
        *bytes += op->len;
    }
    s->q_head = op->next;
    if (s->q_head == NULL) {
        s->q_tail = NULL;
    }
    op->next = NULL;
    s->batch_head = head;
    *tail = op;
    return head;
}

void *store__writer_main(void *arg) {
    store_t *s = arg;
    pthread_mutex_lock(&s->mu);
    while (wait_for_work(s)) {
        PMQ_ASSERT(s->failed == 0);
        store__op_t *tail;
        uint64_t n;
        size_t bytes;
        store__op_t *head = take_batch(s, &tail, &n, &bytes);
        delta_t d = {.log_last = s->w_log_last};
        pthread_mutex_unlock(&s->mu);

        uint64_t t0 = pmq_mono_ns();
        int rc = run_batch(s, head, &d);
        uint64_t us = (pmq_mono_ns() - t0) / 1000;

        pthread_mutex_lock(&s->mu);
        finish_batch(s, head, tail, n, bytes, &d, rc, us);
        pthread_mutex_unlock(&s->mu);
        uv_async_send(&s->async);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}
