/* Membership changes on the master (CLUSTER §3.2, implemented exactly):
 * one change at a time, joint consensus for voters, single entries for learners, and
 * none before the master committed an entry in its own ballot (the barrier that fixes
 * Ongaro's single-server bug).
 *
 * One rule more than Raft's: a config entry (CONFIG_JOINT, CONFIG_FINAL, *_LEARNER) is
 * appended only when every entry below it is committed (commit == last). Followers
 * never truncate (docs/PAXOS.md deviation 1), so a deposed master keeps its uncommitted
 * suffix; a config entry at the end of such a suffix would otherwise be one step from a
 * prefix that was never chosen, and a later candidate taking it as its latest config
 * could win with a quorum that misses chosen entries (review finding, scenario
 * stale_config_unsafe). With the rule, every config entry anywhere is one step from the
 * config of a chosen prefix, so its quorums intersect those of the config really in
 * force there, and a higher-ballot value at its index always overrides it in recovery.
 * A change asked for above uncommitted entries is refused with PMQ_EAGAIN and raises a
 * barrier: new proposals get PMQ_EAGAIN until commit == last (about one round trip even
 * under load) and then for one heartbeat interval more, so the caller's retry finds the
 * prefix committed even when commands arrive continuously; the barrier falls when the
 * change is appended, and after an election timeout at most. The change is not kept: it was checked
 * against the membership of the moment, and appending it seconds later (after a
 * partition) could promote a learner that has since lost its disk. CONFIG_FINAL, which
 * follows from the committed joint entry alone, is appended by the core as soon as the
 * prefix is committed, and proposals wait for it (paxos__final_due).
 *
 * The unsafe switches exist only so the simulator can show that the checker catches
 * the bugs these rules prevent. */
#include "paxos_int.h"

static bool set_has_id(const paxos_member_t *set, uint8_t n, uint32_t id) {
    for (uint8_t i = 0; i < n; i++) {
        if (set[i].id == id) {
            return true;
        }
    }
    return false;
}

static void set_remove(paxos_member_t *set, uint8_t *n, paxos_member_t m) {
    for (uint8_t i = 0; i < *n; i++) {
        if (paxos_member_eq(set[i], m)) {
            set[i] = set[*n - 1];
            (*n)--;
            return;
        }
    }
}

static int append_config(paxos_t *p, uint8_t type, const paxos_config_t *cfg) {
    PMQ_ASSERT(paxos_config_is_valid(cfg));
    uint8_t raw[4 + 20 * (2 * PAXOS_VOTERS_MAX + PAXOS_LEARNERS_MAX)];
    pmq_buf_t b;
    pmq_buf_init(&b, sizeof(raw));
    int rc = paxos_config_encode(cfg, &b);
    if (rc == 0) {
        PMQ_ASSERT(b.len <= sizeof(raw));
        memcpy(raw, b.data, b.len);
        rc = paxos__leader_append(p, type, pmq_slice(raw, b.len), NULL);
    }
    pmq_buf_close(&b);
    return rc;
}

/* Whether a config entry may be appended now: nothing below it is uncommitted. */
static bool prefix_committed(const paxos_t *p) {
    return p->commit == paxos__log_last(&p->log) || p->cfg.unsafe_config_above_uncommitted ||
           p->cfg.unsafe_single_server_changes; /* Ongaro's scenario needs the bare Raft rule */
}

/* The joint config committed and its CONFIG_FINAL is not appended yet: it waits for a
 * committed prefix like any config entry, and proposals wait for it. */
bool paxos__final_due(const paxos_t *p) {
    return p->role == PAXOS_ROLE_LEADER && p->conf.joint && p->conf_index <= p->commit;
}

/* Number of voters in exactly one of the two sets (by exact member). */
static int voter_diff(const paxos_config_t *old, const paxos_change_t *chg) {
    int d = 0;
    for (uint8_t i = 0; i < chg->n_voters; i++) {
        d += paxos_config_is_voter(old, chg->voters[i], false) ? 0 : 1;
    }
    for (uint8_t i = 0; i < old->n_voters; i++) {
        bool kept = false;
        for (uint8_t k = 0; k < chg->n_voters; k++) {
            kept = kept || paxos_member_eq(chg->voters[k], old->voters[i]);
        }
        d += kept ? 0 : 1;
    }
    return d;
}

static int set_voters(paxos_t *p, const paxos_change_t *chg, paxos_config_t *next, uint8_t *type) {
    if (chg->n_voters == 0 || chg->n_voters > PAXOS_VOTERS_MAX) {
        return PMQ_EINVAL;
    }
    for (uint8_t i = 0; i < chg->n_voters; i++) {
        paxos_member_t m = chg->voters[i];
        if (!paxos_config_is_voter(&p->conf, m, false) && !paxos_config_is_learner(&p->conf, m)) {
            return PMQ_EINVAL; /* a new voter must have joined (and caught up) as a learner */
        }
        if (set_has_id(chg->voters, i, m.id)) {
            return PMQ_EINVAL;
        }
    }
    int diff = voter_diff(&p->conf, chg);
    if (diff == 0) {
        return PMQ_EINVAL;
    }
    for (uint8_t i = 0; i < chg->n_voters; i++) {
        set_remove(next->learners, &next->n_learners, chg->voters[i]);
    }
    if (p->cfg.unsafe_single_server_changes) {
        if (diff != 1) {
            return PMQ_EINVAL;
        }
        memcpy(next->voters, chg->voters, sizeof(chg->voters[0]) * chg->n_voters);
        next->n_voters = chg->n_voters;
        *type = PAXOS_ENTRY_CONFIG_FINAL;
        return 0;
    }
    next->joint = true;
    memcpy(next->new_voters, chg->voters, sizeof(chg->voters[0]) * chg->n_voters);
    next->n_new = chg->n_voters;
    *type = PAXOS_ENTRY_CONFIG_JOINT;
    return 0;
}

int paxos_propose_change(paxos_t *p, const paxos_change_t *chg) {
    PMQ_ASSERT(!p->in_batch);
    if (p->role != PAXOS_ROLE_LEADER) {
        return PMQ_ENOTLEADER;
    }
    if ((!p->serving && !p->cfg.unsafe_single_server_changes) || p->transfer_to != 0) {
        return PMQ_EAGAIN; /* §3.2 rule 3: not before an entry of my ballot committed */
    }
    if (p->conf_index > p->commit || p->conf.joint) {
        return PMQ_EAGAIN; /* §3.2 rule 2: one change in flight */
    }
    paxos_config_t next = p->conf;
    uint8_t type = 0;
    int rc = 0;
    switch (chg->kind) {
    case PAXOS_CHANGE_ADD_LEARNER:
        if (chg->member.id == 0 || paxos_config_is_voter(&p->conf, chg->member, false) ||
            set_has_id(next.learners, next.n_learners, chg->member.id) ||
            next.n_learners == PAXOS_LEARNERS_MAX) {
            return PMQ_EINVAL;
        }
        next.learners[next.n_learners++] = chg->member;
        type = PAXOS_ENTRY_ADD_LEARNER;
        break;
    case PAXOS_CHANGE_REMOVE_LEARNER:
        if (!paxos_config_is_learner(&p->conf, chg->member)) {
            return PMQ_EINVAL;
        }
        set_remove(next.learners, &next.n_learners, chg->member);
        type = PAXOS_ENTRY_REMOVE_LEARNER;
        break;
    case PAXOS_CHANGE_SET_VOTERS:
        rc = set_voters(p, chg, &next, &type);
        break;
    default:
        return PMQ_EINVAL;
    }
    if (rc != 0) {
        return rc;
    }
    if (!paxos_config_is_valid(&next)) {
        return PMQ_EINVAL;
    }
    if (!prefix_committed(p)) {
        p->chg_barrier_until = p->now + p->cfg.election_ticks; /* retry after the batch */
        return PMQ_EAGAIN;
    }
    rc = append_config(p, type, &next);
    if (rc == 0) {
        p->chg_barrier_until = 0;
    }
    return rc;
}

/* Called by the master after its commit index may have moved: a committed joint
 * config is followed by CONFIG_FINAL, a master outside its committed final config
 * steps down (§3.2 rule 5), whoever committed it, and the members tracked shrink to
 * what is still needed. */
void paxos__after_commit_config(paxos_t *p, uint64_t old_commit) {
    if (p->role != PAXOS_ROLE_LEADER) {
        return;
    }
    uint64_t grace = p->now + p->cfg.heartbeat_ticks;
    if (p->commit == paxos__log_last(&p->log) && p->chg_barrier_until > grace) {
        p->chg_barrier_until = grace; /* the prefix is committed: time for the retry */
    }
    if (p->conf_index > p->commit) {
        return;
    }
    if (p->conf.joint) {
        paxos_config_t next = p->conf;
        memcpy(next.voters, next.new_voters, sizeof(next.voters[0]) * next.n_new);
        next.n_voters = next.n_new;
        next.n_new = 0;
        next.joint = false;
        if (prefix_committed(p)) { /* else paxos__final_due holds proposals until it is */
            (void)!append_config(p, PAXOS_ENTRY_CONFIG_FINAL, &next); /* retried next time */
        }
        return;
    }
    if (p->conf_index > old_commit) {
        paxos__prog_rebuild(p);
    }
    /* Also when the config was committed before I won (recovery learned it): a node the
     * committed config removed may still win an election that recovers the removal, and
     * must not stay master (review finding, scenario bug_removed_node_wins). */
    if (!paxos__self_voter(p)) {
        paxos__become_follower(p, p->ballot, (paxos_member_t){0});
    }
}
