/* The operator's view of a node over HTTP: probe checks, /healthz members, /metrics
 * families and the /api/v1 admin API. Reads broker, node, store, net and STOMP state;
 * durable changes (purge, delete) are proposed through the log and answered once
 * applied, like any client operation. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "admin_int.h"

void admin_set_draining(admin_t *a, bool draining) { a->draining = draining; }
bool admin_is_draining(const admin_t *a) { return a->draining; }

/* ---- probe checks ---- */

static bool check_recovered(void *arg, char *reason, size_t len) {
    (void)arg;
    (void)reason;
    (void)len;
    return true; /* the HTTP server starts once local recovery finished */
}

static bool check_store(void *arg, char *reason, size_t len) {
    admin_t *a = arg;
    node_stats_t ns;
    node_stats_get(a->d.node, &ns);
    if (ns.failed != 0) {
        snprintf(reason, len, "store failed: %s", pmq_strerror(ns.failed));
        return false;
    }
    return true;
}

static bool check_not_draining(void *arg, char *reason, size_t len) {
    admin_t *a = arg;
    if (a->draining) {
        snprintf(reason, len, "draining");
        return false;
    }
    return true;
}

static uint64_t store_stall_ms(void *arg) {
    admin_t *a = arg;
    store_stats_t st;
    store_stats_get(node_store(a->d.node), &st);
    return st.oldest_pending_age_ms;
}

/* ---- /healthz ---- */

static int healthz(void *arg, http_json_t *j) {
    admin_t *a = arg;
    node_stats_t ns;
    node_stats_get(a->d.node, &ns);
    broker_stats_t bs;
    broker_stats_get(a->d.broker, &bs);
    net_stats_t nets;
    net_stats_get(a->d.net, &nets);
    store_stats_t ss;
    store_stats_get(node_store(a->d.node), &ss);
    http_json_key(j, "node");
    http_json_cstr(j, a->node_name);
    http_json_key(j, "role");
    http_json_cstr(j, "standalone");
    http_json_key(j, "broker_id");
    http_json_cstr(j, node_broker_id(a->d.node));
    http_json_key(j, "uptime_ms");
    http_json_uint(j, pmq_mono_ms() - a->started_ms);
    http_json_key(j, "draining");
    http_json_bool(j, a->draining);
    http_json_key(j, "commit_index");
    http_json_uint(j, ns.last_index - ns.pending);
    http_json_key(j, "applied_index");
    http_json_uint(j, ns.applied_index);
    http_json_key(j, "snapshot_index");
    http_json_uint(j, ns.snapshot_index);
    http_json_key(j, "store");
    http_json_object_begin(j);
    http_json_key(j, "state");
    http_json_cstr(j, ns.failed ? "failed" : "ok");
    http_json_key(j, "error");
    http_json_cstr(j, ns.failed ? pmq_strerror(ns.failed) : NULL);
    http_json_key(j, "queued_ops");
    http_json_uint(j, ss.queued_ops);
    http_json_key(j, "log_entries");
    http_json_uint(j, ss.log_entries);
    http_json_object_end(j);
    http_json_key(j, "connections");
    http_json_uint(j, nets.open);
    http_json_key(j, "messages");
    http_json_uint(j, bs.messages);
    http_json_key(j, "consumers");
    http_json_uint(j, bs.consumers);
    http_json_key(j, "peers");
    http_json_array_begin(j);
    http_json_array_end(j);
    return 0;
}

/* ---- /metrics ---- */

typedef struct metric_u64 {
    const char *name;
    http_prom_type_t type;
    const char *help;
    uint64_t value;
} metric_u64_t;

static int write_simple(pmq_buf_t *out, const metric_u64_t *m, size_t n) {
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = http_prom_family(out, m[i].name, m[i].type, m[i].help);
        if (rc == 0) {
            rc = http_prom_sample_u64(out, m[i].name, NULL, 0, m[i].value);
        }
    }
    return rc;
}

typedef struct dest_metrics {
    pmq_buf_t *out;
    const char *family;
    int which; /* 0 depth, 1 consumers, 2 enqueued, 3 dequeued */
    uint32_t shown, cap;
    uint64_t other;
    bool any_other;
    int rc;
} dest_metrics_t;

static uint64_t dest_value(const broker_dest_stats_t *s, int which) {
    switch (which) {
    case 0:
        return s->depth;
    case 1:
        return s->consumers;
    case 2:
        return s->enqueued;
    default:
        return s->dequeued;
    }
}

static void dest_sample(void *arg, const broker_dest_stats_t *s) {
    dest_metrics_t *m = arg;
    if (m->rc != 0) {
        return;
    }
    if (m->shown >= m->cap) {
        /* Bounded cardinality (http.metrics_destinations_max): the rest are summed. */
        m->other += dest_value(s, m->which);
        m->any_other = true;
        return;
    }
    m->shown++;
    char name[NAME_MAX_BYTES];
    snprintf(name, sizeof(name), "%.*s", (int)s->name.len, s->name.ptr);
    http_prom_label_t l[2] = {{"destination", name}, {"type", s->is_topic ? "topic" : "queue"}};
    m->rc = http_prom_sample_u64(m->out, m->family, l, 2, dest_value(s, m->which));
}

static int write_destinations(admin_t *a, pmq_buf_t *out) {
    static const struct {
        const char *name;
        http_prom_type_t type;
        const char *help;
    } fams[4] = {
        {"paxmq_destination_messages", HTTP_PROM_GAUGE, "Messages held by the destination."},
        {"paxmq_destination_consumers", HTTP_PROM_GAUGE, "Consumers attached."},
        {"paxmq_destination_enqueued_total", HTTP_PROM_COUNTER, "Messages added since start."},
        {"paxmq_destination_dequeued_total", HTTP_PROM_COUNTER, "Messages delivered since start."},
    };
    for (int i = 0; i < 4; i++) {
        int rc = http_prom_family(out, fams[i].name, fams[i].type, fams[i].help);
        dest_metrics_t m = {out, fams[i].name, i, 0, a->d.metrics_destinations_max, 0, false, rc};
        broker_dest_foreach(a->d.broker, dest_sample, &m);
        if (m.rc == 0 && m.any_other) {
            http_prom_label_t l[2] = {{"destination", "_other"}, {"type", "other"}};
            m.rc = http_prom_sample_u64(out, fams[i].name, l, 2, m.other);
        }
        if (m.rc != 0) {
            return m.rc;
        }
    }
    return 0;
}

static int write_store(admin_t *a, pmq_buf_t *out) {
    store_stats_t st;
    store_stats_get(node_store(a->d.node), &st);
    double bounds[STORE_COMMIT_BUCKETS - 1];
    uint64_t counts[STORE_COMMIT_BUCKETS];
    for (unsigned i = 0; i < STORE_COMMIT_BUCKETS; i++) {
        counts[i] = st.commit_us_buckets[i];
        if (i + 1 < STORE_COMMIT_BUCKETS) {
            bounds[i] = (double)store_commit_bucket_upper_us(i) / 1e6;
        }
    }
    int rc = http_prom_family(out, "paxmq_store_commit_seconds", HTTP_PROM_HISTOGRAM,
                              "Latency of one group-commit write transaction including sync.");
    if (rc == 0) {
        rc = http_prom_histogram(out, "paxmq_store_commit_seconds", NULL, 0, bounds, counts,
                                 STORE_COMMIT_BUCKETS - 1, (double)st.commit_us_sum / 1e6);
    }
    metric_u64_t m[] = {
        {"paxmq_store_transactions_total", HTTP_PROM_COUNTER,
         "Write transactions committed.",
         st.txns},
        {"paxmq_store_operations_total", HTTP_PROM_COUNTER,
         "Store operations made durable.",
         st.ops},
        {"paxmq_store_written_bytes_total", HTTP_PROM_COUNTER,
         "Bytes written to LMDB.",
         st.bytes_written},
        {"paxmq_store_queued_operations", HTTP_PROM_GAUGE,
         "Operations waiting for the store thread.",
         st.queued_ops},
        {"paxmq_log_entries", HTTP_PROM_GAUGE,
         "Entries in the local log (since the last snapshot).",
         st.log_entries},
        {"paxmq_log_bytes", HTTP_PROM_GAUGE, "Bytes of the local log.", st.log_bytes},
    };
    return rc == 0 ? write_simple(out, m, PMQ_ARRAY_LEN(m)) : rc;
}

static int write_mqtt(admin_t *a, pmq_buf_t *out) {
    mqtt_server_stats_t ms = {0};
    if (a->d.mqtt != NULL) {
        mqtt_server_stats_get(a->d.mqtt, &ms);
    }
    broker_mqtt_stats_t bm;
    broker_mqtt_stats_get(a->d.broker, &bm);
    stomp_server_stats_t ss = {0};
    if (a->d.stomp != NULL) {
        stomp_server_stats_get(a->d.stomp, &ss);
    }
    metric_u64_t m[] = {
        {"paxmq_mqtt_connections", HTTP_PROM_GAUGE, "Open MQTT connections.", ms.connections},
        {"paxmq_mqtt_sessions", HTTP_PROM_GAUGE,
         "MQTT sessions known (persistent ones also while offline).", ms.sessions},
        {"paxmq_mqtt_persistent_sessions", HTTP_PROM_GAUGE,
         "Persistent (clean session 0) MQTT sessions in the log.", bm.durable_sessions},
        {"paxmq_mqtt_retained_messages", HTTP_PROM_GAUGE, "Retained messages.", bm.retained},
        {"paxmq_mqtt_packets_received_total", HTTP_PROM_COUNTER, "MQTT packets received.",
         ms.packets_in},
        {"paxmq_mqtt_packets_sent_total", HTTP_PROM_COUNTER, "MQTT packets sent.",
         ms.packets_out},
        {"paxmq_mqtt_protocol_errors_total", HTTP_PROM_COUNTER,
         "MQTT connections closed for malformed input.", ms.protocol_errors},
        {"paxmq_mqtt_keepalive_timeouts_total", HTTP_PROM_COUNTER,
         "MQTT connections closed for missed keepalive.", ms.keepalive_timeouts},
        {"paxmq_mqtt_wills_published_total", HTTP_PROM_COUNTER, "Will messages published.",
         ms.wills_published},
        {"paxmq_mqtt_dropped_total", HTTP_PROM_COUNTER,
         "MQTT deliveries dropped (session window or queue full).",
         ms.dropped + bm.queued_dropped},
        {"paxmq_auth_failures_total", HTTP_PROM_COUNTER,
         "Connections refused for wrong or missing credentials (all protocols).",
         ms.auth_failures + ss.auth_failures},
    };
    return write_simple(out, m, PMQ_ARRAY_LEN(m));
}

static int metrics(void *arg, pmq_buf_t *out) {
    admin_t *a = arg;
    broker_stats_t bs;
    broker_stats_get(a->d.broker, &bs);
    node_stats_t ns;
    node_stats_get(a->d.node, &ns);
    net_stats_t nets;
    net_stats_get(a->d.net, &nets);
    stomp_server_stats_t ss = {0};
    if (a->d.stomp != NULL) {
        stomp_server_stats_get(a->d.stomp, &ss);
    }
    metric_u64_t m[] = {
        {"paxmq_is_master", HTTP_PROM_GAUGE,
         "1 when this node executes state changes (a single node always does).",
         1},
        {"paxmq_ready", HTTP_PROM_GAUGE,
         "1 when the node accepts clients (not draining, store healthy).",
         !a->draining && ns.failed == 0},
        {"paxmq_connections", HTTP_PROM_GAUGE,
         "Open client connections (all protocols).",
         nets.open},
        {"paxmq_stomp_connections", HTTP_PROM_GAUGE, "Open STOMP connections.", ss.sessions},
        {"paxmq_connections_accepted_total", HTTP_PROM_COUNTER,
         "Client connections accepted.",
         nets.accepted},
        {"paxmq_connections_rejected_total", HTTP_PROM_COUNTER,
         "Connections refused over net.connections_max.",
         ss.rejected_connections},
        {"paxmq_network_received_bytes_total", HTTP_PROM_COUNTER,
         "Bytes read from clients.",
         nets.bytes_in},
        {"paxmq_network_sent_bytes_total", HTTP_PROM_COUNTER,
         "Bytes written to clients.",
         nets.bytes_out},
        {"paxmq_messages_published_persistent_total", HTTP_PROM_COUNTER,
         "Persistent messages stored through the log.",
         bs.published_persistent},
        {"paxmq_messages_published_volatile_total", HTTP_PROM_COUNTER,
         "Non-persistent messages published.",
         bs.published_volatile},
        {"paxmq_messages_delivered_total", HTTP_PROM_COUNTER,
         "Deliveries to consumers.",
         bs.delivered},
        {"paxmq_messages_acked_total", HTTP_PROM_COUNTER, "Deliveries acknowledged.", bs.acked},
        {"paxmq_messages_redelivered_total", HTTP_PROM_COUNTER,
         "Messages returned for redelivery.",
         bs.redelivered},
        {"paxmq_messages_dead_lettered_total", HTTP_PROM_COUNTER,
         "Messages moved to the dead-letter queue (or discarded if non-persistent).",
         bs.dlq_moves},
        {"paxmq_messages_expired_total", HTTP_PROM_COUNTER,
         "Expired messages dropped.",
         bs.expired},
        {"paxmq_messages_dropped_slow_consumer_total", HTTP_PROM_COUNTER,
         "Topic messages dropped for subscribers that could not keep up.",
         bs.dropped_slow},
        {"paxmq_messages_stored", HTTP_PROM_GAUGE,
         "Messages held in all destinations.",
         bs.messages},
        {"paxmq_message_bytes_stored", HTTP_PROM_GAUGE,
         "Bytes of messages held.",
         bs.message_bytes},
        {"paxmq_consumers", HTTP_PROM_GAUGE, "Subscriptions attached.", bs.consumers},
        {"paxmq_destinations", HTTP_PROM_GAUGE,
         "Queues and durable subscriptions.",
         bs.destinations},
        {"paxmq_log_last_index", HTTP_PROM_GAUGE,
         "Index of the last proposed log entry.",
         ns.last_index},
        {"paxmq_log_applied_index", HTTP_PROM_GAUGE,
         "Index of the last applied log entry.",
         ns.applied_index},
        {"paxmq_snapshots_total", HTTP_PROM_COUNTER, "Snapshots taken since start.", ns.snapshots},
        {"paxmq_stomp_frames_received_total", HTTP_PROM_COUNTER,
         "STOMP frames received.",
         ss.frames_in},
        {"paxmq_stomp_frames_sent_total", HTTP_PROM_COUNTER, "STOMP frames sent.", ss.frames_out},
        {"paxmq_stomp_errors_sent_total", HTTP_PROM_COUNTER,
         "STOMP ERROR frames sent (each closes a connection).",
         ss.errors_sent},
        {"paxmq_stomp_heartbeat_timeouts_total", HTTP_PROM_COUNTER,
         "STOMP connections closed for missed heart-beats.",
         ss.heartbeat_timeouts},
    };
    int rc = write_simple(out, m, PMQ_ARRAY_LEN(m));
    if (rc == 0) {
        rc = write_mqtt(a, out);
    }
    if (rc == 0) {
        rc = write_store(a, out);
    }
    if (rc == 0) {
        rc = write_destinations(a, out);
    }
    return rc;
}

void admin_http_app(admin_t *a, http_app_t *app) {
    app->arg = a;
    app->store_stall_ms = store_stall_ms;
    app->healthz = healthz;
    app->metrics = metrics;
}

int admin_new(admin_t **out, uv_loop_t *loop, const admin_deps_t *deps) {
    admin_t *a = pmq_calloc(1, sizeof(*a));
    if (a == NULL) {
        return PMQ_ENOMEM;
    }
    a->d = *deps;
    a->loop = loop;
    a->node_name = pmq_strdup(deps->node_name ? deps->node_name : "paxmq");
    if (a->node_name == NULL) {
        pmq_free(a);
        return PMQ_ENOMEM;
    }
    a->started_ms = pmq_mono_ms();
    uv_timer_init(loop, &a->drain_timer);
    a->drain_timer.data = a;
    *out = a;
    return 0;
}

static void on_timer_closed(uv_handle_t *h) {
    admin_t *a = h->data;
    pmq_free(a->node_name);
    pmq_free(a);
}

void admin_free(admin_t *a) {
    if (a != NULL) {
        uv_close((uv_handle_t *)&a->drain_timer, on_timer_closed);
    }
}

int admin__register_api(admin_t *a, http_server_t *srv);

int admin_register(admin_t *a, http_server_t *srv) {
    int rc = http_server_add_check(srv, HTTP_PROBE_STARTUP, "recovered", check_recovered, a);
    if (rc == 0) {
        rc = http_server_add_check(srv, HTTP_PROBE_READY | HTTP_PROBE_LIVE, "store", check_store,
                                   a);
    }
    if (rc == 0) {
        rc = http_server_add_check(srv, HTTP_PROBE_READY, "not-draining", check_not_draining, a);
    }
    return rc == 0 ? admin__register_api(a, srv) : rc;
}
