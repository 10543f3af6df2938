/* paxmq-bench: a load generator for STOMP 1.2 and MQTT 3.1.1 brokers (paxmq and its
 * peers), with exact delivery counting.
 *
 * This file holds the command line, the main thread's control of a run (phases,
 * progress lines, the end condition) and the report (a table for people, --json for
 * scripts). The workers live in bench_worker.c. Exit status: 0 when the run worked
 * (and, for the reliable queue scenario, nothing was lost), 1 on a usage, connection
 * or protocol error, 2 when a reliable run lost messages or receipts. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_int.h"

static const char *const scenario_names[] = {"fanin", "fanout", "queue", "latency", "conns",
                                             "relay"};

static void usage(FILE *f) {
    fputs(
        "usage: paxmq-bench SCENARIO [options]\n"
        "scenarios:\n"
        "  fanin    P producers -> 1 topic -> 1 subscriber (non-persistent / QoS 0)\n"
        "  fanout   1 producer -> 1 topic -> S subscribers (non-persistent / QoS 0)\n"
        "  queue    reliable: STOMP persistent SEND with a receipt each, window W,\n"
        "           client-individual acks; MQTT QoS 1 with a PUBACK window W\n"
        "  latency  fixed rate R msg/s; p50/p99/p99.9 from timestamps in the payload\n"
        "  conns    N idle CONNECTed connections; broker RSS per connection\n"
        "  relay    not a scenario: serve --proto on --host:--port as a trivial relay\n"
        "           (no storage, every message to every subscriber) for --duration\n"
        "           seconds (3600) to measure this tool's own ceiling\n"
        "options:\n"
        "  --proto stomp|mqtt      protocol (stomp)\n"
        "  --host H --port P       broker address (127.0.0.1, 61613 or 1883)\n"
        "  --size BYTES            payload size, >= 40 (100)\n"
        "  --count N               total messages to publish (over all producers)\n"
        "  --duration S            publish for S seconds instead (10 when no --count)\n"
        "  --producers P           (fanin 4, others 1)\n"
        "  --subscribers S         (fanout 10, others 1; queue: competing consumers)\n"
        "  --window W              outstanding receipts/PUBACKs per producer (64)\n"
        "  --rate R                total msg/s, paced (latency 10000, others unpaced)\n"
        "  --connections N         conns scenario (1000)\n"
        "  --broker-pid PID        report the broker's CPU seconds, RSS and peak RSS\n"
        "  --json                  one JSON object on stdout instead of the table\n"
        "  --quiet                 no progress lines on stderr\n"
        "  --threads N             worker threads (default: one per core, at most 2)\n"
        "  --user U --pass P       credentials (STOMP login/passcode, MQTT username)\n"
        "  --vhost V               STOMP host header (/)\n"
        "  --dest D                destination or MQTT topic (default: unique per run)\n"
        "  --prefetch N            STOMP queue consumer prefetch headers (broker default)\n"
        "  --max-lag N             at most N deliveries (messages x subscribers) published\n"
        "                          and not yet delivered (100000; 0 = open loop)\n"
        "  --warmup S              ignore latencies of the first S seconds (latency: 1)\n"
        "  --drain S               stop waiting after S s without a delivery (3; queue 15)\n"
        "  --timeout S             hard bound of the measured phase (300)\n"
        "  --settle S              conns: wait before reading the RSS (2)\n"
        "  --relay-drop N          relay: drop (but acknowledge) every Nth message (self-test)\n"
        "  --help\n",
        f);
}

enum {
    OPT_PROTO = 256, OPT_HOST, OPT_PORT, OPT_SIZE, OPT_COUNT, OPT_DURATION, OPT_PRODUCERS,
    OPT_SUBSCRIBERS, OPT_WINDOW, OPT_RATE, OPT_CONNECTIONS, OPT_BROKER_PID, OPT_JSON,
    OPT_QUIET, OPT_THREADS, OPT_USER, OPT_PASS, OPT_VHOST, OPT_DEST, OPT_PREFETCH,
    OPT_WARMUP, OPT_MAX_LAG, OPT_RELAY_DROP, OPT_DRAIN, OPT_TIMEOUT, OPT_SETTLE, OPT_HELP, OPT_SCENARIO,
};

static const struct option long_opts[] = {
    {"proto", required_argument, NULL, OPT_PROTO},
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"size", required_argument, NULL, OPT_SIZE},
    {"count", required_argument, NULL, OPT_COUNT},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"producers", required_argument, NULL, OPT_PRODUCERS},
    {"subscribers", required_argument, NULL, OPT_SUBSCRIBERS},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"rate", required_argument, NULL, OPT_RATE},
    {"connections", required_argument, NULL, OPT_CONNECTIONS},
    {"broker-pid", required_argument, NULL, OPT_BROKER_PID},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"user", required_argument, NULL, OPT_USER},
    {"pass", required_argument, NULL, OPT_PASS},
    {"vhost", required_argument, NULL, OPT_VHOST},
    {"dest", required_argument, NULL, OPT_DEST},
    {"prefetch", required_argument, NULL, OPT_PREFETCH},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"max-lag", required_argument, NULL, OPT_MAX_LAG},
    {"relay-drop", required_argument, NULL, OPT_RELAY_DROP},
    {"drain", required_argument, NULL, OPT_DRAIN},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"settle", required_argument, NULL, OPT_SETTLE},
    {"scenario", required_argument, NULL, OPT_SCENARIO},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Numbers given on the command line, checked against [lo, hi]. */
static bool num_arg(const char *name, const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "paxmq-bench: --%s must be a number in [%g, %g], not '%s'\n", name, lo,
                hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool str_arg(const char *name, const char *s, char *dst, size_t cap) {
    if (strlen(s) >= cap) {
        fprintf(stderr, "paxmq-bench: --%s is longer than %zu bytes\n", name, cap - 1);
        return false;
    }
    memcpy(dst, s, strlen(s) + 1);
    return true;
}

static bool parse_scenario(const char *s, bench_opts_t *o) {
    for (size_t i = 0; i < PMQ_ARRAY_LEN(scenario_names); i++) {
        if (strcmp(s, scenario_names[i]) == 0) {
            o->scenario = (bench_scenario_t)i;
            return true;
        }
    }
    fprintf(stderr, "paxmq-bench: unknown scenario '%s' (fanin, fanout, queue, latency, conns, "
            "relay)\n", s);
    return false;
}

/* Values set explicitly on the command line; negative means "use the default". */
typedef struct raw_opts {
    double count, duration, producers, subscribers, window, rate, connections, threads;
    double warmup, size, pid, prefetch, max_lag, relay_drop, drain, timeout, settle;
    bool has_scenario;
} raw_opts_t;

/* One option; a flat dispatch switch (STYLE allows it past 70 lines). */
static bool apply_opt(int c, const char *arg, bench_opts_t *o, raw_opts_t *raw) {
    switch (c) {
    case OPT_PROTO:
        if (strcmp(arg, "stomp") != 0 && strcmp(arg, "mqtt") != 0) {
            fprintf(stderr, "paxmq-bench: --proto is stomp or mqtt\n");
            return false;
        }
        o->proto = strcmp(arg, "mqtt") == 0 ? BENCH_PROTO_MQTT : BENCH_PROTO_STOMP;
        return true;
    case OPT_HOST:
        return str_arg("host", arg, o->host, sizeof(o->host));
    case OPT_PORT:
        return str_arg("port", arg, o->port, sizeof(o->port));
    case OPT_USER:
        return str_arg("user", arg, o->user, sizeof(o->user));
    case OPT_PASS:
        return str_arg("pass", arg, o->pass, sizeof(o->pass));
    case OPT_VHOST:
        return str_arg("vhost", arg, o->vhost, sizeof(o->vhost));
    case OPT_DEST:
        return str_arg("dest", arg, o->dest, sizeof(o->dest));
    case OPT_SIZE:
        return num_arg("size", arg, BENCH_PAYLOAD_MIN, BENCH_SIZE_MAX, &raw->size);
    case OPT_COUNT:
        return num_arg("count", arg, 1, 1e12, &raw->count);
    case OPT_DURATION:
        return num_arg("duration", arg, 0.1, 86400, &raw->duration);
    case OPT_PRODUCERS:
        return num_arg("producers", arg, 1, BENCH_CLIENTS_MAX, &raw->producers);
    case OPT_SUBSCRIBERS:
        return num_arg("subscribers", arg, 1, BENCH_CLIENTS_MAX, &raw->subscribers);
    case OPT_WINDOW:
        return num_arg("window", arg, 1, BENCH_WINDOW_MAX, &raw->window);
    case OPT_RATE:
        return num_arg("rate", arg, 0, 1e8, &raw->rate);
    case OPT_CONNECTIONS:
        return num_arg("connections", arg, 1, BENCH_CONNS_MAX, &raw->connections);
    case OPT_BROKER_PID:
        return num_arg("broker-pid", arg, 1, 4194304, &raw->pid);
    case OPT_THREADS:
        return num_arg("threads", arg, 1, 64, &raw->threads);
    case OPT_PREFETCH:
        return num_arg("prefetch", arg, 0, 1000000, &raw->prefetch);
    case OPT_WARMUP:
        return num_arg("warmup", arg, 0, 3600, &raw->warmup);
    case OPT_MAX_LAG:
        return num_arg("max-lag", arg, 0, 1e9, &raw->max_lag);
    case OPT_RELAY_DROP:
        return num_arg("relay-drop", arg, 0, 1e9, &raw->relay_drop);
    case OPT_DRAIN:
        return num_arg("drain", arg, 0.1, 3600, &raw->drain);
    case OPT_TIMEOUT:
        return num_arg("timeout", arg, 1, 86400, &raw->timeout);
    case OPT_SETTLE:
        return num_arg("settle", arg, 0, 3600, &raw->settle);
    case OPT_JSON:
        o->json = true;
        return true;
    case OPT_QUIET:
        o->quiet = true;
        return true;
    case OPT_SCENARIO:
        raw->has_scenario = true;
        return parse_scenario(arg, o);
    default:
        usage(stderr);
        return false;
    }
}

static double pick(double raw, double dflt) { return raw >= 0 ? raw : dflt; }

static bool finish_opts(bench_opts_t *o, const raw_opts_t *raw) {
    bench_scenario_t sc = o->scenario;
    if (o->port[0] == '\0') {
        snprintf(o->port, sizeof(o->port), "%s", o->proto == BENCH_PROTO_MQTT ? "1883" : "61613");
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cores = cores > 0 ? cores : 1;
    o->size = (uint32_t)pick(raw->size, 100);
    o->count = (uint64_t)pick(raw->count, 0);
    o->duration_s = pick(raw->duration, o->count > 0 ? 0 : sc == BENCH_SC_RELAY ? 3600 : 10);
    o->producers = (uint32_t)pick(raw->producers, sc == BENCH_SC_FANIN ? 4 : 1);
    o->subscribers = (uint32_t)pick(raw->subscribers, sc == BENCH_SC_FANOUT ? 10 : 1);
    o->window = (uint32_t)pick(raw->window, 64);
    o->rate = pick(raw->rate, sc == BENCH_SC_LATENCY ? 10000 : 0);
    o->connections = (uint32_t)pick(raw->connections, 1000);
    o->threads = (uint32_t)pick(raw->threads, (double)PMQ_MIN(cores, 2));
    o->broker_pid = (int)pick(raw->pid, 0);
    o->prefetch = (uint32_t)pick(raw->prefetch, 0);
    o->max_lag = (uint64_t)pick(raw->max_lag, 100000);
    o->relay_drop = (uint64_t)pick(raw->relay_drop, 0);
    /* A durable broker may pause for a checkpoint; give reliable runs longer. */
    o->drain_s = pick(raw->drain, sc == BENCH_SC_QUEUE ? 15 : 3);
    o->timeout_s = pick(raw->timeout, 300);
    o->settle_s = pick(raw->settle, 2);
    double warm = sc == BENCH_SC_LATENCY ? PMQ_MIN(1.0, o->duration_s / 4) : 0;
    o->warmup_s = pick(raw->warmup, warm);
    if (raw->count >= 0 && raw->duration >= 0) {
        fprintf(stderr, "paxmq-bench: give --count or --duration, not both\n");
        return false;
    }
    if (o->threads > (uint32_t)cores) {
        fprintf(stderr, "paxmq-bench: --threads %u exceeds the %ld cores (one per core)\n",
                o->threads, cores);
        return false;
    }
    if (o->producers >= 65536u) {
        return false;
    }
    return true;
}

static bool parse_args(int argc, char **argv, bench_opts_t *o) {
    *o = (bench_opts_t){.scenario = BENCH_SC_FANIN, .proto = BENCH_PROTO_STOMP};
    snprintf(o->host, sizeof(o->host), "127.0.0.1");
    snprintf(o->vhost, sizeof(o->vhost), "/");
    raw_opts_t raw = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, false};
    int c;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        if (c == OPT_HELP || c == 'h') {
            usage(stdout);
            exit(0);
        }
        if (!apply_opt(c, optarg, o, &raw)) {
            return false;
        }
    }
    if (optind < argc) {
        if (raw.has_scenario || optind + 1 < argc || !parse_scenario(argv[optind], o)) {
            fprintf(stderr, "paxmq-bench: one SCENARIO expected (try --help)\n");
            return false;
        }
        raw.has_scenario = true;
    }
    if (!raw.has_scenario) {
        usage(stderr);
        return false;
    }
    return finish_opts(o, &raw);
}

typedef struct report {
    bench_result_t res;
    bench_proc_t broker_before;
    bench_proc_t broker_after;
    double self_cpu_s; /* this tool's CPU over the measured phase */
    double wall_s;     /* length of the measured phase */
    uint64_t setup_ns;
    bool timed_out;
    bool stalled;
    char dest[256];
} report_t;

static void sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

/* 1234567 -> "1,234,567" */
static const char *grouped(char *buf, size_t cap, uint64_t v) {
    char raw[32];
    int n = snprintf(raw, sizeof(raw), "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0) {
            buf[o++] = ',';
        }
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

static double rate_of(uint64_t n, uint64_t ns) { return ns > 0 ? (double)n * 1e9 / (double)ns : 0; }

static void progress(const bench_opts_t *o, uint64_t t0, uint64_t now, const uint64_t cur[3],
                     uint64_t prev[3], uint64_t *prev_ns) {
    char a[32];
    char b[32];
    char c[32];
    double dt = (double)(now - *prev_ns) / 1e9;
    fprintf(stderr, "paxmq-bench: %6.1f s  published %s (%.0f/s)  delivered %s (%.0f/s)",
            (double)(now - t0) / 1e9, grouped(a, sizeof(a), cur[0]),
            (double)(cur[0] - prev[0]) / dt,
            grouped(b, sizeof(b), cur[2]), (double)(cur[2] - prev[2]) / dt);
    if (o->scenario == BENCH_SC_QUEUE) {
        fprintf(stderr, "  acked %s", grouped(c, sizeof(c), cur[1]));
    }
    fputc('\n', stderr);
    memcpy(prev, cur, 3 * sizeof(uint64_t));
    *prev_ns = now;
}

static bool run_complete(const bench_opts_t *o, const uint64_t cur[3]) {
    bool reliable = o->scenario == BENCH_SC_QUEUE;
    uint64_t expected = reliable ? cur[0] : cur[0] * o->subscribers;
    return cur[2] >= expected && (!reliable || cur[1] >= cur[0]);
}

/* Drives the measured phase: RUN until --count or --duration, then STOP until every
 * delivery (and receipt) is in, nothing moved for --drain, or --timeout. */
static void measure(bench_run_t *r, const bench_opts_t *o, report_t *rep) {
    bench_run_set_phase(r, BENCH_PHASE_RUN);
    uint64_t t0 = bench_run_t0_ns(r);
    uint64_t stop_at = o->count == 0 ? t0 + (uint64_t)(o->duration_s * 1e9) : UINT64_MAX;
    uint64_t hard = t0 + (uint64_t)(o->timeout_s * 1e9);
    uint64_t stall_ns = (uint64_t)(PMQ_MAX(o->drain_s, 10.0) * 1e9);
    uint64_t last_change = t0;
    uint64_t prev[3] = {0, 0, 0};
    uint64_t seen[3] = {0, 0, 0};
    uint64_t prev_ns = t0;
    for (;;) {
        sleep_ms(10);
        uint64_t now = pmq_mono_ns();
        uint64_t cur[3];
        bench_run_counters(r, &cur[0], &cur[1], &cur[2]);
        if (bench_run_error(r) != NULL) {
            break;
        }
        if (memcmp(cur, seen, sizeof(cur)) != 0) {
            memcpy(seen, cur, sizeof(cur));
            last_change = now;
        }
        int phase = bench_run_phase(r);
        if (phase == BENCH_PHASE_RUN && (o->count > 0 ? cur[0] >= o->count : now >= stop_at)) {
            bench_run_set_phase(r, BENCH_PHASE_STOP);
            phase = BENCH_PHASE_STOP;
        }
        bool settled = phase == BENCH_PHASE_STOP && bench_run_phase_acked(r, BENCH_PHASE_STOP);
        if (settled && run_complete(o, cur)) {
            break;
        }
        uint64_t idle = now - last_change;
        if (settled && idle >= (uint64_t)(o->drain_s * 1e9)) {
            break; /* whatever has not arrived by now is reported as lost */
        }
        if (phase == BENCH_PHASE_RUN && idle >= stall_ns) {
            rep->stalled = true;
            break;
        }
        if (now >= hard) {
            rep->timed_out = true;
            break;
        }
        if (!o->quiet && now - prev_ns >= 2000000000ull) {
            progress(o, t0, now, cur, prev, &prev_ns);
        }
    }
    rep->wall_s = (double)(pmq_mono_ns() - t0) / 1e9;
}

static int verdict(const bench_opts_t *o, const report_t *rep, char *why, size_t cap) {
    const bench_result_t *res = &rep->res;
    if (res->error[0] != '\0') {
        snprintf(why, cap, "%s", res->error);
        return 1;
    }
    if (rep->stalled) {
        snprintf(why, cap, "no progress for %.0f s while publishing", PMQ_MAX(o->drain_s, 10.0));
        return 1;
    }
    if (rep->timed_out) {
        snprintf(why, cap, "timed out after %.0f s (--timeout)", o->timeout_s);
        return 1;
    }
    if (o->scenario == BENCH_SC_QUEUE &&
        (res->delivered < res->expected || res->acked < res->sent)) {
        snprintf(why, cap, "reliable run lost %llu deliveries and %llu receipts",
                 (unsigned long long)(res->expected - PMQ_MIN(res->delivered, res->expected)),
                 (unsigned long long)(res->sent - PMQ_MIN(res->acked, res->sent)));
        return 2;
    }
    why[0] = '\0';
    return 0;
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            printf("\\%c", ch);
        } else if (ch < 0x20) {
            printf("\\u%04x", ch);
        } else {
            putchar(ch);
        }
    }
    putchar('"');
}

static double us(uint64_t ns) { return (double)ns / 1000.0; }

static double msgs_cost_ns(const report_t *rep) {
    uint64_t handled = rep->res.sent + rep->res.received;
    return handled > 0 ? rep->self_cpu_s * 1e9 / (double)handled : 0;
}

static void json_latency(const bench_hist_t *h) {
    printf(",\"latency_us\":{\"samples\":%llu,\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,"
           "\"max\":%.1f,\"mean\":%.1f}",
           (unsigned long long)h->total, us(bench_hist_quantile(h, 0.5)),
           us(bench_hist_quantile(h, 0.99)), us(bench_hist_quantile(h, 0.999)), us(h->max_ns),
           h->total > 0 ? (double)(h->sum_ns / (long double)h->total) / 1000.0 : 0.0);
}

static void json_broker(const bench_opts_t *o, const report_t *rep) {
    const bench_proc_t *a = &rep->broker_after;
    if (o->broker_pid <= 0 || !a->ok) {
        printf(",\"broker\":null");
        return;
    }
    printf(",\"broker\":{\"pid\":%d,\"cpu_s\":%.3f,\"rss_kib\":%llu,\"hwm_kib\":%llu,"
           "\"rss_before_kib\":%llu}",
           o->broker_pid, a->cpu_s - rep->broker_before.cpu_s, (unsigned long long)a->rss_kib,
           (unsigned long long)a->hwm_kib, (unsigned long long)rep->broker_before.rss_kib);
}

static void json_conns(const bench_opts_t *o, const report_t *rep) {
    double per = 0;
    if (rep->broker_after.ok && rep->res.conns_ready > 0) {
        per = ((double)rep->broker_after.rss_kib - (double)rep->broker_before.rss_kib) /
              rep->res.conns_ready;
    }
    printf(",\"connections\":{\"requested\":%u,\"ready\":%u,\"setup_s\":%.3f,"
           "\"kib_per_conn\":%.3f}",
           o->connections, rep->res.conns_ready, (double)rep->setup_ns / 1e9, per);
}

static void report_json(const bench_opts_t *o, const report_t *rep, int status, const char *why) {
    const bench_result_t *r = &rep->res;
    uint64_t lost = r->expected - PMQ_MIN(r->delivered, r->expected);
    printf("{\"tool\":\"paxmq-bench\",\"version\":\"%s\",\"scenario\":\"%s\",\"proto\":\"%s\",",
           PMQ_VERSION, scenario_names[o->scenario],
           o->proto == BENCH_PROTO_MQTT ? "mqtt" : "stomp");
    printf("\"host\":");
    json_str(o->host);
    printf(",\"port\":");
    json_str(o->port);
    printf(",\"dest\":");
    json_str(rep->dest);
    printf(",\"size\":%u,\"producers\":%u,\"subscribers\":%u,\"window\":%u,\"rate\":%.1f,"
           "\"count\":%llu,\"duration_s\":%.3f,\"threads\":%u,\"wall_s\":%.3f",
           o->size, o->producers, o->subscribers, o->window, o->rate,
           (unsigned long long)o->count, o->duration_s, o->threads, rep->wall_s);
    printf(",\"published\":%llu,\"publish_s\":%.6f,\"publish_rate\":%.1f,\"acked\":%llu,"
           "\"ack_rate\":%.1f",
           (unsigned long long)r->sent, (double)r->t_send_ns / 1e9, rate_of(r->sent, r->t_send_ns),
           (unsigned long long)r->acked, rate_of(r->acked, r->t_ack_ns));
    printf(",\"expected\":%llu,\"delivered\":%llu,\"lost\":%llu,\"loss_pct\":%.4f,"
           "\"duplicates\":%llu,\"reordered\":%llu,\"foreign\":%llu,\"deliver_s\":%.6f,"
           "\"delivery_rate\":%.1f",
           (unsigned long long)r->expected, (unsigned long long)r->delivered,
           (unsigned long long)lost, r->expected ? 100.0 * (double)lost / (double)r->expected : 0.0,
           (unsigned long long)r->duplicates, (unsigned long long)r->reordered,
           (unsigned long long)r->foreign, (double)r->t_deliver_ns / 1e9,
           rate_of(r->delivered, r->t_deliver_ns));
    json_latency(r->hist);
    json_conns(o, rep);
    json_broker(o, rep);
    printf(",\"bench_cpu_s\":%.3f,\"bench_cpu_pct\":%.1f,\"bench_ns_per_msg\":%.1f",
           rep->self_cpu_s, rep->wall_s > 0 ? 100.0 * rep->self_cpu_s / rep->wall_s : 0.0,
           msgs_cost_ns(rep));
    printf(",\"ok\":%s,\"status\":\"%s\",\"error\":", status == 0 ? "true" : "false",
           status == 0 ? "ok" : status == 2 ? "lost" : "error");
    if (why[0] != '\0') {
        json_str(why);
    } else {
        printf("null");
    }
    printf("}\n");
}

static void table_traffic(const bench_opts_t *o, const report_t *rep) {
    const bench_result_t *r = &rep->res;
    char a[32];
    char b[32];
    uint64_t lost = r->expected - PMQ_MIN(r->delivered, r->expected);
    printf("  published    %14s msg  %8.3f s  %12.0f msg/s\n", grouped(a, sizeof(a), r->sent),
           (double)r->t_send_ns / 1e9, rate_of(r->sent, r->t_send_ns));
    if (o->scenario == BENCH_SC_QUEUE) {
        printf("  %-12s %14s      %8.3f s  %12.0f /s (window %u)\n",
               o->proto == BENCH_PROTO_MQTT ? "pubacks" : "receipts",
               grouped(a, sizeof(a), r->acked), (double)r->t_ack_ns / 1e9,
               rate_of(r->acked, r->t_ack_ns), o->window);
    }
    printf("  delivered    %14s msg  %8.3f s  %12.0f msg/s%s\n",
           grouped(a, sizeof(a), r->delivered),
           (double)r->t_deliver_ns / 1e9, rate_of(r->delivered, r->t_deliver_ns),
           o->subscribers > 1 && o->scenario != BENCH_SC_QUEUE ? " (deliveries)" : "");
    printf("  check        expected %s, lost %s (%.3f%%), duplicates %llu, reordered %llu",
           grouped(a, sizeof(a), r->expected), grouped(b, sizeof(b), lost),
           r->expected ? 100.0 * (double)lost / (double)r->expected : 0.0,
           (unsigned long long)r->duplicates, (unsigned long long)r->reordered);
    if (r->foreign > 0) {
        printf(", foreign %llu", (unsigned long long)r->foreign);
    }
    printf("\n");
    const bench_hist_t *h = r->hist;
    if (h->total > 0) {
        printf("  latency      p50 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us  "
               "(%llu samples)\n",
               us(bench_hist_quantile(h, 0.5)), us(bench_hist_quantile(h, 0.99)),
               us(bench_hist_quantile(h, 0.999)), us(h->max_ns), (unsigned long long)h->total);
    }
}

static void report_table(const bench_opts_t *o, const report_t *rep, int status, const char *why) {
    const bench_result_t *r = &rep->res;
    printf("paxmq-bench %s  %s %s:%s  %s\n", scenario_names[o->scenario],
           o->proto == BENCH_PROTO_MQTT ? "mqtt" : "stomp", o->host, o->port, rep->dest);
    if (o->scenario == BENCH_SC_CONNS) {
        printf("  connections  %u of %u ready in %.3f s\n", r->conns_ready, o->connections,
               (double)rep->setup_ns / 1e9);
        if (rep->broker_after.ok && r->conns_ready > 0) {
            double per = ((double)rep->broker_after.rss_kib - (double)rep->broker_before.rss_kib) /
                         r->conns_ready;
            printf("  broker rss   %.1f MiB before, %.1f MiB after: %.2f KiB per connection\n",
                   (double)rep->broker_before.rss_kib / 1024,
                   (double)rep->broker_after.rss_kib / 1024,
                   per);
        }
    } else {
        printf("  settings     size %u B, producers %u, subscribers %u, %s, %s\n", o->size,
               o->producers, o->subscribers, o->rate > 0 ? "paced" : "unpaced",
               o->scenario == BENCH_SC_QUEUE ? "reliable" : "non-persistent / QoS 0");
        table_traffic(o, rep);
    }
    if (rep->broker_after.ok) {
        printf("  broker       pid %d: cpu %.2f s, rss %.1f MiB, peak rss %.1f MiB\n",
               o->broker_pid,
               rep->broker_after.cpu_s - rep->broker_before.cpu_s,
               (double)rep->broker_after.rss_kib / 1024, (double)rep->broker_after.hwm_kib / 1024);
    }
    printf("  paxmq-bench  cpu %.2f s over %.2f s (%.0f%% of one core), %.0f ns per message\n",
           rep->self_cpu_s, rep->wall_s, rep->wall_s > 0 ? 100 * rep->self_cpu_s / rep->wall_s : 0,
           msgs_cost_ns(rep));
    printf("  result       %s%s%s\n", status == 0 ? "OK" : status == 2 ? "LOST" : "ERROR",
           why[0] ? ": " : "", why);
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* conns: connect N, let the broker settle, read its RSS. */
static void hold_idle(bench_run_t *r, const bench_opts_t *o, report_t *rep) {
    double t0 = (double)pmq_mono_ns();
    unsigned left = (unsigned)(o->settle_s * 1000);
    while (left > 0 && bench_run_error(r) == NULL) {
        unsigned step = PMQ_MIN(left, 100u);
        sleep_ms(step);
        left -= step;
    }
    bench_proc_read(o->broker_pid, &rep->broker_after);
    rep->wall_s = ((double)pmq_mono_ns() - t0) / 1e9;
}

static int run(const bench_opts_t *o, report_t *rep) {
    bench_run_t *r = NULL;
    int rc = bench_run_new(o, &r);
    if (rc != 0) {
        fprintf(stderr, "paxmq-bench: cannot set up the run against %s:%s: %s\n", o->host, o->port,
                pmq_strerror(rc));
        return rc;
    }
    snprintf(rep->dest, sizeof(rep->dest), "%s", bench_run_dest(r));
    bench_proc_read(o->broker_pid, &rep->broker_before);
    uint64_t setup0 = pmq_mono_ns();
    double setup_timeout = 30.0 + (o->scenario == BENCH_SC_CONNS ? o->connections / 200.0 : 0);
    rc = bench_run_start(r);
    if (rc == 0) {
        rc = bench_run_wait_ready(r, setup_timeout);
    }
    rep->setup_ns = pmq_mono_ns() - setup0;
    double cpu0 = bench_self_cpu_s();
    if (rc == 0 && o->scenario == BENCH_SC_CONNS) {
        hold_idle(r, o, rep);
    } else if (rc == 0) {
        bench_proc_read(o->broker_pid, &rep->broker_before);
        measure(r, o, rep);
    }
    bench_run_finish(r, &rep->res);
    rep->self_cpu_s = bench_self_cpu_s() - cpu0;
    if (o->scenario != BENCH_SC_CONNS) {
        bench_proc_read(o->broker_pid, &rep->broker_after);
    }
    bench_run_free(r);
    return 0;
}

int main(int argc, char **argv) {
    bench_opts_t o;
    if (!parse_args(argc, argv, &o)) {
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    if (o.scenario == BENCH_SC_RELAY) {
        return bench_relay_run(&o);
    }
    /* Paced publishing wants its timerfd deadlines kept to the microsecond. */
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    report_t rep = {0};
    if (run(&o, &rep) != 0) {
        return 1;
    }
    if (rep.res.hist == NULL) {
        fprintf(stderr, "paxmq-bench: out of memory\n");
        return 1;
    }
    char why[300];
    int status = verdict(&o, &rep, why, sizeof(why));
    if (o.json) {
        report_json(&o, &rep, status, why);
    } else {
        report_table(&o, &rep, status, why);
    }
    pmq_free(rep.res.hist);
    return status;
}
