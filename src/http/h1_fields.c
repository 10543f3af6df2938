/* HTTP/1.1 header semantics the server relies on (RFC 9112 §6, §9; RFC 9110 §10.1.1).
 *
 * Message framing is decided here: only Content-Length bodies are accepted, because a
 * Transfer-Encoding + Content-Length mix is the classic request-smuggling vector and
 * the admin API never needs chunked uploads (501, docs/HTTP.md). */
#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

typedef struct fields_seen {
    int host;
    int content_length;
    int transfer_encoding;
    int h2_settings;
    bool conn_close;
    bool conn_keep_alive;
    bool conn_upgrade;
    bool conn_h2_settings;
    bool upgrade_h2c;
    bool expect_other;
} fields_seen_t;

static int fail400(pmq_proto_err_t *err, const char *why) {
    return pmq_proto_fail(err, PMQ_EPROTO, 400, true, "%s", why);
}

static int note_content_length(http_parser_t *p, pmq_slice_t v, pmq_proto_err_t *err) {
    uint64_t n = 0;
    if (!pmq_slice_to_u64(v, UINT64_MAX, &n)) {
        return fail400(err, "invalid Content-Length");
    }
    if (n > p->limits->body_bytes_max) {
        return pmq_proto_fail(err, PMQ_ETOOBIG, 413, true, "request body larger than %zu bytes",
                              p->limits->body_bytes_max);
    }
    p->content_length = n;
    return 0;
}

static int note_field(http_parser_t *p, const http_header_t *h, fields_seen_t *seen,
                      pmq_proto_err_t *err) {
    if (http__ascii_ieq(h->name, "host")) {
        seen->host++;
    } else if (http__ascii_ieq(h->name, "content-length")) {
        if (seen->content_length++ > 0) {
            return fail400(err, "more than one Content-Length");
        }
        return note_content_length(p, h->value, err);
    } else if (http__ascii_ieq(h->name, "transfer-encoding")) {
        seen->transfer_encoding++;
    } else if (http__ascii_ieq(h->name, "connection")) {
        seen->conn_close |= http__list_has_token(h->value, "close");
        seen->conn_keep_alive |= http__list_has_token(h->value, "keep-alive");
        seen->conn_upgrade |= http__list_has_token(h->value, "upgrade");
        seen->conn_h2_settings |= http__list_has_token(h->value, "http2-settings");
    } else if (http__ascii_ieq(h->name, "expect")) {
        if (http__ascii_ieq(h->value, "100-continue")) {
            p->req.expect_continue = true;
        } else {
            seen->expect_other = true;
        }
    } else if (http__ascii_ieq(h->name, "upgrade")) {
        seen->upgrade_h2c |= http__list_has_token(h->value, "h2c");
    } else if (http__ascii_ieq(h->name, "http2-settings")) {
        seen->h2_settings++;
        p->req.h2_settings = h->value;
    }
    return 0;
}

int http__check_semantics(http_parser_t *p, pmq_proto_err_t *err) {
    http_request_t *req = &p->req;
    PMQ_ASSERT(req->version == 10 || req->version == 11);
    fields_seen_t seen = {0};
    p->content_length = 0;
    for (size_t i = 0; i < req->header_count; i++) {
        int rc = note_field(p, &req->headers[i], &seen, err);
        if (rc != 0) {
            return rc;
        }
    }
    if (seen.host > 1 || (req->version == 11 && seen.host == 0)) {
        return fail400(err, "HTTP/1.1 requires exactly one Host header");
    }
    if (seen.transfer_encoding > 0) {
        if (seen.content_length > 0) {
            return fail400(err, "both Transfer-Encoding and Content-Length");
        }
        return pmq_proto_fail(err, PMQ_EPROTO, 501, true,
                              "request Transfer-Encoding is not supported; send Content-Length");
    }
    if (seen.expect_other) {
        return pmq_proto_fail(err, PMQ_EPROTO, 417, true, "unsupported Expect value");
    }
    if (req->method == HTTP_METHOD_UNKNOWN) {
        return pmq_proto_fail(err, PMQ_EPROTO, 501, true, "method %.*s not implemented",
                              (int)PMQ_MIN(req->method_name.len, 32), req->method_name.ptr);
    }
    req->keep_alive = req->version == 11 ? !seen.conn_close
                                         : (seen.conn_keep_alive && !seen.conn_close);
    req->expect_continue = req->expect_continue && req->version == 11;
    req->h2c_upgrade = req->version == 11 && seen.upgrade_h2c && seen.conn_upgrade &&
                       seen.conn_h2_settings && seen.h2_settings == 1;
    if (!req->h2c_upgrade) {
        req->h2_settings = pmq_slice("", 0);
    }
    return 0;
}
