/* paxmq-sim internals shared by sim_world.c, sim_check.c, sim_chaos.c, sim_script.c. */
#ifndef PAXMQ_SIM_INT_H
#define PAXMQ_SIM_INT_H

#include "sim.h"

#define SIM_TRACE_RING 400
#define SIM_TRACE_LINE 200

enum { EV_TICK = 1, EV_MSG = 2, EV_FSYNC = 3, EV_CLIENT = 4 };

typedef struct sim_ev {
    uint64_t t;
    uint64_t seq;
    uint8_t kind;
    uint32_t node; /* target node (or client id for EV_CLIENT) */
    uint32_t life; /* the node's life when scheduled: stale events are ignored */
    uint32_t from;
    char *bytes;
    size_t len;
} sim_ev_t;

/* One persist batch as the store received it (owned copies). */
typedef struct sim_write {
    uint64_t seq;
    paxos_hard_t hard;
    bool has_snap;
    paxos_snap_meta_t snap;
    char *snap_data;
    size_t snap_len;
    paxos_entry_t *ents;
    size_t n;
} sim_write_t;

/* The disk: a durable layer and writes not yet synced (CLUSTER §6.1). */
typedef struct sim_disk {
    bool has_hard;
    paxos_hard_t hard;
    bool has_snap;
    paxos_snap_meta_t snap;
    char *snap_data;
    size_t snap_len;
    uint64_t first; /* durable log holds first .. first + n - 1 */
    paxos_entry_t *log;
    size_t n;
    size_t cap;
    sim_write_t *pend;
    size_t n_pend;
    size_t cap_pend;
} sim_disk_t;

typedef struct sim_node {
    uint32_t id;
    bool exists;
    bool up;
    uint32_t gen;  /* incarnation number: bumped by an empty-disk restart */
    uint32_t life; /* bumped by every crash */
    paxos_member_t me;
    paxos_t *p;
    pmq_rng_t rng;
    int64_t drift_ppm;
    uint64_t clock_real; /* local clock = clock_local + (now - clock_real) * (1 + drift) */
    uint64_t clock_local;
    uint64_t tick_k; /* local ticks elapsed (the hardware clock survives crashes) */
    sim_disk_t disk;
    void *sm;
    uint64_t sm_index;
    char *cur_snap; /* the image matching the core's current snapshot point */
    size_t cur_snap_len;
    uint64_t cur_snap_index;
    bool fsync_pending;
    uint32_t fsync_us; /* scripted override of the fsync latency, 0 = the world's */
    paxos_ballot_t max_promised; /* monotonic per incarnation (§6.2 item 8) */
    uint64_t last_commit;
    paxos_role_t role;
    uint64_t paused_until; /* real time: the process is stopped (SIGSTOP, VM pause) */
} sim_node_t;

typedef struct sim_client {
    bool active;
    bool outstanding;
    uint32_t timer; /* generation of the pending retry event */
    uint64_t seq;
    uint32_t node;
    uint32_t life;
    uint64_t sent_us;
    uint64_t first_us;
    char bytes[64];
    size_t len;
} sim_client_t;

typedef struct sim_leadership {
    paxos_ballot_t ballot;
    paxos_member_t member;
} sim_leadership_t;

typedef struct sim_ack {
    uint32_t client;
    uint64_t seq;
    uint64_t index;
    uint64_t hash;
} sim_ack_t;

typedef struct sim_ibv {
    uint64_t index; /* 0 = empty slot */
    paxos_ballot_t ballot;
    uint64_t value;
} sim_ibv_t;

struct sim_world {
    sim_opts_t o;
    pmq_rng_t rng;
    uint64_t now;
    uint64_t ev_seq;
    sim_ev_t *heap;
    size_t n_heap;
    size_t cap_heap;
    uint32_t n_ids; /* ids 1..n_ids have been used */
    sim_node_t nodes[SIM_NODES_MAX + 1];
    bool blocked[SIM_NODES_MAX + 1][SIM_NODES_MAX + 1];
    uint32_t drop_next[SIM_NODES_MAX + 1][SIM_NODES_MAX + 1];
    bool partitioned;
    bool healed_for_good; /* sim_final_check: no new faults from here on */
    /* network and disk parameters, drawn per seed */
    uint32_t drop_ppm;
    uint32_t dup_ppm;
    uint32_t delay_min_us;
    uint32_t delay_max_us;
    uint32_t long_delay_ppm;
    uint32_t fsync_min_us;
    uint32_t fsync_max_us;
    uint32_t slow_fsync_ppm;
    uint32_t compact_every;
    uint8_t cluster_id[16];
    uint32_t genesis_count;
    uint32_t genesis_seed; /* the node that proposed genesis */
    /* checker state, indexed by log index */
    size_t cap_idx;
    uint64_t *chosen;     /* value hash of the chosen entry, 0 = unknown */
    uint64_t *state_hash; /* state machine hash after applying the index */
    uint64_t *acked;      /* value hash acknowledged to a client at this index */
    paxos_ballot_t *chosen_ballot; /* lowest entry ballot any node applied it with */
    uint64_t max_chosen;
    struct {
        uint32_t from, to;
        char *bytes;
        size_t len;
    } old_msgs[32]; /* a sample of sent messages, for sim_replay_old */
    sim_ibv_t *ibv; /* (index, ballot) -> value of every entry ever written, §6.2 item 3 */
    size_t cap_ibv;
    size_t n_ibv;
    sim_leadership_t *leaderships;
    size_t n_leaderships;
    size_t cap_leaderships;
    sim_ack_t *acks;
    size_t n_acks;
    size_t cap_acks;
    size_t acks_checked; /* acks[] before this index went through sim__on_ack */
    uint32_t wiped_voter; /* id whose old voter incarnation lost its disk, 0 = none */
    uint32_t target_voters;
    /* The disk an empty-disk restart destroyed, kept so the checker can tell that an
     * acknowledged write had been durable on a quorum before the one permitted loss. */
    bool has_ghost[SIM_NODES_MAX + 1];
    sim_node_t ghost[SIM_NODES_MAX + 1];
    bool decommission[SIM_NODES_MAX + 1]; /* removed from voters: delete the pod after */
    /* workload */
    uint32_t n_clients;
    sim_client_t clients[SIM_CLIENTS_MAX];
    uint64_t last_fault_us;
    /* outcome */
    bool failed;
    char failure[600];
    uint64_t step;
    /* trace */
    char ring[SIM_TRACE_RING][SIM_TRACE_LINE];
    size_t ring_head;
    size_t ring_n;
    pmq_buf_t *capture;
    sim_counters_t ctr;
};

/* sim_world.c */
void sim__pump(sim_world_t *w, sim_node_t *n);
sim_node_t *sim__node(sim_world_t *w, uint32_t id);
void sim__push_ev(sim_world_t *w, sim_ev_t ev);
uint64_t sim__value_hash(uint8_t type, pmq_slice_t data);
bool sim__durable_has(const sim_node_t *n, uint64_t index, uint64_t hash);

/* sim_check.c */
void sim__check_after_event(sim_world_t *w);
void sim__on_applied(sim_world_t *w, sim_node_t *n, const paxos_entry_t *e);
void sim__on_written(sim_world_t *w, sim_node_t *n, const paxos_entry_t *e);
void sim__on_snapshot_installed(sim_world_t *w, sim_node_t *n, uint64_t index);
void sim__on_leader(sim_world_t *w, sim_node_t *n);
void sim__on_send(sim_world_t *w, sim_node_t *n, const paxos_msg_t *m);
void sim__on_hard(sim_world_t *w, sim_node_t *n, const paxos_hard_t *h);
void sim__on_ack(sim_world_t *w, sim_node_t *n, const sim_ack_t *a);
void sim__grow_idx(sim_world_t *w, uint64_t index);

/* sim_chaos.c */
void sim__client_event(sim_world_t *w, uint32_t client, uint32_t timer);
void sim__client_applied(sim_world_t *w, sim_node_t *n, const paxos_entry_t *e);

#endif
