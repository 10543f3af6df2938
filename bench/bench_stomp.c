/* paxmq-bench's own client-side STOMP 1.2: the few frames a load generator sends and
 * a parser for the frames a broker returns (CONNECTED, MESSAGE, RECEIPT, ERROR).
 *
 * Deliberately independent of src/proto/stomp so the tool measures any broker the same
 * way. The parser never copies: it returns slices into the caller's read buffer. Header
 * values are kept escaped (STOMP 1.2 "Value Encoding"), which is exactly what an ACK
 * must echo back. */
#include <stdio.h>

#include "bench_int.h"
#include "paxmq/assert.h"

static pmq_slice_t strip_cr(const char *p, size_t n) {
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    return pmq_slice(p, n);
}

static void header_take(bench_stomp_frame_t *h, pmq_slice_t line, uint32_t *seen_mask) {
    const char *colon = memchr(line.ptr, ':', line.len);
    if (colon == NULL) {
        return;
    }
    pmq_slice_t key = pmq_slice(line.ptr, (size_t)(colon - line.ptr));
    pmq_slice_t val = pmq_slice(colon + 1, line.len - key.len - 1);
    static const char *const names[] = {"content-length", "receipt-id", "ack", "message-id",
                                        "message", "receipt", "id", "destination"};
    pmq_slice_t *slots[] = {&h->content_length, &h->receipt_id, &h->ack,     &h->message_id,
                            &h->message,        &h->receipt,    &h->id,      &h->destination};
    PMQ_STATIC_ASSERT(PMQ_ARRAY_LEN(names) == PMQ_ARRAY_LEN(slots), "one slot per name");
    for (size_t i = 0; i < PMQ_ARRAY_LEN(names); i++) {
        /* STOMP 1.2: when a header repeats, only the first occurrence counts. */
        if (pmq_slice_eq_cstr(key, names[i]) && ((*seen_mask >> i) & 1u) == 0) {
            *slots[i] = val;
            *seen_mask |= 1u << i;
            h->has_content_length |= i == 0;
            return;
        }
    }
}

/* Scans command and header lines. Returns the offset just past the blank line, 0 when
 * the blank line has not arrived yet. */
static size_t scan_head(pmq_slice_t in, pmq_slice_t *cmd, bench_stomp_frame_t *h) {
    size_t off = 0;
    uint32_t seen_mask = 0;
    bool first = true;
    while (off < in.len) {
        const char *nl = memchr(in.ptr + off, '\n', in.len - off);
        if (nl == NULL) {
            return 0;
        }
        size_t line_len = (size_t)(nl - (in.ptr + off));
        pmq_slice_t line = strip_cr(in.ptr + off, line_len);
        off += line_len + 1;
        if (first) {
            *cmd = line;
            first = false;
        } else if (line.len == 0) {
            return off;
        } else {
            header_take(h, line, &seen_mask);
        }
    }
    return 0;
}

static void classify(pmq_slice_t cmd, const bench_stomp_frame_t *h, pmq_slice_t body,
                     bench_ev_t *ev) {
    if (pmq_slice_eq_cstr(cmd, "MESSAGE")) {
        ev->kind = BENCH_EV_MESSAGE;
        ev->body = body;
        ev->ack_id = h->ack.len > 0 ? h->ack : h->message_id;
    } else if (pmq_slice_eq_cstr(cmd, "RECEIPT")) {
        bool sub = h->receipt_id.len > 0 && h->receipt_id.ptr[0] == 's';
        ev->kind = sub ? BENCH_EV_SUBSCRIBED : BENCH_EV_PUBACK;
    } else if (pmq_slice_eq_cstr(cmd, "CONNECTED")) {
        ev->kind = BENCH_EV_CONNECTED;
    } else if (pmq_slice_eq_cstr(cmd, "ERROR")) {
        ev->kind = BENCH_EV_ERROR;
        ev->text = h->message.len > 0 ? h->message : body;
    } else {
        ev->kind = BENCH_EV_NONE;
    }
}

int bench_stomp_frame_parse(pmq_slice_t in, size_t *used, bench_stomp_frame_t *f) {
    *f = (bench_stomp_frame_t){0};
    size_t skip = 0;
    while (skip < in.len && (in.ptr[skip] == '\n' || in.ptr[skip] == '\r')) {
        skip++; /* heart-beat EOLs between frames */
    }
    *used = skip;
    pmq_slice_t rest = pmq_slice(in.ptr + skip, in.len - skip);
    if (rest.len == 0) {
        return 0;
    }
    size_t body_off = scan_head(rest, &f->command, f);
    if (body_off == 0) {
        return rest.len > BENCH_FRAME_MAX ? PMQ_ETOOBIG : 0;
    }
    size_t body_len = 0;
    if (f->has_content_length) {
        uint64_t cl = 0;
        if (!pmq_slice_to_u64(f->content_length, BENCH_FRAME_MAX, &cl)) {
            return PMQ_EPROTO;
        }
        if (rest.len < body_off + cl + 1) {
            return 0;
        }
        if (rest.ptr[body_off + cl] != '\0') {
            return PMQ_EPROTO;
        }
        body_len = (size_t)cl;
    } else {
        const char *nul = memchr(rest.ptr + body_off, '\0', rest.len - body_off);
        if (nul == NULL) {
            return rest.len > BENCH_FRAME_MAX ? PMQ_ETOOBIG : 0;
        }
        body_len = (size_t)(nul - (rest.ptr + body_off));
    }
    f->body = pmq_slice(rest.ptr + body_off, body_len);
    *used = skip + body_off + body_len + 1;
    return 1;
}

int bench_stomp_parse(pmq_slice_t in, size_t *used, bench_ev_t *ev) {
    *ev = (bench_ev_t){0};
    bench_stomp_frame_t f;
    int rc = bench_stomp_frame_parse(in, used, &f);
    if (rc == 1) {
        classify(f.command, &f, f.body, ev);
    }
    return rc;
}

int bench_stomp_connect(pmq_buf_t *b, const bench_opts_t *o) {
    int rc = pmq_buf_appendf(b, "CONNECT\naccept-version:1.2\nhost:%s\nheart-beat:0,0\n",
                             o->vhost);
    if (rc == 0 && o->user[0] != '\0') {
        rc = pmq_buf_appendf(b, "login:%s\npasscode:%s\n", o->user, o->pass);
    }
    if (rc == 0) {
        rc = pmq_buf_append(b, "\n", 2); /* blank line and the NUL terminator */
    }
    return rc;
}

int bench_stomp_subscribe(pmq_buf_t *b, uint32_t id, const char *dest, bool client_individual,
                          uint32_t prefetch) {
    int rc = pmq_buf_appendf(b, "SUBSCRIBE\nid:%u\ndestination:%s\nack:%s\nreceipt:s%u\n", id,
                             dest, client_individual ? "client-individual" : "auto", id);
    if (rc == 0 && prefetch > 0) {
        /* ActiveMQ and RabbitMQ spell the consumer prefetch differently. */
        rc = pmq_buf_appendf(b, "activemq.prefetchSize:%u\nprefetch-count:%u\n", prefetch,
                             prefetch);
    }
    if (rc == 0) {
        rc = pmq_buf_append(b, "\n", 2);
    }
    return rc;
}

int bench_stomp_ack(pmq_buf_t *b, pmq_slice_t ack_id) {
    int rc = pmq_buf_reserve(b, ack_id.len + 10);
    if (rc != 0) {
        return rc;
    }
    memcpy(b->data + b->len, "ACK\nid:", 7);
    memcpy(b->data + b->len + 7, ack_id.ptr, ack_id.len);
    memcpy(b->data + b->len + 7 + ack_id.len, "\n\n", 3); /* with the NUL */
    b->len += ack_id.len + 10;
    return 0;
}

int bench_stomp_disconnect(pmq_buf_t *b) { return pmq_buf_append(b, "DISCONNECT\n\n", 13); }

int bench_stomp_send_head(pmq_buf_t *b, const char *dest, uint32_t size, bool persistent) {
    return pmq_buf_appendf(b, "SEND\ndestination:%s\ncontent-length:%u\n%s", dest, size,
                           persistent ? "persistent:true\n" : "");
}
