/* A compact JSON writer (RFC 8259) into a capped pmq_buf_t.
 *
 * Output errors are sticky and reported once by http_json_finish, so a caller writes a
 * whole document and checks one code. Structural misuse is our bug and asserts. Strings
 * are always emitted as valid UTF-8: invalid bytes become U+FFFD, control characters
 * are escaped (RFC 8259 §7). This is a writer only; the server never parses JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "paxmq/assert.h"
#include "paxmq/http.h"

void http_json_init(http_json_t *j, pmq_buf_t *out) {
    memset(j, 0, sizeof(*j));
    j->out = out;
}

static void put(http_json_t *j, const char *s, size_t n) {
    if (j->err == 0) {
        j->err = pmq_buf_append(j->out, s, n);
    }
}

/* Called before every value: writes the separating comma and checks structure. */
static void before_value(http_json_t *j) {
    if (j->depth > 0 && j->is_object[j->depth]) {
        PMQ_ASSERT(j->after_key);
    }
    if (j->depth > 0 && !j->is_object[j->depth] && j->need_comma[j->depth]) {
        put(j, ",", 1);
    }
    if (j->depth == 0) {
        PMQ_ASSERT(!j->need_comma[0]); /* one top-level value only */
    }
    j->need_comma[j->depth] = true;
    j->after_key = false;
}

static void open_container(http_json_t *j, bool object) {
    before_value(j);
    PMQ_ASSERT(j->depth < HTTP_JSON_DEPTH_MAX);
    j->depth++;
    j->is_object[j->depth] = object;
    j->need_comma[j->depth] = false;
    put(j, object ? "{" : "[", 1);
}

static void close_container(http_json_t *j, bool object) {
    PMQ_ASSERT(j->depth > 0);
    PMQ_ASSERT(j->is_object[j->depth] == object);
    PMQ_ASSERT(!j->after_key);
    j->depth--;
    put(j, object ? "}" : "]", 1);
}

void http_json_object_begin(http_json_t *j) { open_container(j, true); }
void http_json_object_end(http_json_t *j) { close_container(j, true); }
void http_json_array_begin(http_json_t *j) { open_container(j, false); }
void http_json_array_end(http_json_t *j) { close_container(j, false); }

void http_json_key(http_json_t *j, const char *key) {
    PMQ_ASSERT(j->depth > 0 && j->is_object[j->depth]);
    PMQ_ASSERT(!j->after_key);
    if (j->need_comma[j->depth]) {
        put(j, ",", 1);
    }
    if (j->err == 0) {
        j->err = http_json_escape(j->out, pmq_slice_cstr(key));
    }
    put(j, ":", 1);
    j->after_key = true;
    j->need_comma[j->depth] = false;
}

void http_json_string(http_json_t *j, pmq_slice_t s) {
    before_value(j);
    if (j->err == 0) {
        j->err = http_json_escape(j->out, s);
    }
}

void http_json_cstr(http_json_t *j, const char *s) {
    if (s == NULL) {
        http_json_null(j);
        return;
    }
    http_json_string(j, pmq_slice_cstr(s));
}

void http_json_int(http_json_t *j, int64_t v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    before_value(j);
    put(j, tmp, (size_t)n);
}

void http_json_uint(http_json_t *j, uint64_t v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    before_value(j);
    put(j, tmp, (size_t)n);
}

void http_json_double(http_json_t *j, double v) {
    if (!isfinite(v)) {
        http_json_null(j);
        return;
    }
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    /* Prefer the shortest form that reads back to the same double. */
    for (int prec = 1; prec < 17; prec++) {
        char shorter[40];
        int m = snprintf(shorter, sizeof(shorter), "%.*g", prec, v);
        if (strtod(shorter, NULL) == v) {
            memcpy(tmp, shorter, (size_t)m + 1);
            n = m;
            break;
        }
    }
    before_value(j);
    put(j, tmp, (size_t)n);
}

void http_json_bool(http_json_t *j, bool v) {
    before_value(j);
    put(j, v ? "true" : "false", v ? 4 : 5);
}

void http_json_null(http_json_t *j) {
    before_value(j);
    put(j, "null", 4);
}

int http_json_finish(http_json_t *j) {
    PMQ_ASSERT(j->depth == 0);
    PMQ_ASSERT(!j->after_key);
    return j->err;
}

/* Length of the valid UTF-8 sequence at s[0..n) (1-4), or 0 when invalid: overlongs,
 * surrogates and code points above U+10FFFF are invalid (RFC 3629 §4). */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len <= 1 || len > n) {
        return len > n ? 0 : len;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f)) {
        return 0;
    }
    return len;
}

static int escape_ctl(pmq_buf_t *out, unsigned char c) {
    switch (c) {
    case '"': return pmq_buf_append(out, "\\\"", 2);
    case '\\': return pmq_buf_append(out, "\\\\", 2);
    case '\b': return pmq_buf_append(out, "\\b", 2);
    case '\f': return pmq_buf_append(out, "\\f", 2);
    case '\n': return pmq_buf_append(out, "\\n", 2);
    case '\r': return pmq_buf_append(out, "\\r", 2);
    case '\t': return pmq_buf_append(out, "\\t", 2);
    default: return pmq_buf_appendf(out, "\\u%04x", c);
    }
}

int http_json_escape(pmq_buf_t *out, pmq_slice_t s) {
    int rc = pmq_buf_append(out, "\"", 1);
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0;
    while (rc == 0 && i < s.len) {
        /* Copy the longest run that needs no escaping in one append. */
        size_t run = i;
        while (run < s.len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' &&
               p[run] != '\\') {
            run++;
        }
        if (run > i) {
            rc = pmq_buf_append(out, s.ptr + i, run - i);
            i = run;
            continue;
        }
        if (p[i] < 0x80) {
            rc = escape_ctl(out, p[i]);
            i++;
            continue;
        }
        size_t len = utf8_seq_len(p + i, s.len - i);
        if (len == 0) {
            rc = pmq_buf_append(out, "\xef\xbf\xbd", 3);
            i++;
        } else {
            rc = pmq_buf_append(out, s.ptr + i, len);
            i += len;
        }
    }
    return rc == 0 ? pmq_buf_append(out, "\"", 1) : rc;
}
