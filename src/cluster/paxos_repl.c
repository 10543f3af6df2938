/* Phase 2: replication, commit, leases, snapshots and leadership transfer (§2.6-§2.9).
 *
 * The master's log above its commit index holds only entries of its own ballot, so an
 * index commits once a quorum of the latest config (both halves when joint) matched it
 * and its entry carries my ballot; older-ballot entries commit only through that rule
 * (Raft's Figure 8). Followers never truncate: they overwrite one index with a higher
 * ballot's value and keep what lies above (docs/PAXOS.md explains why). */
#include "paxos_int.h"

/* ---- progress bookkeeping ---- */

static paxos__prog_t *prog_find(paxos_t *p, paxos_member_t m) {
    for (uint32_t i = 0; i < p->n_prog; i++) {
        paxos_member_t pm = p->prog[i].member;
        if (paxos__by_id(p) ? pm.id == m.id : paxos_member_eq(pm, m)) {
            return &p->prog[i];
        }
    }
    return NULL;
}

static void prog_add_set(paxos_t *p, paxos__prog_t *old, uint32_t n_old, const paxos_member_t *set,
                         uint8_t n) {
    for (uint8_t i = 0; i < n; i++) {
        paxos_member_t m = set[i];
        if (paxos_member_eq(m, p->self) || prog_find(p, m) != NULL) {
            continue;
        }
        PMQ_ASSERT(p->n_prog < PAXOS_MEMBERS_MAX);
        paxos__prog_t *pr = &p->prog[p->n_prog++];
        memset(pr, 0, sizeof(*pr));
        pr->member = m;
        pr->next = paxos__log_last(&p->log) + 1;
        for (uint32_t k = 0; k < n_old; k++) {
            if (paxos_member_eq(old[k].member, m)) {
                *pr = old[k];
                break;
            }
        }
    }
}

/* Tracks every member of every config from the one at commit to the latest, so
 * members being removed still learn the entry that removes them. */
void paxos__prog_rebuild(paxos_t *p) {
    paxos__prog_t *old = p->prog_scratch;
    uint32_t n_old = p->n_prog;
    memcpy(old, p->prog, sizeof(paxos__prog_t) * n_old);
    p->n_prog = 0;
    paxos_config_t cfgs[PAXOS__CONFIGS_MAX];
    int n = paxos__configs_above_commit(p, cfgs, PAXOS__CONFIGS_MAX);
    for (int c = 0; c < n; c++) {
        prog_add_set(p, old, n_old, cfgs[c].voters, cfgs[c].n_voters);
        prog_add_set(p, old, n_old, cfgs[c].new_voters, cfgs[c].n_new);
        prog_add_set(p, old, n_old, cfgs[c].learners, cfgs[c].n_learners);
    }
    prog_add_set(p, old, n_old, p->conf.voters, p->conf.n_voters);
    prog_add_set(p, old, n_old, p->conf.new_voters, p->conf.n_new);
    prog_add_set(p, old, n_old, p->conf.learners, p->conf.n_learners);
}

static void inflight_free_to(paxos__prog_t *pr, uint64_t match) {
    while (pr->inflight_n > 0 && pr->inflight[pr->inflight_head] <= match) {
        pr->inflight_head = (pr->inflight_head + 1) % PAXOS__WINDOW_MAX;
        pr->inflight_n--;
    }
}

static void prog_probe(paxos__prog_t *pr, uint64_t next) {
    pr->state = PAXOS__PROBE;
    pr->next = next;
    pr->probe_sent = false;
    pr->inflight_n = 0;
    pr->inflight_head = 0;
}

/* ---- becoming and stopping being master ---- */

void paxos__become_leader(paxos_t *p) {
    PMQ_ASSERT(p->role == PAXOS_ROLE_CANDIDATE);
    paxos_ballot_t b = p->cand.ballot;
    PMQ_ASSERT(paxos_ballot_cmp(b, p->promised) == 0);
    paxos__cand_close(p);
    paxos__set_role(p, PAXOS_ROLE_LEADER);
    p->ballot = b;
    p->leader = p->self;
    p->elections_won++;
    /* Re-propose the recovered suffix in my ballot (§2.7), then my own NOOP. */
    for (uint64_t i = p->commit + 1; i <= paxos__log_last(&p->log); i++) {
        paxos__log_restamp(p, i, b);
    }
    PMQ_ASSERT(p->commit <= paxos__log_last(&p->log));
    PMQ_ASSERT(p->commit + 1 >= p->log.first);
    p->serving = false;
    p->lease_until = 0;
    p->lease_revoked = false;
    p->transfer_to = 0;
    p->chg_barrier_until = 0;
    p->hb_seq = 1;
    p->hb_sent[1 % PAXOS__HB_RING] = p->now;
    p->hb_due = true;
    p->heartbeat_elapsed = 0;
    p->check_elapsed = 0;
    p->contact_tick = p->now;
    p->n_prog = 0;
    paxos__prog_rebuild(p);
    for (uint32_t i = 0; i < p->n_prog; i++) {
        prog_probe(&p->prog[i], p->commit + 1);
        p->prog[i].active = true;
    }
    uint64_t idx = 0;
    p->own_noop_index = paxos__log_last(&p->log) + 1;
    if (paxos__leader_append(p, PAXOS_ENTRY_NOOP, pmq_slice(NULL, 0), &idx) != 0) {
        paxos__become_follower(p, p->ballot, (paxos_member_t){0});
        return; /* no room for my NOOP: I cannot serve */
    }
    PMQ_ASSERT(idx == p->own_noop_index);
}

void paxos__step_down(paxos_t *p) {
    PMQ_ASSERT(p->role == PAXOS_ROLE_LEADER);
    p->role = PAXOS_ROLE_FOLLOWER;
    p->role_changed = true;
    p->serving = false;
    p->lease_until = 0;
    p->lease_revoked = false;
    p->transfer_to = 0;
    p->chg_barrier_until = 0;
    p->n_prog = 0;
    p->leader = (paxos_member_t){0};
    paxos__reset_election(p);
}

int paxos__leader_append(paxos_t *p, uint8_t type, pmq_slice_t data, uint64_t *index_out) {
    PMQ_ASSERT(p->role == PAXOS_ROLE_LEADER);
    uint64_t last = paxos__log_last(&p->log);
    bool own_noop = type == PAXOS_ENTRY_NOOP && last + 1 == p->own_noop_index;
    if (!own_noop && last - p->commit >= p->cfg.uncommitted_max) {
        return PMQ_EFULL;
    }
    int rc = paxos__log_put(p, last + 1, p->ballot, type, data);
    if (rc != 0) {
        return rc;
    }
    if (paxos_entry_is_config(type)) {
        paxos__prog_rebuild(p);
    }
    if (index_out != NULL) {
        *index_out = last + 1;
    }
    return 0;
}

/* ---- leases (CLUSTER §2.8) ---- */

/* The newest heartbeat round acknowledged by a quorum of every config that could
 * elect a successor extends the lease to its send tick + L(1-e)/(1+e) - delta. */
static void lease_update(paxos_t *p) {
    paxos_config_t cfgs[PAXOS__CONFIGS_MAX];
    int n = paxos__configs_above_commit(p, cfgs, PAXOS__CONFIGS_MAX);
    if (n <= 0 || p->lease_revoked) {
        return;
    }
    uint64_t oldest = p->hb_seq >= PAXOS__HB_RING ? p->hb_seq - PAXOS__HB_RING + 1 : 1;
    for (uint64_t k = p->hb_seq; k >= oldest && k > 0; k--) {
        paxos_member_t acks[PAXOS_MEMBERS_MAX + 1];
        size_t n_acks = 0;
        acks[n_acks++] = p->self;
        for (uint32_t i = 0; i < p->n_prog; i++) {
            if (p->prog[i].hb_acked >= k) {
                acks[n_acks++] = p->prog[i].member;
            }
        }
        bool ok = true;
        for (int c = 0; c < n && ok; c++) {
            ok = paxos_quorum_has(&cfgs[c], acks, n_acks, paxos__by_id(p));
        }
        if (ok) {
            uint64_t until = p->hb_sent[k % PAXOS__HB_RING] + p->lease_leader_ticks;
            p->lease_until = PMQ_MAX(p->lease_until, until);
            return;
        }
    }
}

static bool quorum_active(paxos_t *p) {
    paxos_member_t acks[PAXOS_MEMBERS_MAX + 1];
    size_t n_acks = 0;
    acks[n_acks++] = p->self;
    for (uint32_t i = 0; i < p->n_prog; i++) {
        if (p->prog[i].active) {
            acks[n_acks++] = p->prog[i].member;
        }
    }
    return paxos_quorum_has(&p->conf, acks, n_acks, paxos__by_id(p));
}

void paxos__leader_tick(paxos_t *p) {
    if (++p->heartbeat_elapsed >= p->cfg.heartbeat_ticks) {
        p->heartbeat_elapsed = 0;
        p->hb_seq++;
        p->hb_sent[p->hb_seq % PAXOS__HB_RING] = p->now;
        p->hb_due = true;
        p->contact_tick = p->now; /* as an acceptor I honour my own lease too */
        for (uint32_t i = 0; i < p->n_prog; i++) {
            paxos__prog_t *pr = &p->prog[i];
            if (pr->state == PAXOS__SNAPSHOT && ++pr->snap_ticks >= p->cfg.election_ticks /
                                                                      p->cfg.heartbeat_ticks) {
                prog_probe(pr, pr->next); /* the snapshot got lost: probe again */
            }
            if (pr->state == PAXOS__REPLICATE && pr->inflight_n > 0 &&
                pr->match == pr->match_at_hb) {
                /* No progress for a whole heartbeat interval with APPENDs in flight:
                 * they were lost. Resend from the known match. */
                prog_probe(pr, pr->match + 1);
            }
            pr->match_at_hb = pr->match;
        }
        lease_update(p); /* a lone voter renews on its own */
    }
    if (++p->check_elapsed >= p->cfg.election_ticks) {
        p->check_elapsed = 0;
        if (p->cfg.check_quorum && !quorum_active(p)) {
            paxos__become_follower(p, p->ballot, (paxos_member_t){0});
            return; /* CheckQuorum (§2.5): a master cut off from a quorum stops */
        }
        for (uint32_t i = 0; i < p->n_prog; i++) {
            p->prog[i].active = false;
        }
    }
    if (p->transfer_to != 0 && ++p->transfer_ticks >= p->cfg.election_ticks) {
        /* The target did not take over; my lease is gone for this ballot, so let a
         * normal election pick the next master. */
        paxos__become_follower(p, p->ballot, (paxos_member_t){0});
    }
}

/* ---- sending ---- */

static void send_snapshot(paxos_t *p, paxos__prog_t *pr) {
    paxos_msg_t *m = paxos__out(p, PAXOS_MSG_SNAPSHOT, pr->member);
    if (m == NULL) {
        return;
    }
    PMQ_ASSERT(p->log.has_snap);
    p->out_snap = p->log.snap;
    m->ballot = p->ballot;
    m->snap = &p->out_snap;
    m->hb_seq = p->hb_seq;
    pr->state = PAXOS__SNAPSHOT;
    pr->snap_index = p->log.snap.index;
    pr->snap_ticks = 0;
}

/* One APPEND from pr->next (entries == false: a heartbeat at the known match). */
static uint64_t send_append(paxos_t *p, paxos__prog_t *pr, bool entries) {
    uint64_t prev = entries ? pr->next - 1 : pr->match;
    if (prev + 1 < p->log.first) {
        send_snapshot(p, pr);
        return 0;
    }
    paxos_msg_t *m = paxos__out(p, PAXOS_MSG_APPEND, pr->member);
    if (m == NULL) {
        return 0;
    }
    m->ballot = p->ballot;
    m->prev_index = prev;
    m->prev_ballot = paxos__log_ballot(&p->log, prev);
    m->hb_seq = p->hb_seq;
    uint64_t last = paxos__log_last(&p->log);
    uint32_t n = 0;
    size_t bytes = 0;
    for (uint64_t i = prev + 1; entries && i <= last && n < p->cfg.msg_entries_max; i++, n++) {
        size_t len = paxos__log_at(&p->log, i)->data.len;
        if (n > 0 && bytes + len > p->cfg.msg_bytes_max) {
            break;
        }
        bytes += len;
    }
    m->n_entries = n;
    m->entries = n > 0 ? paxos__log_at(&p->log, prev + 1) : NULL;
    m->commit = p->commit;
    PMQ_ASSERT(paxos_msg_encoded_size(m) > 0);
    return prev + n;
}

void paxos__leader_flush(paxos_t *p) {
    uint64_t last = paxos__log_last(&p->log);
    for (uint32_t i = 0; i < p->n_prog; i++) {
        paxos__prog_t *pr = &p->prog[i];
        if (pr->state == PAXOS__SNAPSHOT) {
            continue;
        }
        if (pr->next < p->log.first) {
            send_snapshot(p, pr);
            continue;
        }
        if (pr->state == PAXOS__PROBE) {
            if (!pr->probe_sent || p->hb_due) {
                send_append(p, pr, true);
                pr->probe_sent = true;
            }
            continue;
        }
        bool sent = false;
        while (pr->inflight_n < p->cfg.window_msgs && pr->next <= last) {
            uint64_t end = send_append(p, pr, true);
            if (end < pr->next) {
                break; /* outbox full or switched to a snapshot */
            }
            uint32_t slot = (pr->inflight_head + pr->inflight_n) % PAXOS__WINDOW_MAX;
            pr->inflight[slot] = end;
            pr->inflight_n++;
            pr->next = end + 1;
            sent = true;
        }
        if (p->hb_due && !sent) {
            send_append(p, pr, false);
        }
    }
    p->hb_due = false;
}

/* ---- commit ---- */

void paxos__maybe_commit(paxos_t *p) {
    if (p->role != PAXOS_ROLE_LEADER) {
        return;
    }
    paxos_member_t members[PAXOS_MEMBERS_MAX + 1];
    uint64_t matches[PAXOS_MEMBERS_MAX + 1];
    size_t n = 0;
    members[n] = p->self;
    matches[n++] = paxos__durable_index(p); /* D3: my own vote only once durable */
    for (uint32_t i = 0; i < p->n_prog; i++) {
        members[n] = p->prog[i].member;
        matches[n++] = p->prog[i].match;
    }
    uint64_t c = paxos_quorum_commit_index(&p->conf, members, matches, n, paxos__by_id(p));
    c = PMQ_MIN(c, paxos__log_last(&p->log));
    if (c <= p->commit || paxos_ballot_cmp(paxos__log_ballot(&p->log, c), p->ballot) != 0) {
        paxos__after_commit_config(p, p->commit);
        return;
    }
    uint64_t old = p->commit;
    PMQ_ASSERT(c <= paxos__log_last(&p->log));
    PMQ_ASSERT(paxos_ballot_cmp(paxos__log_ballot(&p->log, c), p->ballot) == 0);
    p->commit = c;
    if (p->own_noop_index <= c) {
        p->serving = true;
    }
    paxos__after_commit_config(p, old);
}

/* ---- the follower side ---- */

/* A refusal from an acceptor that does not follow the sender (a stale ballot, or the
 * same ballot promised to another incarnation of the sender's name) carries hb_seq 0
 * and reject_index 0: the master must not count it as a heartbeat ack for its lease or
 * as activity for CheckQuorum, since this acceptor's lease promise is not its. */
static void reply_append(paxos_t *p, const paxos_msg_t *m, bool ok, uint64_t match,
                         bool following) {
    paxos_msg_t r = {0};
    r.type = PAXOS_MSG_APPEND_RESP;
    r.from = p->self;
    r.to = m->from;
    r.ballot = m->ballot;
    r.promised = p->promised;
    r.ok = ok;
    r.match_index = match;
    r.reject_index = ok ? 0 : m->prev_index;
    r.hint_index = ok ? 0 : p->commit;
    r.hb_seq = following ? m->hb_seq : 0;
    r.reject_index = following ? r.reject_index : 0;
    r.commit = p->commit;
    if (ok) {
        paxos__hold(p, &r); /* D2: ack only durable entries */
        return;
    }
    paxos_msg_t *o = paxos__out(p, PAXOS_MSG_APPEND_RESP, m->from);
    if (o != NULL) {
        *o = r;
    }
}

/* Accepts the sender as master for its ballot; false if the ballot is stale. */
static bool accept_master(paxos_t *p, const paxos_msg_t *m) {
    int c = paxos_ballot_cmp(m->ballot, p->promised);
    bool same_to = paxos__by_id(p) ? m->from.id == p->promised_to.id
                                   : paxos_member_eq(m->from, p->promised_to);
    if (c < 0 || (c == 0 && !same_to && p->promised_to.id != 0)) {
        return false;
    }
    if (p->role != PAXOS_ROLE_FOLLOWER || !paxos_member_eq(p->leader, m->from) ||
        paxos_ballot_cmp(p->ballot, m->ballot) != 0) {
        paxos__become_follower(p, m->ballot, m->from);
    }
    paxos__set_promised(p, m->ballot, m->from);
    p->election_elapsed = 0;
    p->contact_tick = p->now;
    return true;
}

static bool same_value(const paxos_entry_t *a, const paxos_entry_t *b) {
    return a->type == b->type && pmq_slice_eq(a->data, b->data);
}

int paxos__on_append(paxos_t *p, const paxos_msg_t *m) {
    if (!accept_master(p, m)) {
        reply_append(p, m, false, 0, false);
        return 0;
    }
    uint64_t prev = m->prev_index;
    bool match = prev <= p->commit;
    if (!match && prev <= paxos__log_last(&p->log)) {
        match = paxos_ballot_cmp(paxos__log_ballot(&p->log, prev), m->prev_ballot) == 0;
    }
    if (!match) {
        reply_append(p, m, false, 0, true);
        return 0;
    }
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const paxos_entry_t *e = &m->entries[i];
        const paxos_entry_t *own = paxos__log_at(&p->log, e->index);
        if (e->index <= p->commit) {
            if (own != NULL && !same_value(own, e)) {
                p->safety_alarms++; /* a chosen value contradicted: never overwrite */
            }
            continue;
        }
        if (own != NULL && paxos_ballot_cmp(own->ballot, e->ballot) >= 0) {
            continue; /* same entry, or the same chosen value re-proposed later */
        }
        if (paxos__log_put(p, e->index, e->ballot, e->type, e->data) != 0) {
            p->msgs_dropped++; /* log full: the master retries after compaction */
            return 0;
        }
    }
    uint64_t matched = prev + m->n_entries;
    PMQ_ASSERT(matched <= paxos__log_last(&p->log) || matched <= p->commit);
    uint64_t c = PMQ_MIN(m->commit, matched);
    if (c > p->commit) {
        PMQ_ASSERT(c <= paxos__log_last(&p->log));
        p->commit = c;
    }
    reply_append(p, m, true, matched, true);
    return 0;
}

int paxos__on_snapshot(paxos_t *p, const paxos_msg_t *m) {
    if (!accept_master(p, m)) {
        reply_append(p, m, false, 0, false);
        return 0;
    }
    const paxos_snap_meta_t *meta = m->snap;
    if (meta->index > p->commit) {
        char *copy = NULL;
        if (m->data.len > 0) {
            copy = pmq_malloc(m->data.len);
            if (copy == NULL) {
                return 0; /* the master retries */
            }
            memcpy(copy, m->data.ptr, m->data.len);
        }
        pmq_free(p->snap_data);
        p->snap_data = copy;
        p->snap_len = m->data.len;
        p->inst_snap = *meta;
        p->snap_install = true;
        paxos__log_compact(&p->log, meta);
        if (p->dirty_lo != 0 && p->dirty_lo < p->log.first) {
            p->dirty_lo = p->log.first;
            if (p->dirty_hi < p->dirty_lo) {
                p->dirty_lo = p->dirty_hi = 0;
            }
        }
        p->commit = meta->index;
        p->applied = meta->index;
        p->cc_valid = false;
        paxos__conf_refresh(p);
    }
    paxos_msg_t r = *m;
    r.prev_index = meta->index;
    reply_append(p, &r, true, meta->index, true);
    return 0;
}

/* ---- responses at the master ---- */

static void maybe_send_timeout_now(paxos_t *p, paxos__prog_t *pr) {
    if (p->transfer_to != pr->member.id || p->transfer_sent ||
        pr->match != paxos__log_last(&p->log)) {
        return;
    }
    paxos_msg_t *m = paxos__out(p, PAXOS_MSG_TIMEOUT_NOW, pr->member);
    if (m != NULL) {
        m->ballot = p->ballot;
        p->transfer_sent = true;
    }
}

int paxos__on_append_resp(paxos_t *p, const paxos_msg_t *m) {
    if (p->role != PAXOS_ROLE_LEADER || paxos_ballot_cmp(m->ballot, p->ballot) != 0) {
        return 0;
    }
    if (paxos_ballot_cmp(m->promised, p->ballot) > 0) {
        paxos__become_follower(p, p->ballot, (paxos_member_t){0});
        return 0; /* someone promised a higher ballot: I am no longer master */
    }
    paxos__prog_t *pr = prog_find(p, m->from);
    if (pr == NULL || (!m->ok && m->hb_seq == 0)) {
        return 0; /* unknown, or an acceptor that does not follow me (reply_append) */
    }
    pr->active = true;
    if (m->hb_seq > pr->hb_acked && m->hb_seq <= p->hb_seq) {
        pr->hb_acked = m->hb_seq;
        lease_update(p);
    }
    if (!m->ok) {
        if (m->reject_index <= pr->match || pr->state == PAXOS__SNAPSHOT) {
            return 0; /* stale */
        }
        uint64_t next = PMQ_MIN(m->hint_index + 1, m->reject_index);
        prog_probe(pr, PMQ_MAX(pr->match + 1, next));
        return 0;
    }
    if (m->match_index > paxos__log_last(&p->log)) {
        p->msgs_rejected++;
        return PMQ_EPROTO;
    }
    if (m->match_index > pr->match) {
        pr->match = m->match_index;
    }
    pr->next = PMQ_MAX(pr->next, pr->match + 1);
    inflight_free_to(pr, pr->match);
    bool snap_done = pr->state != PAXOS__SNAPSHOT || pr->match >= pr->snap_index;
    if (pr->state != PAXOS__REPLICATE && snap_done) {
        pr->state = PAXOS__REPLICATE;
        pr->inflight_n = 0;
        pr->next = pr->match + 1;
    }
    pr->probe_sent = false;
    paxos__maybe_commit(p);
    if (p->role == PAXOS_ROLE_LEADER) {
        maybe_send_timeout_now(p, pr);
    }
    return 0;
}

int paxos__on_timeout_now(paxos_t *p, const paxos_msg_t *m) {
    if (paxos_ballot_cmp(m->ballot, p->ballot) != 0 || m->from.id != p->leader.id ||
        paxos_ballot_cmp(m->ballot, p->promised) < 0 || !paxos__self_voter(p)) {
        return 0;
    }
    p->contact_tick = p->now;
    paxos__start_campaign(p, false, true, m->ballot);
    return 0;
}

int paxos_transfer(paxos_t *p, uint32_t target_id) {
    PMQ_ASSERT(!p->in_batch);
    if (p->role != PAXOS_ROLE_LEADER) {
        return PMQ_ENOTLEADER;
    }
    paxos__prog_t *pr = NULL;
    for (uint32_t i = 0; i < p->n_prog; i++) {
        if (p->prog[i].member.id == target_id &&
            paxos_config_is_voter(&p->conf, p->prog[i].member, false)) {
            pr = &p->prog[i];
        }
    }
    if (pr == NULL || target_id == p->self.id) {
        return PMQ_EINVAL;
    }
    p->transfer_to = target_id;
    p->transfer_ticks = 0;
    p->transfer_sent = false;
    p->lease_revoked = true; /* §2.8: stop lease-dependent work at once, for good */
    maybe_send_timeout_now(p, pr);
    return 0;
}
