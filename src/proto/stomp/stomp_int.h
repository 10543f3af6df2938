/* STOMP session internals shared by stomp_session.c (connection lifecycle, input,
 * errors, timers), stomp_frames.c (one handler per client frame) and stomp_deliver.c
 * (MESSAGE/RECEIPT encoding). */
#ifndef PMQ_STOMP_INT_H
#define PMQ_STOMP_INT_H

#include "paxmq/assert.h"
#include "paxmq/map.h"
#include "paxmq/stomp.h"

typedef struct stomp_session stomp_session_t;

typedef struct stomp_sub {
    pmq_list_t link;
    stomp_session_t *session;
    char *id;              /* client's subscription id */
    char *dest;            /* as the client named it (temp names unresolved) */
    uint32_t num;          /* session-local number used in 1.2 ack ids */
    broker_ack_mode_t ack_mode;
    broker_sub_t *bsub;
    bool durable;
} stomp_sub_t;

typedef enum stomp_txn_op_kind { TXN_SEND, TXN_ACK, TXN_NACK } stomp_txn_op_kind_t;

typedef struct stomp_txn_op {
    struct stomp_txn_op *next;
    stomp_txn_op_kind_t kind;
    stomp_sub_t *sub;      /* ACK/NACK */
    uint64_t tag;          /* ACK/NACK */
    bool persistent;       /* SEND */
    pmq_slice_t dest;      /* SEND: into data */
    rlog_msg_props_t props;
    size_t header_count;
    rlog_header_t *headers;/* SEND: into data */
    pmq_slice_t body;
    char data[];
} stomp_txn_op_t;

typedef struct stomp_txn {
    pmq_list_t link;
    char *id;
    stomp_txn_op_t *head, *tail;
    uint32_t op_count;
} stomp_txn_t;

struct stomp_session {
    pmq_list_t link;       /* server->sessions */
    stomp_server_t *server;
    net_conn_t *conn;      /* NULL once the connection is gone */
    uint32_t refs;         /* 1 for the connection + 1 per operation awaiting the log */
    stomp_parser_t parser;
    pmq_buf_t stash;       /* unparsed input carried between reads */
    stomp_version_t version;
    bool connected, closing, blocked;
    char *client_id;
    uint64_t id;
    uint64_t accepted_ms, partial_since_ms;
    uint32_t hb_send_ms, hb_recv_ms;
    pmq_list_t subs;
    uint32_t sub_count, next_sub_num;
    pmq_list_t txns;
    uint32_t txn_count;
    uint32_t durable_pending; /* receipts still waiting for the log */
    pmq_buf_t disconnect_receipt; /* DISCONNECT receipt id to send once the above is 0 */
    bool disconnect_requested;
    broker_waiter_t *waiter;
    bool holding;          /* held is valid: a SEND waits for room in a full queue */
    stomp_frame_t held;    /* the frame blocked on a full queue, kept parsed at stash[0] */
    stomp_header_t *held_headers; /* private copy of its headers (the parser's are shared) */
    size_t held_bytes;     /* its length in stash */
};

struct stomp_server {
    net_t *net;
    broker_t *broker;
    broker_log_t log;
    stomp_server_options_t opt;
    char *server_name;
    pmq_list_t sessions;
    pmq_map_t client_ids; /* client-id -> session, for durable subscriptions */
    uint32_t session_count;
    uint64_t next_session_id;
    pmq_ratelimit_t bad_input_log;
    stomp_header_t *headers; /* shared by every session's parser (filled per complete frame) */
    pmq_buf_t scratch;       /* command encoding; used synchronously, so one per server */
    stomp_server_stats_t st;
};

/* Every frame the broker sends ends with NUL LF, as ActiveMQ's do: the STOMP grammar
 * lets a receiver take EOLs after NUL as part of the frame, so without our own trailing
 * LF a heart-beat sent right after a frame could be swallowed as framing. */
static inline int stomp__frame_trailer(pmq_buf_t *out) { return pmq_buf_append(out, "\n", 1); }

/* stomp_session.c */
void stomp__session_ref(stomp_session_t *s);
void stomp__session_unref(stomp_session_t *s);
/* Sends ERROR (message header = reason, receipt-id when the frame asked for one) and
 * closes the connection after it is flushed. */
void stomp__send_error(stomp_session_t *s, const stomp_frame_t *f, const char *reason,
                       const char *detail);
void stomp__send_receipt(stomp_session_t *s, pmq_slice_t receipt_id);
void stomp__maybe_finish_disconnect(stomp_session_t *s);
bool stomp__session_alive(const stomp_session_t *s);

/* stomp_frames.c: returns 0, PMQ_EAGAIN when the frame must be retried later (the
 * producer is blocked on a full queue), or PMQ_EPROTO after an ERROR was sent. */
int stomp__handle_frame(stomp_session_t *s, const stomp_frame_t *f);
void stomp__session_release(stomp_session_t *s);

int stomp__block_on(stomp_session_t *s, pmq_slice_t dest);
/* After a publish: if it reached a congested topic subscriber, stop reading from this
 * producer until that subscriber drained (producer flow control). */
void stomp__hold_if_congested(stomp_session_t *s);

/* stomp_deliver.c */
extern const broker_consumer_ops_t stomp__consumer_ops;

#endif
