/* $SYS/broker/... statistics (mosquitto's names), published every mqtt.sys_interval_ms as
 * volatile QoS 0 messages through the broker, so MQTT and STOMP subscribers of those topics
 * see them, and kept here so that a new subscriber gets the latest values at once with
 * RETAIN set, as retained messages would be; they never enter the log. "#" and "+/..." do
 * not match them (§4.7.2): subscribe to "$SYS/#". */
#include <stdio.h>

#include "mqtt_int.h"

enum {
    SYS_VERSION,
    SYS_UPTIME,
    SYS_CLIENTS_CONNECTED,
    SYS_CLIENTS_TOTAL,
    SYS_MESSAGES_RECEIVED,
    SYS_MESSAGES_SENT,
    SYS_SUBSCRIPTIONS,
    SYS_RETAINED,
    SYS_STORED,
    SYS_BYTES_RECEIVED,
    SYS_BYTES_SENT,
    SYS_COUNT,
};

static const char *const sys_topics[SYS_COUNT] = {
    "$SYS/broker/version",
    "$SYS/broker/uptime",
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/total",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
    "$SYS/broker/store/messages/count",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
};

static void sys_values(mqtt_server_t *srv, uint64_t now_ms, char v[SYS_COUNT][64]) {
    net_stats_t ns;
    broker_stats_t bs;
    broker_mqtt_stats_t ms;
    net_stats_get(srv->net, &ns);
    broker_stats_get(srv->broker, &bs);
    broker_mqtt_stats_get(srv->broker, &ms);
    const unsigned long long n[SYS_COUNT] = {
        [SYS_UPTIME] = (now_ms - srv->started_ms) / 1000,
        [SYS_CLIENTS_CONNECTED] = srv->conn_count,
        [SYS_CLIENTS_TOTAL] = pmq_map_count(&srv->sessions),
        [SYS_MESSAGES_RECEIVED] = srv->st.messages_in,
        [SYS_MESSAGES_SENT] = srv->st.messages_out,
        [SYS_SUBSCRIPTIONS] = ms.filters,
        [SYS_RETAINED] = ms.retained,
        [SYS_STORED] = bs.messages,
        [SYS_BYTES_RECEIVED] = ns.bytes_in,
        [SYS_BYTES_SENT] = ns.bytes_out,
    };
    for (int i = 0; i < SYS_COUNT; i++) {
        snprintf(v[i], sizeof(v[i]), "%llu", n[i]);
    }
    snprintf(v[SYS_VERSION], sizeof(v[0]), "%s", srv->server_name);
    snprintf(v[SYS_UPTIME], sizeof(v[0]), "%llu seconds", n[SYS_UPTIME]);
}

static int sys_store(mqtt_server_t *srv, int i, const char *value) {
    if (srv->sys == NULL) {
        srv->sys = pmq_calloc(SYS_COUNT, sizeof(*srv->sys));
        if (srv->sys == NULL) {
            return PMQ_ENOMEM;
        }
        srv->sys_count = SYS_COUNT;
    }
    mqtt_sys_entry_t *e = &srv->sys[i];
    if (e->topic == NULL && (e->topic = pmq_strdup(sys_topics[i])) == NULL) {
        return PMQ_ENOMEM;
    }
    char *copy = pmq_strdup(value);
    if (copy == NULL) {
        return PMQ_ENOMEM;
    }
    pmq_free(e->payload);
    e->payload = copy;
    return 0;
}

void mqtt__sys_publish(mqtt_server_t *srv, uint64_t now_ms) {
    char v[SYS_COUNT][64];
    sys_values(srv, now_ms, v);
    rlog_header_t h = {PMQ_SLICE_LIT(BROKER_MQTT_QOS_HEADER), PMQ_SLICE_LIT("0")};
    rlog_msg_props_t props = {.priority = 4, .timestamp_ms = pmq_wall_ms()};
    for (int i = 0; i < SYS_COUNT; i++) {
        if (sys_store(srv, i, v[i]) != 0 || !mqtt__to_dest(srv, pmq_slice_cstr(sys_topics[i]))) {
            continue;
        }
        if (broker_publish_volatile(srv->broker, pmq_buf_slice(&srv->topic), &props, &h, 1,
                                    pmq_slice_cstr(v[i]), pmq_wall_ms()) != 0) {
            PMQ_LOG_DEBUG("mqtt_sys_publish_failed", "topic=%s", sys_topics[i]);
        }
    }
}

void mqtt__sys_replay(mqtt_sess_t *s, pmq_slice_t filter, uint8_t qos) {
    (void)qos; /* $SYS messages are QoS 0 */
    mqtt_server_t *srv = s->srv;
    for (size_t i = 0; i < srv->sys_count && s->conn != NULL; i++) {
        const mqtt_sys_entry_t *e = &srv->sys[i];
        if (e->topic != NULL && e->payload != NULL &&
            mqtt_topic_matches(filter, pmq_slice_cstr(e->topic))) {
            mqtt__write_raw(s->conn, pmq_slice_cstr(e->topic), pmq_slice_cstr(e->payload), true);
        }
    }
}

void mqtt__sys_free(mqtt_server_t *srv) {
    for (size_t i = 0; i < srv->sys_count; i++) {
        pmq_free(srv->sys[i].topic);
        pmq_free(srv->sys[i].payload);
    }
    pmq_free(srv->sys);
    srv->sys = NULL;
    srv->sys_count = 0;
}
