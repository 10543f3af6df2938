/* The Paxos core's lifecycle, clock, inputs and the ready/advance batch (STYLE §5).
 *
 * This file owns the persistence bookkeeping: every acceptor reply that vouches for
 * state (PROMISE, APPEND_RESP ok) waits in `held` until paxos_persisted() says the
 * writes it depends on are durable (CLUSTER §2.3 D1/D2), and committed entries are
 * handed out only up to the locally durable index. It does no I/O and reads no clock. */
#include "paxos_int.h"

void paxos_cfg_defaults(paxos_cfg_t *c) {
    memset(c, 0, sizeof(*c));
    c->heartbeat_ticks = 10;
    c->election_ticks = 100;
    c->lease_ticks = 90;
    c->drift_ppm = 1000;
    c->lease_slack_ticks = 1;
    c->window_msgs = 64;
    c->msg_entries_max = 64;
    c->msg_bytes_max = 1024 * 1024;
    c->uncommitted_max = 256;
    c->log_entries_max = 100000;
    c->entry_bytes_max = 1024 * 1024;
    c->snapshot_bytes_max = 8 * 1024 * 1024;
    c->outbox_max = 1024;
    c->pre_vote = true;
    c->check_quorum = true;
}

/* Leader lease length in ticks: L(1-e)/(1+e) - delta (CLUSTER §2.8), 0 if invalid. */
static uint32_t lease_leader_ticks(const paxos_cfg_t *c) {
    uint64_t num = (uint64_t)c->lease_ticks * (1000000u - c->drift_ppm);
    uint64_t l = num / (1000000u + c->drift_ppm);
    return l > c->lease_slack_ticks ? (uint32_t)(l - c->lease_slack_ticks) : 0;
}

static bool cfg_is_valid(const paxos_cfg_t *c) {
    if (c->self.id == 0 || c->heartbeat_ticks == 0 || c->heartbeat_ticks >= c->election_ticks) {
        return false;
    }
    if (c->lease_ticks >= c->election_ticks || c->drift_ppm >= 500000) {
        return false;
    }
    if (lease_leader_ticks(c) == 0) {
        return false;
    }
    if (c->window_msgs == 0 || c->window_msgs > PAXOS__WINDOW_MAX) {
        return false;
    }
    if (c->msg_entries_max == 0 || c->msg_entries_max > PAXOS_MSG_ENTRIES_MAX) {
        return false;
    }
    if (c->msg_bytes_max > PAXOS_MSG_BYTES_MAX / 4 ||
        c->entry_bytes_max > PAXOS_MSG_BYTES_MAX / 4) {
        return false;
    }
    if (c->snapshot_bytes_max > PAXOS_MSG_BYTES_MAX - 65536) {
        return false;
    }
    if (c->uncommitted_max == 0 || c->log_entries_max < c->uncommitted_max + 16) {
        return false;
    }
#ifndef PAXOS_UNSAFE_KNOBS
    if (c->unsafe_single_server_changes || c->unsafe_count_fresh_incarnations ||
        c->unsafe_config_above_uncommitted) {
        return false;
    }
#endif
    return c->outbox_max >= 16;
}

static int restore_check(const paxos_cfg_t *c, const paxos_restore_t *r) {
    uint64_t base = r->has_snapshot ? r->snap.index : 0;
    for (size_t i = 0; i < r->n_entries; i++) {
        const paxos_entry_t *e = &r->entries[i];
        if (e->index != base + 1 + i || e->data.len > c->entry_bytes_max) {
            return PMQ_ECORRUPT;
        }
        if (e->type < PAXOS_ENTRY_NOOP || e->type > PAXOS_ENTRY_CMD) {
            return PMQ_ECORRUPT;
        }
        paxos_config_t tmp;
        if (paxos_entry_is_config(e->type) && paxos_entry_config(e, &tmp) != 0) {
            return PMQ_ECORRUPT;
        }
    }
    if (r->applied < base || r->applied > base + r->n_entries) {
        return PMQ_ECORRUPT;
    }
    if (r->n_entries > c->log_entries_max) {
        return PMQ_ECORRUPT;
    }
    return 0;
}

static int restore_apply(paxos_t *p, const paxos_restore_t *r) {
    int rc = restore_check(&p->cfg, r);
    if (rc != 0) {
        return rc;
    }
    if (r->has_snapshot) {
        paxos__log_compact(&p->log, &r->snap);
    }
    for (size_t i = 0; i < r->n_entries; i++) {
        const paxos_entry_t *e = &r->entries[i];
        rc = paxos__log_put(p, e->index, e->ballot, e->type, e->data);
        if (rc != 0) {
            return rc;
        }
    }
    uint64_t last = paxos__log_last(&p->log);
    p->promised = r->hard.promised;
    p->promised_to = r->hard.promised_to;
    p->commit = PMQ_MIN(PMQ_MAX(r->hard.commit, r->applied), last);
    p->commit = PMQ_MAX(p->commit, p->log.first - 1);
    p->applied = r->applied;
    p->dirty_lo = p->dirty_hi = 0; /* everything restored is durable */
    paxos__conf_refresh(p);
    PMQ_ASSERT(p->applied <= p->commit);
    return 0;
}

int paxos_new(const paxos_cfg_t *cfg, const paxos_restore_t *restore, pmq_rng_t *rng,
              paxos_t **out) {
    *out = NULL;
    if (cfg == NULL || rng == NULL || !cfg_is_valid(cfg)) {
        return PMQ_EINVAL;
    }
    int rc = PMQ_ENOMEM;
    paxos_t *p = pmq_calloc(1, sizeof(*p));
    if (p == NULL) {
        return PMQ_ENOMEM;
    }
    p->cfg = *cfg;
    p->rng = rng;
    p->self = cfg->self;
    p->lease_leader_ticks = lease_leader_ticks(cfg);
    p->prog = pmq_calloc(PAXOS_MEMBERS_MAX, sizeof(paxos__prog_t));
    p->prog_scratch = pmq_calloc(PAXOS_MEMBERS_MAX, sizeof(paxos__prog_t));
    p->outbox = pmq_calloc(cfg->outbox_max, sizeof(paxos_msg_t));
    p->held = pmq_calloc(PAXOS__HELD_MAX, sizeof(paxos__held_t));
    p->cand.rec = pmq_calloc(PAXOS_MSG_ENTRIES_MAX, sizeof(paxos_entry_t));
    if (p->prog == NULL || p->prog_scratch == NULL || p->outbox == NULL || p->held == NULL ||
        p->cand.rec == NULL) {
        goto fail;
    }
    rc = paxos__log_init(&p->log, 64);
    if (rc != 0) {
        goto fail;
    }
    if (restore != NULL) {
        rc = restore_apply(p, restore);
        if (rc != 0) {
            goto fail;
        }
    }
    paxos__reset_election(p);
    *out = p;
    return 0;
fail:
    paxos_free(p);
    return rc;
}

void paxos_free(paxos_t *p) {
    if (p == NULL) {
        return;
    }
    paxos__cand_close(p);
    paxos__log_close(&p->log);
    pmq_free(p->snap_data);
    pmq_free(p->cand.rec);
    pmq_free(p->held);
    pmq_free(p->outbox);
    pmq_free(p->prog_scratch);
    pmq_free(p->prog);
    pmq_free(p);
}

int paxos_bootstrap(paxos_t *p, const uint8_t cluster_id[16], const paxos_config_t *config0) {
    PMQ_ASSERT(!p->in_batch);
    if (paxos__log_last(&p->log) != 0 || p->log.has_snap) {
        return PMQ_EEXIST;
    }
    if (!paxos_config_is_valid(config0) || config0->joint ||
        !paxos_config_is_voter(config0, p->self, false)) {
        return PMQ_EINVAL;
    }
    char raw[16 + 4 + 20 * (2 * PAXOS_VOTERS_MAX + PAXOS_LEARNERS_MAX)];
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    int rc = pmq_buf_append(&b, cluster_id, 16);
    rc = rc != 0 ? rc : paxos_config_encode(config0, &b);
    if (rc == 0) {
        PMQ_ASSERT(b.len <= sizeof(raw));
        memcpy(raw, b.data, b.len);
        paxos_ballot_t genesis = {0, p->self.id};
        rc = paxos__log_put(p, 1, genesis, PAXOS_ENTRY_GENESIS, pmq_slice(raw, b.len));
        if (rc == 0) {
            paxos__set_promised(p, genesis, p->self);
        }
    }
    pmq_buf_close(&b);
    return rc;
}

/* ---- small shared helpers ---- */

bool paxos__is_fresh(const paxos_t *p) {
    return paxos__log_last(&p->log) == 0 && !p->log.has_snap;
}

bool paxos__self_voter(const paxos_t *p) {
    return paxos_config_is_voter(&p->conf, p->self, false);
}

void paxos__set_promised(paxos_t *p, paxos_ballot_t b, paxos_member_t to) {
    PMQ_ASSERT(paxos_ballot_cmp(b, p->promised) >= 0);
    if (paxos_ballot_cmp(b, p->promised) != 0 || !paxos_member_eq(to, p->promised_to)) {
        p->promised = b;
        p->promised_to = to;
        p->hard_dirty = true;
    }
    p->max_round_seen = PMQ_MAX(p->max_round_seen, b.round);
}

void paxos__set_role(paxos_t *p, paxos_role_t role) {
    if (p->role != role) {
        p->role = role;
        p->role_changed = true;
    }
}

void paxos__reset_election(paxos_t *p) {
    p->election_elapsed = 0;
    p->election_timeout =
        p->cfg.election_ticks + (uint32_t)pmq_rng_below(p->rng, p->cfg.election_ticks);
}

void paxos__become_follower(paxos_t *p, paxos_ballot_t ballot, paxos_member_t leader) {
    if (p->role == PAXOS_ROLE_LEADER) {
        paxos__step_down(p);
    }
    paxos__cand_close(p);
    paxos__set_role(p, PAXOS_ROLE_FOLLOWER);
    if (paxos_ballot_cmp(ballot, p->ballot) != 0 || leader.id != p->leader.id) {
        p->role_changed = true;
    }
    p->ballot = ballot;
    p->leader = leader;
    paxos__reset_election(p);
}

paxos_msg_t *paxos__out(paxos_t *p, uint8_t type, paxos_member_t to) {
    PMQ_ASSERT(to.id != p->self.id || !paxos_member_eq(to, p->self));
    if (p->n_out == p->cfg.outbox_max) {
        p->msgs_dropped++; /* the network may lose it anyway; protocols retry */
        return NULL;
    }
    paxos_msg_t *m = &p->outbox[p->n_out++];
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->from = p->self;
    m->to = to;
    m->commit = p->commit;
    return m;
}

/* The seq whose durability covers every write made so far. */
static uint64_t need_seq_now(const paxos_t *p) {
    if (p->hard_dirty || p->dirty_lo != 0 || p->snap_install) {
        return p->next_seq + 1;
    }
    return p->next_seq;
}

void paxos__hold(paxos_t *p, const paxos_msg_t *m) {
    if (p->n_held == PAXOS__HELD_MAX) {
        p->msgs_dropped++;
        return;
    }
    paxos__held_t *h = &p->held[p->n_held++];
    h->need_seq = need_seq_now(p);
    h->msg = *m;
}

uint64_t paxos__durable_index(const paxos_t *p) {
    uint64_t last = paxos__log_last(&p->log);
    uint64_t lo = UINT64_MAX;
    if (p->dirty_lo != 0) {
        lo = p->dirty_lo;
    }
    if (p->snap_install) {
        lo = PMQ_MIN(lo, p->inst_snap.index);
    }
    for (uint32_t i = 0; i < p->n_pending; i++) {
        if (p->pending[i].lo != 0) {
            lo = PMQ_MIN(lo, p->pending[i].lo);
        }
    }
    return lo == UINT64_MAX ? last : PMQ_MIN(last, lo - 1);
}

/* ---- inputs ---- */

void paxos_tick(paxos_t *p) {
    PMQ_ASSERT(!p->in_batch);
    p->now++;
    if (p->role == PAXOS_ROLE_LEADER) {
        paxos__leader_tick(p);
        return;
    }
    if (p->role != PAXOS_ROLE_FOLLOWER) {
        paxos__cand_tick(p);
    }
    if (!paxos__self_voter(p) || paxos__is_fresh(p)) {
        return;
    }
    bool alone = !p->conf.joint && p->conf.n_voters == 1;
    if (alone && p->role == PAXOS_ROLE_FOLLOWER) {
        paxos__start_campaign(p, false, false, (paxos_ballot_t){0, 0});
        return;
    }
    p->election_elapsed++;
    if (p->election_elapsed >= p->election_timeout) {
        paxos__start_campaign(p, p->cfg.pre_vote, false, (paxos_ballot_t){0, 0});
    }
}

int paxos_campaign(paxos_t *p) {
    PMQ_ASSERT(!p->in_batch);
    if (!paxos__self_voter(p) || paxos__is_fresh(p) || p->role == PAXOS_ROLE_LEADER) {
        return PMQ_EINVAL;
    }
    paxos__start_campaign(p, false, false, (paxos_ballot_t){0, 0});
    return 0;
}

static bool entries_valid(const paxos_t *p, const paxos_msg_t *m, uint64_t first_index) {
    if (m->n_entries > PAXOS_MSG_ENTRIES_MAX || (m->n_entries > 0 && m->entries == NULL)) {
        return false;
    }
    uint64_t prev = first_index - 1;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const paxos_entry_t *e = &m->entries[i];
        if (e->index <= prev || e->data.len > p->cfg.entry_bytes_max) {
            return false;
        }
        if (m->type == PAXOS_MSG_APPEND && e->index != prev + 1) {
            return false;
        }
        if (e->type < PAXOS_ENTRY_NOOP || e->type > PAXOS_ENTRY_CMD) {
            return false;
        }
        if (paxos_ballot_cmp(e->ballot, m->ballot) > 0) {
            return false; /* nobody accepts a value above the ballot it is sent in */
        }
        paxos_config_t tmp;
        if (paxos_entry_is_config(e->type) && paxos_entry_config(e, &tmp) != 0) {
            return false;
        }
        prev = e->index;
    }
    return true;
}

static bool msg_valid(const paxos_t *p, const paxos_msg_t *m) {
    if (m->from.id == 0 || m->from.id == p->self.id) {
        return false;
    }
    switch (m->type) {
    case PAXOS_MSG_PREPARE:
    case PAXOS_MSG_TIMEOUT_NOW:
        return m->ballot.rank == m->from.id && m->ballot.round > 0;
    case PAXOS_MSG_PROMISE:
        if (m->granted && !m->pre_vote && m->covered_to + 1 < m->from_index) {
            return false;
        }
        return entries_valid(p, m, m->from_index) &&
               (m->n_entries == 0 || m->entries[m->n_entries - 1].index <= m->covered_to);
    case PAXOS_MSG_APPEND:
        if (m->ballot.rank != m->from.id || m->prev_index > UINT64_MAX - PAXOS_MSG_ENTRIES_MAX) {
            return false;
        }
        return entries_valid(p, m, m->prev_index + 1);
    case PAXOS_MSG_APPEND_RESP:
        return true;
    case PAXOS_MSG_SNAPSHOT:
        return m->ballot.rank == m->from.id && m->snap != NULL && m->snap->index > 0 &&
               paxos_config_is_valid(&m->snap->config) &&
               m->data.len <= p->cfg.snapshot_bytes_max;
    default:
        return false;
    }
}

int paxos_step(paxos_t *p, const paxos_msg_t *m) {
    PMQ_ASSERT(!p->in_batch);
    PMQ_ASSERT(m != NULL);
    bool inc_ok = m->to.inc.hi == p->self.inc.hi && m->to.inc.lo == p->self.inc.lo;
    if (m->to.id != p->self.id || (!inc_ok && !paxos__by_id(p))) {
        p->msgs_dropped++; /* for an older incarnation of me, or misrouted (§1.4) */
        return 0;
    }
    if (!msg_valid(p, m)) {
        p->msgs_rejected++;
        return PMQ_EPROTO;
    }
    p->max_round_seen = PMQ_MAX(p->max_round_seen, PMQ_MAX(m->ballot.round, m->promised.round));
    switch (m->type) {
    case PAXOS_MSG_PREPARE:
        return paxos__on_prepare(p, m);
    case PAXOS_MSG_PROMISE:
        return paxos__on_promise(p, m);
    case PAXOS_MSG_APPEND:
        return paxos__on_append(p, m);
    case PAXOS_MSG_APPEND_RESP:
        return paxos__on_append_resp(p, m);
    case PAXOS_MSG_SNAPSHOT:
        return paxos__on_snapshot(p, m);
    case PAXOS_MSG_TIMEOUT_NOW:
        return paxos__on_timeout_now(p, m);
    default:
        PMQ_UNREACHABLE();
    }
}

int paxos_propose(paxos_t *p, pmq_slice_t data, uint64_t *index_out) {
    PMQ_ASSERT(!p->in_batch);
    if (p->role != PAXOS_ROLE_LEADER) {
        return PMQ_ENOTLEADER;
    }
    if (!p->serving || p->transfer_to != 0 || paxos__final_due(p) ||
        p->now < p->chg_barrier_until) {
        return PMQ_EAGAIN;
    }
    if (data.len > p->cfg.entry_bytes_max) {
        return PMQ_ETOOBIG;
    }
    return paxos__leader_append(p, PAXOS_ENTRY_CMD, data, index_out);
}

void paxos_persisted(paxos_t *p, uint64_t upto_seq) {
    PMQ_ASSERT(upto_seq <= p->next_seq);
    if (upto_seq <= p->durable_seq) {
        return;
    }
    p->durable_seq = upto_seq;
    uint32_t keep = 0;
    for (uint32_t i = 0; i < p->n_pending; i++) {
        PMQ_ASSERT(i == 0 || p->pending[i].seq > p->pending[i - 1].seq);
        if (p->pending[i].seq > upto_seq) {
            p->pending[keep++] = p->pending[i];
        }
    }
    p->n_pending = keep;
}
