/* paxmq store: the LMDB environment that makes the replicated log durable.
 *
 * One writer thread (the "store" thread) runs every LMDB write transaction and its sync;
 * the loop thread enqueues ops and hears back through a uv_async_t that "everything up to
 * op sequence N is durable". Many queued ops share one write txn and one sync (group
 * commit). The store does not interpret log entry bytes (the rlog_ layer does); it keeps
 * them opaque, keyed by index, each with a CRC-32C checked on every read (CLUSTER §2.3 D5).
 * It is not the broker state machine (state.mdb) and never blocks the loop on a sync.
 * Record formats, limits and numbers: docs/STORE.md. */
#ifndef PAXMQ_STORE_H
#define PAXMQ_STORE_H

#include <uv.h>

#include "paxmq/base.h"
#include "paxmq/buf.h"

/* Defaults used when the matching store_options_t field is 0. */
#define STORE_DEFAULT_MAP_SIZE ((size_t)1 << 30)        /* 1 GiB */
#define STORE_DEFAULT_GROUP_COMMIT_MAX 1024u            /* ops per write txn */
#define STORE_DEFAULT_QUEUE_OPS_MAX 65536u              /* ops waiting or in the txn */
#define STORE_DEFAULT_QUEUE_BYTES_MAX ((size_t)256 << 20) /* payload bytes queued */
#define STORE_DEFAULT_ENTRY_BYTES_MAX ((size_t)16 << 20)  /* one log entry */

/* Fixed limits. */
#define STORE_META_KEY_MAX 128                 /* bytes, without the NUL */
#define STORE_META_VALUE_MAX ((size_t)64 << 10) /* bytes */
#define STORE_FORMAT_VERSION 1u                /* value of meta key "store.format" */
#define STORE_COMMIT_BUCKETS 16

/* The store. Opaque; created by store_open on the loop thread, freed by store_close. */
typedef struct store store_t;

typedef struct store_options {
    const char *dir;           /* created if missing (mkdir -p); LMDB files live here */
    size_t map_size;           /* LMDB map size in bytes (0: STORE_DEFAULT_MAP_SIZE) */
    bool sync;                 /* false = MDB_NOSYNC: not durable, tests only */
    uint32_t group_commit_max; /* max ops per write txn (0: default) */
    uint32_t queue_ops_max;    /* max ops waiting or in the current txn (0: default) */
    size_t queue_bytes_max;    /* max payload bytes of those ops (0: default) */
    size_t entry_bytes_max;    /* max bytes of one log entry (0: default) */
} store_options_t;

/* Called on the LOOP thread (via uv_async) whenever more ops became durable, or the
 * store failed. durable_seq is the highest op sequence number now durable (every op
 * with a smaller seq is durable too); status is 0, or the negative PMQ_E* with which the
 * store failed. After a failure the store is "failed": ops not yet durable were
 * discarded, further writes are rejected with that code, and the node must stop
 * acknowledging. The failure is reported exactly once (the first error). The callback
 * may call store_close. */
typedef void (*store_durable_cb)(void *arg, uint64_t durable_seq, int status);

/* Opens (creating if needed) the environment in opts->dir, opens the named DBs `log`,
 * `meta`, `snap`, checks the format version, and starts the writer thread. opts is
 * copied (opts->dir is only used during the call). cb is called on loop's thread.
 * Loop thread. On success *out owns the store until store_close.
 * Errors: PMQ_EINVAL (bad options), PMQ_ENOMEM, PMQ_EIO (cannot create the directory),
 * PMQ_EVERSION (written by a newer paxmq, or an LMDB version mismatch), PMQ_ECORRUPT
 * (not an LMDB file, or a stored record fails its CRC), PMQ_EFULL (map too small),
 * PMQ_ESTORE (any other LMDB error, logged), or a negative errno from libuv/pthreads. */
PMQ_MUST_USE int store_open(store_t **out, uv_loop_t *loop, const store_options_t *opts,
                            store_durable_cb cb, void *cb_arg);

/* ---- recovery reads: loop thread, any time. Each runs its own read txn (the env uses
 * MDB_NOTLS), so reads never wait for the writer; they see only committed (durable)
 * data, never ops still queued. ---- */

/* Reads the meta value stored under key (NUL-terminated, <= STORE_META_KEY_MAX bytes)
 * into out, replacing its contents (out must be initialized; its limit applies).
 * Errors: PMQ_ENOTFOUND, PMQ_EINVAL (key), PMQ_ECORRUPT (CRC), PMQ_ETOOBIG /
 * PMQ_ENOMEM (out), PMQ_ESTORE. */
PMQ_MUST_USE int store_meta_get(store_t *s, const char *key, pmq_buf_t *out);

/* Reads the current snapshot: its index into *index and its bytes into out (replacing
 * its contents). Errors: PMQ_ENOTFOUND (none stored), PMQ_ECORRUPT, PMQ_ETOOBIG /
 * PMQ_ENOMEM (out), PMQ_ESTORE. */
PMQ_MUST_USE int store_snapshot_get(store_t *s, uint64_t *index, pmq_buf_t *out);

/* Calls cb for every log entry with index >= from, in index order. The entry bytes are
 * borrowed from LMDB and valid only during the callback. cb returning non-zero stops the
 * scan and that value is returned. A CRC mismatch (or a malformed key) stops the scan
 * with PMQ_ECORRUPT and logs the index. The callback may enqueue writes (they are not
 * visible to this scan). Errors: PMQ_ECORRUPT, PMQ_ESTORE, or cb's value. */
typedef int (*store_scan_cb)(void *arg, uint64_t index, pmq_slice_t bytes);
PMQ_MUST_USE int store_log_scan(store_t *s, uint64_t from, store_scan_cb cb, void *arg);

/* Sets *first and *last to the lowest and highest durable log index, or 0,0 when the log
 * is empty. Errors: PMQ_ECORRUPT (malformed key), PMQ_ESTORE. */
PMQ_MUST_USE int store_log_bounds(store_t *s, uint64_t *first, uint64_t *last);

/* ---- writes: LOOP thread only. Each enqueues one op and sets *seq to its sequence
 * number (strictly increasing from 1). Ops execute in order; many share one write txn
 * and one sync. Borrowed bytes are copied before the call returns. Common errors:
 * the failure code once the store has failed (see store_durable_cb); PMQ_EFULL when
 * queue_ops_max or queue_bytes_max is reached (back-pressure: retry after the next
 * durable callback; store_failed tells the two PMQ_EFULL cases apart); PMQ_ENOMEM. ---- */

/* Writes log entry index (>= 1), replacing any entry already at that index.
 * Extra errors: PMQ_EINVAL (index 0), PMQ_ETOOBIG (bytes.len > entry_bytes_max). */
PMQ_MUST_USE int store_log_append(store_t *s, uint64_t index, pmq_slice_t bytes,
                                  uint64_t *seq);

/* Deletes every log entry with index >= index (>= 1). Extra errors: PMQ_EINVAL. */
PMQ_MUST_USE int store_log_truncate_from(store_t *s, uint64_t index, uint64_t *seq);

/* Sets meta key (NUL-terminated, 1..STORE_META_KEY_MAX bytes, not starting with the
 * reserved prefix "store.") to value (<= STORE_META_VALUE_MAX bytes).
 * Extra errors: PMQ_EINVAL (key), PMQ_ETOOBIG (value). */
PMQ_MUST_USE int store_meta_put(store_t *s, const char *key, pmq_slice_t value,
                                uint64_t *seq);

/* Stores the snapshot taken at index (>= 1), replacing the previous one, and deletes
 * every log entry <= index, in the same write txn. Takes ownership of bytes (allocated
 * with pmq_malloc, len bytes; NULL allowed when len is 0) on success AND failure; it is
 * freed with pmq_free on the loop thread once written. Extra errors: PMQ_EINVAL. */
PMQ_MUST_USE int store_snapshot_put_take(store_t *s, uint64_t index, char *bytes, size_t len,
                                         uint64_t *seq);

/* ---- state and observability ---- */

typedef struct store_stats {
    uint64_t txns;          /* write txns committed */
    uint64_t ops;           /* ops made durable */
    uint64_t bytes_written; /* key + value bytes put (records include their CRC) */
    uint64_t syncs;         /* synced commits (txns with sync on; LMDB flushes twice each) */
    uint64_t queued_ops;    /* waiting or in the current txn */
    uint64_t oldest_pending_age_ms; /* age of the oldest queued op; 0 when idle */
    /* Histogram of write txn + commit (+ sync) latency, not cumulative:
     * bucket 0 counts < 64us, bucket i (1..14) counts [64us << (i-1), 64us << i),
     * bucket 15 counts >= 64us << 14 (1.048576 s). */
    uint64_t commit_us_buckets[STORE_COMMIT_BUCKETS];
    uint64_t commit_us_sum, commit_count;
    uint64_t log_entries, log_bytes; /* current log: entries and payload bytes */
    int failed;                      /* the first error, or 0 */
} store_stats_t;

/* Copies the current statistics into *out. Loop thread (takes the store mutex). */
void store_stats_get(store_t *s, store_stats_t *out);

/* Returns the highest durable op seq (0 before the first). Loop thread. */
uint64_t store_durable_seq(store_t *s);

/* Returns 0 while the store works, or the negative PMQ_E* it failed with. Loop thread. */
int store_failed(store_t *s);

/* Converts a commit latency bucket index (0..STORE_COMMIT_BUCKETS-1) to its exclusive
 * upper bound in microseconds (UINT64_MAX for the last bucket). Any thread. */
uint64_t store_commit_bucket_upper_us(unsigned bucket);

/* Test hook (always compiled, harmless): the writer sleeps ms before its next write txn,
 * so tests can simulate a stuck disk. Loop thread. */
void store_debug_stall(store_t *s, uint32_t ms);

/* Drains queued ops (makes them durable, unless the store failed), stops and joins the
 * writer thread and closes the environment. It BLOCKS the calling loop thread for the
 * drain (one or more write txns and syncs) and never runs the loop. Loop thread, with the
 * loop still alive: s itself is released from the uv_close callback of its embedded
 * async handle, so the loop must run once more (e.g. until uv_run returns) for the memory
 * to be freed. No durable callback fires after store_close returns; use
 * store_durable_seq/store_failed before calling it if the final state matters.
 * store_close(NULL) is a no-op. */
void store_close(store_t *s);

#endif
