/* Internal state of the Paxos core, shared by src/cluster/paxos*.c only.
 *
 * Files: paxos.c (lifecycle, inputs, persistence bookkeeping), paxos_batch.c
 * (ready/advance, compaction, queries), paxos_log.c (the in-memory log and configs),
 * paxos_elect.c (pre-vote, phase 1, recovery), paxos_repl.c (phase 2, commit, leases,
 * snapshots, transfer), paxos_change.c (membership), paxos_codec.c (wire encoding),
 * quorum.c (quorum arithmetic). Nothing here does I/O.
 *
 * Invariants kept everywhere: first <= commit + 1; commit <= last; applied <= commit;
 * a master never changes the value of (index, its ballot); entries are never removed
 * above the snapshot except by overwriting one index with a higher-ballot value. */
#ifndef PAXMQ_PAXOS_INT_H
#define PAXMQ_PAXOS_INT_H

#include "paxmq/assert.h"
#include "paxmq/paxos.h"

#define PAXOS__WINDOW_MAX 256
#define PAXOS__HB_RING 16
#define PAXOS__PERSIST_MAX 256
#define PAXOS__HELD_MAX 512
#define PAXOS__CONFIGS_MAX 32

typedef enum paxos__prog_state {
    PAXOS__PROBE = 0,
    PAXOS__REPLICATE = 1,
    PAXOS__SNAPSHOT = 2,
} paxos__prog_state_t;

/* The master's view of one member's log. */
typedef struct paxos__prog {
    paxos_member_t member;
    uint64_t next;
    uint64_t match;
    uint8_t state;
    bool probe_sent;
    bool active; /* heard from since the last CheckQuorum round */
    uint64_t hb_acked; /* highest heartbeat round acknowledged in my ballot */
    uint32_t inflight_head;
    uint32_t inflight_n;
    uint64_t inflight[PAXOS__WINDOW_MAX]; /* last index of each APPEND in flight */
    uint64_t snap_index;
    uint32_t snap_ticks;
    uint64_t match_at_hb; /* match at the previous heartbeat: detects lost APPENDs */
} paxos__prog_t;

/* The in-memory log: ents[k] has index first + k. Entry data is owned. */
typedef struct paxos__log {
    paxos_entry_t *ents;
    size_t n;
    size_t cap;
    uint64_t first;
    bool has_snap;
    paxos_snap_meta_t snap; /* snap.index == first - 1 when has_snap */
} paxos__log_t;

/* A reply that may leave only when the writes it vouches for are durable (D1, D2). */
typedef struct paxos__held {
    uint64_t need_seq;
    paxos_msg_t msg; /* PROMISE entries are attached when released */
} paxos__held_t;

/* One persist batch handed to the driver and not yet acknowledged durable. */
typedef struct paxos__pending {
    uint64_t seq;
    uint64_t lo; /* lowest index written (or the snapshot index), 0 = none */
} paxos__pending_t;

/* Candidate (and pre-candidate) bookkeeping, including chunked recovery (§2.7). */
typedef struct paxos__cand {
    paxos_ballot_t ballot;
    bool transfer;
    paxos_ballot_t transfer_ballot;
    uint64_t self_seq; /* my own promise counts once this seq is durable */
    uint32_t retransmit_ticks;
    /* members that granted (pre-vote) or answered the current recovery chunk */
    uint32_t n_resp;
    paxos_member_t resp[PAXOS_MEMBERS_MAX];
    uint64_t resp_cov[PAXOS_MEMBERS_MAX]; /* coverage end, UINT64_MAX = everything */
    /* recovery */
    uint64_t rec_from;   /* first index of the chunk being recovered */
    uint64_t rec_last;   /* highest last_index reported */
    uint64_t rec_commit; /* highest commit reported */
    uint32_t rec_n;      /* chunk size */
    paxos_entry_t *rec;  /* rec[i] holds the best value for rec_from + i (owned data) */
} paxos__cand_t;

struct paxos {
    paxos_cfg_t cfg;
    pmq_rng_t *rng;
    paxos_member_t self;
    uint32_t lease_leader_ticks; /* L(1-e)/(1+e) - delta */
    /* acceptor state */
    paxos_ballot_t promised;
    paxos_member_t promised_to;
    uint64_t commit;
    uint64_t applied;
    paxos__log_t log;
    paxos_config_t conf; /* latest config in the log (§3.2 rule 1) */
    uint64_t conf_index;
    bool cc_valid; /* cache of the config at commit */
    bool cc_has;
    uint64_t cc_commit;
    paxos_config_t cc_conf;
    /* role */
    paxos_role_t role;
    paxos_ballot_t ballot; /* ballot of the master followed (or mine) */
    paxos_member_t leader;
    uint64_t now;
    uint64_t contact_tick; /* last heard from a live master (or start-up) */
    uint32_t election_elapsed;
    uint32_t election_timeout;
    uint32_t heartbeat_elapsed;
    uint32_t check_elapsed;
    uint64_t max_round_seen;
    paxos__cand_t cand;
    /* master */
    bool serving;
    uint64_t own_noop_index;
    uint32_t n_prog;
    paxos__prog_t *prog;         /* PAXOS_MEMBERS_MAX slots */
    paxos__prog_t *prog_scratch; /* PAXOS_MEMBERS_MAX slots, for rebuilds */
    uint64_t hb_seq;
    uint64_t hb_sent[PAXOS__HB_RING]; /* tick each round started, by seq % ring */
    bool hb_due;
    uint64_t lease_until;
    uint32_t transfer_to; /* node id, 0 = none */
    /* paxos_change.c: the tick until which a refused change holds proposals back
     * (PMQ_EAGAIN). */
    uint64_t chg_barrier_until;
    uint32_t transfer_ticks;
    bool transfer_sent;
    bool lease_revoked; /* TIMEOUT_NOW sent in this ballot: never a lease again */
    /* persistence */
    bool hard_dirty;
    uint64_t dirty_lo; /* 0 = clean */
    uint64_t dirty_hi;
    bool snap_install;
    char *snap_data;
    size_t snap_len;
    uint64_t next_seq;     /* last seq handed out */
    uint64_t durable_seq;  /* highest seq acknowledged durable */
    uint32_t n_pending;
    paxos__pending_t pending[PAXOS__PERSIST_MAX];
    /* output */
    paxos_msg_t *outbox;
    uint32_t n_out;
    paxos__held_t *held;
    uint32_t n_held;
    bool in_batch;
    bool role_changed;
    paxos_snap_meta_t out_snap; /* meta referenced by SNAPSHOT messages of a batch */
    paxos_snap_meta_t inst_snap; /* meta of a snapshot being installed */
    /* counters */
    uint64_t msgs_rejected;
    uint64_t msgs_dropped;
    uint64_t elections_won;
    uint64_t safety_alarms;
};

/* ---- paxos_log.c ---- */
int paxos__log_init(paxos__log_t *log, size_t cap_hint);
void paxos__log_close(paxos__log_t *log);
static inline uint64_t paxos__log_last(const paxos__log_t *log) {
    return log->first + log->n - 1;
}
/* The entry at index, or NULL when not retained. */
paxos_entry_t *paxos__log_at(const paxos__log_t *log, uint64_t index);
/* Ballot of the entry at index; the snapshot ballot at first - 1; (0,0) otherwise. */
paxos_ballot_t paxos__log_ballot(const paxos__log_t *log, uint64_t index);
/* Writes (index, ballot, type, data) at index <= last + 1, copying data. */
PMQ_MUST_USE int paxos__log_put(paxos_t *p, uint64_t index, paxos_ballot_t ballot, uint8_t type,
                                pmq_slice_t data);
/* Changes the ballot of an existing entry (re-proposal in my ballot). */
void paxos__log_restamp(paxos_t *p, uint64_t index, paxos_ballot_t ballot);
/* Drops entries <= index; meta describes the new snapshot point. */
void paxos__log_compact(paxos__log_t *log, const paxos_snap_meta_t *meta);
/* Recomputes p->conf from the log (after writes that touch config entries). */
void paxos__conf_refresh(paxos_t *p);
/* The config in force at index (latest config entry <= index, else the snapshot's). */
bool paxos__config_at(const paxos_t *p, uint64_t index, paxos_config_t *out);
/* Configs an election or a lease must satisfy: the config at commit and every config
 * entry above it (both halves of joint ones). Returns the count, or -1 if more than
 * PAXOS__CONFIGS_MAX (the caller must then refuse). */
int paxos__configs_above_commit(paxos_t *p, paxos_config_t *out, int max);
bool paxos__commit_config(paxos_t *p, paxos_config_t *out);
void paxos__mark_dirty(paxos_t *p, uint64_t index);
bool paxos__by_id(const paxos_t *p);

/* ---- paxos.c ---- */
paxos_msg_t *paxos__out(paxos_t *p, uint8_t type, paxos_member_t to);
void paxos__hold(paxos_t *p, const paxos_msg_t *m);
uint64_t paxos__durable_index(const paxos_t *p);
void paxos__set_role(paxos_t *p, paxos_role_t role);
void paxos__reset_election(paxos_t *p);
void paxos__become_follower(paxos_t *p, paxos_ballot_t ballot, paxos_member_t leader);
void paxos__set_promised(paxos_t *p, paxos_ballot_t b, paxos_member_t to);
bool paxos__is_fresh(const paxos_t *p);
bool paxos__self_voter(const paxos_t *p);

/* ---- paxos_elect.c ---- */
void paxos__start_campaign(paxos_t *p, bool pre_vote, bool transfer, paxos_ballot_t tb);
void paxos__cand_tick(paxos_t *p);
void paxos__cand_close(paxos_t *p);
int paxos__on_prepare(paxos_t *p, const paxos_msg_t *m);
int paxos__on_promise(paxos_t *p, const paxos_msg_t *m);
void paxos__cand_poll(paxos_t *p); /* re-evaluate after durability changed */

/* ---- paxos_repl.c ---- */
void paxos__become_leader(paxos_t *p);
void paxos__leader_tick(paxos_t *p);
void paxos__leader_flush(paxos_t *p);
void paxos__maybe_commit(paxos_t *p);
void paxos__prog_rebuild(paxos_t *p);
int paxos__on_append(paxos_t *p, const paxos_msg_t *m);
int paxos__on_append_resp(paxos_t *p, const paxos_msg_t *m);
int paxos__on_snapshot(paxos_t *p, const paxos_msg_t *m);
int paxos__on_timeout_now(paxos_t *p, const paxos_msg_t *m);
void paxos__step_down(paxos_t *p);
PMQ_MUST_USE int paxos__leader_append(paxos_t *p, uint8_t type, pmq_slice_t data,
                                      uint64_t *index_out);

/* ---- paxos_change.c ---- */
void paxos__after_commit_config(paxos_t *p, uint64_t old_commit);
bool paxos__final_due(const paxos_t *p);

#endif
