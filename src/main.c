/* paxmqd: wires the layers together and runs the loop — configuration, store and
 * recovery, broker, listeners, timers, signals and graceful shutdown — and nothing else.
 * Exit codes: 0 clean shutdown, 1 runtime failure (e.g. port in use, store failure),
 * 2 invalid configuration or usage. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include <uv.h>

#include "paxmq/admin.h"
#include "paxmq/assert.h"
#include "paxmq/auth.h"
#include "paxmq/config.h"
#include "paxmq/http.h"
#include "paxmq/mqtt.h"
#include "paxmq/net.h"
#include "paxmq/node.h"
#include "paxmq/stomp.h"

extern char **environ;

#define TICK_MS 100
#define DRAIN_RECEIPTS_MS 5000

typedef struct app {
    pmq_config_t cfg;
    auth_t *auth;
    uv_loop_t loop;
    node_t *node;
    broker_t *broker;
    net_t *net;
    stomp_server_t *stomp;
    mqtt_server_t *mqtt;
    http_server_t *http;
    admin_t *admin;
    uv_check_t run;
    uv_idle_t more;
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;
    uint64_t next_expiry_ms;
    uint64_t shutdown_started_ms;
    int shutdown_phase; /* 0 running, 1 draining receipts, 2 closing clients, 3 done */
    int exit_code;
} app_t;

static void usage(FILE *out) {
    fprintf(out,
            "usage: paxmqd [--config FILE] [--section.key=value ...] [--check-config]\n"
            "       paxmqd --help | --version\n\n"
            "paxmq broker daemon: STOMP (and later MQTT) over a replicated command log.\n"
            "With no arguments it runs a single node on the embedded defaults.\n\n"
            "  --config FILE    libconfig file; every key can also be set with the\n"
            "                   environment variable PAXMQ_SECTION_KEY or --section.key=value\n"
            "                   (flags beat environment beat file)\n"
            "  --check-config   validate and print the effective configuration, then exit\n"
            "  --help           this text and the list of keys\n"
            "  --version        print the version\n\n");
}

static void on_more(uv_idle_t *h);

/* The broker has work outside a loop turn's check phase (e.g. a consumer drained while
 * net flushed): keep the loop from blocking until broker_run has run. */
static void on_kick(void *arg) {
    app_t *a = arg;
    if (!uv_is_active((uv_handle_t *)&a->more)) {
        uv_idle_start(&a->more, on_more);
    }
}

static void on_more(uv_idle_t *h) {
    app_t *a = h->data;
    if (!broker_run(a->broker, pmq_wall_ms())) {
        uv_idle_stop(h);
    }
}

static void on_run(uv_check_t *h) {
    app_t *a = h->data;
    if (broker_run(a->broker, pmq_wall_ms())) {
        uv_idle_start(&a->more, on_more);
    }
}

static void shutdown_step(app_t *a);

static void on_tick(uv_timer_t *t) {
    app_t *a = t->data;
    uint64_t now = pmq_mono_ms();
    if (a->stomp != NULL) {
        stomp_server_tick(a->stomp, now);
    }
    if (a->mqtt != NULL) {
        mqtt_server_tick(a->mqtt, now);
    }
    uint64_t wall = pmq_wall_ms();
    if (wall >= a->next_expiry_ms) {
        broker_expire_scan(a->broker, wall);
        a->next_expiry_ms = wall + a->cfg.broker.expiry_check_ms;
    }
    if (a->shutdown_phase > 0) {
        shutdown_step(a);
    }
}

static void close_handle(uv_handle_t *h) {
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Graceful shutdown: stop accepting, let promised receipts become durable, tell clients
 * the broker is going away, then close everything. Bounded at each step. */
static void shutdown_step(app_t *a) {
    uint64_t elapsed = pmq_mono_ms() - a->shutdown_started_ms;
    node_stats_t ns;
    node_stats_get(a->node, &ns);
    if (a->shutdown_phase == 1 && (ns.pending == 0 || elapsed > DRAIN_RECEIPTS_MS)) {
        PMQ_LOG_INFO("shutdown_closing_clients", "pending_proposals=%llu",
                     (unsigned long long)ns.pending);
        if (a->stomp != NULL) {
            stomp_server_shutdown(a->stomp);
        }
        if (a->mqtt != NULL) {
            mqtt_server_shutdown(a->mqtt);
        }
        a->shutdown_phase = 2;
        return;
    }
    if (a->shutdown_phase == 2) {
        a->shutdown_phase = 3;
        uv_stop(&a->loop);
    }
}

static void on_signal(uv_signal_t *h, int signum) {
    app_t *a = h->data;
    if (a->shutdown_phase > 0) {
        PMQ_LOG_WARN("shutdown_forced", "signal=%d", signum);
        exit(1);
    }
    PMQ_LOG_INFO("shutdown_started", "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    a->shutdown_phase = 1;
    a->shutdown_started_ms = pmq_mono_ms();
    if (a->admin != NULL) {
        admin_set_draining(a->admin, true); /* /readyz turns 503 at once */
    }
    net_stop_listening(a->net);
}

static int start_mqtt(app_t *a) {
    const pmq_config_t *c = &a->cfg;
    if (!c->mqtt.listen.enabled) {
        return 0;
    }
    mqtt_server_options_t mo;
    mqtt_server_options_default(&mo);
    mo.parser.packet_bytes_max = (uint32_t)c->mqtt.packet_bytes_max;
    mo.inflight_max = c->mqtt.inflight_max;
    mo.queued_max = c->mqtt.queued_max;
    mo.keepalive_grace_pct = c->mqtt.keepalive_grace_pct;
    mo.retained_max = c->mqtt.retained_max;
    mo.sys_interval_ms = c->mqtt.sys_interval_ms;
    mo.connections_max = c->net.connections_max;
    mo.connect_timeout_ms = c->stomp.connect_timeout_ms;
    mo.idle_timeout_ms = c->net.idle_timeout_ms;
    mo.read_bytes_max = (uint32_t)c->net.read_bytes_max;
    mo.sessions_max = c->broker.destinations_max;
    mo.server_name = "paxmq/" PMQ_VERSION;
    mo.auth = a->auth;
    broker_log_t log = node_log(a->node);
    int rc = mqtt_server_new(&a->mqtt, a->net, a->broker, &log, &mo);
    if (rc == 0) {
        rc = mqtt_server_listen(a->mqtt, c->mqtt.listen.host, c->mqtt.listen.port);
    }
    if (rc != 0) {
        PMQ_LOG_ERROR("listen_failed", "listener=mqtt addr=%s:%u err=\"%s\" "
                      "action=\"free the port or set mqtt.listen\"",
                      c->mqtt.listen.host, c->mqtt.listen.port, pmq_strerror(rc));
    }
    return rc;
}

static int start_listeners(app_t *a) {
    const pmq_config_t *c = &a->cfg;
    if (c->stomp.listen.enabled) {
        stomp_server_options_t so = {
            .limits = {c->stomp.frame_bytes_max, c->stomp.header_count_max,
                       c->stomp.header_bytes_max},
            .heartbeat_min_ms = c->stomp.heartbeat_min_ms,
            .heartbeat_grace_pct = c->stomp.heartbeat_grace_pct,
            .connect_timeout_ms = c->stomp.connect_timeout_ms,
            .idle_timeout_ms = c->net.idle_timeout_ms,
            .connections_max = c->net.connections_max,
            .subscriptions_max = c->stomp.subscriptions_max,
            .transactions_max = c->stomp.transactions_max,
            .transaction_ops_max = c->stomp.transaction_ops_max,
            .full_policy = c->broker.full_policy == PMQ_FULL_POLICY_FAIL ? BROKER_FULL_FAIL
                                                                          : BROKER_FULL_BLOCK,
            .queue_depth_max = c->broker.queue_depth_max,
            .server_name = "paxmq/" PMQ_VERSION,
            .auth = a->auth};
        broker_log_t log = node_log(a->node);
        int rc = stomp_server_new(&a->stomp, a->net, a->broker, &log, &so);
        if (rc == 0) {
            rc = stomp_server_listen(a->stomp, c->stomp.listen.host, c->stomp.listen.port);
        }
        if (rc != 0) {
            PMQ_LOG_ERROR("listen_failed", "listener=stomp addr=%s:%u err=\"%s\" "
                          "action=\"free the port or set stomp.listen\"",
                          c->stomp.listen.host, c->stomp.listen.port, pmq_strerror(rc));
            return rc;
        }
    }
    return start_mqtt(a);
}

static int start_http(app_t *a) {
    const pmq_config_t *c = &a->cfg;
    admin_deps_t deps = {.node_name = c->node.name,
                         .broker = a->broker,
                         .node = a->node,
                         .net = a->net,
                         .stomp = a->stomp,
                         .mqtt = a->mqtt,
                         .metrics_destinations_max = c->http.metrics_destinations_max,
                         .drain_grace_ms = 5000};
    int rc = admin_new(&a->admin, &a->loop, &deps);
    if (rc != 0 || !c->http.listen.enabled) {
        return rc;
    }
    http_limits_t lim;
    http_limits_default(&lim);
    lim.header_bytes_max = lim.body_bytes_max = c->http.request_bytes_max;
    lim.header_count_max = c->http.header_count_max;
    http_app_t app = {.admin_user = c->http.admin_user,
                      .admin_password = c->http.admin_password,
                      .admin_open = c->http.admin_open};
    admin_http_app(a->admin, &app);
    rc = http_server_new(&a->http, &a->loop, &lim, c->http.listen.host, c->http.listen.port, &app);
    if (rc == 0) {
        rc = admin_register(a->admin, a->http);
    }
    if (rc != 0) {
        PMQ_LOG_ERROR("listen_failed", "listener=http addr=%s:%u err=\"%s\" "
                      "action=\"free the port or set http.listen (an IP address)\"",
                      c->http.listen.host, c->http.listen.port, pmq_strerror(rc));
        return rc;
    }
    PMQ_LOG_INFO("listening", "listener=http addr=%s:%u", c->http.listen.host,
                 http_server_port(a->http));
    return 0;
}

static int open_broker(app_t *a) {
    const pmq_config_t *c = &a->cfg;
    node_options_t no = {.data_dir = c->node.data_dir,
                         .map_size = c->store.map_size,
                         .sync = c->store.sync,
                         .group_commit_max = c->store.group_commit_max,
                         .snapshot_entries = c->store.snapshot_entries,
                         .snapshot_bytes = c->store.snapshot_bytes,
                         .entry_bytes_max = c->stomp.frame_bytes_max + 65536};
    int rc = node_open(&a->node, &a->loop, &no);
    if (rc != 0) {
        PMQ_LOG_ERROR("store_open_failed", "dir=%s err=\"%s\" action=\"check the directory "
                      "exists and is writable (node.data_dir)\"", c->node.data_dir,
                      pmq_strerror(rc));
        return rc;
    }
    uint64_t nonce = 0;
    if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce)) {
        nonce = pmq_mono_ns();
    }
    broker_options_t bo = {.broker_id = node_broker_id(a->node),
                           .prefetch_default = c->broker.prefetch_default,
                           .max_redeliveries = c->broker.max_redeliveries,
                           .dlq = c->broker.dlq,
                           .queue_depth_max = c->broker.queue_depth_max,
                           .queue_bytes_max = c->broker.queue_bytes_max,
                           .destinations_max = c->broker.destinations_max,
                           .full_policy = c->broker.full_policy == PMQ_FULL_POLICY_FAIL
                                              ? BROKER_FULL_FAIL
                                              : BROKER_FULL_BLOCK,
                           .boot_nonce = nonce & 0xffffff,
                           .kick = on_kick,
                           .kick_arg = a};
    broker_log_t log = node_log(a->node);
    rc = broker_new(&a->broker, &bo, &log);
    if (rc == 0) {
        rc = node_recover(a->node, a->broker);
    }
    return rc;
}

static int run(app_t *a) {
    uv_loop_init(&a->loop);
    /* Before the broker exists: recovery may already kick the idle handle. */
    uv_check_init(&a->loop, &a->run);
    uv_idle_init(&a->loop, &a->more);
    a->run.data = a->more.data = a;
    int rc = open_broker(a);
    net_options_t nopt = {.read_bytes_max = a->cfg.net.read_bytes_max,
                          .outbound_bytes_max = a->cfg.net.outbound_bytes_max,
                          .linger_ms = 2000};
    if (rc == 0) {
        rc = net_new(&a->net, &a->loop, &nopt);
    }
    if (rc == 0) {
        rc = start_listeners(a);
    }
    if (rc == 0) {
        rc = start_http(a);
    }
    if (rc == 0) {
        uv_timer_init(&a->loop, &a->tick);
        uv_signal_init(&a->loop, &a->sigterm);
        uv_signal_init(&a->loop, &a->sigint);
        a->tick.data = a->sigterm.data = a->sigint.data = a;
        uv_check_start(&a->run, on_run);
        uv_timer_start(&a->tick, on_tick, TICK_MS, TICK_MS);
        uv_signal_start(&a->sigterm, on_signal, SIGTERM);
        uv_signal_start(&a->sigint, on_signal, SIGINT);
        PMQ_LOG_INFO("ready", "version=%s node=%s data_dir=%s broker_id=%s", PMQ_VERSION,
                     a->cfg.node.name, a->cfg.node.data_dir, node_broker_id(a->node));
        uv_run(&a->loop, UV_RUN_DEFAULT);
        PMQ_LOG_INFO("shutdown_closing", "phase=%d", a->shutdown_phase);
    }
    /* Teardown in reverse order; each step tolerates a partial start. */
    if (a->http != NULL) {
        http_server_close(a->http);
    }
    admin_free(a->admin);
    net_free(a->net);
    node_close(a->node);
    stomp_server_free(a->stomp);
    mqtt_server_free(a->mqtt);
    broker_free(a->broker);
    uv_handle_t *handles[] = {(uv_handle_t *)&a->run, (uv_handle_t *)&a->more,
                              (uv_handle_t *)&a->tick, (uv_handle_t *)&a->sigterm,
                              (uv_handle_t *)&a->sigint};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(handles); i++) {
        if (handles[i]->loop == &a->loop) {
            close_handle(handles[i]);
        }
    }
    uv_run(&a->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&a->loop) != 0) {
        PMQ_LOG_WARN("loop_close_busy", "detail=\"handles still open at exit\"");
    }
    return rc;
}

static bool has_arg(int argc, char **argv, const pmq_cfg_rest_t *rest, const char *name) {
    for (int i = 0; i < rest->count; i++) {
        if (rest->index[i] < argc && strcmp(argv[rest->index[i]], name) == 0) {
            return true;
        }
    }
    return false;
}

int main(int argc, char **argv) {
    static app_t app;
    pmq_cfg_rest_t rest = {0};
    char err[1024];
    signal(SIGPIPE, SIG_IGN);
    int rc = cfg_load(&app.cfg, argc, argv, environ, &rest, err, sizeof(err));
    if (has_arg(argc, argv, &rest, "--help") || has_arg(argc, argv, &rest, "-h")) {
        usage(stdout);
        pmq_buf_t b;
        pmq_buf_init(&b, 0);
        if (cfg_print_help(&b) == 0) {
            fwrite(b.data, 1, b.len, stdout);
        }
        pmq_buf_close(&b);
        return 0;
    }
    if (has_arg(argc, argv, &rest, "--version")) {
        printf("paxmqd %s\n", PMQ_VERSION);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "paxmqd: %s\n", err);
        return 2;
    }
    for (int i = 0; i < rest.count; i++) {
        const char *a = argv[rest.index[i]];
        if (strcmp(a, "--check-config") != 0) {
            fprintf(stderr, "paxmqd: unknown argument '%s' (see paxmqd --help)\n", a);
            cfg_free(&app.cfg);
            return 2;
        }
    }
    if (has_arg(argc, argv, &rest, "--check-config")) {
        pmq_buf_t b;
        pmq_buf_init(&b, 0);
        if (cfg_print(&app.cfg, &b) == 0) {
            fwrite(b.data, 1, b.len, stdout);
        }
        pmq_buf_close(&b);
        cfg_free(&app.cfg);
        return 0;
    }
    pmq_log_setup(app.cfg.log.level, app.cfg.node.name);
    if (auth_load(&app.auth, app.cfg.auth.users_file, app.cfg.auth.anonymous, err,
                  sizeof(err)) != 0) {
        fprintf(stderr, "paxmqd: %s\n", err);
        cfg_free(&app.cfg);
        return 2;
    }
    if (!app.cfg.auth.anonymous && auth_user_count(app.auth) == 0) {
        PMQ_LOG_WARN("no_users", "detail=\"auth.anonymous=false and no users: every client "
                     "will be refused; set auth.users_file\"");
    }
    rc = run(&app);
    auth_free(app.auth);
    cfg_free(&app.cfg);
    return rc == 0 ? 0 : 1;
}
