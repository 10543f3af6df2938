/* Electing the master: pre-vote, phase 1 (PREPARE/PROMISE) and recovery (§2.5, §2.7).
 *
 * Recovery is chunked so PROMISEs stay bounded: for the chunk starting at rec_from the
 * candidate collects each promiser's accepted entries, keeps the highest-ballot value
 * per index, and finalizes the chunk once a quorum of its latest config answered, where
 * "latest" is taken over the log as recovery rewrites it (a joint config needs both
 * halves). Per-index Paxos needs a quorum per index, not the same quorum for all of
 * them, so later chunks may be answered by different quorums. Indexes nobody
 * reported get a NOOP; the master then re-proposes the whole suffix in its own ballot
 * and appends its own NOOP (paxos_repl.c). */
#include "paxos_int.h"

static void rec_clear(paxos_t *p) {
    for (uint32_t i = 0; i < PAXOS_MSG_ENTRIES_MAX; i++) {
        pmq_free((void *)p->cand.rec[i].data.ptr);
        memset(&p->cand.rec[i], 0, sizeof(p->cand.rec[i]));
    }
    p->cand.n_resp = 0;
}

void paxos__cand_close(paxos_t *p) {
    if (p->cand.rec != NULL) {
        rec_clear(p);
    }
    p->cand.transfer = false;
}

/* The latest config in the candidate's log as recovery is rewriting it (§3.2 rule 1):
 * my own entries above the chunk, then for the chunk the value that wins (the higher
 * ballot of the reports and my own entry), then my log below the chunk. Joint configs
 * carry both halves, so one quorum check covers old and new. */
static bool cand_latest_config(paxos_t *p, paxos_config_t *out) {
    if (p->role != PAXOS_ROLE_CANDIDATE) {
        *out = p->conf;
        return p->conf.n_voters > 0;
    }
    uint64_t last = paxos__log_last(&p->log);
    uint64_t end = p->cand.rec_from + p->cand.rec_n - 1;
    for (uint64_t i = last; i > end; i--) {
        const paxos_entry_t *e = paxos__log_at(&p->log, i);
        if (paxos_entry_is_config(e->type)) {
            return paxos_entry_config(e, out) == 0;
        }
    }
    for (uint64_t i = end; i >= p->cand.rec_from; i--) {
        const paxos_entry_t *r = &p->cand.rec[i - p->cand.rec_from];
        const paxos_entry_t *own = paxos__log_at(&p->log, i);
        const paxos_entry_t *win = own;
        if (r->index != 0 && (own == NULL || paxos_ballot_cmp(r->ballot, own->ballot) > 0)) {
            win = r;
        }
        if (win != NULL && paxos_entry_is_config(win->type)) {
            return paxos_entry_config(win, out) == 0;
        }
    }
    return paxos__config_at(p, p->cand.rec_from - 1, out);
}

/* Voters to ask: everyone in a config that may matter (the one at commit, every one
 * above it, and the latest as recovery sees it). Asking more nodes is harmless. */
static int cand_targets(paxos_t *p, paxos_config_t *cfgs) {
    int n = paxos__configs_above_commit(p, cfgs, PAXOS__CONFIGS_MAX - 1);
    if (n < 0) {
        n = 0;
    }
    if (cand_latest_config(p, &cfgs[n])) {
        n++;
    }
    return n;
}

static bool resp_has(const paxos_t *p, paxos_member_t m) {
    for (uint32_t i = 0; i < p->cand.n_resp; i++) {
        if (paxos_member_eq(p->cand.resp[i], m)) {
            return true;
        }
    }
    return false;
}

static void send_prepares(paxos_t *p) {
    paxos_config_t cfgs[PAXOS__CONFIGS_MAX];
    int n = cand_targets(p, cfgs);
    paxos_member_t sent[PAXOS_MEMBERS_MAX];
    uint32_t n_sent = 0;
    for (int c = 0; c < n; c++) {
        for (int half = 0; half < 2; half++) {
            const paxos_member_t *set = half == 0 ? cfgs[c].voters : cfgs[c].new_voters;
            uint8_t cnt = half == 0 ? cfgs[c].n_voters : cfgs[c].n_new;
            for (uint8_t i = 0; i < cnt; i++) {
                paxos_member_t to = set[i];
                /* Deduplicate by exact member: during a replacement both incarnations
                 * of one name are voters, and each must be asked as itself. */
                bool dup = to.id == p->self.id || resp_has(p, to);
                for (uint32_t k = 0; k < n_sent && !dup; k++) {
                    dup = paxos_member_eq(sent[k], to);
                }
                if (dup || n_sent == PAXOS_MEMBERS_MAX) {
                    continue;
                }
                sent[n_sent++] = to;
                paxos_msg_t *m = paxos__out(p, PAXOS_MSG_PREPARE, to);
                if (m != NULL) {
                    m->ballot = p->cand.ballot;
                    m->pre_vote = p->role == PAXOS_ROLE_PRECANDIDATE;
                    m->transfer = p->cand.transfer;
                    m->transfer_ballot = p->cand.transfer_ballot;
                    m->from_index = p->cand.rec_from;
                }
            }
        }
    }
}

void paxos__start_campaign(paxos_t *p, bool pre_vote, bool transfer, paxos_ballot_t tb) {
    PMQ_ASSERT(paxos__self_voter(p));
    if (p->role == PAXOS_ROLE_LEADER) {
        paxos__step_down(p);
    }
    paxos__cand_close(p);
    uint64_t round = PMQ_MAX(p->max_round_seen, p->promised.round) + 1;
    p->cand.ballot = (paxos_ballot_t){round, p->self.id};
    p->cand.transfer = transfer;
    p->cand.transfer_ballot = tb;
    p->cand.retransmit_ticks = 0;
    p->cand.rec_from = p->commit + 1;
    p->cand.rec_last = paxos__log_last(&p->log);
    p->cand.rec_commit = p->commit;
    p->cand.rec_n = p->cfg.msg_entries_max;
    p->leader = (paxos_member_t){0};
    p->role_changed = true;
    paxos__reset_election(p);
    if (pre_vote) {
        paxos__set_role(p, PAXOS_ROLE_PRECANDIDATE);
    } else {
        paxos__set_role(p, PAXOS_ROLE_CANDIDATE);
        paxos__set_promised(p, p->cand.ballot, p->self);
        p->cand.self_seq = p->next_seq + 1; /* the batch that persists my promise */
    }
    send_prepares(p);
    if (pre_vote) {
        paxos__cand_poll(p); /* a lone voter wins its pre-vote at once */
    }
}

void paxos__cand_tick(paxos_t *p) {
    if (++p->cand.retransmit_ticks >= p->cfg.heartbeat_ticks) {
        p->cand.retransmit_ticks = 0;
        send_prepares(p); /* PREPAREs and PROMISEs may be lost */
    }
}

/* ---- the acceptor side ---- */

static bool transfer_ok(const paxos_t *p, const paxos_msg_t *m) {
    return m->transfer && p->ballot.round > 0 &&
           paxos_ballot_cmp(m->transfer_ballot, p->ballot) == 0;
}

int paxos__on_prepare(paxos_t *p, const paxos_msg_t *m) {
    paxos_msg_t r = {0};
    r.type = PAXOS_MSG_PROMISE;
    r.from = p->self;
    r.to = m->from;
    r.ballot = m->ballot;
    r.pre_vote = m->pre_vote;
    r.from_index = m->from_index;
    bool higher = paxos_ballot_cmp(m->ballot, p->promised) > 0;
    bool same = paxos_ballot_cmp(m->ballot, p->promised) == 0 &&
                paxos_member_eq(m->from, p->promised_to);
    bool from_leader = p->leader.id != 0 && m->from.id == p->leader.id;
    bool exempt = transfer_ok(p, m) || from_leader;
    /* A candidate missing entries I compacted can never finish recovery: refuse it
     * outright, so it cannot keep resetting everyone's election timer (found by the
     * simulator, seed 15105 with 5 nodes). Refusing a promise is always safe. */
    r.need_snapshot = m->from_index < p->log.first;
    /* A FRESH acceptor answers too (it has never promised anything): whether its
     * answer counts is the candidate's decision, by exact (id, incarnation) (§1.4). */
    if (m->pre_vote) {
        /* Non-binding: grant only if I have not heard from a live master lately. */
        bool recent = p->now < p->contact_tick + p->cfg.election_ticks;
        r.granted = higher && (!recent || exempt) && !r.need_snapshot;
    } else {
        /* A lease I honour blocks everyone else for L ticks after the last APPEND. */
        bool in_lease = p->now <= p->contact_tick + p->cfg.lease_ticks;
        r.granted = (higher || same) && (!in_lease || exempt || same) && !r.need_snapshot;
    }
    r.promised = p->promised;
    if (!r.granted || m->pre_vote) {
        paxos_msg_t *o = paxos__out(p, PAXOS_MSG_PROMISE, m->from);
        if (o != NULL) {
            *o = r;
            o->commit = p->commit;
        }
        return 0;
    }
    if (higher) {
        paxos__become_follower(p, p->ballot, (paxos_member_t){0});
        paxos__set_promised(p, m->ballot, m->from);
    }
    r.promised = m->ballot;
    paxos__hold(p, &r); /* D1: the promise leaves once it is durable */
    return 0;
}

/* ---- the candidate side ---- */

static void resp_add(paxos_t *p, paxos_member_t m, uint64_t cov) {
    if (resp_has(p, m) || p->cand.n_resp == PAXOS_MEMBERS_MAX) {
        return;
    }
    p->cand.resp_cov[p->cand.n_resp] = cov;
    p->cand.resp[p->cand.n_resp++] = m;
}

/* True when the responders (plus me, once my own promise is durable) hold a quorum of
 * my latest config; *cov_out is the smallest coverage among the counted responders. */
static bool cand_quorum(paxos_t *p, uint64_t *cov_out) {
    paxos_config_t cfg;
    if (!cand_latest_config(p, &cfg)) {
        return false;
    }
    paxos_member_t acks[PAXOS_MEMBERS_MAX + 1];
    size_t n_acks = 0;
    uint64_t cov = UINT64_MAX;
    bool by_id = paxos__by_id(p);
    for (uint32_t i = 0; i < p->cand.n_resp; i++) {
        if (paxos_config_is_voter(&cfg, p->cand.resp[i], by_id)) {
            acks[n_acks++] = p->cand.resp[i];
            cov = PMQ_MIN(cov, p->cand.resp_cov[i]);
        }
    }
    bool self_ok = p->role == PAXOS_ROLE_PRECANDIDATE || p->durable_seq >= p->cand.self_seq;
    if (self_ok) {
        acks[n_acks++] = p->self;
    }
    if (!paxos_quorum_has(&cfg, acks, n_acks, by_id)) {
        return false;
    }
    *cov_out = cov;
    return true;
}

static void rec_merge(paxos_t *p, const paxos_msg_t *m) {
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const paxos_entry_t *e = &m->entries[i];
        if (e->index < p->cand.rec_from || e->index >= p->cand.rec_from + p->cand.rec_n) {
            continue;
        }
        paxos_entry_t *slot = &p->cand.rec[e->index - p->cand.rec_from];
        if (slot->index != 0 && paxos_ballot_cmp(slot->ballot, e->ballot) >= 0) {
            continue;
        }
        char *copy = NULL;
        if (e->data.len > 0) {
            copy = pmq_malloc(e->data.len);
            if (copy == NULL) {
                continue; /* losing extra information is safe; a quorum check follows */
            }
            memcpy(copy, e->data.ptr, e->data.len);
        }
        pmq_free((void *)slot->data.ptr);
        *slot = (paxos_entry_t){e->index, e->ballot, e->type, pmq_slice(copy, e->data.len)};
    }
}

/* Writes the decided values of [rec_from, upto] into my log. */
static int rec_finalize(paxos_t *p, uint64_t upto) {
    for (uint64_t idx = p->cand.rec_from; idx <= upto; idx++) {
        const paxos_entry_t *r = &p->cand.rec[idx - p->cand.rec_from];
        const paxos_entry_t *own = paxos__log_at(&p->log, idx);
        int rc = 0;
        if (r->index != 0 && (own == NULL || paxos_ballot_cmp(r->ballot, own->ballot) > 0)) {
            rc = paxos__log_put(p, idx, r->ballot, r->type, r->data);
        } else if (own == NULL) {
            rc = paxos__log_put(p, idx, p->cand.ballot, PAXOS_ENTRY_NOOP, pmq_slice(NULL, 0));
        }
        if (rc != 0) {
            return rc;
        }
    }
    PMQ_ASSERT(paxos__log_last(&p->log) >= upto);
    /* Entries up to a promiser's commit are chosen, and the values just decided are
     * the chosen ones (highest ballot in a quorum), so the commit may move. */
    uint64_t learned = PMQ_MIN(p->cand.rec_commit, upto);
    if (learned > p->commit) {
        p->commit = learned;
    }
    return 0;
}

void paxos__cand_poll(paxos_t *p) {
    uint64_t cov = 0;
    if (p->role == PAXOS_ROLE_PRECANDIDATE) {
        if (cand_quorum(p, &cov)) {
            paxos__start_campaign(p, false, p->cand.transfer, p->cand.transfer_ballot);
        }
        return;
    }
    /* Never lead a ballot before my own promise of it is durable, even when the others
     * already form a quorum: a crash would otherwise let me reuse the ballot after a
     * restart and propose different values in it (CLUSTER §1.4 rule 8, KAFKA-10527). */
    while (p->role == PAXOS_ROLE_CANDIDATE && p->durable_seq >= p->cand.self_seq &&
           cand_quorum(p, &cov)) {
        uint64_t end = PMQ_MIN(p->cand.rec_from + p->cand.rec_n - 1, cov);
        uint64_t upto = PMQ_MIN(end, p->cand.rec_last);
        if (rec_finalize(p, upto) != 0) {
            paxos__become_follower(p, p->ballot, (paxos_member_t){0});
            return; /* log full or out of memory: let someone else lead */
        }
        if (p->cand.rec_last <= end) {
            paxos__become_leader(p);
            return;
        }
        rec_clear(p);
        p->cand.rec_from = upto + 1;
        send_prepares(p);
    }
}

int paxos__on_promise(paxos_t *p, const paxos_msg_t *m) {
    bool want = m->pre_vote ? p->role == PAXOS_ROLE_PRECANDIDATE : p->role == PAXOS_ROLE_CANDIDATE;
    if (!want || paxos_ballot_cmp(m->ballot, p->cand.ballot) != 0) {
        return 0; /* stale */
    }
    if (m->need_snapshot) {
        /* This acceptor compacted entries I asked for, so its answer cannot count.
         * Others may still form a quorum (an acceptor that committed further than I
         * know, e.g. a master that just stepped down, compacts early); if none can, my
         * campaign times out, and the refusals did not reset anyone's timer. */
        return 0;
    }
    if (!m->granted) {
        if (!m->pre_vote && paxos_ballot_cmp(m->promised, p->cand.ballot) > 0) {
            paxos__become_follower(p, p->ballot, (paxos_member_t){0});
        }
        return 0;
    }
    if (m->pre_vote) {
        resp_add(p, m->from, UINT64_MAX);
        paxos__cand_poll(p);
        return 0;
    }
    if (m->from_index != p->cand.rec_from || resp_has(p, m->from)) {
        return 0; /* an answer for an earlier chunk, or a duplicate */
    }
    rec_merge(p, m);
    p->cand.rec_last = PMQ_MAX(p->cand.rec_last, m->last_index);
    p->cand.rec_commit = PMQ_MAX(p->cand.rec_commit, m->commit);
    resp_add(p, m->from, m->covered_to >= m->last_index ? UINT64_MAX : m->covered_to);
    paxos__cand_poll(p);
    return 0;
}
