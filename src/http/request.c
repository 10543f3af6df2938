/* Request helpers shared by both protocols and by handlers: limits defaults, method and
 * status tables, header and query lookup, percent-decoding. Pure (pmq_http_codec). */
#include <stdio.h>

#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

void http_limits_default(http_limits_t *l) {
    memset(l, 0, sizeof(*l));
    l->request_line_bytes_max = 8 * 1024;
    l->header_bytes_max = 64 * 1024;
    l->header_count_max = 100;
    l->body_bytes_max = 64 * 1024;
    l->response_bytes_max = 16 * 1024 * 1024;
    l->out_bytes_max = 1024 * 1024;
    l->connections_max = 256;
    l->h2_streams_max = 32;
    l->request_timeout_ms = 10 * 1000;
    l->idle_timeout_ms = 60 * 1000;
    l->linger_ms = 2 * 1000;
    l->loop_lag_max_ms = 5 * 1000;
    l->store_stall_max_ms = 30 * 1000;
}

static const char *const method_names[] = {
    [HTTP_METHOD_UNKNOWN] = "",       [HTTP_METHOD_GET] = "GET",
    [HTTP_METHOD_HEAD] = "HEAD",      [HTTP_METHOD_POST] = "POST",
    [HTTP_METHOD_PUT] = "PUT",        [HTTP_METHOD_DELETE] = "DELETE",
    [HTTP_METHOD_PATCH] = "PATCH",    [HTTP_METHOD_OPTIONS] = "OPTIONS",
    [HTTP_METHOD_TRACE] = "TRACE",    [HTTP_METHOD_CONNECT] = "CONNECT",
};

http_method_t http_method_parse(pmq_slice_t token) {
    /* Methods are case-sensitive (RFC 9110 §9.1). */
    for (size_t m = 1; m < PMQ_ARRAY_LEN(method_names); m++) {
        if (pmq_slice_eq_cstr(token, method_names[m])) {
            return (http_method_t)m;
        }
    }
    return HTTP_METHOD_UNKNOWN;
}

const char *http_method_name(http_method_t m) {
    PMQ_ASSERT((size_t)m < PMQ_ARRAY_LEN(method_names));
    return method_names[m];
}

const char *http_status_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

bool http__ascii_ieq(pmq_slice_t s, const char *lit) {
    size_t n = strlen(lit);
    if (s.len != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (ascii_lower(s.ptr[i]) != ascii_lower(lit[i])) {
            return false;
        }
    }
    return true;
}

bool http__ascii_prefix(pmq_slice_t s, const char *prefix) {
    size_t n = strlen(prefix);
    return s.len >= n && http__ascii_ieq(pmq_slice(s.ptr, n), prefix);
}

bool http__list_has_token(pmq_slice_t s, const char *token) {
    const char *p = s.ptr;
    const char *end = s.ptr + s.len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        const char *b = p;
        while (b < e && (*b == ' ' || *b == '\t')) {
            b++;
        }
        const char *t = e;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t')) {
            t--;
        }
        if (http__ascii_ieq(pmq_slice(b, (size_t)(t - b)), token)) {
            return true;
        }
        p = comma ? comma + 1 : end;
    }
    return false;
}

bool http_request_header(const http_request_t *req, const char *name, pmq_slice_t *value) {
    for (size_t i = 0; i < req->header_count; i++) {
        if (http__ascii_ieq(req->headers[i].name, name)) {
            *value = req->headers[i].value;
            return true;
        }
    }
    return false;
}

bool http_query_get(pmq_slice_t query, const char *key, pmq_slice_t *value) {
    size_t klen = strlen(key);
    const char *p = query.ptr;
    const char *end = query.ptr + query.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *kend = eq ? eq : e;
        if ((size_t)(kend - p) == klen && memcmp(p, key, klen) == 0) {
            *value = eq ? pmq_slice(eq + 1, (size_t)(e - eq - 1)) : pmq_slice("", 0);
            return true;
        }
        p = amp ? amp + 1 : end;
    }
    return false;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = ascii_lower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

int http_pct_decode(pmq_slice_t in, char *out, size_t cap, size_t *out_len) {
    PMQ_ASSERT(cap > 0);
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c == '%') {
            if (i + 2 >= in.len) {
                return PMQ_EPROTO;
            }
            int h = hex_value(in.ptr[i + 1]);
            int l = hex_value(in.ptr[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                return PMQ_EPROTO;
            }
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (n + 1 >= cap) {
            return PMQ_ETOOBIG;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    if (out_len != NULL) {
        *out_len = n;
    }
    return 0;
}
