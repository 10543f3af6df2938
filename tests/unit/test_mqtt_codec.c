/* Unit tests for the MQTT 3.1.1 / 3.1 codec (src/proto/mqtt/mqtt_codec.c, mqtt_encode.c):
 * every packet type encoded and parsed back, Remaining Length edge cases, incremental
 * parsing byte by byte and at seeded random split points, and a table of malformed
 * packets with the error and CONNACK code each must produce (docs/MQTT.md). */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>

#include "paxmq/buf.h"
#include "paxmq/mqtt.h"

/* ---- test vectors: a tiny notation so bytes read like the spec's figures ----
 * Space-separated tokens: "3C" one hex byte; "*" the Remaining Length of everything
 * after it (computed); "s:abc" a two-byte length then the text; "a:abc" the text alone;
 * "n:300" a two-byte length 300 then 300 'x' bytes; "|" ends one packet so the next
 * can have its own "*". */
static void vec_flush(char *out, size_t *head, const char *body, size_t *len, bool *star) {
    if (*star) {
        *head += mqtt_remaining_length_encode((uint32_t)*len, out + *head);
        memcpy(out + *head, body, *len);
        *head += *len;
    }
    *star = false;
    *len = 0;
}

static size_t vec(char *out, size_t cap, const char *spec) {
    static char body[70000];
    size_t head = 0;
    size_t len = 0;
    bool star = false;
    const char *p = spec;
    while (*p != '\0') {
        while (*p == ' ') {
            p++;
        }
        const char *tok = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        size_t tlen = (size_t)(p - tok);
        if (tlen == 0) {
            continue;
        }
        char *dst = star ? body : out;
        size_t *at = star ? &len : &head;
        if (tlen == 1 && tok[0] == '|') {
            vec_flush(out, &head, body, &len, &star);
        } else if (tlen == 1 && tok[0] == '*') {
            star = true;
        } else if (tlen >= 2 && tok[1] == ':') {
            const char *text = tok + 2;
            size_t n = tlen - 2;
            if (tok[0] == 'n') {
                n = (size_t)strtoul(text, NULL, 10);
            }
            if (tok[0] != 'a') {
                pmq_store_u16be(dst + *at, (uint16_t)n);
                *at += 2;
            }
            for (size_t i = 0; i < n; i++) {
                dst[(*at)++] = tok[0] == 'n' ? 'x' : text[i];
            }
        } else {
            assert_int_equal(tlen, 2);
            char hex[3] = {tok[0], tok[1], 0};
            dst[(*at)++] = (char)strtoul(hex, NULL, 16);
        }
        assert_true(*at < sizeof(body));
    }
    vec_flush(out, &head, body, &len, &star);
    assert_true(head <= cap);
    return head;
}

static void assert_slice(pmq_slice_t s, const char *want) {
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

static void assert_slice_eq(pmq_slice_t a, pmq_slice_t b) {
    assert_int_equal(a.len, b.len);
    if (a.len > 0) {
        assert_memory_equal(a.ptr, b.ptr, a.len);
    }
}

static mqtt_parser_t any_parser(void) {
    mqtt_parser_cfg_t cfg;
    mqtt_parser_cfg_default(&cfg);
    cfg.role = MQTT_ROLE_ANY;
    mqtt_parser_t p;
    mqtt_parser_init(&p, &cfg);
    return p;
}

/* Parses exactly one packet that fills b, with a parser of any role. */
static void parse_all(const pmq_buf_t *b, mqtt_packet_t *out) {
    mqtt_parser_t p = any_parser();
    size_t used = 0;
    pmq_proto_err_t err = {0};
    int rc = mqtt_parse(&p, b->data, b->len, &used, out, &err);
    if (rc != 0) {
        fail_msg("parse failed: %s (%s)", pmq_errname(rc), err.reason);
    }
    assert_int_equal(used, b->len);
    assert_int_equal(out->packet_bytes, b->len);
}

/* Re-encodes a parsed packet and checks that the bytes are identical. */
static void assert_reencodes(const mqtt_packet_t *pkt, const pmq_buf_t *orig) {
    pmq_buf_t again;
    pmq_buf_init(&again, 0);
    assert_int_equal(mqtt_encode_packet(&again, pkt), 0);
    assert_int_equal(again.len, orig->len);
    assert_memory_equal(again.data, orig->data, orig->len);
    pmq_buf_close(&again);
}

/* ---- round trips, one per packet type ---- */

static void check_connect_roundtrip(const mqtt_connect_t *c) {
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(mqtt_encode_connect(&b, c), 0);
    mqtt_packet_t pkt;
    parse_all(&b, &pkt);
    assert_int_equal(pkt.type, MQTT_CONNECT);
    const mqtt_connect_t *d = &pkt.connect;
    assert_slice(d->protocol_name, c->level == MQTT_LEVEL_311 ? "MQTT" : "MQIsdp");
    assert_int_equal(d->level, c->level);
    assert_int_equal(d->clean_session, c->clean_session);
    assert_int_equal(d->keepalive_s, c->keepalive_s);
    assert_slice_eq(d->client_id, c->client_id);
    assert_int_equal(d->will, c->will);
    assert_int_equal(d->will_qos, c->will_qos);
    assert_int_equal(d->will_retain, c->will_retain);
    assert_slice_eq(d->will_topic, c->will_topic);
    assert_slice_eq(d->will_payload, c->will_payload);
    assert_int_equal(d->has_username, c->has_username);
    assert_int_equal(d->has_password, c->has_password);
    assert_slice_eq(d->username, c->username);
    assert_slice_eq(d->password, c->password);
    assert_reencodes(&pkt, &b);
    pmq_buf_close(&b);
}

static void test_connect_roundtrip(void **state) {
    (void)state;
    mqtt_connect_t full = {.level = MQTT_LEVEL_311,
                           .clean_session = false,
                           .keepalive_s = 65535,
                           .client_id = PMQ_SLICE_LIT("sensor-\xc3\xa9-42"),
                           .will = true,
                           .will_qos = 2,
                           .will_retain = true,
                           .will_topic = PMQ_SLICE_LIT("devices/42/status"),
                           .will_payload = PMQ_SLICE_LIT("gone\0with\0nul"),
                           .has_username = true,
                           .has_password = true,
                           .username = PMQ_SLICE_LIT("alice"),
                           .password = PMQ_SLICE_LIT("\x00\xff secret")};
    check_connect_roundtrip(&full);
    mqtt_connect_t minimal = {.level = MQTT_LEVEL_311, .clean_session = true};
    check_connect_roundtrip(&minimal);
    mqtt_connect_t v31 = {.level = MQTT_LEVEL_31,
                          .clean_session = true,
                          .keepalive_s = 60,
                          .client_id = PMQ_SLICE_LIT("abcdefghijklmnopqrstuvw"),
                          .has_username = true,
                          .username = PMQ_SLICE_LIT("bob")};
    check_connect_roundtrip(&v31);
    mqtt_connect_t will_qos0 = {.level = MQTT_LEVEL_311,
                                .client_id = PMQ_SLICE_LIT("w"),
                                .will = true,
                                .will_topic = PMQ_SLICE_LIT("t"),
                                .has_username = true,
                                .username = PMQ_SLICE_LIT("")};
    check_connect_roundtrip(&will_qos0);
}

/* The exact bytes of a small CONNECT, checked by hand against §3.1 Figures 3.2-3.6. */
static void test_connect_golden_bytes(void **state) {
    (void)state;
    mqtt_connect_t c = {.level = MQTT_LEVEL_311,
                        .clean_session = true,
                        .keepalive_s = 60,
                        .client_id = PMQ_SLICE_LIT("abc")};
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(mqtt_encode_connect(&b, &c), 0);
    const char want[] = {0x10, 0x0F, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 3, 'a', 'b', 'c'};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    pmq_buf_close(&b);
}

static void test_connack_roundtrip(void **state) {
    (void)state;
    for (uint8_t rc = 0; rc <= MQTT_CONNACK_NOT_AUTHORIZED; rc++) {
        for (int sp = 0; sp <= (rc == 0 ? 1 : 0); sp++) {
            pmq_buf_t b;
            pmq_buf_init(&b, 0);
            assert_int_equal(mqtt_encode_connack(&b, sp == 1, rc), 0);
            assert_int_equal(b.len, 4);
            assert_int_equal((uint8_t)b.data[0], 0x20);
            mqtt_packet_t pkt;
            parse_all(&b, &pkt);
            assert_int_equal(pkt.type, MQTT_CONNACK);
            assert_int_equal(pkt.connack.rc, rc);
            assert_int_equal(pkt.connack.session_present, sp == 1);
            assert_reencodes(&pkt, &b);
            pmq_buf_close(&b);
        }
    }
}

static void test_publish_roundtrip(void **state) {
    (void)state;
    const mqtt_publish_t cases[] = {
        {.topic = PMQ_SLICE_LIT("a/b/c"), .payload = PMQ_SLICE_LIT("hello")},
        {.topic = PMQ_SLICE_LIT("a"), .qos = 0, .retain = true},
        {.topic = PMQ_SLICE_LIT("x/y"), .qos = 1, .pid = 1, .payload = PMQ_SLICE_LIT("\0\1\2")},
        {.topic = PMQ_SLICE_LIT("$SYS/broker/load"), .qos = 2, .pid = 65535, .dup = true,
         .retain = true, .payload = PMQ_SLICE_LIT("12")},
        {.topic = PMQ_SLICE_LIT("/"), .qos = 1, .pid = 7, .dup = true},
        {.topic = PMQ_SLICE_LIT("caf\xc3\xa9/\xe2\x82\xac"), .payload = PMQ_SLICE_LIT("x")},
    };
    for (size_t i = 0; i < PMQ_ARRAY_LEN(cases); i++) {
        const mqtt_publish_t *m = &cases[i];
        pmq_buf_t b;
        pmq_buf_init(&b, 0);
        assert_int_equal(mqtt_encode_publish(&b, m), 0);
        mqtt_packet_t pkt;
        parse_all(&b, &pkt);
        assert_int_equal(pkt.type, MQTT_PUBLISH);
        assert_slice_eq(pkt.publish.topic, m->topic);
        assert_int_equal(pkt.publish.qos, m->qos);
        assert_int_equal(pkt.publish.pid, m->pid);
        assert_int_equal(pkt.publish.dup, m->dup);
        assert_int_equal(pkt.publish.retain, m->retain);
        assert_slice_eq(pkt.publish.payload, m->payload);
        assert_reencodes(&pkt, &b);
        pmq_buf_close(&b);
    }
}

/* The header written apart from the payload, followed by the payload, must be the same
 * bytes as the whole PUBLISH: that is what the session sends as two iovecs. */
static void test_publish_header_fast_path(void **state) {
    (void)state;
    char payload[300];
    memset(payload, 'p', sizeof(payload));
    for (uint8_t qos = 0; qos <= 2; qos++) {
        mqtt_publish_t m = {.topic = PMQ_SLICE_LIT("fan/out/topic"), .qos = qos,
                            .pid = qos ? 513 : 0, .retain = qos == 2,
                            .payload = pmq_slice(payload, sizeof(payload))};
        pmq_buf_t whole;
        pmq_buf_t head;
        pmq_buf_init(&whole, 0);
        pmq_buf_init(&head, 0);
        assert_int_equal(mqtt_encode_publish(&whole, &m), 0);
        assert_int_equal(mqtt_encode_publish_header(&head, &m), 0);
        size_t hb = mqtt_publish_header_bytes(&m);
        assert_int_equal(head.len, hb);
        assert_int_equal(hb, 1 + 2 + 2 + 13 + (qos ? 2 : 0)); /* 2-byte Remaining Length */
        assert_memory_equal(whole.data, head.data, hb);
        assert_memory_equal(whole.data + hb, payload, sizeof(payload));
        assert_int_equal(whole.len, hb + sizeof(payload));
        char dst[64];
        size_t written = 0;
        assert_int_equal(mqtt_publish_header_write(&m, dst, sizeof(dst), &written), 0);
        assert_int_equal(written, hb);
        assert_memory_equal(dst, head.data, hb);
        assert_int_equal(mqtt_publish_header_write(&m, dst, hb - 1, &written), PMQ_ETOOBIG);
        pmq_buf_close(&whole);
        pmq_buf_close(&head);
    }
}

static void test_acks_roundtrip(void **state) {
    (void)state;
    const mqtt_type_t types[] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP,
                                 MQTT_UNSUBACK};
    const uint8_t first[] = {0x40, 0x50, 0x62, 0x70, 0xB0};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(types); i++) {
        pmq_buf_t b;
        pmq_buf_init(&b, 0);
        assert_int_equal(mqtt_encode_ack(&b, types[i], 0xBEEF), 0);
        const char want[] = {(char)first[i], 2, (char)0xBE, (char)0xEF};
        assert_int_equal(b.len, 4);
        assert_memory_equal(b.data, want, 4);
        mqtt_packet_t pkt;
        parse_all(&b, &pkt);
        assert_int_equal(pkt.type, types[i]);
        assert_int_equal(pkt.pid, 0xBEEF);
        assert_reencodes(&pkt, &b);
        pmq_buf_close(&b);
    }
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(mqtt_encode_puback(&b, 1), 0);
    assert_int_equal(mqtt_encode_pubrec(&b, 2), 0);
    assert_int_equal(mqtt_encode_pubrel(&b, 3), 0);
    assert_int_equal(mqtt_encode_pubcomp(&b, 4), 0);
    assert_int_equal(mqtt_encode_unsuback(&b, 5), 0);
    assert_int_equal(b.len, 20);
    assert_int_equal((uint8_t)b.data[8], 0x62);
    pmq_buf_close(&b);
}

static void test_subscribe_roundtrip(void **state) {
    (void)state;
    const mqtt_filter_t filters[] = {
        {PMQ_SLICE_LIT("sport/tennis/+"), 0},
        {PMQ_SLICE_LIT("#"), 1},
        {PMQ_SLICE_LIT("$SYS/broker/#"), 2},
    };
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(mqtt_encode_subscribe(&b, 10, filters, PMQ_ARRAY_LEN(filters)), 0);
    assert_int_equal((uint8_t)b.data[0], 0x82);
    mqtt_packet_t pkt;
    parse_all(&b, &pkt);
    assert_int_equal(pkt.type, MQTT_SUBSCRIBE);
    assert_int_equal(pkt.subscribe.pid, 10);
    assert_int_equal(pkt.subscribe.count, 3);
    mqtt_filter_iter_t it;
    mqtt_filter_iter_init(&it, &pkt);
    mqtt_filter_t f;
    for (size_t i = 0; i < PMQ_ARRAY_LEN(filters); i++) {
        assert_true(mqtt_filter_iter_next(&it, &f));
        assert_slice_eq(f.filter, filters[i].filter);
        assert_int_equal(f.qos, filters[i].qos);
    }
    assert_false(mqtt_filter_iter_next(&it, &f));
    assert_reencodes(&pkt, &b);
    pmq_buf_close(&b);
}

static void test_unsubscribe_roundtrip(void **state) {
    (void)state;
    const pmq_slice_t filters[] = {PMQ_SLICE_LIT("a/b"), PMQ_SLICE_LIT("+/+")};
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(mqtt_encode_unsubscribe(&b, 77, filters, 2), 0);
    assert_int_equal((uint8_t)b.data[0], 0xA2);
    mqtt_packet_t pkt;
    parse_all(&b, &pkt);
    assert_int_equal(pkt.type, MQTT_UNSUBSCRIBE);
    assert_int_equal(pkt.unsubscribe.pid, 77);
    assert_int_equal(pkt.unsubscribe.count, 2);
    mqtt_filter_iter_t it;
    mqtt_filter_iter_init(&it, &pkt);
    mqtt_filter_t f;
    for (size_t i = 0; i < 2; i++) {
        assert_true(mqtt_filter_iter_next(&it, &f));
        assert_slice_eq(f.filter, filters[i]);
        assert_int_equal(f.qos, 0);
    }
    assert_false(mqtt_filter_iter_next(&it, &f));
    assert_reencodes(&pkt, &b);
    pmq_buf_close(&b);
}

static void test_suback_roundtrip(void **state) {
    (void)state;
    const uint8_t codes[] = {0, 1, 2, MQTT_SUBACK_FAILURE};
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(mqtt_encode_suback(&b, 9, codes, 4), 0);
    const char want[] = {(char)0x90, 6, 0, 9, 0, 1, 2, (char)0x80};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    mqtt_packet_t pkt;
    parse_all(&b, &pkt);
    assert_int_equal(pkt.type, MQTT_SUBACK);
    assert_int_equal(pkt.suback.pid, 9);
    assert_int_equal(pkt.suback.codes.len, 4);
    assert_memory_equal(pkt.suback.codes.ptr, codes, 4);
    assert_reencodes(&pkt, &b);
    pmq_buf_close(&b);
}

static void test_empty_packets_roundtrip(void **state) {
    (void)state;
    const mqtt_type_t types[] = {MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(types); i++) {
        pmq_buf_t b;
        pmq_buf_init(&b, 0);
        assert_int_equal(mqtt_encode_empty(&b, types[i]), 0);
        assert_int_equal(b.len, 2);
        assert_int_equal((uint8_t)b.data[0], types[i] << 4);
        assert_int_equal(b.data[1], 0);
        mqtt_packet_t pkt;
        parse_all(&b, &pkt);
        assert_int_equal(pkt.type, types[i]);
        assert_reencodes(&pkt, &b);
        pmq_buf_close(&b);
    }
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(mqtt_encode_pingreq(&b), 0);
    assert_int_equal(mqtt_encode_pingresp(&b), 0);
    assert_int_equal(mqtt_encode_disconnect(&b), 0);
    assert_memory_equal(b.data, "\xC0\x00\xD0\x00\xE0\x00", 6);
    pmq_buf_close(&b);
}

/* ---- encoder limits: failure leaves the buffer as it was ---- */

static void test_encode_limits(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 16);
    assert_int_equal(mqtt_encode_pingreq(&b), 0);
    mqtt_publish_t m = {.topic = PMQ_SLICE_LIT("t"), .payload = PMQ_SLICE_LIT("0123456789ab")};
    assert_int_equal(mqtt_encode_publish(&b, &m), PMQ_ETOOBIG);
    assert_int_equal(b.len, 2);
    pmq_buf_close(&b);

    char *big = test_malloc(MQTT_STRING_BYTES_MAX + 1);
    memset(big, 'a', MQTT_STRING_BYTES_MAX + 1);
    pmq_buf_init(&b, 0);
    mqtt_publish_t longtopic = {.topic = pmq_slice(big, MQTT_STRING_BYTES_MAX + 1)};
    assert_int_equal(mqtt_encode_publish(&b, &longtopic), PMQ_ETOOBIG);
    assert_int_equal(mqtt_publish_header_bytes(&longtopic), 0);
    mqtt_filter_t f = {pmq_slice(big, MQTT_STRING_BYTES_MAX + 1), 0};
    assert_int_equal(mqtt_encode_subscribe(&b, 1, &f, 1), PMQ_ETOOBIG);
    mqtt_connect_t c = {.level = MQTT_LEVEL_311, .client_id = f.filter};
    assert_int_equal(mqtt_encode_connect(&b, &c), PMQ_ETOOBIG);
    longtopic.topic.len = MQTT_STRING_BYTES_MAX; /* the longest topic is fine */
    assert_int_equal(mqtt_encode_publish(&b, &longtopic), 0);
    assert_int_equal(b.len, 1 + 3 + 2 + MQTT_STRING_BYTES_MAX);
    /* A payload that pushes Remaining Length past 268,435,455 is refused before any byte
     * of it is read, so a dangling pointer is never touched. */
    mqtt_publish_t huge = {.topic = PMQ_SLICE_LIT("t"),
                           .payload = pmq_slice(big, MQTT_REMAINING_LENGTH_MAX - 2)};
    size_t before = b.len;
    assert_int_equal(mqtt_encode_publish(&b, &huge), PMQ_ETOOBIG);
    assert_int_equal(mqtt_encode_publish_header(&b, &huge), PMQ_ETOOBIG);
    assert_int_equal(mqtt_publish_header_bytes(&huge), 0);
    huge.payload.len = MQTT_REMAINING_LENGTH_MAX - 3; /* exactly the maximum */
    assert_int_equal(mqtt_publish_header_bytes(&huge), 1 + 4 + 3);
    assert_int_equal(mqtt_encode_publish_header(&b, &huge), 0);
    assert_memory_equal(b.data + before, "\x30\xFF\xFF\xFF\x7F\x00\x01t", 8);
    pmq_buf_close(&b);
    test_free(big);
}

/* ---- Remaining Length (§2.2.3, Table 2.4) ---- */

static void test_remaining_length_edges(void **state) {
    (void)state;
    static const struct {
        uint32_t v;
        const char *bytes;
        size_t n;
    } table[] = {
        {0, "\x00", 1},
        {127, "\x7F", 1},
        {128, "\x80\x01", 2},
        {16383, "\xFF\x7F", 2},
        {16384, "\x80\x80\x01", 3},
        {2097151, "\xFF\xFF\x7F", 3},
        {2097152, "\x80\x80\x80\x01", 4},
        {268435455, "\xFF\xFF\xFF\x7F", 4},
    };
    for (size_t i = 0; i < PMQ_ARRAY_LEN(table); i++) {
        char out[4];
        assert_int_equal(mqtt_remaining_length_encode(table[i].v, out), table[i].n);
        assert_memory_equal(out, table[i].bytes, table[i].n);
        uint32_t v = 0;
        size_t used = 0;
        assert_int_equal(mqtt_remaining_length_decode(table[i].bytes, table[i].n, &v, &used), 0);
        assert_int_equal(v, table[i].v);
        assert_int_equal(used, table[i].n);
        if (table[i].n > 1) { /* every proper prefix asks for more */
            assert_int_equal(
                mqtt_remaining_length_decode(table[i].bytes, table[i].n - 1, &v, &used),
                PMQ_EAGAIN);
        }
    }
    uint32_t v = 0;
    size_t used = 0;
    assert_int_equal(mqtt_remaining_length_decode("\xFF\xFF\xFF\xFF\x7F", 5, &v, &used),
                     PMQ_EPROTO);
    assert_int_equal(mqtt_remaining_length_decode("\x80\x80\x80\x80", 4, &v, &used), PMQ_EPROTO);
    assert_int_equal(mqtt_remaining_length_decode("\x80\x00", 2, &v, &used), PMQ_EPROTO);
    assert_int_equal(mqtt_remaining_length_decode("\xFF\x80\x00", 3, &v, &used), PMQ_EPROTO);
    assert_int_equal(mqtt_remaining_length_decode("", 0, &v, &used), PMQ_EAGAIN);
}

/* Real packets whose Remaining Length takes 1, 2, 3 and 4 bytes at each boundary. */
static void test_remaining_length_packets(void **state) {
    (void)state;
    static const uint32_t lens[] = {0, 2, 127, 128, 16383, 16384, 2097151, 2097152};
    char *payload = test_calloc(1, 2097152);
    mqtt_parser_cfg_t cfg;
    mqtt_parser_cfg_default(&cfg);
    cfg.role = MQTT_ROLE_ANY;
    for (size_t i = 0; i < PMQ_ARRAY_LEN(lens); i++) {
        pmq_buf_t b;
        pmq_buf_init(&b, 0);
        if (lens[i] == 0) {
            assert_int_equal(mqtt_encode_pingreq(&b), 0);
        } else {
            /* topic "t" takes 3 bytes of the Remaining Length */
            mqtt_publish_t m = {.topic = PMQ_SLICE_LIT("t"),
                                .payload = pmq_slice(payload, lens[i] - 3)};
            if (lens[i] < 3) {
                assert_int_equal(mqtt_encode_ack(&b, MQTT_PUBACK, 1), 0);
            } else {
                assert_int_equal(mqtt_encode_publish(&b, &m), 0);
            }
        }
        mqtt_parser_t p;
        mqtt_parser_init(&p, &cfg);
        mqtt_packet_t pkt;
        size_t used = 0;
        pmq_proto_err_t err = {0};
        size_t hdr = b.len - lens[i];
        /* As soon as the fixed header is complete the size is known. */
        if (lens[i] > 0) {
            assert_int_equal(mqtt_parse(&p, b.data, hdr, &used, &pkt, &err), PMQ_EAGAIN);
            assert_int_equal(mqtt_parser_packet_bytes(&p), b.len);
        }
        assert_int_equal(mqtt_parse(&p, b.data, hdr - 1, &used, &pkt, &err), PMQ_EAGAIN);
        assert_int_equal(mqtt_parser_packet_bytes(&p), 0);
        assert_int_equal(mqtt_parse(&p, b.data, b.len, &used, &pkt, &err), 0);
        assert_int_equal(used, b.len);
        assert_int_equal(pkt.packet_bytes, b.len);
        pmq_buf_close(&b);
    }
    test_free(payload);
}

/* The largest legal packet is recognised from its 5 header bytes, and rejected early by
 * a smaller limit without waiting for 256 MiB to arrive. */
static void test_packet_size_limit_from_header(void **state) {
    (void)state;
    const char hdr[] = "\x30\xFF\xFF\xFF\x7F";
    mqtt_parser_cfg_t cfg;
    mqtt_parser_cfg_default(&cfg);
    cfg.role = MQTT_ROLE_ANY;
    cfg.packet_bytes_max = MQTT_PACKET_BYTES_CEILING;
    mqtt_parser_t p;
    mqtt_parser_init(&p, &cfg);
    mqtt_packet_t pkt;
    size_t used = 0;
    pmq_proto_err_t err = {0};
    assert_int_equal(mqtt_parse(&p, hdr, 5, &used, &pkt, &err), PMQ_EAGAIN);
    assert_int_equal(mqtt_parser_packet_bytes(&p), 268435460u);

    cfg.packet_bytes_max = 1000;
    mqtt_parser_init(&p, &cfg);
    assert_int_equal(mqtt_parse(&p, hdr, 5, &used, &pkt, &err), PMQ_ETOOBIG);
    assert_true(err.must_close);
    assert_int_equal(err.code, 0);
    assert_int_equal(used, 0);
    /* exactly at the limit passes */
    char exact[1000] = {0x30, (char)0xE5, 0x07, 0x00, 0x01, 't'}; /* 3 + 997 */
    mqtt_parser_init(&p, &cfg);
    assert_int_equal(mqtt_parse(&p, exact, sizeof(exact), &used, &pkt, &err), 0);
    assert_int_equal(used, 1000);
}

/* ---- incremental parsing ---- */

/* A stream holding every packet type, some of them several times. */
static void build_stream(pmq_buf_t *s, pmq_rng_t *rng, size_t publishes) {
    mqtt_connect_t c = {.level = MQTT_LEVEL_311, .clean_session = true, .keepalive_s = 30,
                        .client_id = PMQ_SLICE_LIT("stream"), .will = true, .will_qos = 1,
                        .will_topic = PMQ_SLICE_LIT("w/t"), .will_payload = PMQ_SLICE_LIT("bye")};
    assert_int_equal(mqtt_encode_connect(s, &c), 0);
    assert_int_equal(mqtt_encode_connack(s, true, 0), 0);
    const mqtt_filter_t f[] = {{PMQ_SLICE_LIT("a/+"), 1}, {PMQ_SLICE_LIT("b/#"), 2}};
    assert_int_equal(mqtt_encode_subscribe(s, 1, f, 2), 0);
    const uint8_t codes[] = {1, 0x80};
    assert_int_equal(mqtt_encode_suback(s, 1, codes, 2), 0);
    char payload[400];
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (char)pmq_rng_next(rng);
    }
    for (size_t i = 0; i < publishes; i++) {
        uint8_t qos = (uint8_t)pmq_rng_below(rng, 3);
        char topic[32];
        int tl = snprintf(topic, sizeof(topic), "t/%u/%s", (unsigned)pmq_rng_below(rng, 1000),
                          pmq_rng_chance(rng, 1, 4) ? "$x" : "y");
        mqtt_publish_t m = {.topic = pmq_slice(topic, (size_t)tl), .qos = qos,
                            .pid = qos ? (uint16_t)(i + 1) : 0,
                            .dup = qos > 0 && pmq_rng_chance(rng, 1, 3),
                            .retain = pmq_rng_chance(rng, 1, 5),
                            .payload = pmq_slice(payload, pmq_rng_below(rng, sizeof(payload)))};
        assert_int_equal(mqtt_encode_publish(s, &m), 0);
        if (qos > 0) {
            assert_int_equal(mqtt_encode_ack(s, qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, m.pid), 0);
        }
        if (qos == 2) {
            assert_int_equal(mqtt_encode_pubrel(s, m.pid), 0);
            assert_int_equal(mqtt_encode_pubcomp(s, m.pid), 0);
        }
    }
    const pmq_slice_t uf[] = {PMQ_SLICE_LIT("a/+")};
    assert_int_equal(mqtt_encode_unsubscribe(s, 2, uf, 1), 0);
    assert_int_equal(mqtt_encode_unsuback(s, 2), 0);
    assert_int_equal(mqtt_encode_pingreq(s), 0);
    assert_int_equal(mqtt_encode_pingresp(s), 0);
    assert_int_equal(mqtt_encode_disconnect(s), 0);
}

/* Feeds `stream` in chunks (size 1 when rng is NULL, else random 1..max_chunk) into a
 * growing input buffer, parses every complete packet, re-encodes it into `out` and
 * drops its bytes. Returns the number of packets. Checks along the way that the size
 * reported after PMQ_EAGAIN is the size of the packet that then arrives. */
static size_t feed_stream(pmq_slice_t stream, pmq_rng_t *rng, size_t max_chunk, pmq_buf_t *out) {
    mqtt_parser_t p = any_parser();
    pmq_buf_t in;
    pmq_buf_init(&in, 0);
    size_t off = 0;
    size_t packets = 0;
    uint32_t announced = 0;
    while (off < stream.len) {
        size_t n = rng != NULL ? (size_t)pmq_rng_range(rng, 1, max_chunk) : 1;
        n = PMQ_MIN(n, stream.len - off);
        assert_int_equal(pmq_buf_append(&in, stream.ptr + off, n), 0);
        off += n;
        for (;;) {
            mqtt_packet_t pkt;
            size_t used = 0;
            pmq_proto_err_t err = {0};
            int rc = mqtt_parse(&p, in.data, in.len, &used, &pkt, &err);
            if (rc == PMQ_EAGAIN) {
                uint32_t size = mqtt_parser_packet_bytes(&p);
                assert_true(announced == 0 || size == announced);
                announced = size;
                break;
            }
            if (rc != 0) {
                fail_msg("parse failed at packet %zu: %s", packets, err.reason);
            }
            assert_true(announced == 0 || announced == used);
            announced = 0;
            assert_int_equal(mqtt_encode_packet(out, &pkt), 0);
            pmq_buf_consume(&in, used);
            packets++;
        }
    }
    assert_int_equal(in.len, 0);
    pmq_buf_close(&in);
    return packets;
}

static void test_incremental_byte_by_byte(void **state) {
    (void)state;
    pmq_rng_t rng;
    pmq_rng_seed(&rng, 0x6d717474);
    pmq_buf_t s;
    pmq_buf_t out;
    pmq_buf_init(&s, 0);
    pmq_buf_init(&out, 0);
    build_stream(&s, &rng, 30);
    size_t n = feed_stream(pmq_buf_slice(&s), NULL, 1, &out);
    assert_true(n > 30 + 9);
    assert_int_equal(out.len, s.len);
    assert_memory_equal(out.data, s.data, s.len);
    pmq_buf_close(&s);
    pmq_buf_close(&out);
}

static void test_incremental_random_splits(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        pmq_rng_t rng;
        pmq_rng_seed(&rng, seed);
        pmq_buf_t s;
        pmq_buf_t out;
        pmq_buf_init(&s, 0);
        pmq_buf_init(&out, 0);
        build_stream(&s, &rng, 20);
        size_t max_chunk = (size_t)pmq_rng_range(&rng, 2, 700);
        (void)feed_stream(pmq_buf_slice(&s), &rng, max_chunk, &out);
        if (out.len != s.len || memcmp(out.data, s.data, s.len) != 0) {
            fail_msg("seed %llu: re-encoded stream differs", (unsigned long long)seed);
        }
        pmq_buf_close(&s);
        pmq_buf_close(&out);
    }
}

/* ---- malformed input: each case with its error, CONNACK code and spec statement ---- */

#define VALID_CONNECT "10 * s:MQTT 04 02 00 3C s:cid"

typedef struct bad_case {
    const char *name;
    const char *spec;   /* vector notation, see vec() */
    mqtt_role_t role;
    bool after_connect; /* server role: a valid CONNECT was parsed first */
    int rc;
    int code; /* CONNACK return code to send, 0 = close without CONNACK */
    uint32_t packet_bytes_max;
    uint32_t filters_max;
    const char *why; /* must appear in err->reason: the statement or limit enforced */
} bad_case_t;

#define SRV MQTT_ROLE_SERVER
#define CLI MQTT_ROLE_CLIENT
#define ANY MQTT_ROLE_ANY
#define EP PMQ_EPROTO
#define TB PMQ_ETOOBIG

static const bad_case_t bad_cases[] = {
    /* §2.2.1 reserved types, §2.2.2 flags */
    {"type 0 reserved", "00 00", ANY, false, EP, 0, 0, 0, "MQTT-2.2.1"},
    {"type 15 reserved", "F0 00", ANY, false, EP, 0, 0, 0, "MQTT-2.2.1"},
    {"CONNECT flags", "11 * s:MQTT 04 02 00 3C s:cid", SRV, false, EP, 0, 0, 0, "MQTT-2.2.2-1"},
    {"PUBACK flags", "42 02 00 01", SRV, true, EP, 0, 0, 0, "MQTT-2.2.2-1"},
    {"PUBREL flags 0000 (3.6.1-1)", "60 02 00 01", SRV, true, EP, 0, 0, 0, "MQTT-2.2.2-1"},
    {"PUBREL flags 0011", "63 02 00 01", SRV, true, EP, 0, 0, 0, "MQTT-2.2.2-1"},
    {"SUBSCRIBE flags 0000 (3.8.1-1)", "80 * 00 01 s:a 00", SRV, true, EP, 0, 0, 0, "MQTT-2.2.2-1"},
    {"SUBSCRIBE DUP on 3.1.1", "8A * 00 01 s:a 00", SRV, true, EP, 0, 0, 0, "MQTT-2.2.2-1"},
    {"UNSUBSCRIBE flags 0000 (3.10.1-1)", "A0 * 00 01 s:a", SRV, true, EP, 0, 0, 0, "MQTT-2.2.2-1"},
    {"PINGREQ flags", "C1 00", SRV, true, EP, 0, 0, 0, "MQTT-2.2.2-1"},
    {"DISCONNECT flags (3.14.1-1)", "E2 00", SRV, true, EP, 0, 0, 0, "MQTT-2.2.2-1"},
    {"PUBLISH QoS 3 (3.3.1-4)", "36 * s:a 00 01", SRV, true, EP, 0, 0, 0, "MQTT-3.3.1-4"},
    {"PUBLISH QoS 0 DUP (3.3.1-2)", "38 * s:a", SRV, true, EP, 0, 0, 0, "MQTT-3.3.1-2"},
    /* §2.2.3 Remaining Length */
    {"remaining length 5 bytes", "30 FF FF FF FF 7F", ANY, false, EP, 0, 0, 0, "MQTT-2.2.3"},
    {"remaining length non-minimal", "C0 80 00", ANY, false, EP, 0, 0, 0, "MQTT-2.2.3"},
    {"packet over the limit", "30 C9 01", ANY, false, TB, 0, 200, 0,
     "PUBLISH of 204 bytes exceeds"},
    /* fixed-size bodies */
    {"PINGREQ with a body", "C0 01 00", SRV, true, EP, 0, 0, 0, "PINGREQ must have no variabl"},
    {"DISCONNECT with a body", "E0 02 00 00", SRV, true, EP, 0, 0, 0,
     "DISCONNECT must have no vari"},
    {"PUBACK remaining length 3", "40 03 00 01 00", SRV, true, EP, 0, 0, 0,
     "PUBACK remaining length must"},
    {"PUBACK remaining length 1", "40 01 00", SRV, true, EP, 0, 0, 0,
     "PUBACK remaining length must"},
    {"PUBACK packet id 0", "40 02 00 00", SRV, true, EP, 0, 0, 0, "MQTT-2.3.1-1"},
    {"PUBREC packet id 0", "50 02 00 00", SRV, true, EP, 0, 0, 0, "MQTT-2.3.1-1"},
    {"PUBCOMP packet id 0", "70 02 00 00", SRV, true, EP, 0, 0, 0, "MQTT-2.3.1-1"},
    /* PUBLISH §3.3 */
    {"PUBLISH topic with +", "30 * s:a/+/b", SRV, true, EP, 0, 0, 0, "MQTT-3.3.2-2"},
    {"PUBLISH topic with #", "30 * s:a/#", SRV, true, EP, 0, 0, 0, "MQTT-3.3.2-2"},
    {"PUBLISH empty topic (4.7.3-1)", "30 * 00 00 a:payload", SRV, true, EP, 0, 0, 0,
     "MQTT-3.3.2-2"},
    {"PUBLISH topic overlong UTF-8", "30 * 00 02 C0 AF", SRV, true, EP, 0, 0, 0, "MQTT-1.5.3"},
    {"PUBLISH topic U+0000 (1.5.3-2)", "30 * 00 03 61 00 62", SRV, true, EP, 0, 0, 0, "MQTT-1.5.3"},
    {"PUBLISH topic surrogate (1.5.3-1)", "30 * 00 03 ED A0 80", SRV, true, EP, 0, 0, 0,
     "MQTT-1.5.3"},
    {"PUBLISH topic truncated", "30 * 00 05 61 62", SRV, true, EP, 0, 0, 0,
     "PUBLISH variable header trun"},
    {"PUBLISH QoS 1 pid 0 (2.3.1-1)", "32 * s:a 00 00", SRV, true, EP, 0, 0, 0, "MQTT-2.3.1-1"},
    {"PUBLISH QoS 2 no pid", "34 * s:a", SRV, true, EP, 0, 0, 0, "PUBLISH variable header trun"},
    /* SUBSCRIBE §3.8, UNSUBSCRIBE §3.10 */
    {"SUBSCRIBE no filter (3.8.3-3)", "82 * 00 01", SRV, true, EP, 0, 0, 0, "MQTT-3.8.3-3"},
    {"SUBSCRIBE QoS 3 (3-8.3-4)", "82 * 00 01 s:a 03", SRV, true, EP, 0, 0, 0, "MQTT-3-8.3-4"},
    {"SUBSCRIBE reserved bits (3-8.3-4)", "82 * 00 01 s:a 04", SRV, true, EP, 0, 0, 0,
     "MQTT-3-8.3-4"},
    {"SUBSCRIBE missing QoS byte", "82 * 00 01 s:a", SRV, true, EP, 0, 0, 0,
     "SUBSCRIBE payload truncated"},
    {"SUBSCRIBE pid 0", "82 * 00 00 s:a 00", SRV, true, EP, 0, 0, 0, "MQTT-2.3.1-1"},
    {"SUBSCRIBE # not last (4.7.1-2)", "82 * 00 01 s:a/#/b 00", SRV, true, EP, 0, 0, 0,
     "MQTT-4.7.1-2"},
    {"SUBSCRIBE # inside a level", "82 * 00 01 s:a/b# 00", SRV, true, EP, 0, 0, 0, "MQTT-4.7.1-2"},
    {"SUBSCRIBE + inside a level (4.7.1-3)", "82 * 00 01 s:a+/b 00", SRV, true, EP, 0, 0, 0,
     "MQTT-4.7.1-2"},
    {"SUBSCRIBE empty filter", "82 * 00 01 00 00 00", SRV, true, EP, 0, 0, 0, "MQTT-4.7.1-2"},
    {"SUBSCRIBE filter bad UTF-8 (3.8.3-1)", "82 * 00 01 00 01 FF 00", SRV, true, EP, 0, 0, 0,
     "MQTT-3.8.3-1"},
    {"SUBSCRIBE second filter bad", "82 * 00 01 s:a 00 s:b+ 01", SRV, true, EP, 0, 0, 0,
     "MQTT-4.7.1-2"},
    {"SUBSCRIBE too many filters", "82 * 00 01 s:a 00 s:b 00 s:c 00", SRV, true, TB, 0, 0, 2,
     "SUBSCRIBE has more than 2 to"},
    {"UNSUBSCRIBE no filter (3.10.3-2)", "A2 * 00 01", SRV, true, EP, 0, 0, 0, "MQTT-3.10.3-2"},
    {"UNSUBSCRIBE bad filter", "A2 * 00 01 s:#/a", SRV, true, EP, 0, 0, 0, "MQTT-4.7.1-2"},
    {"UNSUBSCRIBE pid 0", "A2 * 00 00 s:a", SRV, true, EP, 0, 0, 0, "MQTT-2.3.1-1"},
    {"UNSUBSCRIBE truncated", "A2 * 00 01 00 09 61", SRV, true, EP, 0, 0, 0,
     "UNSUBSCRIBE payload truncate"},
    /* direction and order (§2.2.1, §3.1.0) */
    {"CONNACK from a client", "20 02 00 00", SRV, true, EP, 0, 0, 0, "MQTT-2.2.1"},
    {"SUBACK from a client", "90 * 00 01 00", SRV, true, EP, 0, 0, 0, "MQTT-2.2.1"},
    {"UNSUBACK from a client", "B0 02 00 01", SRV, true, EP, 0, 0, 0, "MQTT-2.2.1"},
    {"PINGRESP from a client", "D0 00", SRV, true, EP, 0, 0, 0, "MQTT-2.2.1"},
    {"PUBLISH before CONNECT (3.1.0-1)", "30 * s:a", SRV, false, EP, 0, 0, 0, "MQTT-3.1.0-1"},
    {"PINGREQ before CONNECT (3.1.0-1)", "C0 00", SRV, false, EP, 0, 0, 0, "MQTT-3.1.0-1"},
    {"second CONNECT (3.1.0-2)", VALID_CONNECT, SRV, true, EP, 0, 0, 0, "MQTT-3.1.0-2"},
    {"SUBSCRIBE to a client", "82 * 00 01 s:a 00", CLI, false, EP, 0, 0, 0, "MQTT-2.2.1"},
    {"CONNECT to a client", VALID_CONNECT, CLI, false, EP, 0, 0, 0, "MQTT-2.2.1"},
    {"PINGREQ to a client", "C0 00", CLI, false, EP, 0, 0, 0, "MQTT-2.2.1"},
    {"DISCONNECT to a client", "E0 00", CLI, false, EP, 0, 0, 0, "MQTT-2.2.1"},
    /* server-to-client packets */
    {"CONNACK reserved flags", "20 02 02 00", CLI, false, EP, 0, 0, 0, "MQTT-3.2.2.1"},
    {"CONNACK return code 6", "20 02 00 06", CLI, false, EP, 0, 0, 0, "MQTT-3.2.2.3"},
    {"CONNACK refusal with session", "20 02 01 05", CLI, false, EP, 0, 0, 0, "MQTT-3.2.2-4"},
    {"CONNACK length 3", "20 03 00 00 00", CLI, false, EP, 0, 0, 0, "CONNACK remaining length mus"},
    {"SUBACK code 3 (3.9.3-2)", "90 * 00 01 03", CLI, false, EP, 0, 0, 0, "MQTT-3.9.3-2"},
    {"SUBACK code 0x81", "90 * 00 01 81", CLI, false, EP, 0, 0, 0, "MQTT-3.9.3-2"},
    {"SUBACK no codes", "90 * 00 01", CLI, false, EP, 0, 0, 0, "MQTT-3.9.3-1"},
    {"PINGRESP with a body", "D0 01 00", CLI, false, EP, 0, 0, 0, "PINGRESP must have no variab"},
    /* CONNECT §3.1 */
    {"name MQTT level 3 (3.1.2-2)", "10 * s:MQTT 03 02 00 3C s:cid", SRV, false, EP, 1, 0, 0,
     "MQTT-3.1.2-2"},
    {"name MQTT level 5", "10 * s:MQTT 05 02 00 3C 00 s:cid", SRV, false, EP, 1, 0, 0,
     "MQTT-3.1.2-2"},
    {"name MQIsdp level 4", "10 * s:MQIsdp 04 02 00 3C s:cid", SRV, false, EP, 1, 0, 0,
     "MQTT-3.1.2-2"},
    {"level 5 with bad flags still 0x01", "10 * s:MQTT 05 FF 00", SRV, false, EP, 1, 0, 0,
     "MQTT-3.1.2-2"},
    {"unknown protocol name (3.1.2-1)", "10 * s:MQTX 04 02 00 3C s:cid", SRV, false, EP, 0, 0, 0,
     "MQTT-3.1.2-1"},
    {"lowercase protocol name", "10 * s:mqtt 04 02 00 3C s:cid", SRV, false, EP, 0, 0, 0,
     "MQTT-3.1.2-1"},
    {"reserved connect flag (3.1.2-3)", "10 * s:MQTT 04 03 00 3C s:cid", SRV, false, EP, 0, 0, 0,
     "MQTT-3.1.2-3"},
    {"will QoS without will (3.1.2-13)", "10 * s:MQTT 04 0A 00 3C s:cid", SRV, false, EP, 0, 0, 0,
     "MQTT-3.1.2-13"},
    {"will retain without will (3.1.2-15)", "10 * s:MQTT 04 22 00 3C s:cid",
     SRV, false, EP, 0, 0, 0, "MQTT-3.1.2-15"},
    {"will QoS 3 (3.1.2-14)", "10 * s:MQTT 04 1E 00 3C s:cid s:w s:m", SRV, false, EP, 0, 0, 0,
     "MQTT-3.1.2-14"},
    {"password without user (3.1.2-22)", "10 * s:MQTT 04 42 00 3C s:cid s:pw",
     SRV, false, EP, 0, 0, 0, "MQTT-3.1.2-22"},
    {"empty id without clean session (3.1.3-7)", "10 * s:MQTT 04 00 00 3C 00 00",
     SRV, false, EP, 2, 0, 0, "MQTT-3.1.3-7"},
    {"3.1 empty client id", "10 * s:MQIsdp 03 02 00 3C 00 00", SRV, false, EP, 2, 0, 0,
     "MQTT 3.1 client id must have"},
    {"3.1 client id of 24 chars", "10 * s:MQIsdp 03 02 00 3C s:abcdefghijklmnopqrstuvwx",
     SRV, false, EP, 2, 0, 0, "MQTT 3.1 client id must have"},
    {"client id over the limit", "10 * s:MQTT 04 02 00 3C n:257", SRV, false, EP, 2, 0, 0,
     "MQTT-3.1.3-9"},
    {"client id bad UTF-8 (3.1.3-4)", "10 * s:MQTT 04 02 00 3C 00 02 C3 28",
     SRV, false, EP, 0, 0, 0, "MQTT-3.1.3-4"},
    {"client id with U+0000", "10 * s:MQTT 04 02 00 3C 00 02 61 00", SRV, false, EP, 0, 0, 0,
     "MQTT-3.1.3-4"},
    {"bad UTF-8 beats empty-id refusal", "10 * s:MQTT 04 04 00 3C 00 00 00 01 FF s:m",
     SRV, false, EP, 0, 0, 0, "MQTT-3.1.3-10"},
    {"will topic with wildcard", "10 * s:MQTT 04 06 00 3C s:cid s:a/# s:m", SRV, false, EP, 0, 0, 0,
     "MQTT-4.7.1-1"},
    {"will topic empty", "10 * s:MQTT 04 06 00 3C s:cid 00 00 s:m", SRV, false, EP, 0, 0, 0,
     "MQTT-4.7.1-1"},
    {"will topic bad UTF-8 (3.1.3-10)", "10 * s:MQTT 04 06 00 3C s:cid 00 01 80 s:m",
     SRV, false, EP, 0, 0, 0, "MQTT-3.1.3-10"},
    {"user name bad UTF-8 (3.1.3-11)", "10 * s:MQTT 04 82 00 3C s:cid 00 01 C0",
     SRV, false, EP, 0, 0, 0, "MQTT-3.1.3-11"},
    {"user flag but no user name", "10 * s:MQTT 04 82 00 3C s:cid", SRV, false, EP, 0, 0, 0,
     "MQTT-3.1.3-1"},
    {"will flag but no will message", "10 * s:MQTT 04 06 00 3C s:cid s:t", SRV, false, EP, 0, 0, 0,
     "MQTT-3.1.3-1"},
    {"bytes after the last field", "10 * s:MQTT 04 02 00 3C s:cid 00", SRV, false, EP, 0, 0, 0,
     "MQTT-3.1.3-1"},
    {"truncated keep-alive", "10 * s:MQTT 04 02 00", SRV, false, EP, 0, 0, 0,
     "CONNECT variable header trun"},
    {"truncated protocol name", "10 * 00 04 4D 51", SRV, false, EP, 0, 0, 0,
     "CONNECT variable header trun"},
    {"no client id field", "10 * s:MQTT 04 02 00 3C", SRV, false, EP, 0, 0, 0, "MQTT-3.1.3-1"},
};

static void run_bad_case(const bad_case_t *c) {
    mqtt_parser_cfg_t cfg;
    mqtt_parser_cfg_default(&cfg);
    cfg.role = c->role;
    if (c->packet_bytes_max != 0) {
        cfg.packet_bytes_max = c->packet_bytes_max;
    }
    if (c->filters_max != 0) {
        cfg.filters_max = c->filters_max;
    }
    mqtt_parser_t p;
    mqtt_parser_init(&p, &cfg);
    static char buf[70000];
    mqtt_packet_t pkt;
    size_t used = 0;
    pmq_proto_err_t err = {0};
    if (c->after_connect) {
        size_t n = vec(buf, sizeof(buf), VALID_CONNECT);
        assert_int_equal(mqtt_parse(&p, buf, n, &used, &pkt, &err), 0);
    }
    size_t n = vec(buf, sizeof(buf), c->spec);
    used = 99;
    int rc = mqtt_parse(&p, buf, n, &used, &pkt, &err);
    if (rc != c->rc || err.code != c->code) {
        fail_msg("case '%s': got %s code %d (%s), want %s code %d", c->name, pmq_errname(rc),
                 err.code, err.reason, pmq_errname(c->rc), c->code);
    }
    assert_true(err.must_close);
    assert_true(strlen(err.reason) > 0);
    if (strstr(err.reason, c->why) == NULL) {
        fail_msg("case '%s': reason '%s' does not mention '%s'", c->name, err.reason, c->why);
    }
    assert_int_equal(used, 0);
}

static void test_malformed_table(void **state) {
    (void)state;
    for (size_t i = 0; i < PMQ_ARRAY_LEN(bad_cases); i++) {
        run_bad_case(&bad_cases[i]);
    }
}

/* Checks on the first byte fire before the rest of the packet arrives. */
static void test_first_byte_rejected_early(void **state) {
    (void)state;
    static const char *const firsts[] = {"\x00", "\xF0", "\x36", "\x38", "\x60", "\x80", "\xC1"};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(firsts); i++) {
        mqtt_parser_t p = any_parser();
        mqtt_packet_t pkt;
        size_t used = 0;
        pmq_proto_err_t err = {0};
        assert_int_equal(mqtt_parse(&p, firsts[i], 1, &used, &pkt, &err), PMQ_EPROTO);
    }
    mqtt_parser_t p;
    mqtt_parser_init(&p, NULL); /* server role */
    mqtt_packet_t pkt;
    size_t used = 0;
    pmq_proto_err_t err = {0};
    assert_int_equal(mqtt_parse(&p, "\x30", 1, &used, &pkt, &err), PMQ_EPROTO);
    assert_non_null(strstr(err.reason, "MQTT-3.1.0-1"));
}

/* The level-dependent rules: a 3.1 client may set DUP on SUBSCRIBE, UNSUBSCRIBE and
 * PUBREL retries; a 3.1.1 client may not (the table above covers 3.1.1). */
static void test_server_session_order_and_level(void **state) {
    (void)state;
    mqtt_parser_t p;
    mqtt_parser_init(&p, NULL);
    assert_int_equal(mqtt_parser_level(&p), MQTT_LEVEL_311);
    static char buf[512];
    size_t n = vec(buf, sizeof(buf),
                   "10 * s:MQIsdp 03 02 00 3C s:abcdefghijklmnopqrstuvw | "
                   "8A * 00 05 s:a/+ 01 | "
                   "AA * 00 06 s:a/+ | "
                   "6A 02 00 07 "
                   "C0 00 E0 00");
    size_t off = 0;
    const mqtt_type_t want[] = {MQTT_CONNECT, MQTT_SUBSCRIBE, MQTT_UNSUBSCRIBE, MQTT_PUBREL,
                                MQTT_PINGREQ, MQTT_DISCONNECT};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(want); i++) {
        mqtt_packet_t pkt;
        size_t used = 0;
        pmq_proto_err_t err = {0};
        int rc = mqtt_parse(&p, buf + off, n - off, &used, &pkt, &err);
        if (rc != 0) {
            fail_msg("packet %zu: %s", i, err.reason);
        }
        assert_int_equal(pkt.type, want[i]);
        off += used;
        if (i == 0) {
            assert_int_equal(pkt.connect.level, MQTT_LEVEL_31);
            assert_int_equal(mqtt_parser_level(&p), MQTT_LEVEL_31);
            assert_slice(pkt.connect.client_id, "abcdefghijklmnopqrstuvw");
        }
    }
    assert_int_equal(off, n);
}

/* Client ids: 3.1.1 allows empty ids with clean session and long ids up to the limit. */
static void test_client_id_limits(void **state) {
    (void)state;
    static const char *const ok[] = {
        "10 * s:MQTT 04 02 00 3C 00 00",      /* empty id, clean session (3.1.3-6) */
        "10 * s:MQTT 04 02 00 3C n:256",      /* exactly the default limit */
        "10 * s:MQIsdp 03 00 00 3C s:a",      /* 3.1: one character */
        "10 * s:MQTT 04 C2 00 3C s:c s:u s:p", /* user name and password */
    };
    for (size_t i = 0; i < PMQ_ARRAY_LEN(ok); i++) {
        mqtt_parser_t p;
        mqtt_parser_init(&p, NULL);
        static char buf[1024];
        size_t n = vec(buf, sizeof(buf), ok[i]);
        mqtt_packet_t pkt;
        size_t used = 0;
        pmq_proto_err_t err = {0};
        int rc = mqtt_parse(&p, buf, n, &used, &pkt, &err);
        if (rc != 0) {
            fail_msg("'%s': %s", ok[i], err.reason);
        }
    }
    /* 23 characters but 46 bytes: MQTT 3.1 counts characters. */
    mqtt_parser_t p;
    mqtt_parser_init(&p, NULL);
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    char id[46];
    for (size_t i = 0; i < 23; i++) {
        memcpy(id + 2 * i, "\xc3\xa9", 2);
    }
    mqtt_connect_t c = {.level = MQTT_LEVEL_31, .client_id = pmq_slice(id, 46)};
    assert_int_equal(mqtt_encode_connect(&b, &c), 0);
    mqtt_packet_t pkt;
    size_t used = 0;
    pmq_proto_err_t err = {0};
    assert_int_equal(mqtt_parse(&p, b.data, b.len, &used, &pkt, &err), 0);
    pmq_buf_close(&b);
}

static void test_parser_cfg(void **state) {
    (void)state;
    mqtt_parser_cfg_t cfg;
    mqtt_parser_cfg_default(&cfg);
    assert_true(mqtt_parser_cfg_is_valid(&cfg));
    assert_int_equal(cfg.role, MQTT_ROLE_SERVER);
    assert_int_equal(cfg.filters_max, 128);
    mqtt_parser_cfg_t bad = cfg;
    bad.filters_max = 0;
    assert_false(mqtt_parser_cfg_is_valid(&bad));
    bad = cfg;
    bad.client_id_bytes_max = 22;
    assert_false(mqtt_parser_cfg_is_valid(&bad));
    bad = cfg;
    bad.packet_bytes_max = MQTT_PACKET_BYTES_CEILING + 1;
    assert_false(mqtt_parser_cfg_is_valid(&bad));
    bad = cfg;
    bad.packet_bytes_max = 1;
    assert_false(mqtt_parser_cfg_is_valid(&bad));
    /* The parser is embedded in every connection: it must stay a few bytes. */
    assert_true(sizeof(mqtt_parser_t) <= 24);
    assert_string_equal(mqtt_type_name(MQTT_SUBSCRIBE), "SUBSCRIBE");
    assert_string_equal(mqtt_type_name(0), "RESERVED");
    assert_string_equal(mqtt_type_name(99), "RESERVED");
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_roundtrip),
        cmocka_unit_test(test_connect_golden_bytes),
        cmocka_unit_test(test_connack_roundtrip),
        cmocka_unit_test(test_publish_roundtrip),
        cmocka_unit_test(test_publish_header_fast_path),
        cmocka_unit_test(test_acks_roundtrip),
        cmocka_unit_test(test_subscribe_roundtrip),
        cmocka_unit_test(test_unsubscribe_roundtrip),
        cmocka_unit_test(test_suback_roundtrip),
        cmocka_unit_test(test_empty_packets_roundtrip),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_remaining_length_edges),
        cmocka_unit_test(test_remaining_length_packets),
        cmocka_unit_test(test_packet_size_limit_from_header),
        cmocka_unit_test(test_incremental_byte_by_byte),
        cmocka_unit_test(test_incremental_random_splits),
        cmocka_unit_test(test_malformed_table),
        cmocka_unit_test(test_first_byte_rejected_early),
        cmocka_unit_test(test_server_session_order_and_level),
        cmocka_unit_test(test_client_id_limits),
        cmocka_unit_test(test_parser_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
