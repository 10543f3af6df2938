/* Growable byte buffers and bounds-checked big-endian readers/writers.
 *
 * pmq_buf_t owns its bytes and has a hard cap (limit) so no buffer grows without
 * bound (STYLE §3 "put a limit on everything"). pmq_rd_t is a borrowed cursor for
 * decoding untrusted bytes: every read checks bounds and sets a sticky error flag,
 * so a decoder can read a whole record and test rd.err once at the end. */
#ifndef PAXMQ_BUF_H
#define PAXMQ_BUF_H

#include "paxmq/base.h"

typedef struct pmq_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit; /* 0 means SIZE_MAX */
} pmq_buf_t;

/* Initializes an empty buffer (no allocation yet). limit 0 = unlimited. */
void pmq_buf_init(pmq_buf_t *b, size_t limit);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void pmq_buf_close(pmq_buf_t *b);
/* Ensures room for extra more bytes. PMQ_ETOOBIG past the limit, PMQ_ENOMEM. */
PMQ_MUST_USE int pmq_buf_reserve(pmq_buf_t *b, size_t extra);
PMQ_MUST_USE int pmq_buf_append(pmq_buf_t *b, const void *p, size_t n);
PMQ_MUST_USE int pmq_buf_append_slice(pmq_buf_t *b, pmq_slice_t s);
PMQ_MUST_USE int pmq_buf_append_cstr(pmq_buf_t *b, const char *s);
PMQ_MUST_USE int pmq_buf_appendf(pmq_buf_t *b, const char *fmt, ...) PMQ_PRINTF(2, 3);
/* Removes the first n bytes (n <= len), moving the rest down. */
void pmq_buf_consume(pmq_buf_t *b, size_t n);
/* Gives the storage to the caller (pmq_free it) and leaves b empty. */
char *pmq_buf_steal(pmq_buf_t *b, size_t *len_out);
static inline void pmq_buf_reset(pmq_buf_t *b) { b->len = 0; }
static inline pmq_slice_t pmq_buf_slice(const pmq_buf_t *b) {
    return pmq_slice(b->data, b->len);
}

/* Writers: append fixed-width big-endian integers and length-prefixed bytes. The
 * buffer must have been reserved, or use the checked forms returning int. */
PMQ_MUST_USE int pmq_buf_put_u8(pmq_buf_t *b, uint8_t v);
PMQ_MUST_USE int pmq_buf_put_u16(pmq_buf_t *b, uint16_t v);
PMQ_MUST_USE int pmq_buf_put_u32(pmq_buf_t *b, uint32_t v);
PMQ_MUST_USE int pmq_buf_put_u64(pmq_buf_t *b, uint64_t v);
/* u32 length then the bytes. */
PMQ_MUST_USE int pmq_buf_put_bytes(pmq_buf_t *b, pmq_slice_t s);

static inline void pmq_store_u16be(void *p, uint16_t v) {
    unsigned char *c = p;
    c[0] = (unsigned char)(v >> 8);
    c[1] = (unsigned char)v;
}
static inline void pmq_store_u32be(void *p, uint32_t v) {
    unsigned char *c = p;
    for (int i = 3; i >= 0; i--) {
        c[i] = (unsigned char)v;
        v >>= 8;
    }
}
static inline void pmq_store_u64be(void *p, uint64_t v) {
    unsigned char *c = p;
    for (int i = 7; i >= 0; i--) {
        c[i] = (unsigned char)v;
        v >>= 8;
    }
}
static inline uint16_t pmq_load_u16be(const void *p) {
    const unsigned char *c = p;
    return (uint16_t)((c[0] << 8) | c[1]);
}
static inline uint32_t pmq_load_u32be(const void *p) {
    const unsigned char *c = p;
    return ((uint32_t)c[0] << 24) | ((uint32_t)c[1] << 16) | ((uint32_t)c[2] << 8) | c[3];
}
static inline uint64_t pmq_load_u64be(const void *p) {
    const unsigned char *c = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | c[i];
    }
    return v;
}

typedef struct pmq_rd {
    const char *p;
    size_t left;
    bool err; /* sticky: set by the first out-of-bounds read */
} pmq_rd_t;

static inline pmq_rd_t pmq_rd_init(pmq_slice_t s) { return (pmq_rd_t){s.ptr, s.len, false}; }
uint8_t pmq_rd_u8(pmq_rd_t *r);
uint16_t pmq_rd_u16(pmq_rd_t *r);
uint32_t pmq_rd_u32(pmq_rd_t *r);
uint64_t pmq_rd_u64(pmq_rd_t *r);
/* Reads a u32 length then that many bytes, as a borrowed slice; fails (err) when the
 * length exceeds max or the remaining input. */
pmq_slice_t pmq_rd_bytes(pmq_rd_t *r, size_t max);
/* Reads exactly n raw bytes. */
pmq_slice_t pmq_rd_raw(pmq_rd_t *r, size_t n);

#endif
