/* paxmq-bench statistics: the latency histogram, the per-producer sequence bitmaps
 * that make delivery counting exact, /proc readings of the broker process, and the hex
 * helpers of the payload header.
 *
 * Nothing here is shared between threads: each worker owns its histograms and bitmaps
 * and the main thread merges them after the workers have been joined. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_int.h"
#include "paxmq/assert.h"

PMQ_STATIC_ASSERT(BENCH_HIST_SUB == 128, "hist_index assumes 7 bits of mantissa");

static size_t hist_index(uint64_t v) {
    if (v < BENCH_HIST_SUB) {
        return (size_t)v;
    }
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - 7u;
    size_t idx = (size_t)(shift + 1u) * BENCH_HIST_SUB + (size_t)((v >> shift) - BENCH_HIST_SUB);
    return idx < BENCH_HIST_BUCKETS ? idx : BENCH_HIST_BUCKETS - 1;
}

/* The middle of the bucket, so the error is at most half a bucket (< 0.4%). */
static uint64_t hist_value(size_t idx) {
    if (idx < BENCH_HIST_SUB) {
        return idx;
    }
    unsigned shift = (unsigned)(idx / BENCH_HIST_SUB) - 1u;
    uint64_t lower = (uint64_t)(BENCH_HIST_SUB + idx % BENCH_HIST_SUB) << shift;
    return lower + (((uint64_t)1 << shift) >> 1);
}

void bench_hist_add(bench_hist_t *h, uint64_t ns) {
    h->counts[hist_index(ns)]++;
    h->total++;
    h->sum_ns += (long double)ns;
    if (ns > h->max_ns) {
        h->max_ns = ns;
    }
}

void bench_hist_merge(bench_hist_t *into, const bench_hist_t *from) {
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        into->counts[i] += from->counts[i];
    }
    into->total += from->total;
    into->sum_ns += from->sum_ns;
    into->max_ns = PMQ_MAX(into->max_ns, from->max_ns);
}

uint64_t bench_hist_quantile(const bench_hist_t *h, double q) {
    if (h->total == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)(q * (double)h->total + 0.999999);
    rank = PMQ_MAX(rank, 1);
    uint64_t acc = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        acc += h->counts[i];
        if (acc >= rank) {
            return PMQ_MIN(hist_value(i), h->max_ns);
        }
    }
    return h->max_ns;
}

static int seen_grow(bench_seen_t *s, size_t words) {
    if (words <= s->words) {
        return 0;
    }
    size_t cap = PMQ_MAX(words, s->words * 2);
    cap = PMQ_MAX(cap, 1024);
    uint64_t *bits = pmq_realloc(s->bits, cap * sizeof(uint64_t));
    if (bits == NULL) {
        return PMQ_ENOMEM;
    }
    memset(bits + s->words, 0, (cap - s->words) * sizeof(uint64_t));
    s->bits = bits;
    s->words = cap;
    return 0;
}

int bench_seen_mark(bench_seen_t *s, uint64_t seq) {
    if (seq >= BENCH_SEQ_MAX) {
        return PMQ_ETOOBIG;
    }
    size_t word = (size_t)(seq / 64);
    int rc = seen_grow(s, word + 1);
    if (rc != 0) {
        return rc;
    }
    uint64_t bit = (uint64_t)1 << (seq % 64);
    if (s->bits[word] & bit) {
        return 0;
    }
    s->bits[word] |= bit;
    return 1;
}

int bench_seen_or(bench_seen_t *into, const bench_seen_t *from) {
    int rc = seen_grow(into, from->words);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < from->words; i++) {
        into->bits[i] |= from->bits[i];
    }
    return 0;
}

uint64_t bench_seen_count(const bench_seen_t *s) {
    uint64_t n = 0;
    for (size_t i = 0; i < s->words; i++) {
        n += (uint64_t)__builtin_popcountll(s->bits[i]);
    }
    return n;
}

void bench_seen_free(bench_seen_t *s) {
    pmq_free(s->bits);
    *s = (bench_seen_t){0};
}

static void proc_status(int pid, bench_proc_t *out) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    char line[256];
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long v = 0;
        if (sscanf(line, "VmRSS: %llu", &v) == 1) {
            out->rss_kib = v;
            out->ok = true;
        } else if (sscanf(line, "VmHWM: %llu", &v) == 1) {
            out->hwm_kib = v;
        }
    }
    fclose(f);
}

/* utime and stime are fields 14 and 15 of /proc/PID/stat; the command name (field 2)
 * may contain spaces, so count from the last ')'. */
static void proc_stat(int pid, bench_proc_t *out) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    char line[1024];
    bool got = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    char *p = got ? strrchr(line, ')') : NULL;
    if (p == NULL) {
        return;
    }
    unsigned long long ut = 0;
    unsigned long long st = 0;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2) {
        long hz = sysconf(_SC_CLK_TCK);
        out->cpu_s = (double)(ut + st) / (double)(hz > 0 ? hz : 100);
    }
}

void bench_proc_read(int pid, bench_proc_t *out) {
    *out = (bench_proc_t){0};
    if (pid <= 0) {
        return;
    }
    proc_status(pid, out);
    proc_stat(pid, out);
}

double bench_self_cpu_s(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0.0;
    }
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static const char hexdig[16] = "0123456789abcdef";

void bench_hex_u64(char *dst16, uint64_t v) {
    for (int i = 15; i >= 0; i--) {
        dst16[i] = hexdig[v & 15u];
        v >>= 4;
    }
}

void bench_hex_u16(char *dst4, uint16_t v) {
    for (int i = 3; i >= 0; i--) {
        dst4[i] = hexdig[v & 15u];
        v = (uint16_t)(v >> 4);
    }
}

bool bench_unhex_u64(const char *src, size_t n, uint64_t *out) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        unsigned d;
        if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (unsigned)(c - 'a' + 10);
        } else {
            return false;
        }
        v = (v << 4) | d;
    }
    *out = v;
    return true;
}
