/* Wire encoding of Paxos messages and configs: pure, bounds-checked, CRC'd, versioned.
 *
 * Frame: "PX", version u8, type u8, body length u32, CRC-32C(body) u32, body. All
 * integers are big-endian. The decoder trusts nothing: every count and length is
 * checked against the input and the PAXOS_* limits, and trailing bytes are an error.
 * The driver's own frame (cluster uuid, authentication) wraps this; see CLUSTER §2.4. */
#include "paxos_int.h"

#include "paxmq/buf.h"

#define HDR_BYTES 12
#define MEMBER_BYTES 20
#define BALLOT_BYTES 12
#define ENTRY_FIXED_BYTES (8 + BALLOT_BYTES + 1 + 4)

enum {
    F_PRE_VOTE = 1,
    F_TRANSFER = 2,
    F_GRANTED = 4,
    F_NEED_SNAP = 8,
    F_OK = 16,
};

static size_t config_size(const paxos_config_t *c) {
    return 4 + MEMBER_BYTES * ((size_t)c->n_voters + c->n_new + c->n_learners);
}

static size_t entries_size(const paxos_msg_t *m) {
    size_t n = 4;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        n += ENTRY_FIXED_BYTES + m->entries[i].data.len;
    }
    return n;
}

static size_t body_size(const paxos_msg_t *m) {
    size_t n = 2 * MEMBER_BYTES + BALLOT_BYTES + 8;
    switch (m->type) {
    case PAXOS_MSG_PREPARE:
        return n + 1 + BALLOT_BYTES + 8;
    case PAXOS_MSG_PROMISE:
        return n + 1 + BALLOT_BYTES + 3 * 8 + entries_size(m);
    case PAXOS_MSG_APPEND:
        return n + 8 + BALLOT_BYTES + 8 + entries_size(m);
    case PAXOS_MSG_APPEND_RESP:
        return n + 1 + BALLOT_BYTES + 4 * 8;
    case PAXOS_MSG_SNAPSHOT:
        return n + 8 + BALLOT_BYTES + config_size(&m->snap->config) + 4 + m->data.len;
    case PAXOS_MSG_TIMEOUT_NOW:
        return n;
    default:
        return 0;
    }
}

size_t paxos_msg_encoded_size(const paxos_msg_t *m) {
    if (m->n_entries > PAXOS_MSG_ENTRIES_MAX) {
        return 0;
    }
    if (m->type == PAXOS_MSG_SNAPSHOT && m->snap == NULL) {
        return 0;
    }
    size_t body = body_size(m);
    if (body == 0 || body > PAXOS_MSG_BYTES_MAX - HDR_BYTES) {
        return 0;
    }
    return HDR_BYTES + body;
}

/* ---- writer: the buffer is reserved up front, so puts cannot fail ---- */

static void put8(pmq_buf_t *b, uint8_t v) { b->data[b->len++] = (char)v; }
static void put32(pmq_buf_t *b, uint32_t v) {
    pmq_store_u32be(b->data + b->len, v);
    b->len += 4;
}
static void put64(pmq_buf_t *b, uint64_t v) {
    pmq_store_u64be(b->data + b->len, v);
    b->len += 8;
}
static void put_raw(pmq_buf_t *b, const void *p, size_t n) {
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
}
static void put_member(pmq_buf_t *b, paxos_member_t m) {
    put32(b, m.id);
    put64(b, m.inc.hi);
    put64(b, m.inc.lo);
}
static void put_ballot(pmq_buf_t *b, paxos_ballot_t x) {
    put64(b, x.round);
    put32(b, x.rank);
}
static void put_config(pmq_buf_t *b, const paxos_config_t *c) {
    put8(b, c->joint ? 1 : 0);
    put8(b, c->n_voters);
    for (uint8_t i = 0; i < c->n_voters; i++) {
        put_member(b, c->voters[i]);
    }
    put8(b, c->n_new);
    for (uint8_t i = 0; i < c->n_new; i++) {
        put_member(b, c->new_voters[i]);
    }
    put8(b, c->n_learners);
    for (uint8_t i = 0; i < c->n_learners; i++) {
        put_member(b, c->learners[i]);
    }
}
static void put_entries(pmq_buf_t *b, const paxos_msg_t *m) {
    put32(b, m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const paxos_entry_t *e = &m->entries[i];
        put64(b, e->index);
        put_ballot(b, e->ballot);
        put8(b, e->type);
        put32(b, (uint32_t)e->data.len);
        put_raw(b, e->data.ptr, e->data.len);
    }
}

static void put_body(pmq_buf_t *b, const paxos_msg_t *m) {
    put_member(b, m->from);
    put_member(b, m->to);
    put_ballot(b, m->ballot);
    put64(b, m->commit);
    switch (m->type) {
    case PAXOS_MSG_PREPARE:
        put8(b, (m->pre_vote ? F_PRE_VOTE : 0) | (m->transfer ? F_TRANSFER : 0));
        put_ballot(b, m->transfer_ballot);
        put64(b, m->from_index);
        break;
    case PAXOS_MSG_PROMISE:
        put8(b, (m->pre_vote ? F_PRE_VOTE : 0) | (m->granted ? F_GRANTED : 0) |
                    (m->need_snapshot ? F_NEED_SNAP : 0));
        put_ballot(b, m->promised);
        put64(b, m->from_index);
        put64(b, m->last_index);
        put64(b, m->covered_to);
        put_entries(b, m);
        break;
    case PAXOS_MSG_APPEND:
        put64(b, m->prev_index);
        put_ballot(b, m->prev_ballot);
        put64(b, m->hb_seq);
        put_entries(b, m);
        break;
    case PAXOS_MSG_APPEND_RESP:
        put8(b, m->ok ? F_OK : 0);
        put_ballot(b, m->promised);
        put64(b, m->match_index);
        put64(b, m->reject_index);
        put64(b, m->hint_index);
        put64(b, m->hb_seq);
        break;
    case PAXOS_MSG_SNAPSHOT:
        put64(b, m->snap->index);
        put_ballot(b, m->snap->ballot);
        put_config(b, &m->snap->config);
        put32(b, (uint32_t)m->data.len);
        put_raw(b, m->data.ptr, m->data.len);
        break;
    default:
        break;
    }
}

int paxos_msg_encode(const paxos_msg_t *m, pmq_buf_t *out) {
    size_t total = paxos_msg_encoded_size(m);
    if (total == 0) {
        return PMQ_ETOOBIG;
    }
    int rc = pmq_buf_reserve(out, total);
    if (rc != 0) {
        return rc;
    }
    size_t start = out->len;
    put8(out, 'P');
    put8(out, 'X');
    put8(out, PAXOS_WIRE_VERSION);
    put8(out, m->type);
    put32(out, (uint32_t)(total - HDR_BYTES));
    put32(out, 0); /* CRC, filled below */
    put_body(out, m);
    PMQ_ASSERT(out->len - start == total);
    uint32_t crc = pmq_crc32c(0, out->data + start + HDR_BYTES, total - HDR_BYTES);
    pmq_store_u32be(out->data + start + 8, crc);
    return 0;
}

int paxos_config_encode(const paxos_config_t *c, pmq_buf_t *out) {
    if (!paxos_config_is_valid(c)) {
        return PMQ_EINVAL;
    }
    int rc = pmq_buf_reserve(out, config_size(c));
    if (rc != 0) {
        return rc;
    }
    size_t start = out->len;
    put_config(out, c);
    PMQ_ASSERT(out->len - start == config_size(c));
    return 0;
}

/* ---- reader ---- */

static paxos_member_t rd_member(pmq_rd_t *r) {
    paxos_member_t m;
    m.id = pmq_rd_u32(r);
    m.inc.hi = pmq_rd_u64(r);
    m.inc.lo = pmq_rd_u64(r);
    return m;
}
static paxos_ballot_t rd_ballot(pmq_rd_t *r) {
    paxos_ballot_t b;
    b.round = pmq_rd_u64(r);
    b.rank = pmq_rd_u32(r);
    return b;
}

static bool rd_members(pmq_rd_t *r, paxos_member_t *set, uint8_t *n_out, uint8_t max) {
    uint8_t n = pmq_rd_u8(r);
    if (r->err || n > max) {
        return false;
    }
    for (uint8_t i = 0; i < n; i++) {
        set[i] = rd_member(r);
    }
    *n_out = n;
    return !r->err;
}

static bool rd_config(pmq_rd_t *r, paxos_config_t *c) {
    memset(c, 0, sizeof(*c));
    uint8_t joint = pmq_rd_u8(r);
    if (r->err || joint > 1) {
        return false;
    }
    c->joint = joint == 1;
    if (!rd_members(r, c->voters, &c->n_voters, PAXOS_VOTERS_MAX) ||
        !rd_members(r, c->new_voters, &c->n_new, PAXOS_VOTERS_MAX) ||
        !rd_members(r, c->learners, &c->n_learners, PAXOS_LEARNERS_MAX)) {
        return false;
    }
    return paxos_config_is_valid(c);
}

int paxos_config_decode(pmq_slice_t in, paxos_config_t *out) {
    pmq_rd_t r = pmq_rd_init(in);
    if (!rd_config(&r, out) || r.left != 0) {
        return PMQ_EPROTO;
    }
    return 0;
}

static bool rd_entries(pmq_rd_t *r, paxos_msg_dec_t *d) {
    uint32_t n = pmq_rd_u32(r);
    if (r->err || n > PAXOS_MSG_ENTRIES_MAX) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        paxos_entry_t *e = &d->entries[i];
        e->index = pmq_rd_u64(r);
        e->ballot = rd_ballot(r);
        e->type = pmq_rd_u8(r);
        e->data = pmq_rd_bytes(r, PAXOS_MSG_BYTES_MAX);
        if (r->err || e->type < PAXOS_ENTRY_NOOP || e->type > PAXOS_ENTRY_CMD) {
            return false;
        }
    }
    d->msg.n_entries = n;
    d->msg.entries = n > 0 ? d->entries : NULL;
    return true;
}

static bool rd_body(pmq_rd_t *r, uint8_t type, paxos_msg_dec_t *d) {
    paxos_msg_t *m = &d->msg;
    m->type = type;
    m->from = rd_member(r);
    m->to = rd_member(r);
    m->ballot = rd_ballot(r);
    m->commit = pmq_rd_u64(r);
    uint8_t f = 0;
    switch (type) {
    case PAXOS_MSG_PREPARE:
        f = pmq_rd_u8(r);
        m->pre_vote = (f & F_PRE_VOTE) != 0;
        m->transfer = (f & F_TRANSFER) != 0;
        m->transfer_ballot = rd_ballot(r);
        m->from_index = pmq_rd_u64(r);
        return !r->err && (f & ~(F_PRE_VOTE | F_TRANSFER)) == 0;
    case PAXOS_MSG_PROMISE:
        f = pmq_rd_u8(r);
        m->pre_vote = (f & F_PRE_VOTE) != 0;
        m->granted = (f & F_GRANTED) != 0;
        m->need_snapshot = (f & F_NEED_SNAP) != 0;
        m->promised = rd_ballot(r);
        m->from_index = pmq_rd_u64(r);
        m->last_index = pmq_rd_u64(r);
        m->covered_to = pmq_rd_u64(r);
        return rd_entries(r, d) && (f & ~(F_PRE_VOTE | F_GRANTED | F_NEED_SNAP)) == 0;
    case PAXOS_MSG_APPEND:
        m->prev_index = pmq_rd_u64(r);
        m->prev_ballot = rd_ballot(r);
        m->hb_seq = pmq_rd_u64(r);
        return rd_entries(r, d);
    case PAXOS_MSG_APPEND_RESP:
        f = pmq_rd_u8(r);
        m->ok = (f & F_OK) != 0;
        m->promised = rd_ballot(r);
        m->match_index = pmq_rd_u64(r);
        m->reject_index = pmq_rd_u64(r);
        m->hint_index = pmq_rd_u64(r);
        m->hb_seq = pmq_rd_u64(r);
        return !r->err && (f & ~F_OK) == 0;
    case PAXOS_MSG_SNAPSHOT:
        d->snap.index = pmq_rd_u64(r);
        d->snap.ballot = rd_ballot(r);
        if (!rd_config(r, &d->snap.config)) {
            return false;
        }
        m->snap = &d->snap;
        m->data = pmq_rd_bytes(r, PAXOS_MSG_BYTES_MAX);
        return !r->err;
    case PAXOS_MSG_TIMEOUT_NOW:
        return !r->err;
    default:
        return false;
    }
}

int paxos_msg_decode(pmq_slice_t in, paxos_msg_dec_t *out) {
    memset(&out->msg, 0, sizeof(out->msg));
    if (in.len < HDR_BYTES) {
        return PMQ_EPROTO;
    }
    const unsigned char *h = (const unsigned char *)in.ptr;
    if (h[0] != 'P' || h[1] != 'X') {
        return PMQ_EPROTO;
    }
    if (h[2] != PAXOS_WIRE_VERSION) {
        return PMQ_EVERSION;
    }
    uint32_t body_len = pmq_load_u32be(h + 4);
    if (body_len > PAXOS_MSG_BYTES_MAX - HDR_BYTES) {
        return PMQ_ETOOBIG;
    }
    if (in.len != HDR_BYTES + (size_t)body_len) {
        return PMQ_EPROTO;
    }
    pmq_slice_t body = pmq_slice(in.ptr + HDR_BYTES, body_len);
    if (pmq_crc32c(0, body.ptr, body.len) != pmq_load_u32be(h + 8)) {
        return PMQ_EPROTO;
    }
    pmq_rd_t r = pmq_rd_init(body);
    if (!rd_body(&r, h[3], out) || r.err || r.left != 0) {
        memset(&out->msg, 0, sizeof(out->msg));
        return PMQ_EPROTO;
    }
    return 0;
}
