/* STOMP 1.0/1.1/1.2 for paxmq: the pure frame codec (stomp_codec.c) and, below the
 * session marker, the per-connection protocol logic (stomp_session.c).
 *
 * The codec is a pure function over bytes: it links only pmq_base, never allocates per
 * frame (the header array is allocated once in stomp_parser_init), and a parsed frame
 * refers into the caller's read buffer. Header unescaping happens in place in that buffer.
 * Parsing is incremental and resumable: bytes can arrive split anywhere and the total work
 * stays linear in the bytes received. Bad input is data (PMQ_EPROTO / PMQ_ETOOBIG with a
 * reason in pmq_proto_err_t), never an assertion. Limits and escaping: docs/STOMP_CODEC.md. */
#ifndef PAXMQ_STOMP_H
#define PAXMQ_STOMP_H

#include "paxmq/base.h"
#include "paxmq/buf.h"

/* ---- codec (stomp_codec.c) ---- */

typedef enum stomp_command {
    STOMP_CMD_UNKNOWN = 0,
    STOMP_CMD_CONNECT,
    STOMP_CMD_STOMP,
    STOMP_CMD_SEND,
    STOMP_CMD_SUBSCRIBE,
    STOMP_CMD_UNSUBSCRIBE,
    STOMP_CMD_ACK,
    STOMP_CMD_NACK,
    STOMP_CMD_BEGIN,
    STOMP_CMD_COMMIT,
    STOMP_CMD_ABORT,
    STOMP_CMD_DISCONNECT,
    STOMP_CMD_CONNECTED,
    STOMP_CMD_MESSAGE,
    STOMP_CMD_RECEIPT,
    STOMP_CMD_ERROR,
} stomp_command_t;

#define STOMP_CMD_COUNT ((int)STOMP_CMD_ERROR + 1)

typedef enum stomp_version { STOMP_V1_0 = 10, STOMP_V1_1 = 11, STOMP_V1_2 = 12 } stomp_version_t;

/* A command line longer than this (without its EOL) is rejected with PMQ_EPROTO. */
#define STOMP_COMMAND_BYTES_MAX 64

/* Defaults for stomp_limits_t (stomp_limits_default); the config layer may override. */
#define STOMP_FRAME_BYTES_MAX_DEFAULT ((size_t)4 * 1024 * 1024)
#define STOMP_HEADER_COUNT_MAX_DEFAULT ((size_t)1000)
#define STOMP_HEADER_BYTES_MAX_DEFAULT ((size_t)10 * 1024)
/* stomp_parser_init refuses a header_count_max above this (it sizes one allocation). */
#define STOMP_HEADER_COUNT_MAX_CEILING ((size_t)1 << 20)

typedef struct stomp_header {
    pmq_slice_t name;
    pmq_slice_t value;
} stomp_header_t;

typedef struct stomp_limits {
    size_t frame_bytes_max;  /* whole frame: command line, headers, blank line, body, NUL */
    size_t header_count_max; /* header lines per frame */
    size_t header_bytes_max; /* one header line as received: name + ':' + value, no EOL */
} stomp_limits_t;

typedef struct stomp_frame {
    stomp_command_t command;
    pmq_slice_t command_name;  /* as received (without EOL), for error messages */
    stomp_header_t *headers;   /* decoded (unescaped) name/value slices, in wire order */
    size_t header_count;
    pmq_slice_t body;          /* may contain NUL when content-length was given */
    bool has_content_length;
} stomp_frame_t;

/* Parser state. Callers embed it and treat every field as private. All offsets are
 * relative to the start of the frame being scanned, which is always buf[0] once the
 * caller has dropped the bytes reported in *consumed. */
typedef struct stomp_parser {
    stomp_limits_t limits;
    stomp_version_t version;
    stomp_header_t *headers; /* limits.header_count_max entries, allocated once */
    bool headers_borrowed;   /* headers belongs to the caller (stomp_parser_init_shared) */
    int state;               /* private scan state (stomp_codec.c) */
    bool unescape;           /* this frame's headers use 1.1/1.2 value encoding */
    bool has_content_length;
    stomp_command_t command;
    size_t scan_off;     /* first byte of the frame not yet examined */
    size_t line_off;     /* start of the header line being scanned */
    size_t head_len;     /* command line + header lines + blank line, once known */
    size_t header_count; /* header lines validated so far */
    uint64_t content_length;
    uint64_t scanned_bytes; /* statistic: bytes searched for EOL/NUL since init; it grows
                             * linearly with the input however the input is split */
} stomp_parser_t;

/* Fills *limits with the STOMP_*_DEFAULT values. Any thread. */
void stomp_limits_default(stomp_limits_t *limits);

/* Initializes a caller-allocated parser with a copy of *limits and version 1.0 (no
 * header unescaping), allocating the header array (header_count_max entries) once.
 * Returns PMQ_EINVAL when frame_bytes_max or header_bytes_max is 0 or header_count_max
 * exceeds STOMP_HEADER_COUNT_MAX_CEILING, PMQ_ENOMEM. On failure nothing needs closing.
 * Loop thread (any single thread that owns the parser). */
PMQ_MUST_USE int stomp_parser_init(stomp_parser_t *p, const stomp_limits_t *limits);

/* Frees the header array. Frames returned earlier become invalid. Safe to call twice. */
/* Like stomp_parser_init, but the header array (limits->header_count_max entries) is
 * the caller's and may be shared by every parser of one thread: the parser fills it only
 * when a frame is complete, so a frame's headers are valid until the next stomp_parse
 * call of ANY parser sharing the array. This keeps an idle connection small. */
PMQ_MUST_USE int stomp_parser_init_shared(stomp_parser_t *p, const stomp_limits_t *limits,
                                          stomp_header_t *shared_headers);
void stomp_parser_close(stomp_parser_t *p);

/* Sets the negotiated version, which selects the header value encoding (STOMP 1.2 "Value
 * Encoding"): 1.0 none; 1.1 \n \c \\; 1.2 also \r. CONNECT, STOMP and CONNECTED frames
 * are never unescaped in any version. Takes effect from the next frame. */
void stomp_parser_set_version(stomp_parser_t *p, stomp_version_t v);

/* Forgets any partly scanned frame (e.g. after the caller discarded its buffer). */
void stomp_parser_reset(stomp_parser_t *p);

/* Parses at most one frame from the front of buf[0..len). buf is borrowed and MUTABLE:
 * header unescaping rewrites it in place (decoded text is never longer). Between calls
 * the caller must drop exactly *consumed bytes from the front and may append new bytes;
 * scan progress is remembered so a frame fed in many pieces costs O(its bytes).
 *
 * Returns:
 *   0            *out holds a frame; *consumed counts its bytes including the NUL and
 *                any EOLs after it that are already in buf. out->headers points into the
 *                parser and the slices into buf: both stay valid until the next call or
 *                until the caller moves/overwrites those bytes.
 *   PMQ_EAGAIN   need more bytes. *consumed may be > 0 when leading heart-beat EOLs
 *                ("\n" or "\r\n" between frames) were skipped; the caller drops them.
 *   PMQ_EPROTO   malformed frame; PMQ_ETOOBIG a limit was hit (reported as soon as the
 *                bytes so far prove it, without waiting for the rest). *err holds a short
 *                reason naming the problem or limit, must_close = true, code = 0.
 *                *consumed is 0 and the parser is reset.
 * Loop thread (the parser's owner). */
PMQ_MUST_USE int stomp_parse(stomp_parser_t *p, char *buf, size_t len, size_t *consumed,
                             stomp_frame_t *out, pmq_proto_err_t *err);

/* Finds the first header with this exact (case-sensitive) name; STOMP 1.2 "Repeated
 * Header Entries": the first occurrence wins. NULL when absent. Borrowed result. */
const stomp_header_t *stomp_frame_header(const stomp_frame_t *f, const char *name);

/* Like stomp_frame_header but copies the value slice into *out; false when absent. */
bool stomp_frame_header_value(const stomp_frame_t *f, const char *name, pmq_slice_t *out);

/* Wire name of a command ("SEND"); "UNKNOWN" for STOMP_CMD_UNKNOWN or out-of-range. */
const char *stomp_command_name(stomp_command_t c);

/* Exact, case-sensitive lookup of a wire command name; STOMP_CMD_UNKNOWN if none. */
stomp_command_t stomp_command_lookup(pmq_slice_t name);

/* True when frames of this command use the version's value encoding, i.e. v >= 1.1 and
 * cmd is not CONNECT, STOMP or CONNECTED. */
bool stomp_command_is_escaped(stomp_version_t v, stomp_command_t cmd);

/* True when name:value can be written in a cmd frame of version v so that a peer parses
 * back exactly these bytes: name non-empty; both valid UTF-8 without NUL; no CR anywhere
 * unless escaped (1.2); without escaping (1.0, CONNECT, STOMP, CONNECTED) no LF and no
 * ':' in the name. Sessions use it to drop headers a 1.0 peer cannot receive. */
bool stomp_header_is_encodable(stomp_version_t v, stomp_command_t cmd, pmq_slice_t name,
                               pmq_slice_t value);

/* Appends one complete frame to out: command, headers escaped per version and command
 * (1.0: none; 1.1: \\ \n \c; 1.2: also \r; CONNECT/STOMP/CONNECTED: none), then, when
 * add_content_length is true, "content-length:<body.len>" (any content-length among
 * headers is then skipped), a blank line, the body and NUL. Borrowed arguments.
 * Returns PMQ_EINVAL when a header is not encodable (stomp_header_is_encodable) or the
 * body contains NUL without any content-length; PMQ_ETOOBIG past out's limit; PMQ_ENOMEM.
 * On failure out is left exactly as it was. Any thread (out is the caller's). */
PMQ_MUST_USE int stomp_encode(pmq_buf_t *out, stomp_version_t v, stomp_command_t cmd,
                              const stomp_header_t *headers, size_t n, pmq_slice_t body,
                              bool add_content_length);

/* Building blocks for hot paths that build frames incrementally:
 * begin appends "COMMAND\n" (cmd must be a real command); header appends one escaped
 * "name:value\n" (PMQ_EINVAL when not encodable; never write content-length here when
 * end will add one); end appends the optional content-length header, the blank line, the
 * body and NUL. Each returns PMQ_EINVAL/PMQ_ETOOBIG/PMQ_ENOMEM and then leaves out as it
 * was before that call (earlier parts stay: the caller resets out on failure). */
PMQ_MUST_USE int stomp_encode_begin(pmq_buf_t *out, stomp_command_t cmd);
PMQ_MUST_USE int stomp_encode_header(pmq_buf_t *out, stomp_version_t v, stomp_command_t cmd,
                                     pmq_slice_t name, pmq_slice_t value);
PMQ_MUST_USE int stomp_encode_end(pmq_buf_t *out, pmq_slice_t body, bool add_content_length);

/* Appends s to out escaped per version (1.0 verbatim; 1.1 \\ \n \c; 1.2 also \r).
 * It does not check encodability. PMQ_ETOOBIG/PMQ_ENOMEM, out unchanged on failure. */
PMQ_MUST_USE int stomp_escape(pmq_buf_t *out, stomp_version_t v, pmq_slice_t s);

/* ---- session (stomp_session.c) ---- */

#include "paxmq/auth.h"
#include "paxmq/broker.h"
#include "paxmq/net.h"

/* The STOMP server: one session per connection, on the loop thread. It parses frames
 * with the codec above, turns them into broker operations (durable ones proposed through
 * the broker's log) and writes MESSAGE/RECEIPT/ERROR frames back. RECEIPTs for
 * persistent SENDs, COMMITs and ACKs are sent only once the command is durable. */
typedef struct stomp_server stomp_server_t;

typedef struct stomp_server_options {
    stomp_limits_t limits;
    uint32_t heartbeat_min_ms;     /* the shortest heart-beat interval the broker accepts */
    uint32_t heartbeat_grace_pct;  /* a silent client is closed after interval * (1 + pct/100) */
    uint32_t connect_timeout_ms;   /* close a connection with no CONNECT (or a stalled frame) */
    uint32_t idle_timeout_ms;      /* close a connection silent this long; 0 = never */
    uint32_t connections_max;
    uint32_t subscriptions_max;    /* per connection */
    uint32_t transactions_max;     /* open transactions per connection */
    uint32_t transaction_ops_max;  /* frames in one transaction */
    broker_full_policy_t full_policy;
    uint64_t queue_depth_max;      /* for error messages */
    const char *server_name;       /* CONNECTED server header */
    const auth_t *auth;            /* checks CONNECT login/passcode; borrowed */
} stomp_server_options_t;

typedef struct stomp_server_stats {
    uint64_t sessions, connects, frames_in, frames_out, errors_sent, protocol_errors;
    uint64_t heartbeat_timeouts, rejected_connections, blocked_producers, auth_failures;
    uint64_t held_producers; /* times a producer waited for a slow topic subscriber */
} stomp_server_stats_t;

/* Creates the server over net (borrowed) and broker b (borrowed). log is how durable
 * commands are proposed (the same as the broker's). Options are copied. */
PMQ_MUST_USE int stomp_server_new(stomp_server_t **out, net_t *net, broker_t *b,
                                  const broker_log_t *log, const stomp_server_options_t *opts);
/* Starts listening. libuv errors as net_listen. */
PMQ_MUST_USE int stomp_server_listen(stomp_server_t *s, const char *host, uint16_t port);
/* Heart-beats, heart-beat timeouts and connect timeouts; call every 100 ms. */
void stomp_server_tick(stomp_server_t *s, uint64_t now_ms);
/* Tells every client the broker is shutting down (ERROR frame) and closes them. */
void stomp_server_shutdown(stomp_server_t *s);
/* Frees the server; every session must be gone (net_free closes them). */
void stomp_server_free(stomp_server_t *s);
void stomp_server_stats_get(const stomp_server_t *s, stomp_server_stats_t *out);

/* One connection as the admin API shows it. Strings are borrowed for the callback. */
typedef struct stomp_session_info {
    uint64_t id;
    const char *peer;
    const char *client_id; /* NULL when none */
    int version;           /* 10, 11, 12; 0 before CONNECT */
    uint32_t subscriptions, transactions;
    uint64_t connected_ms; /* monotonic time of accept */
    size_t outbound_bytes;
} stomp_session_info_t;
void stomp_server_foreach(const stomp_server_t *s,
                          void (*cb)(void *arg, const stomp_session_info_t *info), void *arg);
/* Closes connection id with an ERROR frame carrying reason. PMQ_ENOTFOUND. */
PMQ_MUST_USE int stomp_server_close_session(stomp_server_t *s, uint64_t id, const char *reason);

#endif
