/* pmq_buf_t (owning, capped) and pmq_rd_t (borrowed, sticky-error cursor). */
#include <stdio.h>

#include "paxmq/assert.h"
#include "paxmq/buf.h"

void pmq_buf_init(pmq_buf_t *b, size_t limit) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit ? limit : SIZE_MAX;
}

void pmq_buf_close(pmq_buf_t *b) {
    pmq_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int pmq_buf_reserve(pmq_buf_t *b, size_t extra) {
    if (extra > b->limit || b->len > b->limit - extra) {
        return PMQ_ETOOBIG;
    }
    size_t need = b->len + extra;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (cap > b->limit) {
        cap = b->limit;
    }
    char *d = pmq_realloc(b->data, cap);
    if (d == NULL) {
        return PMQ_ENOMEM;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int pmq_buf_append(pmq_buf_t *b, const void *p, size_t n) {
    if (n == 0) {
        return 0;
    }
    int rc = pmq_buf_reserve(b, n);
    if (rc != 0) {
        return rc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int pmq_buf_append_slice(pmq_buf_t *b, pmq_slice_t s) { return pmq_buf_append(b, s.ptr, s.len); }
int pmq_buf_append_cstr(pmq_buf_t *b, const char *s) { return pmq_buf_append(b, s, strlen(s)); }

int pmq_buf_appendf(pmq_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return PMQ_EINVAL;
    }
    if ((size_t)n < sizeof(small)) {
        return pmq_buf_append(b, small, (size_t)n);
    }
    int rc = pmq_buf_reserve(b, (size_t)n + 1);
    if (rc != 0) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void pmq_buf_consume(pmq_buf_t *b, size_t n) {
    PMQ_ASSERT(n <= b->len);
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

char *pmq_buf_steal(pmq_buf_t *b, size_t *len_out) {
    char *d = b->data;
    if (len_out != NULL) {
        *len_out = b->len;
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}

int pmq_buf_put_u8(pmq_buf_t *b, uint8_t v) { return pmq_buf_append(b, &v, 1); }

int pmq_buf_put_u16(pmq_buf_t *b, uint16_t v) {
    char t[2];
    pmq_store_u16be(t, v);
    return pmq_buf_append(b, t, 2);
}

int pmq_buf_put_u32(pmq_buf_t *b, uint32_t v) {
    char t[4];
    pmq_store_u32be(t, v);
    return pmq_buf_append(b, t, 4);
}

int pmq_buf_put_u64(pmq_buf_t *b, uint64_t v) {
    char t[8];
    pmq_store_u64be(t, v);
    return pmq_buf_append(b, t, 8);
}

int pmq_buf_put_bytes(pmq_buf_t *b, pmq_slice_t s) {
    if (s.len > UINT32_MAX) {
        return PMQ_ETOOBIG;
    }
    int rc = pmq_buf_put_u32(b, (uint32_t)s.len);
    return rc != 0 ? rc : pmq_buf_append(b, s.ptr, s.len);
}

static const char *rd_take(pmq_rd_t *r, size_t n) {
    if (r->err || r->left < n) {
        r->err = true;
        return NULL;
    }
    const char *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

uint8_t pmq_rd_u8(pmq_rd_t *r) {
    const char *p = rd_take(r, 1);
    return p ? (uint8_t)p[0] : 0;
}

uint16_t pmq_rd_u16(pmq_rd_t *r) {
    const char *p = rd_take(r, 2);
    return p ? pmq_load_u16be(p) : 0;
}

uint32_t pmq_rd_u32(pmq_rd_t *r) {
    const char *p = rd_take(r, 4);
    return p ? pmq_load_u32be(p) : 0;
}

uint64_t pmq_rd_u64(pmq_rd_t *r) {
    const char *p = rd_take(r, 8);
    return p ? pmq_load_u64be(p) : 0;
}

pmq_slice_t pmq_rd_raw(pmq_rd_t *r, size_t n) {
    const char *p = rd_take(r, n);
    return p ? pmq_slice(p, n) : pmq_slice(NULL, 0);
}

pmq_slice_t pmq_rd_bytes(pmq_rd_t *r, size_t max) {
    uint32_t n = pmq_rd_u32(r);
    if (n > max) {
        r->err = true;
        return pmq_slice(NULL, 0);
    }
    return pmq_rd_raw(r, n);
}
