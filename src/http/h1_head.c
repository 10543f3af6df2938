/* Validation of a complete HTTP/1.1 header section (RFC 9112 §3, §5, RFC 9110 §5.5).
 *
 * Called by the parser once the end of the section has been found, and again (on
 * already-valid bytes) to re-slice after the caller's buffer moved. Strict by choice:
 * CRLF only, no obs-fold, no whitespace before ':', exactly one Host on HTTP/1.1, no
 * request Transfer-Encoding (501), one Content-Length at most. */
#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

static bool all_tchar(pmq_slice_t s) {
    for (size_t i = 0; i < s.len; i++) {
        if (!http__is_tchar((unsigned char)s.ptr[i])) {
            return false;
        }
    }
    return s.len > 0;
}

static int fail400(pmq_proto_err_t *err, const char *why) {
    return pmq_proto_fail(err, PMQ_EPROTO, 400, true, "%s", why);
}

/* Splits the target into path and query; accepts origin-form, absolute-form (http[s]://
 * authority/path) and asterisk-form for OPTIONS (RFC 9112 §3.2). */
static int parse_target(http_request_t *req, pmq_proto_err_t *err) {
    pmq_slice_t t = req->target;
    for (size_t i = 0; i < t.len; i++) {
        unsigned char c = (unsigned char)t.ptr[i];
        if (c <= 0x20 || c >= 0x7f || c == '#') {
            return fail400(err, "invalid character in the request target");
        }
    }
    if (pmq_slice_eq_cstr(t, "*")) {
        if (req->method != HTTP_METHOD_OPTIONS) {
            return fail400(err, "asterisk-form target is only valid for OPTIONS");
        }
        req->path = t;
        return 0;
    }
    if (t.len > 0 && t.ptr[0] != '/') {
        size_t skip = 0;
        if (http__ascii_prefix(t, "http://")) {
            skip = 7;
        } else if (http__ascii_prefix(t, "https://")) {
            skip = 8;
        } else {
            return fail400(err, "request target must be origin-form or absolute-form");
        }
        const char *slash = memchr(t.ptr + skip, '/', t.len - skip);
        t = slash ? pmq_slice(slash, (size_t)(t.ptr + t.len - slash)) : PMQ_SLICE_LIT("/");
    }
    if (t.len == 0) {
        return fail400(err, "empty request target");
    }
    const char *q = memchr(t.ptr, '?', t.len);
    req->path = q ? pmq_slice(t.ptr, (size_t)(q - t.ptr)) : t;
    req->query = q ? pmq_slice(q + 1, (size_t)(t.ptr + t.len - q - 1)) : pmq_slice("", 0);
    return 0;
}

/* "HTTP/" DIGIT "." DIGIT; another major version is 505; a higher minor is 1.1
 * (RFC 9110 §2.5). */
static int parse_version(http_request_t *req, pmq_slice_t v, pmq_proto_err_t *err) {
    if (v.len != 8 || memcmp(v.ptr, "HTTP/", 5) != 0 || v.ptr[6] != '.' || v.ptr[5] < '0' ||
        v.ptr[5] > '9' || v.ptr[7] < '0' || v.ptr[7] > '9') {
        return fail400(err, "malformed HTTP version");
    }
    if (v.ptr[5] != '1') {
        return pmq_proto_fail(err, PMQ_EPROTO, 505, true, "HTTP version %.8s not supported",
                              v.ptr);
    }
    req->version = v.ptr[7] == '0' ? 10 : 11;
    return 0;
}

static int parse_request_line(http_request_t *req, pmq_slice_t line, pmq_proto_err_t *err) {
    const char *sp1 = memchr(line.ptr, ' ', line.len);
    if (sp1 == NULL) {
        return fail400(err, "malformed request line");
    }
    req->method_name = pmq_slice(line.ptr, (size_t)(sp1 - line.ptr));
    const char *rest = sp1 + 1;
    size_t rest_len = line.len - req->method_name.len - 1;
    const char *sp2 = memchr(rest, ' ', rest_len);
    if (sp2 == NULL || !all_tchar(req->method_name)) {
        return fail400(err, "malformed request line");
    }
    req->target = pmq_slice(rest, (size_t)(sp2 - rest));
    pmq_slice_t version = pmq_slice(sp2 + 1, rest_len - req->target.len - 1);
    if (req->target.len == 0 || memchr(version.ptr, ' ', version.len) != NULL) {
        return fail400(err, "malformed request line");
    }
    int rc = parse_version(req, version, err);
    if (rc != 0) {
        return rc;
    }
    req->method = http_method_parse(req->method_name);
    return parse_target(req, err);
}

/* Parses "name: value" into h. */
static int parse_field(pmq_slice_t line, http_header_t *h, pmq_proto_err_t *err) {
    const char *colon = memchr(line.ptr, ':', line.len);
    if (colon == NULL) {
        return fail400(err, line.len > 0 && (line.ptr[0] == ' ' || line.ptr[0] == '\t')
                                ? "obsolete line folding is not accepted"
                                : "header field without ':'");
    }
    h->name = pmq_slice(line.ptr, (size_t)(colon - line.ptr));
    if (!all_tchar(h->name)) {
        return fail400(err, "invalid header field name (RFC 9112 §5.1)");
    }
    const char *v = colon + 1;
    const char *end = line.ptr + line.len;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    for (const char *c = v; c < end; c++) {
        if (!http__is_value_char((unsigned char)*c)) {
            return fail400(err, "invalid character in a header field value");
        }
    }
    h->value = pmq_slice(v, (size_t)(end - v));
    return 0;
}

/* Splits the header lines between from and to (each ends with CRLF). */
static int parse_fields(http_parser_t *p, const char *from, const char *to,
                        pmq_proto_err_t *err) {
    http_request_t *req = &p->req;
    size_t n = 0;
    while (from < to) {
        const char *lf = memchr(from, '\n', (size_t)(to - from));
        PMQ_ASSERT(lf != NULL && lf > from && lf[-1] == '\r');
        pmq_slice_t line = pmq_slice(from, (size_t)(lf - 1 - from));
        if (memchr(line.ptr, '\r', line.len) != NULL) {
            return fail400(err, "bare CR in the request head");
        }
        if (n == p->limits->header_count_max) {
            return pmq_proto_fail(err, PMQ_ETOOBIG, 431, true, "more than %zu header fields",
                                  p->limits->header_count_max);
        }
        int rc = parse_field(line, &p->headers[n], err);
        if (rc != 0) {
            return rc;
        }
        n++;
        from = lf + 1;
    }
    req->headers = p->headers;
    req->header_count = n;
    return 0;
}

int http__parse_head(http_parser_t *p, const char *data, pmq_proto_err_t *err) {
    PMQ_ASSERT(p->reqline_end > p->start);
    PMQ_ASSERT(p->head_len >= p->reqline_end + 2);
    http_request_t *req = &p->req;
    memset(req, 0, sizeof(*req));
    pmq_slice_t line = pmq_slice(data + p->start, p->reqline_end - p->start - 2);
    if (memchr(line.ptr, '\r', line.len) != NULL) {
        return fail400(err, "bare CR in the request line");
    }
    int rc = parse_request_line(req, line, err);
    if (rc != 0) {
        return rc;
    }
    rc = parse_fields(p, data + p->reqline_end, data + p->head_len - 2, err);
    if (rc != 0) {
        return rc;
    }
    return http__check_semantics(p, err);
}
