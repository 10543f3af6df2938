/* HTTP/2 cleartext through nghttp2: prior knowledge (client preface) and `Upgrade: h2c`.
 *
 * nghttp2 owns framing, HPACK, flow control and protocol errors (it queues GOAWAY or
 * RST_STREAM itself); this file maps streams to exchanges and bytes to the socket. We
 * use the mem_recv/mem_send API so nghttp2 never touches the socket, and never call
 * mem_send from inside mem_recv's callbacks: a flush requested there runs afterwards.
 * Each stream's exchange is released when nghttp2 closes the stream. */
#define PMQ_HTTP_SERVER_INTERNALS 1
#include <stdio.h>

#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

#define H2_SETTINGS_PAYLOAD_MAX 512
#define H2_FLUSH_BYTES 65536

/* The stream's exchange, or NULL when none or when the connection is closing. */
static http_response_t *stream_ex(nghttp2_session *s, int32_t stream_id) {
    http_response_t *ex = nghttp2_session_get_stream_user_data(s, stream_id);
    return ex != NULL && ex->conn != NULL && !ex->conn->closing ? ex : NULL;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *user) {
    http_conn_t *conn = user;
    if (conn->closing || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    http_response_t *ex = http__exchange_new(conn);
    if (ex == NULL) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    ex->stream_id = frame->hd.stream_id;
    nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, ex);
    return 0;
}

static int put_field(http_response_t *ex, const uint8_t *name, size_t nlen, const uint8_t *value,
                     size_t vlen) {
    uint32_t rec[4] = {(uint32_t)ex->raw.len, (uint32_t)nlen, (uint32_t)(ex->raw.len + nlen),
                       (uint32_t)vlen};
    int rc = pmq_buf_append(&ex->raw, name, nlen);
    if (rc == 0) {
        rc = pmq_buf_append(&ex->raw, value, vlen);
    }
    if (rc == 0 && nlen > 0 && name[0] == ':') {
        if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
            ex->h2_method[0] = rec[2];
            ex->h2_method[1] = rec[3];
        } else if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
            ex->h2_path[0] = rec[2];
            ex->h2_path[1] = rec[3];
        }
        return 0;
    }
    return rc == 0 ? pmq_buf_append(&ex->h2_fields, rec, sizeof(rec)) : rc;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user) {
    (void)flags;
    (void)user;
    http_response_t *ex = stream_ex(s, frame->hd.stream_id);
    if (ex == NULL || ex->error_status != 0) {
        return 0;
    }
    const http_limits_t *lim = &ex->conn->srv->limits;
    size_t fields = ex->h2_fields.len / (4 * sizeof(uint32_t));
    if (fields >= lim->header_count_max || ex->raw.len + nlen + vlen > lim->header_bytes_max) {
        ex->error_status = 431;
        return 0;
    }
    if (put_field(ex, name, nlen, value, vlen) != 0) {
        ex->error_status = 431;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user) {
    (void)flags;
    (void)user;
    http_response_t *ex = stream_ex(s, stream_id);
    if (ex == NULL || ex->error_status != 0 || ex->dispatched) {
        return 0;
    }
    if (pmq_buf_append(&ex->h2_body, data, len) != 0) {
        ex->error_status = 413;
    }
    return 0;
}

/* Builds ex->req from the collected fields; returns 0 or an HTTP status to refuse. */
static int build_request(http_response_t *ex) {
    http_request_t *req = &ex->req;
    size_t n = ex->h2_fields.len / (4 * sizeof(uint32_t));
    ex->h2_headers = pmq_calloc(n ? n : 1, sizeof(http_header_t));
    if (ex->h2_headers == NULL) {
        return 500;
    }
    const uint32_t *rec = (const uint32_t *)(const void *)ex->h2_fields.data;
    for (size_t i = 0; i < n; i++, rec += 4) {
        ex->h2_headers[i].name = pmq_slice(ex->raw.data + rec[0], rec[1]);
        ex->h2_headers[i].value = pmq_slice(ex->raw.data + rec[2], rec[3]);
    }
    req->headers = ex->h2_headers;
    req->header_count = n;
    req->version = 20;
    req->keep_alive = true;
    req->body = pmq_buf_slice(&ex->h2_body);
    req->method_name = pmq_slice(ex->raw.data + ex->h2_method[0], ex->h2_method[1]);
    req->method = http_method_parse(req->method_name);
    req->target = pmq_slice(ex->raw.data + ex->h2_path[0], ex->h2_path[1]);
    if (req->method == HTTP_METHOD_UNKNOWN) {
        return 501;
    }
    if (req->target.len == 0 || req->target.ptr[0] != '/') {
        return 400;
    }
    const char *q = memchr(req->target.ptr, '?', req->target.len);
    req->path = q ? pmq_slice(req->target.ptr, (size_t)(q - req->target.ptr)) : req->target;
    req->query = q ? pmq_slice(q + 1, (size_t)(req->target.ptr + req->target.len - q - 1))
                   : pmq_slice("", 0);
    return 0;
}

static void request_complete(http_response_t *ex) {
    if (ex->dispatched) {
        return;
    }
    int status = ex->error_status ? ex->error_status : build_request(ex);
    if (status != 0) {
        ex->dispatched = true;
        ex->finished = true;
        ex->conn->srv->stats.bad_requests_total++;
        http__exchange_error(ex, status, status == 431   ? "header list too large"
                                         : status == 413 ? "request body too large"
                                         : status == 501 ? "method not implemented"
                                                         : "bad request");
        http__exchange_send(ex);
        return;
    }
    http__exchange_dispatch(ex);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *user) {
    (void)user;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
        return 0;
    }
    http_response_t *ex = stream_ex(s, frame->hd.stream_id);
    if (ex != NULL && ex->conn != NULL) {
        request_complete(ex);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code,
                           void *user) {
    (void)error_code;
    http_conn_t *conn = user;
    http_response_t *ex = stream_ex(s, stream_id);
    if (ex != NULL && ex->conn == conn) {
        nghttp2_session_set_stream_user_data(s, stream_id, NULL);
        http__exchange_detach(ex); /* cancels an async handler still running */
    }
    return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user) {
    (void)s;
    (void)stream_id;
    (void)user;
    http_response_t *ex = source->ptr;
    size_t n = PMQ_MIN(length, ex->body.len - ex->h2_sent);
    memcpy(buf, ex->body.data + ex->h2_sent, n);
    ex->h2_sent += n;
    if (ex->h2_sent == ex->body.len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)n;
}

void http__h2_send(http_conn_t *conn, http_response_t *ex) {
    PMQ_ASSERT(conn->h2 != NULL);
    char status[8];
    char length[24];
    snprintf(status, sizeof(status), "%d", ex->status);
    snprintf(length, sizeof(length), "%zu", ex->body.len);
    nghttp2_nv nva[2 + HTTP_RESP_HEADERS_MAX];
    char lower[HTTP_RESP_HEADERS_MAX][64];
    size_t n = 0;
    nva[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), 0};
    nva[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)length, 14, strlen(length),
                            0};
    for (size_t i = 0; i < ex->hdr_count; i++) {
        /* HTTP/2 field names are lower case (RFC 9113 §8.2.1). */
        size_t len = strlen(ex->hdr_name[i]);
        PMQ_ASSERT(len < sizeof(lower[i]));
        for (size_t k = 0; k <= len; k++) {
            char c = ex->hdr_name[i][k];
            lower[i][k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        nva[n++] = (nghttp2_nv){(uint8_t *)lower[i], (uint8_t *)ex->hdr_value[i], len,
                                strlen(ex->hdr_value[i]), 0};
    }
    nghttp2_data_provider prd = {.source.ptr = ex, .read_callback = read_body};
    bool has_body = ex->body.len > 0 && ex->req.method != HTTP_METHOD_HEAD;
    conn->srv->stats.requests_total++;
    conn->requests++;
    if (nghttp2_submit_response(conn->h2, ex->stream_id, nva, n, has_body ? &prd : NULL) != 0) {
        (void)nghttp2_submit_rst_stream(conn->h2, NGHTTP2_FLAG_NONE, ex->stream_id,
                                        NGHTTP2_INTERNAL_ERROR);
    }
    http__h2_flush(conn);
}

void http__h2_flush(http_conn_t *conn) {
    if (conn->closing || conn->h2_in_recv || conn->h2_writing || conn->h2 == NULL) {
        return;
    }
    pmq_buf_t out;
    pmq_buf_init(&out, 0);
    while (out.len < H2_FLUSH_BYTES) {
        const uint8_t *data = NULL;
        ssize_t n = nghttp2_session_mem_send(conn->h2, &data);
        if (n < 0 || pmq_buf_append(&out, data, (size_t)n) != 0) {
            pmq_buf_close(&out);
            http__conn_close(conn);
            return;
        }
        if (n == 0) {
            break;
        }
    }
    if (out.len > 0) {
        conn->h2_writing = true;
        http__conn_write_take(conn, &out);
    } else if (!nghttp2_session_want_read(conn->h2) && !nghttp2_session_want_write(conn->h2)) {
        http__conn_close(conn); /* GOAWAY exchanged or a fatal error: done */
    }
    pmq_buf_close(&out);
    http__conn_read_control(conn);
    http__conn_arm_timer(conn);
}

void http__h2_recv(http_conn_t *conn, const char *data, size_t len) {
    conn->h2_in_recv = true;
    ssize_t rv = nghttp2_session_mem_recv(conn->h2, (const uint8_t *)data, len);
    conn->h2_in_recv = false;
    if (conn->closing) {
        return;
    }
    if (rv < 0) {
        /* Bad preface or a fatal session error: say GOAWAY and close after the flush. */
        http_server_t *srv = conn->srv;
        srv->stats.bad_requests_total++;
        if (pmq_ratelimit_allow(&srv->bad_log, pmq_mono_ms())) {
            PMQ_LOG_INFO("http2_session_error", "err=\"%s\"", nghttp2_strerror((int)rv));
        }
        (void)nghttp2_session_terminate_session(conn->h2, NGHTTP2_PROTOCOL_ERROR);
    }
    http__h2_flush(conn);
}

void http__h2_idle(http_conn_t *conn) {
    (void)nghttp2_session_terminate_session(conn->h2, NGHTTP2_NO_ERROR);
    http__h2_flush(conn);
}

/* base64url without padding (RFC 9113 §3.2.1 HTTP2-Settings); -1 when malformed. */
static int b64url_decode(pmq_slice_t in, uint8_t *out, size_t cap) {
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        int v = (c >= 'A' && c <= 'Z')   ? c - 'A'
                : (c >= 'a' && c <= 'z') ? c - 'a' + 26
                : (c >= '0' && c <= '9') ? c - '0' + 52
                : c == '-'               ? 62
                : c == '_'               ? 63
                : c == '='               ? -2
                                         : -1;
        if (v == -2) {
            break;
        }
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap) {
                return -1;
            }
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return (int)n;
}

static int session_new(http_conn_t *conn) {
    nghttp2_session_callbacks *cbs = NULL;
    int rc = nghttp2_session_callbacks_new(&cbs);
    if (rc != 0) {
        return PMQ_ENOMEM;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    rc = nghttp2_session_server_new(&conn->h2, cbs, conn);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
        conn->h2 = NULL;
        return PMQ_ENOMEM;
    }
    const http_limits_t *lim = &conn->srv->limits;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim->h2_streams_max},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)lim->header_bytes_max},
    };
    return nghttp2_submit_settings(conn->h2, NGHTTP2_FLAG_NONE, iv, PMQ_ARRAY_LEN(iv)) == 0
               ? 0
               : PMQ_ENOMEM;
}

int http__h2_start(http_conn_t *conn, const http_request_t *upgrade_req, http_response_t *ex) {
    uint8_t settings[H2_SETTINGS_PAYLOAD_MAX];
    int settings_len = 0;
    if (upgrade_req != NULL) {
        settings_len = b64url_decode(upgrade_req->h2_settings, settings, sizeof(settings));
        if (settings_len < 0 || settings_len % 6 != 0) {
            return PMQ_EPROTO; /* ignore the upgrade and answer over HTTP/1.1 */
        }
    }
    int rc = session_new(conn);
    if (rc == 0 && upgrade_req != NULL) {
        rc = nghttp2_session_upgrade2(conn->h2, settings, (size_t)settings_len,
                                      upgrade_req->method == HTTP_METHOD_HEAD, ex);
    }
    if (rc != 0) {
        if (conn->h2 != NULL) {
            nghttp2_session_del(conn->h2);
            conn->h2 = NULL;
        }
        return PMQ_EPROTO;
    }
    conn->proto = HTTP_PROTO_H2;
    conn->srv->stats.h2_sessions_total++;
    if (upgrade_req != NULL) {
        static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                 "Upgrade: h2c\r\n\r\n";
        http__conn_write(conn, sw, sizeof(sw) - 1);
        conn->inflight = NULL;
        ex->stream_id = 1;
        http__exchange_dispatch(ex); /* the upgraded request is stream 1 (RFC 9113 §3.2) */
    }
    if (!conn->closing && conn->in.len > 0) {
        pmq_buf_t rest = conn->in;
        pmq_buf_init(&conn->in, 0);
        http__h2_recv(conn, rest.data, rest.len);
        pmq_buf_close(&rest);
    } else {
        http__h2_flush(conn);
    }
    return 0;
}
