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
} broker_delivery_t;

typedef struct broker_consumer_ops {
    /* Write one delivery to the consumer. Return 0 when written; PMQ_EFULL when the
     * connection cannot take more now (the subscription is then paused until
     * broker_sub_resume). Must not call back into the broker. */
    int (*deliver)(void *owner, broker_sub_t *sub, const broker_delivery_t *d);
} broker_consumer_ops_t;

typedef struct broker_sub_spec {
    pmq_slice_t dest;          /* "/queue/x", "/topic/a.*", "/temp-queue/x", ... */
    broker_ack_mode_t ack_mode;
    uint32_t prefetch;         /* 0 = broker default */
    pmq_slice_t client_id;     /* durable topic subscription: both set */
    pmq_slice_t durable_name;
    void *user;                /* returned by broker_sub_user */
} broker_sub_spec_t;

/* Creates a broker. opts strings are copied. Takes nothing. PMQ_ENOMEM. */
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

#endif
