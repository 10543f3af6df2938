/* paxmq-sim random mode: the fault schedule (CLUSTER §6.3), the membership operator
 * (the autopilot of §3.3, run from outside the core like the lead's driver will), and
 * a closed-loop client workload with idempotency keys whose acknowledgements the
 * checker records. All randomness comes from the world's seeded PRNG. */
#include <stdlib.h>

#include "sim_int.h"

#include "paxmq/assert.h"

#define CLIENT_RETRY_US 1000000u

/* ---- workload ---- */

static void client_schedule(sim_world_t *w, uint32_t c, uint64_t delay) {
    sim_client_t *cl = &w->clients[c];
    cl->timer++;
    sim_ev_t ev = {.t = w->now + delay, .kind = EV_CLIENT, .node = c, .life = cl->timer};
    sim__push_ev(w, ev);
}

void sim_workload_enable(sim_world_t *w, uint32_t clients) {
    w->n_clients = PMQ_MIN(clients, (uint32_t)SIM_CLIENTS_MAX);
    for (uint32_t c = 0; c < w->n_clients; c++) {
        w->clients[c].active = true;
        client_schedule(w, c, pmq_rng_range(&w->rng, 0, 10000));
    }
}

void sim__client_event(sim_world_t *w, uint32_t c, uint32_t timer) {
    sim_client_t *cl = &w->clients[c];
    if (!cl->active || timer != cl->timer) {
        return; /* a superseded retry timer */
    }
    if (!cl->outstanding) {
        cl->seq++;
        sim_cmd_t cmd = {c, cl->seq, (uint32_t)pmq_rng_below(&w->rng, 16), pmq_rng_next(&w->rng)};
        pmq_buf_t b;
        pmq_buf_init(&b, sizeof(cl->bytes));
        PMQ_ASSERT(w->o.sm->encode_cmd(&cmd, &b) == 0);
        memcpy(cl->bytes, b.data, b.len);
        cl->len = b.len;
        pmq_buf_close(&b);
        cl->outstanding = true;
        cl->first_us = w->now;
    }
    uint32_t leader = sim_leader(w);
    if (leader == 0) {
        client_schedule(w, c, 50000);
        return;
    }
    sim_node_t *n = sim__node(w, leader);
    uint64_t idx = 0;
    int rc = paxos_propose(n->p, pmq_slice(cl->bytes, cl->len), &idx);
    sim__pump(w, n);
    if (rc != 0) {
        client_schedule(w, c, pmq_rng_range(&w->rng, 5000, 30000));
        return;
    }
    cl->node = leader;
    cl->life = n->life;
    cl->sent_us = w->now;
    client_schedule(w, c, CLIENT_RETRY_US); /* no ack by then: retry, same key */
}

void sim__client_applied(sim_world_t *w, sim_node_t *n, const paxos_entry_t *e) {
    if (e->type != PAXOS_ENTRY_CMD) {
        return;
    }
    if (n->role == PAXOS_ROLE_LEADER) {
        w->ctr.commits_leader++;
    }
    sim_cmd_t cmd;
    if (!w->o.sm->decode_cmd(e->data, &cmd) || cmd.client >= w->n_clients) {
        return;
    }
    sim_client_t *cl = &w->clients[cmd.client];
    if (!cl->outstanding || cl->seq != cmd.seq || cl->node != n->id || cl->life != n->life) {
        return;
    }
    /* The master that took the command applied it: acknowledge (RECEIPT/PUBACK). */
    sim_ack_t a = {cmd.client, cmd.seq, e->index, sim__value_hash(e->type, e->data)};
    if (w->n_acks == w->cap_acks) {
        w->cap_acks = w->cap_acks ? w->cap_acks * 2 : 1024;
        w->acks = realloc(w->acks, w->cap_acks * sizeof(sim_ack_t));
        PMQ_ASSERT(w->acks != NULL);
    }
    w->acks[w->n_acks++] = a; /* checked once the batch is advanced (sim__pump) */
    w->ctr.acks++;
    cl->outstanding = false;
    if (cl->active) {
        uint64_t think = pmq_rng_range(&w->rng, w->o.think_min_us, w->o.think_max_us);
        client_schedule(w, cmd.client, think);
    }
}

/* ---- the membership operator (autopilot) ---- */

static bool node_caught_up(sim_world_t *w, uint32_t id, uint64_t leader_commit) {
    if (!sim_node_up(w, id)) {
        return false;
    }
    paxos_status_t st;
    paxos_status(w->nodes[id].p, &st);
    return st.commit + 10 >= leader_commit && st.durable_index + 10 >= leader_commit;
}

static int set_voters(sim_world_t *w, uint32_t leader, const paxos_config_t *c,
                      int drop_slot, const paxos_member_t *add) {
    paxos_change_t chg = {0};
    chg.kind = PAXOS_CHANGE_SET_VOTERS;
    for (uint8_t i = 0; i < c->n_voters; i++) {
        if ((int)i != drop_slot) {
            chg.voters[chg.n_voters++] = c->voters[i];
        }
    }
    if (add != NULL) {
        chg.voters[chg.n_voters++] = *add;
    }
    return sim_change(w, leader, &chg);
}

/* A random caught-up learner that does not replace a voter of the same name, or -1. */
static int pick_learner(sim_world_t *w, const paxos_config_t *c, uint64_t commit) {
    int cand[PAXOS_LEARNERS_MAX];
    int n = 0;
    for (uint8_t i = 0; i < c->n_learners; i++) {
        bool replaces = false;
        for (uint8_t k = 0; k < c->n_voters; k++) {
            replaces = replaces || c->voters[k].id == c->learners[i].id;
        }
        if (!replaces && node_caught_up(w, c->learners[i].id, commit)) {
            cand[n++] = i;
        }
    }
    return n == 0 ? -1 : cand[pmq_rng_below(&w->rng, (uint64_t)n)];
}

/* A random voter slot other than the acting master's, or -1. */
static int pick_voter(sim_world_t *w, const paxos_config_t *c, uint32_t leader) {
    int cand[PAXOS_VOTERS_MAX];
    int n = 0;
    for (uint8_t i = 0; i < c->n_voters; i++) {
        if (c->voters[i].id != leader) {
            cand[n++] = i;
        }
    }
    return n == 0 ? -1 : cand[pmq_rng_below(&w->rng, (uint64_t)n)];
}

/* One change per step, in priority order: drop stale learners, admit fresh nodes as
 * learners, replace wiped voters by their new incarnation, then grow or shrink the
 * voter set toward target, or now and then swap a voter for a learner. Which learner
 * and which voter are drawn at random, so two masters on both sides of a partition
 * propose diverging changes (docs/PAXOS.md, the stale-config bug). */
static bool operator_change(sim_world_t *w, uint32_t leader, const paxos_status_t *st,
                            uint32_t target) {
    const paxos_config_t *c = &st->config;
    for (uint8_t i = 0; i < c->n_learners; i++) {
        paxos_member_t m = c->learners[i];
        if (!sim_node_exists(w, m.id) || !paxos_member_eq(w->nodes[m.id].me, m)) {
            paxos_change_t chg = {.kind = PAXOS_CHANGE_REMOVE_LEARNER, .member = m};
            (void)sim_change(w, leader, &chg);
            return true;
        }
    }
    for (uint32_t id = 1; id <= w->n_ids; id++) {
        paxos_member_t me = w->nodes[id].me;
        if (sim_node_up(w, id) && !w->decommission[id] && !paxos_config_is_voter(c, me, false) &&
            !paxos_config_is_learner(c, me) && c->n_learners < PAXOS_LEARNERS_MAX) {
            paxos_change_t chg = {.kind = PAXOS_CHANGE_ADD_LEARNER, .member = me};
            (void)sim_change(w, leader, &chg);
            return true;
        }
    }
    for (uint8_t i = 0; i < c->n_voters; i++) {
        uint32_t id = c->voters[i].id;
        paxos_member_t cur = w->nodes[id].me;
        if (!paxos_member_eq(cur, c->voters[i]) && sim_node_exists(w, id) &&
            paxos_config_is_learner(c, cur) && node_caught_up(w, id, st->commit)) {
            (void)set_voters(w, leader, c, i, &cur);
            return true;
        }
    }
    int learner = pick_learner(w, c, st->commit);
    if (c->n_voters < target && learner >= 0) {
        (void)set_voters(w, leader, c, -1, &c->learners[learner]);
        return true;
    }
    int slot = pick_voter(w, c, leader);
    if (c->n_voters > target && c->n_voters > 1 && slot >= 0) {
        uint32_t gone = c->voters[slot].id;
        if (set_voters(w, leader, c, slot, NULL) == 0) {
            w->decommission[gone] = true;
        }
        return true;
    }
    if (c->n_voters == target && learner >= 0 && slot >= 0 && pmq_rng_below(&w->rng, 8) == 0) {
        uint32_t gone = c->voters[slot].id;
        if (set_voters(w, leader, c, slot, &c->learners[learner]) == 0) {
            w->decommission[gone] = true;
        }
        return true;
    }
    return false;
}

/* Usually the master with a valid lease acts; one time in four any node that believes
 * it is a serving master does, deposed ones in a minority included. */
static uint32_t operator_master(sim_world_t *w) {
    if (pmq_rng_below(&w->rng, 4) != 0) {
        return sim_leased_leader(w);
    }
    uint32_t cand[SIM_NODES_MAX];
    uint32_t n = 0;
    for (uint32_t id = 1; id <= w->n_ids; id++) {
        if (sim_node_up(w, id) && w->nodes[id].role == PAXOS_ROLE_LEADER) {
            cand[n++] = id;
        }
    }
    return n == 0 ? 0 : cand[pmq_rng_below(&w->rng, n)];
}

/* Scale-up needs pods: keep enough nodes around for the target. */
static void ensure_nodes(sim_world_t *w) {
    uint32_t exist = 0;
    for (uint32_t i = 1; i <= w->o.max_nodes; i++) {
        exist += sim_node_exists(w, i) ? 1 : 0;
    }
    if (exist < w->target_voters && exist < w->o.max_nodes) {
        (void)sim_add_node(w);
    }
}

void sim_operator_step(sim_world_t *w, uint32_t target) {
    ensure_nodes(w);
    uint32_t leader = operator_master(w);
    if (leader == 0) {
        return;
    }
    paxos_status_t st;
    paxos_status(w->nodes[leader].p, &st);
    if (!st.serving || st.config_index > st.commit || st.config.joint) {
        return;
    }
    if (leader != sim_leased_leader(w)) {
        (void)operator_change(w, leader, &st, target); /* a stale view: no bookkeeping */
        return;
    }
    /* Decommissioned members whose removal is committed: the pod goes away. */
    for (uint32_t id = 1; id <= w->n_ids; id++) {
        paxos_member_t me = w->nodes[id].me;
        if (w->decommission[id] && !paxos_config_is_voter(&st.config, me, false)) {
            sim_remove_node(w, id);
            w->decommission[id] = false;
        }
    }
    if (w->wiped_voter != 0) {
        bool old_gone = true;
        for (uint8_t i = 0; i < st.config.n_voters; i++) {
            old_gone = old_gone && !(st.config.voters[i].id == w->wiped_voter &&
                                     !paxos_member_eq(st.config.voters[i],
                                                      w->nodes[w->wiped_voter].me));
        }
        if (old_gone) {
            w->wiped_voter = 0;
        }
    }
    bool tried = operator_change(w, leader, &st, target);
    /* A state-tied fault: cut the master off right after it was asked for a change while
     * some of its entries were uncommitted, so its proposals stay held (or, with the
     * protection off, the change sits above them) in a suffix the others never see
     * while they move on. */
    if (tried && st.commit < st.last_index && !w->partitioned && !w->healed_for_good &&
        pmq_rng_chance(&w->rng, 1, 3)) {
        w->ctr.partitions++;
        w->last_fault_us = w->now;
        sim_isolate(w, leader, true);
        sim_trace(w, "partition: n%u isolated with a change asked for", leader);
    }
}

/* ---- the fault schedule ---- */

static uint32_t random_up(sim_world_t *w) {
    uint32_t cand[SIM_NODES_MAX];
    uint32_t n = 0;
    for (uint32_t i = 1; i <= w->n_ids; i++) {
        if (sim_node_up(w, i)) {
            cand[n++] = i;
        }
    }
    return n == 0 ? 0 : cand[pmq_rng_below(&w->rng, n)];
}

static void random_partition(sim_world_t *w) {
    uint32_t kind = (uint32_t)pmq_rng_below(&w->rng, 4);
    uint32_t x = random_up(w);
    if (x == 0) {
        return;
    }
    w->ctr.partitions++;
    w->last_fault_us = w->now;
    if (kind == 0) {
        sim_isolate(w, x, true);
        sim_trace(w, "partition: n%u isolated", x);
    } else if (kind == 1) {
        /* Asymmetric (S3): x can send but not receive, or the reverse. */
        bool in = pmq_rng_chance(&w->rng, 1, 2);
        for (uint32_t k = 1; k <= w->n_ids; k++) {
            if (k != x) {
                sim_block(w, in ? k : x, in ? x : k, true);
            }
        }
        sim_trace(w, "partition: n%u cannot %s", x, in ? "receive" : "send");
    } else {
        /* Random split; kind 3 keeps x as a bridge that sees both sides (S4). */
        uint32_t side[SIM_NODES_MAX + 1] = {0};
        for (uint32_t k = 1; k <= w->n_ids; k++) {
            side[k] = (uint32_t)pmq_rng_below(&w->rng, 2);
        }
        for (uint32_t a = 1; a <= w->n_ids; a++) {
            for (uint32_t b = 1; b <= w->n_ids; b++) {
                bool bridge = kind == 3 && (a == x || b == x);
                if (a != b && side[a] != side[b] && !bridge) {
                    sim_block(w, a, b, true);
                }
            }
        }
        sim_trace(w, "partition: random split%s", kind == 3 ? " with a bridge" : "");
    }
}

static bool is_voter_now(sim_world_t *w, uint32_t id) {
    uint32_t l = sim_leader(w);
    if (l == 0) {
        return true;
    }
    paxos_status_t st;
    paxos_status(w->nodes[l].p, &st);
    return paxos_config_is_voter(&st.config, w->nodes[id].me, false);
}

void sim_chaos_step(sim_world_t *w) {
    pmq_rng_t *r = &w->rng;
    if (!w->partitioned && pmq_rng_chance(r, 1, 700)) {
        random_partition(w);
    } else if (w->partitioned && pmq_rng_chance(r, 1, 150)) {
        sim_heal(w);
        sim_trace(w, "partition healed");
    }
    if (pmq_rng_chance(r, 1, 900)) {
        uint32_t l = sim_leader(w);
        uint32_t x = l != 0 && pmq_rng_chance(r, 1, 2) ? l : random_up(w);
        /* Not the seed before genesis is chosen: a crash could lose its only, unsynced
         * copy, and re-running genesis is the driver's HELLO protocol, not Paxos. */
        bool genesis_chosen = w->cap_idx > 1 && w->chosen[1] != 0;
        if (x != 0 && (genesis_chosen || x != w->genesis_seed)) {
            sim_crash(w, x);
        }
    }
    for (uint32_t i = 1; i <= w->n_ids; i++) {
        if (sim_node_exists(w, i) && !sim_node_up(w, i) && pmq_rng_chance(r, 1, 120)) {
            sim_restart(w, i);
        }
    }
    /* Disk loss stays within the fault budget: one voter at a time, and only once the
     * cluster exists (wiping the seed before anyone else holds genesis would be losing
     * every copy of the cluster, which the driver's re-genesis handles, not Paxos). */
    if (w->wiped_voter == 0 && w->cap_idx > 1 && w->chosen[1] != 0 &&
        pmq_rng_chance(r, 1, 2500)) {
        uint32_t x = random_up(w);
        if (x != 0) {
            if (is_voter_now(w, x)) {
                w->wiped_voter = x; /* at most one lost disk at a time (the fault budget) */
            }
            sim_restart_empty(w, x);
        }
    }
    if (pmq_rng_chance(r, 1, 1500)) {
        uint32_t l = sim_leased_leader(w);
        uint32_t t = random_up(w);
        if (l != 0 && t != 0 && t != l) {
            (void)sim_transfer(w, l, t);
        }
    }
    if (w->o.max_nodes >= 5 && pmq_rng_chance(r, 1, 2000)) {
        w->target_voters = w->target_voters == 5 ? 3 : 5;
        sim_trace(w, "operator: target voters %u", w->target_voters);
    }
    /* S11: a process stops (SIGSTOP, a VM pause, a long GC) for longer than a lease,
     * half the time the master; its clock runs on while it is stopped. */
    if (pmq_rng_chance(r, 1, 1500)) {
        uint32_t l = sim_leader(w);
        uint32_t x = l != 0 && pmq_rng_chance(r, 1, 2) ? l : random_up(w);
        if (x != 0) {
            sim_pause(w, x, pmq_rng_range(r, 200000, 3000000));
        }
    }
    /* S14: a message from seconds ago arrives again (a stuck router queue, a retransmit). */
    if (pmq_rng_chance(r, 1, 200)) {
        sim_replay_old(w);
    }
    if (pmq_rng_chance(r, 1, 300)) {
        uint32_t a = random_up(w);
        uint32_t b = random_up(w);
        if (a != 0 && b != 0 && a != b) {
            sim_drop_next(w, a, b, (uint32_t)pmq_rng_range(r, 1, 20));
        }
    }
}

void sim_heal_all(sim_world_t *w) {
    sim_heal(w);
    memset(w->drop_next, 0, sizeof(w->drop_next));
    for (uint32_t i = 1; i <= w->n_ids; i++) {
        if (sim_node_exists(w, i) && !sim_node_up(w, i)) {
            sim_restart(w, i);
        }
    }
}

/* ---- end of run ---- */

static bool converged(sim_world_t *w, uint32_t leader) {
    paxos_status_t ls;
    paxos_status(w->nodes[leader].p, &ls);
    if (!paxos_config_is_voter(&ls.config, w->nodes[leader].me, false)) {
        return false; /* a master its committed config removed must step down */
    }
    uint64_t h = w->o.sm->hash(w->nodes[leader].sm);
    for (uint32_t i = 1; i <= w->n_ids; i++) {
        if (!sim_node_up(w, i)) {
            continue;
        }
        paxos_member_t me = w->nodes[i].me;
        if (!paxos_config_is_voter(&ls.config, me, false) &&
            !paxos_config_is_learner(&ls.config, me)) {
            continue;
        }
        paxos_status_t st;
        paxos_status(w->nodes[i].p, &st);
        if (st.applied != ls.applied || w->o.sm->hash(w->nodes[i].sm) != h) {
            return false;
        }
    }
    return ls.applied == ls.commit;
}

void sim_final_check(sim_world_t *w, uint64_t liveness_us) {
    if (w->failed) {
        return;
    }
    sim_heal_all(w);
    w->healed_for_good = true;
    sim_trace(w, "final: all faults healed");
    uint64_t start = w->now;
    uint32_t leader = 0;
    while (!w->failed && w->now - start < liveness_us) {
        sim_run_for(w, SIM_STEP_US);
        sim_operator_step(w, w->target_voters);
        leader = sim_leased_leader(w);
        paxos_status_t st;
        if (leader != 0) {
            paxos_status(w->nodes[leader].p, &st);
            if (st.serving) {
                break;
            }
        }
        leader = 0;
    }
    if (w->failed) {
        return;
    }
    if (leader == 0) {
        sim_fail(w, "liveness: no master with a lease %llu ms after the faults healed",
                 (unsigned long long)(liveness_us / 1000));
        return;
    }
    for (uint32_t c = 0; c < w->n_clients; c++) {
        w->clients[c].active = false;
    }
    start = w->now;
    while (!w->failed && w->now - start < 2 * liveness_us) {
        sim_run_for(w, SIM_STEP_US);
        sim_operator_step(w, w->target_voters);
        leader = sim_leased_leader(w);
        if (leader != 0 && w->wiped_voter == 0 && converged(w, leader)) {
            break;
        }
    }
    if (w->failed) {
        return;
    }
    if (leader == 0 || !converged(w, leader)) {
        sim_fail(w, "liveness: members did not converge within %llu ms",
                 (unsigned long long)(2 * liveness_us / 1000));
        return;
    }
    void *sm = w->nodes[leader].sm;
    for (size_t i = 0; i < w->n_acks; i++) {
        const sim_ack_t *a = &w->acks[i];
        if (w->o.sm->client_seq(sm, a->client) < a->seq) {
            sim_fail(w, "acknowledged command (client %u, seq %llu) is missing from the state",
                     a->client, (unsigned long long)a->seq);
            return;
        }
        if (w->chosen[a->index] != a->hash) {
            sim_fail(w, "acknowledged command at %llu is not the chosen value",
                     (unsigned long long)a->index);
            return;
        }
    }
}
