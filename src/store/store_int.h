/* Internals of the store layer, shared by env.c, read.c, record.c, writer.c and store.c.
 *
 * Threads: fields are grouped by who may touch them. "immutable" fields are set by
 * store_open before the writer starts; "loop" fields belong to the loop thread; "mu"
 * fields are guarded by s->mu; "writer" fields belong to the store thread. The writer
 * thread never allocates or frees (pmq_malloc may be cmocka's single-threaded test
 * allocator): ops are allocated by the loop, handed to the writer through the queue, and
 * handed back through the done list for the loop to free. */
#ifndef PAXMQ_STORE_INT_H
#define PAXMQ_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "paxmq/assert.h"
#include "paxmq/store.h"

#define STORE__KEY_BYTES 8    /* log keys: u64 big-endian index */
#define STORE__CRC_BYTES 4    /* every record starts with a u32 big-endian CRC-32C */
#define STORE__SNAP_HDR_BYTES (STORE__CRC_BYTES + 8) /* crc, index */
#define STORE__FORMAT_KEY "store.format"
#define STORE__RESERVED_PREFIX "store."
#define STORE__SNAP_KEY "snapshot"

typedef enum store__op_kind {
    STORE__OP_APPEND = 1,
    STORE__OP_TRUNCATE = 2,
    STORE__OP_META_PUT = 3,
    STORE__OP_SNAP_PUT = 4,
} store__op_kind_t;

/* One queued write. One allocation holds the header, the meta key and copied bytes
 * (except for snapshots, whose taken buffer is pointed to). Owned by the loop until
 * queued, by the queue/writer until done, then by the loop again (freed there). */
typedef struct store__op {
    struct store__op *next;
    uint64_t seq;
    uint64_t enq_ms; /* pmq_mono_ms at enqueue, for oldest_pending_age_ms */
    store__op_kind_t kind;
    uint64_t index;    /* APPEND, TRUNCATE, SNAP_PUT */
    const char *key;   /* META_PUT: NUL-terminated, inside this allocation */
    char *bytes;       /* payload: inside this allocation, or the taken snapshot buffer */
    size_t len;
    bool bytes_owned;  /* bytes is a separate pmq_malloc buffer (snapshots) */
} store__op_t;

/* Counters the writer updates under s->mu after each txn. */
typedef struct store__wstats {
    uint64_t txns, ops, bytes_written, syncs;
    uint64_t commit_us_buckets[STORE_COMMIT_BUCKETS];
    uint64_t commit_us_sum, commit_count;
    uint64_t log_entries, log_bytes;
} store__wstats_t;

struct store {
    uv_async_t async; /* writer -> loop wake-up; s is freed in its close callback */

    /* immutable after store_open */
    uv_loop_t *loop;
    store_durable_cb cb;
    void *cb_arg;
    MDB_env *env;
    MDB_dbi dbi_log, dbi_meta, dbi_snap;
    bool sync;
    uint32_t group_commit_max;
    uint32_t queue_ops_max;
    size_t queue_bytes_max;
    size_t entry_bytes_max;
    pthread_t thread;
    bool thread_started;
    bool async_inited;

    /* loop thread */
    uint64_t next_seq;
    uint64_t reported_seq;
    bool failure_reported;
    bool closing;

    /* guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cond;     /* signalled when ops arrive or stopping is set */
    bool mu_inited;
    store__op_t *q_head, *q_tail; /* queued, not yet taken by the writer */
    store__op_t *batch_head;      /* taken by the writer, in the current txn */
    store__op_t *done_head, *done_tail; /* finished (durable or discarded), to free */
    uint64_t pending_ops;         /* queued + in the current txn */
    size_t pending_bytes;
    uint64_t durable_seq;
    int failed;
    bool stopping;
    bool writer_waiting;
    uint32_t stall_ms;
    store__wstats_t w;

    /* writer thread (and store_open before the thread starts) */
    uint64_t w_log_last; /* an upper bound of the highest log index; exact after appends */
};

/* ---- record.c: encode/decode of stored records (pure; no LMDB, no allocation) ---- */

void store__key_encode(unsigned char out[STORE__KEY_BYTES], uint64_t index);
/* PMQ_ECORRUPT unless key is exactly 8 bytes holding an index >= 1. */
PMQ_MUST_USE int store__key_decode(pmq_slice_t key, uint64_t *index);

size_t store__log_value_size(size_t payload_len);
/* Writes [crc32c(index BE, payload)][payload] into dst (store__log_value_size bytes). */
void store__log_value_encode(char *dst, uint64_t index, pmq_slice_t payload);
/* Checks the CRC and returns the payload as a slice into value. PMQ_ECORRUPT. */
PMQ_MUST_USE int store__log_value_decode(uint64_t index, pmq_slice_t value,
                                         pmq_slice_t *payload);

size_t store__meta_value_size(size_t value_len);
/* Writes [crc32c(key, value)][value] into dst. */
void store__meta_value_encode(char *dst, const char *key, pmq_slice_t value);
PMQ_MUST_USE int store__meta_value_decode(const char *key, pmq_slice_t stored,
                                          pmq_slice_t *value);

size_t store__snap_value_size(size_t len);
/* Writes [crc32c(index BE, bytes)][index BE][bytes] into dst. */
void store__snap_value_encode(char *dst, uint64_t index, pmq_slice_t bytes);
PMQ_MUST_USE int store__snap_value_decode(pmq_slice_t stored, uint64_t *index,
                                          pmq_slice_t *bytes);

/* ---- env.c: environment, named DBs, LMDB error mapping ---- */

/* Maps an LMDB (or errno) code to PMQ_E*, logging every failure with mdb_strerror and
 * what (the operation). 0 stays 0; MDB_NOTFOUND becomes PMQ_ENOTFOUND (not logged). */
PMQ_MUST_USE int store__mdb_err(int rc, const char *what);
/* Creates the directory, opens the env and the DBs, checks/writes the format version and
 * loads the log counters into s->w. Called by store_open before the writer starts. */
PMQ_MUST_USE int store__env_open(store_t *s, const store_options_t *opts);
/* Closes the env (no-op when not open). No txn may be live. */
void store__env_close(store_t *s);
static inline MDB_val store__val(const void *p, size_t n) {
    return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}
static inline pmq_slice_t store__slice(MDB_val v) { return pmq_slice(v.mv_data, v.mv_size); }

/* ---- writer.c: the store thread ---- */

/* The thread body (pthread start routine). */
void *store__writer_main(void *arg);

#endif
