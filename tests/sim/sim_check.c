/* paxmq-sim invariant checker (CLUSTER §6.2), run after every event.
 *
 *  - one value chosen per index, forever (every applied entry is compared with the
 *    first value any node applied at that index);
 *  - state-machine safety: the state hash after index i is the same on every node,
 *    including nodes that restored a snapshot;
 *  - lease exclusivity: at most one running node holds a valid lease at any instant,
 *    and while one does no node is master of a higher ballot;
 *  - election safety (one master per ballot) and leader completeness (a new master's
 *    log holds every chosen entry: this is what catches amnesia and reconfiguration
 *    bugs the moment the bad master is elected);
 *  - acknowledged commands: durable on a quorum when acknowledged, chosen forever;
 *  - durability discipline: no PROMISE or APPEND_RESP ok before the durable layer
 *    holds what it vouches for; promised ballots never decrease per incarnation;
 *  - log matching: one value per (index, ballot) over every write of the run;
 *  - one genesis; the cores' own safety alarm counters stay zero. */
#include <stdlib.h>

#include "sim_int.h"

#include "paxmq/assert.h"

#define IDX_MAX (1u << 24)

void sim__grow_idx(sim_world_t *w, uint64_t index) {
    if (index < w->cap_idx) {
        return;
    }
    PMQ_ASSERT(index < IDX_MAX);
    size_t cap = w->cap_idx ? w->cap_idx : 4096;
    while (cap <= index) {
        cap *= 2;
    }
    w->chosen = realloc(w->chosen, cap * sizeof(uint64_t));
    w->state_hash = realloc(w->state_hash, cap * sizeof(uint64_t));
    w->acked = realloc(w->acked, cap * sizeof(uint64_t));
    w->chosen_ballot = realloc(w->chosen_ballot, cap * sizeof(paxos_ballot_t));
    PMQ_ASSERT(w->chosen != NULL && w->state_hash != NULL && w->acked != NULL);
    PMQ_ASSERT(w->chosen_ballot != NULL);
    size_t add = cap - w->cap_idx;
    memset(w->chosen + w->cap_idx, 0, add * sizeof(uint64_t));
    memset(w->state_hash + w->cap_idx, 0, add * sizeof(uint64_t));
    memset(w->acked + w->cap_idx, 0, add * sizeof(uint64_t));
    memset(w->chosen_ballot + w->cap_idx, 0, add * sizeof(paxos_ballot_t));
    w->cap_idx = cap;
}

static void trace_config(sim_world_t *w, sim_node_t *n, const paxos_entry_t *e) {
    paxos_config_t c;
    if (paxos_entry_config(e, &c) != 0) {
        sim_fail(w, "n%u applied an undecodable config at %llu", n->id,
                 (unsigned long long)e->index);
        return;
    }
    char buf[160];
    int off = 0;
    for (int half = 0; half < (c.joint ? 2 : 1); half++) {
        const paxos_member_t *set = half ? c.new_voters : c.voters;
        uint8_t cnt = half ? c.n_new : c.n_voters;
        off += snprintf(buf + off, sizeof(buf) - (size_t)off, "%s{", half ? " -> " : "");
        for (uint8_t i = 0; i < cnt; i++) {
            off += snprintf(buf + off, sizeof(buf) - (size_t)off, "%sn%u.%llu", i ? "," : "",
                            set[i].id, (unsigned long long)set[i].inc.lo);
        }
        off += snprintf(buf + off, sizeof(buf) - (size_t)off, "}");
    }
    if (c.n_learners > 0) {
        off += snprintf(buf + off, sizeof(buf) - (size_t)off, " learners{");
        for (uint8_t i = 0; i < c.n_learners; i++) {
            off += snprintf(buf + off, sizeof(buf) - (size_t)off, "%sn%u.%llu", i ? "," : "",
                            c.learners[i].id, (unsigned long long)c.learners[i].inc.lo);
        }
        snprintf(buf + off, sizeof(buf) - (size_t)off, "}");
    }
    sim_trace(w, "chosen %llu %s %s", (unsigned long long)e->index,
              paxos_entry_type_name(e->type), buf);
}

static uint64_t ibv_slot(const sim_world_t *w, uint64_t index, paxos_ballot_t b) {
    uint64_t h = index * 0x9e3779b97f4a7c15ull ^ b.round * 0xbf58476d1ce4e5b9ull ^ b.rank;
    h ^= h >> 31;
    return h & (w->cap_ibv - 1);
}

static sim_ibv_t *ibv_find(sim_world_t *w, uint64_t index, paxos_ballot_t b) {
    for (uint64_t s = ibv_slot(w, index, b);; s = (s + 1) & (w->cap_ibv - 1)) {
        sim_ibv_t *x = &w->ibv[s];
        if (x->index == 0 || (x->index == index && paxos_ballot_cmp(x->ballot, b) == 0)) {
            return x;
        }
    }
}

/* Log matching (§6.2 item 3): one (index, ballot) pair names one value, on every node
 * and in every incarnation, for the whole run. A ballot reused with another value (two
 * incarnations leading one ballot, a master rewriting its own entry) fails here even
 * when nothing at that index was ever chosen. */
void sim__on_written(sim_world_t *w, sim_node_t *n, const paxos_entry_t *e) {
    if ((w->n_ibv + 1) * 2 > w->cap_ibv) {
        sim_ibv_t *old = w->ibv;
        size_t old_cap = w->cap_ibv;
        w->cap_ibv = old_cap ? old_cap * 2 : 4096;
        w->ibv = calloc(w->cap_ibv, sizeof(sim_ibv_t));
        PMQ_ASSERT(w->ibv != NULL);
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i].index != 0) {
                *ibv_find(w, old[i].index, old[i].ballot) = old[i];
            }
        }
        free(old);
    }
    uint64_t v = sim__value_hash(e->type, e->data);
    sim_ibv_t *x = ibv_find(w, e->index, e->ballot);
    if (x->index == 0) {
        *x = (sim_ibv_t){e->index, e->ballot, v};
        w->n_ibv++;
    } else if (x->value != v) {
        sim_fail(w, "log matching: n%u wrote another %s at %llu in ballot (%llu,%u)", n->id,
                 paxos_entry_type_name(e->type), (unsigned long long)e->index,
                 (unsigned long long)e->ballot.round, e->ballot.rank);
    }
}

void sim__on_applied(sim_world_t *w, sim_node_t *n, const paxos_entry_t *e) {
    sim__grow_idx(w, e->index);
    uint64_t h = sim__value_hash(e->type, e->data);
    if (w->chosen[e->index] == 0 || paxos_ballot_cmp(e->ballot, w->chosen_ballot[e->index]) < 0) {
        w->chosen_ballot[e->index] = e->ballot;
    }
    if (w->chosen[e->index] == 0) {
        w->chosen[e->index] = h;
        w->max_chosen = PMQ_MAX(w->max_chosen, e->index);
        if (paxos_entry_is_config(e->type)) {
            trace_config(w, n, e);
        } else if (w->capture != NULL && e->type == PAXOS_ENTRY_CMD) {
            sim_trace(w, "chosen %llu CMD %.*s", (unsigned long long)e->index, (int)e->data.len,
                      e->data.ptr);
        }
        if (w->acked[e->index] != 0 && w->acked[e->index] != h) {
            sim_fail(w, "acknowledged command at %llu replaced", (unsigned long long)e->index);
        }
    } else if (w->chosen[e->index] != h) {
        sim_fail(w, "two values chosen at index %llu: n%u applied %s", (unsigned long long)e->index,
                 n->id, paxos_entry_type_name(e->type));
        return;
    }
    if (e->index == 1 && e->type != PAXOS_ENTRY_GENESIS) {
        sim_fail(w, "index 1 is not the genesis entry");
    }
    if (e->type == PAXOS_ENTRY_GENESIS && e->index != 1) {
        sim_fail(w, "a second genesis at %llu", (unsigned long long)e->index);
    }
    uint64_t sh = w->o.sm->hash(n->sm) | 1;
    if (w->state_hash[e->index] == 0) {
        w->state_hash[e->index] = sh;
    } else if (w->state_hash[e->index] != sh) {
        sim_fail(w, "n%u state hash diverged after applying %llu", n->id,
                 (unsigned long long)e->index);
    }
}

void sim__on_snapshot_installed(sim_world_t *w, sim_node_t *n, uint64_t index) {
    sim__grow_idx(w, index);
    uint64_t sh = w->o.sm->hash(n->sm) | 1;
    if (w->state_hash[index] != 0 && w->state_hash[index] != sh) {
        sim_fail(w, "n%u snapshot at %llu has a different state hash", n->id,
                 (unsigned long long)index);
    }
}

/* Election safety and leader completeness, checked when a node becomes master (its
 * recovery is complete at that point, CLUSTER §2.7). */
void sim__on_leader(sim_world_t *w, sim_node_t *n) {
    paxos_status_t st;
    paxos_status(n->p, &st);
    for (size_t i = 0; i < w->n_leaderships; i++) {
        sim_leadership_t *l = &w->leaderships[i];
        /* One master per ballot, ever: not even the same node twice (after a restart it
         * could propose different values under the same ballot). */
        if (paxos_ballot_cmp(l->ballot, st.ballot) == 0) {
            sim_fail(w, "ballot (%llu,%u) won twice (n%u, and earlier n%u)",
                     (unsigned long long)st.ballot.round, st.ballot.rank, n->id, l->member.id);
        }
    }
    if (w->n_leaderships == w->cap_leaderships) {
        w->cap_leaderships = w->cap_leaderships ? w->cap_leaderships * 2 : 64;
        w->leaderships = realloc(w->leaderships, w->cap_leaderships * sizeof(sim_leadership_t));
        PMQ_ASSERT(w->leaderships != NULL);
    }
    w->leaderships[w->n_leaderships++] = (sim_leadership_t){st.ballot, n->me};
    /* §6.2 items 7 and 10: the exact voters of the new master's config that durably
     * promised this ballot (or higher) must form a quorum. An empty-disk incarnation
     * standing in for a voter shows up here as a voter without the promise. */
    paxos_member_t promised[2 * SIM_NODES_MAX];
    size_t np = 0;
    for (uint32_t i = 1; i <= w->n_ids; i++) {
        const sim_node_t *x = &w->nodes[i];
        if (x->exists && x->disk.has_hard &&
            paxos_ballot_cmp(x->disk.hard.promised, st.ballot) >= 0) {
            promised[np++] = x->me;
        }
        const sim_node_t *g = &w->ghost[i];
        if (w->has_ghost[i] && g->disk.has_hard &&
            paxos_ballot_cmp(g->disk.hard.promised, st.ballot) >= 0) {
            promised[np++] = g->me;
        }
    }
    if (!paxos_quorum_has(&st.config, promised, np, false)) {
        sim_fail(w, "n%u became master of ballot (%llu,%u) without durable promises from a "
                 "quorum of its voters", n->id, (unsigned long long)st.ballot.round,
                 st.ballot.rank);
        return;
    }
    /* Leader completeness, Paxos style: a value chosen in a ballot lower than mine
     * must be in my log. (A master of a lower ballot may finish its election after a
     * higher one chose values: it cannot get anything accepted, and is not checked.)
     * An entry is chosen in a ballot no higher than the lowest ballot any node
     * applied it with, so comparing with that ballot never gives a false alarm. */
    for (uint64_t i = PMQ_MAX(st.first_index, 1); i <= w->max_chosen; i++) {
        if (w->chosen[i] == 0 || paxos_ballot_cmp(w->chosen_ballot[i], st.ballot) >= 0) {
            continue;
        }
        paxos_entry_t e;
        if (!paxos_log_get(n->p, i, &e)) {
            sim_fail(w, "new master n%u ballot (%llu,%u) lacks chosen index %llu (log to %llu)",
                     n->id, (unsigned long long)st.ballot.round, st.ballot.rank,
                     (unsigned long long)i, (unsigned long long)st.last_index);
            return;
        }
        if (sim__value_hash(e.type, e.data) != w->chosen[i]) {
            sim_fail(w, "new master n%u ballot (%llu,%u) holds another value at chosen index %llu",
                     n->id, (unsigned long long)st.ballot.round, st.ballot.rank,
                     (unsigned long long)i);
            return;
        }
    }
}

/* D1/D2 (§6.2 item 7): a reply leaves only when what it vouches for is durable. */
void sim__on_send(sim_world_t *w, sim_node_t *n, const paxos_msg_t *m) {
    if (m->type == PAXOS_MSG_APPEND_RESP && m->ok) {
        const sim_disk_t *d = &n->disk;
        uint64_t durable_last = d->first + d->n - 1;
        uint64_t snap = d->has_snap ? d->snap.index : 0;
        if (m->match_index > PMQ_MAX(durable_last, snap)) {
            sim_fail(w, "n%u acked %llu before it was durable (durable to %llu)", n->id,
                     (unsigned long long)m->match_index, (unsigned long long)durable_last);
        }
    }
    if (m->type == PAXOS_MSG_PROMISE && m->granted && !m->pre_vote) {
        if (!n->disk.has_hard || paxos_ballot_cmp(n->disk.hard.promised, m->ballot) < 0) {
            sim_fail(w, "n%u promised (%llu,%u) before the promise was durable", n->id,
                     (unsigned long long)m->ballot.round, m->ballot.rank);
        }
    }
}

/* Called as a write becomes durable: the durable promise never decreases within one
 * incarnation (§6.2 item 8), across crashes included. */
void sim__on_hard(sim_world_t *w, sim_node_t *n, const paxos_hard_t *h) {
    if (paxos_ballot_cmp(h->promised, n->max_promised) < 0) {
        sim_fail(w, "n%u durable promised ballot went backwards", n->id);
    }
    n->max_promised = h->promised;
}

/* The master committed the entry under its latest config at that moment: the config
 * in force at the entry's index or one appended after it (a joint config's final
 * entry may commit the entries between them with the new half alone, as in Raft). So a
 * quorum of at least one of those configs (both halves when joint) must hold the entry
 * durably. */
static bool durable_quorum(sim_world_t *w, sim_node_t *n, const sim_ack_t *a,
                           const paxos_member_t *holders, size_t nh) {
    paxos_snap_meta_t at;
    if (paxos_snapshot_meta(n->p, a->index, &at) == 0 &&
        paxos_quorum_has(&at.config, holders, nh, false)) {
        return true;
    }
    paxos_status_t st;
    paxos_status(n->p, &st);
    for (uint64_t i = a->index + 1; i <= st.last_index; i++) {
        paxos_entry_t e;
        paxos_config_t c;
        if (paxos_log_get(n->p, i, &e) && paxos_entry_is_config(e.type) &&
            paxos_entry_config(&e, &c) == 0 && paxos_quorum_has(&c, holders, nh, false)) {
            return true;
        }
    }
    (void)w;
    return false;
}

void sim__on_ack(sim_world_t *w, sim_node_t *n, const sim_ack_t *a) {
    sim__grow_idx(w, a->index);
    if (w->chosen[a->index] != 0 && w->chosen[a->index] != a->hash) {
        sim_fail(w, "acknowledged a command at %llu that is not the chosen value",
                 (unsigned long long)a->index);
    }
    w->acked[a->index] = a->hash;
    paxos_member_t holders[2 * SIM_NODES_MAX];
    size_t nh = 0;
    for (uint32_t i = 1; i <= w->n_ids; i++) {
        sim_node_t *x = &w->nodes[i];
        if (x->exists && sim__durable_has(x, a->index, a->hash)) {
            holders[nh++] = x->me;
        }
        if (w->has_ghost[i] && sim__durable_has(&w->ghost[i], a->index, a->hash)) {
            holders[nh++] = w->ghost[i].me;
        }
    }
    if (!durable_quorum(w, n, a, holders, nh)) {
        sim_fail(w, "command acknowledged at %llu is durable on %zu nodes only, not a quorum",
                 (unsigned long long)a->index, nh);
    }
}

void sim__check_after_event(sim_world_t *w) {
    uint32_t leased = 0;
    for (uint32_t i = 1; i <= w->n_ids; i++) {
        sim_node_t *n = &w->nodes[i];
        if (!n->exists || !n->up) {
            continue;
        }
        /* A paused process cannot act on its lease; it catches up its ticks first. */
        if (n->paused_until <= w->now && paxos_lease_valid(n->p)) {
            if (leased != 0) {
                sim_fail(w, "n%u and n%u both hold a valid lease", leased, i);
            }
            leased = i;
        }
        paxos_status_t st;
        paxos_status(n->p, &st);
        if (st.safety_alarms != 0) {
            sim_fail(w, "n%u saw a chosen entry contradicted by a peer", i);
        }
        if (st.msgs_rejected != 0) {
            sim_fail(w, "n%u rejected a message from a correct peer", i);
        }
        if (st.commit < n->last_commit) {
            /* §6.2 item 8: within one life the commit index never moves back. */
            sim_fail(w, "n%u commit went back from %llu to %llu", i,
                     (unsigned long long)n->last_commit, (unsigned long long)st.commit);
        }
        n->last_commit = st.commit;
    }
    /* What a lease promises (CLUSTER §2.8): while it is valid, no other node becomes a
     * master in a higher ballot, so nothing can be chosen behind the lease holder. */
    if (leased != 0 && !w->failed) {
        paxos_status_t ls;
        paxos_status(w->nodes[leased].p, &ls);
        for (uint32_t i = 1; i <= w->n_ids; i++) {
            sim_node_t *n = &w->nodes[i];
            if (i == leased || !n->exists || !n->up || n->role != PAXOS_ROLE_LEADER) {
                continue;
            }
            paxos_status_t st;
            paxos_status(n->p, &st);
            if (paxos_ballot_cmp(st.ballot, ls.ballot) > 0) {
                sim_fail(w, "n%u is master of (%llu,%u) while n%u's lease for (%llu,%u) is valid",
                         i, (unsigned long long)st.ballot.round, st.ballot.rank, leased,
                         (unsigned long long)ls.ballot.round, ls.ballot.rank);
                break;
            }
        }
    }
    if (w->genesis_count > 1) {
        sim_fail(w, "genesis proposed %u times", w->genesis_count);
    }
}
