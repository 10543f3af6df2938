/* MQTT 3.1.1 / 3.1 packet encoders: one function per packet shape, each appending
 * exactly one packet to a pmq_buf_t. Every encoder first computes the packet's size,
 * reserves it once, then writes (size pass, write pass), so a failure leaves the buffer
 * unchanged and a success writes exactly the computed number of bytes (asserted).
 * The PUBLISH header can be written on its own for zero-copy fan-out of one payload. */
#include "paxmq/assert.h"
#include "paxmq/mqtt.h"

static uint64_t field_bytes(pmq_slice_t s) { return 2 + (uint64_t)s.len; }

static bool field_fits(pmq_slice_t s) { return s.len <= MQTT_STRING_BYTES_MAX; }

static char *put_u16(char *w, uint16_t v) {
    pmq_store_u16be(w, v);
    return w + 2;
}

static char *put_field(char *w, pmq_slice_t s) {
    PMQ_ASSERT(s.len <= MQTT_STRING_BYTES_MAX);
    w = put_u16(w, (uint16_t)s.len);
    if (s.len > 0) {
        memcpy(w, s.ptr, s.len);
    }
    return w + s.len;
}

/* Reserves the fixed header plus body_bytes in b, writes the fixed header (first byte
 * b0, then the Remaining Length) and returns in *w where the body goes and in *total
 * how many bytes the packet (or PUBLISH header) will occupy. body_bytes is less than
 * remaining only for the PUBLISH header, whose payload the caller sends separately. */
static int begin(pmq_buf_t *b, uint8_t b0, uint64_t remaining, uint64_t body_bytes, char **w,
                 size_t *total) {
    PMQ_ASSERT(body_bytes <= remaining);
    if (remaining > MQTT_REMAINING_LENGTH_MAX) {
        return PMQ_ETOOBIG;
    }
    char rl[4];
    size_t n = mqtt_remaining_length_encode((uint32_t)remaining, rl);
    *total = 1 + n + (size_t)body_bytes;
    int rc = pmq_buf_reserve(b, *total);
    if (rc != 0) {
        return rc;
    }
    char *p = b->data + b->len;
    *p++ = (char)b0;
    memcpy(p, rl, n);
    *w = p + n;
    return 0;
}

/* Commits what was written since begin(); pairs the size pass with the write pass. */
static void finish(pmq_buf_t *b, const char *w, size_t total) {
    PMQ_ASSERT(w == b->data + b->len + total);
    PMQ_ASSERT(b->len + total <= b->cap);
    b->len += total;
}

int mqtt_encode_connect(pmq_buf_t *b, const mqtt_connect_t *c) {
    PMQ_ASSERT(c->level == MQTT_LEVEL_311 || c->level == MQTT_LEVEL_31);
    PMQ_ASSERT(c->will_qos <= 2);
    PMQ_ASSERT(c->will || (c->will_qos == 0 && !c->will_retain));
    PMQ_ASSERT(!c->has_password || c->has_username);
    pmq_slice_t name = c->level == MQTT_LEVEL_311 ? PMQ_SLICE_LIT("MQTT") : PMQ_SLICE_LIT("MQIsdp");
    const pmq_slice_t fields[] = {c->client_id, c->will_topic, c->will_payload, c->username,
                                  c->password};
    const bool present[] = {true, c->will, c->will, c->has_username, c->has_password};
    uint64_t remaining = field_bytes(name) + 1 + 1 + 2;
    for (size_t i = 0; i < PMQ_ARRAY_LEN(fields); i++) {
        if (present[i] && !field_fits(fields[i])) {
            return PMQ_ETOOBIG;
        }
        remaining += present[i] ? field_bytes(fields[i]) : 0;
    }
    uint8_t flags = (uint8_t)((c->clean_session ? 0x02 : 0) | (c->will ? 0x04 : 0) |
                              (c->will_qos << 3) | (c->will_retain ? 0x20 : 0) |
                              (c->has_password ? 0x40 : 0) | (c->has_username ? 0x80 : 0));
    char *w = NULL;
    size_t total = 0;
    int rc = begin(b, MQTT_CONNECT << 4, remaining, remaining, &w, &total);
    if (rc != 0) {
        return rc;
    }
    w = put_field(w, name);
    *w++ = (char)c->level;
    *w++ = (char)flags;
    w = put_u16(w, c->keepalive_s);
    for (size_t i = 0; i < PMQ_ARRAY_LEN(fields); i++) {
        if (present[i]) {
            w = put_field(w, fields[i]);
        }
    }
    finish(b, w, total);
    return 0;
}

int mqtt_encode_connack(pmq_buf_t *b, bool session_present, uint8_t rc_code) {
    PMQ_ASSERT(rc_code <= MQTT_CONNACK_NOT_AUTHORIZED);
    PMQ_ASSERT(rc_code == MQTT_CONNACK_ACCEPTED || !session_present); /* [MQTT-3.2.2-4] */
    char *w = NULL;
    size_t total = 0;
    int rc = begin(b, MQTT_CONNACK << 4, 2, 2, &w, &total);
    if (rc != 0) {
        return rc;
    }
    *w++ = session_present ? 1 : 0;
    *w++ = (char)rc_code;
    finish(b, w, total);
    return 0;
}

/* Remaining Length of a PUBLISH, or UINT64_MAX when its topic cannot be encoded. */
static uint64_t publish_remaining(const mqtt_publish_t *m) {
    PMQ_ASSERT(m->qos <= 2);
    PMQ_ASSERT((m->qos == 0) == (m->pid == 0)); /* [MQTT-2.3.1-1], [MQTT-2.3.1-5] */
    PMQ_ASSERT(m->qos > 0 || !m->dup);          /* [MQTT-3.3.1-2] */
    if (!field_fits(m->topic)) {
        return UINT64_MAX;
    }
    return field_bytes(m->topic) + (m->qos > 0 ? 2 : 0) + (uint64_t)m->payload.len;
}

static uint8_t publish_b0(const mqtt_publish_t *m) {
    return (uint8_t)((MQTT_PUBLISH << 4) | (m->dup ? 0x8 : 0) | (m->qos << 1) |
                     (m->retain ? 0x1 : 0));
}

static char *put_publish_vh(char *w, const mqtt_publish_t *m) {
    w = put_field(w, m->topic);
    if (m->qos > 0) {
        w = put_u16(w, m->pid);
    }
    return w;
}

size_t mqtt_publish_header_bytes(const mqtt_publish_t *m) {
    uint64_t remaining = publish_remaining(m);
    if (remaining > MQTT_REMAINING_LENGTH_MAX) {
        return 0;
    }
    char rl[4];
    return 1 + mqtt_remaining_length_encode((uint32_t)remaining, rl) + field_bytes(m->topic) +
           (m->qos > 0 ? 2 : 0);
}

int mqtt_publish_header_write(const mqtt_publish_t *m, char *dst, size_t cap, size_t *written) {
    size_t need = mqtt_publish_header_bytes(m);
    if (need == 0 || cap < need) {
        return PMQ_ETOOBIG;
    }
    char *w = dst;
    *w++ = (char)publish_b0(m);
    w += mqtt_remaining_length_encode((uint32_t)publish_remaining(m), w);
    w = put_publish_vh(w, m);
    *written = (size_t)(w - dst);
    PMQ_ASSERT(*written == need);
    return 0;
}

int mqtt_encode_publish_header(pmq_buf_t *b, const mqtt_publish_t *m) {
    uint64_t remaining = publish_remaining(m);
    if (remaining > MQTT_REMAINING_LENGTH_MAX) {
        return PMQ_ETOOBIG;
    }
    char *w = NULL;
    size_t total = 0;
    int rc = begin(b, publish_b0(m), remaining, remaining - m->payload.len, &w, &total);
    if (rc != 0) {
        return rc;
    }
    w = put_publish_vh(w, m);
    finish(b, w, total);
    return 0;
}

int mqtt_encode_publish(pmq_buf_t *b, const mqtt_publish_t *m) {
    uint64_t remaining = publish_remaining(m);
    if (remaining > MQTT_REMAINING_LENGTH_MAX) {
        return PMQ_ETOOBIG;
    }
    char *w = NULL;
    size_t total = 0;
    int rc = begin(b, publish_b0(m), remaining, remaining, &w, &total);
    if (rc != 0) {
        return rc;
    }
    w = put_publish_vh(w, m);
    if (m->payload.len > 0) {
        memcpy(w, m->payload.ptr, m->payload.len);
        w += m->payload.len;
    }
    finish(b, w, total);
    return 0;
}

int mqtt_encode_ack(pmq_buf_t *b, mqtt_type_t type, uint16_t pid) {
    PMQ_ASSERT(type == MQTT_PUBACK || type == MQTT_PUBREC || type == MQTT_PUBREL ||
               type == MQTT_PUBCOMP || type == MQTT_UNSUBACK);
    PMQ_ASSERT(pid != 0);
    char *w = NULL;
    size_t total = 0;
    /* PUBREL's reserved flags are 0010 [MQTT-3.6.1-1]. */
    uint8_t b0 = (uint8_t)((type << 4) | (type == MQTT_PUBREL ? 0x2 : 0));
    int rc = begin(b, b0, 2, 2, &w, &total);
    if (rc != 0) {
        return rc;
    }
    w = put_u16(w, pid);
    finish(b, w, total);
    return 0;
}

int mqtt_encode_subscribe(pmq_buf_t *b, uint16_t pid, const mqtt_filter_t *filters, size_t n) {
    PMQ_ASSERT(pid != 0);
    PMQ_ASSERT(n >= 1);
    uint64_t remaining = 2;
    for (size_t i = 0; i < n && remaining <= MQTT_REMAINING_LENGTH_MAX; i++) {
        PMQ_ASSERT(filters[i].qos <= 2);
        if (!field_fits(filters[i].filter)) {
            return PMQ_ETOOBIG;
        }
        remaining += field_bytes(filters[i].filter) + 1;
    }
    char *w = NULL;
    size_t total = 0;
    int rc = begin(b, (MQTT_SUBSCRIBE << 4) | 0x2, remaining, remaining, &w, &total);
    if (rc != 0) {
        return rc;
    }
    w = put_u16(w, pid);
    for (size_t i = 0; i < n; i++) {
        w = put_field(w, filters[i].filter);
        *w++ = (char)filters[i].qos;
    }
    finish(b, w, total);
    return 0;
}

int mqtt_encode_suback(pmq_buf_t *b, uint16_t pid, const uint8_t *codes, size_t n) {
    PMQ_ASSERT(pid != 0);
    PMQ_ASSERT(n >= 1);
    char *w = NULL;
    size_t total = 0;
    int rc = begin(b, MQTT_SUBACK << 4, 2 + (uint64_t)n, 2 + (uint64_t)n, &w, &total);
    if (rc != 0) {
        return rc;
    }
    w = put_u16(w, pid);
    for (size_t i = 0; i < n; i++) {
        PMQ_ASSERT(codes[i] <= 2 || codes[i] == MQTT_SUBACK_FAILURE); /* [MQTT-3.9.3-2] */
        *w++ = (char)codes[i];
    }
    finish(b, w, total);
    return 0;
}

int mqtt_encode_unsubscribe(pmq_buf_t *b, uint16_t pid, const pmq_slice_t *filters, size_t n) {
    PMQ_ASSERT(pid != 0);
    PMQ_ASSERT(n >= 1);
    uint64_t remaining = 2;
    for (size_t i = 0; i < n && remaining <= MQTT_REMAINING_LENGTH_MAX; i++) {
        if (!field_fits(filters[i])) {
            return PMQ_ETOOBIG;
        }
        remaining += field_bytes(filters[i]);
    }
    char *w = NULL;
    size_t total = 0;
    int rc = begin(b, (MQTT_UNSUBSCRIBE << 4) | 0x2, remaining, remaining, &w, &total);
    if (rc != 0) {
        return rc;
    }
    w = put_u16(w, pid);
    for (size_t i = 0; i < n; i++) {
        w = put_field(w, filters[i]);
    }
    finish(b, w, total);
    return 0;
}

int mqtt_encode_empty(pmq_buf_t *b, mqtt_type_t type) {
    PMQ_ASSERT(type == MQTT_PINGREQ || type == MQTT_PINGRESP || type == MQTT_DISCONNECT);
    char *w = NULL;
    size_t total = 0;
    int rc = begin(b, (uint8_t)(type << 4), 0, 0, &w, &total);
    if (rc == 0) {
        finish(b, w, total);
    }
    return rc;
}

/* SUBSCRIBE and UNSUBSCRIBE from a parsed packet: the validated payload is copied as it
 * came, so the list need not be rebuilt. */
static int encode_sub_list(pmq_buf_t *b, const mqtt_packet_t *pkt) {
    const mqtt_sub_list_t *l = &pkt->subscribe;
    PMQ_ASSERT(l->pid != 0);
    PMQ_ASSERT(l->count >= 1);
    uint64_t remaining = 2 + (uint64_t)l->raw.len;
    char *w = NULL;
    size_t total = 0;
    int rc = begin(b, (uint8_t)((pkt->type << 4) | 0x2), remaining, remaining, &w, &total);
    if (rc != 0) {
        return rc;
    }
    w = put_u16(w, l->pid);
    memcpy(w, l->raw.ptr, l->raw.len);
    finish(b, w + l->raw.len, total);
    return 0;
}

int mqtt_encode_packet(pmq_buf_t *b, const mqtt_packet_t *pkt) {
    switch (pkt->type) {
    case MQTT_CONNECT:
        return mqtt_encode_connect(b, &pkt->connect);
    case MQTT_CONNACK:
        return mqtt_encode_connack(b, pkt->connack.session_present, pkt->connack.rc);
    case MQTT_PUBLISH:
        return mqtt_encode_publish(b, &pkt->publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return mqtt_encode_ack(b, pkt->type, pkt->pid);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return encode_sub_list(b, pkt);
    case MQTT_SUBACK:
        return mqtt_encode_suback(b, pkt->suback.pid, (const uint8_t *)pkt->suback.codes.ptr,
                                  pkt->suback.codes.len);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return mqtt_encode_empty(b, pkt->type);
    }
    PMQ_UNREACHABLE();
}
