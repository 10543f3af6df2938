/* admin: what paxmqd tells operators over HTTP — probe checks, /healthz members,
 * /metrics families and the /api/v1 admin API — built from the state of the broker,
 * the node, the store, the network and the protocol servers. It reads that state and
 * changes durable state only by proposing commands (purge, delete) through the log.
 *
 * Thread: loop thread only. */
#ifndef PAXMQ_ADMIN_H
#define PAXMQ_ADMIN_H

#include "paxmq/broker.h"
#include "paxmq/http.h"
#include "paxmq/mqtt.h"
#include "paxmq/net.h"
#include "paxmq/node.h"
#include "paxmq/stomp.h"

typedef struct admin admin_t;

typedef struct admin_deps {
    const char *node_name;
    broker_t *broker;
    node_t *node;
    net_t *net;
    stomp_server_t *stomp;          /* NULL when STOMP is off */
    mqtt_server_t *mqtt;            /* NULL when MQTT is off */
    uint32_t metrics_destinations_max;
    uint32_t drain_grace_ms;        /* paxmqctl drain: NotReady for this long, then goodbye */
} admin_deps_t;

/* Fills the http_app_t callbacks (store stall, healthz, metrics) for http_server_new. */
void admin_http_app(admin_t *a, http_app_t *app);
/* Creates the admin state (deps copied, pointers borrowed). PMQ_ENOMEM. */
PMQ_MUST_USE int admin_new(admin_t **out, uv_loop_t *loop, const admin_deps_t *deps);
/* Registers probe checks and the /api/v1 routes on srv. */
PMQ_MUST_USE int admin_register(admin_t *a, http_server_t *srv);
/* True while draining (paxmqctl drain or shutdown): /readyz reports it. */
void admin_set_draining(admin_t *a, bool draining);
bool admin_is_draining(const admin_t *a);
void admin_free(admin_t *a);

#endif
