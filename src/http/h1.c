/* HTTP/1.1 on a connection: request framing, responses in request order, errors.
 *
 * Requests are answered one at a time: the next pipelined request is parsed only after
 * the previous response was queued, which keeps responses in order and makes an admin
 * mutation visible to a read pipelined behind it. While a response is owed (an async
 * handler) further bytes stay buffered; reading pauses when the buffer reaches one
 * maximal request, and processing pauses while more than out_bytes_max is unsent. */
#define PMQ_HTTP_SERVER_INTERNALS 1
#include <stdio.h>
#include <time.h>

#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN (sizeof(h2_preface) - 1)

static int put_date(pmq_buf_t *b) {
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return pmq_buf_appendf(b, "Date: %s\r\n", date);
}

void http__h1_error(http_conn_t *conn, int status, const char *reason) {
    http_server_t *srv = conn->srv;
    srv->stats.bad_requests_total++;
    http__count_code(srv, status);
    if (pmq_ratelimit_allow(&srv->bad_log, pmq_mono_ms())) {
        PMQ_LOG_INFO("http_bad_request", "status=%d reason=\"%s\"", status, reason);
    }
    pmq_buf_t b;
    pmq_buf_init(&b, 4096);
    int rc = pmq_buf_appendf(&b, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n",
                             status, http_status_reason(status), strlen(reason) + 1);
    if (rc == 0) {
        rc = put_date(&b);
    }
    if (rc == 0) {
        rc = pmq_buf_appendf(&b, "\r\n%s\n", reason);
    }
    if (rc == 0) {
        http__conn_write_take(conn, &b);
    }
    pmq_buf_close(&b);
    http__conn_drain(conn);
}

static int serialize(const http_response_t *ex, bool keep_alive, pmq_buf_t *b) {
    int rc = pmq_buf_appendf(b, "HTTP/1.1 %d %s\r\n", ex->status, http_status_reason(ex->status));
    for (size_t i = 0; rc == 0 && i < ex->hdr_count; i++) {
        rc = pmq_buf_appendf(b, "%s: %s\r\n", ex->hdr_name[i], ex->hdr_value[i]);
    }
    if (rc == 0) {
        rc = pmq_buf_appendf(b, "Content-Length: %zu\r\n%s", ex->body.len,
                             keep_alive ? "" : "Connection: close\r\n");
    }
    if (rc == 0) {
        rc = put_date(b);
    }
    if (rc == 0) {
        rc = pmq_buf_append(b, "\r\n", 2);
    }
    if (rc == 0 && ex->req.method != HTTP_METHOD_HEAD) {
        rc = pmq_buf_append(b, ex->body.data, ex->body.len);
    }
    return rc;
}

void http__h1_send(http_conn_t *conn, http_response_t *ex) {
    PMQ_ASSERT(conn->inflight == ex);
    bool keep_alive = ex->req.keep_alive && !conn->read_eof && !conn->srv->closing;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    if (serialize(ex, keep_alive, &b) == 0) {
        http__conn_write_take(conn, &b);
    } else {
        keep_alive = false;
    }
    pmq_buf_close(&b);
    conn->requests++;
    conn->srv->stats.requests_total++;
    http__exchange_release(ex); /* clears conn->inflight */
    if (!keep_alive) {
        http__conn_drain(conn);
    } else if (!conn->h1_processing) {
        http__h1_process(conn);
    }
}

/* First bytes of a connection that are (a prefix of) the HTTP/2 client preface:
 * returns 1 to switch, 0 to wait for more, -1 for HTTP/1.1. */
static int preface_check(const http_conn_t *conn) {
    if (conn->requests > 0 || conn->in.len == 0) {
        return -1;
    }
    size_t n = PMQ_MIN(conn->in.len, H2_PREFACE_LEN);
    if (memcmp(conn->in.data, h2_preface, n) != 0) {
        return -1;
    }
    return n == H2_PREFACE_LEN ? 1 : 0;
}

/* Makes an exchange owning a copy of the n-byte request at the start of conn->in. */
static http_response_t *take_request(http_conn_t *conn, size_t n) {
    http_response_t *ex = http__exchange_new(conn);
    pmq_proto_err_t err;
    if (ex == NULL || pmq_buf_append(&ex->raw, conn->in.data, n) != 0 ||
        http_parser_feed(&ex->parser, ex->raw.data, ex->raw.len, &err) != (int)n) {
        if (ex != NULL) {
            http__exchange_release(ex);
        }
        return NULL;
    }
    ex->req = ex->parser.req;
    pmq_buf_consume(&conn->in, n);
    http_parser_reset(&conn->parser);
    conn->continue_sent = false;
    conn->req_start_ms = pmq_mono_ms();
    return ex;
}

/* Parses and dispatches one request. Returns false when processing must stop. */
static bool process_one(http_conn_t *conn) {
    int pre = preface_check(conn);
    if (pre >= 0) {
        if (pre == 1 && http__h2_start(conn, NULL, NULL) != 0) {
            http__conn_close(conn);
        }
        return false;
    }
    pmq_proto_err_t err = {0};
    int rc = http_parser_feed(&conn->parser, conn->in.data, conn->in.len, &err);
    if (rc == PMQ_EAGAIN) {
        if (http_parser_head_done(&conn->parser) && conn->parser.req.expect_continue &&
            !conn->continue_sent) {
            conn->continue_sent = true;
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            http__conn_write(conn, cont, sizeof(cont) - 1);
        }
        return false;
    }
    if (rc < 0) {
        http__h1_error(conn, err.code, err.reason);
        return false;
    }
    bool upgrade = conn->parser.req.h2c_upgrade && conn->parser.req.body.len == 0;
    http_response_t *ex = take_request(conn, (size_t)rc);
    if (ex == NULL) {
        http__conn_close(conn);
        return false;
    }
    conn->inflight = ex;
    if (upgrade && http__h2_start(conn, &ex->req, ex) == 0) {
        return false; /* the rest of conn->in was handed to nghttp2 */
    }
    http__exchange_dispatch(ex);
    return true;
}

void http__h1_process(http_conn_t *conn) {
    if (conn->h1_processing) {
        return;
    }
    conn->h1_processing = true;
    while (!conn->closing && !conn->draining && conn->proto == HTTP_PROTO_H1 &&
           conn->inflight == NULL && conn->in.len > 0 &&
           conn->out_pending <= conn->srv->limits.out_bytes_max) {
        if (!process_one(conn)) {
            break;
        }
    }
    conn->h1_processing = false;
    if (conn->closing || conn->proto != HTTP_PROTO_H1) {
        return;
    }
    if (conn->read_eof && conn->inflight == NULL && !conn->draining) {
        http__conn_drain(conn); /* the client half-closed: answer, then close */
        return;
    }
    http__conn_read_control(conn);
    http__conn_arm_timer(conn);
}
