/* One request/response exchange (http_response_t), shared by HTTP/1.1 and HTTP/2.
 *
 * Reference-counted: the connection holds one reference while it may still send the
 * response, and an asynchronous handler holds one until http_response_finish. When the
 * client goes away first, the exchange is detached (conn = NULL, the cancel callback
 * runs) and the handler's later finish only frees it: no use-after-free either way. */
#define PMQ_HTTP_SERVER_INTERNALS 1
#include <stdio.h>

#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

http_response_t *http__exchange_new(http_conn_t *conn) {
    http_server_t *srv = conn->srv;
    http_response_t *ex = pmq_calloc(1, sizeof(*ex));
    if (ex == NULL) {
        return NULL;
    }
    if (http_parser_init(&ex->parser, &srv->limits) != 0) {
        pmq_free(ex);
        return NULL;
    }
    ex->refs = 1;
    ex->conn = conn;
    ex->status = 200;
    pmq_buf_init(&ex->raw, srv->limits.request_line_bytes_max + srv->limits.header_bytes_max +
                               srv->limits.body_bytes_max + 64);
    pmq_buf_init(&ex->h2_fields, 16 * (srv->limits.header_count_max + 2));
    pmq_buf_init(&ex->h2_body, srv->limits.body_bytes_max);
    pmq_buf_init(&ex->body, srv->limits.response_bytes_max);
    ex->next = conn->exchanges;
    if (conn->exchanges != NULL) {
        conn->exchanges->prev = ex;
    }
    conn->exchanges = ex;
    return ex;
}

static void exchange_free(http_response_t *ex) {
    PMQ_ASSERT(ex->refs == 0);
    PMQ_ASSERT(ex->conn == NULL);
    http_parser_close(&ex->parser);
    pmq_buf_close(&ex->raw);
    pmq_buf_close(&ex->h2_fields);
    pmq_buf_close(&ex->h2_body);
    pmq_buf_close(&ex->body);
    pmq_free(ex->h2_headers);
    for (size_t i = 0; i < ex->hdr_count; i++) {
        pmq_free(ex->hdr_name[i]);
        pmq_free(ex->hdr_value[i]);
    }
    pmq_free(ex);
}

static void unlink_from_conn(http_response_t *ex) {
    http_conn_t *conn = ex->conn;
    PMQ_ASSERT(conn != NULL);
    if (ex->prev != NULL) {
        ex->prev->next = ex->next;
    } else {
        PMQ_ASSERT(conn->exchanges == ex);
        conn->exchanges = ex->next;
    }
    if (ex->next != NULL) {
        ex->next->prev = ex->prev;
    }
    if (conn->inflight == ex) {
        conn->inflight = NULL;
    }
    ex->next = ex->prev = NULL;
    ex->conn = NULL;
}

void http__exchange_unref(http_response_t *ex) {
    PMQ_ASSERT(ex->refs > 0);
    if (--ex->refs == 0) {
        exchange_free(ex);
    }
}

void http__exchange_release(http_response_t *ex) {
    unlink_from_conn(ex);
    http__exchange_unref(ex);
}

void http__exchange_detach(http_response_t *ex) {
    PMQ_ASSERT(ex->conn != NULL);
    if (ex->async && !ex->finished) {
        ex->cancelled = true;
        if (ex->cancel_fn != NULL) {
            void (*fn)(void *, http_response_t *) = ex->cancel_fn;
            ex->cancel_fn = NULL;
            fn(ex->cancel_arg, ex);
        }
    }
    http__exchange_release(ex);
}

static void reset_response(http_response_t *ex) {
    for (size_t i = 0; i < ex->hdr_count; i++) {
        pmq_free(ex->hdr_name[i]);
        pmq_free(ex->hdr_value[i]);
    }
    ex->hdr_count = 0;
    pmq_buf_reset(&ex->body);
}

void http__exchange_error(http_response_t *ex, int status, const char *reason) {
    reset_response(ex);
    if (http_response_text(ex, status, "%s", reason) != 0) {
        pmq_buf_reset(&ex->body);
    }
    if (status == 401) {
        int rc = http_response_add_header(ex, "WWW-Authenticate",
                                          "Basic realm=\"paxmq\", charset=\"UTF-8\"");
        (void)rc; /* a 401 without the challenge is still a 401 */
    }
}

void http__exchange_send(http_response_t *ex) {
    PMQ_ASSERT(!ex->sent);
    ex->sent = true;
    http_conn_t *conn = ex->conn;
    if (conn == NULL) {
        return;
    }
    http__count_code(conn->srv, ex->status);
    if (conn->proto == HTTP_PROTO_H2) {
        http__h2_send(conn, ex);
    } else {
        http__h1_send(conn, ex);
    }
}

/* Puts "GET, HEAD, POST" for the methods in mask into out. */
static void format_allow(unsigned mask, char *out, size_t cap) {
    if (mask & HTTP_MASK(HTTP_METHOD_GET)) {
        mask |= HTTP_MASK(HTTP_METHOD_HEAD);
    }
    size_t n = 0;
    out[0] = '\0';
    for (int m = HTTP_METHOD_GET; m <= HTTP_METHOD_CONNECT; m++) {
        if (mask & HTTP_MASK(m)) {
            n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "",
                                  http_method_name((http_method_t)m));
            PMQ_ASSERT(n < cap);
        }
    }
}

static bool is_mutation(http_method_t m) {
    return m == HTTP_METHOD_POST || m == HTTP_METHOD_PUT || m == HTTP_METHOD_DELETE ||
           m == HTTP_METHOD_PATCH;
}

/* Routes and authorizes; returns the route to call, or NULL after filling an error. */
static const http_route_t *route_request(http_response_t *ex) {
    http_server_t *srv = ex->conn->srv;
    http_route_match_t match;
    int rc = http__router_match(&srv->router, ex->req.method, ex->req.path, &match);
    if (rc == 404) {
        http__exchange_error(ex, 404, "not found");
        return NULL;
    }
    if (rc == 405) {
        char allow[96];
        format_allow(match.allowed, allow, sizeof(allow));
        http__exchange_error(ex, 405, "method not allowed");
        int hrc = http_response_add_header(ex, "Allow", allow);
        (void)hrc; /* cannot fail: the error response has one header */
        return NULL;
    }
    if (is_mutation(ex->req.method) && !http__auth_ok(srv, &ex->req)) {
        http__exchange_error(ex, 401, "authentication required");
        return NULL;
    }
    ex->req.route_tail = match.tail;
    return match.route;
}

void http__exchange_dispatch(http_response_t *ex) {
    PMQ_ASSERT(!ex->dispatched);
    PMQ_ASSERT(ex->conn != NULL);
    ex->dispatched = true;
    const http_route_t *route = route_request(ex);
    if (route == NULL) {
        http__exchange_send(ex);
        return;
    }
    /* The handler's reference (dropped by finish or below) and a guard for this frame,
     * so the exchange survives whatever the handler does to the connection. */
    ex->refs += 2;
    ex->in_handler = true;
    int rc = route->fn(route->arg, &ex->req, ex);
    ex->in_handler = false;
    if (rc == HTTP_HANDLER_ASYNC) {
        ex->async = true;
        if (ex->finished && !ex->sent) {
            http__exchange_send(ex); /* finished from inside the handler */
        }
        http__exchange_unref(ex);
        return;
    }
    PMQ_ASSERT(!ex->finished); /* a synchronous handler must not call finish */
    if (rc < 0) {
        PMQ_LOG_WARN("http_handler_failed", "path=%.*s err=%s", (int)ex->req.path.len,
                     ex->req.path.ptr, pmq_errname(rc));
        http__exchange_error(ex, 500, "internal error");
    }
    ex->finished = true;
    http__exchange_unref(ex);
    http__exchange_send(ex);
    http__exchange_unref(ex);
}

/* ---- the public response API ---- */

void http_response_set_status(http_response_t *resp, int status) {
    PMQ_ASSERT(status >= 100 && status <= 599);
    resp->status = status;
}

int http_response_add_header(http_response_t *resp, const char *name, const char *value) {
    PMQ_ASSERT(strpbrk(name, "\r\n:") == NULL && name[0] != '\0');
    PMQ_ASSERT(strpbrk(value, "\r\n") == NULL);
    if (resp->hdr_count == HTTP_RESP_HEADERS_MAX) {
        return PMQ_EFULL;
    }
    if (strlen(value) > 4096) {
        return PMQ_ETOOBIG;
    }
    char *n = pmq_strdup(name);
    char *v = pmq_strdup(value);
    if (n == NULL || v == NULL) {
        pmq_free(n);
        pmq_free(v);
        return PMQ_ENOMEM;
    }
    resp->hdr_name[resp->hdr_count] = n;
    resp->hdr_value[resp->hdr_count] = v;
    resp->hdr_count++;
    return 0;
}

pmq_buf_t *http_response_body(http_response_t *resp) { return &resp->body; }

int http_response_text(http_response_t *resp, int status, const char *fmt, ...) {
    http_response_set_status(resp, status);
    int rc = http_response_add_header(resp, "Content-Type", "text/plain; charset=utf-8");
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (rc == 0) {
        rc = pmq_buf_append_cstr(&resp->body, line);
    }
    return rc == 0 ? pmq_buf_append(&resp->body, "\n", 1) : rc;
}

int http_response_json(http_response_t *resp, int status) {
    http_response_set_status(resp, status);
    return http_response_add_header(resp, "Content-Type", "application/json");
}

void http_response_finish(http_response_t *resp) {
    PMQ_ASSERT(!resp->finished);
    PMQ_ASSERT(resp->refs >= 1);
    resp->finished = true;
    if (!resp->in_handler && resp->conn != NULL) {
        http__exchange_send(resp);
    }
    http__exchange_unref(resp); /* the handler's reference */
}

bool http_response_is_cancelled(const http_response_t *resp) { return resp->cancelled; }

void http_response_on_cancel(http_response_t *resp, void (*fn)(void *arg, http_response_t *resp),
                             void *arg) {
    resp->cancel_fn = fn;
    resp->cancel_arg = arg;
}
