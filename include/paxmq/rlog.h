/* rlog: the replicated log's entries and the broker commands they carry.
 *
 * Every durable change to the broker is one command, encoded here, appended to the log,
 * and applied by broker_apply() in index order (DESIGN §1). This layer is pure
 * (pmq_base only): encode appends to a pmq_buf_t, decode returns slices into the input
 * and never allocates. Formats are versioned; a decoder rejects a newer version with
 * PMQ_EVERSION and malformed bytes with PMQ_ECORRUPT, never with an assert.
 *
 * Named "rlog" so it is never confused with diagnostic logging (pmq_log_*). */
#ifndef PAXMQ_RLOG_H
#define PAXMQ_RLOG_H

#include "paxmq/buf.h"

#define RLOG_FORMAT_VERSION 1
#define RLOG_NAME_BYTES_MAX 1024        /* destination, client id, subscription name */
#define RLOG_HEADER_COUNT_MAX 4096
#define RLOG_BODY_BYTES_MAX (256u << 20)
#define RLOG_TXN_OPS_MAX 100000
#define RLOG_SEQS_MAX 100000

/* ---- log entries: what the store keeps under each index ---- */

typedef enum rlog_entry_type {
    RLOG_ENTRY_NOOP = 1,
    RLOG_ENTRY_CMD = 2,
} rlog_entry_type_t;

/* A decoded entry. payload points into the decoded bytes. ballot is the Paxos ballot
 * the entry was accepted in ((round << 16) | node rank; 1 on a single node). time_ms is
 * the master's wall clock when it proposed the entry: apply() uses it instead of
 * reading a clock. */
typedef struct rlog_entry {
    uint64_t index;
    uint64_t ballot;
    uint64_t time_ms;
    rlog_entry_type_t type;
    pmq_slice_t payload;
} rlog_entry_t;

/* Appends the encoded entry (not its index: that is the store key). */
PMQ_MUST_USE int rlog_entry_encode(pmq_buf_t *out, const rlog_entry_t *e);
/* Decodes bytes stored at index. Returns PMQ_ECORRUPT or PMQ_EVERSION on bad input. */
PMQ_MUST_USE int rlog_entry_decode(pmq_slice_t bytes, uint64_t index, rlog_entry_t *out);

/* ---- commands: the payload of RLOG_ENTRY_CMD entries ---- */

typedef enum rlog_cmd_type {
    RLOG_CMD_PUBLISH = 1,     /* store a persistent message in a destination */
    RLOG_CMD_ACK = 2,         /* remove consumed messages from a queue */
    RLOG_CMD_DLQ = 3,         /* move messages from a queue to the dead-letter queue */
    RLOG_CMD_EXPIRE = 4,      /* drop expired messages from a queue */
    RLOG_CMD_DSUB_ADD = 5,    /* create (or re-point) a durable topic subscription */
    RLOG_CMD_DSUB_DEL = 6,    /* delete a durable topic subscription and its messages */
    RLOG_CMD_PURGE = 7,       /* drop every message of a queue (admin) */
    RLOG_CMD_DEST_DELETE = 8, /* delete a destination (admin) */
    RLOG_CMD_TXN = 9,         /* several commands applied atomically (STOMP COMMIT) */
    /* MQTT (docs/MQTT.md "Sessions"): persistent sessions, retained messages, QoS 2. */
    RLOG_CMD_MQTT_SESSION_OPEN = 10,  /* create (or update the limit of) a persistent session */
    RLOG_CMD_MQTT_SESSION_CLOSE = 11, /* delete a persistent session, its queue and its state */
    RLOG_CMD_MQTT_SUB = 12,           /* add or replace one topic filter of a session */
    RLOG_CMD_MQTT_UNSUB = 13,         /* remove one topic filter of a session */
    RLOG_CMD_RETAIN = 14,             /* set a topic's retained message; empty body clears it */
    RLOG_CMD_MQTT_QOS2_IN = 15,       /* inbound QoS 2 packet id stored (PUBREC may be sent) */
    RLOG_CMD_MQTT_QOS2_REL = 16,      /* inbound QoS 2 packet id released (PUBREL received) */
    RLOG_CMD_MQTT_OUT_BIND = 17,      /* outbound QoS 2: queued message seq sent under pid */
    RLOG_CMD_MQTT_OUT_REC = 18,       /* outbound QoS 2: PUBREC received; message done */
    RLOG_CMD_MQTT_OUT_COMP = 19,      /* outbound QoS 2: PUBCOMP received; pid free again */
} rlog_cmd_type_t;

#define RLOG_CMD_TYPE_LAST RLOG_CMD_MQTT_OUT_COMP

/* Message properties that are part of the durable message. */
typedef struct rlog_msg_props {
    uint8_t priority;      /* 0..9 */
    bool persistent;
    uint64_t expires_ms;   /* absolute wall-clock ms, 0 = never */
    uint64_t timestamp_ms; /* when the broker received it */
} rlog_msg_props_t;

/* A decoded command. Slices point into the decoded bytes. Repeated fields (headers,
 * seqs, txn ops) are kept encoded and walked with the iterators below. */
typedef struct rlog_cmd {
    rlog_cmd_type_t type;
    pmq_slice_t dest;        /* PUBLISH: destination; ACK/DLQ/EXPIRE/PURGE/DEST_DELETE: queue */
    pmq_slice_t dlq;         /* DLQ: target queue name */
    rlog_msg_props_t props;  /* PUBLISH */
    uint32_t header_count;   /* PUBLISH */
    pmq_slice_t headers_raw; /* PUBLISH: header_count (name, value) pairs */
    pmq_slice_t body;        /* PUBLISH */
    uint32_t seq_count;      /* ACK/DLQ/EXPIRE */
    pmq_slice_t seqs_raw;    /* ACK/DLQ/EXPIRE: seq_count u64 message sequence numbers */
    pmq_slice_t client_id;   /* DSUB_* */
    pmq_slice_t sub_name;    /* DSUB_* */
    pmq_slice_t pattern;     /* DSUB_ADD: topic pattern, e.g. "/topic/a.*" */
    uint32_t op_count;       /* TXN */
    pmq_slice_t ops_raw;     /* TXN: op_count length-prefixed nested commands */
    /* MQTT commands: client_id names the session (every MQTT_* type); RETAIN uses
     * dest, props, headers and body like PUBLISH. */
    uint32_t limit;          /* MQTT_SESSION_OPEN: queued messages the session may hold */
    uint8_t qos;             /* MQTT_SUB: granted QoS 0..2 (pattern is the filter) */
    uint16_t pid;            /* MQTT_QOS2_*, MQTT_OUT_*: packet identifier, never 0 */
    uint64_t seq;            /* MQTT_OUT_BIND: message sequence in the session queue */
} rlog_cmd_t;

/* A header as stored in a message: name and value, raw (unescaped) bytes. */
typedef struct rlog_header {
    pmq_slice_t name;
    pmq_slice_t value;
} rlog_header_t;

/* Decodes a command and validates every nested length and count against the
 * RLOG_*_MAX limits (so iterating afterwards cannot fail). PMQ_ECORRUPT/PMQ_EVERSION. */
PMQ_MUST_USE int rlog_cmd_decode(pmq_slice_t bytes, rlog_cmd_t *out);

/* Iterators over a decoded command's repeated fields. Each returns false at the end.
 * Valid only for a command that rlog_cmd_decode accepted. */
typedef struct rlog_iter {
    pmq_rd_t rd;
    uint32_t left;
} rlog_iter_t;
rlog_iter_t rlog_headers_iter(const rlog_cmd_t *c);
bool rlog_headers_next(rlog_iter_t *it, rlog_header_t *out);
rlog_iter_t rlog_seqs_iter(const rlog_cmd_t *c);
bool rlog_seqs_next(rlog_iter_t *it, uint64_t *out);
rlog_iter_t rlog_txn_iter(const rlog_cmd_t *c);
bool rlog_txn_next(rlog_iter_t *it, pmq_slice_t *op_bytes);

/* Encoders. Each appends one complete command to out. PMQ_ETOOBIG past a limit. */
PMQ_MUST_USE int rlog_encode_publish(pmq_buf_t *out, pmq_slice_t dest, const rlog_msg_props_t *p,
                                     const rlog_header_t *headers, size_t header_count,
                                     pmq_slice_t body);
/* type is RLOG_CMD_ACK or RLOG_CMD_EXPIRE (dlq empty) or RLOG_CMD_DLQ (dlq = target). */
PMQ_MUST_USE int rlog_encode_seqs(pmq_buf_t *out, rlog_cmd_type_t type, pmq_slice_t queue,
                                  pmq_slice_t dlq, const uint64_t *seqs, size_t count);
PMQ_MUST_USE int rlog_encode_dsub_add(pmq_buf_t *out, pmq_slice_t client_id,
                                      pmq_slice_t sub_name, pmq_slice_t pattern);
PMQ_MUST_USE int rlog_encode_dsub_del(pmq_buf_t *out, pmq_slice_t client_id,
                                      pmq_slice_t sub_name);
/* type is RLOG_CMD_PURGE or RLOG_CMD_DEST_DELETE. */
PMQ_MUST_USE int rlog_encode_dest_op(pmq_buf_t *out, rlog_cmd_type_t type, pmq_slice_t dest);
/* TXN: begin writes the header with a placeholder count; add_op appends one encoded
 * command; end patches the count. mark is returned by begin and passed to the others. */
PMQ_MUST_USE int rlog_txn_begin(pmq_buf_t *out, size_t *mark);
PMQ_MUST_USE int rlog_txn_add_op(pmq_buf_t *out, size_t mark, pmq_slice_t op_bytes);
void rlog_txn_end(pmq_buf_t *out, size_t mark);

/* ---- MQTT commands (the session layer proposes them; broker_apply applies them) ----
 * client_id and pattern are at most RLOG_NAME_BYTES_MAX bytes and non-empty (asserted:
 * the session validates first); pid is non-zero and qos <= 2 (asserted). Each appends
 * one command; PMQ_ETOOBIG/PMQ_ENOMEM from the buffer. Any thread owning out. */
PMQ_MUST_USE int rlog_encode_mqtt_session_open(pmq_buf_t *out, pmq_slice_t client_id,
                                               uint32_t limit);
PMQ_MUST_USE int rlog_encode_mqtt_session_close(pmq_buf_t *out, pmq_slice_t client_id);
PMQ_MUST_USE int rlog_encode_mqtt_sub(pmq_buf_t *out, pmq_slice_t client_id, pmq_slice_t pattern,
                                      uint8_t qos);
PMQ_MUST_USE int rlog_encode_mqtt_unsub(pmq_buf_t *out, pmq_slice_t client_id,
                                        pmq_slice_t pattern);
/* type is RLOG_CMD_MQTT_QOS2_IN, _QOS2_REL, _OUT_REC or _OUT_COMP. */
PMQ_MUST_USE int rlog_encode_mqtt_pid(pmq_buf_t *out, rlog_cmd_type_t type, pmq_slice_t client_id,
                                      uint16_t pid);
PMQ_MUST_USE int rlog_encode_mqtt_out_bind(pmq_buf_t *out, pmq_slice_t client_id, uint64_t seq,
                                           uint16_t pid);
/* RETAIN: the same fields as PUBLISH; an empty body clears the topic's retained message. */
PMQ_MUST_USE int rlog_encode_retain(pmq_buf_t *out, pmq_slice_t dest, const rlog_msg_props_t *p,
                                    const rlog_header_t *headers, size_t header_count,
                                    pmq_slice_t body);

const char *rlog_cmd_type_name(rlog_cmd_type_t t);

#endif
