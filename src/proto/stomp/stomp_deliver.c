/* MESSAGE frames: what a STOMP consumer receives. Encoded straight into the
 * connection's outbound buffer (no intermediate copy); headers are escaped per the
 * session's version. Returns PMQ_EFULL when the connection's outbound buffer is over
 * net.outbound_bytes_max, which pauses the subscription until it drains. */
#include <inttypes.h>
#include <stdio.h>

#include "stomp_int.h"

static int put(pmq_buf_t *out, stomp_version_t v, const char *name, pmq_slice_t value) {
    return stomp_encode_header(out, v, STOMP_CMD_MESSAGE, pmq_slice_cstr(name), value);
}

static int put_u64(pmq_buf_t *out, stomp_version_t v, const char *name, uint64_t x) {
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRIu64, x);
    return put(out, v, name, pmq_slice(num, (size_t)n));
}

static int encode_message(stomp_session_t *s, stomp_sub_t *sub, const broker_delivery_t *d,
                          pmq_buf_t *out) {
    const pmq_msg_t *m = d->msg;
    stomp_version_t v = s->version;
    int rc = stomp_encode_begin(out, STOMP_CMD_MESSAGE);
    if (rc == 0) {
        rc = put(out, v, "subscription", pmq_slice_cstr(sub->id));
    }
    if (rc == 0) {
        rc = put(out, v, "message-id", m->id);
    }
    if (rc == 0) {
        rc = put(out, v, "destination", d->dest);
    }
    if (rc == 0 && v >= STOMP_V1_2 && sub->ack_mode != BROKER_ACK_AUTO) {
        char ack[48];
        int n = snprintf(ack, sizeof(ack), "%u-%" PRIu64, sub->num, d->tag);
        rc = put(out, v, "ack", pmq_slice(ack, (size_t)n));
    }
    if (rc == 0 && d->redelivered) {
        rc = put(out, v, "redelivered", PMQ_SLICE_LIT("true"));
    }
    if (rc == 0 && m->persistent) {
        rc = put(out, v, "persistent", PMQ_SLICE_LIT("true"));
    }
    if (rc == 0) {
        rc = put_u64(out, v, "priority", m->priority);
    }
    if (rc == 0) {
        rc = put_u64(out, v, "expires", m->expires_ms);
    }
    if (rc == 0) {
        rc = put_u64(out, v, "timestamp", m->timestamp_ms);
    }
    if (rc == 0 && d->original_dest.len > 0) {
        rc = put(out, v, "original-destination", d->original_dest);
    }
    for (uint32_t i = 0; i < m->header_count && rc == 0; i++) {
        if (!stomp_header_is_encodable(v, STOMP_CMD_MESSAGE, m->headers[i].name,
                                       m->headers[i].value)) {
            continue; /* e.g. a newline in a value cannot reach a 1.0 client */
        }
        rc = stomp_encode_header(out, v, STOMP_CMD_MESSAGE, m->headers[i].name,
                                 m->headers[i].value);
    }
    if (rc == 0) {
        rc = stomp_encode_end(out, m->body, true);
    }
    if (rc == 0) {
        rc = stomp__frame_trailer(out);
    }
    return rc;
}

/* Topic deliveries may go this far past net.outbound_bytes_max while their publishers
 * are being held back; past it a subscriber that does not read loses messages. */
#define STOMP_TOPIC_HARD_CAP_FACTOR 4

static int deliver(void *owner, broker_sub_t *bsub, const broker_delivery_t *d) {
    stomp_session_t *s = owner;
    if (!stomp__session_alive(s)) {
        return PMQ_EFULL;
    }
    if (net_conn_is_full(s->conn) &&
        (!d->soft_limit || net_conn_outbound_bytes(s->conn) >=
                               STOMP_TOPIC_HARD_CAP_FACTOR * net_conn_outbound_max(s->conn))) {
        return PMQ_EFULL;
    }
    stomp_sub_t *sub = broker_sub_user(bsub);
    pmq_buf_t *out = net_conn_outbuf(s->conn);
    size_t before = out->len;
    int rc = encode_message(s, sub, d, out);
    if (rc != 0) {
        out->len = before; /* never leave half a frame in the stream */
        return PMQ_EFULL;
    }
    net_conn_commit(s->conn);
    s->server->st.frames_out++;
    return net_conn_is_full(s->conn) ? PMQ_EAGAIN : 0;
}

const broker_consumer_ops_t stomp__consumer_ops = {deliver};
