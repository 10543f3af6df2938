/* MQTT 3.1.1 (and 3.1 "MQIsdp", protocol level 3) for paxmq: the pure packet codec
 * (mqtt_codec.c, mqtt_encode.c), topic rules and the ActiveMQ name mapping
 * (mqtt_topic.c), and, below the session marker, the per-connection protocol logic.
 *
 * The codec links only pmq_base. The parser never allocates: a parsed packet refers into
 * the caller's read buffer and SUBSCRIBE/UNSUBSCRIBE filter lists are validated at parse
 * time and then iterated lazily (mqtt_filter_iter_*). Bad input is data (PMQ_EPROTO /
 * PMQ_ETOOBIG with pmq_proto_err_t), never an assertion. Every rejection and the spec
 * statement it enforces is listed in docs/MQTT.md. */
#ifndef PAXMQ_MQTT_H
#define PAXMQ_MQTT_H

#include "paxmq/base.h"
#include "paxmq/buf.h"

/* ---- codec (mqtt_codec.c, mqtt_encode.c) ---- */

/* Control packet types, MQTT 3.1.1 §2.2.1 (0 and 15 are reserved and rejected). */
typedef enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
} mqtt_type_t;

/* Protocol levels accepted in CONNECT: "MQIsdp" level 3 (MQTT 3.1) and "MQTT" level 4. */
typedef enum mqtt_level { MQTT_LEVEL_31 = 3, MQTT_LEVEL_311 = 4 } mqtt_level_t;

typedef enum mqtt_qos { MQTT_QOS_0 = 0, MQTT_QOS_1 = 1, MQTT_QOS_2 = 2 } mqtt_qos_t;

/* CONNACK return codes, §3.2.2.3. */
typedef enum mqtt_connack_rc {
    MQTT_CONNACK_ACCEPTED = 0,
    MQTT_CONNACK_BAD_PROTOCOL = 1,    /* unacceptable protocol version */
    MQTT_CONNACK_ID_REJECTED = 2,     /* identifier rejected */
    MQTT_CONNACK_UNAVAILABLE = 3,     /* server unavailable */
    MQTT_CONNACK_BAD_CREDENTIALS = 4, /* bad user name or password */
    MQTT_CONNACK_NOT_AUTHORIZED = 5,
} mqtt_connack_rc_t;

/* SUBACK return code for a refused filter, §3.9.3 (granted QoS is 0, 1 or 2). */
#define MQTT_SUBACK_FAILURE 0x80

/* Remaining Length is 1..4 bytes of 7 bits (§2.2.3). */
#define MQTT_REMAINING_LENGTH_MAX 268435455u
#define MQTT_FIXED_HEADER_BYTES_MAX 5u
#define MQTT_PACKET_BYTES_CEILING (MQTT_REMAINING_LENGTH_MAX + MQTT_FIXED_HEADER_BYTES_MAX)
/* Strings and binary fields carry a 16-bit length (§1.5.3). */
#define MQTT_STRING_BYTES_MAX 65535u
/* MQTT 3.1 §3.1: a client identifier has 1..23 characters. */
#define MQTT_V31_CLIENT_ID_CHARS_MAX 23u
/* §3.1.3.1 [MQTT-3.1.3-5]: a server MUST accept client ids of 1..23 bytes. */
#define MQTT_CLIENT_ID_BYTES_MIN_LIMIT 23u

/* Defaults for mqtt_parser_cfg_t (mqtt_parser_cfg_default); the config layer may override. */
#define MQTT_PACKET_BYTES_MAX_DEFAULT ((uint32_t)16 * 1024 * 1024)
#define MQTT_FILTERS_MAX_DEFAULT ((uint32_t)128)
#define MQTT_CLIENT_ID_BYTES_MAX_DEFAULT ((uint32_t)256)

/* Which side of the connection the parser reads for. A server parser rejects packets
 * only a server may send (CONNACK, SUBACK, UNSUBACK, PINGRESP), anything before the
 * first CONNECT [MQTT-3.1.0-1] and a second CONNECT [MQTT-3.1.0-2]; a client parser
 * rejects the client-to-server-only packets. MQTT_ROLE_ANY accepts every packet type in
 * any order (tests, fuzzing, tools). */
typedef enum mqtt_role {
    MQTT_ROLE_SERVER = 0,
    MQTT_ROLE_CLIENT = 1,
    MQTT_ROLE_ANY = 2,
} mqtt_role_t;

typedef struct mqtt_parser_cfg {
    uint32_t packet_bytes_max;    /* whole packet with fixed header; 2..PACKET_BYTES_CEILING */
    uint32_t filters_max;         /* filters per SUBSCRIBE / UNSUBSCRIBE; >= 1 */
    uint32_t client_id_bytes_max; /* level 4 client ids; CLIENT_ID_BYTES_MIN_LIMIT..65535 */
    mqtt_role_t role;
} mqtt_parser_cfg_t;

/* Parser state, a few bytes per connection. Callers embed it and treat the fields as
 * private; use the accessor functions below. */
typedef struct mqtt_parser {
    mqtt_parser_cfg_t cfg;
    uint32_t packet_bytes; /* size of the packet at buf[0] once its fixed header is known */
    uint8_t level;         /* protocol level in use: from CONNECT, or set by the caller */
    bool connected;        /* server role: a CONNECT has been parsed */
    bool failed;           /* an error was returned; the parser must not be used again */
} mqtt_parser_t;

/* CONNECT, §3.1. Strings are validated UTF-8 without U+0000; binary fields are not. */
typedef struct mqtt_connect {
    pmq_slice_t protocol_name; /* "MQTT" or "MQIsdp" */
    uint8_t level;             /* MQTT_LEVEL_311 or MQTT_LEVEL_31 */
    bool clean_session;
    uint16_t keepalive_s; /* 0 disables the keep-alive mechanism (§3.1.2.10) */
    pmq_slice_t client_id; /* may be empty (level 4 with clean_session only) */
    bool will;
    uint8_t will_qos; /* 0 unless will */
    bool will_retain; /* false unless will */
    pmq_slice_t will_topic;   /* a valid topic name when will */
    pmq_slice_t will_payload; /* binary, may be empty */
    bool has_username;
    bool has_password; /* implies has_username [MQTT-3.1.2-22] */
    pmq_slice_t username;
    pmq_slice_t password; /* binary */
} mqtt_connect_t;

/* CONNACK, §3.2. */
typedef struct mqtt_connack {
    bool session_present;
    uint8_t rc; /* mqtt_connack_rc_t */
} mqtt_connack_t;

/* PUBLISH, §3.3. */
typedef struct mqtt_publish {
    pmq_slice_t topic; /* a valid topic name: non-empty, no wildcards */
    uint16_t pid;      /* 0 for QoS 0, non-zero otherwise */
    uint8_t qos;
    bool dup;
    bool retain;
    pmq_slice_t payload; /* binary, may be empty */
} mqtt_publish_t;

/* SUBSCRIBE (§3.8) and UNSUBSCRIBE (§3.10): the packet id and the validated filter
 * list, read with mqtt_filter_iter_*. */
typedef struct mqtt_sub_list {
    uint16_t pid;
    uint32_t count;  /* >= 1 and <= cfg.filters_max */
    pmq_slice_t raw; /* the payload: (u16 length, filter[, options byte]) repeated */
} mqtt_sub_list_t;

/* SUBACK, §3.9. */
typedef struct mqtt_suback {
    uint16_t pid;
    pmq_slice_t codes; /* one byte per filter: 0, 1, 2 or MQTT_SUBACK_FAILURE */
} mqtt_suback_t;

/* One decoded packet. Which member is valid depends on type: connect, connack, publish,
 * subscribe, unsubscribe, suback, or pid for PUBACK, PUBREC, PUBREL, PUBCOMP and
 * UNSUBACK; PINGREQ, PINGRESP and DISCONNECT carry nothing. Slices point into the
 * buffer given to mqtt_parse. */
typedef struct mqtt_packet {
    mqtt_type_t type;
    uint8_t flags;         /* low nibble of the first byte, as received */
    uint32_t packet_bytes; /* fixed header + remaining length */
    union {
        mqtt_connect_t connect;
        mqtt_connack_t connack;
        mqtt_publish_t publish;
        mqtt_sub_list_t subscribe;
        mqtt_sub_list_t unsubscribe;
        mqtt_suback_t suback;
        uint16_t pid;
    };
} mqtt_packet_t;

/* One topic filter of a SUBSCRIBE (with its requested QoS) or UNSUBSCRIBE (qos 0). */
typedef struct mqtt_filter {
    pmq_slice_t filter;
    uint8_t qos;
} mqtt_filter_t;

typedef struct mqtt_filter_iter {
    pmq_rd_t rd;
    bool with_qos;
} mqtt_filter_iter_t;

/* Fills *cfg with the defaults (server role, MQTT_*_DEFAULT limits). Any thread. */
void mqtt_parser_cfg_default(mqtt_parser_cfg_t *cfg);

/* True when every limit in cfg is within the ranges documented on mqtt_parser_cfg_t, so
 * the config layer can reject a bad value with a clear message. Any thread. */
bool mqtt_parser_cfg_is_valid(const mqtt_parser_cfg_t *cfg);

/* Initializes a caller-embedded parser with a copy of *cfg (NULL = defaults) and
 * protocol level 4. Allocates nothing, so there is no _close. cfg must satisfy
 * mqtt_parser_cfg_is_valid (asserted: the config layer validates). Owner's thread. */
void mqtt_parser_init(mqtt_parser_t *p, const mqtt_parser_cfg_t *cfg);

/* Sets the protocol level used for the level-dependent rules (a client parser learns it
 * from the CONNECT it sent; a server parser takes it from the CONNECT it parsed). */
void mqtt_parser_set_level(mqtt_parser_t *p, mqtt_level_t level);

/* Protocol level in use (4 until a CONNECT says otherwise). */
uint8_t mqtt_parser_level(const mqtt_parser_t *p);

/* After PMQ_EAGAIN: the total size of the packet at buf[0] once its fixed header is
 * complete (already checked against packet_bytes_max), or 0 while the fixed header is
 * still incomplete. The caller can size its buffer from it. */
uint32_t mqtt_parser_packet_bytes(const mqtt_parser_t *p);

/* Parses at most one packet from the front of buf[0..len), which must start at a packet
 * boundary. buf is borrowed and not modified; nothing is allocated. The parser keeps
 * no partial state between calls except the packet size: the caller keeps the bytes,
 * appends new ones and calls again (each call re-reads at most 5 header bytes before it
 * knows the packet is complete, so the total work stays linear).
 *
 * Returns:
 *   0            *out holds one packet; *consumed = out->packet_bytes. Slices point into
 *                buf and stay valid while the caller keeps those bytes.
 *   PMQ_EAGAIN   the packet is incomplete; *consumed = 0; mqtt_parser_packet_bytes()
 *                reports its total size as soon as the fixed header is complete.
 *   PMQ_EPROTO   malformed or forbidden packet; PMQ_ETOOBIG a configured limit was hit
 *                (packet size as soon as the fixed header proves it, filter count).
 *                *consumed = 0, err->must_close = true, and err->code is the CONNACK
 *                return code to send before closing (MQTT_CONNACK_BAD_PROTOCOL,
 *                MQTT_CONNACK_ID_REJECTED) when the bad packet is a CONNECT that
 *                warrants one, else 0 meaning close without sending anything. The parser
 *                is then failed: calling it again is a bug (asserted).
 * First-byte checks (reserved type, flags, role, CONNECT order) fire with len >= 1.
 * Loop thread (the parser's owner). */
PMQ_MUST_USE int mqtt_parse(mqtt_parser_t *p, const char *buf, size_t len, size_t *consumed,
                            mqtt_packet_t *out, pmq_proto_err_t *err);

/* Starts iterating the filters of a parsed SUBSCRIBE or UNSUBSCRIBE packet (asserted).
 * The iterator borrows pkt's buffer. */
void mqtt_filter_iter_init(mqtt_filter_iter_t *it, const mqtt_packet_t *pkt);

/* Stores the next filter in *out and returns true, or returns false at the end. The
 * list was validated by mqtt_parse, so this cannot fail on a parsed packet. */
bool mqtt_filter_iter_next(mqtt_filter_iter_t *it, mqtt_filter_t *out);

/* Wire name of a packet type ("PUBLISH"); "RESERVED" for anything else. */
const char *mqtt_type_name(int type);

/* Decodes a Remaining Length (§2.2.3) from buf[0..len) (the bytes after the first
 * header byte). Returns 0 with *value and *used (1..4), PMQ_EAGAIN when more bytes are
 * needed, PMQ_EPROTO for a fifth byte or a non-minimal encoding. Pure, any thread. */
PMQ_MUST_USE int mqtt_remaining_length_decode(const char *buf, size_t len, uint32_t *value,
                                              size_t *used);

/* Encodes v (<= MQTT_REMAINING_LENGTH_MAX, asserted) into out, returning 1..4. */
size_t mqtt_remaining_length_encode(uint32_t v, char out[4]);

/* ---- encoders (mqtt_encode.c) ----
 * Each appends exactly one packet to b or, on failure, leaves b unchanged. They return
 * 0, PMQ_ETOOBIG when a string exceeds 65535 bytes, the packet exceeds
 * MQTT_REMAINING_LENGTH_MAX or b's limit would be passed, or PMQ_ENOMEM. Arguments that
 * only our own code could get wrong (QoS > 2, packet id 0 where one is required, a
 * type that does not fit the function) are asserted. Any thread that owns b. */

PMQ_MUST_USE int mqtt_encode_connect(pmq_buf_t *b, const mqtt_connect_t *c);
PMQ_MUST_USE int mqtt_encode_connack(pmq_buf_t *b, bool session_present, uint8_t rc);
/* The whole PUBLISH: header, topic, packet id (QoS > 0) and payload. */
PMQ_MUST_USE int mqtt_encode_publish(pmq_buf_t *b, const mqtt_publish_t *m);
/* Only the header part of a PUBLISH (fixed header, topic, packet id); its Remaining
 * Length counts m->payload.len bytes that the caller writes next (e.g. as a separate
 * iovec referring to a shared message body). m->payload.ptr is not read. */
PMQ_MUST_USE int mqtt_encode_publish_header(pmq_buf_t *b, const mqtt_publish_t *m);
/* Size of the header mqtt_publish_header_write produces for m, or 0 when m cannot be
 * encoded (topic > 65535 bytes or packet > MQTT_REMAINING_LENGTH_MAX). At most
 * MQTT_FIXED_HEADER_BYTES_MAX + 2 + topic + 2. */
size_t mqtt_publish_header_bytes(const mqtt_publish_t *m);
/* Writes the PUBLISH header into dst[0..cap) (the zero-copy fast path for fan-out: one
 * header per subscriber, one shared payload). *written = bytes written. PMQ_ETOOBIG
 * when m cannot be encoded or cap < mqtt_publish_header_bytes(m). */
PMQ_MUST_USE int mqtt_publish_header_write(const mqtt_publish_t *m, char *dst, size_t cap,
                                           size_t *written);
/* PUBACK, PUBREC, PUBREL (flags 0b0010), PUBCOMP or UNSUBACK with a non-zero pid. */
PMQ_MUST_USE int mqtt_encode_ack(pmq_buf_t *b, mqtt_type_t type, uint16_t pid);
/* SUBSCRIBE with n >= 1 filters (qos <= 2 each). */
PMQ_MUST_USE int mqtt_encode_subscribe(pmq_buf_t *b, uint16_t pid, const mqtt_filter_t *filters,
                                       size_t n);
/* SUBACK with n >= 1 return codes (0, 1, 2 or MQTT_SUBACK_FAILURE each). */
PMQ_MUST_USE int mqtt_encode_suback(pmq_buf_t *b, uint16_t pid, const uint8_t *codes, size_t n);
/* UNSUBSCRIBE with n >= 1 filters. */
PMQ_MUST_USE int mqtt_encode_unsubscribe(pmq_buf_t *b, uint16_t pid, const pmq_slice_t *filters,
                                         size_t n);
/* PINGREQ, PINGRESP or DISCONNECT (two bytes, no body). */
PMQ_MUST_USE int mqtt_encode_empty(pmq_buf_t *b, mqtt_type_t type);
/* Re-encodes any packet as mqtt_parse returned it (tests, fuzzing, tools). */
PMQ_MUST_USE int mqtt_encode_packet(pmq_buf_t *b, const mqtt_packet_t *pkt);

static inline PMQ_MUST_USE int mqtt_encode_puback(pmq_buf_t *b, uint16_t pid) {
    return mqtt_encode_ack(b, MQTT_PUBACK, pid);
}
static inline PMQ_MUST_USE int mqtt_encode_pubrec(pmq_buf_t *b, uint16_t pid) {
    return mqtt_encode_ack(b, MQTT_PUBREC, pid);
}
static inline PMQ_MUST_USE int mqtt_encode_pubrel(pmq_buf_t *b, uint16_t pid) {
    return mqtt_encode_ack(b, MQTT_PUBREL, pid);
}
static inline PMQ_MUST_USE int mqtt_encode_pubcomp(pmq_buf_t *b, uint16_t pid) {
    return mqtt_encode_ack(b, MQTT_PUBCOMP, pid);
}
static inline PMQ_MUST_USE int mqtt_encode_unsuback(pmq_buf_t *b, uint16_t pid) {
    return mqtt_encode_ack(b, MQTT_UNSUBACK, pid);
}
static inline PMQ_MUST_USE int mqtt_encode_pingreq(pmq_buf_t *b) {
    return mqtt_encode_empty(b, MQTT_PINGREQ);
}
static inline PMQ_MUST_USE int mqtt_encode_pingresp(pmq_buf_t *b) {
    return mqtt_encode_empty(b, MQTT_PINGRESP);
}
static inline PMQ_MUST_USE int mqtt_encode_disconnect(pmq_buf_t *b) {
    return mqtt_encode_empty(b, MQTT_DISCONNECT);
}

/* ---- topics (mqtt_topic.c) ----
 * Pure functions over borrowed slices; any thread. */

/* A PUBLISH (or will) topic name: 1..65535 bytes of UTF-8 without U+0000 (§1.5.3,
 * [MQTT-4.7.3-1]) and without '+' or '#' [MQTT-3.3.2-2]. */
bool mqtt_topic_name_is_valid(pmq_slice_t topic);

/* A SUBSCRIBE/UNSUBSCRIBE topic filter: 1..65535 bytes of UTF-8 without U+0000; '#'
 * only as the whole last level [MQTT-4.7.1-2]; '+' only as a whole level
 * [MQTT-4.7.1-3]. */
bool mqtt_topic_filter_is_valid(pmq_slice_t filter);

/* True when a valid filter contains '+' or '#'. */
bool mqtt_topic_filter_has_wildcard(pmq_slice_t filter);

/* §4.7 matching of a valid filter against a valid topic name: levels split at '/',
 * '+' matches exactly one (possibly empty) level, a trailing '#' matches the parent
 * level and any number of levels below it ("sport/#" matches "sport"), and a filter
 * starting with '+' or '#' never matches a topic starting with '$' (§4.7.2). */
bool mqtt_topic_matches(pmq_slice_t filter, pmq_slice_t topic);

/* ActiveMQ's one namespace: appends the STOMP destination for an MQTT topic name or
 * filter to out: "/topic/" followed by the topic with '/' <-> '.', '+' <-> '*' and
 * '#' <-> '>' swapped (ActiveMQ MQTTProtocolSupport.convertMQTTToActiveMQ), so
 * "a/b/c" -> "/topic/a.b.c", "a/+/#" -> "/topic/a.*.>" and "v1.0/x" -> "/topic/v1/0.x".
 * The swap is its own inverse, so every name round-trips exactly. PMQ_ETOOBIG past
 * out's limit, PMQ_ENOMEM; out is unchanged on failure. */
PMQ_MUST_USE int mqtt_topic_to_stomp(pmq_slice_t topic, pmq_buf_t *out);

/* The reverse: appends the MQTT topic (or filter) for a STOMP destination
 * "/topic/NAME" to out. PMQ_EINVAL when the destination does not start with "/topic/"
 * or NAME is empty; PMQ_ETOOBIG when NAME exceeds 65535 bytes or out's limit;
 * PMQ_ENOMEM. The result is not validated: check it with mqtt_topic_name_is_valid or
 * mqtt_topic_filter_is_valid as the use requires. out is unchanged on failure. */
PMQ_MUST_USE int mqtt_topic_from_stomp(pmq_slice_t destination, pmq_buf_t *out);

/* ---- session (mqtt_session.c) ---- */

#include "paxmq/auth.h"
#include "paxmq/broker.h"
#include "paxmq/net.h"

/* The MQTT server: one connection object per TCP connection and one session object per
 * client id, on the loop thread. It parses packets with the codec above, turns them into
 * broker operations (durable ones proposed through the log) and writes the replies and
 * deliveries. PUBACK (QoS 1), PUBREC (QoS 2), SUBACK and UNSUBACK of a persistent session,
 * and the CONNACK that creates or discards a persistent session are sent only once the
 * command is durable. The model, the limits and the STOMP mapping: docs/MQTT.md. */
typedef struct mqtt_server mqtt_server_t;

typedef struct mqtt_server_options {
    mqtt_parser_cfg_t parser;     /* packet size, filters per SUBSCRIBE, client id length */
    uint32_t inflight_max;        /* outbound QoS 1/2 messages unacknowledged per session */
    uint32_t queued_max;          /* per session, beyond the in-flight window */
    uint32_t keepalive_grace_pct; /* a silent client is closed after keep-alive * (1+pct/100) */
    uint32_t retained_max;        /* topics with a retained message, broker-wide */
    uint32_t sys_interval_ms;     /* $SYS/broker/... updates; 0 = none */
    uint32_t connections_max;     /* open connections of all listeners; then CONNACK 0x03 */
    uint32_t connect_timeout_ms;  /* CONNECT must arrive (and a packet complete) within it */
    uint32_t idle_timeout_ms;     /* close a connection that sends nothing this long; 0 = off */
    uint32_t read_bytes_max;      /* net.read_bytes_max: sizes the partial-packet stash cap */
    uint32_t sessions_max;        /* destinations (queues) before CONNACK 0x03 for a new
                                   * persistent session; usually broker.destinations_max */
    const char *server_name;      /* $SYS/broker/version */
    const auth_t *auth;           /* CONNECT user name/password; NULL accepts everyone */
} mqtt_server_options_t;

typedef struct mqtt_server_stats {
    uint64_t connections;         /* open now */
    uint64_t sessions;            /* sessions known now (persistent ones also while offline) */
    uint64_t connects, packets_in, packets_out, messages_in, messages_out;
    uint64_t protocol_errors, keepalive_timeouts, rejected_connections, takeovers;
    uint64_t wills_published, dropped; /* dropped: deliveries refused (window and queue full) */
    uint64_t auth_failures;
} mqtt_server_stats_t;

/* Fills o with the defaults of the mqtt.* configuration keys. Any thread. */
void mqtt_server_options_default(mqtt_server_options_t *o);

/* Creates the server over net and broker b (both borrowed; they must outlive it). log is
 * how durable commands are proposed (the broker's). opts is copied; opts->parser must
 * satisfy mqtt_parser_cfg_is_valid (its role is forced to MQTT_ROLE_SERVER) and
 * inflight_max must be 1..65535 (asserted: the config layer validates). PMQ_ENOMEM. */
PMQ_MUST_USE int mqtt_server_new(mqtt_server_t **out, net_t *net, broker_t *b,
                                 const broker_log_t *log, const mqtt_server_options_t *opts);
/* Starts listening on host:port. libuv errors as net_listen. */
PMQ_MUST_USE int mqtt_server_listen(mqtt_server_t *s, const char *host, uint16_t port);
/* The port bound by the last mqtt_server_listen (useful with port 0), or 0. */
uint16_t mqtt_server_port(const mqtt_server_t *s);
/* Keep-alive and connect timeouts, and $SYS updates when due; call every ~100 ms with a
 * monotonic now_ms. Loop thread. */
void mqtt_server_tick(mqtt_server_t *s, uint64_t now_ms);
/* Closes every connection (MQTT 3.1.1 has no goodbye packet); wills are not published for
 * a shutdown. Persistent sessions stay in the log. Loop thread. */
void mqtt_server_shutdown(mqtt_server_t *s);
/* Frees the server after net_free closed its connections; releases the consumers of
 * offline persistent sessions. Call before broker_free. NULL is a no-op. */
void mqtt_server_free(mqtt_server_t *s);
void mqtt_server_stats_get(const mqtt_server_t *s, mqtt_server_stats_t *out);

#endif
