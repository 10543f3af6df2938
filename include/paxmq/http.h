/* paxmq HTTP layer: probes, Prometheus metrics and the admin API on one port.
 *
 * One server speaks HTTP/1.1 (keep-alive, pipelining, a strict hand-written parser) and
 * HTTP/2 cleartext (prior knowledge or `Upgrade: h2c`, through nghttp2); both feed one
 * router. Everything runs on the libuv loop thread. The server knows nothing about the
 * broker: the application (main.c) describes itself with http_app_t, registers probe
 * checks and its own routes; handlers may finish asynchronously (after a log commit).
 *
 * The pure codec part (request parser, JSON writer, Prometheus writer, URI helpers) is
 * library pmq_http_codec and links only pmq_base; the server is pmq_http. */
#ifndef PAXMQ_HTTP_H
#define PAXMQ_HTTP_H

#include "paxmq/buf.h"

struct uv_loop_s;

/* ---- limits (STYLE §3: a limit on everything; each enforced at one place) ---- */

typedef struct http_limits {
    size_t request_line_bytes_max; /* method SP target SP version; over -> 414 */
    size_t header_bytes_max;       /* whole header section (h2: header list); over -> 431 */
    size_t header_count_max;       /* header fields; over -> 431 (config http.header_count_max) */
    size_t body_bytes_max;         /* request body; over -> 413 (config http.request_bytes_max) */
    size_t response_bytes_max;     /* response body a handler may build; over -> 500 */
    size_t out_bytes_max;          /* queued unsent bytes per connection before reads pause */
    uint32_t connections_max;      /* accepted connections beyond this are closed at once */
    uint32_t h2_streams_max;       /* SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t request_timeout_ms;   /* an incomplete request older than this -> 408, close */
    uint32_t idle_timeout_ms;      /* keep-alive connection with nothing to do -> close */
    uint32_t linger_ms;            /* after an error response: drain input at most this long */
    uint32_t loop_lag_max_ms;      /* /livez fails when the loop lagged more (CLUSTER §4.2: 5 s) */
    uint32_t store_stall_max_ms;   /* /livez fails when the store stalled longer (30 s) */
} http_limits_t;

/* Fills the documented defaults (docs/HTTP.md): 8 KiB request line, 64 KiB headers and
 * body, 100 headers, 16 MiB responses, 1 MiB queued output, 256 connections, 32 h2
 * streams, 10 s request timeout, 60 s idle, 2 s linger, 5 s loop lag, 30 s store stall.
 * Any thread. */
void http_limits_default(http_limits_t *limits);

/* ---- requests ---- */

typedef enum http_method {
    HTTP_METHOD_UNKNOWN = 0, /* a syntactically valid token we do not implement: 501 */
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_PATCH,
    HTTP_METHOD_OPTIONS,
    HTTP_METHOD_TRACE,
    HTTP_METHOD_CONNECT,
} http_method_t;

/* Route method masks: HTTP_MASK(HTTP_METHOD_GET) | HTTP_MASK(HTTP_METHOD_POST). */
#define HTTP_MASK(m) (1u << (unsigned)(m))

typedef struct http_header {
    pmq_slice_t name; /* as received (HTTP/2: lower case) */
    pmq_slice_t value;
} http_header_t;

/* A parsed request. Every slice is borrowed from storage owned by the server (or by the
 * parser's caller in codec use) and stays valid until the response is finished. */
typedef struct http_request {
    http_method_t method;
    pmq_slice_t method_name; /* the token as received */
    pmq_slice_t target;      /* request-target as received */
    pmq_slice_t path;        /* target up to '?', still percent-encoded */
    pmq_slice_t query;       /* after '?', without it; empty when none */
    pmq_slice_t route_tail;  /* for prefix routes: path after the prefix; else empty */
    int version;             /* 10, 11 or 20 */
    const http_header_t *headers;
    size_t header_count;
    pmq_slice_t body;
    bool keep_alive;      /* HTTP/1.x: the client allows another request afterwards */
    bool expect_continue; /* HTTP/1.1 `Expect: 100-continue` */
    bool h2c_upgrade;     /* a well-formed `Upgrade: h2c` + HTTP2-Settings request */
    pmq_slice_t h2_settings; /* the HTTP2-Settings value (base64url) when h2c_upgrade */
} http_request_t;

/* Finds the first header named name (ASCII case-insensitive). Any thread. */
bool http_request_header(const http_request_t *req, const char *name, pmq_slice_t *value);

/* Looks up key in a query string (`a=1&verbose&b=x`); a key without '=' yields an empty
 * value. The value stays percent-encoded (use http_pct_decode). Any thread. */
bool http_query_get(pmq_slice_t query, const char *key, pmq_slice_t *value);

/* Percent-decodes in (also '+' stays '+') into out (cap bytes, NUL-terminated).
 * PMQ_EPROTO on a malformed escape or an encoded NUL, PMQ_ETOOBIG when out is too small.
 * Any thread. */
PMQ_MUST_USE int http_pct_decode(pmq_slice_t in, char *out, size_t cap, size_t *out_len);

/* Returns the method for a token ("GET" -> HTTP_METHOD_GET; others HTTP_METHOD_UNKNOWN),
 * and the canonical name of a method ("GET"; "" for UNKNOWN). Any thread. */
http_method_t http_method_parse(pmq_slice_t token);
const char *http_method_name(http_method_t m);

/* Standard reason phrase for a status ("Not Found"); "Unknown" for others. */
const char *http_status_reason(int status);

/* ---- HTTP/1.1 request parser (pure; pmq_http_codec) ----
 * The caller keeps the bytes received since the start of the current request in one
 * contiguous buffer and calls http_parser_feed with all of them each time more arrive
 * (the buffer may move between calls). The parser remembers how far it scanned, so
 * feeding byte by byte stays linear. Only Content-Length bodies are accepted;
 * Transfer-Encoding in a request is refused with 501 (documented in docs/HTTP.md). */
typedef struct http_parser {
    const http_limits_t *limits;
    http_header_t *headers; /* header_count_max entries, owned */
    size_t scanned;         /* bytes already scanned for the end of the header section */
    size_t start;           /* first byte of the request line (after empty lines) */
    size_t line_start;      /* first byte of the line being scanned */
    size_t reqline_end;     /* end of the request line (0 until seen) */
    bool method_done;       /* the first SP of the request line was seen */
    size_t head_len;        /* 0 until the header section is complete */
    uint64_t content_length;
    http_request_t req; /* valid after feed returned > 0, until the next feed/reset */
} http_parser_t;

/* Allocates the header table. limits is borrowed and must outlive the parser.
 * PMQ_ENOMEM. Loop thread of the owning connection (or any, in tests). */
PMQ_MUST_USE int http_parser_init(http_parser_t *p, const http_limits_t *limits);
/* Frees the header table. */
void http_parser_close(http_parser_t *p);
/* Forgets the current request so the next feed starts a new one. */
void http_parser_reset(http_parser_t *p);
/* Parses data[0..len) (the whole current request so far).
 * Returns the request's total byte count (> 0) when it is complete: p->req is filled with
 * slices into data. PMQ_EAGAIN: need more bytes. PMQ_EPROTO (malformed: 400, 414, 501,
 * 505) or PMQ_ETOOBIG (413, 431): err->code is the HTTP status, err->reason a sentence,
 * err->must_close is always true. */
PMQ_MUST_USE int http_parser_feed(http_parser_t *p, const char *data, size_t len,
                                  pmq_proto_err_t *err);
/* True once the header section is complete and valid (the body may still be missing):
 * the server uses it to answer `Expect: 100-continue`. */
static inline bool http_parser_head_done(const http_parser_t *p) { return p->head_len > 0; }

/* ---- JSON writer (pure; pmq_http_codec) ----
 * Builds compact JSON into a pmq_buf_t. Errors (buffer limit, allocation) are sticky
 * and reported once by http_json_finish; structural misuse (a value where a key is
 * needed, unbalanced end) is our bug and asserts. Strings are escaped per RFC 8259 §7:
 * `"` `\\` and control characters; invalid UTF-8 bytes become U+FFFD. */
#define HTTP_JSON_DEPTH_MAX 32

typedef struct http_json {
    pmq_buf_t *out;
    int err;
    uint32_t depth;
    bool after_key;
    bool need_comma[HTTP_JSON_DEPTH_MAX + 1];
    bool is_object[HTTP_JSON_DEPTH_MAX + 1];
} http_json_t;

/* out is borrowed; the writer appends to it. */
void http_json_init(http_json_t *j, pmq_buf_t *out);
void http_json_object_begin(http_json_t *j);
void http_json_object_end(http_json_t *j);
void http_json_array_begin(http_json_t *j);
void http_json_array_end(http_json_t *j);
/* A member name inside an object; the next call must write its value. */
void http_json_key(http_json_t *j, const char *key);
void http_json_string(http_json_t *j, pmq_slice_t s);
void http_json_cstr(http_json_t *j, const char *s); /* NULL writes null */
void http_json_int(http_json_t *j, int64_t v);
void http_json_uint(http_json_t *j, uint64_t v);
void http_json_double(http_json_t *j, double v); /* NaN and infinities write null */
void http_json_bool(http_json_t *j, bool v);
void http_json_null(http_json_t *j);
/* Returns the first error (PMQ_ETOOBIG, PMQ_ENOMEM) or 0; asserts the document is
 * complete (every container closed). */
PMQ_MUST_USE int http_json_finish(http_json_t *j);
/* Appends s as a quoted, escaped JSON string. PMQ_ETOOBIG, PMQ_ENOMEM. */
PMQ_MUST_USE int http_json_escape(pmq_buf_t *out, pmq_slice_t s);

/* ---- Prometheus text exposition format 0.0.4 writer (pure; pmq_http_codec) ---- */

#define HTTP_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef enum http_prom_type {
    HTTP_PROM_COUNTER,
    HTTP_PROM_GAUGE,
    HTTP_PROM_HISTOGRAM,
    HTTP_PROM_UNTYPED,
} http_prom_type_t;

typedef struct http_prom_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" */
    const char *value; /* any UTF-8; escaped (\\ \" \n) by the writer */
} http_prom_label_t;

/* Writes `# HELP name help` (help escaped: \\ and \n) and `# TYPE name type`. Counter
 * names should end in `_total` (promtool lints it). PMQ_EINVAL for an invalid metric
 * name, PMQ_ETOOBIG, PMQ_ENOMEM. Any thread. */
PMQ_MUST_USE int http_prom_family(pmq_buf_t *b, const char *name, http_prom_type_t type,
                                  const char *help);
/* Writes one sample `name{l1="v1",...} value`. labels may be NULL when nlabels is 0.
 * Values print as integers when integral, +Inf/-Inf/NaN otherwise as needed.
 * PMQ_EINVAL for an invalid metric or label name, PMQ_ETOOBIG, PMQ_ENOMEM. */
PMQ_MUST_USE int http_prom_sample(pmq_buf_t *b, const char *name, const http_prom_label_t *labels,
                                  size_t nlabels, double value);
/* Same with an exact 64-bit integer value (counters beyond 2^53 stay exact). */
PMQ_MUST_USE int http_prom_sample_u64(pmq_buf_t *b, const char *name,
                                      const http_prom_label_t *labels, size_t nlabels,
                                      uint64_t value);
/* Writes a histogram's samples (not its HELP/TYPE): name_bucket{...,le="b"} cumulative
 * for each bound, le="+Inf", name_sum and name_count. bounds has nbounds strictly
 * increasing finite values; counts has nbounds + 1 NON-cumulative entries (counts[i] =
 * observations in (bounds[i-1], bounds[i]], counts[nbounds] = above the last bound).
 * PMQ_EINVAL for bad names or bounds, PMQ_ETOOBIG, PMQ_ENOMEM. */
PMQ_MUST_USE int http_prom_histogram(pmq_buf_t *b, const char *name,
                                     const http_prom_label_t *labels, size_t nlabels,
                                     const double *bounds, const uint64_t *counts,
                                     size_t nbounds, double sum);

/* ---- the server (pmq_http) ---- */

typedef struct http_server http_server_t;
/* One request/response exchange; opaque. Handed to a handler, valid until the handler
 * (or the server, for synchronous handlers) finishes it. */
typedef struct http_response http_response_t;

/* Handler return values (negative PMQ_E* means "failed": the server answers 500). */
#define HTTP_HANDLER_DONE 0  /* the response is complete; the server sends it */
#define HTTP_HANDLER_ASYNC 1 /* the handler calls http_response_finish(resp) later */

/* A route handler. Loop thread. req and resp stay valid until the response is finished
 * (for ASYNC: until the handler calls http_response_finish, even when the client has
 * gone away in between). */
typedef int (*http_handler_fn)(void *arg, const http_request_t *req, http_response_t *resp);

/* A probe check: returns true when healthy; otherwise writes a one-line reason (no
 * newline) into reason[0..reason_len). Loop thread; must not block. */
typedef bool (*http_check_fn)(void *arg, char *reason, size_t reason_len);

/* What the application tells the server about itself. Copied by http_server_new
 * (strings too); callbacks run on the loop thread and must not block. */
typedef struct http_app {
    void *arg; /* passed to every callback below */
    /* Milliseconds the store writer has had queued work without completing a txn (0
     * when idle or progressing). NULL: no store. /livez fails beyond store_stall_max_ms. */
    uint64_t (*store_stall_ms)(void *arg);
    /* Writes the application's members into the already-open /healthz object (role,
     * node, commit index...). NULL: none. Return 0 or a PMQ_E* code (-> 500). */
    int (*healthz)(void *arg, http_json_t *json);
    /* Writes the application's metric families with http_prom_* into out. Must not use
     * the reserved prefixes `process_` and `paxmq_http_`. NULL: none. */
    int (*metrics)(void *arg, pmq_buf_t *out);
    /* Credentials for mutating requests (POST, PUT, DELETE, PATCH) via Basic auth. With
     * admin_open false and no user configured, every mutation gets 401. */
    const char *admin_user;
    const char *admin_password;
    bool admin_open;
} http_app_t;

typedef enum http_probe {
    HTTP_PROBE_LIVE = 1u << 0,    /* /livez */
    HTTP_PROBE_READY = 1u << 1,   /* /readyz */
    HTTP_PROBE_STARTUP = 1u << 2, /* /startupz (also gates /readyz) */
} http_probe_t;

typedef struct http_server_stats {
    uint64_t connections_total;   /* accepted */
    uint64_t connections_current;
    uint64_t connections_refused; /* over connections_max */
    uint64_t h2_sessions_total;
    uint64_t requests_total;      /* responses sent, by any protocol */
    uint64_t bad_requests_total;  /* parser/protocol rejections (4xx/5xx from the layer) */
    uint64_t timeouts_total;      /* request or idle timeouts */
} http_server_stats_t;

/* Creates a server listening on host:port (port 0 picks a free port; see
 * http_server_port) and registers /livez /readyz /startupz /healthz /metrics.
 * loop and limits are borrowed (limits is copied); app is copied.
 * Loop thread. PMQ_EINVAL (bad host: an IP literal is required), PMQ_ENOMEM, or a libuv
 * error (UV_EADDRINUSE...). On failure *out is NULL; the partly built server releases
 * itself from close callbacks on the next loop run, so the caller closes nothing. */
PMQ_MUST_USE int http_server_new(http_server_t **out, struct uv_loop_s *loop,
                                 const http_limits_t *limits, const char *host, uint16_t port,
                                 const http_app_t *app);
/* The bound port. Loop thread. */
uint16_t http_server_port(const http_server_t *srv);
/* Registers a handler for methods (HTTP_MASK bits; HEAD is served by a GET route) on an
 * exact path, or with HTTP_ROUTE_PREFIX on every path that starts with path and has a
 * non-empty rest (req->route_tail). Exact routes beat prefixes; the longest prefix wins.
 * path is copied. Loop thread. PMQ_EINVAL, PMQ_EEXIST (same path and kind), PMQ_EFULL
 * (64 routes), PMQ_ENOMEM. */
#define HTTP_ROUTE_PREFIX 1u
PMQ_MUST_USE int http_server_route(http_server_t *srv, unsigned methods, const char *path,
                                   unsigned flags, http_handler_fn fn, void *arg);
/* Adds a named probe check to the probes in mask (HTTP_PROBE_*). name is copied and
 * shown by `?verbose`. Loop thread. PMQ_EINVAL, PMQ_EFULL (32 checks), PMQ_ENOMEM. */
PMQ_MUST_USE int http_server_add_check(http_server_t *srv, unsigned mask, const char *name,
                                       http_check_fn fn, void *arg);
/* Copies the counters. Loop thread. */
void http_server_stats(const http_server_t *srv, http_server_stats_t *out);
/* Stops listening, closes every connection (pending async responses are cancelled:
 * their cancel callbacks run and their later finish only frees) and frees the server
 * from uv_close callbacks: keep running the loop until it has no more handles. srv must
 * not be used afterwards. Loop thread; safe to call from a handler. */
void http_server_close(http_server_t *srv);

/* ---- building a response (handlers; loop thread) ---- */

/* Sets the status (default 200). */
void http_response_set_status(http_response_t *resp, int status);
/* Adds a header; name and value are copied; both must be free of CR/LF (asserted).
 * Content-Length, Connection and Date are managed by the server. PMQ_EFULL (16
 * headers), PMQ_ETOOBIG, PMQ_ENOMEM. */
PMQ_MUST_USE int http_response_add_header(http_response_t *resp, const char *name,
                                          const char *value);
/* The body buffer, capped at response_bytes_max; the handler appends to it. */
pmq_buf_t *http_response_body(http_response_t *resp);
/* Convenience: status, `Content-Type: text/plain; charset=utf-8` and a formatted body
 * followed by "\n". PMQ_ETOOBIG, PMQ_ENOMEM. */
PMQ_MUST_USE int http_response_text(http_response_t *resp, int status, const char *fmt, ...)
    PMQ_PRINTF(3, 4);
/* Convenience: status, `Content-Type: application/json` (the body is the caller's). */
PMQ_MUST_USE int http_response_json(http_response_t *resp, int status);
/* Completes an ASYNC response: the server sends it if the client is still there, then
 * releases resp. resp must not be used afterwards. Loop thread. */
void http_response_finish(http_response_t *resp);
/* True once the client went away (or the server is closing): the response will be
 * dropped; the handler should still call http_response_finish. */
bool http_response_is_cancelled(const http_response_t *resp);
/* Registers fn to be called once (loop thread) if the client goes away before the
 * response is finished; fn must not finish resp itself. */
void http_response_on_cancel(http_response_t *resp, void (*fn)(void *arg, http_response_t *resp),
                             void *arg);

#endif
