/* The key table: the single description of every configuration key (DESIGN §3a).
 *
 * Adding a key is one line here plus one field in pmq_config_t. The OFF_ macro checks
 * at compile time that the field has the C type the key type stores, so a table line
 * cannot point a size at a bool. Keys of one section must stay contiguous (cfg_print
 * writes one group per run of a section); the unit test checks it. */
#include <stddef.h>

#include "paxmq/assert.h"
#include "cfg_int.h"

#define OFF_(field, T) _Generic(((pmq_config_t *)0)->field, T: offsetof(pmq_config_t, field))

#define BOOL_(n, f, d, h)                                                                 \
    {.name = n, .type = CFG__BOOL, .offset = OFF_(f, bool), .def = d, .help = h}
#define INT_(n, f, lo, hi, z, u, d, h)                                                    \
    {.name = n, .type = CFG__INT, .offset = OFF_(f, uint32_t), .min = lo, .max = hi,      \
     .zero_off = z, .unit = u, .def = d, .help = h}
#define SIZE_(n, f, lo, hi, d, h)                                                         \
    {.name = n, .type = CFG__SIZE, .offset = OFF_(f, uint64_t), .min = lo, .max = hi,     \
     .def = d, .help = h}
#define DUR_(n, f, lo, hi, z, d, h)                                                       \
    {.name = n, .type = CFG__DURATION, .offset = OFF_(f, uint32_t), .min = lo, .max = hi, \
     .zero_off = z, .def = d, .help = h}
#define STR_(n, f, lo, hi, opt, sec, chk, d, h)                                           \
    {.name = n, .type = CFG__STRING, .offset = OFF_(f, char *), .min = lo, .max = hi,     \
     .optional = opt, .secret = sec, .check = chk, .def = d, .help = h}
#define ENUM_(n, f, T, vals, d, h)                                                        \
    {.name = n, .type = CFG__ENUM, .offset = OFF_(f, T), .values = vals, .def = d, .help = h}
#define LISTEN_(n, f, d, h)                                                               \
    {.name = n, .type = CFG__LISTEN, .offset = OFF_(f, pmq_listen_t), .def = d, .help = h}
#define LIST_(n, f, items_max, chk, h)                                                    \
    {.name = n, .type = CFG__LIST, .offset = OFF_(f, pmq_strlist_t), .max = items_max,    \
     .check = chk, .def = "", .help = h}

#define KIB_ (UINT64_C(1) << 10)
#define MIB_ (UINT64_C(1) << 20)
#define GIB_ (UINT64_C(1) << 30)
#define TIB_ (UINT64_C(1) << 40)
#define SEC_ 1000u
#define MIN_ (60u * SEC_)
#define HOUR_ (60u * MIN_)
#define DAY_ (24u * HOUR_)
#define PATH_MAX_ 4095

/* Enum stores are int-sized; the index in each list is the enum value. */
PMQ_STATIC_ASSERT(sizeof(pmq_log_level_t) == sizeof(int), "enum size");
PMQ_STATIC_ASSERT(sizeof(pmq_full_policy_t) == sizeof(int), "enum size");
PMQ_STATIC_ASSERT(PMQ_LOG_ERROR == 0 && PMQ_LOG_WARN == 1, "log.level order");
PMQ_STATIC_ASSERT(PMQ_LOG_INFO == 2 && PMQ_LOG_DEBUG == 3, "log.level order");
PMQ_STATIC_ASSERT(PMQ_FULL_POLICY_BLOCK == 0 && PMQ_FULL_POLICY_FAIL == 1, "policy order");

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const full_policies[] = {"block", "fail", NULL};

/* node.name's default is the host name; load.c fills it when def is NULL. */
const cfg__key_t cfg__keys[] = {
    STR_("node.name", node.name, 1, 63, false, false, &cfg__check_name, NULL,
         "Stable member name of this node; defaults to the host name."),
    STR_("node.data_dir", node.data_dir, 1, PATH_MAX_, false, false, NULL, "./data",
         "Directory holding the LMDB environments."),

    ENUM_("log.level", log.level, pmq_log_level_t, log_levels, "info",
          "Diagnostic log threshold."),

    INT_("net.connections_max", net.connections_max, 1, 1000000, false, "connections",
         "10000", "Client connections accepted at once, all listeners together."),
    SIZE_("net.outbound_bytes_max", net.outbound_bytes_max, 4 * KIB_, GIB_, "1MiB",
          "Unsent bytes queued per connection; dispatch to a slower consumer pauses above it."),
    SIZE_("net.read_bytes_max", net.read_bytes_max, KIB_, 16 * MIB_, "64KiB",
          "Bytes read from one connection per read batch."),
    DUR_("net.idle_timeout_ms", net.idle_timeout_ms, SEC_, DAY_, true, "0",
         "Close a client connection silent for this long; 0 = off."),

    LISTEN_("stomp.listen", stomp.listen, "0.0.0.0:61613", "STOMP listener, or off."),
    SIZE_("stomp.frame_bytes_max", stomp.frame_bytes_max, KIB_, GIB_, "4MiB",
          "Largest STOMP frame (headers and body); larger frames get an ERROR and close."),
    INT_("stomp.header_count_max", stomp.header_count_max, 1, 100000, false, "headers",
         "1000", "Most headers in one STOMP frame."),
    SIZE_("stomp.header_bytes_max", stomp.header_bytes_max, 256, 16 * MIB_, "10KiB",
          "Largest header section of one STOMP frame; at most stomp.frame_bytes_max."),
    DUR_("stomp.heartbeat_min_ms", stomp.heartbeat_min_ms, 100, HOUR_, false, "1s",
         "Smallest heart-beat interval the broker offers or accepts."),
    INT_("stomp.heartbeat_grace_pct", stomp.heartbeat_grace_pct, 0, 1000, false, "percent",
         "50", "Extra time past the agreed heart-beat before a silent client is dropped."),
    DUR_("stomp.connect_timeout_ms", stomp.connect_timeout_ms, 100, 10 * MIN_, false, "10s",
         "Close a connection that sends no CONNECT within this time."),
    INT_("stomp.subscriptions_max", stomp.subscriptions_max, 1, 1000000, false,
         "subscriptions", "1000", "Subscriptions per STOMP connection."),
    INT_("stomp.transactions_max", stomp.transactions_max, 0, 10000, false, "transactions",
         "16", "Open transactions per STOMP connection; 0 refuses BEGIN."),
    INT_("stomp.transaction_ops_max", stomp.transaction_ops_max, 1, 1000000, false,
         "frames", "10000", "SEND/ACK/NACK frames inside one transaction."),

    LISTEN_("mqtt.listen", mqtt.listen, "0.0.0.0:1883", "MQTT listener, or off."),
    SIZE_("mqtt.packet_bytes_max", mqtt.packet_bytes_max, KIB_, 256 * MIB_, "1MiB",
          "Largest MQTT packet; larger packets close the connection."),
    INT_("mqtt.inflight_max", mqtt.inflight_max, 1, 65535, false, "messages", "32",
         "Unacknowledged QoS 1/2 messages in flight to one client."),
    INT_("mqtt.queued_max", mqtt.queued_max, 0, 10000000, false, "messages", "1000",
         "Messages queued for one client beyond the in-flight window."),
    INT_("mqtt.keepalive_grace_pct", mqtt.keepalive_grace_pct, 0, 1000, false, "percent",
         "50", "Extra time past the keep-alive before a silent client is dropped."),
    INT_("mqtt.retained_max", mqtt.retained_max, 0, 100000000, false, "messages", "100000",
         "Retained messages kept broker-wide."),
    DUR_("mqtt.sys_interval_ms", mqtt.sys_interval_ms, SEC_, DAY_, true, "10s",
         "Interval between $SYS/ topic updates; 0 = off."),

    LISTEN_("http.listen", http.listen, "0.0.0.0:8161",
            "HTTP listener for probes, metrics and the admin API, or off."),
    SIZE_("http.request_bytes_max", http.request_bytes_max, KIB_, 64 * MIB_, "64KiB",
          "Largest HTTP request, headers and body."),
    INT_("http.header_count_max", http.header_count_max, 1, 10000, false, "headers", "100",
         "Most headers in one HTTP request."),
    STR_("http.admin_user", http.admin_user, 1, 63, true, false, &cfg__check_user, NULL,
         "User name for admin API mutations; set together with http.admin_password."),
    STR_("http.admin_password", http.admin_password, 1, 256, true, true, NULL, NULL,
         "Password for admin API mutations (secret)."),
    BOOL_("http.admin_open", http.admin_open, "false",
          "Allow admin API mutations without credentials."),
    INT_("http.metrics_destinations_max", http.metrics_destinations_max, 0, 100000, false,
         "destinations", "100", "Destinations with their own series in /metrics."),

    LISTEN_("cluster.listen", cluster.listen, "0.0.0.0:61617", "Peer listener, or off."),
    STR_("cluster.name", cluster.name, 1, 63, false, false, &cfg__check_name, "paxmq",
         "Cluster name; a peer must present the same."),
    STR_("cluster.token", cluster.token, 1, 256, true, true, NULL, NULL,
         "Shared secret a peer must present."),
    LIST_("cluster.initial_members", cluster.initial_members, 64, &cfg__check_name,
          "Node names forming the cluster at genesis; empty = single node."),
    STR_("cluster.discovery", cluster.discovery, 5, 257, true, false, &cfg__check_dns, NULL,
         "Peer discovery, dns:NAME (a headless Service or Compose service name)."),
    LIST_("cluster.peers", cluster.peers, 64, &cfg__check_peer,
          "Static peers as name=host:port, instead of cluster.discovery."),
    INT_("cluster.expect", cluster.expect, 1, 64, true, "nodes", "0",
         "Development mode: wait for this many nodes, then form the cluster; 0 = off."),
    DUR_("cluster.heartbeat_ms", cluster.heartbeat_ms, 10, 10 * SEC_, false, "100ms",
         "Master heartbeat interval; at most half of cluster.election_timeout_ms."),
    DUR_("cluster.election_timeout_ms", cluster.election_timeout_ms, 100, MIN_, false, "1s",
         "Silence from the master after which a node starts an election."),
    DUR_("cluster.lease_ms", cluster.lease_ms, 50, MIN_, false, "900ms",
         "Master lease; must be below cluster.election_timeout_ms."),
    INT_("cluster.drift_ppm", cluster.drift_ppm, 0, 100000, false, "ppm", "1000",
         "Clock drift margin subtracted from leases."),
    INT_("cluster.voters_max", cluster.voters_max, 1, 15, false, "nodes", "5",
         "Most voting members; further nodes join as non-voters."),
    INT_("cluster.voters_min", cluster.voters_min, 1, 15, false, "nodes", "1",
         "Fewest voting members kept when nodes leave; at most cluster.voters_max."),

    STR_("auth.users_file", auth.users_file, 1, PATH_MAX_, true, false, NULL, NULL,
         "File of name:crypt-hash:groups lines; none = no named users."),
    BOOL_("auth.anonymous", auth.anonymous, "true",
          "Accept clients that present no credentials."),

    INT_("broker.prefetch_default", broker.prefetch_default, 1, 1000000, false, "messages",
         "1000", "Unacknowledged messages per subscription unless the client asks otherwise."),
    INT_("broker.max_redeliveries", broker.max_redeliveries, 0, 1000, false, "deliveries",
         "6", "Redeliveries before a message moves to the dead-letter queue."),
    STR_("broker.dlq", broker.dlq, 1, 255, false, false, NULL, "ActiveMQ.DLQ",
         "Dead-letter queue name."),
    INT_("broker.queue_depth_max", broker.queue_depth_max, 1, 100000000, false, "messages",
         "100000", "Messages held by one queue."),
    SIZE_("broker.queue_bytes_max", broker.queue_bytes_max, 64 * KIB_, TIB_, "256MiB",
          "Message bytes held by one queue."),
    INT_("broker.destinations_max", broker.destinations_max, 1, 10000000, false,
         "destinations", "10000", "Queues and topics in the broker."),
    ENUM_("broker.full_policy", broker.full_policy, pmq_full_policy_t, full_policies, "fail",
          "What a producer sees when a queue is full: block (wait) or fail (error)."),
    DUR_("broker.expiry_check_ms", broker.expiry_check_ms, 10, HOUR_, false, "1s",
         "Interval between sweeps for expired messages."),

    BOOL_("store.sync", store.sync, "true",
          "fdatasync before acknowledging; false loses acknowledged data on a crash (tests)."),
    SIZE_("store.map_size", store.map_size, 16 * MIB_, 64 * TIB_, "4GiB",
          "LMDB map size: the most data the store can hold."),
    INT_("store.group_commit_max", store.group_commit_max, 1, 1000000, false, "entries",
         "4096", "Log entries written in one store transaction."),
    INT_("store.snapshot_entries", store.snapshot_entries, 100, 100000000, false, "entries",
         "100000", "Log entries after which a snapshot is taken."),
    SIZE_("store.snapshot_bytes", store.snapshot_bytes, MIB_, 64 * GIB_, "64MiB",
          "Log bytes after which a snapshot is taken; below store.map_size."),
};

const size_t cfg__key_count = PMQ_ARRAY_LEN(cfg__keys);

PMQ_STATIC_ASSERT(PMQ_ARRAY_LEN(cfg__keys) <= PMQ_CFG_KEYS_MAX, "raise PMQ_CFG_KEYS_MAX");
