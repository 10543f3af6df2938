/* A strict, incremental HTTP/1.1 request parser (RFC 9112) over a caller-owned buffer.
 *
 * Pure: no I/O, no allocation after init. The scan for the end of the header section
 * remembers its position, so feeding byte by byte costs O(n); the header section is
 * validated once when it is complete and re-sliced (cheaply) when the body arrives,
 * because the caller's buffer may have moved. Every rejection is an HTTP status with
 * a reason and closes the connection; nothing here asserts on input. */
#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

#define LEADING_EMPTY_LINES_MAX 8

static int fail400(pmq_proto_err_t *err, const char *why) {
    return pmq_proto_fail(err, PMQ_EPROTO, 400, true, "%s", why);
}

int http_parser_init(http_parser_t *p, const http_limits_t *limits) {
    PMQ_ASSERT(limits != NULL);
    PMQ_ASSERT(limits->header_count_max > 0);
    memset(p, 0, sizeof(*p));
    p->limits = limits;
    p->headers = pmq_calloc(limits->header_count_max, sizeof(http_header_t));
    return p->headers == NULL ? PMQ_ENOMEM : 0;
}

void http_parser_close(http_parser_t *p) {
    pmq_free(p->headers);
    p->headers = NULL;
}

void http_parser_reset(http_parser_t *p) {
    http_header_t *headers = p->headers;
    const http_limits_t *limits = p->limits;
    memset(p, 0, sizeof(*p));
    p->headers = headers;
    p->limits = limits;
}

/* Handles one LF at i during the scan. Returns 1 when the header section ended, 0 to go
 * on, or an error. */
static int scan_newline(http_parser_t *p, const char *data, size_t i, pmq_proto_err_t *err) {
    if (i == 0 || data[i - 1] != '\r') {
        return fail400(err, "bare LF in the request head (CRLF required)");
    }
    bool empty = (i - 1 == p->line_start);
    if (p->reqline_end == 0) {
        if (empty) {
            /* RFC 9112 §2.2: ignore a few empty lines before the request line. */
            if (p->start / 2 >= LEADING_EMPTY_LINES_MAX) {
                return fail400(err, "too many empty lines before the request line");
            }
            p->start = i + 1;
            p->line_start = i + 1;
            return 0;
        }
        p->reqline_end = i + 1;
        p->line_start = i + 1;
        return 0;
    }
    if (empty) {
        p->head_len = i + 1;
        return 1;
    }
    p->line_start = i + 1;
    return 0;
}

/* Scans new bytes for the end of the header section, enforcing the size limits and
 * rejecting obvious garbage (a TLS ClientHello, a bare LF) without waiting for it. */
static int scan_head(http_parser_t *p, const char *data, size_t len, pmq_proto_err_t *err) {
    const http_limits_t *lim = p->limits;
    for (size_t i = p->scanned; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        p->scanned = i + 1;
        if (c == '\n') {
            int rc = scan_newline(p, data, i, err);
            if (rc != 0) {
                return rc < 0 ? rc : 0;
            }
            continue;
        }
        if (p->reqline_end == 0) {
            if (i - p->start >= lim->request_line_bytes_max) {
                return pmq_proto_fail(err, PMQ_EPROTO, 414, true,
                                      "request line longer than %zu bytes",
                                      lim->request_line_bytes_max);
            }
            if (!p->method_done && c == ' ') {
                p->method_done = true;
            } else if (!p->method_done && c != '\r' && !http__is_tchar(c)) {
                return fail400(err, "invalid character in the method");
            }
        } else if (i - p->reqline_end >= lim->header_bytes_max) {
            return pmq_proto_fail(err, PMQ_ETOOBIG, 431, true,
                                  "header section larger than %zu bytes", lim->header_bytes_max);
        }
    }
    return PMQ_EAGAIN;
}

int http_parser_feed(http_parser_t *p, const char *data, size_t len, pmq_proto_err_t *err) {
    PMQ_ASSERT(len >= p->scanned);
    bool parsed_now = false;
    if (p->head_len == 0) {
        int rc = scan_head(p, data, len, err);
        if (rc != 0) {
            return rc;
        }
        PMQ_ASSERT(p->head_len > 0);
        rc = http__parse_head(p, data, err);
        if (rc != 0) {
            p->head_len = 0;
            return rc;
        }
        parsed_now = true;
    }
    uint64_t total = p->head_len + p->content_length;
    if (len < total) {
        return PMQ_EAGAIN;
    }
    if (!parsed_now) {
        /* The buffer may have moved since the head was validated: slice it again. */
        int rc = http__parse_head(p, data, err);
        PMQ_ASSERT(rc == 0);
    }
    p->req.body = pmq_slice(data + p->head_len, (size_t)p->content_length);
    PMQ_ASSERT(total <= (uint64_t)INT32_MAX);
    return (int)total;
}
