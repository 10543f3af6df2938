/* Scripted scenarios (etcd raft's interaction tests, STYLE §5 layer 2).
 *
 * A scenario file is a list of commands, a line "----", then the expected trace: each
 * command echoed as "> cmd" followed by what happened while it ran (role changes,
 * chosen config entries and commands, faults, violations, status dumps). A header line
 * "# expect: violation" says the checker must catch a safety violation (the scenarios
 * that run the core with a protection switched off); otherwise the run must pass.
 * --rewrite regenerates the trace; review the diff before committing it.
 *
 * Commands (node ids are numbers; "leader" means the current serving master):
 *   option unsafe_single_server_changes | unsafe_count_fresh_incarnations |
 *          unsafe_config_above_uncommitted | unsafe_tick_per_callback | seed N
 *   add-nodes N | bootstrap ID... | tick N | stabilize | campaign ID | run-until-master ID
 *   propose ID|leader VALUE | transfer ID TARGET | add-learner ID|leader NODE
 *   set-voters ID|leader NODE... | crash ID | restart ID | restart-empty ID | remove ID
 *   isolate ID | partition IDS IDS (comma lists) | block A B | unblock A B | heal
 *   pause ID|leader MS | drop-next A B N | drift ID PPM | fsync-delay ID US | compact ID
 *   status | log ID | expect-leader ID
 *   expect-no-leader */
#include <ctype.h>
#include <stdlib.h>

#include "sim_int.h"

#include "paxmq/assert.h"

#define ARGS_MAX 16

typedef struct script {
    sim_world_t *w;
    sim_opts_t o;
    pmq_buf_t out;
    bool expect_violation;
    bool started;
} script_t;

static void out(script_t *s, const char *fmt, ...) PMQ_PRINTF(2, 3);
static void out(script_t *s, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    (void)!pmq_buf_append_cstr(&s->out, line);
    (void)!pmq_buf_append(&s->out, "\n", 1);
}

static void ensure_world(script_t *s) {
    if (s->w == NULL) {
        s->w = sim_world_new(&s->o);
        sim_trace_capture(s->w, &s->out);
    }
}

static uint32_t node_arg(script_t *s, const char *a) {
    if (strcmp(a, "leader") == 0) {
        return sim_leader(s->w);
    }
    return (uint32_t)strtoul(a, NULL, 10);
}

static void print_status(script_t *s) {
    for (uint32_t i = 1; i <= sim_node_count(s->w); i++) {
        if (!sim_node_exists(s->w, i)) {
            continue;
        }
        if (!sim_node_up(s->w, i)) {
            out(s, "  n%u down", i);
            continue;
        }
        paxos_status_t st;
        paxos_status(sim_core(s->w, i), &st);
        out(s, "  n%u.%llu %s ballot=(%llu,%u) promised=(%llu,%u) commit=%llu last=%llu%s%s%s", i,
            (unsigned long long)sim_member(s->w, i).inc.lo, paxos_role_name(st.role),
            (unsigned long long)st.ballot.round, st.ballot.rank,
            (unsigned long long)st.promised.round, st.promised.rank,
            (unsigned long long)st.commit, (unsigned long long)st.last_index,
            st.voter ? " voter" : (st.learner ? " learner" : ""), st.lease_valid ? " lease" : "",
            st.config.joint ? " joint" : "");
    }
}

static void print_log(script_t *s, uint32_t id) {
    paxos_t *p = sim_core(s->w, id);
    if (p == NULL) {
        out(s, "  n%u down", id);
        return;
    }
    paxos_status_t st;
    paxos_status(p, &st);
    for (uint64_t i = st.first_index; i <= st.last_index; i++) {
        paxos_entry_t e;
        if (paxos_log_get(p, i, &e)) {
            out(s, "  %llu (%llu,%u) %s%s%.*s", (unsigned long long)i,
                (unsigned long long)e.ballot.round, e.ballot.rank, paxos_entry_type_name(e.type),
                e.type == PAXOS_ENTRY_CMD ? " " : "",
                e.type == PAXOS_ENTRY_CMD ? (int)e.data.len : 0, e.data.ptr);
        }
    }
}

static void set_groups(script_t *s, const char *g1, const char *g2) {
    uint32_t a[SIM_NODES_MAX];
    uint32_t b[SIM_NODES_MAX];
    size_t na = 0;
    size_t nb = 0;
    for (const char *p = g1; *p && na < SIM_NODES_MAX; p++) {
        if (isdigit((unsigned char)*p)) {
            a[na++] = (uint32_t)(*p - '0');
        }
    }
    for (const char *p = g2; *p && nb < SIM_NODES_MAX; p++) {
        if (isdigit((unsigned char)*p)) {
            b[nb++] = (uint32_t)(*p - '0');
        }
    }
    for (size_t i = 0; i < na; i++) {
        for (size_t k = 0; k < nb; k++) {
            sim_block(s->w, a[i], b[k], true);
            sim_block(s->w, b[k], a[i], true);
        }
    }
}

static int change(script_t *s, uint32_t leader, uint8_t kind, char **argv, int argc) {
    paxos_change_t chg = {0};
    chg.kind = kind;
    if (kind == PAXOS_CHANGE_SET_VOTERS) {
        for (int i = 0; i < argc && i < PAXOS_VOTERS_MAX; i++) {
            chg.voters[chg.n_voters++] = sim_member(s->w, (uint32_t)atoi(argv[i]));
        }
    } else {
        chg.member = sim_member(s->w, (uint32_t)atoi(argv[0]));
    }
    return sim_change(s->w, leader, &chg);
}

static void run_ticks(script_t *s, uint64_t n) {
    for (uint64_t i = 0; i < n && !sim_failed(s->w); i++) {
        sim_run_for(s->w, SIM_TICK_US);
    }
}

/* Stops the clock the moment the node wins, before its NOOP is replicated. */
static void run_until_master(script_t *s, uint32_t id) {
    sim_world_t *w = s->w;
    uint64_t limit = sim_now_us(w) + 10000000;
    paxos_status_t st = {0};
    while (!sim_failed(w) && sim_now_us(w) < limit) {
        if (sim_core(w, id) != NULL) {
            paxos_status(sim_core(w, id), &st);
            if (st.role == PAXOS_ROLE_LEADER) {
                break;
            }
        }
        sim_run_for(w, 100);
    }
    if (st.role != PAXOS_ROLE_LEADER) {
        out(s, "  n%u did not become master", id);
    }
}

/* Network, clock and inspection commands (no return code to report). */
static bool exec_world(script_t *s, char **v, int n) {
    sim_world_t *w = s->w;
    const char *c = v[0];
    if (strcmp(c, "isolate") == 0 && n == 2) {
        sim_isolate(w, node_arg(s, v[1]), true);
    } else if (strcmp(c, "partition") == 0 && n == 3) {
        set_groups(s, v[1], v[2]);
    } else if ((strcmp(c, "block") == 0 || strcmp(c, "unblock") == 0) && n == 3) {
        sim_block(w, (uint32_t)atoi(v[1]), (uint32_t)atoi(v[2]), c[0] == 'b');
    } else if (strcmp(c, "heal") == 0) {
        sim_heal(w);
    } else if (strcmp(c, "drop-next") == 0 && n == 4) {
        sim_drop_next(w, (uint32_t)atoi(v[1]), (uint32_t)atoi(v[2]), (uint32_t)atoi(v[3]));
    } else if (strcmp(c, "run-until-master") == 0 && n == 2) {
        run_until_master(s, node_arg(s, v[1]));
    } else if (strcmp(c, "fsync-delay") == 0 && n == 3) {
        sim_set_fsync(w, node_arg(s, v[1]), (uint32_t)strtoul(v[2], NULL, 10));
    } else if (strcmp(c, "compact") == 0 && n == 2) {
        sim_compact(w, node_arg(s, v[1]));
    } else if (strcmp(c, "drift") == 0 && n == 3) {
        sim_set_drift(w, (uint32_t)atoi(v[1]), strtoll(v[2], NULL, 10));
    } else if (strcmp(c, "pause") == 0 && n == 3) {
        sim_pause(w, node_arg(s, v[1]), strtoull(v[2], NULL, 10) * 1000);
    } else if (strcmp(c, "status") == 0) {
        print_status(s);
    } else if (strcmp(c, "log") == 0 && n == 2) {
        print_log(s, node_arg(s, v[1]));
    } else if (strcmp(c, "expect-leader") == 0 && n == 2) {
        uint32_t l = sim_leader(w);
        if (l != (uint32_t)atoi(v[1])) {
            out(s, "EXPECTATION FAILED: master is n%u", l);
        }
    } else if (strcmp(c, "expect-no-leader") == 0) {
        uint32_t l = sim_leased_leader(w);
        if (l != 0) {
            out(s, "EXPECTATION FAILED: n%u holds a lease", l);
        }
    } else {
        return false;
    }
    return true;
}

/* Executes one command; returns false for an unknown or malformed command. */
static bool exec(script_t *s, char **v, int n) {
    const char *c = v[0];
    if (strcmp(c, "option") == 0 && n >= 2) {
        if (s->w != NULL) {
            return false; /* options come before the first node exists */
        }
        if (strcmp(v[1], "unsafe_single_server_changes") == 0) {
            s->o.unsafe_single_server_changes = true;
        } else if (strcmp(v[1], "unsafe_count_fresh_incarnations") == 0) {
            s->o.unsafe_count_fresh_incarnations = true;
        } else if (strcmp(v[1], "unsafe_config_above_uncommitted") == 0) {
            s->o.unsafe_config_above_uncommitted = true;
        } else if (strcmp(v[1], "unsafe_tick_per_callback") == 0) {
            s->o.unsafe_tick_per_callback = true;
        } else if (strcmp(v[1], "seed") == 0 && n == 3) {
            s->o.seed = strtoull(v[2], NULL, 0);
        } else {
            return false;
        }
        return true;
    }
    ensure_world(s);
    sim_world_t *w = s->w;
    int rc = 0;
    if (strcmp(c, "add-nodes") == 0 && n == 2) {
        for (int i = 0; i < atoi(v[1]); i++) {
            (void)sim_add_node(w);
        }
    } else if (strcmp(c, "bootstrap") == 0 && n >= 2) {
        uint32_t ids[SIM_NODES_MAX];
        for (int i = 1; i < n && i <= SIM_NODES_MAX; i++) {
            ids[i - 1] = (uint32_t)atoi(v[i]);
        }
        rc = sim_bootstrap(w, ids[0], ids, (uint32_t)(n - 1));
    } else if (strcmp(c, "tick") == 0 && n == 2) {
        run_ticks(s, strtoull(v[1], NULL, 10));
    } else if (strcmp(c, "stabilize") == 0) {
        run_ticks(s, 300);
    } else if (strcmp(c, "campaign") == 0 && n == 2) {
        paxos_t *p = sim_core(w, node_arg(s, v[1]));
        rc = p == NULL ? PMQ_EINVAL : paxos_campaign(p);
        if (p != NULL) {
            sim__pump(w, sim__node(w, node_arg(s, v[1])));
        }
    } else if (strcmp(c, "propose") == 0 && n == 3) {
        rc = sim_propose(w, node_arg(s, v[1]), v[2]);
    } else if (strcmp(c, "transfer") == 0 && n == 3) {
        rc = sim_transfer(w, node_arg(s, v[1]), (uint32_t)atoi(v[2]));
    } else if (strcmp(c, "add-learner") == 0 && n == 3) {
        rc = change(s, node_arg(s, v[1]), PAXOS_CHANGE_ADD_LEARNER, v + 2, 1);
    } else if (strcmp(c, "set-voters") == 0 && n >= 3) {
        rc = change(s, node_arg(s, v[1]), PAXOS_CHANGE_SET_VOTERS, v + 2, n - 2);
    } else if (strcmp(c, "crash") == 0 && n == 2) {
        sim_crash(w, node_arg(s, v[1]));
    } else if (strcmp(c, "restart") == 0 && n == 2) {
        sim_restart(w, node_arg(s, v[1]));
    } else if (strcmp(c, "restart-empty") == 0 && n == 2) {
        sim_restart_empty(w, node_arg(s, v[1]));
    } else if (strcmp(c, "remove") == 0 && n == 2) {
        sim_remove_node(w, node_arg(s, v[1]));
    } else if (!exec_world(s, v, n)) {
        return false;
    }
    if (rc != 0) {
        out(s, "  error: %s", pmq_errname(rc));
    }
    return true;
}

static int split(char *line, char **v) {
    int n = 0;
    for (char *tok = strtok(line, " \t"); tok != NULL && n < ARGS_MAX; tok = strtok(NULL, " \t")) {
        v[n++] = tok;
    }
    return n;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

/* Runs the command part of text; the trace accumulates in s->out. */
static int run_commands(script_t *s, const char *cmds, size_t len, const char *path) {
    char *copy = malloc(len + 1);
    memcpy(copy, cmds, len);
    copy[len] = '\0';
    int bad = 0;
    int lineno = 0;
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (strstr(line, "# expect: violation") == line) {
            s->expect_violation = true;
        }
        if (line[0] == '#' || line[strspn(line, " \t")] == '\0') {
            continue;
        }
        if (s->w != NULL && sim_failed(s->w)) {
            out(s, "> %s (skipped after the violation)", line);
            continue;
        }
        out(s, "> %s", line);
        char tmp[512];
        snprintf(tmp, sizeof(tmp), "%s", line);
        char *v[ARGS_MAX];
        int n = split(tmp, v);
        if (n == 0 || !exec(s, v, n)) {
            fprintf(stderr, "%s:%d: bad command: %s\n", path, lineno, line);
            bad = 1;
            break;
        }
    }
    free(copy);
    return bad;
}

int sim_script_run(const char *path, bool rewrite, bool verbose) {
    size_t len = 0;
    char *text = read_file(path, &len);
    if (text == NULL) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 1;
    }
    const char *sep = strstr(text, "\n----\n");
    size_t cmd_len = sep != NULL ? (size_t)(sep - text) + 1 : len;
    const char *expected = sep != NULL ? sep + 6 : "";
    script_t s;
    memset(&s, 0, sizeof(s));
    sim_opts_defaults(&s.o);
    s.o.nodes = 0;
    s.o.max_nodes = SIM_NODES_MAX;
    s.o.scripted = true;
    s.o.trace = verbose;
    pmq_buf_init(&s.out, 0);
    int bad = run_commands(&s, text, cmd_len, path);
    bool violated = s.w != NULL && sim_failed(s.w);
    (void)!pmq_buf_append(&s.out, "", 1);
    if (!bad && violated != s.expect_violation) {
        fprintf(stderr, "%s: expected %s but the run %s%s\n", path,
                s.expect_violation ? "a violation" : "no violation",
                violated ? "violated: " : "passed", violated ? sim_failure(s.w) : "");
        bad = 1;
    }
    if (!bad && rewrite) {
        FILE *f = fopen(path, "wb");
        bad = f == NULL;
        if (f != NULL) {
            fwrite(text, 1, cmd_len, f);
            fprintf(f, "----\n%s", s.out.data);
            fclose(f);
        }
    } else if (!bad && strcmp(expected, s.out.data) != 0) {
        const char *a = expected;
        const char *b = s.out.data;
        int line = 1;
        while (*a && *a == *b) {
            line += *a == '\n';
            a++;
            b++;
        }
        fprintf(stderr, "%s: trace differs from the expected one at trace line %d\n"
                        "  expected: %.*s\n  actual:   %.*s\n"
                        "(run with --rewrite and review the diff)\n",
                path, line, (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
        bad = 1;
    }
    printf("%s: %s%s\n", path, bad ? "FAIL" : "ok",
           violated && s.expect_violation ? " (violation caught as expected)" : "");
    sim_world_free(s.w);
    pmq_buf_close(&s.out);
    free(text);
    return bad;
}
