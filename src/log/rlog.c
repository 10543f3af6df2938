/* rlog: encoding and decoding of log entries and broker commands.
 *
 * Layout (all integers big-endian):
 *   entry   = u8 version, u8 type, u64 ballot, u64 time_ms, payload (rest)
 *   command = u8 version, u8 type, fields by type (see rlog_cmd_decode)
 *   string  = u32 length, bytes
 * Decoding validates every length against the RLOG_*_MAX limits once, so the iterators
 * that walk repeated fields afterwards cannot fail. Pure: pmq_base only. */
#include "paxmq/assert.h"
#include "paxmq/rlog.h"

#define ENTRY_HEADER_BYTES 18

int rlog_entry_encode(pmq_buf_t *out, const rlog_entry_t *e) {
    PMQ_ASSERT(e->type == RLOG_ENTRY_NOOP || e->type == RLOG_ENTRY_CMD);
    PMQ_ASSERT(e->index > 0);
    size_t start = out->len;
    int rc = pmq_buf_reserve(out, ENTRY_HEADER_BYTES + e->payload.len);
    if (rc != 0) {
        return rc;
    }
    if ((rc = pmq_buf_put_u8(out, RLOG_FORMAT_VERSION)) != 0 ||
        (rc = pmq_buf_put_u8(out, (uint8_t)e->type)) != 0 ||
        (rc = pmq_buf_put_u64(out, e->ballot)) != 0 ||
        (rc = pmq_buf_put_u64(out, e->time_ms)) != 0 ||
        (rc = pmq_buf_append_slice(out, e->payload)) != 0) {
        return rc;
    }
    PMQ_ASSERT(out->len - start == ENTRY_HEADER_BYTES + e->payload.len);
    return 0;
}

int rlog_entry_decode(pmq_slice_t bytes, uint64_t index, rlog_entry_t *out) {
    pmq_rd_t r = pmq_rd_init(bytes);
    uint8_t version = pmq_rd_u8(&r);
    uint8_t type = pmq_rd_u8(&r);
    out->ballot = pmq_rd_u64(&r);
    out->time_ms = pmq_rd_u64(&r);
    if (r.err) {
        return PMQ_ECORRUPT;
    }
    if (version > RLOG_FORMAT_VERSION) {
        return PMQ_EVERSION;
    }
    if (version == 0 || (type != RLOG_ENTRY_NOOP && type != RLOG_ENTRY_CMD)) {
        return PMQ_ECORRUPT;
    }
    out->index = index;
    out->type = (rlog_entry_type_t)type;
    out->payload = pmq_slice(r.p, r.left);
    PMQ_ASSERT(out->payload.len == bytes.len - ENTRY_HEADER_BYTES);
    return 0;
}

static int put_head(pmq_buf_t *out, rlog_cmd_type_t type) {
    int rc = pmq_buf_put_u8(out, RLOG_FORMAT_VERSION);
    return rc != 0 ? rc : pmq_buf_put_u8(out, (uint8_t)type);
}

static int put_name(pmq_buf_t *out, pmq_slice_t s) {
    if (s.len > RLOG_NAME_BYTES_MAX) {
        return PMQ_ETOOBIG;
    }
    return pmq_buf_put_bytes(out, s);
}

int rlog_encode_publish(pmq_buf_t *out, pmq_slice_t dest, const rlog_msg_props_t *p,
                        const rlog_header_t *headers, size_t header_count, pmq_slice_t body) {
    PMQ_ASSERT(p->priority <= 9);
    if (header_count > RLOG_HEADER_COUNT_MAX || body.len > RLOG_BODY_BYTES_MAX) {
        return PMQ_ETOOBIG;
    }
    size_t need = 2 + 4 + dest.len + 2 + 16 + 4 + 4 + body.len;
    for (size_t i = 0; i < header_count; i++) {
        need += 8 + headers[i].name.len + headers[i].value.len;
    }
    int rc = pmq_buf_reserve(out, need);
    if (rc != 0) {
        return rc;
    }
    if ((rc = put_head(out, RLOG_CMD_PUBLISH)) != 0 || (rc = put_name(out, dest)) != 0 ||
        (rc = pmq_buf_put_u8(out, p->persistent ? 1 : 0)) != 0 ||
        (rc = pmq_buf_put_u8(out, p->priority)) != 0 ||
        (rc = pmq_buf_put_u64(out, p->expires_ms)) != 0 ||
        (rc = pmq_buf_put_u64(out, p->timestamp_ms)) != 0 ||
        (rc = pmq_buf_put_u32(out, (uint32_t)header_count)) != 0) {
        return rc;
    }
    for (size_t i = 0; i < header_count; i++) {
        if ((rc = pmq_buf_put_bytes(out, headers[i].name)) != 0 ||
            (rc = pmq_buf_put_bytes(out, headers[i].value)) != 0) {
            return rc;
        }
    }
    return pmq_buf_put_bytes(out, body);
}

int rlog_encode_seqs(pmq_buf_t *out, rlog_cmd_type_t type, pmq_slice_t queue, pmq_slice_t dlq,
                     const uint64_t *seqs, size_t count) {
    PMQ_ASSERT(type == RLOG_CMD_ACK || type == RLOG_CMD_EXPIRE || type == RLOG_CMD_DLQ);
    PMQ_ASSERT(count > 0);
    if (count > RLOG_SEQS_MAX) {
        return PMQ_ETOOBIG;
    }
    int rc = pmq_buf_reserve(out, 2 + 8 + queue.len + dlq.len + 4 + 8 * count);
    if (rc != 0) {
        return rc;
    }
    if ((rc = put_head(out, type)) != 0 || (rc = put_name(out, queue)) != 0 ||
        (rc = put_name(out, dlq)) != 0 || (rc = pmq_buf_put_u32(out, (uint32_t)count)) != 0) {
        return rc;
    }
    for (size_t i = 0; i < count; i++) {
        if ((rc = pmq_buf_put_u64(out, seqs[i])) != 0) {
            return rc;
        }
    }
    return 0;
}

int rlog_encode_dsub_add(pmq_buf_t *out, pmq_slice_t client_id, pmq_slice_t sub_name,
                         pmq_slice_t pattern) {
    int rc;
    if ((rc = put_head(out, RLOG_CMD_DSUB_ADD)) != 0 || (rc = put_name(out, client_id)) != 0 ||
        (rc = put_name(out, sub_name)) != 0) {
        return rc;
    }
    return put_name(out, pattern);
}

int rlog_encode_dsub_del(pmq_buf_t *out, pmq_slice_t client_id, pmq_slice_t sub_name) {
    int rc;
    if ((rc = put_head(out, RLOG_CMD_DSUB_DEL)) != 0 || (rc = put_name(out, client_id)) != 0) {
        return rc;
    }
    return put_name(out, sub_name);
}

int rlog_encode_dest_op(pmq_buf_t *out, rlog_cmd_type_t type, pmq_slice_t dest) {
    PMQ_ASSERT(type == RLOG_CMD_PURGE || type == RLOG_CMD_DEST_DELETE);
    int rc = put_head(out, type);
    return rc != 0 ? rc : put_name(out, dest);
}

int rlog_txn_begin(pmq_buf_t *out, size_t *mark) {
    int rc = put_head(out, RLOG_CMD_TXN);
    if (rc != 0) {
        return rc;
    }
    *mark = out->len;
    return pmq_buf_put_u32(out, 0);
}

int rlog_txn_add_op(pmq_buf_t *out, size_t mark, pmq_slice_t op_bytes) {
    PMQ_ASSERT(mark + 4 <= out->len);
    uint32_t count = pmq_load_u32be(out->data + mark);
    if (count >= RLOG_TXN_OPS_MAX) {
        return PMQ_ETOOBIG;
    }
    int rc = pmq_buf_put_bytes(out, op_bytes);
    if (rc != 0) {
        return rc;
    }
    pmq_store_u32be(out->data + mark, count + 1);
    return 0;
}

void rlog_txn_end(pmq_buf_t *out, size_t mark) {
    PMQ_ASSERT(mark + 4 <= out->len);
    PMQ_ASSERT(pmq_load_u32be(out->data + mark) <= RLOG_TXN_OPS_MAX);
}

/* Walks count (name, value) pairs, checking every length; returns the raw region. */
static bool skip_headers(pmq_rd_t *r, uint32_t count, pmq_slice_t *raw) {
    const char *start = r->p;
    for (uint32_t i = 0; i < count && !r->err; i++) {
        (void)pmq_rd_bytes(r, RLOG_BODY_BYTES_MAX);
        (void)pmq_rd_bytes(r, RLOG_BODY_BYTES_MAX);
    }
    *raw = pmq_slice(start, (size_t)(r->p - start));
    return !r->err;
}

static bool decode_publish(pmq_rd_t *r, rlog_cmd_t *c) {
    c->dest = pmq_rd_bytes(r, RLOG_NAME_BYTES_MAX);
    uint8_t flags = pmq_rd_u8(r);
    c->props.persistent = (flags & 1) != 0;
    c->props.priority = pmq_rd_u8(r);
    c->props.expires_ms = pmq_rd_u64(r);
    c->props.timestamp_ms = pmq_rd_u64(r);
    c->header_count = pmq_rd_u32(r);
    if (r->err || c->props.priority > 9 || flags > 1 ||
        c->header_count > RLOG_HEADER_COUNT_MAX) {
        return false;
    }
    if (!skip_headers(r, c->header_count, &c->headers_raw)) {
        return false;
    }
    c->body = pmq_rd_bytes(r, RLOG_BODY_BYTES_MAX);
    return !r->err;
}

static bool decode_seqs(pmq_rd_t *r, rlog_cmd_t *c) {
    c->dest = pmq_rd_bytes(r, RLOG_NAME_BYTES_MAX);
    c->dlq = pmq_rd_bytes(r, RLOG_NAME_BYTES_MAX);
    c->seq_count = pmq_rd_u32(r);
    if (r->err || c->seq_count == 0 || c->seq_count > RLOG_SEQS_MAX) {
        return false;
    }
    c->seqs_raw = pmq_rd_raw(r, (size_t)c->seq_count * 8);
    if (c->type == RLOG_CMD_DLQ && c->dlq.len == 0) {
        return false;
    }
    return !r->err;
}

static bool decode_txn(pmq_rd_t *r, rlog_cmd_t *c, int depth) {
    c->op_count = pmq_rd_u32(r);
    if (r->err || c->op_count > RLOG_TXN_OPS_MAX) {
        return false;
    }
    const char *start = r->p;
    for (uint32_t i = 0; i < c->op_count; i++) {
        pmq_slice_t op = pmq_rd_bytes(r, RLOG_BODY_BYTES_MAX * 2u);
        rlog_cmd_t inner;
        /* Nested transactions are not allowed: depth keeps decoding bounded. */
        if (r->err || depth > 0 || rlog_cmd_decode(op, &inner) != 0 ||
            inner.type == RLOG_CMD_TXN) {
            return false;
        }
    }
    c->ops_raw = pmq_slice(start, (size_t)(r->p - start));
    return true;
}

/* MQTT commands: u8 version, u8 type, string client_id, then by type:
 *   SESSION_OPEN u32 limit; SUB string pattern, u8 qos; UNSUB string pattern;
 *   QOS2_IN, QOS2_REL, OUT_REC, OUT_COMP u16 pid; OUT_BIND u64 seq, u16 pid. */
static bool decode_mqtt(pmq_rd_t *r, rlog_cmd_t *c) {
    c->client_id = pmq_rd_bytes(r, RLOG_NAME_BYTES_MAX);
    switch (c->type) {
    case RLOG_CMD_MQTT_SESSION_OPEN:
        c->limit = pmq_rd_u32(r);
        break;
    case RLOG_CMD_MQTT_SUB:
        c->pattern = pmq_rd_bytes(r, RLOG_NAME_BYTES_MAX);
        c->qos = pmq_rd_u8(r);
        break;
    case RLOG_CMD_MQTT_UNSUB:
        c->pattern = pmq_rd_bytes(r, RLOG_NAME_BYTES_MAX);
        break;
    case RLOG_CMD_MQTT_OUT_BIND:
        c->seq = pmq_rd_u64(r);
        c->pid = pmq_rd_u16(r);
        break;
    case RLOG_CMD_MQTT_SESSION_CLOSE:
        break;
    default:
        c->pid = pmq_rd_u16(r);
        break;
    }
    if (r->err || c->client_id.len == 0 || c->qos > 2) {
        return false;
    }
    bool has_pattern = c->type == RLOG_CMD_MQTT_SUB || c->type == RLOG_CMD_MQTT_UNSUB;
    bool has_pid = c->type >= RLOG_CMD_MQTT_QOS2_IN && c->type <= RLOG_CMD_MQTT_OUT_COMP;
    return (!has_pattern || c->pattern.len > 0) && (!has_pid || c->pid != 0);
}

int rlog_cmd_decode(pmq_slice_t bytes, rlog_cmd_t *out) {
    memset(out, 0, sizeof(*out));
    pmq_rd_t r = pmq_rd_init(bytes);
    uint8_t version = pmq_rd_u8(&r);
    uint8_t type = pmq_rd_u8(&r);
    if (r.err || version == 0) {
        return PMQ_ECORRUPT;
    }
    if (version > RLOG_FORMAT_VERSION) {
        return PMQ_EVERSION;
    }
    out->type = (rlog_cmd_type_t)type;
    bool ok;
    switch (out->type) {
    case RLOG_CMD_PUBLISH:
        ok = decode_publish(&r, out);
        break;
    case RLOG_CMD_ACK:
    case RLOG_CMD_DLQ:
    case RLOG_CMD_EXPIRE:
        ok = decode_seqs(&r, out);
        break;
    case RLOG_CMD_DSUB_ADD:
    case RLOG_CMD_DSUB_DEL:
        out->client_id = pmq_rd_bytes(&r, RLOG_NAME_BYTES_MAX);
        out->sub_name = pmq_rd_bytes(&r, RLOG_NAME_BYTES_MAX);
        if (out->type == RLOG_CMD_DSUB_ADD) {
            out->pattern = pmq_rd_bytes(&r, RLOG_NAME_BYTES_MAX);
        }
        ok = !r.err;
        break;
    case RLOG_CMD_PURGE:
    case RLOG_CMD_DEST_DELETE:
        out->dest = pmq_rd_bytes(&r, RLOG_NAME_BYTES_MAX);
        ok = !r.err;
        break;
    case RLOG_CMD_TXN:
        ok = decode_txn(&r, out, 0);
        break;
    case RLOG_CMD_RETAIN:
        ok = decode_publish(&r, out);
        break;
    case RLOG_CMD_MQTT_SESSION_OPEN:
    case RLOG_CMD_MQTT_SESSION_CLOSE:
    case RLOG_CMD_MQTT_SUB:
    case RLOG_CMD_MQTT_UNSUB:
    case RLOG_CMD_MQTT_QOS2_IN:
    case RLOG_CMD_MQTT_QOS2_REL:
    case RLOG_CMD_MQTT_OUT_BIND:
    case RLOG_CMD_MQTT_OUT_REC:
    case RLOG_CMD_MQTT_OUT_COMP:
        ok = decode_mqtt(&r, out);
        break;
    default:
        ok = false;
        break;
    }
    /* Trailing bytes mean the writer and reader disagree on the format. */
    return ok && !r.err && r.left == 0 ? 0 : PMQ_ECORRUPT;
}

rlog_iter_t rlog_headers_iter(const rlog_cmd_t *c) {
    return (rlog_iter_t){pmq_rd_init(c->headers_raw), c->header_count};
}

bool rlog_headers_next(rlog_iter_t *it, rlog_header_t *out) {
    if (it->left == 0) {
        return false;
    }
    it->left--;
    out->name = pmq_rd_bytes(&it->rd, RLOG_BODY_BYTES_MAX);
    out->value = pmq_rd_bytes(&it->rd, RLOG_BODY_BYTES_MAX);
    PMQ_ASSERT(!it->rd.err);
    return true;
}

rlog_iter_t rlog_seqs_iter(const rlog_cmd_t *c) {
    return (rlog_iter_t){pmq_rd_init(c->seqs_raw), c->seq_count};
}

bool rlog_seqs_next(rlog_iter_t *it, uint64_t *out) {
    if (it->left == 0) {
        return false;
    }
    it->left--;
    *out = pmq_rd_u64(&it->rd);
    PMQ_ASSERT(!it->rd.err);
    return true;
}

rlog_iter_t rlog_txn_iter(const rlog_cmd_t *c) {
    return (rlog_iter_t){pmq_rd_init(c->ops_raw), c->op_count};
}

bool rlog_txn_next(rlog_iter_t *it, pmq_slice_t *op_bytes) {
    if (it->left == 0) {
        return false;
    }
    it->left--;
    *op_bytes = pmq_rd_bytes(&it->rd, RLOG_BODY_BYTES_MAX * 2u);
    PMQ_ASSERT(!it->rd.err);
    return true;
}

const char *rlog_cmd_type_name(rlog_cmd_type_t t) {
    static const char *const names[] = {"?",      "PUBLISH", "ACK",   "DLQ",         "EXPIRE",
                                        "DSUB_ADD", "DSUB_DEL", "PURGE", "DEST_DELETE", "TXN",
                                        "MQTT_SESSION_OPEN", "MQTT_SESSION_CLOSE", "MQTT_SUB",
                                        "MQTT_UNSUB", "RETAIN", "MQTT_QOS2_IN", "MQTT_QOS2_REL",
                                        "MQTT_OUT_BIND", "MQTT_OUT_REC", "MQTT_OUT_COMP"};
    PMQ_STATIC_ASSERT(PMQ_ARRAY_LEN(names) == RLOG_CMD_TYPE_LAST + 1, "one name per type");
    return (unsigned)t < PMQ_ARRAY_LEN(names) ? names[t] : "?";
}

/* ---- MQTT commands (layout in decode_mqtt) ---- */

static int put_client(pmq_buf_t *out, rlog_cmd_type_t type, pmq_slice_t client_id) {
    PMQ_ASSERT(client_id.len > 0);
    PMQ_ASSERT(client_id.len <= RLOG_NAME_BYTES_MAX);
    int rc = put_head(out, type);
    return rc != 0 ? rc : put_name(out, client_id);
}

int rlog_encode_mqtt_session_open(pmq_buf_t *out, pmq_slice_t client_id, uint32_t limit) {
    int rc = put_client(out, RLOG_CMD_MQTT_SESSION_OPEN, client_id);
    return rc != 0 ? rc : pmq_buf_put_u32(out, limit);
}

int rlog_encode_mqtt_session_close(pmq_buf_t *out, pmq_slice_t client_id) {
    return put_client(out, RLOG_CMD_MQTT_SESSION_CLOSE, client_id);
}

int rlog_encode_mqtt_sub(pmq_buf_t *out, pmq_slice_t client_id, pmq_slice_t pattern, uint8_t qos) {
    PMQ_ASSERT(qos <= 2);
    PMQ_ASSERT(pattern.len > 0 && pattern.len <= RLOG_NAME_BYTES_MAX);
    int rc = put_client(out, RLOG_CMD_MQTT_SUB, client_id);
    if (rc == 0) {
        rc = put_name(out, pattern);
    }
    return rc != 0 ? rc : pmq_buf_put_u8(out, qos);
}

int rlog_encode_mqtt_unsub(pmq_buf_t *out, pmq_slice_t client_id, pmq_slice_t pattern) {
    PMQ_ASSERT(pattern.len > 0 && pattern.len <= RLOG_NAME_BYTES_MAX);
    int rc = put_client(out, RLOG_CMD_MQTT_UNSUB, client_id);
    return rc != 0 ? rc : put_name(out, pattern);
}

int rlog_encode_mqtt_pid(pmq_buf_t *out, rlog_cmd_type_t type, pmq_slice_t client_id,
                         uint16_t pid) {
    PMQ_ASSERT(type == RLOG_CMD_MQTT_QOS2_IN || type == RLOG_CMD_MQTT_QOS2_REL ||
               type == RLOG_CMD_MQTT_OUT_REC || type == RLOG_CMD_MQTT_OUT_COMP);
    PMQ_ASSERT(pid != 0);
    int rc = put_client(out, type, client_id);
    return rc != 0 ? rc : pmq_buf_put_u16(out, pid);
}

int rlog_encode_mqtt_out_bind(pmq_buf_t *out, pmq_slice_t client_id, uint64_t seq, uint16_t pid) {
    PMQ_ASSERT(pid != 0);
    int rc = put_client(out, RLOG_CMD_MQTT_OUT_BIND, client_id);
    if (rc == 0) {
        rc = pmq_buf_put_u64(out, seq);
    }
    return rc != 0 ? rc : pmq_buf_put_u16(out, pid);
}

int rlog_encode_retain(pmq_buf_t *out, pmq_slice_t dest, const rlog_msg_props_t *p,
                       const rlog_header_t *headers, size_t header_count, pmq_slice_t body) {
    /* The layout is PUBLISH's; only the type byte differs. */
    size_t start = out->len;
    int rc = rlog_encode_publish(out, dest, p, headers, header_count, body);
    if (rc == 0) {
        PMQ_ASSERT(out->data[start + 1] == (char)RLOG_CMD_PUBLISH);
        out->data[start + 1] = (char)RLOG_CMD_RETAIN;
    }
    return rc;
}
