/* node: the commit pipeline of one paxmq node — propose, persist, commit, apply.
 *
 * A single node is a cluster of one whose log commits as soon as its own write is
 * durable (DESIGN §1): node_propose assigns the next index, hands the entry to the
 * store's group-commit queue, and when the store reports it durable, applies it to the
 * broker in index order and completes the proposal. node_log() exposes this as the
 * broker's broker_log_t. Recovery (snapshot + log replay) happens in node_open.
 * The clustered replacement (the Paxos driver) keeps this contract.
 *
 * Thread: loop thread only. */
#ifndef PAXMQ_NODE_H
#define PAXMQ_NODE_H

#include <uv.h>

#include "paxmq/broker.h"
#include "paxmq/store.h"

typedef struct node node_t;

typedef struct node_options {
    const char *data_dir;
    size_t map_size;
    bool sync;
    uint32_t group_commit_max;
    uint64_t snapshot_entries; /* take a snapshot after this many applied entries */
    uint64_t snapshot_bytes;   /* ... or this many log bytes since the last one */
    size_t entry_bytes_max;
} node_options_t;

typedef struct node_stats {
    uint64_t last_index, applied_index, snapshot_index;
    uint64_t proposals, pending, snapshots;
    uint64_t recovered_entries, recovery_ms;
    int failed;
} node_stats_t;

/* Opens (or creates) the store under opts->data_dir. A new data directory gets a
 * random id (node_broker_id) that prefixes message ids. PMQ_E* from the store. */
PMQ_MUST_USE int node_open(node_t **out, uv_loop_t *loop, const node_options_t *opts);
/* Recovers b (which must be empty) from the latest snapshot and the log after it,
 * logging progress, and binds the node to b. PMQ_ECORRUPT names the bad index in the
 * log. b is borrowed and must outlive the node. */
PMQ_MUST_USE int node_recover(node_t *n, broker_t *b);
/* The broker_log_t that proposes through this node. */
broker_log_t node_log(node_t *n);
/* Proposes cmd (copied). done fires once after apply (0) or on failure (PMQ_E*). */
PMQ_MUST_USE int node_propose(node_t *n, pmq_slice_t cmd, broker_done_cb done, void *cookie);
/* Reads the cluster/broker id created with the data directory. */
const char *node_broker_id(const node_t *n);
void node_stats_get(const node_t *n, node_stats_t *out);
store_t *node_store(node_t *n);
/* Makes everything proposed durable and applied, then closes the store. Pending
 * proposals complete first. Runs the loop until done. */
void node_close(node_t *n);

#endif
