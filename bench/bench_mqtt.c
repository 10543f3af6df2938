/* paxmq-bench's own client-side MQTT 3.1.1: CONNECT, SUBSCRIBE, PUBLISH, PUBACK and
 * DISCONNECT encoders and a parser for CONNACK, SUBACK, PUBLISH and PUBACK.
 *
 * Independent of src/proto/mqtt on purpose (the tool must measure every broker the same
 * way). The parser never copies: payload slices point into the caller's read buffer. */
#include "bench_int.h"

/* MQTT 3.1.1 §2.2.3: at most four bytes of remaining length. */
static size_t varint_put(unsigned char *dst, uint32_t v) {
    size_t n = 0;
    do {
        unsigned char byte = (unsigned char)(v % 128u);
        v /= 128u;
        dst[n++] = v > 0 ? (unsigned char)(byte | 0x80u) : byte;
    } while (v > 0 && n < 4);
    return n;
}

/* Returns the number of header bytes (2..5), 0 when incomplete, PMQ_EPROTO on a
 * fifth length byte. */
static int varint_get(pmq_slice_t in, uint32_t *out) {
    uint32_t v = 0;
    uint32_t mult = 1;
    for (size_t i = 1; i < 5; i++) {
        if (i >= in.len) {
            return 0;
        }
        unsigned char byte = (unsigned char)in.ptr[i];
        v += (byte & 0x7fu) * mult;
        if ((byte & 0x80u) == 0) {
            *out = v;
            return (int)i + 1;
        }
        mult *= 128u;
    }
    return PMQ_EPROTO;
}

static int put_str(pmq_buf_t *b, const char *s) {
    size_t n = strlen(s);
    if (n > 65535) {
        return PMQ_ETOOBIG;
    }
    int rc = pmq_buf_put_u16(b, (uint16_t)n);
    return rc != 0 ? rc : pmq_buf_append(b, s, n);
}

static int put_fixed(pmq_buf_t *b, uint8_t byte0, uint32_t rem) {
    unsigned char hdr[5];
    hdr[0] = byte0;
    size_t n = varint_put(hdr + 1, rem);
    return pmq_buf_append(b, hdr, n + 1);
}

static void parse_publish(pmq_slice_t pkt, uint8_t byte0, bench_ev_t *ev, int *rc) {
    pmq_rd_t rd = pmq_rd_init(pkt);
    uint16_t tlen = pmq_rd_u16(&rd);
    (void)pmq_rd_raw(&rd, tlen);
    ev->qos = (uint8_t)((byte0 >> 1) & 3u);
    if (ev->qos > 0) {
        ev->packet_id = pmq_rd_u16(&rd);
    }
    if (rd.err || ev->qos > 2) {
        *rc = PMQ_EPROTO;
        return;
    }
    ev->kind = BENCH_EV_MESSAGE;
    ev->body = pmq_slice(rd.p, rd.left);
}

static void classify(pmq_slice_t pkt, uint8_t byte0, bench_ev_t *ev, int *rc) {
    switch (byte0 >> 4) {
    case 2: /* CONNACK: session-present, return code (§3.2.2.3) */
        if (pkt.len != 2) {
            *rc = PMQ_EPROTO;
        } else if (pkt.ptr[1] == 0) {
            ev->kind = BENCH_EV_CONNECTED;
        } else {
            ev->kind = BENCH_EV_ERROR;
            ev->text = PMQ_SLICE_LIT("CONNACK refused the connection");
        }
        break;
    case 3:
        parse_publish(pkt, byte0, ev, rc);
        break;
    case 4: /* PUBACK */
        if (pkt.len < 2) {
            *rc = PMQ_EPROTO;
        } else {
            ev->kind = BENCH_EV_PUBACK;
            ev->packet_id = pmq_load_u16be(pkt.ptr);
        }
        break;
    case 9: /* SUBACK: 0x80 is a refused filter (§3.9.3) */
        if (pkt.len < 3) {
            *rc = PMQ_EPROTO;
        } else if ((unsigned char)pkt.ptr[2] == 0x80u) {
            ev->kind = BENCH_EV_ERROR;
            ev->text = PMQ_SLICE_LIT("SUBACK refused the subscription");
        } else {
            ev->kind = BENCH_EV_SUBSCRIBED;
        }
        break;
    default: /* PINGRESP and anything else a client can ignore here */
        break;
    }
}

int bench_mqtt_packet_parse(pmq_slice_t in, size_t *used, uint8_t *byte0, pmq_slice_t *body) {
    *used = 0;
    if (in.len < 2) {
        return 0;
    }
    uint32_t rem = 0;
    int hdr = varint_get(in, &rem);
    if (hdr <= 0) {
        return hdr;
    }
    if (rem > BENCH_FRAME_MAX) {
        return PMQ_ETOOBIG;
    }
    if (in.len < (size_t)hdr + rem) {
        return 0;
    }
    *byte0 = (uint8_t)in.ptr[0];
    *body = pmq_slice(in.ptr + hdr, rem);
    *used = (size_t)hdr + rem;
    return 1;
}

int bench_mqtt_parse(pmq_slice_t in, size_t *used, bench_ev_t *ev) {
    *ev = (bench_ev_t){0};
    uint8_t byte0 = 0;
    pmq_slice_t body = {0};
    int rc = bench_mqtt_packet_parse(in, used, &byte0, &body);
    if (rc == 1) {
        classify(body, byte0, ev, &rc);
    }
    return rc;
}

int bench_mqtt_fixed_header(pmq_buf_t *b, uint8_t byte0, uint32_t rem) {
    return put_fixed(b, byte0, rem);
}

int bench_mqtt_connect(pmq_buf_t *b, const bench_opts_t *o, const char *client_id) {
    bool auth = o->user[0] != '\0';
    uint32_t rem = 10 + 2 + (uint32_t)strlen(client_id);
    if (auth) {
        rem += 4 + (uint32_t)(strlen(o->user) + strlen(o->pass));
    }
    /* Clean session, keep-alive 0: idle connections must cost the broker nothing but
     * their state, and the tool never has to send PINGREQ. */
    uint8_t flags = (uint8_t)(0x02u | (auth ? 0xc0u : 0u));
    int rc = put_fixed(b, 0x10, rem);
    rc = rc != 0 ? rc : put_str(b, "MQTT");
    rc = rc != 0 ? rc : pmq_buf_put_u8(b, 4);
    rc = rc != 0 ? rc : pmq_buf_put_u8(b, flags);
    rc = rc != 0 ? rc : pmq_buf_put_u16(b, 0);
    rc = rc != 0 ? rc : put_str(b, client_id);
    if (auth) {
        rc = rc != 0 ? rc : put_str(b, o->user);
        rc = rc != 0 ? rc : put_str(b, o->pass);
    }
    return rc;
}

int bench_mqtt_subscribe(pmq_buf_t *b, uint16_t packet_id, const char *topic, uint8_t qos) {
    int rc = put_fixed(b, 0x82, (uint32_t)(2 + 2 + strlen(topic) + 1));
    rc = rc != 0 ? rc : pmq_buf_put_u16(b, packet_id);
    rc = rc != 0 ? rc : put_str(b, topic);
    return rc != 0 ? rc : pmq_buf_put_u8(b, qos);
}

int bench_mqtt_puback(pmq_buf_t *b, uint16_t packet_id) {
    unsigned char pkt[4] = {0x40, 0x02, (unsigned char)(packet_id >> 8),
                            (unsigned char)packet_id};
    return pmq_buf_append(b, pkt, sizeof(pkt));
}

int bench_mqtt_disconnect(pmq_buf_t *b) {
    static const unsigned char pkt[2] = {0xe0, 0x00};
    return pmq_buf_append(b, pkt, sizeof(pkt));
}

int bench_mqtt_publish_head(pmq_buf_t *b, const char *topic, uint8_t qos, uint32_t size,
                            size_t *pid_off) {
    uint32_t rem = (uint32_t)(2 + strlen(topic)) + (qos > 0 ? 2u : 0u) + size;
    int rc = put_fixed(b, (uint8_t)(0x30u | (uint8_t)(qos << 1)), rem);
    rc = rc != 0 ? rc : put_str(b, topic);
    *pid_off = b->len;
    if (rc == 0 && qos > 0) {
        rc = pmq_buf_put_u16(b, 0);
    }
    return rc;
}
