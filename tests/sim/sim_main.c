/* paxmq-sim command line: replay one seed, sweep seeds, run a wall-clock time-boxed
 * random batch, run scenario files, or measure liveness and throughput (--stats).
 * The exit status is 0 only when no invariant was violated. Only this file reads a
 * real clock, and only to stop a time-boxed batch; a seed's run never depends on it. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "sim_int.h"

#include "paxmq/assert.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: paxmq-sim [options]\n"
            "  --seed S           run one seed (decimal or 0x hex) and exit\n"
            "  --seeds A..B       run seeds A to B inclusive\n"
            "  --time-box SEC     with --seeds: stop starting new seeds after SEC seconds\n"
            "  --random-batch SEC run random seeds (printed) for SEC wall-clock seconds\n"
            "  --steps N          steps of 10 simulated ms per seed (default 5000)\n"
            "  --nodes N          initial voters (default 3; up to 5 nodes exist)\n"
            "  --max-nodes N      node ids available for scale-up (default 5, max %d)\n"
            "  --drift-ppm P      per-node clock drift bound (default 1000 = epsilon;\n"
            "                     larger values break the lease assumption on purpose)\n"
            "  --trace            print every event, message and role change\n"
            "  --quiet            print only failures and the summary\n"
            "  --stats            measure failover/heal latency and commit throughput\n"
            "  --unsafe-count-fresh-incarnations, --unsafe-single-server-changes,\n"
            "  --unsafe-config-above-uncommitted, --unsafe-tick-per-callback\n"
            "                     switch a protection off in every core (the checker must\n"
            "                     then find violations)\n"
            "  --script FILE      run a scenario file (repeatable); --rewrite regenerates\n"
            "                     its expected trace\n"
            "  --help             this text\n",
            SIM_NODES_MAX);
}

static bool parse_u64(const char *s, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_range(const char *s, uint64_t *a, uint64_t *b) {
    const char *dots = strstr(s, "..");
    if (dots == NULL) {
        return parse_u64(s, a) && (*b = *a, true);
    }
    char left[64];
    size_t n = (size_t)(dots - s);
    if (n == 0 || n >= sizeof(left)) {
        return false;
    }
    memcpy(left, s, n);
    left[n] = '\0';
    return parse_u64(left, a) && parse_u64(dots + 2, b) && *a <= *b;
}

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report_failure(sim_world_t *w, const sim_opts_t *o) {
    fprintf(stderr,
            "FAIL seed=%llu step=%llu time=%.3fs git=%s nodes=%u\n"
            "  invariant: %s\n"
            "  replay: paxmq-sim --seed %llu --steps %llu --nodes %u --trace\n"
            "  last events:\n",
            (unsigned long long)o->seed, (unsigned long long)w->step,
            (double)sim_now_us(w) / 1e6, sim_git_hash, o->nodes, sim_failure(w),
            (unsigned long long)o->seed, (unsigned long long)o->steps, o->nodes);
    sim_trace_dump(w, stderr, 80);
    fprintf(stderr, "  nodes at the failure:\n");
    for (uint32_t i = 1; i <= sim_node_count(w); i++) {
        if (!sim_node_up(w, i)) {
            fprintf(stderr, "    n%u %s\n", i, sim_node_exists(w, i) ? "down" : "removed");
            continue;
        }
        paxos_status_t st;
        paxos_status(sim_core(w, i), &st);
        fprintf(stderr,
                "    n%u.%llu %s ballot=(%llu,%u) promised=(%llu,%u) leader=n%u first=%llu "
                "commit=%llu applied=%llu durable=%llu last=%llu cfg@%llu%s voters=%u%s%s%s\n",
                i, (unsigned long long)sim_member(w, i).inc.lo, paxos_role_name(st.role),
                (unsigned long long)st.ballot.round, st.ballot.rank,
                (unsigned long long)st.promised.round, st.promised.rank, st.leader_id,
                (unsigned long long)st.first_index, (unsigned long long)st.commit,
                (unsigned long long)st.applied, (unsigned long long)st.durable_index,
                (unsigned long long)st.last_index, (unsigned long long)st.config_index,
                st.config.joint ? " joint" : "", st.config.n_voters, st.voter ? " voter" : "",
                st.serving ? " serving" : "", st.lease_valid ? " lease" : "");
    }
}

static sim_world_t *start_cluster(const sim_opts_t *o) {
    sim_world_t *w = sim_world_new(o);
    uint32_t ids[SIM_NODES_MAX];
    for (uint32_t i = 0; i < o->nodes; i++) {
        ids[i] = i + 1;
    }
    PMQ_ASSERT(sim_bootstrap(w, 1, ids, o->nodes) == 0);
    w->target_voters = o->nodes;
    return w;
}

/* One randomized run: faults and membership churn for o->steps steps, then heal and
 * check liveness, convergence and every acknowledgement. */
static int run_seed(const sim_opts_t *o, sim_counters_t *ctr) {
    sim_world_t *w = start_cluster(o);
    sim_workload_enable(w, o->clients);
    for (uint64_t s = 0; s < o->steps && !sim_failed(w); s++) {
        w->step = s;
        sim_run_for(w, SIM_STEP_US);
        if (!o->no_faults) {
            sim_chaos_step(w);
        }
        sim_operator_step(w, w->target_voters);
    }
    w->step = o->steps;
    sim_final_check(w, 10000000);
    int rc = 0;
    if (sim_failed(w)) {
        report_failure(w, o);
        rc = 1;
    }
    if (ctr != NULL) {
        sim_get_counters(w, ctr);
    }
    sim_world_free(w);
    return rc;
}

/* ---- --stats ---- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static uint64_t pct(uint64_t *v, size_t n, double p) {
    if (n == 0) {
        return 0;
    }
    qsort(v, n, sizeof(uint64_t), cmp_u64);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* Time until a serving master with a valid lease exists (cap in us), or UINT64_MAX. */
static uint64_t time_to_master(sim_world_t *w, uint32_t not_this, uint64_t cap) {
    uint64_t start = sim_now_us(w);
    while (!sim_failed(w) && sim_now_us(w) - start < cap) {
        uint32_t l = sim_leased_leader(w);
        if (l != 0 && l != not_this) {
            paxos_status_t st;
            paxos_status(sim_core(w, l), &st);
            if (st.serving) {
                return sim_now_us(w) - start;
            }
        }
        sim_run_for(w, 1000);
    }
    return UINT64_MAX;
}

/* (a) Master crash in a calm cluster -> a new serving master with a lease (CLUSTER §7). */
static uint64_t measure_failover(sim_opts_t o, bool *bad) {
    o.no_faults = true;
    sim_world_t *w = start_cluster(&o);
    sim_workload_enable(w, o.clients);
    sim_run_for(w, 5000000);
    uint64_t t = UINT64_MAX;
    uint32_t l = sim_leased_leader(w);
    if (l != 0) {
        sim_crash(w, l);
        t = time_to_master(w, l, 30000000);
    }
    *bad |= sim_failed(w);
    sim_world_free(w);
    return t;
}

/* Entries committed per simulated second, 64 closed-loop clients, no faults. */
static double measure_throughput(sim_opts_t o, bool *bad) {
    o.no_faults = true;
    o.clients = 64;
    o.think_min_us = 0;
    o.think_max_us = 0;
    sim_world_t *w = start_cluster(&o);
    sim_workload_enable(w, o.clients);
    sim_run_for(w, 5000000);
    sim_counters_t c0;
    sim_counters_t c1;
    sim_get_counters(w, &c0);
    sim_run_for(w, 10000000);
    sim_get_counters(w, &c1);
    *bad |= sim_failed(w);
    sim_world_free(w);
    return (double)(c1.commits_leader - c0.commits_leader) / 10.0;
}

/* (b) Random faults for o.steps steps, then heal everything: time until a master
 * serves with a lease (0 when one already does). */
static uint64_t measure_heal(sim_opts_t o, bool *bad) {
    sim_world_t *w = start_cluster(&o);
    sim_workload_enable(w, o.clients);
    for (uint64_t s = 0; s < o.steps && !sim_failed(w); s++) {
        sim_run_for(w, SIM_STEP_US);
        sim_chaos_step(w);
        sim_operator_step(w, w->target_voters);
    }
    sim_heal_all(w);
    uint64_t t = time_to_master(w, 0, 30000000);
    if (sim_failed(w)) {
        report_failure(w, &o);
        *bad = true;
    }
    sim_world_free(w);
    return t;
}

static void print_pct(const char *what, uint64_t *v, size_t n) {
    printf("%s: n=%zu p50=%llums p99=%llums max=%llums\n", what, n,
           (unsigned long long)pct(v, n, 0.5), (unsigned long long)pct(v, n, 0.99),
           (unsigned long long)pct(v, n, 1.0));
}

static int run_stats(const sim_opts_t *base, uint64_t a, uint64_t b) {
    size_t n = (size_t)(b - a + 1);
    uint64_t *fail_ms = calloc(n, sizeof(uint64_t));
    uint64_t *heal_ms = calloc(n, sizeof(uint64_t));
    size_t nf = 0;
    size_t nh = 0;
    size_t nt = 0;
    double tput = 0;
    bool bad = false;
    for (uint64_t seed = a; seed <= b; seed++) {
        sim_opts_t o = *base;
        o.seed = seed;
        uint64_t t = measure_failover(o, &bad);
        if (t != UINT64_MAX) {
            fail_ms[nf++] = t / 1000;
        }
        t = measure_heal(o, &bad);
        if (t != UINT64_MAX) {
            heal_ms[nh++] = t / 1000;
        }
        if (nt < 5) { /* throughput is expensive to simulate: a few seeds suffice */
            tput += measure_throughput(o, &bad);
            nt++;
        }
    }
    printf("seeds %llu..%llu (%zu), %u voters, default timing: h=100ms T=1-2s L=0.9s "
           "eps=1000ppm\n",
           (unsigned long long)a, (unsigned long long)b, n, base->nodes);
    print_pct("master crash -> serving master with lease", fail_ms, nf);
    print_pct("faults healed -> serving master with lease", heal_ms, nh);
    size_t nz = 0;
    for (size_t i = 0; i < nh; i++) {
        if (heal_ms[i] > 0) {
            heal_ms[nz++] = heal_ms[i];
        }
    }
    print_pct("  ... only runs with no serving master at the heal", heal_ms, nz);
    printf("commit throughput (64 closed-loop clients, no think time, no faults, %zu seeds): "
           "%.0f entries per simulated second\n",
           nt, nt ? tput / (double)nt : 0.0);
    free(fail_ms);
    free(heal_ms);
    return bad ? 1 : 0;
}

/* ---- main ---- */

typedef struct cli {
    sim_opts_t o;
    uint64_t a, b;
    bool have_seeds;
    double time_box;
    double random_batch;
    bool stats;
    bool rewrite;
    bool quiet;
    const char *scripts[256];
    int n_scripts;
} cli_t;

static int parse_args(int argc, char **argv, cli_t *c) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t x = 0;
        bool ok = true;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--trace") == 0) {
            c->o.trace = true;
        } else if (strcmp(a, "--quiet") == 0) {
            c->quiet = true;
        } else if (strcmp(a, "--stats") == 0) {
            c->stats = true;
        } else if (strcmp(a, "--rewrite") == 0) {
            c->rewrite = true;
        } else if (strcmp(a, "--unsafe-single-server-changes") == 0) {
            c->o.unsafe_single_server_changes = true;
        } else if (strcmp(a, "--unsafe-count-fresh-incarnations") == 0) {
            c->o.unsafe_count_fresh_incarnations = true;
        } else if (strcmp(a, "--unsafe-config-above-uncommitted") == 0) {
            c->o.unsafe_config_above_uncommitted = true;
        } else if (strcmp(a, "--unsafe-tick-per-callback") == 0) {
            c->o.unsafe_tick_per_callback = true;
        } else if (v == NULL) {
            ok = false;
        } else if (strcmp(a, "--seed") == 0 && (ok = parse_u64(v, &c->a))) {
            c->b = c->a;
            c->have_seeds = true;
            i++;
        } else if (strcmp(a, "--seeds") == 0 && (ok = parse_range(v, &c->a, &c->b))) {
            c->have_seeds = true;
            i++;
        } else if (strcmp(a, "--steps") == 0 && (ok = parse_u64(v, &c->o.steps))) {
            i++;
        } else if (strcmp(a, "--nodes") == 0 && (ok = parse_u64(v, &x) && x >= 1 && x <= 5)) {
            c->o.nodes = (uint32_t)x;
            i++;
        } else if (strcmp(a, "--max-nodes") == 0 &&
                   (ok = parse_u64(v, &x) && x >= 1 && x <= SIM_NODES_MAX)) {
            c->o.max_nodes = (uint32_t)x;
            i++;
        } else if (strcmp(a, "--drift-ppm") == 0 && (ok = parse_u64(v, &x) && x < 400000)) {
            c->o.drift_ppm_max = (int64_t)x;
            i++;
        } else if (strcmp(a, "--time-box") == 0 && (ok = parse_u64(v, &x))) {
            c->time_box = (double)x;
            i++;
        } else if (strcmp(a, "--random-batch") == 0 && (ok = parse_u64(v, &x))) {
            c->random_batch = (double)x;
            i++;
        } else if (strcmp(a, "--script") == 0 && c->n_scripts < 256) {
            c->scripts[c->n_scripts++] = v;
            i++;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "paxmq-sim: bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (c->o.max_nodes < c->o.nodes) {
        c->o.max_nodes = c->o.nodes;
    }
    return 0;
}

static int run_seeds(cli_t *c) {
    double t0 = wall_s();
    uint64_t ran = 0;
    uint64_t failed = 0;
    sim_counters_t tot = {0};
    for (uint64_t seed = c->a;; seed++) {
        if (c->random_batch > 0 && wall_s() - t0 >= c->random_batch) {
            break;
        }
        if (c->random_batch <= 0 && seed > c->b) {
            break;
        }
        if (c->time_box > 0 && wall_s() - t0 >= c->time_box) {
            break;
        }
        sim_opts_t o = c->o;
        o.seed = seed;
        sim_counters_t ctr;
        int rc = run_seed(&o, &ctr);
        ran++;
        failed += rc != 0 ? 1 : 0;
        tot.events += ctr.events;
        tot.elections += ctr.elections;
        tot.crashes += ctr.crashes;
        tot.wipes += ctr.wipes;
        tot.partitions += ctr.partitions;
        tot.config_changes += ctr.config_changes;
        tot.acks += ctr.acks;
        tot.transfers += ctr.transfers;
        tot.snapshots_sent += ctr.snapshots_sent;
        tot.pauses += ctr.pauses;
        tot.replays += ctr.replays;
        if (!c->quiet && (c->a == c->b || c->o.trace)) {
            printf("seed %llu: %s (%llu events, %llu elections, %llu acks)\n",
                   (unsigned long long)seed, rc ? "FAIL" : "ok", (unsigned long long)ctr.events,
                   (unsigned long long)ctr.elections, (unsigned long long)ctr.acks);
        }
        if (seed == UINT64_MAX) {
            break;
        }
    }
    printf("paxmq-sim git=%s: %llu seeds x %llu steps, %llu failed; %llu events, %llu elections, "
           "%llu crashes, %llu empty-disk restarts, %llu partitions, %llu config changes, "
           "%llu transfers, %llu snapshots sent, %llu pauses, %llu old messages replayed, "
           "%llu acknowledged commands (%.1fs)\n",
           sim_git_hash, (unsigned long long)ran, (unsigned long long)c->o.steps,
           (unsigned long long)failed, (unsigned long long)tot.events,
           (unsigned long long)tot.elections, (unsigned long long)tot.crashes,
           (unsigned long long)tot.wipes, (unsigned long long)tot.partitions,
           (unsigned long long)tot.config_changes, (unsigned long long)tot.transfers,
           (unsigned long long)tot.snapshots_sent, (unsigned long long)tot.pauses,
           (unsigned long long)tot.replays, (unsigned long long)tot.acks, wall_s() - t0);
    return failed == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    cli_t c;
    memset(&c, 0, sizeof(c));
    sim_opts_defaults(&c.o);
    int rc = parse_args(argc, argv, &c);
    if (rc != 0) {
        return rc;
    }
    pmq_log_setup(PMQ_LOG_ERROR, "sim");
    if (c.n_scripts > 0) {
        int bad = 0;
        for (int i = 0; i < c.n_scripts; i++) {
            bad |= sim_script_run(c.scripts[i], c.rewrite, c.o.trace) != 0;
        }
        return bad;
    }
    if (c.random_batch > 0) {
        c.a = (uint64_t)time(NULL) * 1000003u; /* printed in the summary and on failure */
        printf("random batch starting at seed %llu\n", (unsigned long long)c.a);
        fflush(stdout);
        return run_seeds(&c);
    }
    if (!c.have_seeds) {
        c.a = c.b = c.o.seed;
    }
    if (c.stats) {
        return run_stats(&c.o, c.a, c.b);
    }
    return run_seeds(&c);
}
