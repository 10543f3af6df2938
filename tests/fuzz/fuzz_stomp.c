/* libFuzzer driver for the STOMP codec (src/proto/stomp/stomp_codec.c).
 *
 * Input: byte 0 picks the version (0..2 -> 1.0/1.1/1.2), the limits profile (bits 2-3)
 * and whether to start at 1.0 and switch to that version after the first CONNECT/STOMP
 * as a session does (bit 7); byte 1 seeds the chunking; the rest is the byte stream.
 * Properties checked (any violation aborts):
 *   1. whole-buffer parsing consumes frames until EAGAIN or an error, never crashing;
 *   2. every parsed frame re-encodes (same version, verbatim headers) and re-parses to
 *      the identical frame (command, headers, body, content-length flag);
 *   3. the same stream fed in random chunks yields the same frames and the same outcome. */
#include <stdio.h>
#include <stdlib.h>

#include "paxmq/assert.h"
#include "paxmq/buf.h"
#include "paxmq/stomp.h"

#define FRAMES_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct run {
    stomp_version_t version;   /* negotiated version */
    bool switch_after_connect; /* start at 1.0 until a CONNECT/STOMP frame */
    stomp_limits_t limits;
    uint32_t digests[FRAMES_MAX];
    size_t frames;
    int outcome; /* PMQ_EAGAIN or the error */
} run_t;

static void limits_profile(unsigned sel, stomp_limits_t *l) {
    switch (sel) {
    case 0:
        stomp_limits_default(l);
        break;
    case 1:
        *l = (stomp_limits_t){256, 4, 32};
        break;
    case 2:
        *l = (stomp_limits_t){16, 1, 8};
        break;
    default:
        *l = (stomp_limits_t){1024, 16, 64};
        break;
    }
}

static uint32_t crc_slice(uint32_t crc, pmq_slice_t s) {
    uint64_t n = s.len;
    crc = pmq_crc32c(crc, &n, sizeof(n));
    return s.len > 0 ? pmq_crc32c(crc, s.ptr, s.len) : crc;
}

static uint32_t frame_digest(const stomp_frame_t *f) {
    uint32_t crc = pmq_crc32c(0, &f->command, sizeof(f->command));
    crc = pmq_crc32c(crc, &f->has_content_length, sizeof(f->has_content_length));
    crc = pmq_crc32c(crc, &f->header_count, sizeof(f->header_count));
    for (size_t i = 0; i < f->header_count; i++) {
        crc = crc_slice(crc, f->headers[i].name);
        crc = crc_slice(crc, f->headers[i].value);
    }
    return crc_slice(crc, f->body);
}

/* Property 2: encode the frame again and parse it back. Escaping can double the head,
 * so the second parser gets room for that. */
static void check_roundtrip(const run_t *r, stomp_version_t v, const stomp_frame_t *f) {
    pmq_buf_t enc;
    pmq_buf_init(&enc, 0);
    int rc = stomp_encode(&enc, v, f->command, f->headers, f->header_count, f->body, false);
    PMQ_ASSERT(rc == 0);
    stomp_limits_t l = {2 * r->limits.frame_bytes_max + 64, r->limits.header_count_max,
                        2 * r->limits.header_bytes_max + 2};
    stomp_parser_t p2;
    rc = stomp_parser_init(&p2, &l);
    PMQ_ASSERT(rc == 0);
    stomp_parser_set_version(&p2, v);
    size_t consumed = 0;
    stomp_frame_t f2;
    pmq_proto_err_t err;
    rc = stomp_parse(&p2, enc.data, enc.len, &consumed, &f2, &err);
    if (rc != 0) {
        fprintf(stderr, "re-parse failed: %s\n", err.reason);
    }
    PMQ_ASSERT(rc == 0);
    PMQ_ASSERT(consumed == enc.len);
    PMQ_ASSERT(frame_digest(&f2) == frame_digest(f));
    stomp_parser_close(&p2);
    pmq_buf_close(&enc);
}

/* Records a parsed frame; in the first run also checks its round trip and, in the
 * second, that it matches the first run's frame at that position. */
static void on_frame(run_t *r, stomp_parser_t *p, const stomp_frame_t *f, const run_t *ref) {
    uint32_t d = frame_digest(f);
    if (ref == NULL) {
        check_roundtrip(r, p->version, f);
    } else {
        PMQ_ASSERT(r->frames < ref->frames);
        PMQ_ASSERT(r->frames >= FRAMES_MAX || ref->digests[r->frames] == d);
    }
    if (r->frames < FRAMES_MAX) {
        r->digests[r->frames] = d;
    }
    r->frames++;
    if (r->switch_after_connect &&
        (f->command == STOMP_CMD_CONNECT || f->command == STOMP_CMD_STOMP)) {
        stomp_parser_set_version(p, r->version);
    }
}

/* Feeds the stream in chunks (chunk_seed 0: all at once) through a buffer that drops
 * consumed bytes, as a connection does; stops at the first error. */
static void run_stream(run_t *r, const uint8_t *s, size_t n, uint8_t chunk_seed,
                       const run_t *ref) {
    stomp_parser_t p;
    int rc = stomp_parser_init(&p, &r->limits);
    PMQ_ASSERT(rc == 0);
    stomp_parser_set_version(&p, r->switch_after_connect ? STOMP_V1_0 : r->version);
    pmq_rng_t rng;
    pmq_rng_seed(&rng, chunk_seed);
    uint64_t max_chunk = 1 + chunk_seed % 64;
    pmq_buf_t in;
    pmq_buf_init(&in, 0);
    size_t fed = 0;
    r->outcome = PMQ_EAGAIN;
    while (fed < n && r->outcome == PMQ_EAGAIN) {
        size_t k = chunk_seed == 0 ? n : (size_t)pmq_rng_range(&rng, 1, max_chunk);
        k = PMQ_MIN(k, n - fed);
        rc = pmq_buf_append(&in, s + fed, k);
        PMQ_ASSERT(rc == 0);
        fed += k;
        for (;;) {
            size_t consumed = 0;
            stomp_frame_t f;
            pmq_proto_err_t err;
            rc = stomp_parse(&p, in.data, in.len, &consumed, &f, &err);
            if (rc == 0) {
                on_frame(r, &p, &f, ref);
            } else if (rc != PMQ_EAGAIN) {
                PMQ_ASSERT(rc == PMQ_EPROTO || rc == PMQ_ETOOBIG);
                PMQ_ASSERT(err.must_close);
                PMQ_ASSERT(memchr(err.reason, '\0', sizeof(err.reason)) != NULL);
                r->outcome = rc;
                break;
            }
            PMQ_ASSERT(consumed <= in.len);
            if (consumed > 0) {
                pmq_buf_consume(&in, consumed);
            }
            if (rc == PMQ_EAGAIN) {
                break;
            }
        }
    }
    pmq_buf_close(&in);
    stomp_parser_close(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) {
        return 0;
    }
    static const stomp_version_t versions[] = {STOMP_V1_0, STOMP_V1_1, STOMP_V1_2};
    run_t *whole = calloc(2, sizeof(run_t));
    PMQ_ASSERT(whole != NULL);
    run_t *split = whole + 1;
    whole->version = versions[(data[0] & 3) % 3];
    whole->switch_after_connect = (data[0] & 0x80) != 0;
    limits_profile((data[0] >> 2) & 3, &whole->limits);
    split->version = whole->version;
    split->switch_after_connect = whole->switch_after_connect;
    split->limits = whole->limits;
    run_stream(whole, data + 2, size - 2, 0, NULL);
    run_stream(split, data + 2, size - 2, (uint8_t)(data[1] | 1), whole);
    /* Property 3: same frames, and both end in an error or both wait for more. */
    PMQ_ASSERT(split->frames == whole->frames);
    PMQ_ASSERT((split->outcome == PMQ_EAGAIN) == (whole->outcome == PMQ_EAGAIN));
    free(whole);
    return 0;
}
