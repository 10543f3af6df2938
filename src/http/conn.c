/* Connection lifecycle on the libuv loop: accept, read, write, timeouts, close.
 *
 * A connection is closed in two steps (STYLE §4): http__conn_close marks it closing,
 * detaches its exchanges and issues uv_close on its two handles; the memory is freed
 * only from the last close callback, never from inside its own read callback. A
 * graceful end (after an error response or `Connection: close`) flushes, half-closes
 * and drains input for a bounded linger so the client reads the response instead of
 * a reset. Protocol work is in h1.c and h2.c. */
#define PMQ_HTTP_SERVER_INTERNALS 1
#include <stdlib.h>

#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

typedef struct http_write {
    uv_write_t req;
    http_conn_t *conn;
    char *data;
    size_t len;
} http_write_t;

static void conn_free(http_conn_t *conn) {
    http_server_t *srv = conn->srv;
    PMQ_ASSERT(conn->exchanges == NULL);
    if (conn->h2 != NULL) {
        nghttp2_session_del(conn->h2);
    }
    http_parser_close(&conn->parser);
    pmq_buf_close(&conn->in);
    if (conn->prev != NULL) {
        conn->prev->next = conn->next;
    } else {
        srv->conns = conn->next;
    }
    if (conn->next != NULL) {
        conn->next->prev = conn->prev;
    }
    PMQ_ASSERT(srv->conn_count > 0);
    srv->conn_count--;
    srv->stats.connections_current = srv->conn_count;
    pmq_free(conn);
    if (srv->closing) {
        http__server_maybe_free(srv);
    }
}

static void on_handle_close(uv_handle_t *h) {
    http_conn_t *conn = h->data;
    PMQ_ASSERT(conn->handles_open > 0);
    if (--conn->handles_open == 0) {
        conn_free(conn);
    }
}

void http__conn_close(http_conn_t *conn) {
    if (conn->closing) {
        return;
    }
    conn->closing = true;
    while (conn->exchanges != NULL) {
        http_response_t *ex = conn->exchanges;
        if (conn->h2 != NULL && ex->stream_id != 0) {
            /* We may be inside nghttp2_session_mem_recv: leave no dangling stream data. */
            (void)nghttp2_session_set_stream_user_data(conn->h2, ex->stream_id, NULL);
        }
        http__exchange_detach(ex);
    }
    uv_close((uv_handle_t *)&conn->tcp, on_handle_close);
    uv_close((uv_handle_t *)&conn->timer, on_handle_close);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    (void)status;
    http_conn_t *conn = req->data;
    if (conn->closing) {
        return;
    }
    /* Keep reading (and discarding) until EOF or the linger timer. */
    if (conn->read_eof) {
        http__conn_close(conn);
    } else {
        http__conn_read_control(conn);
    }
}

static void start_shutdown(http_conn_t *conn) {
    PMQ_ASSERT(conn->draining);
    if (conn->shutdown_started || conn->closing) {
        return;
    }
    conn->shutdown_started = true;
    conn->shutdown_req.data = conn;
    if (uv_shutdown(&conn->shutdown_req, (uv_stream_t *)&conn->tcp, on_shutdown) != 0) {
        http__conn_close(conn);
        return;
    }
    conn->timer_kind = HTTP_TIMER_LINGER;
    http__conn_arm_timer(conn);
}

void http__conn_drain(http_conn_t *conn) {
    if (conn->closing) {
        return;
    }
    conn->draining = true;
    if (conn->out_pending == 0) {
        start_shutdown(conn);
    }
}

static void on_write(uv_write_t *req, int status) {
    http_write_t *w = PMQ_CONTAINER_OF(req, http_write_t, req);
    http_conn_t *conn = w->conn;
    PMQ_ASSERT(conn->out_pending >= w->len);
    conn->out_pending -= w->len;
    pmq_free(w);
    if (conn->closing) {
        return;
    }
    if (status != 0) {
        http__conn_close(conn);
        return;
    }
    if (conn->proto == HTTP_PROTO_H2) {
        conn->h2_writing = false;
        http__h2_flush(conn);
    } else if (conn->draining) {
        if (conn->out_pending == 0) {
            start_shutdown(conn);
        }
    } else {
        http__h1_process(conn);
    }
}

static void queue_write(http_conn_t *conn, http_write_t *w) {
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
    w->conn = conn;
    conn->out_pending += w->len;
    int rc = uv_write(&w->req, (uv_stream_t *)&conn->tcp, &buf, 1, on_write);
    if (rc != 0) {
        conn->out_pending -= w->len;
        pmq_free(w);
        http__conn_close(conn);
    }
}

void http__conn_write(http_conn_t *conn, const void *p, size_t n) {
    if (conn->closing || n == 0) {
        return;
    }
    http_write_t *w = pmq_malloc(sizeof(*w) + n);
    if (w == NULL) {
        http__conn_close(conn);
        return;
    }
    w->data = (char *)(w + 1);
    w->len = n;
    memcpy(w->data, p, n);
    queue_write(conn, w);
}

void http__conn_write_take(http_conn_t *conn, pmq_buf_t *b) {
    /* One copy into the write request keeps ownership simple: the request and its
     * bytes are one allocation released in on_write. */
    http__conn_write(conn, b->data, b->len);
    pmq_buf_close(b);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    http_conn_t *conn = h->data;
    /* The scratch buffer is the server's: the loop is single-threaded and on_read
     * copies out of it before anything else can read. */
    *buf = uv_buf_init(conn->srv->read_buf, sizeof(conn->srv->read_buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    http_conn_t *conn = s->data;
    if (conn->closing || nread == 0) {
        return;
    }
    if (nread < 0) {
        conn->read_eof = true;
        bool half_close_ok = nread == UV_EOF && !conn->draining && conn->proto == HTTP_PROTO_H1 &&
                             (conn->inflight != NULL || conn->in.len > 0);
        if (!half_close_ok) {
            http__conn_close(conn);
            return;
        }
        uv_read_stop(s);
        conn->reading = false;
        http__h1_process(conn); /* answer what is buffered, then close */
        return;
    }
    conn->active_ms = pmq_mono_ms();
    if (conn->draining) {
        return; /* lingering: discard */
    }
    if (conn->proto == HTTP_PROTO_H2) {
        http__h2_recv(conn, buf->base, (size_t)nread);
        return;
    }
    if (conn->in.len == 0) {
        conn->req_start_ms = conn->active_ms;
    }
    if (pmq_buf_append(&conn->in, buf->base, (size_t)nread) != 0) {
        http__conn_close(conn); /* cannot happen: reads pause below the cap */
        return;
    }
    http__h1_process(conn);
}

void http__conn_read_control(http_conn_t *conn) {
    if (conn->closing || conn->read_eof) {
        return;
    }
    size_t pause_at = conn->srv->limits.request_line_bytes_max +
                      conn->srv->limits.header_bytes_max + conn->srv->limits.body_bytes_max;
    bool want = conn->draining || conn->proto == HTTP_PROTO_H2 || conn->in.len < pause_at;
    if (conn->proto == HTTP_PROTO_H2 && conn->out_pending > conn->srv->limits.out_bytes_max) {
        want = false;
    }
    if (want && !conn->reading) {
        conn->reading = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read) == 0;
    } else if (!want && conn->reading) {
        uv_read_stop((uv_stream_t *)&conn->tcp);
        conn->reading = false;
    }
}

static void on_timer(uv_timer_t *t) {
    http_conn_t *conn = t->data;
    if (conn->closing) {
        return;
    }
    http_timer_kind_t kind = conn->timer_kind;
    conn->timer_kind = HTTP_TIMER_NONE;
    if (kind == HTTP_TIMER_REQUEST && !conn->draining && conn->proto == HTTP_PROTO_H1) {
        conn->srv->stats.timeouts_total++;
        http__h1_error(conn, 408, "request not received in time");
    } else if (kind == HTTP_TIMER_IDLE && conn->proto == HTTP_PROTO_H2) {
        conn->srv->stats.timeouts_total++;
        http__h2_idle(conn);
    } else if (kind != HTTP_TIMER_NONE) {
        if (kind == HTTP_TIMER_IDLE) {
            conn->srv->stats.timeouts_total++;
        }
        http__conn_close(conn);
    }
}

void http__conn_arm_timer(http_conn_t *conn) {
    if (conn->closing) {
        return;
    }
    const http_limits_t *lim = &conn->srv->limits;
    uint64_t now = pmq_mono_ms();
    uint64_t ms = 0;
    if (conn->draining) {
        conn->timer_kind = conn->shutdown_started ? HTTP_TIMER_LINGER : HTTP_TIMER_IDLE;
        ms = conn->shutdown_started ? lim->linger_ms : lim->idle_timeout_ms;
    } else if (conn->proto == HTTP_PROTO_H2) {
        conn->timer_kind = conn->exchanges == NULL ? HTTP_TIMER_IDLE : HTTP_TIMER_NONE;
        ms = lim->idle_timeout_ms;
    } else if (conn->inflight != NULL) {
        conn->timer_kind = HTTP_TIMER_NONE;
    } else if (conn->in.len > 0) {
        uint64_t age = now - conn->req_start_ms;
        conn->timer_kind = HTTP_TIMER_REQUEST;
        ms = age >= lim->request_timeout_ms ? 1 : lim->request_timeout_ms - age;
    } else {
        conn->timer_kind = HTTP_TIMER_IDLE;
        ms = lim->idle_timeout_ms;
    }
    if (conn->timer_kind == HTTP_TIMER_NONE) {
        uv_timer_stop(&conn->timer);
        return;
    }
    uv_timer_start(&conn->timer, on_timer, ms, 0);
}

static int conn_init(http_server_t *srv, http_conn_t *conn) {
    conn->srv = srv;
    conn->proto = HTTP_PROTO_H1;
    conn->active_ms = pmq_mono_ms();
    pmq_buf_init(&conn->in, srv->limits.request_line_bytes_max + srv->limits.header_bytes_max +
                                srv->limits.body_bytes_max + HTTP_READ_CHUNK);
    int rc = http_parser_init(&conn->parser, &srv->limits);
    if (rc != 0) {
        return rc;
    }
    uv_tcp_init(srv->loop, &conn->tcp);
    uv_timer_init(srv->loop, &conn->timer);
    conn->tcp.data = conn;
    conn->timer.data = conn;
    conn->handles_open = 2;
    conn->next = srv->conns;
    if (srv->conns != NULL) {
        srv->conns->prev = conn;
    }
    srv->conns = conn;
    srv->conn_count++;
    return 0;
}

void http__conn_accept(http_server_t *srv) {
    http_conn_t *conn = pmq_calloc(1, sizeof(*conn));
    if (conn == NULL || conn_init(srv, conn) != 0) {
        pmq_free(conn);
        PMQ_LOG_WARN("http_accept_failed", "err=%s", pmq_errname(PMQ_ENOMEM));
        return;
    }
    srv->stats.connections_current = srv->conn_count;
    if (uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&conn->tcp) != 0) {
        http__conn_close(conn);
        return;
    }
    srv->stats.connections_total++;
    if (srv->conn_count > srv->limits.connections_max) {
        srv->stats.connections_refused++;
        http__conn_close(conn);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    http__conn_read_control(conn);
    http__conn_arm_timer(conn);
}
