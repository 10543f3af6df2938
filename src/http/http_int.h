/* Internal declarations shared by the files of the HTTP layer (never included elsewhere).
 *
 * Character-class helpers and the HTTP/1.1 head validator used by the parser. */
#ifndef PAXMQ_HTTP_INT_H
#define PAXMQ_HTTP_INT_H

#include "paxmq/http.h"

/* RFC 9110 §5.6.2 token characters. */
static inline bool http__is_tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field-value bytes: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5). */
static inline bool http__is_value_char(unsigned char c) {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* ASCII case-insensitive equality of a slice and a C string. */
bool http__ascii_ieq(pmq_slice_t s, const char *lit);
/* ASCII case-insensitive prefix test. */
bool http__ascii_prefix(pmq_slice_t s, const char *prefix);
/* True when the comma-separated list s contains token (case-insensitive, OWS trimmed). */
bool http__list_has_token(pmq_slice_t s, const char *token);

/* Validates and slices the complete head p->[start, head_len) of data (h1_head.c). */
int http__parse_head(http_parser_t *p, const char *data, pmq_proto_err_t *err);
/* Header-level semantics after the fields are split: Host, Content-Length,
 * Transfer-Encoding, Connection, Expect, Upgrade (h1_fields.c). */
int http__check_semantics(http_parser_t *p, pmq_proto_err_t *err);


/* ---- server internals (pmq_http only; the codec never sees these) ---- */
#ifdef PMQ_HTTP_SERVER_INTERNALS
#include <nghttp2/nghttp2.h>
#include <uv.h>

#define HTTP_ROUTES_MAX 64
#define HTTP_CHECKS_MAX 32
#define HTTP_RESP_HEADERS_MAX 16
#define HTTP_CODES_MAX 32
#define HTTP_READ_CHUNK (64 * 1024)

typedef struct http_conn http_conn_t;

typedef struct http_route {
    char *path;
    size_t path_len;
    unsigned methods;
    unsigned flags;
    http_handler_fn fn;
    void *arg;
} http_route_t;

typedef struct http_router {
    http_route_t routes[HTTP_ROUTES_MAX];
    size_t count;
} http_router_t;

typedef struct http_route_match {
    const http_route_t *route;
    pmq_slice_t tail;
    unsigned allowed; /* methods allowed on the path, for 405's Allow */
} http_route_match_t;

void http__router_init(http_router_t *r);
void http__router_close(http_router_t *r);
int http__router_add(http_router_t *r, unsigned methods, const char *path, unsigned flags,
                     http_handler_fn fn, void *arg);
/* Returns 200 (out filled), 404 or 405 (out->allowed filled). HEAD matches GET routes. */
int http__router_match(const http_router_t *r, http_method_t m, pmq_slice_t path,
                       http_route_match_t *out);

typedef struct http_check {
    char *name;
    unsigned mask;
    http_check_fn fn;
    void *arg;
} http_check_t;

typedef struct http_code_count {
    int code;
    uint64_t count;
} http_code_count_t;

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t lag_timer;
    int handles_open; /* listener + lag timer; the server is freed when 0 and no conns */
    http_limits_t limits;
    http_app_t app; /* strings owned */
    http_router_t router;
    http_check_t checks[HTTP_CHECKS_MAX];
    size_t check_count;
    http_conn_t *conns; /* intrusive list of live connections */
    uint32_t conn_count;
    bool closing;
    uint16_t port;
    uint64_t start_wall_ms;
    uint64_t lag_last_ms;
    uint64_t loop_lag_ms; /* most recent measured lag of the 100 ms timer */
    http_server_stats_t stats;
    http_code_count_t codes[HTTP_CODES_MAX];
    pmq_ratelimit_t bad_log;
    char read_buf[HTTP_READ_CHUNK]; /* scratch for uv_read; copied out at once */
};

typedef enum http_proto { HTTP_PROTO_H1, HTTP_PROTO_H2 } http_proto_t;

typedef enum http_timer_kind {
    HTTP_TIMER_NONE,
    HTTP_TIMER_REQUEST,
    HTTP_TIMER_IDLE,
    HTTP_TIMER_LINGER,
} http_timer_kind_t;

struct http_response {
    uint32_t refs;           /* connection's (until sent/stream closed) + async handler's */
    http_conn_t *conn;       /* NULL once detached (client gone, server closing) */
    http_response_t *next;   /* in conn->exchanges */
    http_response_t *prev;
    int32_t stream_id;       /* HTTP/2 stream, 0 for HTTP/1.1 */
    http_request_t req;
    http_parser_t parser;    /* HTTP/1.1: re-parses the owned copy in raw */
    pmq_buf_t raw;           /* owned request bytes (h1: head+body; h2: header strings) */
    pmq_buf_t h2_fields;     /* h2: offsets (uint32 name_off,name_len,val_off,val_len) */
    pmq_buf_t h2_body;
    http_header_t *h2_headers;
    uint32_t h2_method[2];   /* offset, len in raw */
    uint32_t h2_path[2];
    int error_status;        /* h2: refuse with this status instead of dispatching */
    int status;
    pmq_buf_t body;
    char *hdr_name[HTTP_RESP_HEADERS_MAX];
    char *hdr_value[HTTP_RESP_HEADERS_MAX];
    size_t hdr_count;
    size_t h2_sent;
    bool dispatched;
    bool in_handler;
    bool async;
    bool finished;
    bool sent;
    bool cancelled;
    void (*cancel_fn)(void *arg, http_response_t *resp);
    void *cancel_arg;
};

struct http_conn {
    http_server_t *srv;
    http_conn_t *next;
    http_conn_t *prev;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    int handles_open;
    http_proto_t proto;
    pmq_buf_t in;
    http_parser_t parser;
    http_response_t *exchanges; /* live exchanges (h1: at most one) */
    http_response_t *inflight;  /* h1: the request being answered */
    nghttp2_session *h2;
    size_t out_pending;
    uint64_t requests;
    uint64_t req_start_ms;
    uint64_t active_ms;
    http_timer_kind_t timer_kind;
    bool reading;
    bool read_eof;
    bool draining; /* no more requests: flush, shutdown, linger, close */
    bool shutdown_started;
    bool closing;  /* uv_close issued; freed when both handles closed */
    bool continue_sent;
    bool h2_in_recv;
    bool h2_writing;
    bool h1_processing;
};

/* server.c: frees a closing server once its handles and connections are gone. */
void http__server_maybe_free(http_server_t *srv);

/* conn.c */
void http__conn_accept(http_server_t *srv);
/* Queues bytes for writing (copied). On failure the connection is closed. */
void http__conn_write(http_conn_t *conn, const void *p, size_t n);
/* Takes the buffer's storage (ownership moves; b is left empty) and queues it. */
void http__conn_write_take(http_conn_t *conn, pmq_buf_t *b);
/* Stop taking requests, flush, half-close, drain input for linger_ms, then close. */
void http__conn_drain(http_conn_t *conn);
/* Immediate close (two steps: mark and uv_close; freed from the close callbacks). */
void http__conn_close(http_conn_t *conn);
void http__conn_arm_timer(http_conn_t *conn);
void http__conn_read_control(http_conn_t *conn);
void http__count_code(http_server_t *srv, int status);

/* h1.c */
void http__h1_process(http_conn_t *conn);
void http__h1_send(http_conn_t *conn, http_response_t *ex);
void http__h1_error(http_conn_t *conn, int status, const char *reason);

/* h2.c */
int http__h2_start(http_conn_t *conn, const http_request_t *upgrade_req, http_response_t *ex);
void http__h2_recv(http_conn_t *conn, const char *data, size_t len);
void http__h2_send(http_conn_t *conn, http_response_t *ex);
void http__h2_flush(http_conn_t *conn);
void http__h2_idle(http_conn_t *conn);

/* exchange.c */
http_response_t *http__exchange_new(http_conn_t *conn);
void http__exchange_unref(http_response_t *ex);
/* The connection is done with ex: unlink it and drop the connection's reference. */
void http__exchange_release(http_response_t *ex);
/* Detaches from the connection (client gone): cancel callback, then release. */
void http__exchange_detach(http_response_t *ex);
void http__exchange_dispatch(http_response_t *ex);
/* Replaces any response with a short text error. */
void http__exchange_error(http_response_t *ex, int status, const char *reason);
/* Sends a finished response on its connection (h1 or h2). */
void http__exchange_send(http_response_t *ex);

/* probes.c / metrics.c */
int http__probes_register(http_server_t *srv);
int http__metrics_register(http_server_t *srv);

/* procstat.c */
typedef struct http_procstat {
    double cpu_seconds;
    double start_time_seconds;
    uint64_t rss_bytes;
    uint64_t vsize_bytes;
    uint64_t open_fds;
    uint64_t max_fds;
} http_procstat_t;
int http__procstat_read(http_procstat_t *out);

/* auth.c */
bool http__auth_ok(const http_server_t *srv, const http_request_t *req);
#endif /* PMQ_HTTP_SERVER_INTERNALS */

#endif
