/* paxmq-sim: N real Paxos cores in one process on a virtual clock (CLUSTER §6.1).
 *
 * One seed gives one execution: every random choice comes from the world's seeded
 * PRNG, events are ordered by (time, sequence number), and nothing reads a real clock.
 * The simulator is the driver of each core (it executes batches exactly as
 * src/cluster/driver.c must), plus a seeded network, a disk with a durable and a pending
 * layer, a client workload and an invariant checker that runs after every event.
 * It is a test tool, not production code; it is never linked into paxmqd. */
#ifndef PAXMQ_SIM_H
#define PAXMQ_SIM_H

#include <stdio.h>

#include "paxmq/buf.h"
#include "paxmq/paxos.h"

#define SIM_NODES_MAX 7
#define SIM_CLIENTS_MAX 64
#define SIM_TICK_US 10000u /* one core tick = 10 ms of local time (CLUSTER §2.8 timing) */
#define SIM_STEP_US 10000u /* one simulator step = 10 ms of simulated real time */

/* ---- the pluggable replicated state machine ---- */

/* A client command as the workload sees it; the ops table encodes it into the bytes of
 * a CMD entry (the lead plugs the rlog_ encoding and broker apply in here). */
typedef struct sim_cmd {
    uint32_t client;
    uint64_t seq; /* idempotency key: (client, seq) */
    uint32_t key;
    uint64_t value;
} sim_cmd_t;

typedef struct sim_sm_ops {
    const char *name;
    void *(*create)(void);
    void (*destroy)(void *sm);
    /* Applies a committed CMD entry's bytes, deterministically. */
    void (*apply)(void *sm, uint64_t index, pmq_slice_t cmd);
    /* Serializes the state (snapshot image) / replaces it from an image. */
    int (*snapshot)(void *sm, pmq_buf_t *out);
    int (*restore)(void *sm, pmq_slice_t image);
    /* A hash of the whole state, equal on nodes that applied the same prefix. */
    uint64_t (*hash)(void *sm);
    /* Workload glue: encode a command, and recognise one in applied bytes. */
    int (*encode_cmd)(const sim_cmd_t *cmd, pmq_buf_t *out);
    bool (*decode_cmd)(pmq_slice_t bytes, sim_cmd_t *out);
    /* Highest seq of client applied (for the end-of-run exactly-once check). */
    uint64_t (*client_seq)(void *sm, uint32_t client);
} sim_sm_ops_t;

extern const sim_sm_ops_t sim_kv_ops; /* the default: an append-only KV with dedup */

/* ---- the world ---- */

typedef struct sim_world sim_world_t;

typedef struct sim_opts {
    uint64_t seed;
    uint32_t nodes;      /* initial voters (also the id range for new nodes) */
    uint32_t max_nodes;  /* ids available for scale-up (>= nodes) */
    uint64_t steps;
    bool trace;          /* print every event as it happens */
    bool scripted;       /* deterministic network: fixed latency, no loss */
    int64_t drift_ppm_max; /* per-node clock drift bound (default = core epsilon) */
    bool unsafe_single_server_changes;
    bool unsafe_count_fresh_incarnations;
    bool unsafe_config_above_uncommitted;
    bool unsafe_tick_per_callback; /* driver bug: one tick per timer callback after a stall */
    bool no_faults;      /* workload only (throughput) */
    uint32_t clients;
    uint32_t think_min_us; /* client pause between an ack and its next command */
    uint32_t think_max_us;
    const sim_sm_ops_t *sm;
} sim_opts_t;

void sim_opts_defaults(sim_opts_t *o);

/* Creates the world with opts->nodes fresh nodes (not yet bootstrapped). */
sim_world_t *sim_world_new(const sim_opts_t *opts);
void sim_world_free(sim_world_t *w);

/* Runs events until simulated time reaches now + us (or a violation). */
void sim_run_for(sim_world_t *w, uint64_t us);
uint64_t sim_now_us(const sim_world_t *w);
bool sim_failed(const sim_world_t *w);
const char *sim_failure(const sim_world_t *w);

/* Node control (ids are 1-based). */
int sim_bootstrap(sim_world_t *w, uint32_t seed_id, const uint32_t *ids, uint32_t n);
int sim_add_node(sim_world_t *w); /* a fresh node with the next free id; returns id */
void sim_crash(sim_world_t *w, uint32_t id);
void sim_restart(sim_world_t *w, uint32_t id);
void sim_restart_empty(sim_world_t *w, uint32_t id);
void sim_remove_node(sim_world_t *w, uint32_t id); /* the pod is gone for good */
bool sim_node_up(const sim_world_t *w, uint32_t id);
bool sim_node_exists(const sim_world_t *w, uint32_t id);
paxos_t *sim_core(sim_world_t *w, uint32_t id);
paxos_member_t sim_member(const sim_world_t *w, uint32_t id);
uint32_t sim_node_count(const sim_world_t *w);

/* Network control. */
void sim_block(sim_world_t *w, uint32_t from, uint32_t to, bool blocked);
void sim_isolate(sim_world_t *w, uint32_t id, bool isolated);
void sim_heal(sim_world_t *w);
void sim_drop_next(sim_world_t *w, uint32_t from, uint32_t to, uint32_t count);
void sim_set_drift(sim_world_t *w, uint32_t id, int64_t ppm);
/* Stops the node's process for us of real time (SIGSTOP, a VM pause): its events wait,
 * its clock runs on; on resume the driver catches up the missed ticks before anything
 * else (or, with unsafe_tick_per_callback, delivers one tick like a bare libuv timer). */
void sim_pause(sim_world_t *w, uint32_t id, uint64_t us);
/* Delivers a copy of a message sent earlier in the run again now (CLUSTER S14). */
void sim_replay_old(sim_world_t *w);
/* Fixes one node's fsync latency (0 restores the world's distribution). */
void sim_set_fsync(sim_world_t *w, uint32_t id, uint32_t us);
/* Snapshots the state machine at its applied index and compacts the log. */
void sim_compact(sim_world_t *w, uint32_t id);

/* The serving master with a valid lease, else the serving master with the highest
 * ballot, else 0. */
uint32_t sim_leader(sim_world_t *w);
uint32_t sim_leased_leader(sim_world_t *w);

/* Client and admin actions, as a driver would do them. */
int sim_propose(sim_world_t *w, uint32_t node, const char *value);
int sim_change(sim_world_t *w, uint32_t node, const paxos_change_t *chg);
int sim_transfer(sim_world_t *w, uint32_t node, uint32_t target);

/* Random mode: chaos schedule, operator (membership autopilot) and client workload. */
void sim_chaos_step(sim_world_t *w);
void sim_operator_step(sim_world_t *w, uint32_t target_voters);
void sim_workload_enable(sim_world_t *w, uint32_t clients);
/* Heals every fault and restarts crashed nodes. */
void sim_heal_all(sim_world_t *w);
/* End-of-run checks: liveness within bounds, convergence, exactly-once. */
void sim_final_check(sim_world_t *w, uint64_t liveness_us);
/* Counters for --stats. */
typedef struct sim_counters {
    uint64_t events;
    uint64_t msgs_sent;
    uint64_t msgs_dropped;
    uint64_t commits_leader; /* CMD entries applied by the node that proposed them */
    uint64_t acks;
    uint64_t elections;
    uint64_t crashes;
    uint64_t wipes;
    uint64_t partitions;
    uint64_t config_changes;
    uint64_t transfers;
    uint64_t snapshots_sent;
    uint64_t pauses;
    uint64_t replays;
} sim_counters_t;
void sim_get_counters(const sim_world_t *w, sim_counters_t *c);

/* Trace: significant events go to a ring (printed on failure); --trace prints all. */
void sim_trace(sim_world_t *w, const char *fmt, ...) PMQ_PRINTF(2, 3);
void sim_trace_dump(const sim_world_t *w, FILE *out, size_t last_lines);
/* Collects trace lines into buf (scenario mode) instead of the ring only. */
void sim_trace_capture(sim_world_t *w, pmq_buf_t *buf);

/* Invariant failure: records the first one, stops the run. */
void sim_fail(sim_world_t *w, const char *fmt, ...) PMQ_PRINTF(2, 3);

/* Scenario files (tests/sim/scenarios/\*.txt). Returns 0 when the file's expectation
 * holds and the trace matches (or was rewritten). */
int sim_script_run(const char *path, bool rewrite, bool verbose);

extern const char *sim_git_hash;

#endif
