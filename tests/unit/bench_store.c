/* bench_store: a standalone measurement of the store's group commit (not a test).
 *
 * Appends N entries of SIZE bytes with sync on, keeping WINDOW ops outstanding (a new
 * append whenever the durable callback frees a slot), once per window, and prints
 * entries/s, txns/s, ops per txn, the store's commit latency histogram percentiles and
 * the exact enqueue->durable latency percentiles. Results and the command are in
 * docs/STORE.md.
 *
 * Usage: bench_store DIR [ENTRIES [SIZE [WINDOW...]]]   (defaults 200000 300 64 4096)
 * DIR must be on the disk being measured; a subdirectory per window is created and
 * removed afterwards. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "paxmq/store.h"

typedef struct bench {
    uv_loop_t loop;
    store_t *s;
    uint64_t entries, window, next_index, durable;
    char *payload;
    size_t size;
    uint64_t *enq_ns; /* by seq */
    uint64_t *lat_us; /* by seq */
    int status;
} bench_t;

static void refill(bench_t *b) {
    while (b->next_index <= b->entries && b->next_index - 1 - b->durable < b->window) {
        uint64_t seq;
        b->enq_ns[b->next_index] = pmq_mono_ns();
        int rc = store_log_append(b->s, b->next_index, pmq_slice(b->payload, b->size), &seq);
        if (rc != 0) {
            fprintf(stderr, "append failed: %s\n", pmq_strerror(rc));
            exit(1);
        }
        /* Only appends are queued, so seq == index. */
        b->next_index++;
    }
}

static void on_durable(void *arg, uint64_t durable_seq, int status) {
    bench_t *b = arg;
    uint64_t now = pmq_mono_ns();
    for (uint64_t seq = b->durable + 1; seq <= durable_seq; seq++) {
        b->lat_us[seq] = (now - b->enq_ns[seq]) / 1000;
    }
    b->durable = durable_seq;
    if (status != 0) {
        b->status = status;
        uv_stop(&b->loop);
        return;
    }
    if (b->durable == b->entries) {
        uv_stop(&b->loop);
        return;
    }
    refill(b);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The upper bound (us) of the histogram bucket holding quantile q. */
static uint64_t hist_quantile(const store_stats_t *st, double q) {
    uint64_t target = (uint64_t)(q * (double)st->commit_count + 0.5), seen = 0;
    for (unsigned i = 0; i < STORE_COMMIT_BUCKETS; i++) {
        seen += st->commit_us_buckets[i];
        if (seen >= target && seen > 0) {
            return store_commit_bucket_upper_us(i);
        }
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void report(bench_t *b, double secs) {
    store_stats_t st;
    store_stats_get(b->s, &st);
    uint64_t n = b->entries;
    qsort(b->lat_us + 1, n, sizeof(uint64_t), cmp_u64);
    printf("window=%llu entries=%llu size=%zu secs=%.2f entries/s=%.0f txns=%llu txns/s=%.0f "
           "ops/txn=%.1f MB/s=%.1f\n",
           (unsigned long long)b->window, (unsigned long long)n, b->size, secs,
           (double)n / secs, (unsigned long long)st.txns, (double)st.txns / secs,
           (double)st.ops / (double)st.txns, (double)st.bytes_written / secs / 1e6);
    printf("  commit (txn+sync) mean=%lluus histogram p50<%lluus p90<%lluus p99<%lluus\n",
           (unsigned long long)(st.commit_us_sum / st.commit_count),
           (unsigned long long)hist_quantile(&st, 0.50),
           (unsigned long long)hist_quantile(&st, 0.90),
           (unsigned long long)hist_quantile(&st, 0.99));
    printf("  enqueue->durable p50=%lluus p90=%lluus p99=%lluus max=%lluus\n",
           (unsigned long long)b->lat_us[1 + n / 2], (unsigned long long)b->lat_us[1 + n * 9 / 10],
           (unsigned long long)b->lat_us[1 + n * 99 / 100], (unsigned long long)b->lat_us[n]);
}

static int run(const char *dir, uint64_t entries, size_t size, uint64_t window) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/bench-w%llu", dir, (unsigned long long)window);
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    bench_t b = {.entries = entries, .window = window, .next_index = 1, .size = size};
    b.payload = malloc(size);
    b.enq_ns = calloc(entries + 1, sizeof(uint64_t));
    b.lat_us = calloc(entries + 1, sizeof(uint64_t));
    if (b.payload == NULL || b.enq_ns == NULL || b.lat_us == NULL ||
        uv_loop_init(&b.loop) != 0) {
        return 1;
    }
    memset(b.payload, 'p', size);
    store_options_t o = {.dir = path, .map_size = (size_t)4 << 30, .sync = true};
    int rc = store_open(&b.s, &b.loop, &o, on_durable, &b);
    if (rc != 0) {
        fprintf(stderr, "store_open %s: %s\n", path, pmq_strerror(rc));
        return 1;
    }
    uint64_t t0 = pmq_mono_ns();
    refill(&b);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    double secs = (double)(pmq_mono_ns() - t0) / 1e9;
    if (b.status != 0) {
        fprintf(stderr, "store failed: %s\n", pmq_strerror(b.status));
        return 1;
    }
    report(&b, secs);
    store_close(b.s);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&b.loop);
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(b.payload);
    free(b.enq_ns);
    free(b.lat_us);
    return rc != 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [ENTRIES [SIZE [WINDOW...]]]\n", argv[0]);
        return 2;
    }
    pmq_log_setup(PMQ_LOG_WARN, "bench");
    uint64_t entries = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
    size_t size = argc > 3 ? strtoull(argv[3], NULL, 10) : 300;
    if (entries == 0) {
        return 2;
    }
    if (argc <= 4) {
        return run(argv[1], entries, size, 64) || run(argv[1], entries, size, 4096);
    }
    for (int i = 4; i < argc; i++) {
        if (run(argv[1], entries, size, strtoull(argv[i], NULL, 10)) != 0) {
            return 1;
        }
    }
    return 0;
}
