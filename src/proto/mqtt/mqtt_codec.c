/* MQTT 3.1.1 / 3.1 packet parser: the fixed header, Remaining Length, and the variable
 * header and payload of all 14 packet types, with every check the specification asks of
 * a receiver that a codec can make (docs/MQTT.md lists each one with its statement).
 * Not here: session state (packet ids in flight, keep-alive), encoders (mqtt_encode.c),
 * topic rules (mqtt_topic.c). Invariants: nothing is allocated, buf is never written,
 * and a packet is returned only when all of its bytes are in buf and valid. */
#include "paxmq/assert.h"
#include "paxmq/mqtt.h"

/* Every rejection closes the connection; only some CONNECTs get a CONNACK first. */
#define MALFORMED(err, ...) pmq_proto_fail((err), PMQ_EPROTO, 0, true, __VA_ARGS__)

void mqtt_parser_cfg_default(mqtt_parser_cfg_t *cfg) {
    cfg->packet_bytes_max = MQTT_PACKET_BYTES_MAX_DEFAULT;
    cfg->filters_max = MQTT_FILTERS_MAX_DEFAULT;
    cfg->client_id_bytes_max = MQTT_CLIENT_ID_BYTES_MAX_DEFAULT;
    cfg->role = MQTT_ROLE_SERVER;
}

bool mqtt_parser_cfg_is_valid(const mqtt_parser_cfg_t *cfg) {
    return cfg->packet_bytes_max >= 2 && cfg->packet_bytes_max <= MQTT_PACKET_BYTES_CEILING &&
           cfg->filters_max >= 1 && cfg->client_id_bytes_max >= MQTT_CLIENT_ID_BYTES_MIN_LIMIT &&
           cfg->client_id_bytes_max <= MQTT_STRING_BYTES_MAX &&
           (cfg->role == MQTT_ROLE_SERVER || cfg->role == MQTT_ROLE_CLIENT ||
            cfg->role == MQTT_ROLE_ANY);
}

void mqtt_parser_init(mqtt_parser_t *p, const mqtt_parser_cfg_t *cfg) {
    memset(p, 0, sizeof(*p));
    if (cfg != NULL) {
        p->cfg = *cfg;
    } else {
        mqtt_parser_cfg_default(&p->cfg);
    }
    PMQ_ASSERT(mqtt_parser_cfg_is_valid(&p->cfg));
    p->level = MQTT_LEVEL_311;
}

void mqtt_parser_set_level(mqtt_parser_t *p, mqtt_level_t level) {
    PMQ_ASSERT(level == MQTT_LEVEL_31 || level == MQTT_LEVEL_311);
    p->level = (uint8_t)level;
}

uint8_t mqtt_parser_level(const mqtt_parser_t *p) { return p->level; }

uint32_t mqtt_parser_packet_bytes(const mqtt_parser_t *p) { return p->packet_bytes; }

const char *mqtt_type_name(int type) {
    static const char *const names[] = {
        "RESERVED", "CONNECT",   "CONNACK", "PUBLISH",     "PUBACK",   "PUBREC",
        "PUBREL",   "PUBCOMP",   "SUBSCRIBE", "SUBACK",    "UNSUBSCRIBE", "UNSUBACK",
        "PINGREQ",  "PINGRESP", "DISCONNECT", "RESERVED",
    };
    return type >= 0 && type < (int)PMQ_ARRAY_LEN(names) ? names[type] : "RESERVED";
}

int mqtt_remaining_length_decode(const char *buf, size_t len, uint32_t *value, size_t *used) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= len) {
            return PMQ_EAGAIN;
        }
        uint8_t b = (uint8_t)buf[i];
        v |= (uint32_t)(b & 0x7F) << (7 * i);
        if ((b & 0x80) == 0) {
            /* A last byte of 0 after a continuation means the value fits in fewer bytes;
             * §2.2.3 Table 2.4 gives each length exactly one encoding (MQTT 5 §1.5.5
             * states it as [MQTT-1.5.5-1]). */
            if (i > 0 && b == 0) {
                return PMQ_EPROTO;
            }
            *value = v;
            *used = i + 1;
            return 0;
        }
    }
    return PMQ_EPROTO; /* a fifth byte would be needed: §2.2.3 allows at most four */
}

size_t mqtt_remaining_length_encode(uint32_t v, char out[4]) {
    PMQ_ASSERT(v <= MQTT_REMAINING_LENGTH_MAX);
    size_t n = 0;
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        out[n++] = (char)(v > 0 ? (b | 0x80) : b);
    } while (v > 0);
    return n;
}

static bool sent_only_by_server(int type) {
    return type == MQTT_CONNACK || type == MQTT_SUBACK || type == MQTT_UNSUBACK ||
           type == MQTT_PINGRESP;
}

static bool sent_only_by_client(int type) {
    return type == MQTT_CONNECT || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE ||
           type == MQTT_PINGREQ || type == MQTT_DISCONNECT;
}

/* Direction and ordering: §2.2.1 Table 2.1 and [MQTT-3.1.0-1], [MQTT-3.1.0-2]. */
static int check_role(const mqtt_parser_t *p, int type, pmq_proto_err_t *err) {
    const char *name = mqtt_type_name(type);
    if (p->cfg.role == MQTT_ROLE_SERVER) {
        if (sent_only_by_server(type)) {
            return MALFORMED(err, "%s is sent only by a server (MQTT-2.2.1)", name);
        }
        if (!p->connected && type != MQTT_CONNECT) {
            return MALFORMED(err, "%s before CONNECT (MQTT-3.1.0-1)", name);
        }
        if (p->connected && type == MQTT_CONNECT) {
            return MALFORMED(err, "second CONNECT on one connection (MQTT-3.1.0-2)");
        }
    } else if (p->cfg.role == MQTT_ROLE_CLIENT && sent_only_by_client(type)) {
        return MALFORMED(err, "%s is sent only by a client (MQTT-2.2.1)", name);
    }
    return 0;
}

/* §2.2.2 Table 2.2: reserved flag bits MUST have the listed values [MQTT-2.2.2-1] and a
 * receiver MUST close on anything else [MQTT-2.2.2-2]. */
static int check_flags(const mqtt_parser_t *p, int type, unsigned flags, pmq_proto_err_t *err) {
    const char *name = mqtt_type_name(type);
    switch (type) {
    case MQTT_PUBLISH: {
        unsigned qos = (flags >> 1) & 3;
        if (qos == 3) {
            return MALFORMED(err, "PUBLISH with both QoS bits set (MQTT-3.3.1-4)");
        }
        if (qos == 0 && (flags & 0x8) != 0) {
            return MALFORMED(err, "PUBLISH with QoS 0 and DUP set (MQTT-3.3.1-2)");
        }
        return 0;
    }
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        /* MQTT 3.1 let a client set DUP when it re-sent these; 3.1.1 fixed them at 0010. */
        if (flags == 0x2 || (p->level == MQTT_LEVEL_31 && flags == 0xA)) {
            return 0;
        }
        return MALFORMED(err, "%s fixed header flags must be 0010 (MQTT-2.2.2-1)", name);
    default:
        if (flags == 0) {
            return 0;
        }
        return MALFORMED(err, "%s fixed header flags must be 0000 (MQTT-2.2.2-1)", name);
    }
}

static int check_first_byte(const mqtt_parser_t *p, uint8_t b0, pmq_proto_err_t *err) {
    int type = b0 >> 4;
    if (type == 0 || type == 15) {
        return MALFORMED(err, "reserved control packet type %d (MQTT-2.2.1)", type);
    }
    int rc = check_role(p, type, err);
    return rc != 0 ? rc : check_flags(p, type, b0 & 0x0Fu, err);
}

/* A two-byte length then that many bytes: a UTF-8 string (§1.5.3) or binary field. */
static pmq_slice_t rd_field(pmq_rd_t *r) {
    uint16_t n = pmq_rd_u16(r);
    return pmq_rd_raw(r, n);
}

/* [MQTT-1.5.3-1] well-formed UTF-8, no surrogates; [MQTT-1.5.3-2] no U+0000. */
static bool utf8_ok(pmq_slice_t s) { return pmq_utf8_is_valid(s, true); }

static int parse_pid_only(mqtt_packet_t *out, pmq_slice_t body, pmq_proto_err_t *err) {
    const char *name = mqtt_type_name(out->type);
    if (body.len != 2) {
        return MALFORMED(err, "%s remaining length must be 2, not %zu", name, body.len);
    }
    out->pid = pmq_load_u16be(body.ptr);
    if (out->pid == 0) {
        return MALFORMED(err, "%s with packet identifier 0 (MQTT-2.3.1-1)", name);
    }
    return 0;
}

static int parse_empty(const mqtt_packet_t *out, pmq_slice_t body, pmq_proto_err_t *err) {
    if (body.len != 0) {
        return MALFORMED(err, "%s must have no variable header or payload (remaining length %zu)",
                         mqtt_type_name(out->type), body.len);
    }
    return 0;
}

static int parse_connack(mqtt_connack_t *c, pmq_slice_t body, pmq_proto_err_t *err) {
    if (body.len != 2) {
        return MALFORMED(err, "CONNACK remaining length must be 2, not %zu", body.len);
    }
    uint8_t ack_flags = (uint8_t)body.ptr[0];
    c->rc = (uint8_t)body.ptr[1];
    c->session_present = (ack_flags & 1) != 0;
    if ((ack_flags & 0xFE) != 0) {
        return MALFORMED(err, "CONNACK reserved acknowledge flags set (MQTT-3.2.2.1)");
    }
    if (c->rc > MQTT_CONNACK_NOT_AUTHORIZED) {
        return MALFORMED(err, "CONNACK reserved return code %u (MQTT-3.2.2.3)", c->rc);
    }
    if (c->rc != 0 && c->session_present) {
        return MALFORMED(err, "CONNACK refusal with session present set (MQTT-3.2.2-4)");
    }
    return 0;
}

static int parse_publish(mqtt_packet_t *out, pmq_slice_t body, pmq_proto_err_t *err) {
    mqtt_publish_t *m = &out->publish;
    m->qos = (out->flags >> 1) & 3;
    m->dup = (out->flags & 0x8) != 0;
    m->retain = (out->flags & 0x1) != 0;
    pmq_rd_t r = pmq_rd_init(body);
    m->topic = rd_field(&r);
    if (m->qos > 0) {
        m->pid = pmq_rd_u16(&r);
    }
    if (r.err) {
        return MALFORMED(err, "PUBLISH variable header truncated");
    }
    if (m->qos > 0 && m->pid == 0) {
        return MALFORMED(err, "QoS %u PUBLISH with packet identifier 0 (MQTT-2.3.1-1)", m->qos);
    }
    if (!utf8_ok(m->topic)) {
        return MALFORMED(err, "PUBLISH topic is not valid UTF-8 or contains U+0000 (MQTT-1.5.3)");
    }
    if (!mqtt_topic_name_is_valid(m->topic)) {
        return MALFORMED(err, "PUBLISH topic name is empty or contains a wildcard "
                              "(MQTT-3.3.2-2, MQTT-4.7.3-1)");
    }
    m->payload = pmq_rd_raw(&r, r.left);
    return 0;
}

/* §3.8.3 / §3.10.3: validates every filter now so that iteration cannot fail later. */
static int parse_sub_list(const mqtt_parser_t *p, mqtt_packet_t *out, pmq_slice_t body,
                            pmq_proto_err_t *err) {
    bool sub = out->type == MQTT_SUBSCRIBE;
    const char *name = mqtt_type_name(out->type);
    mqtt_sub_list_t *l = &out->subscribe;
    pmq_rd_t r = pmq_rd_init(body);
    l->pid = pmq_rd_u16(&r);
    if (r.err) {
        return MALFORMED(err, "%s variable header truncated", name);
    }
    if (l->pid == 0) {
        return MALFORMED(err, "%s with packet identifier 0 (MQTT-2.3.1-1)", name);
    }
    l->raw = pmq_slice(r.p, r.left);
    while (r.left > 0) {
        pmq_slice_t f = rd_field(&r);
        uint8_t opts = sub ? pmq_rd_u8(&r) : 0;
        if (r.err) {
            return MALFORMED(err, "%s payload truncated", name);
        }
        if (!utf8_ok(f)) {
            return MALFORMED(err, "%s topic filter is not valid UTF-8 or contains U+0000 (%s)",
                             name, sub ? "MQTT-3.8.3-1" : "MQTT-3.10.3-1");
        }
        if (!mqtt_topic_filter_is_valid(f)) {
            return MALFORMED(err, "%s topic filter is empty or misuses a wildcard "
                                  "(MQTT-4.7.1-2, MQTT-4.7.1-3, MQTT-4.7.3-1)", name);
        }
        if ((opts & 0xFC) != 0 || (opts & 3) == 3) {
            return MALFORMED(err, "SUBSCRIBE requested QoS byte 0x%02x is invalid (MQTT-3-8.3-4)",
                             opts);
        }
        if (l->count == p->cfg.filters_max) {
            return pmq_proto_fail(err, PMQ_ETOOBIG, 0, true,
                                  "%s has more than %u topic filters", name, p->cfg.filters_max);
        }
        l->count++;
    }
    if (l->count == 0) {
        return MALFORMED(err, "%s without any topic filter (%s)", name,
                         sub ? "MQTT-3.8.3-3" : "MQTT-3.10.3-2");
    }
    return 0;
}

static int parse_suback(mqtt_suback_t *s, pmq_slice_t body, pmq_proto_err_t *err) {
    pmq_rd_t r = pmq_rd_init(body);
    s->pid = pmq_rd_u16(&r);
    if (r.err) {
        return MALFORMED(err, "SUBACK variable header truncated");
    }
    if (s->pid == 0) {
        return MALFORMED(err, "SUBACK with packet identifier 0 (MQTT-2.3.1-1)");
    }
    s->codes = pmq_rd_raw(&r, r.left);
    if (s->codes.len == 0) {
        return MALFORMED(err, "SUBACK without any return code (MQTT-3.9.3-1)");
    }
    for (size_t i = 0; i < s->codes.len; i++) {
        uint8_t c = (uint8_t)s->codes.ptr[i];
        if (c > 2 && c != MQTT_SUBACK_FAILURE) {
            return MALFORMED(err, "SUBACK reserved return code 0x%02x (MQTT-3.9.3-2)", c);
        }
    }
    return 0;
}

/* Protocol name, level, flags and keep-alive (§3.1.2). The level is checked before the
 * rest so that a client speaking another version (e.g. MQTT 5, whose CONNECT continues
 * differently) gets CONNACK 0x01 [MQTT-3.1.2-2]. */
static int parse_connect_header(mqtt_connect_t *c, pmq_rd_t *r, uint8_t *flags,
                                  pmq_proto_err_t *err) {
    c->protocol_name = rd_field(r);
    c->level = pmq_rd_u8(r);
    if (r->err) {
        return MALFORMED(err, "CONNECT variable header truncated");
    }
    bool mqtt = pmq_slice_eq_cstr(c->protocol_name, "MQTT");
    if (!mqtt && !pmq_slice_eq_cstr(c->protocol_name, "MQIsdp")) {
        return MALFORMED(err, "CONNECT protocol name is neither MQTT nor MQIsdp (MQTT-3.1.2-1)");
    }
    if (c->level != (mqtt ? MQTT_LEVEL_311 : MQTT_LEVEL_31)) {
        return pmq_proto_fail(err, PMQ_EPROTO, MQTT_CONNACK_BAD_PROTOCOL, true,
                              "unsupported protocol level %u for %s (MQTT-3.1.2-2)", c->level,
                              mqtt ? "MQTT" : "MQIsdp");
    }
    *flags = pmq_rd_u8(r);
    c->keepalive_s = pmq_rd_u16(r);
    if (r->err) {
        return MALFORMED(err, "CONNECT variable header truncated");
    }
    return 0;
}

/* Connect Flags, §3.1.2.3 - §3.1.2.9. */
static int parse_connect_flags(mqtt_connect_t *c, uint8_t flags, pmq_proto_err_t *err) {
    c->clean_session = (flags & 0x02) != 0;
    c->will = (flags & 0x04) != 0;
    c->will_qos = (flags >> 3) & 3;
    c->will_retain = (flags & 0x20) != 0;
    c->has_password = (flags & 0x40) != 0;
    c->has_username = (flags & 0x80) != 0;
    if ((flags & 0x01) != 0) {
        return MALFORMED(err, "CONNECT reserved flag is set (MQTT-3.1.2-3)");
    }
    if (!c->will && c->will_qos != 0) {
        return MALFORMED(err, "CONNECT will QoS without will flag (MQTT-3.1.2-13)");
    }
    if (!c->will && c->will_retain) {
        return MALFORMED(err, "CONNECT will retain without will flag (MQTT-3.1.2-15)");
    }
    if (c->will_qos == 3) {
        return MALFORMED(err, "CONNECT will QoS 3 (MQTT-3.1.2-14)");
    }
    if (c->has_password && !c->has_username) {
        return MALFORMED(err, "CONNECT password flag without user name flag (MQTT-3.1.2-22)");
    }
    return 0;
}

/* Payload, §3.1.3: fields in order, present exactly when their flags say so. */
static int parse_connect_payload(mqtt_connect_t *c, pmq_rd_t *r, pmq_proto_err_t *err) {
    c->client_id = rd_field(r);
    if (c->will) {
        c->will_topic = rd_field(r);
        c->will_payload = rd_field(r);
    }
    if (c->has_username) {
        c->username = rd_field(r);
    }
    if (c->has_password) {
        c->password = rd_field(r);
    }
    if (r->err) {
        return MALFORMED(err, "CONNECT payload truncated (MQTT-3.1.3-1)");
    }
    if (r->left != 0) {
        return MALFORMED(err, "CONNECT has %zu bytes after its last field (MQTT-3.1.3-1)",
                         r->left);
    }
    if (!utf8_ok(c->client_id)) {
        return MALFORMED(err, "CONNECT client id is not valid UTF-8 (MQTT-3.1.3-4)");
    }
    if (c->will && !utf8_ok(c->will_topic)) {
        return MALFORMED(err, "CONNECT will topic is not valid UTF-8 (MQTT-3.1.3-10)");
    }
    if (c->will && !mqtt_topic_name_is_valid(c->will_topic)) {
        return MALFORMED(err, "CONNECT will topic is empty or contains a wildcard (MQTT-4.7.1-1)");
    }
    if (c->has_username && !utf8_ok(c->username)) {
        return MALFORMED(err, "CONNECT user name is not valid UTF-8 (MQTT-3.1.3-11)");
    }
    return 0;
}

static size_t utf8_chars(pmq_slice_t s) {
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        n += ((uint8_t)s.ptr[i] & 0xC0) != 0x80;
    }
    return n;
}

/* Checked last, once the CONNECT is otherwise well formed, because these refusals are
 * answered with CONNACK 0x02 rather than a bare close [MQTT-3.1.3-8], [MQTT-3.1.3-9]. */
static int check_client_id(const mqtt_parser_t *p, const mqtt_connect_t *c,
                             pmq_proto_err_t *err) {
    if (c->level == MQTT_LEVEL_31) {
        size_t chars = utf8_chars(c->client_id);
        if (chars == 0 || chars > MQTT_V31_CLIENT_ID_CHARS_MAX) {
            return pmq_proto_fail(err, PMQ_EPROTO, MQTT_CONNACK_ID_REJECTED, true,
                                  "MQTT 3.1 client id must have 1..23 characters, not %zu",
                                  chars);
        }
        return 0;
    }
    if (c->client_id.len == 0 && !c->clean_session) {
        return pmq_proto_fail(err, PMQ_EPROTO, MQTT_CONNACK_ID_REJECTED, true,
                              "empty client id requires clean session (MQTT-3.1.3-7)");
    }
    if (c->client_id.len > p->cfg.client_id_bytes_max) {
        return pmq_proto_fail(err, PMQ_EPROTO, MQTT_CONNACK_ID_REJECTED, true,
                              "client id longer than %u bytes (MQTT-3.1.3-9)",
                              p->cfg.client_id_bytes_max);
    }
    return 0;
}

static int parse_connect(mqtt_parser_t *p, mqtt_connect_t *c, pmq_slice_t body,
                           pmq_proto_err_t *err) {
    pmq_rd_t r = pmq_rd_init(body);
    uint8_t flags = 0;
    int rc = parse_connect_header(c, &r, &flags, err);
    if (rc == 0) {
        rc = parse_connect_flags(c, flags, err);
    }
    if (rc == 0) {
        rc = parse_connect_payload(c, &r, err);
    }
    if (rc == 0) {
        rc = check_client_id(p, c, err);
    }
    if (rc == 0) {
        p->level = c->level;
        p->connected = true;
    }
    return rc;
}

static int parse_body(mqtt_parser_t *p, mqtt_packet_t *out, pmq_slice_t body,
                        pmq_proto_err_t *err) {
    switch (out->type) {
    case MQTT_CONNECT:
        return parse_connect(p, &out->connect, body, err);
    case MQTT_CONNACK:
        return parse_connack(&out->connack, body, err);
    case MQTT_PUBLISH:
        return parse_publish(out, body, err);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return parse_pid_only(out, body, err);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return parse_sub_list(p, out, body, err);
    case MQTT_SUBACK:
        return parse_suback(&out->suback, body, err);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return parse_empty(out, body, err);
    }
    PMQ_UNREACHABLE(); /* check_first_byte rejected types 0 and 15 */
}

int mqtt_parse(mqtt_parser_t *p, const char *buf, size_t len, size_t *consumed,
               mqtt_packet_t *out, pmq_proto_err_t *err) {
    PMQ_ASSERT(!p->failed);
    *consumed = 0;
    p->packet_bytes = 0;
    if (len == 0) {
        return PMQ_EAGAIN;
    }
    uint8_t b0 = (uint8_t)buf[0];
    int rc = check_first_byte(p, b0, err);
    if (rc != 0) {
        goto out;
    }
    uint32_t remaining = 0;
    size_t used = 0;
    rc = mqtt_remaining_length_decode(buf + 1, len - 1, &remaining, &used);
    if (rc == PMQ_EAGAIN) {
        return rc;
    }
    if (rc != 0) {
        rc = MALFORMED(err, "malformed remaining length: more than 4 bytes or not minimal "
                            "(MQTT-2.2.3)");
        goto out;
    }
    uint64_t total = 1 + (uint64_t)used + remaining;
    if (total > p->cfg.packet_bytes_max) {
        rc = pmq_proto_fail(err, PMQ_ETOOBIG, 0, true, "%s of %llu bytes exceeds the limit of %u",
                            mqtt_type_name(b0 >> 4), (unsigned long long)total,
                            p->cfg.packet_bytes_max);
        goto out;
    }
    p->packet_bytes = (uint32_t)total;
    if (len < total) {
        return PMQ_EAGAIN;
    }
    memset(out, 0, sizeof(*out));
    out->type = (mqtt_type_t)(b0 >> 4);
    out->flags = b0 & 0x0F;
    out->packet_bytes = (uint32_t)total;
    rc = parse_body(p, out, pmq_slice(buf + 1 + used, remaining), err);
    if (rc == 0) {
        *consumed = (size_t)total;
    }
out:
    if (rc != 0) {
        PMQ_ASSERT(rc == PMQ_EPROTO || rc == PMQ_ETOOBIG);
        PMQ_ASSERT(err == NULL || err->must_close);
        p->failed = true;
    }
    return rc;
}

void mqtt_filter_iter_init(mqtt_filter_iter_t *it, const mqtt_packet_t *pkt) {
    PMQ_ASSERT(pkt->type == MQTT_SUBSCRIBE || pkt->type == MQTT_UNSUBSCRIBE);
    it->rd = pmq_rd_init(pkt->subscribe.raw);
    it->with_qos = pkt->type == MQTT_SUBSCRIBE;
}

bool mqtt_filter_iter_next(mqtt_filter_iter_t *it, mqtt_filter_t *out) {
    if (it->rd.left == 0) {
        return false;
    }
    out->filter = rd_field(&it->rd);
    out->qos = it->with_qos ? (pmq_rd_u8(&it->rd) & 3) : 0;
    /* mqtt_parse validated this list; a short read means the packet was not parsed. */
    PMQ_ASSERT(!it->rd.err);
    return true;
}
