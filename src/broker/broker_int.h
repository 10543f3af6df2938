/* Broker internals shared by the files of src/broker. Not a public contract.
 *
 * Model: a queue holds entries; an entry points at a shared pmq_msg_t and is in exactly
 * one place: a ready list (per priority), a consumer's in-flight list, or nowhere while
 * an ACK/DLQ/EXPIRE command for it is in the log pipeline (PENDING). Topics hold no
 * messages: a publish is copied to the non-durable subscribers online now and, for
 * persistent messages, stored in each matching durable subscription's queue. */
#ifndef PMQ_BROKER_INT_H
#define PMQ_BROKER_INT_H

#include "paxmq/assert.h"
#include "paxmq/broker.h"
#include "paxmq/map.h"

#define BROKER_PRIORITIES 10
#define BROKER_DISPATCH_BUDGET 4096 /* deliveries per broker_run call */
#define BROKER_VOLATILE_BIT (1ull << 63)

typedef enum bq_kind {
    BQ_QUEUE = 0, /* /queue/NAME (the DLQ too) */
    BQ_DSUB = 1,  /* a durable topic subscription's queue: "dsub:CLIENT:NAME" */
    BQ_TEMP = 2,  /* /remote-temp-queue/...: volatile, owned by a connection */
    BQ_MQTT = 3,  /* a durable MQTT session's queue: "mqtt:CLIENT" (mqtt_state.c) */
} bq_kind_t;

typedef enum bq_state {
    BQ_READY = 0,
    BQ_INFLIGHT = 1,
    BQ_PENDING = 2,
} bq_state_t;

typedef struct bq_entry bq_entry_t;
typedef struct broker_queue broker_queue_t;

struct bq_entry {
    pmq_list_t link;
    pmq_msg_t *msg;
    broker_queue_t *queue;
    broker_sub_t *owner; /* while INFLIGHT */
    uint64_t seq;        /* key in queue->by_seq (points here) */
    uint64_t tag;        /* delivery tag while INFLIGHT */
    uint32_t redeliveries;
    bq_state_t state;
};

/* Seqs gathered during one loop iteration, proposed as one command in broker_run. */
typedef struct bq_batch {
    uint64_t *seqs;
    size_t count, cap;
    struct broker_waitlist *waiters; /* ACK batches: callers waiting for durability */
} bq_batch_t;

typedef struct broker_waitlist {
    size_t count, cap;
    struct {
        broker_done_cb cb;
        void *cookie;
    } *items;
} broker_waitlist_t;

struct broker_queue {
    char *name;
    bq_kind_t kind;
    pmq_list_t ready[BROKER_PRIORITIES];
    uint64_t ready_count;
    pmq_map_t by_seq;
    uint64_t depth, bytes, inflight;
    uint64_t admitted_pending;
    pmq_list_t consumers;   /* broker_sub_t.qlink, round-robin order */
    pmq_list_t waiters;     /* broker_waiter_t.link: blocked producers */
    pmq_list_t dirty_link;  /* in broker->dirty while dispatch is pending */
    pmq_list_t batch_link;  /* in broker->batched while a batch is non-empty */
    bq_batch_t acks, dlqs, expires;
    char *pattern;          /* BQ_DSUB: topic pattern */
    pmq_list_t dsub_link;   /* BQ_DSUB: in broker->dsubs, creation order */
    void *temp_owner;       /* BQ_TEMP */
    uint64_t enqueued, dequeued, expired, dlq_moves, redelivered;
};

typedef struct broker_topic {
    char *name;
    pmq_list_t subs; /* broker_sub_t.qlink */
    uint64_t enqueued, dropped;
    void *temp_owner;
} broker_topic_t;

struct broker_sub {
    broker_t *broker;
    const broker_consumer_ops_t *ops;
    void *owner;
    void *user;
    broker_ack_mode_t ack_mode;
    uint32_t prefetch;
    uint32_t refs;          /* 1 while open, +1 while a durable creation is pending */
    bool closed, paused, wildcard;
    broker_queue_t *queue;  /* queue and durable subscriptions */
    broker_topic_t *topic;  /* exact topic subscription */
    char *pattern;          /* topic subscriptions: "/topic/..." pattern */
    char *dsub_name;        /* durable: the dsub queue name */
    void (*durable_done)(void *arg, int status); /* broker_sub_spec_t.durable_done */
    void *durable_done_arg;
    pmq_list_t qlink;       /* in queue->consumers, topic->subs or broker->wild_subs */
    pmq_list_t inflight;    /* bq_entry_t.link, delivery order */
    pmq_list_t congestion_waiters; /* broker_waiter_t: producers held back by this sub */
    uint64_t inflight_count;
    uint64_t next_tag;
};

struct broker_waiter {
    pmq_list_t link;
    void (*cb)(void *);
    void *arg;
};

struct broker {
    broker_options_t opt;
    char *broker_id;
    char *dlq_name; /* "/queue/ActiveMQ.DLQ" */
    broker_log_t log;
    pmq_map_t queues;  /* name -> broker_queue_t (BQ_QUEUE, BQ_DSUB, BQ_TEMP) */
    pmq_map_t topics;  /* name -> broker_topic_t (exact names with live subscribers) */
    pmq_list_t wild_subs;
    pmq_list_t dsubs;
    pmq_list_t dirty;
    pmq_list_t batched;
    pmq_list_t wake;        /* broker_waiter_t whose queue has room: called in broker_run */
    broker_sub_t *last_congested; /* set by the current publish; read right after it */
    uint64_t last_seq;      /* durable: last persistent message sequence */
    uint64_t volatile_seq;
    uint64_t last_applied;
    broker_stats_t st;
    struct broker_mqtt *mqtt; /* MQTT sessions and retained messages; NULL until used */
};

/* msg.c */
pmq_msg_t *broker__msg_new(broker_t *b, uint64_t seq, pmq_slice_t dest, const rlog_msg_props_t *p,
                           const rlog_header_t *headers, size_t header_count, pmq_slice_t body);
pmq_msg_t *broker__msg_from_cmd(broker_t *b, uint64_t seq, const rlog_cmd_t *c);

/* dest.c */
bool broker__pattern_matches(pmq_slice_t pattern, pmq_slice_t topic);
bool broker__is_wildcard(pmq_slice_t dest);
broker_queue_t *broker__queue_get(broker_t *b, pmq_slice_t name);
broker_queue_t *broker__queue_ensure(broker_t *b, pmq_slice_t name, bq_kind_t kind);
void broker__queue_destroy(broker_t *b, broker_queue_t *q);
void broker__queue_mark_dirty(broker_t *b, broker_queue_t *q);
void broker__dsub_name(pmq_buf_t *out, pmq_slice_t client_id, pmq_slice_t name);

/* sub.c: a subscription object with every list initialised (one place for it). */
broker_sub_t *broker__sub_new(broker_t *b, const broker_consumer_ops_t *ops, void *owner,
                              void *user, broker_ack_mode_t ack_mode, uint32_t prefetch);

/* queue.c */
PMQ_MUST_USE int broker__enqueue(broker_t *b, broker_queue_t *q, pmq_msg_t *m);
void broker__entry_remove(broker_t *b, bq_entry_t *e);
void broker__entry_requeue(broker_t *b, bq_entry_t *e, bool count_redelivery, uint64_t now_ms);
void broker__queue_dispatch(broker_t *b, broker_queue_t *q, uint64_t now_ms, uint32_t *budget);
void broker__queue_clear(broker_t *b, broker_queue_t *q);
/* Moves q's blocked producers to the wake list; broker_run calls them outside any
 * dispatch iteration (a callback may publish, unsubscribe or close its session). */
void broker__wake_waiters(broker_t *b, broker_queue_t *q);
bool broker__queue_has_room(const broker_t *b, const broker_queue_t *q);
void broker__topic_publish(broker_t *b, pmq_slice_t dest, pmq_msg_t *m, bool durable_copies);
/* Tells the owner that broker_run has work (broker_options_t.kick). */
static inline void broker__kick(broker_t *b) {
    if (b->opt.kick != NULL) {
        b->opt.kick(b->opt.kick_arg);
    }
}
/* Moves the producers held back by s to the wake list. */
void broker__release_congestion(broker_t *b, broker_sub_t *s);

/* batch.c */
PMQ_MUST_USE int broker__batch_add(broker_t *b, broker_queue_t *q, bq_batch_t *batch, uint64_t seq);
PMQ_MUST_USE int broker__waitlist_add(broker_waitlist_t **wl, broker_done_cb cb, void *cookie);
void broker__waitlist_finish(broker_waitlist_t *wl, int status);
void broker__batches_flush(broker_t *b);
void broker__batch_free(bq_batch_t *batch);

/* ---- MQTT sessions and retained messages (mqtt_state.c, retain.c) ---- */

/* Filters are indexed broker-wide: exact patterns in a map of buckets, wildcard ones in
 * one list; a publish looks up its topic's bucket and walks the wildcard list. */
typedef struct bm_filter {
    pmq_list_t link;      /* in its bucket (exact) or in broker_mqtt.wild */
    broker_msess_t *sess;
    uint8_t qos;
    bool wild;
    bool skips_dollar;    /* first level is a wildcard: never matches "$..." topics */
    size_t len;
    char pattern[];       /* "/topic/...", NUL-terminated */
} bm_filter_t;

typedef struct bm_bucket {
    pmq_list_t filters;
    char *key;
} bm_bucket_t;

/* A sorted set of packet ids. */
typedef struct bm_pids {
    uint16_t *v;
    uint32_t n, cap;
} bm_pids_t;

typedef struct bm_bind {
    uint64_t seq;
    uint16_t pid;
} bm_bind_t;

struct broker_msess {
    char *client_id;
    bool durable;
    bool removed;           /* durable session closed while bound: freed at unbind */
    broker_queue_t *queue;  /* durable: "mqtt:CLIENT" (BQ_MQTT) */
    uint32_t limit;         /* durable: messages the queue may hold */
    bm_filter_t **filters;
    uint32_t filter_count, filter_cap;
    bm_pids_t qos2_in;      /* durable: inbound QoS 2 ids stored, not released */
    bm_pids_t out_rel;      /* durable: outbound QoS 2 ids awaiting PUBCOMP */
    bm_bind_t *binds;       /* durable: outbound QoS 2 messages in flight */
    uint32_t bind_count, bind_cap;
    /* Volatile, node-local: */
    const broker_mqtt_ops_t *ops;
    void *owner;
    broker_sub_t *anchor;   /* while bound: carries producer flow control (congestion) */
    uint64_t seen_gen;      /* publish generation that last matched (dedup) */
    uint8_t best_qos;       /* highest matching filter QoS for that publish */
};

typedef struct broker_mqtt {
    pmq_map_t durable;      /* client id -> broker_msess_t (durable state) */
    pmq_map_t volatiles;    /* client id -> broker_msess_t (clean sessions, this node) */
    pmq_map_t exact;        /* pattern -> bm_bucket_t */
    pmq_list_t wild;        /* bm_filter_t.link */
    uint64_t gen;
    broker_msess_t **touched; /* sessions matched by the publish being dispatched */
    size_t touched_cap;
    pmq_map_t retained;     /* dest -> pmq_msg_t (key points into the message) */
    uint64_t closed_count;  /* names the queues of sessions closed while bound */
    broker_mqtt_stats_t st;
} broker_mqtt_t;

/* Applies one MQTT command (RLOG_CMD_MQTT_*, RLOG_CMD_RETAIN). */
PMQ_MUST_USE int broker__mqtt_apply(broker_t *b, const rlog_cmd_t *c);
/* The MQTT state, created on first use; NULL only when out of memory. */
broker_mqtt_t *broker__mqtt_state(broker_t *b);
/* Delivers a topic publish to the matching MQTT sessions (called by topic_publish). */
void broker__mqtt_topic_publish(broker_t *b, pmq_slice_t dest, pmq_msg_t *m, bool durable_copies);
void broker__mqtt_free(broker_t *b);
uint64_t broker__mqtt_state_hash(const broker_t *b);
/* Snapshot section after the queues (format version 2); restore expects the session
 * queues to have been restored already. */
PMQ_MUST_USE int broker__mqtt_snapshot_encode(const broker_t *b, pmq_buf_t *out);
PMQ_MUST_USE int broker__mqtt_snapshot_restore(broker_t *b, pmq_rd_t *r);

/* retain.c */
PMQ_MUST_USE int broker__retain_apply(broker_t *b, broker_mqtt_t *mq, const rlog_cmd_t *c);
uint64_t broker__retain_hash(const broker_mqtt_t *mq);
PMQ_MUST_USE int broker__retain_snapshot_encode(const broker_mqtt_t *mq, pmq_buf_t *out);
PMQ_MUST_USE int broker__retain_snapshot_restore(broker_t *b, broker_mqtt_t *mq, pmq_rd_t *r);
void broker__retain_free(broker_mqtt_t *mq);
/* True when a pattern whose first level is a wildcard may match dest ('$' rule). */
bool broker__mqtt_dollar_ok(pmq_slice_t pattern, pmq_slice_t dest);

/* ---- end of MQTT sessions and retained messages ---- */

#endif
