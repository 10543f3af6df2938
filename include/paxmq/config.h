/* paxmq configuration: one libconfig file + PAXMQ_* environment + --section.key flags
 * -> one validated, immutable pmq_config_t (DESIGN §3a).
 *
 * Precedence: flag beats environment beats file beats the embedded default. Every key
 * is described once in a static table (src/config/keys.c); the generic code reads the
 * file, the environment and the flags through that table, so adding a key is one table
 * line plus one struct field here. The config layer is read at start-up only, never
 * from hot paths, and owns no global state (the environment is passed in). */
#ifndef PAXMQ_CONFIG_H
#define PAXMQ_CONFIG_H

#include "paxmq/base.h"
#include "paxmq/buf.h"

/* A listener address. enabled is false for "off". host is a host name or an IP
 * literal, IPv6 without brackets ("::1"); port 0 asks the kernel for a free port. */
typedef struct pmq_listen {
    bool enabled;
    char host[64];
    uint16_t port;
} pmq_listen_t;

/* A list of owned, NUL-terminated strings (items is NULL when count is 0). */
typedef struct pmq_strlist {
    size_t count;
    char **items;
} pmq_strlist_t;

/* One static peer, parsed from a cluster.peers entry "name=host:port". */
typedef struct pmq_peer {
    char name[64];
    char host[64];
    uint16_t port;
} pmq_peer_t;

/* What a producer sees when a queue reaches broker.queue_depth_max/queue_bytes_max. */
typedef enum pmq_full_policy {
    PMQ_FULL_POLICY_BLOCK = 0, /* stop reading from the producer until there is room */
    PMQ_FULL_POLICY_FAIL = 1,  /* reject the SEND/PUBLISH (STOMP ERROR, MQTT disconnect) */
} pmq_full_policy_t;

/* Upper bound on the number of keys; the table asserts it stays below. */
#define PMQ_CFG_KEYS_MAX 96
/* Arguments cfg_load leaves to the caller (--help, --version, --check-config, ...). */
#define PMQ_CFG_REST_MAX 16

/* Where one value came from; bookkeeping for cfg_print, treat as private. */
typedef struct pmq_cfg_origin {
    uint8_t kind; /* default, file, env, flag (src/config/cfg_int.h) */
    uint32_t line;
} pmq_cfg_origin_t;

/* The effective configuration. Strings are owned (pmq_free via cfg_free); a string
 * that is "none" by default is NULL until set. Durations are milliseconds, sizes are
 * bytes. Filled once by cfg_load on the loop thread, then read-only: any thread may
 * read it after start-up. Field names mirror the keys: cfg.stomp.frame_bytes_max is
 * stomp.frame_bytes_max. */
typedef struct pmq_config {
    struct {
        char *name;     /* node.name: stable member name (host name by default) */
        char *data_dir; /* node.data_dir: LMDB environments live here */
    } node;
    struct {
        pmq_log_level_t level; /* log.level */
    } log;
    struct {
        uint32_t connections_max;    /* net.connections_max: accepted connections, all listeners */
        uint64_t outbound_bytes_max; /* net.outbound_bytes_max: per connection, pauses dispatch */
        uint64_t read_bytes_max;     /* net.read_bytes_max: per read batch */
        uint32_t idle_timeout_ms;    /* net.idle_timeout_ms: 0 = off */
    } net;
    struct {
        pmq_listen_t listen;
        uint64_t frame_bytes_max;
        uint32_t header_count_max;
        uint64_t header_bytes_max;
        uint32_t heartbeat_min_ms;
        uint32_t heartbeat_grace_pct;
        uint32_t connect_timeout_ms;
        uint32_t subscriptions_max;   /* per connection */
        uint32_t transactions_max;    /* per connection; 0 refuses BEGIN */
        uint32_t transaction_ops_max; /* per transaction */
    } stomp;
    struct {
        pmq_listen_t listen;
        uint64_t packet_bytes_max;
        uint32_t inflight_max;
        uint32_t queued_max;
        uint32_t keepalive_grace_pct;
        uint32_t retained_max;
        uint32_t sys_interval_ms; /* 0 = no $SYS/ publishing */
    } mqtt;
    struct {
        pmq_listen_t listen;
        uint64_t request_bytes_max;
        uint32_t header_count_max;
        char *admin_user;     /* NULL = none */
        char *admin_password; /* NULL = none; secret */
        bool admin_open;
        uint32_t metrics_destinations_max;
    } http;
    struct {
        pmq_listen_t listen;
        char *name;
        char *token;                   /* NULL = none; secret */
        pmq_strlist_t initial_members; /* node names for genesis */
        char *discovery;               /* NULL = none, else "dns:NAME" */
        pmq_strlist_t peers;           /* "name=host:port"; parse with cfg_peer_parse */
        uint32_t expect;               /* 0 = off */
        uint32_t heartbeat_ms;
        uint32_t election_timeout_ms;
        uint32_t lease_ms; /* < election_timeout_ms */
        uint32_t drift_ppm;
        uint32_t voters_max;
        uint32_t voters_min; /* <= voters_max */
    } cluster;
    struct {
        char *users_file; /* NULL = none */
        bool anonymous;
    } auth;
    struct {
        uint32_t prefetch_default;
        uint32_t max_redeliveries;
        char *dlq;
        uint32_t queue_depth_max;
        uint64_t queue_bytes_max;
        uint32_t destinations_max;
        pmq_full_policy_t full_policy;
        uint32_t expiry_check_ms;
    } broker;
    struct {
        bool sync; /* false only for tests: acknowledged data can be lost */
        uint64_t map_size;
        uint32_t group_commit_max;
        uint32_t snapshot_entries;
        uint64_t snapshot_bytes;
    } store;

    /* Private bookkeeping: the file that was read and the origin of every key. */
    char *origin_file;
    pmq_cfg_origin_t origin[PMQ_CFG_KEYS_MAX];
} pmq_config_t;

/* The command-line arguments cfg_load did not consume, as indexes into argv in order
 * (argv[0] is never included). */
typedef struct pmq_cfg_rest {
    int count;
    int index[PMQ_CFG_REST_MAX];
} pmq_cfg_rest_t;

/* Builds the effective configuration: embedded defaults, then the file named by
 * --config FILE / --config=FILE (if any), then PAXMQ_SECTION_KEY variables from envp,
 * then --section.key=value flags from argv; then validates every value and the rules
 * that span keys (e.g. cluster.lease_ms < cluster.election_timeout_ms).
 *
 * argv: every argument that starts with "--" and has a '.' before any '=' is a
 * configuration flag; "--config" takes the next argument or "=FILE"; arguments after
 * "--" and all others are left to the caller through rest (their argv indexes). rest
 * is filled before anything else is parsed, so main can honour --help even when the
 * configuration is invalid. With rest == NULL any leftover argument is an error.
 * envp: NULL-terminated "NAME=value" array, or NULL for none; only PAXMQ_* names
 * matter. argc 0 / argv NULL / envp NULL yields the pure defaults.
 *
 * On failure cfg owns nothing (cfg_free on it is harmless) and errbuf holds one line
 * naming where the problem is (file:line, env var or flag), the key, the value (masked
 * for secrets) and what is allowed; the caller prints it and exits with status 2.
 * cfg: caller-allocated, overwritten. errbuf: caller-owned, errlen > 0.
 * Thread: loop thread at start-up (reads the file system; calls gethostname).
 * Errors: PMQ_ECONFIG (bad file, value, key or argument), PMQ_ENOMEM. */
PMQ_MUST_USE int cfg_load(pmq_config_t *cfg, int argc, char **argv, char **envp,
                          pmq_cfg_rest_t *rest, char *errbuf, size_t errlen);

/* Frees every string and list in cfg and zeroes it. Idempotent. Any thread that owns
 * cfg. */
void cfg_free(pmq_config_t *cfg);

/* Appends the configuration in libconfig syntax, one group per section, with the
 * origin of each value as a trailing comment. Set secrets are written as a commented
 * line with the value masked, and store.sync = false adds a WARNING comment line. The
 * output loads back with --config to the same configuration once the secrets are
 * supplied again (environment or flags); a masked secret loads back as unset.
 * cfg, out: borrowed. Any thread. Errors: PMQ_ENOMEM, PMQ_ETOOBIG (out's limit). */
PMQ_MUST_USE int cfg_print(const pmq_config_t *cfg, pmq_buf_t *out);

/* Appends the key reference for --help: every key with its type and allowed range,
 * default, environment variable and meaning. Any thread. Errors: as cfg_print. */
PMQ_MUST_USE int cfg_print_help(pmq_buf_t *out);

/* Appends the same reference as a Markdown table (the table in docs/CONFIG.md; the unit
 * test checks that the document contains exactly this). Any thread. Errors: as
 * cfg_print. */
PMQ_MUST_USE int cfg_print_reference(pmq_buf_t *out);

/* Parses one cluster.peers entry "name=host:port" (IPv6 as [addr]:port). entry:
 * borrowed. Any thread. Errors: PMQ_EINVAL when malformed. cfg_load has already
 * validated every entry of cfg.cluster.peers with this function. */
PMQ_MUST_USE int cfg_peer_parse(const char *entry, pmq_peer_t *out);

#endif
