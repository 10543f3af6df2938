/* Messages: one allocation holding the struct, the header array, the id, the
 * destination, every header name/value and the body. Immutable once built; shared by
 * reference count across queues and deliveries. */
#include "broker_int.h"

void pmq_msg_ref(pmq_msg_t *m) {
    PMQ_ASSERT(m->refs > 0);
    m->refs++;
}

void pmq_msg_unref(pmq_msg_t *m) {
    PMQ_ASSERT(m->refs > 0);
    if (--m->refs == 0) {
        pmq_free(m);
    }
}

bool pmq_msg_header(const pmq_msg_t *m, const char *name, pmq_slice_t *value) {
    for (uint32_t i = 0; i < m->header_count; i++) {
        if (pmq_slice_eq_cstr(m->headers[i].name, name)) {
            *value = m->headers[i].value;
            return true;
        }
    }
    return false;
}

static pmq_slice_t copy_into(char **cursor, pmq_slice_t s) {
    char *dst = *cursor;
    if (s.len > 0) {
        memcpy(dst, s.ptr, s.len);
    }
    *cursor += s.len;
    return pmq_slice(dst, s.len);
}

/* Appends v in base 10 or 16 at p; returns the new end. */
static char *put_u64(char *p, uint64_t v, unsigned base) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

/* "ID:<broker>-<seq>" for persistent messages, "ID:<broker>-<boot hex>-<n>" for volatile
 * ones. Hand-written because it runs once per message (snprintf was a sixth of the
 * broker's CPU in fan-in). Returns the length; out has room for 128 bytes. */
static size_t format_id(const broker_t *b, uint64_t seq, char *out) {
    size_t id_len = strlen(b->broker_id);
    PMQ_ASSERT(id_len <= 64);
    char *p = out;
    memcpy(p, "ID:", 3);
    p += 3;
    memcpy(p, b->broker_id, id_len);
    p += id_len;
    *p++ = '-';
    if (seq & BROKER_VOLATILE_BIT) {
        p = put_u64(p, b->opt.boot_nonce, 16);
        *p++ = '-';
        seq &= ~BROKER_VOLATILE_BIT;
    }
    p = put_u64(p, seq, 10);
    PMQ_ASSERT(p - out < 128);
    return (size_t)(p - out);
}

pmq_msg_t *broker__msg_new(broker_t *b, uint64_t seq, pmq_slice_t dest, const rlog_msg_props_t *p,
                           const rlog_header_t *headers, size_t header_count, pmq_slice_t body) {
    char id[128];
    size_t id_len = format_id(b, seq, id);
    /* Size pass, then one allocation and a write pass (STYLE §4 rule 7). */
    size_t size = sizeof(pmq_msg_t) + header_count * sizeof(rlog_header_t) + id_len + dest.len +
                  body.len + 1;
    for (size_t i = 0; i < header_count; i++) {
        size += headers[i].name.len + headers[i].value.len;
    }
    pmq_msg_t *m = pmq_malloc(size);
    if (m == NULL) {
        return NULL;
    }
    *m = (pmq_msg_t){.refs = 1,
                     .persistent = p->persistent,
                     .priority = p->priority,
                     .seq = seq,
                     .expires_ms = p->expires_ms,
                     .timestamp_ms = p->timestamp_ms,
                     .header_count = (uint32_t)header_count,
                     .bytes = size};
    m->headers = (rlog_header_t *)(m + 1);
    char *cursor = (char *)(m->headers + header_count);
    m->id = copy_into(&cursor, pmq_slice(id, id_len));
    m->dest = copy_into(&cursor, dest);
    for (size_t i = 0; i < header_count; i++) {
        m->headers[i].name = copy_into(&cursor, headers[i].name);
        m->headers[i].value = copy_into(&cursor, headers[i].value);
    }
    m->body = copy_into(&cursor, body);
    *cursor++ = '\0'; /* a NUL after the body lets text consumers treat it as a C string */
    PMQ_ASSERT((size_t)(cursor - (char *)m) == size);
    PMQ_ASSERT(m->priority <= 9);
    return m;
}

pmq_msg_t *broker__msg_from_cmd(broker_t *b, uint64_t seq, const rlog_cmd_t *c) {
    PMQ_ASSERT(c->type == RLOG_CMD_PUBLISH);
    rlog_header_t stack_headers[64];
    rlog_header_t *headers = stack_headers;
    if (c->header_count > PMQ_ARRAY_LEN(stack_headers)) {
        headers = pmq_calloc(c->header_count, sizeof(*headers));
        if (headers == NULL) {
            return NULL;
        }
    }
    rlog_iter_t it = rlog_headers_iter(c);
    size_t n = 0;
    while (rlog_headers_next(&it, &headers[n])) {
        n++;
    }
    PMQ_ASSERT(n == c->header_count);
    pmq_msg_t *m = broker__msg_new(b, seq, c->dest, &c->props, headers, n, c->body);
    if (headers != stack_headers) {
        pmq_free(headers);
    }
    return m;
}
