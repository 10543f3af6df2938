/* paxmq Paxos core: a pure Multi-Paxos state machine (CLUSTER.md §1.4, §2, §3).
 *
 * The core does no I/O, reads no clock and owns no randomness: time arrives as ticks,
 * randomness as a borrowed pmq_rng_t, messages as decoded paxos_msg_t values, and every
 * effect leaves through one paxos_batch_t that the driver executes and acknowledges
 * (etcd raft's Ready/Advance shape). The same core runs under src/cluster/driver.c
 * (libuv + LMDB) and under tests/sim (paxmq-sim). It is NOT a network or storage layer.
 *
 * Thread: a paxos_t belongs to one thread (the loop thread in paxmqd); no function here
 * is thread-safe for the same object. Distinct objects are independent (no globals).
 *
 * ---- How a driver uses it ----
 *
 * Start-up.
 *   - First start with an empty data directory: create a fresh 128-bit incarnation id
 *     from a real random source, persist it with the node id, then paxos_new(cfg, NULL).
 *     The node is FRESH: it never campaigns; it answers PREPAREs, but a candidate counts
 *     the answer only if its config lists this exact incarnation as a voter. If it is
 *     the genesis seed (CLUSTER §1.2) call paxos_bootstrap() with config0; otherwise it
 *     waits until the master adds it as a learner (the driver turns a JOIN_REQUEST into
 *     paxos_propose_change(ADD_LEARNER) on the master) and catches up by APPENDs or a
 *     snapshot. It becomes a voter only when a committed config lists its exact
 *     (id, incarnation): an empty-disk restart is a new member, never the old one reborn.
 *   - A single-node cluster: paxos_new + paxos_bootstrap(config0 = {self}). The node
 *     campaigns at once (no election timeout, no pre-vote when it is the only voter),
 *     wins as soon as its own promise is durable, and from then on commits an entry as
 *     soon as paxos_persisted() reports the entry durable.
 *   - Restart with data: fill a paxos_restore_t from the store (hard state, snapshot
 *     meta, the log entries above the snapshot, the state machine's applied index) and
 *     call paxos_new(cfg, &restore). The node refuses PREPAREs for one lease period
 *     after start, because it cannot know whose lease it was honouring before the crash.
 *
 * Every event-loop iteration.
 *   1. Feed inputs: paxos_step() for each decoded peer message, paxos_tick() each time
 *      the tick timer fires (the tick length is the driver's choice, 10 ms for the
 *      defaults; ticks are the core's only notion of time), paxos_propose() for client
 *      commands, paxos_persisted() for each store completion (this one may also be
 *      called between ready and advance).
 *   2. while (paxos_ready(p, &b)) { execute b per the contract on paxos_batch_t;
 *      paxos_advance(p, &b); }
 *   Between paxos_ready() and paxos_advance() only paxos_persisted(), paxos_status(),
 *   paxos_lease_valid() and the encoders may be called (asserted).
 *
 * Errors: functions returning int give 0 or a negative PMQ_E* code. Bad peer input is
 * never asserted on: it is rejected and counted (paxos_status_t.msgs_rejected). */
#ifndef PAXMQ_PAXOS_H
#define PAXMQ_PAXOS_H

#include "paxmq/base.h"
#include "paxmq/buf.h"

/* ---- hard limits (every message type has a max size and a max entry count) ---- */

#define PAXOS_VOTERS_MAX 7        /* per config half; CLUSTER §3.3 caps the policy at 5 */
#define PAXOS_LEARNERS_MAX 8
#define PAXOS_MEMBERS_MAX 24      /* progress slots: union of old, new voters, learners */
#define PAXOS_MSG_ENTRIES_MAX 256 /* entries in one APPEND or PROMISE */
#define PAXOS_MSG_BYTES_MAX (16u * 1024 * 1024) /* encoded size of any one message */
#define PAXOS_WIRE_VERSION 1

/* ---- identities ---- */

/* A node incarnation: 128 random bits created whenever the data directory is empty. */
typedef struct paxos_incarnation {
    uint64_t hi;
    uint64_t lo;
} paxos_incarnation_t;

/* A member is (node id, incarnation). The id is the stable name mapped to a number by
 * the driver (e.g. StatefulSet ordinal + 1); it must be >= 1 and unique per name, and
 * it is the rank in ballots. Quorums count exact (id, incarnation) pairs (§1.4). */
typedef struct paxos_member {
    uint32_t id;
    paxos_incarnation_t inc;
} paxos_member_t;

/* Ballot (round, rank), ordered lexicographically; rank is the proposer's node id.
 * (0, 0) is "none"; (0, seed) is reserved for genesis (CLUSTER §1.2). */
typedef struct paxos_ballot {
    uint64_t round;
    uint32_t rank;
} paxos_ballot_t;

/* Returns <0, 0, >0 as a is lower, equal, higher than b. */
static inline int paxos_ballot_cmp(paxos_ballot_t a, paxos_ballot_t b) {
    if (a.round != b.round) {
        return a.round < b.round ? -1 : 1;
    }
    return a.rank < b.rank ? -1 : (a.rank > b.rank ? 1 : 0);
}
static inline bool paxos_member_eq(paxos_member_t a, paxos_member_t b) {
    return a.id == b.id && a.inc.hi == b.inc.hi && a.inc.lo == b.inc.lo;
}

/* ---- configurations (membership lives in the log, never in static config) ---- */

/* voters is the config; while joint, new_voters is C_new and quorums need a majority of
 * both halves (§3.2 rule 4). Learners receive the log but are never counted. */
typedef struct paxos_config {
    bool joint;
    uint8_t n_voters;
    uint8_t n_new;
    uint8_t n_learners;
    paxos_member_t voters[PAXOS_VOTERS_MAX];
    paxos_member_t new_voters[PAXOS_VOTERS_MAX];
    paxos_member_t learners[PAXOS_LEARNERS_MAX];
} paxos_config_t;

/* ---- log entries ---- */

typedef enum paxos_entry_type {
    PAXOS_ENTRY_NOOP = 1,
    PAXOS_ENTRY_GENESIS = 2,        /* data: 16-byte cluster id + encoded config0 */
    PAXOS_ENTRY_CONFIG_JOINT = 3,   /* data: encoded config (joint, old + new) */
    PAXOS_ENTRY_CONFIG_FINAL = 4,   /* data: encoded config (new only) */
    PAXOS_ENTRY_ADD_LEARNER = 5,    /* data: encoded resulting config */
    PAXOS_ENTRY_REMOVE_LEARNER = 6, /* data: encoded resulting config */
    PAXOS_ENTRY_CMD = 7,            /* data: opaque broker command (rlog_ encoding) */
} paxos_entry_type_t;

/* Entry version = (index, ballot) (CLUSTER §2.10). data is borrowed: in a batch it
 * points into the core and stays valid until paxos_advance(); in a decoded message it
 * points into the decoded input bytes. */
typedef struct paxos_entry {
    uint64_t index;
    paxos_ballot_t ballot;
    uint8_t type; /* paxos_entry_type_t */
    pmq_slice_t data;
} paxos_entry_t;

/* True for the entry types whose data is a config (GENESIS, CONFIG_*, *_LEARNER). */
bool paxos_entry_is_config(uint8_t type);

/* Decodes the config carried by a config-type entry. PMQ_EINVAL for other types,
 * PMQ_EPROTO for malformed data. */
PMQ_MUST_USE int paxos_entry_config(const paxos_entry_t *e, paxos_config_t *out);

/* Snapshot metadata: the log up to index (whose entry had ballot) is replaced by the
 * state machine image; config is the membership in force at index. */
typedef struct paxos_snap_meta {
    uint64_t index;
    paxos_ballot_t ballot;
    paxos_config_t config;
} paxos_snap_meta_t;

/* ---- messages (CLUSTER §2.4; the driver's frame adds cluster_uuid and auth) ---- */

typedef enum paxos_msg_type {
    PAXOS_MSG_PREPARE = 1,     /* phase 1a (also the pre-vote) */
    PAXOS_MSG_PROMISE = 2,     /* phase 1b, carries accepted entries */
    PAXOS_MSG_APPEND = 3,      /* phase 2a, heartbeat, lease renewal */
    PAXOS_MSG_APPEND_RESP = 4, /* phase 2b */
    PAXOS_MSG_SNAPSHOT = 5,    /* catch-up image; data is filled in by the driver */
    PAXOS_MSG_TIMEOUT_NOW = 6, /* leadership transfer */
} paxos_msg_type_t;

/* One message. Fields not used by a type are zero. entries/data are borrowed (see
 * paxos_entry_t). */
typedef struct paxos_msg {
    uint8_t type;
    paxos_member_t from;
    paxos_member_t to;
    paxos_ballot_t ballot;
    uint64_t commit; /* sender's commit index */
    /* PREPARE */
    bool pre_vote;
    bool transfer;                  /* campaign started by TIMEOUT_NOW */
    paxos_ballot_t transfer_ballot; /* ballot of the master that issued it */
    uint64_t from_index;            /* PREPARE: report accepted entries from here;
                                       PROMISE: the range reported starts here */
    /* PROMISE */
    bool granted;
    bool need_snapshot;      /* PROMISE: from_index is below my first retained index */
    paxos_ballot_t promised; /* PROMISE/APPEND_RESP: the sender's promised ballot */
    uint64_t last_index;     /* PROMISE: my last log index */
    uint64_t covered_to;     /* PROMISE: all my accepted entries in [from_index,
                                covered_to] are included */
    /* APPEND */
    uint64_t prev_index;
    paxos_ballot_t prev_ballot;
    uint64_t hb_seq; /* APPEND/APPEND_RESP: heartbeat round for leases */
    /* APPEND_RESP */
    bool ok;
    uint64_t match_index;  /* ok: my log matches the master's up to here */
    uint64_t reject_index; /* !ok: the prev_index that failed */
    uint64_t hint_index;   /* !ok: retry from hint_index + 1 */
    /* SNAPSHOT */
    const paxos_snap_meta_t *snap; /* borrowed, like entries */
    pmq_slice_t data;
    /* PROMISE, APPEND */
    uint32_t n_entries;
    const paxos_entry_t *entries;
} paxos_msg_t;

/* Storage for a decoded message: the entries array lives here, payload bytes stay in
 * the input buffer. Keep input and this struct alive while the message is used. */
typedef struct paxos_msg_dec {
    paxos_msg_t msg;
    paxos_snap_meta_t snap;
    paxos_entry_t entries[PAXOS_MSG_ENTRIES_MAX];
} paxos_msg_dec_t;

/* Exact encoded size of msg (header included); 0 if the message exceeds a limit. */
size_t paxos_msg_encoded_size(const paxos_msg_t *msg);

/* Appends the encoding of msg to out: magic "PX", version, type, body length, CRC-32C
 * of the body, then the body (big-endian fields). Pure. PMQ_ETOOBIG when the message
 * breaks a limit (which is a bug in the caller), PMQ_ENOMEM/PMQ_ETOOBIG from out. */
PMQ_MUST_USE int paxos_msg_encode(const paxos_msg_t *msg, pmq_buf_t *out);

/* Decodes exactly one message from in (untrusted bytes). Every length is checked
 * against the input and the limits, the CRC and the version are verified. Returns
 * PMQ_EPROTO (malformed or bad CRC), PMQ_EVERSION, PMQ_ETOOBIG; never asserts. On
 * success out->msg is valid while in and out live. */
PMQ_MUST_USE int paxos_msg_decode(pmq_slice_t in, paxos_msg_dec_t *out);

/* Encodes/decodes a config (used in config entries and snapshot metas). */
PMQ_MUST_USE int paxos_config_encode(const paxos_config_t *cfg, pmq_buf_t *out);
PMQ_MUST_USE int paxos_config_decode(pmq_slice_t in, paxos_config_t *out);

/* ---- core configuration ---- */

typedef struct paxos_cfg {
    paxos_member_t self;
    /* Timing in ticks; paxos_cfg_defaults() assumes a 10 ms tick (CLUSTER §2.8). */
    uint32_t heartbeat_ticks;   /* h = 10 (100 ms) */
    uint32_t election_ticks;    /* T = 100; timeouts are uniform in [T, 2T) */
    uint32_t lease_ticks;       /* L = 90; must be < election_ticks */
    uint32_t drift_ppm;         /* clock drift bound epsilon = 1000 ppm */
    uint32_t lease_slack_ticks; /* delta = 1 */
    /* Replication. */
    uint32_t window_msgs;     /* APPENDs in flight per follower (64) */
    uint32_t msg_entries_max; /* <= PAXOS_MSG_ENTRIES_MAX (64) */
    uint32_t msg_bytes_max;   /* entry payload bytes per message (1 MiB) */
    uint32_t uncommitted_max; /* entries the master keeps above commit (256) */
    /* Memory bounds. */
    uint32_t log_entries_max;   /* in-memory log; compaction keeps it below (100000) */
    uint32_t entry_bytes_max;   /* one entry's payload (1 MiB) */
    uint32_t snapshot_bytes_max; /* an inline snapshot image (8 MiB) */
    uint32_t outbox_max;        /* messages per batch (1024) */
    bool pre_vote;              /* on by default */
    bool check_quorum;          /* on by default */
    /* Deliberately unsafe switches for the simulator's counterexample scenarios. The
     * production library rejects them (PMQ_EINVAL); only the pmq_paxos_sim build,
     * compiled with PAXOS_UNSAFE_KNOBS, accepts them. */
    bool unsafe_single_server_changes;    /* direct voter changes, no barrier */
    bool unsafe_count_fresh_incarnations; /* count votes by node id only */
    bool unsafe_config_above_uncommitted; /* config entries above uncommitted ones */
} paxos_cfg_t;

/* Fills cfg with the defaults above (self left zero). */
void paxos_cfg_defaults(paxos_cfg_t *cfg);

/* ---- persistent state ---- */

/* The acceptor's hard state (CLUSTER §2.3 meta): the highest ballot promised and to
 * whom (the vote record), plus the commit index (an optimization, safe to persist). */
typedef struct paxos_hard {
    paxos_ballot_t promised;
    paxos_member_t promised_to;
    uint64_t commit;
} paxos_hard_t;

/* What a restarting node read from its store. entries are index snap.index+1 .. in
 * order, contiguous; the core copies everything it keeps. applied is the state
 * machine's durable applied index (>= snap.index). */
typedef struct paxos_restore {
    paxos_hard_t hard;
    bool has_snapshot;
    paxos_snap_meta_t snap;
    const paxos_entry_t *entries;
    size_t n_entries;
    uint64_t applied;
} paxos_restore_t;

/* ---- the batch: the core's only output ---- */

typedef enum paxos_role {
    PAXOS_ROLE_FOLLOWER = 0,
    PAXOS_ROLE_PRECANDIDATE = 1,
    PAXOS_ROLE_CANDIDATE = 2,
    PAXOS_ROLE_LEADER = 3,
} paxos_role_t;

/* One unit of work from paxos_ready(). THE ORDERING CONTRACT (etcd raft's Ready):
 *
 *   1. PERSIST, in batch order relative to earlier batches (the store must make
 *      batches durable in seq order), as one atomic write:
 *        - if snapshot: replace the state machine with snapshot_data, store
 *          snapshot (meta), delete stored log entries with index <= snapshot->index;
 *        - store hard (every persist batch carries it; hard_changed says the
 *          promise itself changed, which is what D1 is about);
 *        - store every entry of entries[] by index, overwriting what is there
 *          (entries above the written range are kept: the log is never truncated).
 *      When that write is durable call paxos_persisted(p, seq) (seq is 0 when there
 *      is nothing to persist). A synchronous driver persists, calls paxos_persisted
 *      and then goes on; an asynchronous one queues the write and calls it later.
 *   2. SEND msgs[] (any order, any time after this point; loss is fine). Every
 *      message here is safe to send before this batch is durable: acceptor replies
 *      (PROMISE, APPEND_RESP ok) are held inside the core until paxos_persisted()
 *      covers the writes they depend on. For PAXOS_MSG_SNAPSHOT the driver fills
 *      msg.data with the snapshot image for msg.snap->index before encoding.
 *   3. APPLY committed[] in order to the state machine (CMD entries are the broker's
 *      commands; NOOP and config entries have no state machine effect). These are
 *      always locally durable already.
 *   4. Note role/lease fields (informational; query paxos_lease_valid() right before
 *      every lease-dependent action instead of caching lease state).
 *   5. paxos_advance(p, &batch). All pointers in the batch die there. */
typedef struct paxos_batch {
    uint64_t seq; /* persist sequence number, 0 = nothing to persist */
    /* 1. persist */
    const paxos_snap_meta_t *snapshot;
    pmq_slice_t snapshot_data;
    bool hard_changed;
    paxos_hard_t hard;
    const paxos_entry_t *entries;
    size_t n_entries;
    /* 2. send */
    const paxos_msg_t *msgs;
    size_t n_msgs;
    /* 3. apply */
    const paxos_entry_t *committed;
    size_t n_committed;
    /* 4. state */
    bool role_changed;
    paxos_role_t role;
    paxos_ballot_t ballot; /* the ballot of the master this node follows or is */
    uint32_t leader_id;    /* 0 = unknown */
} paxos_batch_t;

/* ---- lifecycle ---- */

typedef struct paxos paxos_t;

/* Creates a core. cfg is copied; rng is borrowed and must outlive the core (it is only
 * used for election timeouts). restore is NULL for an empty data directory (a FRESH
 * node). Errors: PMQ_EINVAL (bad cfg: zero self id, lease_ticks >= election_ticks,
 * limits out of range, unsafe switches in a production build), PMQ_ECORRUPT (restore
 * is inconsistent: non-contiguous entries, applied beyond the log), PMQ_ENOMEM. */
PMQ_MUST_USE int paxos_new(const paxos_cfg_t *cfg, const paxos_restore_t *restore,
                           pmq_rng_t *rng, paxos_t **out);

/* Frees the core and everything it owns. NULL is a no-op. */
void paxos_free(paxos_t *p);

/* Genesis on the seed (CLUSTER §1.2): writes GENESIS(cluster_id, config0) at index 1
 * with the reserved ballot (0, self.id). config0 must contain self as a voter and not
 * be joint. The node then campaigns normally; the first master re-proposes genesis
 * and its own NOOP makes it committed. PMQ_EEXIST if the log is not empty, PMQ_EINVAL
 * for a bad config0. */
PMQ_MUST_USE int paxos_bootstrap(paxos_t *p, const uint8_t cluster_id[16],
                                 const paxos_config_t *config0);

/* ---- inputs ---- */

/* Feeds one decoded peer message (borrowed for the call only). Messages for another
 * node or incarnation, stale ballots and duplicates are ignored (return 0). PMQ_EPROTO
 * for a message that is well-formed on the wire but violates the protocol (counted). */
PMQ_MUST_USE int paxos_step(paxos_t *p, const paxos_msg_t *msg);

/* Advances the core's clock by one tick. Ticks are the core's only time, and leases are
 * counted in them, so the driver must call this once per tick of monotonic time that
 * elapsed, not once per timer callback: after a stall (the process stopped, the loop
 * blocked, a VM pause) a repeating libuv timer fires once, and the driver has to call
 * paxos_tick as many times as whole ticks passed (from uv_hrtime) before it steps any
 * message or asks paxos_lease_valid. Calling it too rarely stretches the lease. */
void paxos_tick(paxos_t *p);

/* Proposes a CMD entry on the master (data is copied). On success *index_out is the
 * entry's index; the command is chosen once a committed[] batch contains that index
 * with these bytes. Errors: PMQ_ENOTLEADER, PMQ_EAGAIN (a new master before its own
 * NOOP committed, a transfer in progress, or a config change waiting for the entries
 * below it to commit: retry after the next batch), PMQ_EFULL (uncommitted_max or the log
 * bound reached: back off), PMQ_ETOOBIG (data > entry_bytes_max). */
PMQ_MUST_USE int paxos_propose(paxos_t *p, pmq_slice_t data, uint64_t *index_out);

typedef enum paxos_change_kind {
    PAXOS_CHANGE_ADD_LEARNER = 1,
    PAXOS_CHANGE_REMOVE_LEARNER = 2,
    PAXOS_CHANGE_SET_VOTERS = 3, /* joint consensus old -> voters[] */
} paxos_change_kind_t;

typedef struct paxos_change {
    uint8_t kind;
    paxos_member_t member;                  /* *_LEARNER */
    uint8_t n_voters;                       /* SET_VOTERS */
    paxos_member_t voters[PAXOS_VOTERS_MAX]; /* each a current voter or learner */
} paxos_change_t;

/* Proposes a membership change (CLUSTER §3.2): only on a master that has committed an
 * entry in its own ballot, only when the latest config is committed and not joint.
 * SET_VOTERS appends CONFIG_JOINT; the master appends CONFIG_FINAL itself when the
 * joint entry commits. A config entry is only ever appended directly above a committed
 * prefix (commit == last; docs/PAXOS.md §3): if commands are uncommitted the change is
 * refused with PMQ_EAGAIN and new proposals are held (PMQ_EAGAIN) until they commit
 * (about one round trip) and one heartbeat interval more, so retrying the change within
 * that interval succeeds; nothing of the refused change is kept. CONFIG_FINAL waits the same way inside the core.
 * Errors: PMQ_ENOTLEADER, PMQ_EAGAIN (barrier or a change in
 * flight: retry later), PMQ_EINVAL (unknown member, duplicate, empty or oversized
 * voter set, a voter that is not a learner yet), PMQ_EFULL. */
PMQ_MUST_USE int paxos_propose_change(paxos_t *p, const paxos_change_t *chg);

/* Starts a leadership transfer to the voter with this node id (CLUSTER §2.8: the
 * master gives up its lease at once). Once the target has the whole log it gets
 * TIMEOUT_NOW and campaigns without waiting. If it has not won within one election
 * timeout the master steps down. PMQ_ENOTLEADER, PMQ_EINVAL (not a voter or self). */
PMQ_MUST_USE int paxos_transfer(paxos_t *p, uint32_t target_id);

/* Makes a voter campaign now (tests, admin). PMQ_EINVAL when not a voter. */
PMQ_MUST_USE int paxos_campaign(paxos_t *p);

/* The store's acknowledgement: every batch with seq <= upto_seq is durable. Any time. */
void paxos_persisted(paxos_t *p, uint64_t upto_seq);

/* ---- output ---- */

/* Fills *b with the next batch and returns true, or returns false when there is
 * nothing to do. The batch must be executed per its contract and then given back with
 * paxos_advance() before any other input except paxos_persisted(). */
bool paxos_ready(paxos_t *p, paxos_batch_t *b);

/* Acknowledges a batch from paxos_ready(): persisted (or queued), sent, applied. */
void paxos_advance(paxos_t *p, paxos_batch_t *b);

/* ---- snapshots and compaction (CLUSTER §2.9) ---- */

/* Fills meta for a snapshot of the state machine at index (<= the applied index of
 * the last advanced batch and >= the first retained index - 1). PMQ_EINVAL otherwise. */
PMQ_MUST_USE int paxos_snapshot_meta(const paxos_t *p, uint64_t index, paxos_snap_meta_t *meta);

/* Drops log entries <= index from memory after the driver durably stored a snapshot
 * taken at index (with the meta from paxos_snapshot_meta). From then on a follower
 * that needs an older entry gets a PAXOS_MSG_SNAPSHOT. PMQ_EINVAL for a bad index. */
PMQ_MUST_USE int paxos_compact(paxos_t *p, uint64_t index);

/* ---- queries (pure reads, any time) ---- */

typedef struct paxos_status {
    paxos_role_t role;
    paxos_ballot_t ballot;   /* ballot of the master this node follows or is */
    paxos_ballot_t promised; /* the acceptor's promise */
    uint32_t leader_id;
    bool fresh;   /* empty log, never joined */
    bool voter;   /* exact (id, incarnation) is a voter in the latest config */
    bool learner; /* ... a learner */
    bool serving; /* master whose own NOOP committed: may take client writes */
    bool lease_valid;
    uint64_t first_index; /* first retained log index */
    uint64_t last_index;
    uint64_t commit;
    uint64_t applied;
    uint64_t durable_index;
    uint64_t config_index; /* index of the latest config entry (0: snapshot/none) */
    paxos_config_t config; /* latest config */
    uint64_t now_ticks;
    /* counters */
    uint64_t msgs_rejected;  /* malformed or protocol-violating peer messages */
    uint64_t msgs_dropped;   /* outbox/held overflow, wrong incarnation */
    uint64_t elections_won;
    uint64_t safety_alarms;  /* a chosen entry was contradicted by a peer (must be 0) */
} paxos_status_t;

void paxos_status(const paxos_t *p, paxos_status_t *st);

/* True when this node is the master and holds a valid lease right now (CLUSTER §2.8):
 * check immediately before every lease-dependent external action. */
bool paxos_lease_valid(const paxos_t *p);

/* The log entry at index, if retained (borrowed until the next input). */
bool paxos_log_get(const paxos_t *p, uint64_t index, paxos_entry_t *out);

/* Human-readable names for traces and logs. */
const char *paxos_role_name(paxos_role_t role);
const char *paxos_msg_type_name(uint8_t type);
const char *paxos_entry_type_name(uint8_t type);

/* ---- quorum arithmetic (quorum.c, pure) ---- */

/* Phase 1 and phase 2 quorum sizes for n voters (plain majorities, CLUSTER §2.2). */
uint32_t paxos_q1(uint32_t n);
uint32_t paxos_q2(uint32_t n);

/* True if acks (members that answered yes) contain a phase-2 quorum of cfg: a
 * majority of voters, and of new_voters too when joint. Members match exactly by
 * (id, incarnation), or by id alone when by_id_only (the unsafe switch). */
bool paxos_quorum_has(const paxos_config_t *cfg, const paxos_member_t *acks, size_t n_acks,
                      bool by_id_only);

/* Index committed by the match indexes of cfg's voters: the largest N such that a
 * quorum (both halves when joint) has match >= N. matches[i] belongs to members[i];
 * voters without an entry count as 0. */
uint64_t paxos_quorum_commit_index(const paxos_config_t *cfg, const paxos_member_t *members,
                                   const uint64_t *matches, size_t n, bool by_id_only);

/* True if m is a voter of cfg (either half), a learner, or a member at all. */
bool paxos_config_is_voter(const paxos_config_t *cfg, paxos_member_t m, bool by_id_only);
bool paxos_config_is_learner(const paxos_config_t *cfg, paxos_member_t m);
/* Checks a config's shape: sizes, no duplicate ids within a half, no learner that is
 * also a voter, ids >= 1. */
bool paxos_config_is_valid(const paxos_config_t *cfg);

#endif
