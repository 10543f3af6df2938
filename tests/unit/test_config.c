/* Unit tests for src/config: defaults, the file, env and flag sources and their
 * precedence, every type's parser and error message, unknown keys, cross-key rules,
 * cfg_print round trips, and docs/CONFIG.md staying in sync with the key table.
 * Fixture files live in tests/unit/data/config/ (found through PMQ_TEST_DATA). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test_util.h"

#include "cfg_int.h"
#include "paxmq/config.h"

#define ARGS_MAX 32
#define ERR_LEN 1024

typedef struct fixture {
    pmq_config_t cfg;
    char err[ERR_LEN];
    char path[512];
} fixture_t;

static const char *data_dir(void) {
    const char *d = getenv("PMQ_TEST_DATA");
    return d != NULL ? d : PMQ_TEST_DATA_FALLBACK;
}

static const char *fixture_path(fixture_t *f, const char *name) {
    snprintf(f->path, sizeof(f->path), "%s/config/%s", data_dir(), name);
    return f->path;
}

/* Loads with argv = {"paxmqd", args...} and the given environment (both
 * NULL-terminated, either may be NULL). */
static int load(fixture_t *f, const char *const *args, const char *const *env) {
    cfg_free(&f->cfg);
    char *argv[ARGS_MAX];
    int argc = 0;
    argv[argc++] = (char *)"paxmqd";
    for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
        assert_true(argc < ARGS_MAX);
        argv[argc++] = (char *)args[i];
    }
    char *envp[ARGS_MAX];
    size_t n = 0;
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        assert_true(n + 1 < ARGS_MAX);
        envp[n++] = (char *)env[i];
    }
    envp[n] = NULL;
    int rc = cfg_load(&f->cfg, argc, argv, envp, NULL, f->err, sizeof(f->err));
    if (rc != 0) {
        /* A failed load leaves nothing to free. */
        assert_null(f->cfg.node.name);
        assert_null(f->cfg.origin_file);
    }
    return rc;
}

static int setup(void **state) {
    fixture_t *f = test_calloc(1, sizeof(*f));
    *state = f;
    return 0;
}

/* cmocka checks for leaks when the test function returns, so every test ends with
 * cfg_free (load() also frees the previous configuration). */
static int teardown(void **state) {
    fixture_t *f = *state;
    test_free(f);
    return 0;
}

/* Asserts that msg contains every NULL-terminated needle, printing msg on failure. */
static void assert_has(const char *msg, const char *const *needles) {
    for (size_t i = 0; needles[i] != NULL; i++) {
        if (strstr(msg, needles[i]) == NULL) {
            fprintf(stderr, "message: %s\nmissing: %s\n", msg, needles[i]);
            fail();
        }
    }
}

#define HAS(msg, ...) assert_has((msg), (const char *const[]){__VA_ARGS__, NULL})
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_defaults_valid(void **state) {
    fixture_t *f = *state;
    assert_int_equal(load(f, NULL, NULL), 0);
    pmq_config_t *c = &f->cfg;
    assert_non_null(c->node.name);
    assert_true(strlen(c->node.name) > 0);
    assert_string_equal(c->node.data_dir, "./data");
    assert_true(c->stomp.listen.enabled);
    assert_string_equal(c->stomp.listen.host, "0.0.0.0");
    assert_int_equal(c->stomp.listen.port, 61613);
    assert_int_equal(c->mqtt.listen.port, 1883);
    assert_int_equal(c->http.listen.port, 8161);
    assert_int_equal(c->cluster.listen.port, 61617);
    assert_string_equal(c->cluster.name, "paxmq");
    assert_null(c->cluster.token);
    assert_null(c->cluster.discovery);
    assert_int_equal(c->cluster.initial_members.count, 0);
    assert_int_equal(c->cluster.peers.count, 0);
    assert_int_equal(c->cluster.heartbeat_ms, 100);
    assert_int_equal(c->cluster.election_timeout_ms, 1000);
    assert_int_equal(c->cluster.lease_ms, 900);
    assert_int_equal(c->cluster.voters_max, 5);
    assert_true(c->auth.anonymous);
    assert_int_equal(c->log.level, PMQ_LOG_INFO);
    assert_int_equal(c->net.outbound_bytes_max, 1 << 20);
    assert_int_equal(c->net.read_bytes_max, 64 << 10);
    assert_int_equal(c->net.idle_timeout_ms, 0);
    assert_int_equal(c->stomp.frame_bytes_max, 4 << 20);
    assert_int_equal(c->stomp.header_bytes_max, 10 << 10);
    assert_int_equal(c->stomp.connect_timeout_ms, 10000);
    assert_int_equal(c->broker.prefetch_default, 1000);
    assert_int_equal(c->broker.max_redeliveries, 6);
    assert_string_equal(c->broker.dlq, "ActiveMQ.DLQ");
    assert_int_equal(c->broker.full_policy, PMQ_FULL_POLICY_FAIL);
    assert_true(c->store.sync);
    assert_true(c->store.map_size == (UINT64_C(4) << 30));
    assert_int_equal(c->mqtt.inflight_max, 32);
    assert_int_equal(c->mqtt.sys_interval_ms, 10000);
    assert_false(c->http.admin_open);
    assert_null(c->http.admin_user);
    cfg_free(&f->cfg);
}

static void test_file_parse(void **state) {
    fixture_t *f = *state;
    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "full.cfg")), NULL), 0);
    pmq_config_t *c = &f->cfg;
    assert_string_equal(c->node.name, "paxmq-1");
    assert_string_equal(c->node.data_dir, "/var/lib/paxmq");
    assert_int_equal(c->log.level, PMQ_LOG_DEBUG);
    assert_string_equal(c->stomp.listen.host, "127.0.0.1");
    assert_int_equal(c->stomp.listen.port, 7000);
    assert_int_equal(c->stomp.frame_bytes_max, 8 << 20);
    assert_int_equal(c->stomp.header_count_max, 200);
    assert_int_equal(c->stomp.heartbeat_min_ms, 2000);
    assert_false(c->mqtt.listen.enabled);
    assert_int_equal(c->mqtt.inflight_max, 16);
    assert_string_equal(c->cluster.name, "prod");
    assert_string_equal(c->cluster.token, "s3cret-token");
    assert_int_equal(c->cluster.initial_members.count, 3);
    assert_string_equal(c->cluster.initial_members.items[2], "paxmq-2");
    assert_string_equal(c->cluster.discovery, "dns:paxmq-headless.default.svc");
    assert_int_equal(c->cluster.lease_ms, 1500);
    assert_int_equal(c->broker.max_redeliveries, 3);
    assert_int_equal(c->broker.full_policy, PMQ_FULL_POLICY_BLOCK);
    assert_int_equal(c->broker.queue_bytes_max, 512 << 20);
    assert_false(c->store.sync);
    assert_int_equal(c->store.map_size, 1 << 30);
    assert_false(c->auth.anonymous);
    /* Keys the file does not mention keep their defaults. */
    assert_int_equal(c->broker.prefetch_default, 1000);
    assert_int_equal(c->mqtt.queued_max, 1000);
    cfg_free(&f->cfg);
}

static void test_file_errors_name_file_and_line(void **state) {
    fixture_t *f = *state;
    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "syntax.cfg")), NULL),
                     PMQ_ECONFIG);
    HAS(f->err, "syntax.cfg:3", "syntax error");

    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "bad_value.cfg")), NULL),
                     PMQ_ECONFIG);
    HAS(f->err, "file ", "bad_value.cfg:3", "'broker.max_redeliveries'", "'5000'",
        "an integer from 0 to 1000");

    assert_int_equal(load(f, ARGS("--config=/nonexistent/paxmq.cfg"), NULL), PMQ_ECONFIG);
    HAS(f->err, "/nonexistent/paxmq.cfg", "cannot read");

    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "not_group.cfg")), NULL),
                     PMQ_ECONFIG);
    HAS(f->err, "not_group.cfg:1", "section 'stomp' must be a group");

    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "list_not_strings.cfg")), NULL),
                     PMQ_ECONFIG);
    HAS(f->err, "list_not_strings.cfg:3", "'cluster.peers'", "item 2 is not a string");

    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "list_for_scalar.cfg")), NULL),
                     PMQ_ECONFIG);
    HAS(f->err, "list_for_scalar.cfg:2", "'stomp.listen'", "host:port");
    cfg_free(&f->cfg);
}

static void test_file_large_integers(void **state) {
    fixture_t *f = *state;
    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "big_int.cfg")), NULL),
                     PMQ_ECONFIG);
    HAS(f->err, "big_int.cfg:3", "integer 8589934592 is too large without an L suffix",
        "8589934592L");
    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "big_int_ok.cfg")), NULL), 0);
    assert_true(f->cfg.store.map_size == (UINT64_C(8) << 30));
    assert_int_equal(f->cfg.store.snapshot_bytes, 64 << 20);
    assert_string_equal(f->cfg.broker.dlq, "DLQ.99999999999");
    cfg_free(&f->cfg);
}

static void test_precedence_flag_env_file(void **state) {
    fixture_t *f = *state;
    const char *file = fixture_path(f, "full.cfg");
    const char *const env[] = {"PAXMQ_STOMP_LISTEN=127.0.0.1:7001",
                               "PAXMQ_BROKER_MAX_REDELIVERIES=4",
                               "PAXMQ_STOMP_FRAME_BYTES_MAX=16MiB",
                               "PAXMQ_AUTH_ANONYMOUS=true",
                               "PAXMQ_LOG_LEVEL=warn",
                               "PAXMQ_CLUSTER_INITIAL_MEMBERS=x,y",
                               "PAXMQ_STOMP_HEARTBEAT_MIN_MS=3s",
                               NULL};
    /* File only. */
    assert_int_equal(load(f, ARGS("--config", file), NULL), 0);
    assert_int_equal(f->cfg.stomp.listen.port, 7000);
    cfg_free(&f->cfg);

    /* Environment beats the file. */
    assert_int_equal(load(f, ARGS("--config", file), env), 0);
    assert_int_equal(f->cfg.stomp.listen.port, 7001);
    assert_int_equal(f->cfg.broker.max_redeliveries, 4);
    assert_int_equal(f->cfg.stomp.frame_bytes_max, 16 << 20);
    assert_true(f->cfg.auth.anonymous);
    assert_int_equal(f->cfg.log.level, PMQ_LOG_WARN);
    assert_int_equal(f->cfg.cluster.initial_members.count, 2);
    assert_int_equal(f->cfg.stomp.heartbeat_min_ms, 3000);
    cfg_free(&f->cfg);

    /* Flags beat both, wherever they sit relative to --config. */
    assert_int_equal(load(f, ARGS("--stomp.listen=127.0.0.1:7002", "--config", file,
                                  "--broker.max_redeliveries=0", "--stomp.frame_bytes_max=16384",
                                  "--auth.anonymous=off", "--log.level=error",
                                  "--cluster.initial_members=", "--stomp.heartbeat_min_ms=250"),
                          env),
                     0);
    assert_int_equal(f->cfg.stomp.listen.port, 7002);
    assert_int_equal(f->cfg.broker.max_redeliveries, 0);
    assert_int_equal(f->cfg.stomp.frame_bytes_max, 16384);
    assert_false(f->cfg.auth.anonymous);
    assert_int_equal(f->cfg.log.level, PMQ_LOG_ERROR);
    assert_int_equal(f->cfg.cluster.initial_members.count, 0);
    assert_null(f->cfg.cluster.initial_members.items);
    assert_int_equal(f->cfg.stomp.heartbeat_min_ms, 250);
    /* The last of two flags for one key wins. */
    cfg_free(&f->cfg);
    assert_int_equal(load(f, ARGS("--broker.dlq=A", "--broker.dlq=B"), NULL), 0);
    assert_string_equal(f->cfg.broker.dlq, "B");
    cfg_free(&f->cfg);
}

typedef struct bad_case {
    const char *flag;           /* --key=value */
    const char *needles[4];     /* besides the key, the quoted value and "flag --key" */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"--store.sync=maybe", {"true or false"}},
    {"--broker.prefetch_default=0", {"an integer from 1 to 1000000"}},
    {"--broker.prefetch_default=12x", {"an integer from 1 to 1000000"}},
    {"--broker.prefetch_default=-1", {"an integer from 1 to 1000000"}},
    {"--cluster.expect=65", {"0 (off) or an integer from 1 to 64"}},
    {"--stomp.frame_bytes_max=4MB", {"a size from 1KiB to 1GiB", "suffix KiB, MiB"}},
    {"--stomp.frame_bytes_max=2GiB", {"a size from 1KiB to 1GiB"}},
    {"--stomp.frame_bytes_max=99999999999999999999", {"a size from 1KiB to 1GiB"}},
    {"--net.idle_timeout_ms=10ms", {"0 (off) or a duration from 1s to 24h"}},
    {"--cluster.heartbeat_ms=fast", {"a duration from 10ms to 10s", "suffix ms, s, m, h"}},
    {"--node.data_dir=", {"a string of 1 to 4095 characters"}},
    {"--node.name=bad name", {"a name of 1 to 63 letters"}},
    {"--log.level=verbose", {"one of error, warn, info, debug"}},
    {"--broker.full_policy=drop", {"one of block, fail"}},
    {"--stomp.listen=61613", {"host:port", "or off"}},
    {"--stomp.listen=0.0.0.0:70000", {"host:port", "port 0 to 65535"}},
    {"--mqtt.listen=::1:1883", {"IPv6 as [addr]:port"}},
    {"--cluster.discovery=paxmq-headless", {"dns:NAME with NAME a DNS name"}},
    {"--cluster.peers=a=10.0.0.1:1,b", {"name=host:port", "item 2 'b' is not valid"}},
    {"--cluster.initial_members=a,,b", {"item 2 '' is not valid"}},
    {"--cluster.initial_members=a,b,a", {"item 3 'a' is listed twice"}},
    {"--http.admin_user=a:b", {"no ':'"}},
};

static void test_invalid_values_name_key_value_allowed(void **state) {
    fixture_t *f = *state;
    for (size_t i = 0; i < PMQ_ARRAY_LEN(bad_cases); i++) {
        const bad_case_t *bc = &bad_cases[i];
        assert_int_equal(load(f, ARGS(bc->flag), NULL), PMQ_ECONFIG);
        const char *eq = strchr(bc->flag, '=');
        char key[96];
        char value[96];
        char where[128];
        snprintf(key, sizeof(key), "'%.*s'", (int)(eq - bc->flag - 2), bc->flag + 2);
        snprintf(value, sizeof(value), "'%s'", eq + 1);
        snprintf(where, sizeof(where), "flag %.*s: ", (int)(eq - bc->flag), bc->flag);
        HAS(f->err, where, "invalid value", key, value);
        for (size_t j = 0; j < PMQ_ARRAY_LEN(bc->needles) && bc->needles[j] != NULL; j++) {
            HAS(f->err, bc->needles[j]);
        }
    }
    cfg_free(&f->cfg);
}

static void test_invalid_env_value_names_variable(void **state) {
    fixture_t *f = *state;
    assert_int_equal(load(f, NULL, ARGS("PAXMQ_MQTT_INFLIGHT_MAX=70000")), PMQ_ECONFIG);
    HAS(f->err, "env PAXMQ_MQTT_INFLIGHT_MAX: ", "'mqtt.inflight_max'", "'70000'",
        "an integer from 1 to 65535");
    cfg_free(&f->cfg);
}

static void test_secret_never_echoed(void **state) {
    fixture_t *f = *state;
    char flag[400];
    memset(flag, 0, sizeof(flag));
    strcpy(flag, "--cluster.token=");
    memset(flag + strlen(flag), 'Q', 300);
    assert_int_equal(load(f, ARGS(flag), NULL), PMQ_ECONFIG);
    HAS(f->err, "'cluster.token'", "'********'", "1 to 256 characters");
    assert_null(strstr(f->err, "QQQ"));
    cfg_free(&f->cfg);
}

static void test_unknown_keys_with_suggestion(void **state) {
    fixture_t *f = *state;
    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "typo.cfg")), NULL),
                     PMQ_ECONFIG);
    HAS(f->err, "typo.cfg:3", "unknown key 'stomp.lisen' (did you mean 'stomp.listen'?)");

    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "unknown_section.cfg")), NULL),
                     PMQ_ECONFIG);
    HAS(f->err, "unknown_section.cfg:2", "unknown key 'stmp.listen'",
        "did you mean 'stomp.listen'?");

    assert_int_equal(load(f, ARGS("--broker.max_redelivery=3"), NULL), PMQ_ECONFIG);
    HAS(f->err, "flag --broker.max_redelivery",
        "unknown key 'broker.max_redelivery' (did you mean 'broker.max_redeliveries'?)");

    assert_int_equal(load(f, NULL, ARGS("PAXMQ_STOMP_LISEN=x")), PMQ_ECONFIG);
    HAS(f->err, "env PAXMQ_STOMP_LISEN", "unknown key 'stomp.lisen'",
        "did you mean 'stomp.listen', set by PAXMQ_STOMP_LISTEN?");

    /* Nothing close: no suggestion. */
    assert_int_equal(load(f, ARGS("--stomp.completely_different=1"), NULL), PMQ_ECONFIG);
    HAS(f->err, "unknown key 'stomp.completely_different'");
    assert_null(strstr(f->err, "did you mean"));

    /* A key flag without a value. */
    assert_int_equal(load(f, ARGS("--stomp.listen"), NULL), PMQ_ECONFIG);
    HAS(f->err, "flag --stomp.listen needs a value");

    /* PAXMQ_ variables outside any section belong to someone else. */
    assert_int_equal(load(f, NULL, ARGS("PAXMQ_IMAGE_TAG=1.0", "PAXMQ_=x", "PATH=/bin")), 0);
    cfg_free(&f->cfg);
}

static void test_list_from_env(void **state) {
    fixture_t *f = *state;
    assert_int_equal(load(f, NULL, ARGS("PAXMQ_CLUSTER_INITIAL_MEMBERS=a,b,c")), 0);
    const pmq_strlist_t *l = &f->cfg.cluster.initial_members;
    assert_int_equal(l->count, 3);
    assert_string_equal(l->items[0], "a");
    assert_string_equal(l->items[1], "b");
    assert_string_equal(l->items[2], "c");
    cfg_free(&f->cfg);

    assert_int_equal(
        load(f, NULL, ARGS("PAXMQ_CLUSTER_PEERS= n1=10.0.0.1:61617 , n2=[fd00::2]:61617 ")), 0);
    l = &f->cfg.cluster.peers;
    assert_int_equal(l->count, 2);
    assert_string_equal(l->items[0], "n1=10.0.0.1:61617");
    pmq_peer_t p;
    assert_int_equal(cfg_peer_parse(l->items[1], &p), 0);
    assert_string_equal(p.name, "n2");
    assert_string_equal(p.host, "fd00::2");
    assert_int_equal(p.port, 61617);
    cfg_free(&f->cfg);

    char many[1024] = "PAXMQ_CLUSTER_INITIAL_MEMBERS=";
    for (int i = 0; i < 65; i++) {
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sn%d", i ? "," : "", i);
    }
    assert_int_equal(load(f, NULL, ARGS(many)), PMQ_ECONFIG);
    HAS(f->err, "'cluster.initial_members'", "at most 64 items", "more than 64 items");
    cfg_free(&f->cfg);
}

static void test_size_and_duration_suffixes(void **state) {
    fixture_t *f = *state;
    static const struct {
        const char *text;
        uint64_t bytes;
    } sizes[] = {
        {"65536", 65536}, {"4096B", 4096},        {"64KiB", 64 << 10},  {"64k", 64 << 10},
        {"4MiB", 4 << 20}, {"4 mib", 4 << 20},    {"1GiB", 1 << 30},    {"1G", 1 << 30},
    };
    for (size_t i = 0; i < PMQ_ARRAY_LEN(sizes); i++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--net.outbound_bytes_max=%s", sizes[i].text);
        assert_int_equal(load(f, ARGS(flag), NULL), 0);
        assert_true(f->cfg.net.outbound_bytes_max == sizes[i].bytes);
        cfg_free(&f->cfg);
    }
    static const struct {
        const char *text;
        uint32_t ms;
    } durations[] = {
        {"500", 500}, {"500ms", 500}, {"2s", 2000}, {"1m", 60000}, {"1h", 3600000}, {"0", 0},
    };
    for (size_t i = 0; i < PMQ_ARRAY_LEN(durations); i++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--mqtt.sys_interval_ms=%s", durations[i].text);
        int rc = load(f, ARGS(flag), NULL);
        /* 500 ms is below the 1 s minimum of this key; the rest are valid. */
        if (durations[i].ms == 500) {
            assert_int_equal(rc, PMQ_ECONFIG);
            HAS(f->err, "0 (off) or a duration from 1s to 24h");
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(f->cfg.mqtt.sys_interval_ms, durations[i].ms);
        cfg_free(&f->cfg);
    }
    assert_int_equal(load(f, ARGS("--stomp.connect_timeout_ms=500ms"), NULL), 0);
    assert_int_equal(f->cfg.stomp.connect_timeout_ms, 500);
    cfg_free(&f->cfg);
}

static void test_cross_key_rules(void **state) {
    fixture_t *f = *state;
    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "lease.cfg")), NULL),
                     PMQ_ECONFIG);
    HAS(f->err, "cluster.lease_ms = 1s (file ", "lease.cfg:2)", "must be below",
        "cluster.election_timeout_ms = 1s (default)");

    /* Raising the election timeout by env makes the same file valid. */
    assert_int_equal(load(f, ARGS("--config", fixture_path(f, "lease.cfg")),
                          ARGS("PAXMQ_CLUSTER_ELECTION_TIMEOUT_MS=5s")),
                     0);
    cfg_free(&f->cfg);

    assert_int_equal(load(f, ARGS("--cluster.heartbeat_ms=600"), NULL), PMQ_ECONFIG);
    HAS(f->err, "cluster.heartbeat_ms = 600ms (flag --cluster.heartbeat_ms)",
        "at most half of cluster.election_timeout_ms");

    assert_int_equal(load(f, ARGS("--cluster.voters_min=3", "--cluster.voters_max=2"), NULL),
                     PMQ_ECONFIG);
    HAS(f->err, "cluster.voters_min = 3", "must be at most cluster.voters_max = 2");

    assert_int_equal(load(f, NULL, ARGS("PAXMQ_STOMP_FRAME_BYTES_MAX=4KiB")), PMQ_ECONFIG);
    HAS(f->err, "stomp.header_bytes_max = 10KiB (default)",
        "stomp.frame_bytes_max = 4KiB (env PAXMQ_STOMP_FRAME_BYTES_MAX)");

    assert_int_equal(load(f, ARGS("--http.admin_user=admin"), NULL), PMQ_ECONFIG);
    HAS(f->err, "http.admin_password = none (default) must be set together with ",
        "http.admin_user = 'admin' (flag --http.admin_user)");

    assert_int_equal(load(f, ARGS("--mqtt.listen=127.0.0.1:61613"), NULL), PMQ_ECONFIG);
    HAS(f->err, "mqtt.listen = 127.0.0.1:61613", "on a different port than stomp.listen");
    /* Turning the other listener off, or port 0, removes the clash. */
    assert_int_equal(load(f, ARGS("--mqtt.listen=127.0.0.1:61613", "--stomp.listen=off"), NULL),
                     0);
    cfg_free(&f->cfg);
    assert_int_equal(load(f, ARGS("--mqtt.listen=127.0.0.1:0", "--stomp.listen=127.0.0.1:0"),
                          NULL),
                     0);
    cfg_free(&f->cfg);

    assert_int_equal(load(f, ARGS("--cluster.discovery=dns:paxmq", "--cluster.peers=a=h:1"),
                          NULL),
                     PMQ_ECONFIG);
    HAS(f->err, "cluster.peers", "empty when using cluster.discovery");

    assert_int_equal(load(f, ARGS("--cluster.peers=a=h:1,a=h:2"), NULL), PMQ_ECONFIG);
    HAS(f->err, "flag --cluster.peers", "names 'a' twice");
    cfg_free(&f->cfg);
}

static void test_args_rest_and_config_flag(void **state) {
    fixture_t *f = *state;
    char *argv[] = {"paxmqd", "--check-config", "--log.level=debug", "--help", "--",
                    "--stomp.listen=bogus", NULL};
    pmq_cfg_rest_t rest;
    assert_int_equal(cfg_load(&f->cfg, 6, argv, NULL, &rest, f->err, sizeof(f->err)), 0);
    assert_int_equal(f->cfg.log.level, PMQ_LOG_DEBUG);
    assert_int_equal(rest.count, 3);
    assert_int_equal(rest.index[0], 1);
    assert_int_equal(rest.index[1], 3);
    assert_int_equal(rest.index[2], 5);
    cfg_free(&f->cfg);

    /* rest is filled even when the configuration is invalid, so --help still works. */
    char *argv2[] = {"paxmqd", "--version", "--broker.dlq=", NULL};
    assert_int_equal(cfg_load(&f->cfg, 3, argv2, NULL, &rest, f->err, sizeof(f->err)),
                     PMQ_ECONFIG);
    assert_int_equal(rest.count, 1);
    assert_int_equal(rest.index[0], 1);

    assert_int_equal(load(f, ARGS("--verbose"), NULL), PMQ_ECONFIG);
    HAS(f->err, "unexpected argument '--verbose'");
    assert_int_equal(load(f, ARGS("--config"), NULL), PMQ_ECONFIG);
    HAS(f->err, "--config needs a file");
    assert_int_equal(load(f, ARGS("--config=a", "--config=b"), NULL), PMQ_ECONFIG);
    HAS(f->err, "--config given twice");
    cfg_free(&f->cfg);
}

/* Drops comment lines and trailing "# origin" comments, leaving the settings. */
static void strip_comments(const char *in, char *out, size_t len) {
    size_t o = 0;
    for (const char *line = in; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        const char *p = line;
        while (p < line + n && *p == ' ') {
            p++;
        }
        if (p < line + n && *p != '#') {
            const char *semi = memrchr(line, ';', n);
            size_t keep = semi ? (size_t)(semi - line) + 1 : n;
            assert_true(o + keep + 2 < len);
            memcpy(out + o, line, keep);
            o += keep;
            out[o++] = '\n';
        }
        line += n + (nl != NULL);
    }
    out[o] = '\0';
}

static void test_print_masks_secrets_and_round_trips(void **state) {
    fixture_t *f = *state;
    const char *const args[] = {"--config", fixture_path(f, "full.cfg"),
                                "--http.admin_user=root", "--http.admin_password=pw-top-secret",
                                "--http.listen=[::1]:8162", "--broker.dlq=dead \"letters\"",
                                "--net.read_bytes_max=12345", NULL};
    assert_int_equal(load(f, args, ARGS("PAXMQ_STOMP_HEADER_COUNT_MAX=77")), 0);
    pmq_buf_t out;
    pmq_buf_init(&out, 0);
    assert_int_equal(cfg_print(&f->cfg, &out), 0);
    assert_int_equal(pmq_buf_append(&out, "", 1), 0);
    assert_null(strstr(out.data, "s3cret-token"));
    assert_null(strstr(out.data, "pw-top-secret"));
    HAS(out.data, "# token = \"********\";  (secret, masked; file ", "full.cfg:25)",
        "# admin_password = \"********\";  (secret, masked; flag --http.admin_password)",
        "# WARNING: store.sync = false", "header_count_max = 77;",
        "# env PAXMQ_STOMP_HEADER_COUNT_MAX", "listen = \"[::1]:8162\";",
        "dlq = \"dead \\\"letters\\\"\";", "read_bytes_max = \"12345B\";",
        "# users_file is not set (default)",
        "initial_members = [ \"paxmq-0\", \"paxmq-1\", \"paxmq-2\" ];", "peers = [];");

    char tmp[] = "/tmp/pmq_test_config_XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out.data, out.len - 1), (ssize_t)(out.len - 1));
    close(fd);
    char flag[64];
    snprintf(flag, sizeof(flag), "--config=%s", tmp);
    pmq_config_t back;
    char err[ERR_LEN];
    char *argv[] = {"paxmqd", flag, NULL};
    /* Masked secrets load back as unset; without them the admin user alone is invalid. */
    int rc = cfg_load(&back, 2, argv, NULL, NULL, err, sizeof(err));
    assert_int_equal(rc, PMQ_ECONFIG);
    HAS(err, "http.admin_password = none (default) must be set together with");
    /* Secrets come back from the environment, the way a deployment supplies them. */
    char *env[] = {"PAXMQ_CLUSTER_TOKEN=s3cret-token",
                   "PAXMQ_HTTP_ADMIN_PASSWORD=pw-top-secret", NULL};
    rc = cfg_load(&back, 2, argv, env, NULL, err, sizeof(err));
    unlink(tmp);
    if (rc != 0) {
        fprintf(stderr, "%s\n%s\n", err, out.data);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(back.cluster.token, "s3cret-token");
    assert_string_equal(back.http.admin_password, "pw-top-secret");
    assert_string_equal(back.broker.dlq, "dead \"letters\"");
    assert_int_equal(back.http.listen.port, 8162);

    /* Apart from the origin comments, the two printouts are identical. */
    pmq_buf_t out2;
    pmq_buf_init(&out2, 0);
    assert_int_equal(cfg_print(&back, &out2), 0);
    assert_int_equal(pmq_buf_append(&out2, "", 1), 0);
    char *a = test_malloc(out.len + 1);
    char *b = test_malloc(out2.len + 1);
    strip_comments(out.data, a, out.len + 1);
    strip_comments(out2.data, b, out2.len + 1);
    assert_string_equal(a, b);
    test_free(a);
    test_free(b);
    pmq_buf_close(&out);
    pmq_buf_close(&out2);
    cfg_free(&back);
    cfg_free(&f->cfg);
}

static size_t section_len(const cfg__key_t *k) {
    return (size_t)(strchr(k->name, '.') - k->name);
}

static bool same_section(const cfg__key_t *a, const cfg__key_t *b) {
    return section_len(a) == section_len(b) && memcmp(a->name, b->name, section_len(a)) == 0;
}

static void test_table_invariants(void **state) {
    (void)state;
    for (size_t i = 0; i < cfg__key_count; i++) {
        const cfg__key_t *k = &cfg__keys[i];
        assert_non_null(strchr(k->name, '.'));
        assert_non_null(k->help);
        char env_i[96];
        cfg__env_name(k, env_i, sizeof(env_i));
        /* A section, once left, never comes back (cfg_print writes one group per run). */
        bool starts_run = i == 0 || !same_section(k, &cfg__keys[i - 1]);
        for (size_t j = 0; j < i; j++) {
            char env_j[96];
            cfg__env_name(&cfg__keys[j], env_j, sizeof(env_j));
            assert_string_not_equal(env_i, env_j);
            if (starts_run) {
                assert_false(same_section(k, &cfg__keys[j]));
            }
        }
    }
}

static char *read_whole(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return NULL;
    }
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        assert_int_equal(pmq_buf_append(&b, chunk, n), 0);
    }
    fclose(fp);
    assert_int_equal(pmq_buf_append(&b, "", 1), 0);
    return pmq_buf_steal(&b, NULL);
}

/* docs/CONFIG.md carries the generated reference table between two markers. Set
 * PMQ_REWRITE_DOCS=1 to regenerate it after changing the key table (and read the diff). */
static void test_reference_doc_in_sync(void **state) {
    (void)state;
    static const char begin[] = "<!-- BEGIN KEYS: generated by test_config -->\n";
    static const char end[] = "<!-- END KEYS -->";
    char path[512];
    snprintf(path, sizeof(path), "%s/../../../docs/CONFIG.md", data_dir());
    pmq_buf_t ref;
    pmq_buf_init(&ref, 0);
    assert_int_equal(cfg_print_reference(&ref), 0);
    assert_int_equal(pmq_buf_append(&ref, "", 1), 0);
    char *doc = read_whole(path);
    assert_non_null(doc);
    char *b = strstr(doc, begin);
    char *e = b ? strstr(b, end) : NULL;
    assert_non_null(b);
    assert_non_null(e);
    b += strlen(begin);
    const char *rewrite = getenv("PMQ_REWRITE_DOCS");
    if (rewrite != NULL && strcmp(rewrite, "1") == 0) {
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        fwrite(doc, 1, (size_t)(b - doc), fp);
        fputs(ref.data, fp);
        fputs(e, fp);
        fclose(fp);
    } else if ((size_t)(e - b) != ref.len - 1 || memcmp(b, ref.data, ref.len - 1) != 0) {
        print_error("docs/CONFIG.md is out of date; rerun with PMQ_REWRITE_DOCS=1\n");
        fail();
    }
    pmq_free(doc);
    pmq_buf_close(&ref);
}

static void test_help_lists_every_key(void **state) {
    (void)state;
    pmq_buf_t out;
    pmq_buf_init(&out, 0);
    assert_int_equal(cfg_print_help(&out), 0);
    assert_int_equal(pmq_buf_append(&out, "", 1), 0);
    for (size_t i = 0; i < cfg__key_count; i++) {
        char env[96];
        cfg__env_name(&cfg__keys[i], env, sizeof(env));
        HAS(out.data, cfg__keys[i].name, env);
    }
    HAS(out.data, "stomp.frame_bytes_max  (size, env PAXMQ_STOMP_FRAME_BYTES_MAX)",
        "default: 4MiB; allowed: a size from 1KiB to 1GiB");
    pmq_buf_close(&out);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults_valid),
        T(test_file_parse),
        T(test_file_errors_name_file_and_line),
        T(test_file_large_integers),
        T(test_precedence_flag_env_file),
        T(test_invalid_values_name_key_value_allowed),
        T(test_invalid_env_value_names_variable),
        T(test_secret_never_echoed),
        T(test_unknown_keys_with_suggestion),
        T(test_list_from_env),
        T(test_size_and_duration_suffixes),
        T(test_cross_key_rules),
        T(test_args_rest_and_config_flag),
        T(test_print_masks_secrets_and_round_trips),
        T(test_table_invariants),
        T(test_reference_doc_in_sync),
        T(test_help_lists_every_key),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
