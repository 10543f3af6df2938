/* libFuzzer driver for the MQTT codec (src/proto/mqtt/mqtt_codec.c, mqtt_encode.c,
 * mqtt_topic.c).
 *
 * Input: byte 0 picks the parser role (bits 0-1: server, client, any, any), small limits
 * (bit 2) and a client parser that starts at protocol level 3 (bit 3); byte 1 seeds the
 * chunking; the rest is the byte stream. Properties checked (any violation aborts):
 *   1. whole-buffer parsing consumes packets until EAGAIN or an error, never crashing;
 *   2. every parsed packet re-encodes to the very bytes it came from (only the DUP bit a
 *      3.1 client may set on PUBREL/SUBSCRIBE/UNSUBSCRIBE is not reproduced), and the
 *      encoding parses back and re-encodes identically;
 *   3. parsed values obey the rules the parser enforces (topics, filters, flags), the
 *      PUBLISH header fast path agrees with the full encoder, and every topic survives
 *      the STOMP mapping both ways;
 *   4. the same stream fed in chunks yields the same packets and the same outcome. */
#include <stdio.h>
#include <stdlib.h>

#include "paxmq/assert.h"
#include "paxmq/buf.h"
#include "paxmq/mqtt.h"

#define PACKETS_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct run {
    mqtt_parser_cfg_t cfg;
    bool start_level_31;
    uint32_t digests[PACKETS_MAX];
    size_t packets;
    int outcome; /* PMQ_EAGAIN or the error */
    pmq_proto_err_t err;
} run_t;

static void check_topic_mapping(pmq_slice_t topic) {
    pmq_buf_t stomp;
    pmq_buf_t back;
    pmq_buf_init(&stomp, 0);
    pmq_buf_init(&back, 0);
    PMQ_ASSERT(mqtt_topic_to_stomp(topic, &stomp) == 0);
    PMQ_ASSERT(mqtt_topic_from_stomp(pmq_buf_slice(&stomp), &back) == 0);
    PMQ_ASSERT(pmq_slice_eq(pmq_buf_slice(&back), topic));
    pmq_buf_close(&stomp);
    pmq_buf_close(&back);
}

static void check_publish(const mqtt_publish_t *m, const pmq_buf_t *enc) {
    PMQ_ASSERT(mqtt_topic_name_is_valid(m->topic));
    PMQ_ASSERT(m->qos <= 2);
    PMQ_ASSERT((m->qos == 0) == (m->pid == 0));
    PMQ_ASSERT(m->qos > 0 || !m->dup);
    char head[MQTT_FIXED_HEADER_BYTES_MAX + 2 + MQTT_STRING_BYTES_MAX + 2];
    size_t n = 0;
    PMQ_ASSERT(mqtt_publish_header_write(m, head, sizeof(head), &n) == 0);
    PMQ_ASSERT(n == mqtt_publish_header_bytes(m));
    PMQ_ASSERT(n + m->payload.len == enc->len);
    PMQ_ASSERT(memcmp(head, enc->data, n) == 0);
    PMQ_ASSERT(m->payload.len == 0 || memcmp(enc->data + n, m->payload.ptr, m->payload.len) == 0);
    PMQ_ASSERT(mqtt_topic_matches(PMQ_SLICE_LIT("#"), m->topic) == (m->topic.ptr[0] != '$'));
    PMQ_ASSERT(mqtt_topic_matches(m->topic, m->topic));
    check_topic_mapping(m->topic);
}

static void check_filters(const mqtt_packet_t *pkt) {
    mqtt_filter_iter_t it;
    mqtt_filter_iter_init(&it, pkt);
    mqtt_filter_t f;
    uint32_t n = 0;
    while (mqtt_filter_iter_next(&it, &f)) {
        PMQ_ASSERT(mqtt_topic_filter_is_valid(f.filter));
        PMQ_ASSERT(f.qos <= 2);
        if (!mqtt_topic_filter_has_wildcard(f.filter)) {
            PMQ_ASSERT(mqtt_topic_name_is_valid(f.filter));
            PMQ_ASSERT(mqtt_topic_matches(f.filter, f.filter));
        }
        check_topic_mapping(f.filter);
        n++;
    }
    PMQ_ASSERT(n == pkt->subscribe.count);
}

static void check_connect(const mqtt_connect_t *c) {
    PMQ_ASSERT(c->level == MQTT_LEVEL_311 || c->level == MQTT_LEVEL_31);
    PMQ_ASSERT(!c->has_password || c->has_username);
    PMQ_ASSERT(c->will || (c->will_qos == 0 && !c->will_retain));
    PMQ_ASSERT(!c->will || mqtt_topic_name_is_valid(c->will_topic));
    PMQ_ASSERT(pmq_utf8_is_valid(c->client_id, true));
    PMQ_ASSERT(c->client_id.len > 0 || c->clean_session);
}

/* Re-encodes pkt (which came from raw at protocol level `level`), compares, re-parses
 * and re-encodes again; returns the digest of the encoding. */
static uint32_t check_packet(const run_t *r, const mqtt_packet_t *pkt, pmq_slice_t raw,
                             uint8_t level) {
    pmq_buf_t enc;
    pmq_buf_init(&enc, 0);
    PMQ_ASSERT(mqtt_encode_packet(&enc, pkt) == 0);
    PMQ_ASSERT(enc.len == raw.len);
    unsigned b0_diff = ((uint8_t)enc.data[0] ^ (uint8_t)raw.ptr[0]);
    bool dup31 = level == MQTT_LEVEL_31 && pkt->flags == 0xA;
    PMQ_ASSERT(b0_diff == 0 || (dup31 && b0_diff == 0x8));
    PMQ_ASSERT(memcmp(enc.data + 1, raw.ptr + 1, raw.len - 1) == 0);

    mqtt_parser_cfg_t cfg = r->cfg;
    cfg.role = MQTT_ROLE_ANY;
    mqtt_parser_t p2;
    mqtt_parser_init(&p2, &cfg);
    mqtt_parser_set_level(&p2, (mqtt_level_t)level);
    mqtt_packet_t again;
    size_t used = 0;
    pmq_proto_err_t err;
    PMQ_ASSERT(mqtt_parse(&p2, enc.data, enc.len, &used, &again, &err) == 0);
    PMQ_ASSERT(used == enc.len);
    pmq_buf_t enc2;
    pmq_buf_init(&enc2, 0);
    PMQ_ASSERT(mqtt_encode_packet(&enc2, &again) == 0);
    PMQ_ASSERT(pmq_slice_eq(pmq_buf_slice(&enc2), pmq_buf_slice(&enc)));

    switch (pkt->type) {
    case MQTT_PUBLISH:
        check_publish(&pkt->publish, &enc);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        check_filters(pkt);
        break;
    case MQTT_CONNECT:
        check_connect(&pkt->connect);
        break;
    default:
        break;
    }
    uint32_t digest = pmq_crc32c(0, enc.data, enc.len);
    pmq_buf_close(&enc);
    pmq_buf_close(&enc2);
    return digest;
}

static void parser_for(const run_t *r, mqtt_parser_t *p) {
    mqtt_parser_init(p, &r->cfg);
    if (r->start_level_31) {
        mqtt_parser_set_level(p, MQTT_LEVEL_31);
    }
}

/* Parses the whole stream at once, recording every packet. */
static void run_whole(run_t *r, const char *buf, size_t len) {
    mqtt_parser_t p;
    parser_for(r, &p);
    size_t off = 0;
    for (;;) {
        mqtt_packet_t pkt;
        size_t used = 0;
        uint8_t level = mqtt_parser_level(&p);
        int rc = mqtt_parse(&p, buf + off, len - off, &used, &pkt, &r->err);
        if (rc != 0) {
            PMQ_ASSERT(rc == PMQ_EAGAIN || r->err.must_close);
            PMQ_ASSERT(used == 0);
            r->outcome = rc;
            return;
        }
        PMQ_ASSERT(used > 0 && used <= len - off);
        PMQ_ASSERT(r->packets < PACKETS_MAX);
        if (pkt.type == MQTT_CONNECT) {
            level = pkt.connect.level;
        }
        r->digests[r->packets++] = check_packet(r, &pkt, pmq_slice(buf + off, used), level);
        off += used;
    }
}

/* Feeds the stream in chunks of 1..64 bytes chosen by a PRNG seeded from byte 1 and
 * checks that the packets and the outcome are those of run_whole. */
static void run_chunked(const run_t *whole, const char *buf, size_t len, uint8_t seed) {
    mqtt_parser_t p;
    parser_for(whole, &p);
    pmq_rng_t rng;
    pmq_rng_seed(&rng, seed);
    pmq_buf_t in;
    pmq_buf_init(&in, 0);
    size_t off = 0;
    size_t packets = 0;
    int outcome = PMQ_EAGAIN;
    pmq_proto_err_t err = {0};
    while (outcome == PMQ_EAGAIN && off < len) {
        size_t step = (size_t)pmq_rng_range(&rng, 1, 64); /* PMQ_MIN evaluates twice */
        size_t n = PMQ_MIN(step, len - off);
        PMQ_ASSERT(pmq_buf_append(&in, buf + off, n) == 0);
        off += n;
        for (;;) {
            mqtt_packet_t pkt;
            size_t used = 0;
            outcome = mqtt_parse(&p, in.data, in.len, &used, &pkt, &err);
            if (outcome != 0) {
                break;
            }
            pmq_buf_t enc;
            pmq_buf_init(&enc, 0);
            PMQ_ASSERT(mqtt_encode_packet(&enc, &pkt) == 0);
            PMQ_ASSERT(packets < whole->packets);
            PMQ_ASSERT(pmq_crc32c(0, enc.data, enc.len) == whole->digests[packets]);
            pmq_buf_close(&enc);
            packets++;
            pmq_buf_consume(&in, used);
        }
    }
    PMQ_ASSERT(packets == whole->packets);
    PMQ_ASSERT(outcome == whole->outcome);
    if (outcome != PMQ_EAGAIN) {
        PMQ_ASSERT(err.code == whole->err.code);
        PMQ_ASSERT(strcmp(err.reason, whole->err.reason) == 0);
    }
    pmq_buf_close(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) {
        return 0;
    }
    static run_t r; /* large; one run at a time */
    memset(&r, 0, sizeof(r));
    mqtt_parser_cfg_default(&r.cfg);
    static const mqtt_role_t roles[] = {MQTT_ROLE_SERVER, MQTT_ROLE_CLIENT, MQTT_ROLE_ANY,
                                        MQTT_ROLE_ANY};
    r.cfg.role = roles[data[0] & 3];
    if (data[0] & 4) {
        r.cfg.packet_bytes_max = 64;
        r.cfg.filters_max = 2;
        r.cfg.client_id_bytes_max = MQTT_CLIENT_ID_BYTES_MIN_LIMIT;
    }
    r.start_level_31 = (data[0] & 8) != 0 && r.cfg.role == MQTT_ROLE_CLIENT;
    const char *buf = (const char *)data + 2;
    size_t len = size - 2;
    run_whole(&r, buf, len);
    run_chunked(&r, buf, len, data[1]);
    return 0;
}
