/* MQTT session internals shared by the mqtt_session*.c files: the connection (one per
 * TCP connection: parser, partial input, will), the session (one per client id: the
 * outbound window, the pending queue, inbound QoS 2 ids), and the log operations that
 * reply once durable. Not a public contract.
 *
 * Lifetimes: a connection is referenced by net (until on_close) and by every log
 * operation it waits for; a session by the server's client-id map and by every log
 * operation. conn->sess and sess->conn are borrowed links, cleared on both sides when
 * either goes. A persistent session stays in the map while its client is offline. */
#ifndef PMQ_MQTT_INT_H
#define PMQ_MQTT_INT_H

#include "paxmq/assert.h"
#include "paxmq/map.h"
#include "paxmq/mqtt.h"

/* Inbound QoS 1/2 PUBLISHes of one connection waiting for the log; past it the connection
 * is not read until some complete (MQTT 3.1.1 has no receive window of its own). */
#define MQTT_INBOUND_PENDING_MAX 1024u

typedef struct mqtt_conn mqtt_conn_t;
typedef struct mqtt_sess mqtt_sess_t;

typedef enum mqtt_conn_state {
    CONN_NEW = 0,  /* no CONNECT yet */
    CONN_WAIT = 1, /* CONNECT received, its session is being set up (input held) */
    CONN_UP = 2,   /* CONNACK 0 sent */
} mqtt_conn_state_t;

/* The state of one outbound QoS 1/2 message (MQTT 3.1.1 §4.3.2, §4.3.3). */
typedef enum mqtt_fl_state {
    FL_BINDING = 0,     /* QoS 2 from the queue: waiting for MQTT_OUT_BIND to be durable */
    FL_SENT = 1,        /* PUBLISH sent, waiting for PUBACK / PUBREC */
    FL_REC_PENDING = 2, /* PUBREC received, MQTT_OUT_REC on its way to the log */
    FL_PUBREL = 3,      /* PUBREL sent, waiting for PUBCOMP */
} mqtt_fl_state_t;

typedef struct mqtt_flight {
    pmq_msg_t *msg; /* referenced; NULL once in FL_PUBREL */
    uint64_t tag;   /* broker delivery tag when the message is in the session queue, else 0 */
    uint16_t pid;
    uint8_t qos;
    uint8_t state;  /* mqtt_fl_state_t */
    bool retain;
    bool logged;    /* the packet id is in the durable outbound QoS 2 state */
} mqtt_flight_t;

/* A delivery waiting for room in the window (never a queue-backed one). */
typedef struct mqtt_pend {
    pmq_msg_t *msg;
    uint8_t qos;
    bool retain;
} mqtt_pend_t;

/* The will of a connection (§3.1.2.5), copied out of its CONNECT. */
typedef struct mqtt_will {
    uint8_t qos;
    bool retain;
    pmq_slice_t topic, payload; /* into data */
    char data[];
} mqtt_will_t;

/* What a CONNECT asked for, kept while its session is being set up. */
typedef struct mqtt_req {
    bool clean;
    size_t id_len;
    char id[]; /* NUL-terminated */
} mqtt_req_t;

/* The delivery state of a session, allocated when first needed and freed when empty,
 * so that an idle session holds none: the window (in send order), the pending ring, and
 * the inbound QoS 2 ids ((pid | MQTT_IN_STORED), sorted by pid). */
typedef struct mqtt_win {
    mqtt_flight_t *fl;
    uint32_t fl_count, fl_cap;
    mqtt_pend_t *pend;
    uint32_t pend_head, pend_count, pend_cap;
    uint32_t *in;
    uint32_t in_count, in_cap;
} mqtt_win_t;

struct mqtt_sess {
    mqtt_server_t *srv;
    mqtt_conn_t *conn;     /* the online connection, NULL while offline */
    broker_msess_t *bs;    /* broker-side session; NULL until set up */
    broker_sub_t *sub;     /* persistent: the consumer of its queue */
    mqtt_conn_t *waiting;  /* a CONNECT for this id waiting for busy to clear (referenced) */
    mqtt_win_t *w;         /* NULL while nothing is in flight, pending or held */
    uint32_t refs;         /* 1 while in the map + 1 per log operation */
    uint16_t next_pid;
    uint16_t id_len;       /* client ids are at most 65535 bytes (§1.5.3) */
    bool clean;
    bool in_map;
    bool busy;             /* SESSION_OPEN/CLOSE in the log: other CONNECTs wait */
    bool loaded;           /* persistent: durable QoS 2 state read into memory */
    char client_id[];
};

#define MQTT_IN_STORED 0x10000u /* the PUBLISH is durable: PUBREC may be (re)sent */

struct mqtt_conn {
    pmq_list_t link;       /* server->conns */
    mqtt_server_t *srv;
    net_conn_t *net;       /* NULL once closed */
    mqtt_sess_t *sess;
    mqtt_will_t *will;
    mqtt_req_t *req;       /* while CONN_WAIT */
    broker_waiter_t *waiter; /* held back until a congested subscriber drains */
    mqtt_parser_t parser;
    pmq_buf_t *stash;      /* a partial packet (and input held while blocked), or NULL */
    uint64_t id;
    uint64_t accepted_ms, partial_since_ms;
    uint32_t refs;         /* 1 for the network connection + 1 per log operation */
    uint32_t pending;      /* inbound QoS 1/2 PUBLISHes in the log */
    uint16_t keepalive_s;
    uint8_t state;         /* mqtt_conn_state_t */
    uint8_t blocks;        /* reasons the input is held (a log operation must complete) */
    bool pending_blocked;  /* one of them: too many inbound publishes in the log */
    bool in_process;       /* the input loop is running (an unblock must not re-enter it) */
    bool closing;
    bool clean_disconnect; /* DISCONNECT received: the will is discarded */
};

typedef struct mqtt_sys_entry {
    char *topic;   /* MQTT form */
    char *payload;
} mqtt_sys_entry_t;

struct mqtt_server {
    net_t *net;
    broker_t *broker;
    broker_log_t log;
    mqtt_server_options_t opt;
    char *server_name;
    net_listener_t *listener;
    pmq_list_t conns;
    pmq_map_t sessions;     /* client id -> mqtt_sess_t */
    uint32_t conn_count;
    uint64_t nonce;         /* names assigned client ids */
    uint64_t started_ms, next_sys_ms;
    uint64_t wall_ms;       /* wall clock read once per input batch (message timestamps) */
    bool shutting_down;
    pmq_buf_t scratch;      /* commands being encoded */
    pmq_buf_t op_buf;       /* one op inside a TXN */
    pmq_buf_t topic;        /* inbound topic -> destination conversions */
    pmq_buf_t out_topic;    /* outbound destination -> topic conversions */
    pmq_buf_t out_cmd;      /* commands proposed while delivering */
    pmq_ratelimit_t bad_input_log;
    mqtt_sys_entry_t *sys;  /* the latest $SYS values, replayed to new subscribers */
    size_t sys_count;
    mqtt_server_stats_t st;
};

/* Log operations: the cookie of every proposal. */
typedef enum mqtt_op_kind {
    OP_PUBACK = 0,   /* QoS 1 PUBLISH durable: PUBACK on conn */
    OP_PUBREC = 1,   /* QoS 2 PUBLISH durable: PUBREC on the session's connection */
    OP_PUBCOMP = 2,  /* QOS2_REL durable: PUBCOMP on the session's connection */
    OP_SUBACK = 3,   /* persistent SUBSCRIBE durable: SUBACK, then retained messages */
    OP_UNSUBACK = 4, /* persistent UNSUBSCRIBE durable */
    OP_BIND = 5,     /* OUT_BIND durable: send the QoS 2 PUBLISH */
    OP_OUTREC = 6,   /* OUT_REC durable: send PUBREL */
    OP_SESSION = 7,  /* SESSION_OPEN/CLOSE durable: finish the CONNECT */
} mqtt_op_kind_t;

typedef struct mqtt_op {
    mqtt_op_kind_t kind;
    mqtt_conn_t *conn; /* referenced, or NULL */
    mqtt_sess_t *sess; /* referenced, or NULL */
    uint16_t pid;
    bool held;         /* the connection's input is held until this op completes */
    uint32_t count;    /* OP_SUBACK: filters; codes then (u16 len, filter) in data */
    size_t len;
    char data[];
} mqtt_op_t;

/* mqtt_session.c */
void mqtt__conn_ref(mqtt_conn_t *c);
void mqtt__conn_unref(mqtt_conn_t *c);
void mqtt__sess_ref(mqtt_sess_t *s);
void mqtt__sess_unref(mqtt_sess_t *s);
bool mqtt__conn_alive(const mqtt_conn_t *c);
/* Closes the connection (the will is published unless the client sent DISCONNECT). */
void mqtt__conn_close(mqtt_conn_t *c, const char *why);
/* Holds / releases the input of a connection while a log operation completes; counted,
 * so independent reasons nest. Releasing the last one processes the held input. */
void mqtt__conn_block(mqtt_conn_t *c);
void mqtt__conn_unblock(mqtt_conn_t *c);
/* Allocates an op with extra data bytes, referencing conn and/or sess. */
mqtt_op_t *mqtt__op_new(mqtt_op_kind_t kind, mqtt_conn_t *c, mqtt_sess_t *s, size_t extra);
/* Completes an op that was not proposed (its done handler runs with status). */
void mqtt__op_complete(mqtt_op_t *op, int status);
/* Proposes srv->scratch with op as cookie; on failure completes op with the error. */
void mqtt__propose(mqtt_server_t *srv, mqtt_op_t *op);
/* Proposes cmd (instead of srv->scratch) with op as cookie. */
void mqtt__propose_buf(mqtt_server_t *srv, const pmq_buf_t *cmd, mqtt_op_t *op);
/* Releases an op that was never proposed, without running its done handler. */
void mqtt__op_discard(mqtt_op_t *op);
/* Proposes srv->scratch with no reply expected (logs a failure). */
void mqtt__propose_quiet(mqtt_server_t *srv, const char *what);
/* Appends an ack-like packet (PUBACK, PUBREC, ...) and commits it. */
void mqtt__send_ack(mqtt_conn_t *c, mqtt_type_t type, uint16_t pid);
void mqtt__packet_out(mqtt_conn_t *c);
/* Converts an MQTT topic or filter to its broker destination in srv->topic; false when
 * it does not fit a destination name (RLOG_NAME_BYTES_MAX). */
bool mqtt__to_dest(mqtt_server_t *srv, pmq_slice_t topic);

/* mqtt_session_connect.c */
void mqtt__on_connect(mqtt_conn_t *c, const mqtt_connect_t *p);
void mqtt__connect_done(mqtt_op_t *op, int status);
/* The connection goes (network close): the session goes offline or away, the will. */
void mqtt__conn_detach(mqtt_conn_t *c);
/* Releases a session completely (removes it from the map). */
void mqtt__sess_discard(mqtt_sess_t *s);

/* mqtt_session_publish.c */
void mqtt__on_publish(mqtt_conn_t *c, const mqtt_publish_t *p);
void mqtt__on_pubrel(mqtt_conn_t *c, uint16_t pid);
void mqtt__publish_will(mqtt_conn_t *c);
void mqtt__publish_done(mqtt_op_t *op, int status);

/* mqtt_session_sub.c */
void mqtt__on_subscribe(mqtt_conn_t *c, const mqtt_packet_t *p);
void mqtt__on_unsubscribe(mqtt_conn_t *c, const mqtt_packet_t *p);
void mqtt__sub_done(mqtt_op_t *op, int status);

/* mqtt_session_deliver.c */
extern const broker_mqtt_ops_t mqtt__direct_ops;
extern const broker_consumer_ops_t mqtt__queue_ops;
void mqtt__on_puback(mqtt_conn_t *c, uint16_t pid);
void mqtt__on_pubrec(mqtt_conn_t *c, uint16_t pid);
void mqtt__on_pubcomp(mqtt_conn_t *c, uint16_t pid);
void mqtt__deliver_done(mqtt_op_t *op, int status);
/* Offers one message to a session (direct deliveries, retained messages): written, put
 * in the window, queued, or refused (PMQ_EFULL). */
int mqtt__sess_offer(mqtt_sess_t *s, pmq_msg_t *m, uint8_t qos, bool retain);
/* After (re)connecting: re-sends the window in order (DUP), then fills it. */
void mqtt__sess_resend(mqtt_sess_t *s);
/* Moves pending deliveries into the window and lets the queue consumer go on. */
void mqtt__sess_refill(mqtt_sess_t *s);
/* Adds a PUBREL-state record for a packet id of the durable outbound state. */
int mqtt__flight_add_rel(mqtt_sess_t *s, uint16_t pid);
/* Releases the whole delivery state (window, pending messages, inbound ids). */
void mqtt__win_free(mqtt_sess_t *s);
uint32_t mqtt__fl_count(const mqtt_sess_t *s);
uint32_t mqtt__pend_count(const mqtt_sess_t *s);
/* Writes a PUBLISH for the $SYS table (QoS 0). */
void mqtt__write_raw(mqtt_conn_t *c, pmq_slice_t topic, pmq_slice_t payload, bool retain);

/* Pure helpers of the window and the inbound id set (mqtt_session_deliver.c); unit tested. */
/* A free packet id: not in the window, and not used by the durable state (in_use may be
 * NULL). Returns 0 when all 65535 are taken. */
uint16_t mqtt__pid_alloc(mqtt_sess_t *s, bool (*in_use)(const void *arg, uint16_t pid),
                         const void *arg);
mqtt_flight_t *mqtt__flight_find(mqtt_sess_t *s, uint16_t pid, uint32_t *at);
PMQ_MUST_USE int mqtt__flight_push(mqtt_sess_t *s, const mqtt_flight_t *f);
void mqtt__flight_remove(mqtt_sess_t *s, uint32_t at);
PMQ_MUST_USE int mqtt__pend_push(mqtt_sess_t *s, const mqtt_pend_t *p);
bool mqtt__pend_pop(mqtt_sess_t *s, mqtt_pend_t *out);
/* Inbound QoS 2 ids: lookup returns the entry (pid | flags) or 0. */
uint32_t mqtt__in_get(const mqtt_sess_t *s, uint16_t pid);
PMQ_MUST_USE int mqtt__in_put(mqtt_sess_t *s, uint16_t pid, bool stored);
/* Marks a held id as stored (its PUBLISH is durable); false when the id is not held. */
bool mqtt__in_mark_stored(mqtt_sess_t *s, uint16_t pid);
void mqtt__in_del(mqtt_sess_t *s, uint16_t pid);

/* mqtt_session_sys.c */
void mqtt__sys_publish(mqtt_server_t *srv, uint64_t now_ms);
void mqtt__sys_replay(mqtt_sess_t *s, pmq_slice_t pattern, uint8_t qos);
void mqtt__sys_free(mqtt_server_t *srv);

#endif
