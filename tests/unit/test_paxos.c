/* Unit tests for the Paxos core (paxos*.c): one behaviour each, driven through the
 * public batch interface by a tiny synchronous harness (every message goes through the
 * real wire codec). Where a test follows a rule of Paxos or CLUSTER.md it names it. The
 * randomized, fault-injecting checks live in tests/sim (paxmq-sim). */
#include <stdio.h>

#include "test_util.h"

#include "paxmq/paxos.h"

#define TN_MAX 5
#define TQ_MAX 4096
#define TDISK_MAX 512

typedef struct tdisk {
    paxos_hard_t hard;
    bool has_snap;
    paxos_snap_meta_t snap;
    uint64_t n; /* entries 1..n at ents[i - 1] (no compaction on disk in these tests) */
    paxos_entry_t ents[TDISK_MAX];
} tdisk_t;

typedef struct tnode {
    paxos_t *p;
    pmq_rng_t rng;
    paxos_member_t me;
    bool up;
    bool hold_persist; /* do not acknowledge writes (durability tests) */
    uint64_t last_seq;
    int n_cmds;
    char cmds[128][16]; /* applied CMD payloads, in order */
    bool got_snapshot;
    tdisk_t *disk;
} tnode_t;

typedef struct tmsg {
    int to;
    pmq_buf_t bytes;
} tmsg_t;

typedef struct tnet {
    int count;
    tnode_t n[TN_MAX + 1]; /* 1-based: node i has id i */
    bool cut[TN_MAX + 1][TN_MAX + 1];
    int nq;
    tmsg_t q[TQ_MAX];
    paxos_cfg_t base;
    bool snapshot_seen;
} tnet_t;

static paxos_member_t member_of(uint32_t id, uint64_t gen) {
    return (paxos_member_t){id, {id, gen}};
}

static void disk_free(tdisk_t *d) {
    for (uint64_t i = 0; i < d->n; i++) {
        test_free((void *)d->ents[i].data.ptr);
    }
    memset(d, 0, sizeof(*d));
}

static void disk_write(tdisk_t *d, const paxos_batch_t *b) {
    d->hard = b->hard;
    if (b->snapshot != NULL) {
        d->has_snap = true;
        d->snap = *b->snapshot;
        for (uint64_t i = 0; i < d->n && i < b->snapshot->index; i++) {
            test_free((void *)d->ents[i].data.ptr);
            memset(&d->ents[i], 0, sizeof(d->ents[i]));
        }
        d->n = PMQ_MAX(d->n, b->snapshot->index);
    }
    for (size_t i = 0; i < b->n_entries; i++) {
        const paxos_entry_t *e = &b->entries[i];
        assert_true(e->index >= 1 && e->index <= TDISK_MAX);
        assert_true(e->index <= d->n + 1);
        if (e->index <= d->n) {
            test_free((void *)d->ents[e->index - 1].data.ptr);
        } else {
            d->n = e->index;
        }
        char *copy = e->data.len ? test_malloc(e->data.len) : NULL;
        if (copy != NULL) {
            memcpy(copy, e->data.ptr, e->data.len);
        }
        d->ents[e->index - 1] = *e;
        d->ents[e->index - 1].data = pmq_slice(copy, e->data.len);
    }
}

static void node_start(tnet_t *net, int i, uint64_t gen, bool restore) {
    tnode_t *n = &net->n[i];
    paxos_cfg_t cfg = net->base;
    n->me = member_of((uint32_t)i, gen);
    cfg.self = n->me;
    pmq_rng_seed(&n->rng, 1000 + (uint64_t)i * 7 + gen);
    paxos_restore_t r = {0};
    if (restore) {
        r.hard = n->disk->hard;
        r.has_snapshot = n->disk->has_snap;
        r.snap = n->disk->snap;
        uint64_t base = r.has_snapshot ? r.snap.index : 0;
        r.entries = n->disk->ents + base;
        r.n_entries = n->disk->n - base;
        r.applied = base;
    }
    assert_int_equal(paxos_new(&cfg, restore ? &r : NULL, &n->rng, &n->p), 0);
    n->up = true;
    n->n_cmds = 0;
    n->last_seq = 0;
}

static void net_init(tnet_t *net, int count) {
    memset(net, 0, sizeof(*net));
    paxos_cfg_defaults(&net->base);
    net->count = count;
    for (int i = 1; i <= count; i++) {
        net->n[i].disk = test_calloc(1, sizeof(tdisk_t));
        node_start(net, i, 1, false);
    }
}

static void net_close(tnet_t *net) {
    for (int i = 1; i <= net->count; i++) {
        paxos_free(net->n[i].p);
        disk_free(net->n[i].disk);
        test_free(net->n[i].disk);
    }
    for (int k = 0; k < net->nq; k++) {
        pmq_buf_close(&net->q[k].bytes);
    }
}

static void bootstrap(tnet_t *net, int voters) {
    paxos_config_t c = {0};
    c.n_voters = (uint8_t)voters;
    for (int i = 0; i < voters; i++) {
        c.voters[i] = net->n[i + 1].me;
    }
    uint8_t cluster[16] = {1, 2, 3};
    assert_int_equal(paxos_bootstrap(net->n[1].p, cluster, &c), 0);
}

/* Executes one batch per the contract: persist, send, apply, advance. */
static bool node_ready(tnet_t *net, int i) {
    tnode_t *n = &net->n[i];
    paxos_batch_t b;
    if (!n->up || !paxos_ready(n->p, &b)) {
        return false;
    }
    if (b.seq != 0) {
        disk_write(n->disk, &b);
        n->last_seq = b.seq;
        if (!n->hold_persist) {
            paxos_persisted(n->p, b.seq);
        }
    }
    if (b.snapshot != NULL) {
        n->got_snapshot = true;
        assert_true(pmq_slice_eq_cstr(b.snapshot_data, "image"));
    }
    for (size_t k = 0; k < b.n_msgs; k++) {
        paxos_msg_t m = b.msgs[k];
        int to = (int)m.to.id;
        if (m.type == PAXOS_MSG_SNAPSHOT) {
            m.data = PMQ_SLICE_LIT("image");
            net->snapshot_seen = true;
        }
        if (to < 1 || to > net->count || net->cut[i][to] || net->nq == TQ_MAX) {
            continue;
        }
        tmsg_t *q = &net->q[net->nq++];
        q->to = to;
        pmq_buf_init(&q->bytes, 0);
        assert_int_equal(paxos_msg_encode(&m, &q->bytes), 0);
    }
    for (size_t k = 0; k < b.n_committed; k++) {
        const paxos_entry_t *e = &b.committed[k];
        if (e->type == PAXOS_ENTRY_CMD && n->n_cmds < 128) {
            snprintf(n->cmds[n->n_cmds++], 16, "%.*s", (int)e->data.len, e->data.ptr);
        }
    }
    paxos_advance(n->p, &b);
    return true;
}

static void deliver(tnet_t *net, tmsg_t *q) {
    tnode_t *n = &net->n[q->to];
    if (n->up) {
        paxos_msg_dec_t *d = test_malloc(sizeof(*d));
        assert_int_equal(paxos_msg_decode(pmq_buf_slice(&q->bytes), d), 0);
        (void)!paxos_step(n->p, &d->msg);
        test_free(d);
    }
    pmq_buf_close(&q->bytes);
}

static void drain(tnet_t *net) {
    for (int round = 0; round < 1000; round++) {
        bool busy = false;
        for (int i = 1; i <= net->count; i++) {
            while (node_ready(net, i)) {
                busy = true;
            }
        }
        if (net->nq == 0 && !busy) {
            return;
        }
        int nq = net->nq;
        tmsg_t *batch = test_malloc(sizeof(tmsg_t) * (size_t)(nq ? nq : 1));
        memcpy(batch, net->q, sizeof(tmsg_t) * (size_t)nq);
        net->nq = 0;
        for (int k = 0; k < nq; k++) {
            deliver(net, &batch[k]);
        }
        test_free(batch);
    }
    fail_msg("network did not settle");
}

static void ticks(tnet_t *net, int count) {
    for (int t = 0; t < count; t++) {
        for (int i = 1; i <= net->count; i++) {
            if (net->n[i].up) {
                paxos_tick(net->n[i].p);
            }
        }
        drain(net);
    }
}

/* The serving master with the highest ballot (a cut-off old master may still think it
 * is master: that is allowed, two valid leases are not). */
static int leader_of(tnet_t *net) {
    int found = 0;
    paxos_ballot_t best = {0, 0};
    for (int i = 1; i <= net->count; i++) {
        paxos_status_t st;
        if (!net->n[i].up) {
            continue;
        }
        paxos_status(net->n[i].p, &st);
        if (st.role == PAXOS_ROLE_LEADER && st.serving && paxos_ballot_cmp(st.ballot, best) > 0) {
            best = st.ballot;
            found = i;
        }
    }
    return found;
}

static int wait_leader(tnet_t *net, int max_ticks) {
    for (int t = 0; t < max_ticks; t++) {
        int l = leader_of(net);
        if (l != 0) {
            return l;
        }
        ticks(net, 1);
    }
    return 0;
}

static void isolate(tnet_t *net, int i, bool cut) {
    for (int k = 1; k <= net->count; k++) {
        net->cut[i][k] = net->cut[k][i] = cut;
    }
}

static void propose(tnet_t *net, int leader, const char *s) {
    uint64_t idx = 0;
    assert_int_equal(paxos_propose(net->n[leader].p, pmq_slice_cstr(s), &idx), 0);
    assert_true(idx > 0);
}

static void crash(tnet_t *net, int i) {
    paxos_free(net->n[i].p);
    net->n[i].p = NULL;
    net->n[i].up = false;
}

/* ---- tests ---- */

/* A cluster of one: an entry commits as soon as its own write is acknowledged. */
static void test_single_node_commits_on_persist(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 1);
    bootstrap(net, 1);
    ticks(net, 1);
    assert_int_equal(leader_of(net), 1);
    tnode_t *n = &net->n[1];
    propose(net, 1, "a");
    paxos_batch_t b;
    assert_true(paxos_ready(n->p, &b));
    assert_int_equal(b.n_entries, 1);
    assert_int_equal(b.n_committed, 0); /* not durable yet: not committed */
    disk_write(n->disk, &b);
    uint64_t seq = b.seq;
    paxos_advance(n->p, &b);
    paxos_persisted(n->p, seq);
    assert_true(paxos_ready(n->p, &b));
    assert_int_equal(b.n_committed, 1);
    assert_true(pmq_slice_eq_cstr(b.committed[0].data, "a"));
    paxos_advance(n->p, &b);
    net_close(net);
    test_free(net);
}

static void test_three_nodes_elect_and_replicate(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    const char *vals[] = {"c1", "c2", "c3", "c4", "c5"};
    for (int i = 0; i < 5; i++) {
        propose(net, l, vals[i]);
    }
    ticks(net, 30); /* followers learn the commit index with the next heartbeat */
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(net->n[i].n_cmds, 5);
        for (int k = 0; k < 5; k++) {
            assert_string_equal(net->n[i].cmds[k], vals[k]);
        }
    }
    paxos_status_t st;
    paxos_status(net->n[l].p, &st);
    assert_true(st.lease_valid);
    net_close(net);
    test_free(net);
}

/* Paxos phase 1 (CLUSTER §2.7): a value accepted by one surviving acceptor is found
 * through its PROMISE and re-proposed by the next master, in that master's ballot. */
static void test_promise_recovers_accepted_value(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    int b = l % 3 + 1;
    int c = b % 3 + 1;
    net->cut[l][c] = true; /* x reaches b only */
    propose(net, l, "x");
    drain(net);
    crash(net, l);
    net->cut[l][c] = false;
    paxos_entry_t e;
    assert_false(paxos_log_get(net->n[c].p, 3, &e) && e.type == PAXOS_ENTRY_CMD);
    assert_int_equal(paxos_campaign(net->n[c].p), 0);
    int nl = wait_leader(net, 600);
    assert_int_not_equal(nl, 0);
    ticks(net, 30);
    assert_int_equal(net->n[b].n_cmds, 1);
    assert_int_equal(net->n[c].n_cmds, 1);
    assert_string_equal(net->n[c].cmds[0], "x");
    net_close(net);
    test_free(net);
}

/* CLUSTER §1.4: a voter that restarts with an empty disk is a new member; its promise
 * is not counted, so with the other old voter down the cluster waits, it does not
 * elect a master that may have missed a chosen value. */
static void test_empty_disk_incarnation_not_counted(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    propose(net, l, "v");
    ticks(net, 20);
    int b = l % 3 + 1;
    int c = b % 3 + 1;
    crash(net, b);
    disk_free(net->n[b].disk);
    node_start(net, b, 2, false); /* same name, new incarnation, empty disk */
    crash(net, l);
    ticks(net, 800);
    assert_int_equal(leader_of(net), 0);
    node_start(net, l, 1, true); /* the old voter comes back with its disk */
    int nl = wait_leader(net, 800);
    assert_true(nl == l || nl == c);
    ticks(net, 30);
    assert_string_equal(net->n[c].cmds[0], "v");
    net_close(net);
    test_free(net);
}

/* PreVote (§2.5): an isolated voter cannot raise the ballot of a healthy cluster. */
static void test_prevote_isolated_node_does_not_disrupt(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    paxos_status_t before, after, iso;
    paxos_status(net->n[l].p, &before);
    int x = l % 3 + 1;
    isolate(net, x, true);
    ticks(net, 1000);
    paxos_status(net->n[x].p, &iso);
    assert_true(paxos_ballot_cmp(iso.promised, before.ballot) == 0);
    isolate(net, x, false);
    ticks(net, 50);
    assert_int_equal(leader_of(net), l);
    paxos_status(net->n[l].p, &after);
    assert_int_equal(paxos_ballot_cmp(after.ballot, before.ballot), 0);
    net_close(net);
    test_free(net);
}

/* CheckQuorum and leases (§2.5, §2.8): a master cut off loses its lease before anyone
 * else can win one, and steps down. At no tick do two nodes hold a valid lease. */
static void test_isolated_master_loses_lease_first(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    isolate(net, l, true);
    int other = 0;
    for (int t = 0; t < 600; t++) {
        ticks(net, 1);
        int valid = 0;
        for (int i = 1; i <= 3; i++) {
            valid += paxos_lease_valid(net->n[i].p) ? 1 : 0;
        }
        assert_true(valid <= 1);
        int nl = leader_of(net);
        if (nl != 0 && nl != l) {
            other = nl;
        }
    }
    assert_int_not_equal(other, 0);
    paxos_status_t st;
    paxos_status(net->n[l].p, &st);
    assert_int_not_equal(st.role, PAXOS_ROLE_LEADER);
    net_close(net);
    test_free(net);
}

/* §2.8 lease arithmetic: with L = 90 ticks, e = 1000 ppm and delta = 1 tick, a lease
 * lasts floor(90 * 0.999 / 1.001) - 1 = 88 ticks from the start of the last heartbeat
 * round a quorum acknowledged, never longer. */
static void test_lease_length_in_ticks(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    ticks(net, 25);
    paxos_status_t st;
    paxos_status(net->n[l].p, &st);
    uint64_t cut = st.now_ticks;
    isolate(net, l, true);
    uint64_t expired = 0;
    for (int t = 0; t < 200 && expired == 0; t++) {
        ticks(net, 1);
        if (!paxos_lease_valid(net->n[l].p)) {
            paxos_status(net->n[l].p, &st);
            expired = st.now_ticks;
        }
    }
    /* The last acknowledged round started at most one heartbeat before the cut. */
    assert_true(expired > cut);
    assert_true(expired - cut <= 88);
    assert_true(expired - cut >= 88 - net->base.heartbeat_ticks);
    net_close(net);
    test_free(net);
}

/* §2.8: a follower inside a master's lease refuses PREPARE from anyone else. */
static void test_follower_in_lease_refuses_prepare(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    int f = l % 3 + 1;
    int c = f % 3 + 1;
    paxos_msg_t m = {0};
    m.type = PAXOS_MSG_PREPARE;
    m.from = net->n[c].me;
    m.to = net->n[f].me;
    m.ballot = (paxos_ballot_t){50, (uint32_t)c};
    m.from_index = 1;
    assert_int_equal(paxos_step(net->n[f].p, &m), 0);
    paxos_batch_t b;
    assert_true(paxos_ready(net->n[f].p, &b));
    assert_int_equal(b.n_msgs, 1);
    assert_int_equal(b.msgs[0].type, PAXOS_MSG_PROMISE);
    assert_false(b.msgs[0].granted);
    assert_int_equal(b.seq, 0); /* nothing promised, nothing to persist */
    paxos_advance(net->n[f].p, &b);
    net_close(net);
    test_free(net);
}

/* A restarted acceptor cannot know whose lease it honoured: it refuses PREPAREs for
 * one lease period, then promises. */
static void test_restart_refuses_prepare_for_a_lease(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    assert_int_not_equal(wait_leader(net, 600), 0);
    crash(net, 2);
    node_start(net, 2, 1, true);
    paxos_msg_t m = {0};
    m.type = PAXOS_MSG_PREPARE;
    m.from = net->n[3].me;
    m.to = net->n[2].me;
    m.ballot = (paxos_ballot_t){50, 3};
    m.from_index = 1;
    paxos_batch_t b;
    assert_int_equal(paxos_step(net->n[2].p, &m), 0);
    assert_true(paxos_ready(net->n[2].p, &b));
    assert_false(b.msgs[0].granted);
    paxos_advance(net->n[2].p, &b);
    for (uint32_t t = 0; t <= net->base.lease_ticks; t++) {
        paxos_tick(net->n[2].p);
    }
    while (paxos_ready(net->n[2].p, &b)) {
        paxos_advance(net->n[2].p, &b);
    }
    assert_int_equal(paxos_step(net->n[2].p, &m), 0);
    assert_true(paxos_ready(net->n[2].p, &b));
    assert_int_not_equal(b.seq, 0); /* the promise must be persisted ... */
    assert_int_equal(b.n_msgs, 0);  /* ... before it is sent (D1) */
    uint64_t seq = b.seq;
    paxos_advance(net->n[2].p, &b);
    paxos_persisted(net->n[2].p, seq);
    assert_true(paxos_ready(net->n[2].p, &b));
    assert_int_equal(b.n_msgs, 1);
    assert_true(b.msgs[0].granted);
    paxos_advance(net->n[2].p, &b);
    net_close(net);
    test_free(net);
}

/* D2: APPEND_RESP ok leaves only after the store acknowledged the entries. */
static void test_append_ack_waits_for_durability(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    int f = l % 3 + 1;
    int g = f % 3 + 1;
    isolate(net, g, true);
    net->n[f].hold_persist = true;
    propose(net, l, "d");
    drain(net);
    paxos_status_t st;
    paxos_status(net->n[l].p, &st);
    uint64_t idx = st.last_index;
    assert_true(st.commit < idx); /* f wrote it but may not vouch for it yet */
    net->n[f].hold_persist = false;
    paxos_persisted(net->n[f].p, net->n[f].last_seq);
    drain(net);
    paxos_status(net->n[l].p, &st);
    assert_true(st.commit >= idx);
    net_close(net);
    test_free(net);
}

/* §3.2 rule 3: a new master takes no config change and no command before an entry of
 * its own ballot (its NOOP) committed. */
static void test_barrier_before_change(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 1);
    bootstrap(net, 1);
    tnode_t *n = &net->n[1];
    n->hold_persist = true;
    ticks(net, 1);
    paxos_persisted(n->p, n->last_seq); /* my promise is durable: I win */
    drain(net);
    paxos_status_t st;
    paxos_status(n->p, &st);
    assert_int_equal(st.role, PAXOS_ROLE_LEADER);
    assert_false(st.serving);
    paxos_change_t chg = {0};
    chg.kind = PAXOS_CHANGE_ADD_LEARNER;
    chg.member = member_of(2, 1);
    assert_int_equal(paxos_propose_change(n->p, &chg), PMQ_EAGAIN);
    uint64_t idx;
    assert_int_equal(paxos_propose(n->p, PMQ_SLICE_LIT("early"), &idx), PMQ_EAGAIN);
    n->hold_persist = false;
    paxos_persisted(n->p, n->last_seq);
    drain(net);
    assert_int_equal(paxos_propose_change(n->p, &chg), 0);
    /* §3.2 rule 2: one change in flight. */
    chg.member = member_of(3, 1);
    assert_int_equal(paxos_propose_change(n->p, &chg), PMQ_EAGAIN);
    net_close(net);
    test_free(net);
}

/* Four nodes, voters 1..3 with an elected master that has served for 20 ticks (n4 is
 * empty, ready to be added as a learner). Returns the master. */
static int settled_three_of_four(tnet_t *net) {
    net_init(net, 4);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    ticks(net, 20);
    return l;
}

static paxos_change_t add_learner_change(tnet_t *net, int id) {
    paxos_change_t add = {0};
    add.kind = PAXOS_CHANGE_ADD_LEARNER;
    add.member = net->n[id].me;
    return add;
}

/* Three fresh nodes; n2, past its start-up lease refusal, has just stepped a PREPARE
 * of ballot (5,3) from n3 (its promise not yet durable). Returns n2's core. */
static paxos_t *n2_prepared_by_n3(tnet_t *net) {
    net_init(net, 3);
    paxos_t *p = net->n[2].p;
    for (uint32_t t = 0; t <= net->base.lease_ticks; t++) {
        paxos_tick(p);
    }
    paxos_msg_t prep = {0};
    prep.type = PAXOS_MSG_PREPARE;
    prep.from = net->n[3].me;
    prep.to = net->n[2].me;
    prep.ballot = (paxos_ballot_t){5, 3};
    prep.from_index = 1;
    assert_int_equal(paxos_step(p, &prep), 0);
    return p;
}

/* An acceptor that promised ballot (5,3) to one incarnation of n3 refuses an APPEND of
 * the same ballot from another incarnation, and says it does not follow it (hb_seq 0):
 * the master must not count that refusal toward its lease or CheckQuorum. */
static void test_refusal_of_other_incarnation_is_not_a_lease_ack(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    paxos_t *p = n2_prepared_by_n3(net);
    paxos_batch_t b;
    assert_true(paxos_ready(p, &b));
    uint64_t seq = b.seq;
    paxos_advance(p, &b);
    paxos_persisted(p, seq);
    assert_true(paxos_ready(p, &b)); /* the promise, now durable */
    paxos_advance(p, &b);
    paxos_msg_t app = {0};
    app.type = PAXOS_MSG_APPEND;
    app.from = member_of(3, 2); /* n3 after an empty-disk restart */
    app.to = net->n[2].me;
    app.ballot = (paxos_ballot_t){5, 3};
    app.hb_seq = 7;
    assert_int_equal(paxos_step(p, &app), 0);
    assert_true(paxos_ready(p, &b));
    assert_int_equal(b.n_msgs, 1);
    assert_int_equal(b.msgs[0].type, PAXOS_MSG_APPEND_RESP);
    assert_false(b.msgs[0].ok);
    assert_int_equal(b.msgs[0].hb_seq, 0);
    assert_int_equal(b.msgs[0].reject_index, 0);
    paxos_advance(p, &b);
    app.from = net->n[3].me; /* the incarnation it promised: followed, acked */
    assert_int_equal(paxos_step(p, &app), 0);
    int acks = 0;
    while (paxos_ready(p, &b)) {
        for (size_t i = 0; i < b.n_msgs; i++) {
            assert_true(b.msgs[i].ok);
            assert_int_equal(b.msgs[i].hb_seq, 7);
            acks++;
        }
        seq = b.seq;
        paxos_advance(p, &b);
        paxos_persisted(p, seq);
    }
    assert_int_equal(acks, 1);
    net_close(net);
    test_free(net);
}

/* A config entry only above a committed prefix (paxos_change.c, the stale-config bug):
 * with a command uncommitted, a change is refused with PMQ_EAGAIN and new commands are
 * held; once the command commits they flow again and the retried change lands directly
 * above it. */
static void test_config_waits_for_committed_prefix(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    int l = settled_three_of_four(net);
    int f = l % 3 + 1;
    int g = f % 3 + 1;
    isolate(net, f, true);
    isolate(net, g, true);
    uint64_t cmd_idx;
    assert_int_equal(paxos_propose(net->n[l].p, PMQ_SLICE_LIT("pending"), &cmd_idx), 0);
    drain(net);
    paxos_status_t st;
    paxos_status(net->n[l].p, &st);
    assert_true(st.commit < cmd_idx); /* nobody can ack it */
    paxos_change_t add = add_learner_change(net, 4);
    assert_int_equal(paxos_propose_change(net->n[l].p, &add), PMQ_EAGAIN);
    paxos_status(net->n[l].p, &st);
    assert_int_equal(st.last_index, cmd_idx); /* nothing appended above the command */
    uint64_t idx;
    assert_int_equal(paxos_propose(net->n[l].p, PMQ_SLICE_LIT("more"), &idx), PMQ_EAGAIN);
    isolate(net, f, false);
    isolate(net, g, false);
    ticks(net, 30);
    paxos_status(net->n[l].p, &st);
    assert_int_equal(st.role, PAXOS_ROLE_LEADER);
    assert_true(st.commit >= cmd_idx);
    assert_false(paxos_config_is_learner(&st.config, net->n[4].me)); /* not kept */
    assert_int_equal(paxos_propose_change(net->n[l].p, &add), 0);
    paxos_status(net->n[l].p, &st);
    assert_true(paxos_config_is_learner(&st.config, net->n[4].me));
    assert_int_equal(st.config_index, cmd_idx + 1);
    assert_int_equal(paxos_propose(net->n[l].p, PMQ_SLICE_LIT("after"), &idx), 0);
    net_close(net);
    test_free(net);
}

/* Under a steady stream of commands a change still gets in: after a refusal, proposals
 * stay held for a heartbeat interval once the prefix committed, so the retry finds
 * commit == last even though a command is proposed before it every tick. */
static void test_change_not_starved_by_load(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    int l = settled_three_of_four(net);
    paxos_change_t add = add_learner_change(net, 4);
    int refused = 0;
    int held = 0;
    bool added = false;
    for (int t = 0; t < 100 && !added; t++) {
        uint64_t idx;
        int rc = paxos_propose(net->n[l].p, PMQ_SLICE_LIT("load"), &idx);
        assert_true(rc == 0 || rc == PMQ_EAGAIN);
        held += rc == PMQ_EAGAIN ? 1 : 0;
        rc = paxos_propose_change(net->n[l].p, &add);
        assert_true(rc == 0 || rc == PMQ_EAGAIN);
        refused += rc == PMQ_EAGAIN ? 1 : 0;
        added = rc == 0;
        ticks(net, 1);
    }
    assert_true(added);
    assert_true(refused >= 1); /* the first try met the command proposed just before */
    assert_true(held >= 1);    /* and the barrier held the next command back */
    uint64_t idx;
    assert_int_equal(paxos_propose(net->n[l].p, PMQ_SLICE_LIT("after"), &idx), 0);
    net_close(net);
    test_free(net);
}

/* The barrier a refused change raises ends with the master's step-down: the next
 * master takes proposals, and nothing of the change was appended anywhere. */
static void test_refused_change_leaves_nothing(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    int l = settled_three_of_four(net);
    isolate(net, l, true);
    uint64_t cmd_idx;
    assert_int_equal(paxos_propose(net->n[l].p, PMQ_SLICE_LIT("lost"), &cmd_idx), 0);
    paxos_change_t add = add_learner_change(net, 4);
    assert_int_equal(paxos_propose_change(net->n[l].p, &add), PMQ_EAGAIN);
    ticks(net, 400); /* CheckQuorum steps it down; the others elect a master */
    paxos_status_t st;
    paxos_status(net->n[l].p, &st);
    assert_int_not_equal(st.role, PAXOS_ROLE_LEADER);
    assert_int_equal(st.last_index, cmd_idx);
    isolate(net, l, false);
    int m = wait_leader(net, 600);
    assert_int_not_equal(m, 0);
    ticks(net, 30);
    m = leader_of(net);
    uint64_t idx;
    assert_int_equal(paxos_propose(net->n[m].p, PMQ_SLICE_LIT("next"), &idx), 0);
    for (int i = 1; i <= 3; i++) {
        paxos_status(net->n[i].p, &st);
        assert_false(paxos_config_is_learner(&st.config, net->n[4].me));
    }
    net_close(net);
    test_free(net);
}

/* Learner join then joint consensus 3 -> 4 voters (§1.4 rule 3, §3.2 rules 4-5). */
static void test_learner_then_joint_promotion(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 4);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    propose(net, l, "before");
    ticks(net, 10); /* a change goes only above a committed prefix */
    paxos_change_t chg = {0};
    chg.kind = PAXOS_CHANGE_SET_VOTERS;
    chg.n_voters = 4;
    for (int i = 0; i < 4; i++) {
        chg.voters[i] = net->n[i + 1].me;
    }
    assert_int_equal(paxos_propose_change(net->n[l].p, &chg), PMQ_EINVAL); /* not a learner */
    paxos_change_t add = add_learner_change(net, 4);
    assert_int_equal(paxos_propose_change(net->n[l].p, &add), 0);
    ticks(net, 30);
    paxos_status_t st;
    paxos_status(net->n[4].p, &st);
    assert_true(st.learner);
    assert_false(st.voter);
    assert_int_equal(net->n[4].n_cmds, 1); /* caught up */
    assert_int_equal(paxos_propose_change(net->n[l].p, &chg), 0);
    ticks(net, 30);
    for (int i = 1; i <= 4; i++) {
        paxos_status(net->n[i].p, &st);
        assert_true(st.voter);
        assert_false(st.config.joint); /* CONFIG_FINAL followed the joint entry */
        assert_int_equal(st.config.n_voters, 4);
        assert_true(st.config_index <= st.commit);
    }
    net_close(net);
    test_free(net);
}

/* §2.8 TIMEOUT_NOW: the master drops its lease at once and the target takes over. */
static void test_transfer(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    ticks(net, 20);
    int t = l % 3 + 1;
    assert_true(paxos_lease_valid(net->n[l].p));
    assert_int_equal(paxos_transfer(net->n[l].p, (uint32_t)t), 0);
    assert_false(paxos_lease_valid(net->n[l].p));
    assert_int_equal(paxos_transfer(net->n[t].p, (uint32_t)l), PMQ_ENOTLEADER);
    drain(net);
    ticks(net, 5);
    assert_int_equal(leader_of(net), t);
    net_close(net);
    test_free(net);
}

/* §2.9/§2.11: a follower behind the master's first retained index gets a snapshot. */
static void test_snapshot_catch_up(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    int f = l % 3 + 1;
    isolate(net, f, true);
    char v[8];
    for (int i = 0; i < 10; i++) {
        snprintf(v, sizeof(v), "s%d", i);
        propose(net, l, v);
    }
    ticks(net, 5);
    paxos_status_t st;
    paxos_status(net->n[l].p, &st);
    assert_int_equal(paxos_compact(net->n[l].p, st.applied), 0);
    paxos_status(net->n[l].p, &st);
    assert_int_equal(st.first_index, st.applied + 1);
    isolate(net, f, false);
    ticks(net, 30);
    assert_true(net->snapshot_seen);
    assert_true(net->n[f].got_snapshot);
    propose(net, l, "after");
    ticks(net, 20);
    assert_int_equal(net->n[f].n_cmds, 1);
    assert_string_equal(net->n[f].cmds[0], "after");
    net_close(net);
    test_free(net);
}

/* Peers are not trusted (STYLE §3): a malformed APPEND is rejected and counted. */
static void test_malformed_message_rejected(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 2);
    paxos_entry_t ents[2] = {{5, {1, 2}, PAXOS_ENTRY_CMD, PMQ_SLICE_LIT("a")},
                             {7, {1, 2}, PAXOS_ENTRY_CMD, PMQ_SLICE_LIT("b")}};
    paxos_msg_t m = {0};
    m.type = PAXOS_MSG_APPEND;
    m.from = net->n[2].me;
    m.to = net->n[1].me;
    m.ballot = (paxos_ballot_t){1, 2};
    m.prev_index = 4;
    m.n_entries = 2;
    m.entries = ents; /* index 6 is missing */
    assert_int_equal(paxos_step(net->n[1].p, &m), PMQ_EPROTO);
    m.n_entries = 1;
    m.ballot = (paxos_ballot_t){1, 3}; /* a ballot that is not the sender's */
    assert_int_equal(paxos_step(net->n[1].p, &m), PMQ_EPROTO);
    m.to.inc.lo = 999; /* for another incarnation: dropped, not an error */
    assert_int_equal(paxos_step(net->n[1].p, &m), 0);
    paxos_status_t st;
    paxos_status(net->n[1].p, &st);
    assert_int_equal(st.msgs_rejected, 2);
    assert_int_equal(st.msgs_dropped, 1);
    net_close(net);
    test_free(net);
}

/* Found by paxmq-sim: a PROMISE waits for its durability, and meanwhile the acceptor
 * may promise and accept a higher ballot. The PROMISE must then go out as a refusal,
 * never carrying entries above its own ballot (the candidate rejected it as malformed). */
static void test_outdated_promise_released_as_refusal(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    paxos_t *p = n2_prepared_by_n3(net);
    paxos_entry_t e = {1, {6, 1}, PAXOS_ENTRY_CMD, PMQ_SLICE_LIT("newer")};
    paxos_msg_t app = {0};
    app.type = PAXOS_MSG_APPEND;
    app.from = net->n[1].me;
    app.to = net->n[2].me;
    app.ballot = (paxos_ballot_t){6, 1};
    app.n_entries = 1;
    app.entries = &e;
    assert_int_equal(paxos_step(p, &app), 0);
    paxos_batch_t b;
    assert_true(paxos_ready(p, &b));
    assert_int_equal(b.n_msgs, 0); /* both replies wait for the write */
    uint64_t seq = b.seq;
    paxos_advance(p, &b);
    paxos_persisted(p, seq);
    assert_true(paxos_ready(p, &b));
    assert_int_equal(b.n_msgs, 2);
    for (size_t i = 0; i < b.n_msgs; i++) {
        if (b.msgs[i].type == PAXOS_MSG_PROMISE) {
            assert_false(b.msgs[i].granted);
            assert_int_equal(b.msgs[i].n_entries, 0);
            assert_int_equal(b.msgs[i].promised.round, 6);
        } else {
            assert_int_equal(b.msgs[i].type, PAXOS_MSG_APPEND_RESP);
            assert_true(b.msgs[i].ok);
            assert_int_equal(b.msgs[i].match_index, 1);
        }
    }
    paxos_advance(p, &b);
    net_close(net);
    test_free(net);
}

/* docs/PAXOS.md deviation 1: an acceptor never truncates. A higher-ballot APPEND that
 * carries only index 2 replaces index 2 and keeps the accepted 3, which a later PROMISE
 * must still report (per-instance Paxos; truncation here loses chosen values). */
static void test_append_never_truncates_accepted_suffix(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    paxos_t *p = net->n[2].p;
    paxos_entry_t old[3] = {{1, {1, 1}, PAXOS_ENTRY_NOOP, {NULL, 0}},
                            {2, {1, 1}, PAXOS_ENTRY_CMD, PMQ_SLICE_LIT("u")},
                            {3, {1, 1}, PAXOS_ENTRY_CMD, PMQ_SLICE_LIT("v")}};
    paxos_msg_t app = {0};
    app.type = PAXOS_MSG_APPEND;
    app.from = net->n[1].me;
    app.to = net->n[2].me;
    app.ballot = (paxos_ballot_t){1, 1};
    app.n_entries = 3;
    app.entries = old;
    assert_int_equal(paxos_step(p, &app), 0);
    paxos_entry_t newer = {2, {2, 3}, PAXOS_ENTRY_NOOP, {NULL, 0}};
    app.from = net->n[3].me;
    app.ballot = (paxos_ballot_t){2, 3};
    app.prev_index = 1;
    app.prev_ballot = (paxos_ballot_t){1, 1};
    app.n_entries = 1;
    app.entries = &newer;
    assert_int_equal(paxos_step(p, &app), 0);
    paxos_entry_t e;
    assert_true(paxos_log_get(p, 2, &e));
    assert_int_equal(e.type, PAXOS_ENTRY_NOOP);
    assert_int_equal(e.ballot.round, 2);
    assert_true(paxos_log_get(p, 3, &e)); /* the accepted (3, (1,1), v) survives */
    assert_true(pmq_slice_eq_cstr(e.data, "v"));
    paxos_status_t st;
    paxos_status(p, &st);
    assert_int_equal(st.last_index, 3);
    net_close(net);
    test_free(net);
}

/* Found by paxmq-sim: a candidate that needs entries an acceptor compacted can never
 * finish recovery, so the acceptor refuses it (pre-vote and vote) instead of letting it
 * reset everybody's election timer forever. */
static void test_refuses_candidate_behind_snapshot(void **state) {
    (void)state;
    pmq_rng_t rng;
    pmq_rng_seed(&rng, 7);
    paxos_cfg_t cfg;
    paxos_cfg_defaults(&cfg);
    cfg.self = member_of(2, 1);
    paxos_restore_t r = {0};
    r.has_snapshot = true;
    r.snap.index = 5;
    r.snap.ballot = (paxos_ballot_t){1, 1};
    r.snap.config.n_voters = 3;
    for (uint32_t i = 0; i < 3; i++) {
        r.snap.config.voters[i] = member_of(i + 1, 1);
    }
    r.applied = 5;
    r.hard.commit = 5;
    paxos_t *p = NULL;
    assert_int_equal(paxos_new(&cfg, &r, &rng, &p), 0);
    for (uint32_t t = 0; t <= cfg.election_ticks; t++) {
        paxos_tick(p);
    }
    paxos_batch_t b;
    while (paxos_ready(p, &b)) {
        paxos_advance(p, &b);
    }
    paxos_msg_t m = {0};
    m.type = PAXOS_MSG_PREPARE;
    m.from = member_of(3, 1);
    m.to = cfg.self;
    m.ballot = (paxos_ballot_t){9, 3};
    m.from_index = 3; /* the candidate's commit is 2: it lacks 3..5 */
    for (int pre = 1; pre >= 0; pre--) {
        m.pre_vote = pre == 1;
        assert_int_equal(paxos_step(p, &m), 0);
        assert_true(paxos_ready(p, &b));
        assert_int_equal(b.seq, 0); /* nothing promised */
        assert_int_equal(b.n_msgs, 1);
        assert_false(b.msgs[0].granted);
        assert_true(b.msgs[0].need_snapshot);
        paxos_advance(p, &b);
    }
    m.from_index = 6; /* a candidate that is not behind my snapshot gets the vote */
    assert_int_equal(paxos_step(p, &m), 0);
    assert_true(paxos_ready(p, &b));
    assert_int_not_equal(b.seq, 0);
    paxos_advance(p, &b);
    paxos_free(p);
}

/* STYLE §3, peers are not trusted: mutated messages with a valid CRC either fail to
 * decode or, once decoded, are stepped into a live core without tripping an assert.
 * (Deterministic: a fixed seed drives the mutations.) */
static void test_hostile_messages_never_assert(void **state) {
    (void)state;
    tnet_t *net = test_malloc(sizeof(*net));
    net_init(net, 3);
    bootstrap(net, 3);
    int l = wait_leader(net, 600);
    assert_int_not_equal(l, 0);
    int f = l % 3 + 1;
    propose(net, l, "seed-value");
    ticks(net, 5);
    paxos_entry_t ents[2] = {{3, {2, (uint32_t)l}, PAXOS_ENTRY_CMD, PMQ_SLICE_LIT("abc")},
                             {4, {2, (uint32_t)l}, PAXOS_ENTRY_NOOP, {NULL, 0}}};
    paxos_msg_t base = {0};
    base.type = PAXOS_MSG_APPEND;
    base.from = net->n[l].me;
    base.to = net->n[f].me;
    base.ballot = (paxos_ballot_t){2, (uint32_t)l};
    base.prev_index = 2;
    base.prev_ballot = base.ballot;
    base.n_entries = 2;
    base.entries = ents;
    pmq_rng_t rng;
    pmq_rng_seed(&rng, 99);
    paxos_msg_dec_t *d = test_malloc(sizeof(*d));
    uint8_t types[] = {PAXOS_MSG_PREPARE, PAXOS_MSG_PROMISE, PAXOS_MSG_APPEND,
                       PAXOS_MSG_APPEND_RESP, PAXOS_MSG_TIMEOUT_NOW};
    int decoded = 0;
    for (int it = 0; it < 3000; it++) {
        paxos_msg_t m = base;
        m.type = types[it % 5];
        m.from_index = m.type == PAXOS_MSG_PROMISE ? 3 : 0;
        pmq_buf_t b;
        pmq_buf_init(&b, 0);
        assert_int_equal(paxos_msg_encode(&m, &b), 0);
        int flips = 1 + (int)pmq_rng_below(&rng, 4);
        for (int k = 0; k < flips; k++) {
            size_t pos = 12 + (size_t)pmq_rng_below(&rng, b.len - 12);
            b.data[pos] = (char)pmq_rng_next(&rng);
        }
        pmq_store_u32be(b.data + 8, pmq_crc32c(0, b.data + 12, b.len - 12));
        if (paxos_msg_decode(pmq_buf_slice(&b), d) == 0) {
            decoded++;
            int rc = paxos_step(net->n[f].p, &d->msg);
            assert_true(rc == 0 || rc == PMQ_EPROTO);
            drain(net);
        }
        pmq_buf_close(&b);
    }
    assert_true(decoded > 0);
    test_free(d);
    net_close(net);
    test_free(net);
}

static void test_config_validation(void **state) {
    (void)state;
    pmq_rng_t rng;
    pmq_rng_seed(&rng, 1);
    paxos_cfg_t cfg;
    paxos_cfg_defaults(&cfg);
    paxos_t *p = NULL;
    assert_int_equal(paxos_new(&cfg, NULL, &rng, &p), PMQ_EINVAL); /* id 0 */
    cfg.self = member_of(1, 1);
    cfg.unsafe_count_fresh_incarnations = true; /* never in a production build */
    assert_int_equal(paxos_new(&cfg, NULL, &rng, &p), PMQ_EINVAL);
    cfg.unsafe_count_fresh_incarnations = false;
    cfg.unsafe_config_above_uncommitted = true;
    assert_int_equal(paxos_new(&cfg, NULL, &rng, &p), PMQ_EINVAL);
    cfg.unsafe_config_above_uncommitted = false;
    cfg.lease_ticks = cfg.election_ticks; /* L must be < T (§2.8) */
    assert_int_equal(paxos_new(&cfg, NULL, &rng, &p), PMQ_EINVAL);
    paxos_cfg_defaults(&cfg);
    cfg.self = member_of(1, 1);
    assert_int_equal(paxos_new(&cfg, NULL, &rng, &p), 0);
    paxos_status_t st;
    paxos_status(p, &st);
    assert_true(st.fresh);
    assert_false(st.voter);
    paxos_config_t c0 = {0};
    c0.n_voters = 1;
    c0.voters[0] = member_of(2, 1); /* genesis must include me */
    uint8_t id[16] = {0};
    assert_int_equal(paxos_bootstrap(p, id, &c0), PMQ_EINVAL);
    c0.voters[0] = cfg.self;
    assert_int_equal(paxos_bootstrap(p, id, &c0), 0);
    assert_int_equal(paxos_bootstrap(p, id, &c0), PMQ_EEXIST);
    paxos_free(p);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_node_commits_on_persist),
        cmocka_unit_test(test_three_nodes_elect_and_replicate),
        cmocka_unit_test(test_promise_recovers_accepted_value),
        cmocka_unit_test(test_empty_disk_incarnation_not_counted),
        cmocka_unit_test(test_prevote_isolated_node_does_not_disrupt),
        cmocka_unit_test(test_isolated_master_loses_lease_first),
        cmocka_unit_test(test_lease_length_in_ticks),
        cmocka_unit_test(test_follower_in_lease_refuses_prepare),
        cmocka_unit_test(test_restart_refuses_prepare_for_a_lease),
        cmocka_unit_test(test_append_ack_waits_for_durability),
        cmocka_unit_test(test_barrier_before_change),
        cmocka_unit_test(test_refusal_of_other_incarnation_is_not_a_lease_ack),
        cmocka_unit_test(test_config_waits_for_committed_prefix),
        cmocka_unit_test(test_change_not_starved_by_load),
        cmocka_unit_test(test_refused_change_leaves_nothing),
        cmocka_unit_test(test_learner_then_joint_promotion),
        cmocka_unit_test(test_transfer),
        cmocka_unit_test(test_snapshot_catch_up),
        cmocka_unit_test(test_malformed_message_rejected),
        cmocka_unit_test(test_outdated_promise_released_as_refusal),
        cmocka_unit_test(test_append_never_truncates_accepted_suffix),
        cmocka_unit_test(test_refuses_candidate_behind_snapshot),
        cmocka_unit_test(test_hostile_messages_never_assert),
        cmocka_unit_test(test_config_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
