/* The single-node commit pipeline: index assignment, group-committed persistence
 * through the store thread, in-order apply, proposal completion, recovery and
 * snapshot-driven log compaction. The clustered driver will keep this contract but
 * commit through Paxos instead of directly on local durability. */
#include <stdio.h>
#include <sys/random.h>

#include "paxmq/assert.h"
#include "paxmq/node.h"

typedef struct pending {
    struct pending *next;
    uint64_t index;
    uint64_t seq; /* store op sequence that makes it durable */
    broker_done_cb done;
    void *cookie;
    size_t len;
    char cmd[]; /* the command bytes, applied once durable */
} pending_t;

struct node {
    uv_loop_t *loop;
    node_options_t opt;
    store_t *store;
    broker_t *broker;
    char broker_id[32];
    uint64_t last_index;       /* last index proposed (or recovered) */
    uint64_t snapshot_index;
    uint64_t since_snapshot_entries, since_snapshot_bytes;
    pending_t *head, *tail;    /* proposals in index order */
    uint64_t pending_count;
    pmq_buf_t scratch;
    node_stats_t st;
    int failed;
    bool closing;
};

static void maybe_snapshot(node_t *n);

static void complete_upto(node_t *n, uint64_t durable_seq) {
    while (n->head != NULL && n->head->seq <= durable_seq) {
        pending_t *p = n->head;
        n->head = p->next;
        if (n->head == NULL) {
            n->tail = NULL;
        }
        n->pending_count--;
        int rc = broker_apply(n->broker, p->index, pmq_slice(p->cmd, p->len));
        /* We encoded this command ourselves a moment ago: failing to apply it is our bug. */
        PMQ_ASSERT(rc == 0);
        PMQ_ASSERT(broker_last_applied(n->broker) == p->index);
        n->st.applied_index = p->index;
        n->since_snapshot_entries++;
        n->since_snapshot_bytes += p->len;
        if (p->done != NULL) {
            p->done(p->cookie, 0);
        }
        pmq_free(p);
    }
    maybe_snapshot(n);
}

static void fail_all(node_t *n, int status) {
    while (n->head != NULL) {
        pending_t *p = n->head;
        n->head = p->next;
        n->pending_count--;
        if (p->done != NULL) {
            p->done(p->cookie, status);
        }
        pmq_free(p);
    }
    n->tail = NULL;
}

static void on_durable(void *arg, uint64_t durable_seq, int status) {
    node_t *n = arg;
    if (status != 0) {
        /* The disk failed: nothing more may be acknowledged. Proposals not yet durable
         * fail, so their clients get errors instead of receipts. */
        PMQ_LOG_ERROR("store_failed", "err=%s pending=%llu action=\"node stops acknowledging; "
                      "check the disk under %s and restart\"",
                      pmq_strerror(status), (unsigned long long)n->pending_count, n->opt.data_dir);
        complete_upto(n, durable_seq);
        n->failed = status;
        n->st.failed = status;
        fail_all(n, status);
        return;
    }
    complete_upto(n, durable_seq);
}

static int load_or_create_id(node_t *n) {
    pmq_buf_t v;
    pmq_buf_init(&v, 0);
    int rc = store_meta_get(n->store, "broker.id", &v);
    if (rc == 0 && v.len > 0 && v.len < sizeof(n->broker_id)) {
        memcpy(n->broker_id, v.data, v.len);
        n->broker_id[v.len] = '\0';
        pmq_buf_close(&v);
        return 0;
    }
    pmq_buf_close(&v);
    if (rc != PMQ_ENOTFOUND) {
        return rc == 0 ? PMQ_ECORRUPT : rc;
    }
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r)) {
        r = (uint32_t)pmq_mono_ns();
    }
    snprintf(n->broker_id, sizeof(n->broker_id), "%08x", r);
    uint64_t seq;
    return store_meta_put(n->store, "broker.id", pmq_slice_cstr(n->broker_id), &seq);
}

int node_open(node_t **out, uv_loop_t *loop, const node_options_t *opts) {
    node_t *n = pmq_calloc(1, sizeof(*n));
    if (n == NULL) {
        return PMQ_ENOMEM;
    }
    n->loop = loop;
    n->opt = *opts;
    pmq_buf_init(&n->scratch, 0);
    store_options_t so = {.dir = opts->data_dir,
                          .map_size = opts->map_size,
                          .sync = opts->sync,
                          .group_commit_max = opts->group_commit_max,
                          .entry_bytes_max = opts->entry_bytes_max};
    int rc = store_open(&n->store, loop, &so, on_durable, n);
    if (rc == 0) {
        rc = load_or_create_id(n);
    }
    if (rc != 0) {
        if (n->store != NULL) {
            store_close(n->store);
        }
        pmq_buf_close(&n->scratch);
        pmq_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

typedef struct replay {
    node_t *node;
    uint64_t expect;
    uint64_t count;
    uint64_t last_report_ms;
} replay_t;

static int replay_one(void *arg, uint64_t index, pmq_slice_t bytes) {
    replay_t *r = arg;
    if (index != r->expect) {
        PMQ_LOG_ERROR("recovery_gap", "expected_index=%llu found_index=%llu",
                      (unsigned long long)r->expect, (unsigned long long)index);
        return PMQ_ECORRUPT;
    }
    rlog_entry_t e;
    int rc = rlog_entry_decode(bytes, index, &e);
    if (rc == 0 && e.type == RLOG_ENTRY_CMD) {
        rc = broker_apply(r->node->broker, index, e.payload);
    }
    if (rc != 0) {
        PMQ_LOG_ERROR("recovery_failed", "index=%llu err=%s", (unsigned long long)index,
                      pmq_strerror(rc));
        return rc;
    }
    r->expect++;
    r->count++;
    r->node->since_snapshot_entries++;
    r->node->since_snapshot_bytes += bytes.len;
    uint64_t now = pmq_mono_ms();
    if (now - r->last_report_ms >= 2000) {
        r->last_report_ms = now;
        PMQ_LOG_INFO("recovery_progress", "index=%llu replayed=%llu",
                     (unsigned long long)index, (unsigned long long)r->count);
    }
    return 0;
}

int node_recover(node_t *n, broker_t *b) {
    uint64_t start = pmq_mono_ms();
    n->broker = b;
    pmq_buf_t snap;
    pmq_buf_init(&snap, 0);
    uint64_t snap_index = 0;
    int rc = store_snapshot_get(n->store, &snap_index, &snap);
    if (rc == 0) {
        rc = broker_snapshot_restore(b, pmq_buf_slice(&snap));
        if (rc == 0 && broker_last_applied(b) != snap_index) {
            rc = PMQ_ECORRUPT;
        }
        PMQ_LOG_INFO("snapshot_loaded", "index=%llu bytes=%zu", (unsigned long long)snap_index,
                     snap.len);
    } else if (rc == PMQ_ENOTFOUND) {
        rc = 0;
    }
    pmq_buf_close(&snap);
    if (rc != 0) {
        PMQ_LOG_ERROR("snapshot_load_failed", "err=%s", pmq_strerror(rc));
        return rc;
    }
    replay_t r = {n, snap_index + 1, 0, pmq_mono_ms()};
    rc = store_log_scan(n->store, snap_index + 1, replay_one, &r);
    if (rc != 0) {
        return rc;
    }
    n->snapshot_index = snap_index;
    n->last_index = r.expect - 1;
    n->st.applied_index = n->last_index;
    n->st.snapshot_index = snap_index;
    n->st.recovered_entries = r.count;
    n->st.recovery_ms = pmq_mono_ms() - start;
    PMQ_LOG_INFO("recovered", "snapshot_index=%llu replayed=%llu last_index=%llu ms=%llu",
                 (unsigned long long)snap_index, (unsigned long long)r.count,
                 (unsigned long long)n->last_index, (unsigned long long)n->st.recovery_ms);
    return 0;
}

int node_propose(node_t *n, pmq_slice_t cmd, broker_done_cb done, void *cookie) {
    PMQ_ASSERT(n->broker != NULL);
    if (n->failed != 0) {
        return n->failed;
    }
    if (n->closing) {
        return PMQ_ECLOSED;
    }
    pending_t *p = pmq_malloc(sizeof(*p) + cmd.len);
    if (p == NULL) {
        return PMQ_ENOMEM;
    }
    rlog_entry_t e = {.index = n->last_index + 1, .ballot = 1, .time_ms = pmq_wall_ms(),
                      .type = RLOG_ENTRY_CMD, .payload = cmd};
    pmq_buf_reset(&n->scratch);
    int rc = rlog_entry_encode(&n->scratch, &e);
    if (rc == 0) {
        rc = store_log_append(n->store, e.index, pmq_buf_slice(&n->scratch), &p->seq);
    }
    if (rc != 0) {
        pmq_free(p);
        return rc;
    }
    n->last_index = e.index;
    p->next = NULL;
    p->index = e.index;
    p->done = done;
    p->cookie = cookie;
    p->len = cmd.len;
    memcpy(p->cmd, cmd.ptr, cmd.len);
    if (n->tail != NULL) {
        n->tail->next = p;
    } else {
        n->head = p;
    }
    n->tail = p;
    n->pending_count++;
    n->st.proposals++;
    return 0;
}

static int log_propose(void *arg, pmq_slice_t cmd, broker_done_cb done, void *cookie) {
    return node_propose(arg, cmd, done, cookie);
}

broker_log_t node_log(node_t *n) { return (broker_log_t){n, log_propose}; }

static void maybe_snapshot(node_t *n) {
    if (n->since_snapshot_entries < n->opt.snapshot_entries &&
        n->since_snapshot_bytes < n->opt.snapshot_bytes) {
        return;
    }
    uint64_t index = broker_last_applied(n->broker);
    if (index <= n->snapshot_index) {
        return;
    }
    uint64_t start = pmq_mono_ms();
    pmq_buf_t snap;
    pmq_buf_init(&snap, 0);
    int rc = broker_snapshot_encode(n->broker, &snap);
    size_t len = snap.len;
    uint64_t seq;
    if (rc == 0) {
        rc = store_snapshot_put_take(n->store, index, pmq_buf_steal(&snap, NULL), len, &seq);
    }
    pmq_buf_close(&snap);
    if (rc != 0) {
        PMQ_LOG_WARN("snapshot_failed", "index=%llu err=%s", (unsigned long long)index,
                     pmq_strerror(rc));
        return;
    }
    PMQ_LOG_INFO("snapshot_taken", "index=%llu bytes=%zu entries_compacted=%llu encode_ms=%llu",
                 (unsigned long long)index, len,
                 (unsigned long long)n->since_snapshot_entries,
                 (unsigned long long)(pmq_mono_ms() - start));
    n->snapshot_index = index;
    n->st.snapshot_index = index;
    n->st.snapshots++;
    n->since_snapshot_entries = 0;
    n->since_snapshot_bytes = 0;
}

const char *node_broker_id(const node_t *n) { return n->broker_id; }

void node_stats_get(const node_t *n, node_stats_t *out) {
    *out = n->st;
    out->last_index = n->last_index;
    out->pending = n->pending_count;
    out->failed = n->failed;
}

store_t *node_store(node_t *n) { return n->store; }

void node_close(node_t *n) {
    if (n == NULL) {
        return;
    }
    n->closing = true;
    /* Let the store finish what was proposed so every receipt already promised holds. */
    while (n->head != NULL && n->failed == 0) {
        uv_run(n->loop, UV_RUN_ONCE);
    }
    store_close(n->store);
    fail_all(n, PMQ_ECLOSED);
    pmq_buf_close(&n->scratch);
    pmq_free(n);
}
