/* Recovery reads on the loop thread: meta values, the snapshot, log scans and bounds.
 *
 * Each call runs its own read-only txn (the env has MDB_NOTLS), so it never waits for
 * the writer and sees only committed data. LMDB values are valid only inside the txn:
 * they are CRC-checked and then copied out (or lent to a scan callback) before the txn
 * ends (STYLE §4 rule 7). */
#include "store_int.h"

static int read_begin(store_t *s, MDB_txn **txn) {
    PMQ_ASSERT(s != NULL);
    PMQ_ASSERT(s->env != NULL);
    int rc = store__mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn), "read_txn_begin");
    if (rc != 0) {
        *txn = NULL;
    }
    return rc;
}

/* A meta key is 1..STORE_META_KEY_MAX bytes. */
static bool meta_key_is_valid(const char *key) {
    if (key == NULL) {
        return false;
    }
    size_t n = strnlen(key, STORE_META_KEY_MAX + 1);
    return n >= 1 && n <= STORE_META_KEY_MAX;
}

static int copy_out(pmq_buf_t *out, pmq_slice_t bytes) {
    pmq_buf_reset(out);
    return pmq_buf_append_slice(out, bytes);
}

int store_meta_get(store_t *s, const char *key, pmq_buf_t *out) {
    PMQ_ASSERT(out != NULL);
    if (!meta_key_is_valid(key)) {
        return PMQ_EINVAL;
    }
    MDB_txn *txn = NULL;
    int rc = read_begin(s, &txn);
    if (rc != 0) {
        goto out;
    }
    MDB_val k = store__val(key, strlen(key));
    MDB_val v;
    rc = store__mdb_err(mdb_get(txn, s->dbi_meta, &k, &v), "meta_get");
    if (rc != 0) {
        goto out;
    }
    pmq_slice_t value;
    rc = store__meta_value_decode(key, store__slice(v), &value);
    if (rc != 0) {
        PMQ_LOG_ERROR("store_meta_corrupt", "key=%s len=%zu", key, v.mv_size);
        goto out;
    }
    PMQ_ASSERT(value.len + STORE__CRC_BYTES == v.mv_size);
    rc = copy_out(out, value);
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return rc;
}

int store_snapshot_get(store_t *s, uint64_t *index, pmq_buf_t *out) {
    PMQ_ASSERT(index != NULL);
    PMQ_ASSERT(out != NULL);
    MDB_txn *txn = NULL;
    int rc = read_begin(s, &txn);
    if (rc != 0) {
        goto out;
    }
    MDB_val k = store__val(STORE__SNAP_KEY, strlen(STORE__SNAP_KEY));
    MDB_val v;
    rc = store__mdb_err(mdb_get(txn, s->dbi_snap, &k, &v), "snapshot_get");
    if (rc != 0) {
        goto out;
    }
    pmq_slice_t bytes;
    uint64_t idx;
    rc = store__snap_value_decode(store__slice(v), &idx, &bytes);
    if (rc != 0) {
        PMQ_LOG_ERROR("store_snapshot_corrupt", "len=%zu", v.mv_size);
        goto out;
    }
    PMQ_ASSERT(idx >= 1);
    rc = copy_out(out, bytes);
    if (rc == 0) {
        *index = idx;
    }
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return rc;
}

/* Decodes one log record; logs and returns PMQ_ECORRUPT naming the entry. */
static int decode_entry(MDB_val k, MDB_val v, uint64_t *index, pmq_slice_t *payload) {
    int rc = store__key_decode(store__slice(k), index);
    if (rc != 0) {
        PMQ_LOG_ERROR("store_log_corrupt", "reason=bad_key key_len=%zu", k.mv_size);
        return rc;
    }
    rc = store__log_value_decode(*index, store__slice(v), payload);
    if (rc != 0) {
        PMQ_LOG_ERROR("store_log_corrupt", "reason=crc_mismatch index=%llu len=%zu",
                      (unsigned long long)*index, v.mv_size);
    }
    return rc;
}

int store_log_scan(store_t *s, uint64_t from, store_scan_cb cb, void *arg) {
    PMQ_ASSERT(cb != NULL);
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    int rc = read_begin(s, &txn);
    if (rc == 0) {
        rc = store__mdb_err(mdb_cursor_open(txn, s->dbi_log, &cur), "cursor_open");
    }
    if (rc != 0) {
        goto out;
    }
    unsigned char kb[STORE__KEY_BYTES];
    store__key_encode(kb, from > 0 ? from : 1);
    MDB_val k = store__val(kb, sizeof(kb));
    MDB_val v;
    uint64_t prev = 0;
    int mrc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t index;
        pmq_slice_t payload;
        rc = decode_entry(k, v, &index, &payload);
        if (rc != 0) {
            goto out;
        }
        /* Big-endian keys make LMDB's byte order the index order. */
        PMQ_ASSERT(index > prev);
        PMQ_ASSERT(index >= from);
        prev = index;
        rc = cb(arg, index, payload);
        if (rc != 0) {
            goto out;
        }
    }
    rc = mrc == MDB_NOTFOUND ? 0 : store__mdb_err(mrc, "cursor_get");
out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return rc;
}

/* Reads the key at the cursor position op (MDB_FIRST or MDB_LAST); 0 when empty. */
static int edge_index(MDB_cursor *cur, MDB_cursor_op op, uint64_t *index) {
    MDB_val k, v;
    int mrc = mdb_cursor_get(cur, &k, &v, op);
    if (mrc == MDB_NOTFOUND) {
        *index = 0;
        return 0;
    }
    int rc = store__mdb_err(mrc, "cursor_get");
    if (rc == 0) {
        rc = store__key_decode(store__slice(k), index);
        if (rc != 0) {
            PMQ_LOG_ERROR("store_log_corrupt", "reason=bad_key key_len=%zu", k.mv_size);
        }
    }
    return rc;
}

int store_log_bounds(store_t *s, uint64_t *first, uint64_t *last) {
    PMQ_ASSERT(first != NULL);
    PMQ_ASSERT(last != NULL);
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    int rc = read_begin(s, &txn);
    if (rc == 0) {
        rc = store__mdb_err(mdb_cursor_open(txn, s->dbi_log, &cur), "cursor_open");
    }
    uint64_t f = 0, l = 0;
    if (rc == 0) {
        rc = edge_index(cur, MDB_FIRST, &f);
    }
    if (rc == 0) {
        rc = edge_index(cur, MDB_LAST, &l);
    }
    if (rc == 0) {
        PMQ_ASSERT(f <= l);
        PMQ_ASSERT((f == 0) == (l == 0));
        *first = f;
        *last = l;
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return rc;
}
