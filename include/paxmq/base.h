/* paxmq base: the few types and helpers every layer shares.
 *
 * Slices, the allocator hook, diagnostic logging (pmq_log_*, never the replicated
 * log), a seeded PRNG, CRC-32C and a monotonic clock. Nothing here knows libuv, LMDB
 * or any protocol, so the pure layers (codecs, the Paxos core) link only this. */
#ifndef PAXMQ_BASE_H
#define PAXMQ_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "paxmq/err.h"

#define PMQ_MUST_USE __attribute__((warn_unused_result))
#define PMQ_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#define PMQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PMQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PMQ_MAX(a, b) ((a) > (b) ? (a) : (b))
#define PMQ_CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr) - offsetof(type, field)))
#define PMQ_LIKELY(x) __builtin_expect(!!(x), 1)
#define PMQ_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- slices: borrowed (ptr, len) views, never owning ---- */

typedef struct pmq_slice {
    const char *ptr;
    size_t len;
} pmq_slice_t;

#define PMQ_SLICE_LIT(s) ((pmq_slice_t){(s), sizeof(s) - 1})

static inline pmq_slice_t pmq_slice(const void *ptr, size_t len) {
    return (pmq_slice_t){(const char *)ptr, len};
}
static inline pmq_slice_t pmq_slice_cstr(const char *s) {
    return (pmq_slice_t){s, s ? strlen(s) : 0};
}
static inline bool pmq_slice_eq(pmq_slice_t a, pmq_slice_t b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}
static inline bool pmq_slice_eq_cstr(pmq_slice_t a, const char *s) {
    return pmq_slice_eq(a, pmq_slice_cstr(s));
}
static inline bool pmq_slice_has_prefix(pmq_slice_t a, const char *prefix) {
    size_t n = strlen(prefix);
    return a.len >= n && memcmp(a.ptr, prefix, n) == 0;
}

/* Parses a non-negative decimal integer that fills the whole slice. Returns false on
 * empty input, any non-digit, or overflow of max. */
bool pmq_slice_to_u64(pmq_slice_t s, uint64_t max, uint64_t *out);
/* Parses an optionally signed decimal integer that fills the whole slice. */
bool pmq_slice_to_i64(pmq_slice_t s, int64_t *out);

/* Returns a NUL-terminated heap copy (pmq_free it), or NULL on allocation failure. */
char *pmq_slice_dup(pmq_slice_t s);

/* True when s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
 * When reject_nul is set, U+0000 is rejected too (MQTT 3.1.1 §1.5.3). */
bool pmq_utf8_is_valid(pmq_slice_t s, bool reject_nul);

/* ---- client protocol errors are data (STYLE §3) ----
 * A codec that rejects input returns PMQ_EPROTO (or PMQ_ETOOBIG) and fills one of
 * these; one function per protocol turns it into a STOMP ERROR frame or an MQTT
 * CONNACK code / disconnect. reason is a short human sentence for the client. */
typedef struct pmq_proto_err {
    int code;          /* protocol-specific code (MQTT CONNACK return code, HTTP status, 0) */
    bool must_close;   /* the connection must be closed after reporting */
    char reason[160];  /* NUL-terminated */
} pmq_proto_err_t;

/* Fills err with a formatted reason; returns rc so callers can `return pmq_proto_fail(...)`. */
int pmq_proto_fail(pmq_proto_err_t *err, int rc, int code, bool must_close, const char *fmt, ...)
    PMQ_PRINTF(5, 6);

/* ---- allocation: every layer allocates through these so unit tests can swap in
 * cmocka's leak-checking allocator (pmq_alloc_set_hooks). Any thread. ---- */

void *pmq_malloc(size_t n);
void *pmq_calloc(size_t count, size_t n);
void *pmq_realloc(void *p, size_t n);
void pmq_free(void *p);
char *pmq_strdup(const char *s);

typedef struct pmq_alloc_hooks {
    void *(*malloc_fn)(size_t);
    void *(*calloc_fn)(size_t, size_t);
    void *(*realloc_fn)(void *, size_t);
    void (*free_fn)(void *);
} pmq_alloc_hooks_t;

/* Installs allocation hooks (NULL restores libc). Call before any allocation; not
 * thread-safe against concurrent allocation. */
void pmq_alloc_set_hooks(const pmq_alloc_hooks_t *hooks);

/* ---- diagnostic logging: one line per event on stderr, key=value ---- */

typedef enum pmq_log_level {
    PMQ_LOG_ERROR = 0,
    PMQ_LOG_WARN = 1,
    PMQ_LOG_INFO = 2,
    PMQ_LOG_DEBUG = 3,
} pmq_log_level_t;

/* Sets the process-wide threshold and an optional node name printed on every line.
 * This is the one piece of process-wide mutable state (like stderr itself): set it
 * once at start-up from main. */
void pmq_log_setup(pmq_log_level_t level, const char *node_name);
bool pmq_log_enabled(pmq_log_level_t level);
/* Writes "ts=... level=... node=... event=<event> <fmt>\n" atomically (one write).
 * fmt should itself be key=value pairs. Any thread. */
void pmq_log_write(pmq_log_level_t level, const char *event, const char *fmt, ...)
    PMQ_PRINTF(3, 4);
/* Parses "error", "warn", "info", "debug". Returns false for anything else. */
bool pmq_log_level_parse(const char *s, pmq_log_level_t *out);

#define PMQ_LOG(level, event, ...)                                                      \
    do {                                                                                \
        if (pmq_log_enabled(level)) {                                                   \
            pmq_log_write(level, event, __VA_ARGS__);                                   \
        }                                                                               \
    } while (0)
#define PMQ_LOG_ERROR(event, ...) PMQ_LOG(PMQ_LOG_ERROR, event, __VA_ARGS__)
#define PMQ_LOG_WARN(event, ...) PMQ_LOG(PMQ_LOG_WARN, event, __VA_ARGS__)
#define PMQ_LOG_INFO(event, ...) PMQ_LOG(PMQ_LOG_INFO, event, __VA_ARGS__)
#define PMQ_LOG_DEBUG(event, ...) PMQ_LOG(PMQ_LOG_DEBUG, event, __VA_ARGS__)

/* A token bucket for logging bad input at a bounded rate (DESIGN §3). Not thread-safe:
 * one per owner. */
typedef struct pmq_ratelimit {
    uint64_t window_start_ms;
    uint32_t count;
    uint32_t per_window;
    uint64_t window_ms;
    uint64_t suppressed;
} pmq_ratelimit_t;
void pmq_ratelimit_init(pmq_ratelimit_t *rl, uint32_t per_window, uint64_t window_ms);
/* Returns true when a message may be logged now (now_ms is a monotonic time). */
bool pmq_ratelimit_allow(pmq_ratelimit_t *rl, uint64_t now_ms);

/* ---- time: only the driver layers read clocks; pure code takes time as input ---- */

/* Monotonic milliseconds / nanoseconds (CLOCK_MONOTONIC). Any thread. */
uint64_t pmq_mono_ms(void);
uint64_t pmq_mono_ns(void);
/* Wall-clock milliseconds since the Unix epoch. Any thread. */
uint64_t pmq_wall_ms(void);

/* ---- seeded PRNG (xoshiro256**): pure code receives one, never seeds itself ---- */

typedef struct pmq_rng {
    uint64_t s[4];
} pmq_rng_t;

void pmq_rng_seed(pmq_rng_t *rng, uint64_t seed);
uint64_t pmq_rng_next(pmq_rng_t *rng);
/* Uniform in [0, bound) for bound > 0. */
uint64_t pmq_rng_below(pmq_rng_t *rng, uint64_t bound);
/* Uniform in [lo, hi], lo <= hi. */
uint64_t pmq_rng_range(pmq_rng_t *rng, uint64_t lo, uint64_t hi);
/* True with probability num/den. */
bool pmq_rng_chance(pmq_rng_t *rng, uint32_t num, uint32_t den);

/* ---- CRC-32C (Castagnoli), software table version ---- */
uint32_t pmq_crc32c(uint32_t crc, const void *data, size_t len);

#endif
