/* broker: destinations, subscriptions, dispatch, acks, redelivery, DLQ and expiry, with
 * a protocol-neutral message model. No I/O: the broker talks to the outside through
 * two tables of callbacks (broker_log_t to propose commands; broker_consumer_ops_t to
 * hand messages to a protocol session) and takes the time as an argument.
 *
 * Durable state (persistent messages, durable subscriptions, the message sequence
 * counter) changes ONLY in broker_apply(), from committed log commands, in index order;
 * apply is deterministic. Everything else (consumers, in-flight deliveries,
 * non-persistent messages, temp destinations) is volatile and lives beside it.
 *
 * Thread: everything here runs on the loop thread. */
#ifndef PAXMQ_BROKER_H
#define PAXMQ_BROKER_H

#include "paxmq/buf.h"
#include "paxmq/rlog.h"

typedef struct broker broker_t;
typedef struct broker_sub broker_sub_t;
typedef struct pmq_msg pmq_msg_t;

/* A message: immutable after creation, reference-counted and shared by every queue
 * and delivery that holds it (STYLE §4 rule 5). */
struct pmq_msg {
    uint32_t refs;
    bool persistent;
    uint8_t priority;      /* 0..9, higher first */
    uint64_t seq;          /* persistent: assigned by apply; volatile: bit 63 set */
    uint64_t expires_ms;   /* absolute wall clock, 0 = never */
    uint64_t timestamp_ms;
    pmq_slice_t id;        /* "ID:..." message-id, stable across restarts when persistent */
    pmq_slice_t dest;      /* destination it was published to, e.g. "/topic/a.b" */
    uint32_t header_count;
    rlog_header_t *headers;/* user and standard headers, raw bytes, in arrival order */
    pmq_slice_t body;
    size_t bytes;          /* memory accounted to queues */
};

void pmq_msg_ref(pmq_msg_t *m);
void pmq_msg_unref(pmq_msg_t *m);
/* Finds a header by name; false when absent. */
bool pmq_msg_header(const pmq_msg_t *m, const char *name, pmq_slice_t *value);

typedef enum broker_full_policy {
    BROKER_FULL_BLOCK = 0, /* the producer's connection stops being read until there is room */
    BROKER_FULL_FAIL = 1,  /* the SEND fails with an error naming the queue */
} broker_full_policy_t;

typedef struct broker_options {
    const char *broker_id;        /* message-id prefix, e.g. the cluster id */
    uint32_t prefetch_default;    /* in-flight messages per consumer */
    uint32_t max_redeliveries;    /* after this many redeliveries the next failure -> DLQ */
    const char *dlq;              /* queue name without prefix, e.g. "ActiveMQ.DLQ" */
    uint64_t queue_depth_max;     /* messages per queue */
    uint64_t queue_bytes_max;     /* message bytes per queue */
    uint32_t destinations_max;
    broker_full_policy_t full_policy;
    uint64_t boot_nonce;          /* distinguishes volatile message ids across restarts */
    /* Called when work for broker_run appears outside broker_run (a consumer drained, a
     * producer may be woken): the loop must not block before calling broker_run. May be
     * NULL. Must not call back into the broker. */
    void (*kick)(void *arg);
    void *kick_arg;
} broker_options_t;

typedef void (*broker_done_cb)(void *cookie, int status);

/* How the broker proposes a command to the replicated log. propose copies cmd; once the
 * command is committed and applied (broker_apply ran for it) or has failed, done is
 * called exactly once with 0 or a negative PMQ_E*. It must not call done from inside
 * propose. */
typedef struct broker_log {
    void *arg;
    PMQ_MUST_USE int (*propose)(void *arg, pmq_slice_t cmd, broker_done_cb done, void *cookie);
} broker_log_t;

typedef enum broker_ack_mode {
    BROKER_ACK_AUTO = 0,
    BROKER_ACK_CLIENT = 1,            /* cumulative */
    BROKER_ACK_CLIENT_INDIVIDUAL = 2,
} broker_ack_mode_t;

/* One delivery handed to a session. tag identifies it for ACK/NACK. */
typedef struct broker_delivery {
    pmq_msg_t *msg;            /* borrowed; ref it to keep it past the call */
    uint64_t tag;
    bool redelivered;
    uint32_t redeliveries;
    pmq_slice_t dest;          /* destination to show the consumer */
    pmq_slice_t original_dest; /* set for DLQ deliveries */
    bool soft_limit;           /* topic delivery: see broker_consumer_ops_t.deliver */
} broker_delivery_t;

typedef struct broker_consumer_ops {
    /* Write one delivery to the consumer. Return 0 when written; PMQ_EAGAIN when written
     * but the connection is now over its outbound limit; PMQ_EFULL when not written.
     * After PMQ_EAGAIN or PMQ_EFULL the subscription is paused until broker_sub_resume.
     * With d->soft_limit (topic deliveries) the consumer should write even over its
     * limit, up to a hard cap, and answer PMQ_EAGAIN: the publisher is then held back
     * (broker_wait_congestion) instead of the message being dropped. Must not call back
     * into the broker. */
    int (*deliver)(void *owner, broker_sub_t *sub, const broker_delivery_t *d);
} broker_consumer_ops_t;

typedef struct broker_sub_spec {
    pmq_slice_t dest;          /* "/queue/x", "/topic/a.*", "/temp-queue/x", ... */
    broker_ack_mode_t ack_mode;
    uint32_t prefetch;         /* 0 = broker default */
    pmq_slice_t client_id;     /* durable topic subscription: both set */
    pmq_slice_t durable_name;
    void *user;                /* returned by broker_sub_user */
    /* Durable subscriptions only, optional: called once when the subscription is durable
     * (at once when it already existed, after its log entry applied when it is new; a
     * non-zero status when that entry failed). Not called when broker_subscribe fails.
     * A SUBSCRIBE receipt waits for it. */
    void (*durable_done)(void *arg, int status);
    void *durable_done_arg;
} broker_sub_spec_t;

/* Creates a broker. opts strings are copied. Takes nothing. PMQ_ENOMEM, PMQ_EINVAL
 * (broker_id longer than 64 bytes). */
PMQ_MUST_USE int broker_new(broker_t **out, const broker_options_t *opts, const broker_log_t *log);
/* Frees everything; subscriptions must have been closed. NULL is a no-op. */
void broker_free(broker_t *b);

/* ---- the deterministic state machine ---- */

/* Applies one committed command at log index. Deterministic: the same commands give
 * the same durable state on every node. Returns PMQ_ECORRUPT for bytes that do not
 * decode (the caller treats that as fatal: the log is damaged). */
PMQ_MUST_USE int broker_apply(broker_t *b, uint64_t index, pmq_slice_t cmd);
/* A hash of the durable state, equal on nodes that applied the same log. */
uint64_t broker_state_hash(const broker_t *b);
/* Serialises the durable state (snapshot) / restores it into an empty broker. */
PMQ_MUST_USE int broker_snapshot_encode(const broker_t *b, pmq_buf_t *out);
PMQ_MUST_USE int broker_snapshot_restore(broker_t *b, pmq_slice_t bytes);
uint64_t broker_last_applied(const broker_t *b);

/* ---- producers ---- */

/* Validates a destination name for SEND/SUBSCRIBE. Fills reason on failure. */
bool broker_dest_is_valid(pmq_slice_t dest, bool for_subscribe, char *reason, size_t len);
/* Whether a SEND to dest would be stored in the log (a persistent message to a queue or
 * topic; temp destinations never are). */
bool broker_dest_is_durable(pmq_slice_t dest);
/* Admission check before a SEND: 0, or PMQ_EFULL when dest is a full queue (the policy
 * says what the caller does with it). */
PMQ_MUST_USE int broker_admit(broker_t *b, pmq_slice_t dest);
/* Reserves/releases admission for a proposed persistent publish (so a burst cannot
 * overshoot the depth limit while proposals are in flight). */
void broker_admit_reserve(broker_t *b, pmq_slice_t dest);
void broker_admit_release(broker_t *b, pmq_slice_t dest);
/* Publishes a non-persistent message directly (no log). Headers/body are copied.
 * PMQ_ENOTFOUND for a temp destination that no longer exists. */
PMQ_MUST_USE int broker_publish_volatile(broker_t *b, pmq_slice_t dest, const rlog_msg_props_t *p,
                                         const rlog_header_t *headers, size_t header_count,
                                         pmq_slice_t body, uint64_t now_ms);
/* Registers a wake-up for a producer blocked on a full queue: cb(arg) is called once
 * when dest has room again (or when the broker is freed). Returns a handle to cancel. */
typedef struct broker_waiter broker_waiter_t;
PMQ_MUST_USE int broker_wait_for_room(broker_t *b, pmq_slice_t dest, void (*cb)(void *), void *arg,
                                      broker_waiter_t **out);
void broker_waiter_cancel(broker_waiter_t *w);

/* Producer flow control for topics: after a publish (volatile or applied) that reached
 * a subscriber now over its outbound limit, registers cb(arg) to run once that
 * subscriber drained (or left). Returns 0 (the caller should stop reading from its
 * producer until cb) or PMQ_ENOTFOUND when the last publish congested nobody. */
PMQ_MUST_USE int broker_wait_congestion(broker_t *b, void (*cb)(void *), void *arg,
                                        broker_waiter_t **out);

/* ---- consumers ---- */

/* Subscribes owner (a session) to spec->dest. Durable topic subscriptions are created
 * through the log first: then done is called once the subscription exists (the sub is
 * returned immediately but delivers only after that). PMQ_EINVAL (bad destination),
 * PMQ_EEXIST (durable subscription already active), PMQ_ETOOBIG (limits). */
PMQ_MUST_USE int broker_subscribe(broker_t *b, const broker_sub_spec_t *spec,
                                  const broker_consumer_ops_t *ops, void *owner,
                                  broker_sub_t **out);
/* Closes a subscription: its unacked deliveries are redelivered to other consumers.
 * When remove_durable is set and it is a durable subscription, the durable
 * subscription itself is deleted through the log. */
void broker_unsubscribe(broker_t *b, broker_sub_t *sub, bool remove_durable);
/* Deletes the durable subscription (client_id, name) through the log, whether or not a
 * consumer is attached (ActiveMQ: UNSUBSCRIBE with activemq.subscriptionName). done is
 * called once applied. PMQ_ENOTFOUND when no such durable subscription exists. */
PMQ_MUST_USE int broker_durable_remove(broker_t *b, pmq_slice_t client_id, pmq_slice_t name,
                                       broker_done_cb done, void *cookie);
void *broker_sub_user(const broker_sub_t *sub);
/* The connection drained: deliveries may resume. */
void broker_sub_resume(broker_t *b, broker_sub_t *sub);
/* Acknowledges delivery tag (cumulative in CLIENT mode). When done is set, it is called
 * once the ack is durable (or immediately for volatile messages). PMQ_ENOTFOUND when
 * the tag is not in flight on this subscription. */
PMQ_MUST_USE int broker_ack(broker_t *b, broker_sub_t *sub, uint64_t tag, broker_done_cb done,
                            void *cookie);
/* Rejects delivery tag (cumulative in CLIENT mode): redelivered, or moved to the DLQ
 * after max_redeliveries. PMQ_ENOTFOUND. */
PMQ_MUST_USE int broker_nack(broker_t *b, broker_sub_t *sub, uint64_t tag);
/* Finds the tag of an in-flight delivery by message-id (STOMP 1.0/1.1 ACK). */
PMQ_MUST_USE int broker_sub_find_tag(const broker_sub_t *sub, pmq_slice_t message_id,
                                     uint64_t *tag);
/* Encodes the ACK commands for the given tags into a transaction without applying them
 * (STOMP transactional ACK at COMMIT). Volatile messages are acked directly. Tags
 * stay in flight until the transaction commits; see broker_txn_acked. */
PMQ_MUST_USE int broker_ack_encode(broker_t *b, broker_sub_t *sub, uint64_t tag, pmq_buf_t *txn,
                                   size_t mark, bool *has_durable);

/* ---- temp destinations (owned by one connection) ---- */

/* Resolves "/temp-queue/x" or "/temp-topic/x" of owner to a broker-wide name
 * ("/remote-temp-queue/ID:..."), creating the destination on first use. */
PMQ_MUST_USE int broker_temp_resolve(broker_t *b, void *owner, uint64_t owner_id, pmq_slice_t dest,
                                     pmq_buf_t *out);
/* Deletes every temp destination owner created. */
void broker_owner_gone(broker_t *b, void *owner);

/* ---- the loop calls this once per iteration ---- */

/* Runs pending dispatch (bounded work per call), flushes batched ACK/DLQ/EXPIRE
 * proposals, and expires messages. Returns true when work remains (call again soon). */
bool broker_run(broker_t *b, uint64_t now_ms);
/* Scans all queues for expired messages (called every broker.expiry_check_ms). */
void broker_expire_scan(broker_t *b, uint64_t now_ms);

/* ---- statistics for /metrics and the admin API ---- */

typedef struct broker_dest_stats {
    pmq_slice_t name;
    bool is_topic;
    uint64_t depth, bytes, inflight, consumers;
    uint64_t enqueued, dequeued, expired, dlq_moves, redelivered, dropped;
} broker_dest_stats_t;
typedef struct broker_stats {
    uint64_t destinations, consumers, messages, message_bytes;
    uint64_t published_persistent, published_volatile, delivered, acked;
    uint64_t redelivered, dlq_moves, expired, dropped_slow;
    uint64_t applied_commands, last_applied_index;
} broker_stats_t;
void broker_stats_get(const broker_t *b, broker_stats_t *out);
/* Calls cb for each destination (queues, durable subscriptions, topics). */
void broker_dest_foreach(const broker_t *b, void (*cb)(void *arg, const broker_dest_stats_t *s),
                         void *arg);

/* ---- MQTT sessions and retained messages ----
 * (src/broker/mqtt_state.c, src/broker/retain.c; the model is in docs/MQTT.md "Sessions".)
 *
 * An MQTT session is the broker-side state of one MQTT client id: a set of topic filters,
 * each stored as a broker topic pattern ("/topic/a.*.>", see mqtt_topic_to_stomp) with a
 * granted QoS. A message published to a topic reaches a session once, at the effective
 * QoS min(message QoS, highest QoS of its matching filters), however many filters match
 * (MQTT 3.1.1 §3.3.5); a filter starting with a wildcard never matches a topic starting
 * with '$' (§4.7.2).
 *
 * A durable session (clean session 0) is created, changed and deleted only by MQTT
 * commands in broker_apply. It owns a queue "mqtt:CLIENT" that receives, in apply, every
 * persistent message it should get at an effective QoS >= 1, up to the session's limit
 * (further ones are dropped for that session and counted). Its inbound QoS 2 packet ids
 * and outbound QoS 2 state are durable too. A volatile session (clean session 1) is
 * node-local and changed directly, never through the log. While a session is bound to an
 * owner (online), every message that is not queued for it is handed to ops->deliver.
 *
 * Retained messages: RLOG_CMD_RETAIN sets or clears the one retained message of a topic.
 * Thread: the loop thread, like everything in the broker. */

/* Filters one session may hold; beyond it SUBSCRIBE gets the failure return code. */
#define BROKER_MQTT_FILTERS_MAX 1024u
/* A durable session's queue is named this prefix followed by the client id. */
#define BROKER_MQTT_QUEUE_PREFIX "mqtt:"
/* Header carrying the MQTT QoS a message was published with ("0", "1" or "2"), named as
 * ActiveMQ names the property, so STOMP consumers see it and it survives the log. */
#define BROKER_MQTT_QOS_HEADER "ActiveMQ.MQTT.QoS"

typedef struct broker_msess broker_msess_t;

typedef struct broker_mqtt_ops {
    /* m matched the filters of the online session bound to owner and is not queued for it;
     * qos is the effective QoS. Return 0 when taken (written now, or kept with
     * pmq_msg_ref), PMQ_EAGAIN when written but the client is now behind (the publisher
     * is held back as for a congested topic subscriber, see broker_wait_congestion, until
     * broker_msess_drained), PMQ_EFULL when dropped (counted). Must not call back into
     * the broker. */
    int (*deliver)(void *owner, pmq_msg_t *m, uint8_t qos);
} broker_mqtt_ops_t;

typedef struct broker_mqtt_stats {
    uint64_t durable_sessions, volatile_sessions, filters, retained;
    uint64_t queued_dropped; /* messages not queued because a session was at its limit */
    uint64_t direct_dropped; /* messages an online session refused (PMQ_EFULL) */
} broker_mqtt_stats_t;

/* The MQTT QoS of a message: 0 when it is not persistent, else the value of
 * BROKER_MQTT_QOS_HEADER when it is "2", else 1 (a persistent STOMP message). */
uint8_t broker_msg_mqtt_qos(const pmq_msg_t *m);

/* The durable session of client_id, or NULL. Borrowed: valid until a SESSION_CLOSE for it
 * is applied while it is not bound (a bound session stays valid until unbound). */
broker_msess_t *broker_msess_find(const broker_t *b, pmq_slice_t client_id);
bool broker_msess_is_durable(const broker_msess_t *s);
/* The limit a durable session was opened with (RLOG_CMD_MQTT_SESSION_OPEN). */
uint32_t broker_msess_limit(const broker_msess_t *s);
uint32_t broker_msess_filter_count(const broker_msess_t *s);
/* Messages waiting in a durable session's queue (0 for a volatile one). */
uint64_t broker_msess_queued(const broker_msess_t *s);

/* Creates a volatile session for client_id (caller guarantees none exists for it).
 * client_id is copied. PMQ_ENOMEM. */
PMQ_MUST_USE int broker_msess_new_volatile(broker_t *b, pmq_slice_t client_id,
                                           broker_msess_t **out);
/* Deletes a volatile session and its filters. NULL is a no-op. */
void broker_msess_free_volatile(broker_t *b, broker_msess_t *s);
/* Adds (or changes the QoS of) a filter of a volatile session. pattern is a valid broker
 * topic pattern of at most RLOG_NAME_BYTES_MAX bytes; qos <= 2 (both asserted).
 * PMQ_ETOOBIG past BROKER_MQTT_FILTERS_MAX, PMQ_ENOMEM. */
PMQ_MUST_USE int broker_msess_sub_volatile(broker_t *b, broker_msess_t *s, pmq_slice_t pattern,
                                           uint8_t qos);
/* Removes a filter of a volatile session; false when it had no such filter. */
bool broker_msess_unsub_volatile(broker_t *b, broker_msess_t *s, pmq_slice_t pattern);

/* Binds an online owner: messages not queued for s go to ops->deliver(owner, ...).
 * ops must outlive the binding. Rebinding replaces the previous owner. */
void broker_msess_bind(broker_t *b, broker_msess_t *s, const broker_mqtt_ops_t *ops, void *owner);
/* Unbinds (the client went offline). A durable session deleted while bound is freed here,
 * after its consumer was closed with broker_unsubscribe. */
void broker_msess_unbind(broker_t *b, broker_msess_t *s);
/* The bound client's connection drained: publishers it held back may go on. */
void broker_msess_drained(broker_t *b, broker_msess_t *s);
/* Attaches a consumer to a durable session's queue: deliveries go to ops->deliver with
 * tags to broker_ack (client-individual acknowledgement), at most prefetch unacknowledged.
 * Close it with broker_unsubscribe(b, sub, false). user is returned by broker_sub_user.
 * PMQ_EINVAL for a volatile session, PMQ_ENOMEM. */
PMQ_MUST_USE int broker_msess_consume(broker_t *b, broker_msess_t *s,
                                      const broker_consumer_ops_t *ops, void *owner,
                                      uint32_t prefetch, void *user, broker_sub_t **out);
/* The QoS to deliver a queued message at now: min(message QoS, highest matching filter
 * QoS), at least 1 (it was queued at >= 1 even if the filters changed since). */
uint8_t broker_msess_qos_for(const broker_msess_t *s, const pmq_msg_t *m);

/* Durable QoS 2 state of a session (sorted packet ids; borrowed until the next apply):
 * inbound ids stored and not released, and outbound ids awaiting PUBCOMP. */
uint32_t broker_msess_qos2_in(const broker_msess_t *s, const uint16_t **pids);
uint32_t broker_msess_out_rel(const broker_msess_t *s, const uint16_t **pids);
/* Outbound QoS 2: the packet id a queued message was bound to (RLOG_CMD_MQTT_OUT_BIND). */
bool broker_msess_out_pid(const broker_msess_t *s, uint64_t seq, uint16_t *pid);
/* True when pid is bound to a queued message or awaits PUBCOMP (must not be reused). */
bool broker_msess_pid_in_use(const broker_msess_t *s, uint16_t pid);

/* Retained messages: how many topics have one, and a lookup. */
uint64_t broker_retained_count(const broker_t *b);
bool broker_retained_has(const broker_t *b, pmq_slice_t dest);
/* Calls cb for every retained message whose topic matches the broker topic pattern (with
 * the '$' rule above). The message is borrowed for the call; ref it to keep it. cb must
 * not change the broker. */
void broker_retained_match(const broker_t *b, pmq_slice_t pattern,
                           void (*cb)(void *arg, pmq_msg_t *m), void *arg);

void broker_mqtt_stats_get(const broker_t *b, broker_mqtt_stats_t *out);

/* ---- end of MQTT sessions and retained messages ---- */

#endif
