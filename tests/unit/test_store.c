/* Unit tests for src/store: durability and reopen, group commit, truncation, meta,
 * snapshots, CRC corruption, the on-disk record format, map-full failure, the stall
 * hook, queue bounds and draining on close. Each test gets a fresh mkdtemp directory
 * and its own uv loop; raw LMDB access stands in for a disk that flips bits. */
#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test_util.h"

#include "paxmq/store.h"

typedef struct fx {
    char dir[64];
    uv_loop_t loop;
    store_t *s;
    store_options_t opts;
    uint64_t durable;
    int status;
    int cb_calls;
    int failure_reports;
    bool timed_out;
} fx_t;

static void on_durable(void *arg, uint64_t durable_seq, int status) {
    fx_t *f = arg;
    assert_true(durable_seq >= f->durable);
    f->durable = durable_seq;
    f->cb_calls++;
    if (status != 0) {
        f->status = status;
        f->failure_reports++;
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state) {
    fx_t *f = test_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pmq-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->opts = (store_options_t){.dir = f->dir, .map_size = 64u << 20, .sync = false};
    *state = f;
    return 0;
}

static void fx_close(fx_t *f) {
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0); /* runs the close callback */
}

/* Test bodies close their store (cmocka checks for leaks right after the body); this
 * closes it only when an assertion failed first. */
static int teardown(void **state) {
    fx_t *f = *state;
    if (f->s != NULL) {
        fx_close(f);
    }
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    test_free(f);
    return 0;
}

static void fx_open(fx_t *f) {
    assert_null(f->s);
    f->durable = 0;
    assert_int_equal(store_open(&f->s, &f->loop, &f->opts, on_durable, f), 0);
}

static void fx_reopen(fx_t *f) {
    fx_close(f);
    fx_open(f);
}

static void on_timeout(uv_timer_t *t) {
    fx_t *f = t->data;
    f->timed_out = true;
}

/* Runs the loop until op seq is durable or the store failed (20 s guard). */
static void fx_wait(fx_t *f, uint64_t seq) {
    uv_timer_t timer;
    assert_int_equal(uv_timer_init(&f->loop, &timer), 0);
    timer.data = f;
    assert_int_equal(uv_timer_start(&timer, on_timeout, 20000, 0), 0);
    while (f->durable < seq && f->status == 0 && !f->timed_out) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_false(f->timed_out);
}

/* The payload of test entry i: "entry-<i>" repeated to i % 97 bytes (some empty). */
static size_t entry_bytes(uint64_t i, char *buf, size_t cap) {
    char unit[32];
    int n = snprintf(unit, sizeof(unit), "entry-%llu;", (unsigned long long)i);
    size_t len = (size_t)(i % 97);
    assert_true(len <= cap);
    for (size_t k = 0; k < len; k++) {
        buf[k] = unit[k % (size_t)n];
    }
    return len;
}

static uint64_t append_range(fx_t *f, uint64_t from, uint64_t to) {
    uint64_t seq = 0;
    char buf[128];
    for (uint64_t i = from; i <= to; i++) {
        size_t n = entry_bytes(i, buf, sizeof(buf));
        assert_int_equal(store_log_append(f->s, i, pmq_slice(buf, n), &seq), 0);
    }
    return seq;
}

typedef struct scan_ctx {
    uint64_t count, first, last;
    bool check_bytes;
    int stop_at;
} scan_ctx_t;

static int scan_check(void *arg, uint64_t index, pmq_slice_t bytes) {
    scan_ctx_t *c = arg;
    if (c->count == 0) {
        c->first = index;
    } else {
        assert_int_equal(index, c->last + 1);
    }
    c->last = index;
    c->count++;
    if (c->check_bytes) {
        char buf[128];
        size_t n = entry_bytes(index, buf, sizeof(buf));
        assert_int_equal(bytes.len, n);
        assert_memory_equal(bytes.ptr, buf, n);
    }
    return (c->stop_at != 0 && c->count == (uint64_t)c->stop_at) ? 7 : 0;
}

static void assert_bounds(fx_t *f, uint64_t first, uint64_t last) {
    uint64_t a = 99, b = 99;
    assert_int_equal(store_log_bounds(f->s, &a, &b), 0);
    assert_int_equal(a, first);
    assert_int_equal(b, last);
}

static void test_append_durable_reopen_scan(void **state) {
    fx_t *f = *state;
    fx_open(f);
    assert_bounds(f, 0, 0);
    uint64_t seq = append_range(f, 1, 500);
    assert_int_equal(seq, 500);
    fx_wait(f, seq);
    assert_int_equal(f->durable, 500);
    assert_int_equal(f->status, 0);
    assert_bounds(f, 1, 500);
    fx_reopen(f);
    assert_bounds(f, 1, 500);
    scan_ctx_t c = {.check_bytes = true};
    assert_int_equal(store_log_scan(f->s, 1, scan_check, &c), 0);
    assert_int_equal(c.count, 500);
    c = (scan_ctx_t){.check_bytes = true};
    assert_int_equal(store_log_scan(f->s, 250, scan_check, &c), 0);
    assert_int_equal(c.first, 250);
    assert_int_equal(c.count, 251);
    c = (scan_ctx_t){.stop_at = 3};
    assert_int_equal(store_log_scan(f->s, 1, scan_check, &c), 7);
    assert_int_equal(c.count, 3);
    store_stats_t st;
    store_stats_get(f->s, &st);
    assert_int_equal(st.log_entries, 500);
    uint64_t bytes = 0;
    for (uint64_t i = 1; i <= 500; i++) {
        bytes += i % 97;
    }
    assert_int_equal(st.log_bytes, bytes);
    assert_int_equal(st.queued_ops, 0);
    assert_int_equal(st.oldest_pending_age_ms, 0);
    fx_close(f);
}

static void test_record_format_on_disk(void **state) {
    fx_t *f = *state;
    fx_open(f);
    uint64_t seq;
    assert_int_equal(store_log_append(f->s, 0x0102030405060708ull, PMQ_SLICE_LIT("hello"), &seq),
                     0);
    fx_wait(f, seq);
    fx_close(f);

    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, f->dir, MDB_RDONLY, 0640), 0);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    MDB_dbi log, meta;
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &log), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    const unsigned char key[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    MDB_val k = {sizeof(key), (void *)key}, v;
    assert_int_equal(mdb_get(txn, log, &k, &v), 0);
    assert_int_equal(v.mv_size, 4 + 5);
    uint32_t crc = pmq_crc32c(pmq_crc32c(0, key, 8), "hello", 5);
    assert_int_equal(pmq_load_u32be(v.mv_data), crc);
    assert_memory_equal((char *)v.mv_data + 4, "hello", 5);
    MDB_val fk = {strlen("store.format"), "store.format"};
    assert_int_equal(mdb_get(txn, meta, &fk, &v), 0);
    assert_int_equal(v.mv_size, 8);
    assert_int_equal(pmq_load_u32be((char *)v.mv_data + 4), 1);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void test_group_commit_groups(void **state) {
    fx_t *f = *state;
    f->opts.sync = true;
    fx_open(f);
    uint64_t seq = 0;
    char payload[32];
    memset(payload, 'g', sizeof(payload));
    for (uint64_t i = 1; i <= 10000; i++) {
        assert_int_equal(store_log_append(f->s, i, pmq_slice(payload, sizeof(payload)), &seq),
                         0);
        assert_int_equal(seq, i);
    }
    fx_wait(f, seq);
    assert_int_equal(f->durable, 10000);
    store_stats_t st;
    store_stats_get(f->s, &st);
    assert_int_equal(st.ops, 10000);
    assert_true(st.txns >= 10);       /* group_commit_max 1024 caps a txn */
    assert_true(st.txns < 1000);      /* ... and far fewer txns than ops */
    assert_int_equal(st.syncs, st.txns);
    assert_int_equal(st.commit_count, st.txns);
    uint64_t in_buckets = 0;
    for (unsigned i = 0; i < STORE_COMMIT_BUCKETS; i++) {
        in_buckets += st.commit_us_buckets[i];
    }
    assert_int_equal(in_buckets, st.txns);
    assert_int_equal(st.log_entries, 10000);
    assert_int_equal(st.log_bytes, 10000 * sizeof(payload));
    assert_true(st.bytes_written >= 10000 * (8 + 4 + sizeof(payload)));
    fx_close(f);
}

static void test_truncate_from(void **state) {
    fx_t *f = *state;
    fx_open(f);
    uint64_t seq = append_range(f, 1, 1000);
    assert_int_equal(store_log_truncate_from(f->s, 400, &seq), 0);
    assert_int_equal(store_log_append(f->s, 400, PMQ_SLICE_LIT("new"), &seq), 0);
    assert_int_equal(store_log_truncate_from(f->s, 5000, &seq), 0); /* past the end: no-op */
    fx_wait(f, seq);
    assert_bounds(f, 1, 400);
    scan_ctx_t c = {.check_bytes = true, .stop_at = 399};
    assert_int_equal(store_log_scan(f->s, 1, scan_check, &c), 7);
    assert_int_equal(c.last, 399);
    store_stats_t st;
    store_stats_get(f->s, &st);
    assert_int_equal(st.log_entries, 400);
    fx_reopen(f);
    assert_bounds(f, 1, 400);
    store_stats_get(f->s, &st);
    assert_int_equal(st.log_entries, 400);
    fx_close(f);
}

static int scan_capture(void *arg, uint64_t index, pmq_slice_t bytes) {
    pmq_buf_t *b = arg;
    (void)index;
    pmq_buf_reset(b);
    return pmq_buf_append_slice(b, bytes);
}

static void test_overwrite_entry(void **state) {
    fx_t *f = *state;
    fx_open(f);
    uint64_t seq;
    assert_int_equal(store_log_append(f->s, 1, PMQ_SLICE_LIT("first"), &seq), 0);
    assert_int_equal(store_log_append(f->s, 1, PMQ_SLICE_LIT("second!"), &seq), 0);
    fx_wait(f, seq);
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(store_log_scan(f->s, 1, scan_capture, &b), 0);
    assert_true(pmq_slice_eq_cstr(pmq_buf_slice(&b), "second!"));
    pmq_buf_close(&b);
    store_stats_t st;
    store_stats_get(f->s, &st);
    assert_int_equal(st.log_entries, 1);
    assert_int_equal(st.log_bytes, 7);
    fx_close(f);
}

static void test_meta_put_get(void **state) {
    fx_t *f = *state;
    fx_open(f);
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(store_meta_get(f->s, "promised_ballot", &b), PMQ_ENOTFOUND);
    uint64_t seq;
    assert_int_equal(store_meta_put(f->s, "promised_ballot", PMQ_SLICE_LIT("\x00\x07r1"), &seq),
                     0);
    assert_int_equal(store_meta_put(f->s, "voted_for", PMQ_SLICE_LIT("node-a"), &seq), 0);
    assert_int_equal(store_meta_put(f->s, "voted_for", PMQ_SLICE_LIT("node-b"), &seq), 0);
    fx_wait(f, seq);
    assert_int_equal(store_meta_get(f->s, "promised_ballot", &b), 0);
    assert_true(pmq_slice_eq(pmq_buf_slice(&b), PMQ_SLICE_LIT("\x00\x07r1")));
    fx_reopen(f);
    assert_int_equal(store_meta_get(f->s, "voted_for", &b), 0);
    assert_true(pmq_slice_eq_cstr(pmq_buf_slice(&b), "node-b"));
    /* The caller's buffer limit applies. */
    pmq_buf_t small;
    pmq_buf_init(&small, 3);
    assert_int_equal(store_meta_get(f->s, "voted_for", &small), PMQ_ETOOBIG);
    pmq_buf_close(&small);
    /* Reserved, empty and oversized keys; oversized values. */
    assert_int_equal(store_meta_put(f->s, "store.format", PMQ_SLICE_LIT("x"), &seq), PMQ_EINVAL);
    assert_int_equal(store_meta_put(f->s, "", PMQ_SLICE_LIT("x"), &seq), PMQ_EINVAL);
    char key[STORE_META_KEY_MAX + 2];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    assert_int_equal(store_meta_put(f->s, key, PMQ_SLICE_LIT("x"), &seq), PMQ_EINVAL);
    assert_int_equal(store_meta_get(f->s, key, &b), PMQ_EINVAL);
    char *big = test_calloc(1, STORE_META_VALUE_MAX + 1);
    assert_int_equal(store_meta_put(f->s, "k", pmq_slice(big, STORE_META_VALUE_MAX + 1), &seq),
                     PMQ_ETOOBIG);
    test_free(big);
    pmq_buf_close(&b);
    fx_close(f);
}

static void put_snapshot(fx_t *f, uint64_t index, const char *text) {
    size_t len = strlen(text);
    char *bytes = pmq_malloc(len);
    memcpy(bytes, text, len);
    uint64_t seq;
    assert_int_equal(store_snapshot_put_take(f->s, index, bytes, len, &seq), 0);
    fx_wait(f, seq);
}

static void assert_snapshot(fx_t *f, uint64_t index, const char *text) {
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    uint64_t got = 0;
    assert_int_equal(store_snapshot_get(f->s, &got, &b), 0);
    assert_int_equal(got, index);
    assert_true(pmq_slice_eq_cstr(pmq_buf_slice(&b), text));
    pmq_buf_close(&b);
}

static void test_snapshot_compacts_log(void **state) {
    fx_t *f = *state;
    fx_open(f);
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    uint64_t index;
    assert_int_equal(store_snapshot_get(f->s, &index, &b), PMQ_ENOTFOUND);
    pmq_buf_close(&b);
    uint64_t seq = append_range(f, 1, 2000);
    fx_wait(f, seq);
    put_snapshot(f, 1500, "state-at-1500");
    assert_bounds(f, 1501, 2000);
    assert_snapshot(f, 1500, "state-at-1500");
    store_stats_t st;
    store_stats_get(f->s, &st);
    assert_int_equal(st.log_entries, 500);
    fx_reopen(f);
    assert_bounds(f, 1501, 2000);
    assert_snapshot(f, 1500, "state-at-1500");
    scan_ctx_t c = {.check_bytes = true};
    assert_int_equal(store_log_scan(f->s, 1, scan_check, &c), 0);
    assert_int_equal(c.first, 1501);
    assert_int_equal(c.count, 500);
    /* A later snapshot replaces the earlier one; past the end it empties the log. */
    put_snapshot(f, 2500, "state-at-2500");
    assert_bounds(f, 0, 0);
    assert_snapshot(f, 2500, "state-at-2500");
    store_stats_get(f->s, &st);
    assert_int_equal(st.log_entries, 0);
    assert_int_equal(st.log_bytes, 0);
    /* Ownership is taken on failure too (the leak check would catch a leak). */
    assert_int_equal(store_snapshot_put_take(f->s, 0, pmq_malloc(4), 4, &seq), PMQ_EINVAL);
    fx_close(f);
}

/* Rewrites the stored value under key in DB name through a raw LMDB write txn, flipping
 * one bit of byte at (an offset into the stored value). */
static void corrupt_value(const char *dir, const char *name, MDB_val k, size_t at) {
    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    MDB_dbi dbi;
    assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
    MDB_val v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    assert_true(at < v.mv_size);
    char copy[256];
    assert_true(v.mv_size <= sizeof(copy));
    memcpy(copy, v.mv_data, v.mv_size);
    copy[at] ^= 0x10;
    MDB_val nv = {v.mv_size, copy};
    assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void test_crc_corruption_detected(void **state) {
    fx_t *f = *state;
    fx_open(f);
    uint64_t seq = append_range(f, 1, 60);
    assert_int_equal(store_meta_put(f->s, "node_name", PMQ_SLICE_LIT("paxmq-0"), &seq), 0);
    fx_wait(f, seq);
    fx_close(f);
    unsigned char key[8];
    pmq_store_u64be(key, 42);
    corrupt_value(f->dir, "log", (MDB_val){8, key}, 4 + 10); /* inside the payload */
    corrupt_value(f->dir, "meta", (MDB_val){9, "node_name"}, 1); /* inside the CRC */
    fx_open(f);
    scan_ctx_t c = {0};
    assert_int_equal(store_log_scan(f->s, 1, scan_check, &c), PMQ_ECORRUPT);
    assert_int_equal(c.last, 41); /* entries before the bad one were delivered */
    c = (scan_ctx_t){.check_bytes = true};
    assert_int_equal(store_log_scan(f->s, 43, scan_check, &c), 0);
    assert_int_equal(c.count, 18);
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(store_meta_get(f->s, "node_name", &b), PMQ_ECORRUPT);
    pmq_buf_close(&b);
    fx_close(f);
}

static void test_newer_format_refused(void **state) {
    fx_t *f = *state;
    fx_open(f);
    fx_close(f);
    /* A valid record (correct CRC) saying format 2, as a newer paxmq would write it. */
    char val[8];
    uint32_t crc = pmq_crc32c(0, "store.format", sizeof("store.format"));
    pmq_store_u32be(val + 4, 2);
    pmq_store_u32be(val, pmq_crc32c(crc, val + 4, 4));
    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0640), 0);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    MDB_dbi meta;
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k = {strlen("store.format"), "store.format"}, v = {sizeof(val), val};
    assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    store_t *s = (store_t *)1;
    assert_int_equal(store_open(&s, &f->loop, &f->opts, on_durable, f), PMQ_EVERSION);
    assert_null(s);
}

static void test_map_full_fails_store(void **state) {
    fx_t *f = *state;
    f->opts.map_size = 256u << 10;
    fx_open(f);
    char payload[300];
    memset(payload, 'm', sizeof(payload));
    uint64_t seq = 0, appended = 0;
    int rc = 0;
    for (uint64_t i = 1; i <= 20000 && rc == 0; i++) {
        rc = store_log_append(f->s, i, pmq_slice(payload, sizeof(payload)), &seq);
        appended += rc == 0 ? 1 : 0;
    }
    assert_true(rc == 0 || rc == PMQ_EFULL);
    fx_wait(f, appended);
    assert_int_equal(f->status, PMQ_EFULL);
    assert_int_equal(f->failure_reports, 1);
    assert_true(f->durable < appended);
    assert_int_equal(store_failed(f->s), PMQ_EFULL);
    assert_int_equal(store_log_append(f->s, appended + 1, PMQ_SLICE_LIT("x"), &seq), PMQ_EFULL);
    assert_int_equal(store_meta_put(f->s, "k", PMQ_SLICE_LIT("x"), &seq), PMQ_EFULL);
    store_stats_t st;
    store_stats_get(f->s, &st);
    assert_int_equal(st.failed, PMQ_EFULL);
    assert_int_equal(st.queued_ops, 0);
    assert_int_equal(st.ops, f->durable);
    uint64_t durable = f->durable;
    /* Exactly what was reported durable is on disk: no more, no less. */
    f->opts.map_size = 64u << 20;
    fx_reopen(f);
    assert_bounds(f, durable > 0 ? 1 : 0, durable);
    assert_int_equal(f->failure_reports, 1);
    fx_close(f);
}

static void test_stall_ages_pending_ops(void **state) {
    fx_t *f = *state;
    fx_open(f);
    store_debug_stall(f->s, 400);
    uint64_t t0 = pmq_mono_ms();
    uint64_t seq;
    assert_int_equal(store_log_append(f->s, 1, PMQ_SLICE_LIT("slow"), &seq), 0);
    usleep(150 * 1000);
    store_stats_t st;
    store_stats_get(f->s, &st);
    assert_int_equal(st.queued_ops, 1);
    assert_true(st.oldest_pending_age_ms >= 140);
    usleep(100 * 1000);
    store_stats_t st2;
    store_stats_get(f->s, &st2);
    assert_true(st2.oldest_pending_age_ms >= st.oldest_pending_age_ms + 90);
    fx_wait(f, seq);
    assert_true(pmq_mono_ms() - t0 >= 390);
    store_stats_get(f->s, &st);
    assert_int_equal(st.queued_ops, 0);
    assert_int_equal(st.oldest_pending_age_ms, 0);
    fx_close(f);
}

static void test_close_drains_pending(void **state) {
    fx_t *f = *state;
    f->opts.sync = true;
    fx_open(f);
    store_debug_stall(f->s, 500);
    uint64_t seq = append_range(f, 1, 1000);
    assert_int_equal(store_durable_seq(f->s), 0);
    fx_close(f); /* blocks through the stall and the drain; runs the loop afterwards */
    assert_int_equal(f->cb_calls, 0); /* no callback after store_close */
    fx_open(f);
    assert_bounds(f, 1, seq);
    scan_ctx_t c = {.check_bytes = true};
    assert_int_equal(store_log_scan(f->s, 1, scan_check, &c), 0);
    assert_int_equal(c.count, 1000);
    fx_close(f);
}

static void test_queue_bound_pushes_back(void **state) {
    fx_t *f = *state;
    f->opts.queue_ops_max = 8;
    fx_open(f);
    store_debug_stall(f->s, 200);
    uint64_t seq = append_range(f, 1, 8);
    assert_int_equal(store_log_append(f->s, 9, PMQ_SLICE_LIT("x"), &seq), PMQ_EFULL);
    assert_int_equal(store_failed(f->s), 0);
    fx_wait(f, 8);
    assert_int_equal(f->status, 0);
    assert_int_equal(store_log_append(f->s, 9, PMQ_SLICE_LIT("x"), &seq), 0);
    assert_int_equal(seq, 9); /* the refused op consumed no seq */
    fx_wait(f, seq);
    fx_close(f);
}

static void test_bad_arguments(void **state) {
    fx_t *f = *state;
    f->opts.entry_bytes_max = 16;
    fx_open(f);
    uint64_t seq = 0;
    assert_int_equal(store_log_append(f->s, 0, PMQ_SLICE_LIT("x"), &seq), PMQ_EINVAL);
    assert_int_equal(store_log_append(f->s, 1, PMQ_SLICE_LIT("0123456789abcdefX"), &seq),
                     PMQ_ETOOBIG);
    assert_int_equal(store_log_truncate_from(f->s, 0, &seq), PMQ_EINVAL);
    assert_int_equal(store_log_append(f->s, 1, PMQ_SLICE_LIT("0123456789abcdef"), &seq), 0);
    assert_int_equal(seq, 1);
    fx_wait(f, seq);
    store_options_t o = {.dir = NULL};
    store_t *s = NULL;
    assert_int_equal(store_open(&s, &f->loop, &o, on_durable, f), PMQ_EINVAL);
    assert_null(s);
    fx_close(f);
}

static void test_open_creates_nested_dir(void **state) {
    fx_t *f = *state;
    char nested[128];
    snprintf(nested, sizeof(nested), "%s/a/b/c", f->dir);
    f->opts.dir = nested;
    fx_open(f);
    uint64_t seq;
    assert_int_equal(store_log_append(f->s, 1, PMQ_SLICE_LIT("x"), &seq), 0);
    fx_wait(f, seq);
    fx_reopen(f);
    assert_bounds(f, 1, 1);
    assert_int_equal(access(nested, F_OK), 0);
    fx_close(f);
}

typedef struct prefix_ctx {
    uint64_t count;
} prefix_ctx_t;

static int scan_prefix(void *arg, uint64_t index, pmq_slice_t bytes) {
    prefix_ctx_t *c = arg;
    (void)bytes;
    assert_int_equal(index, c->count + 1);
    c->count++;
    return 0;
}

/* The loop reads while the writer writes: every scan sees a durable prefix. */
static void test_reads_while_writing(void **state) {
    fx_t *f = *state;
    fx_open(f);
    uint64_t seq = 0;
    for (uint64_t round = 0; round < 20; round++) {
        seq = append_range(f, round * 200 + 1, round * 200 + 200);
        uint64_t durable_before = store_durable_seq(f->s);
        prefix_ctx_t c = {0};
        assert_int_equal(store_log_scan(f->s, 1, scan_prefix, &c), 0);
        assert_true(c.count <= seq);
        assert_true(c.count >= durable_before);
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    fx_wait(f, seq);
    assert_bounds(f, 1, 4000);
    fx_close(f);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    pmq_log_setup(PMQ_LOG_WARN, "test");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_durable_reopen_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_format_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_from, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_compacts_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crc_corruption_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_format_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full_fails_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stall_ages_pending_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_drains_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound_pushes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_creates_nested_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_while_writing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
