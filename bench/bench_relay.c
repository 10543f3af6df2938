/* `paxmq-bench relay`: a trivial single-threaded broker used to measure the load tool's
 * own ceiling (bench/README.md). It is NOT a broker: every published message goes to
 * every subscriber of any destination, nothing is stored, receipts and PUBACKs are sent
 * on arrival, acks are ignored. What it does do the way a good broker should: large
 * reads, one write per connection per loop turn, and no per-message system call.
 *
 * One thread, level-triggered epoll. A connection that fails is marked (fd = -1 in its
 * slot is never reused before the end of the loop turn) and freed at a safe point. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench_int.h"
#include "paxmq/assert.h"

#define RELAY_SUBS_MAX 1024u
#define RELAY_RBUF (256u << 10)
#define RELAY_OUT_HIGH (8u << 20) /* stop reading publishers above this backlog */
#define RELAY_LISTENER UINT64_MAX

typedef struct relay_conn {
    int fd;
    bool subscriber;
    bool dead;
    uint8_t sub_qos;
    uint16_t next_pid;
    char sub_id[64];
    char *rbuf;
    size_t rlen;
    pmq_buf_t out;
    size_t out_off;
    uint32_t mask;
} relay_conn_t;

typedef struct relay {
    const bench_opts_t *o;
    int ep;
    int lfd;
    relay_conn_t **slots;
    uint32_t nslots;
    uint32_t subs[RELAY_SUBS_MAX];
    uint32_t nsubs;
    uint64_t msg_id;
    uint64_t published;
    bool congested;
} relay_t;

/* --relay-drop N: the self-test's broken broker, which still acknowledges what it drops. */
static bool relay_drops(relay_t *r) {
    r->published++;
    return r->o->relay_drop > 0 && r->published % r->o->relay_drop == 0;
}

static volatile sig_atomic_t relay_stop_flag; /* set by SIGINT/SIGTERM only */

static void relay_on_signal(int sig) {
    (void)sig;
    relay_stop_flag = 1;
}

static int append_u64(pmq_buf_t *b, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return pmq_buf_append(b, tmp + sizeof(tmp) - n, n);
}

#define APPEND_LIT(b, s) pmq_buf_append((b), (s), sizeof(s) - 1)

static int stomp_receipt(relay_conn_t *c, pmq_slice_t receipt) {
    if (receipt.len == 0) {
        return 0;
    }
    int rc = APPEND_LIT(&c->out, "RECEIPT\nreceipt-id:");
    rc = rc != 0 ? rc : pmq_buf_append_slice(&c->out, receipt);
    return rc != 0 ? rc : pmq_buf_append(&c->out, "\n\n", 3);
}

static int stomp_message(relay_t *r, relay_conn_t *s, const bench_stomp_frame_t *f) {
    uint64_t id = ++r->msg_id;
    pmq_buf_t *b = &s->out;
    int rc = pmq_buf_reserve(b, f->body.len + f->destination.len + 160);
    rc = rc != 0 ? rc : APPEND_LIT(b, "MESSAGE\nsubscription:");
    rc = rc != 0 ? rc : pmq_buf_append_cstr(b, s->sub_id);
    rc = rc != 0 ? rc : APPEND_LIT(b, "\nmessage-id:");
    rc = rc != 0 ? rc : append_u64(b, id);
    rc = rc != 0 ? rc : APPEND_LIT(b, "\ndestination:");
    rc = rc != 0 ? rc : pmq_buf_append_slice(b, f->destination);
    rc = rc != 0 ? rc : APPEND_LIT(b, "\nack:");
    rc = rc != 0 ? rc : append_u64(b, id);
    rc = rc != 0 ? rc : APPEND_LIT(b, "\ncontent-length:");
    rc = rc != 0 ? rc : append_u64(b, f->body.len);
    rc = rc != 0 ? rc : APPEND_LIT(b, "\n\n");
    rc = rc != 0 ? rc : pmq_buf_append_slice(b, f->body);
    return rc != 0 ? rc : pmq_buf_append(b, "", 1);
}

static int subs_add(relay_t *r, relay_conn_t *c, uint32_t slot) {
    if (c->subscriber) {
        return 0;
    }
    if (r->nsubs == RELAY_SUBS_MAX) {
        return PMQ_EFULL;
    }
    c->subscriber = true;
    r->subs[r->nsubs++] = slot;
    return 0;
}

static int stomp_frame(relay_t *r, relay_conn_t *c, uint32_t slot, const bench_stomp_frame_t *f) {
    pmq_slice_t cmd = f->command;
    if (pmq_slice_eq_cstr(cmd, "SEND")) {
        bool drop = relay_drops(r);
        for (uint32_t i = 0; i < r->nsubs && !drop; i++) {
            relay_conn_t *s = r->slots[r->subs[i]];
            int rc = s->dead ? 0 : stomp_message(r, s, f);
            if (rc != 0) {
                return rc;
            }
        }
        return stomp_receipt(c, f->receipt);
    }
    if (pmq_slice_eq_cstr(cmd, "CONNECT") || pmq_slice_eq_cstr(cmd, "STOMP")) {
        return APPEND_LIT(&c->out, "CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0");
    }
    if (pmq_slice_eq_cstr(cmd, "SUBSCRIBE")) {
        snprintf(c->sub_id, sizeof(c->sub_id), "%.*s", (int)PMQ_MIN(f->id.len, 63), f->id.ptr);
        int rc = subs_add(r, c, slot);
        return rc != 0 ? rc : stomp_receipt(c, f->receipt);
    }
    if (pmq_slice_eq_cstr(cmd, "DISCONNECT")) {
        c->dead = true;
        return 0;
    }
    return stomp_receipt(c, f->receipt); /* ACK, NACK, UNSUBSCRIBE, ...: nothing to do */
}

static int mqtt_forward(relay_t *r, relay_conn_t *s, uint8_t qos, pmq_slice_t topic,
                        pmq_slice_t payload) {
    uint8_t q = PMQ_MIN(qos, s->sub_qos);
    uint32_t rem = (uint32_t)(2 + topic.len + (q > 0 ? 2 : 0) + payload.len);
    int rc = pmq_buf_reserve(&s->out, rem + 5);
    rc = rc != 0 ? rc : bench_mqtt_fixed_header(&s->out, (uint8_t)(0x30u | (uint8_t)(q << 1)), rem);
    rc = rc != 0 ? rc : pmq_buf_put_u16(&s->out, (uint16_t)topic.len);
    rc = rc != 0 ? rc : pmq_buf_append_slice(&s->out, topic);
    if (rc == 0 && q > 0) {
        s->next_pid = (uint16_t)(s->next_pid % 65535u + 1u);
        rc = pmq_buf_put_u16(&s->out, s->next_pid);
    }
    (void)r;
    return rc != 0 ? rc : pmq_buf_append_slice(&s->out, payload);
}

static int mqtt_publish(relay_t *r, relay_conn_t *c, uint8_t byte0, pmq_slice_t body) {
    pmq_rd_t rd = pmq_rd_init(body);
    uint16_t tlen = pmq_rd_u16(&rd);
    pmq_slice_t topic = pmq_rd_raw(&rd, tlen);
    uint8_t qos = (uint8_t)((byte0 >> 1) & 3u);
    uint16_t pid = qos > 0 ? pmq_rd_u16(&rd) : 0;
    if (rd.err) {
        return PMQ_EPROTO;
    }
    pmq_slice_t payload = pmq_slice(rd.p, rd.left);
    bool drop = relay_drops(r);
    for (uint32_t i = 0; i < r->nsubs && !drop; i++) {
        relay_conn_t *s = r->slots[r->subs[i]];
        int rc = s->dead ? 0 : mqtt_forward(r, s, qos, topic, payload);
        if (rc != 0) {
            return rc;
        }
    }
    return qos > 0 ? bench_mqtt_puback(&c->out, pid) : 0;
}

static int mqtt_packet(relay_t *r, relay_conn_t *c, uint32_t slot, uint8_t byte0,
                       pmq_slice_t body) {
    switch (byte0 >> 4) {
    case 1: /* CONNECT */
        return pmq_buf_append(&c->out, "\x20\x02\x00\x00", 4);
    case 3:
        return mqtt_publish(r, c, byte0, body);
    case 8: { /* SUBSCRIBE: packet id, then (filter, qos) pairs; grant what was asked */
        if (body.len < 5) {
            return PMQ_EPROTO;
        }
        c->sub_qos = (uint8_t)PMQ_MIN((uint8_t)body.ptr[body.len - 1], 1);
        int rc = subs_add(r, c, slot);
        unsigned char ack[5] = {0x90, 0x03, (unsigned char)body.ptr[0], (unsigned char)body.ptr[1],
                                c->sub_qos};
        return rc != 0 ? rc : pmq_buf_append(&c->out, ack, sizeof(ack));
    }
    case 12: /* PINGREQ */
        return pmq_buf_append(&c->out, "\xd0\x00", 2);
    case 14: /* DISCONNECT */
        c->dead = true;
        return 0;
    default: /* PUBACK and the rest: nothing to do */
        return 0;
    }
}

static int handle_input(relay_t *r, relay_conn_t *c, uint32_t slot) {
    size_t off = 0;
    int rc = 0;
    while (rc == 0 && off < c->rlen && !c->dead) {
        size_t used = 0;
        pmq_slice_t in = pmq_slice(c->rbuf + off, c->rlen - off);
        int got;
        if (r->o->proto == BENCH_PROTO_STOMP) {
            bench_stomp_frame_t f;
            got = bench_stomp_frame_parse(in, &used, &f);
            rc = got == 1 ? stomp_frame(r, c, slot, &f) : 0;
        } else {
            uint8_t byte0 = 0;
            pmq_slice_t body = {0};
            got = bench_mqtt_packet_parse(in, &used, &byte0, &body);
            rc = got == 1 ? mqtt_packet(r, c, slot, byte0, body) : 0;
        }
        off += used;
        if (got <= 0) {
            rc = got;
            break;
        }
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
    return rc;
}

static int relay_flush(relay_conn_t *c) {
    size_t pending = c->out.len - c->out_off;
    if (pending == 0 || c->dead) {
        return 0;
    }
    ssize_t n = send(c->fd, c->out.data + c->out_off, pending, MSG_NOSIGNAL);
    if (n < 0) {
        return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
    }
    c->out_off += (size_t)n;
    if (c->out_off == c->out.len) {
        c->out.len = 0;
        c->out_off = 0;
    }
    return 0;
}

static void relay_set_mask(relay_t *r, relay_conn_t *c, uint32_t slot) {
    bool pending = c->out.len > c->out_off;
    uint32_t mask = (r->congested && !c->subscriber) ? 0u : (uint32_t)EPOLLIN;
    mask |= pending ? (uint32_t)EPOLLOUT : 0u;
    if (mask != c->mask && !c->dead) {
        struct epoll_event ev = {.events = mask, .data.u64 = slot};
        if (epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0) {
            c->mask = mask;
        }
    }
}

static void relay_accept(relay_t *r) {
    for (int i = 0; i < 256; i++) {
        int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        uint32_t slot = 0;
        while (slot < r->nslots && r->slots[slot] != NULL) {
            slot++;
        }
        relay_conn_t *c = slot < BENCH_CONNS_MAX ? pmq_calloc(1, sizeof(*c)) : NULL;
        char *rbuf = c != NULL ? pmq_malloc(RELAY_RBUF) : NULL;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = slot};
        if (rbuf == NULL || epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            pmq_free(rbuf);
            pmq_free(c);
            close(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        *c = (relay_conn_t){.fd = fd, .rbuf = rbuf, .mask = EPOLLIN};
        pmq_buf_init(&c->out, 256u << 20);
        r->slots[slot] = c;
        r->nslots = PMQ_MAX(r->nslots, slot + 1);
    }
}

static void relay_conn_io(relay_t *r, uint32_t slot, uint32_t events) {
    relay_conn_t *c = r->slots[slot];
    if (c == NULL || c->dead) {
        return;
    }
    int rc = 0;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, RELAY_RBUF - c->rlen, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            rc = PMQ_ECLOSED;
        } else if (n > 0) {
            c->rlen += (size_t)n;
            rc = handle_input(r, c, slot);
        }
        if (rc == 0 && c->rlen == RELAY_RBUF) {
            rc = PMQ_ETOOBIG; /* a frame larger than the read buffer: not for a relay */
        }
    }
    if (rc != 0) {
        c->dead = true;
    }
}

/* Frees the connections marked dead during this loop turn (safe point). */
static void relay_reap(relay_t *r) {
    for (uint32_t i = 0; i < r->nsubs;) {
        if (r->slots[r->subs[i]]->dead) {
            r->subs[i] = r->subs[--r->nsubs];
        } else {
            i++;
        }
    }
    for (uint32_t s = 0; s < r->nslots; s++) {
        relay_conn_t *c = r->slots[s];
        if (c != NULL && c->dead) {
            close(c->fd);
            pmq_buf_close(&c->out);
            pmq_free(c->rbuf);
            pmq_free(c);
            r->slots[s] = NULL;
        }
    }
}

/* Flushes every connection with pending output once per loop turn, updates the
 * congestion state (publishers are not read while a subscriber is far behind). */
static void relay_turn_end(relay_t *r) {
    bool congested = false;
    for (uint32_t s = 0; s < r->nslots; s++) {
        relay_conn_t *c = r->slots[s];
        if (c != NULL && !c->dead && relay_flush(c) != 0) {
            c->dead = true;
        }
        if (c != NULL && c->subscriber && c->out.len - c->out_off > RELAY_OUT_HIGH) {
            congested = true;
        }
    }
    r->congested = congested;
    for (uint32_t s = 0; s < r->nslots; s++) {
        if (r->slots[s] != NULL) {
            relay_set_mask(r, r->slots[s], s);
        }
    }
    relay_reap(r);
}

static int relay_listen(relay_t *r) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    if (getaddrinfo(r->o->host, r->o->port, &hints, &res) != 0 || res == NULL) {
        return PMQ_EINVAL;
    }
    int rc = 0;
    r->lfd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (r->lfd < 0 || setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(r->lfd, res->ai_addr, res->ai_addrlen) != 0 || listen(r->lfd, 4096) != 0) {
        rc = -errno;
    }
    freeaddrinfo(res);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = RELAY_LISTENER};
    if (rc == 0 && epoll_ctl(r->ep, EPOLL_CTL_ADD, r->lfd, &ev) != 0) {
        rc = -errno;
    }
    return rc;
}

int bench_relay_run(const bench_opts_t *o) {
    relay_t r = {.o = o, .ep = epoll_create1(EPOLL_CLOEXEC), .lfd = -1};
    r.slots = pmq_calloc(BENCH_CONNS_MAX, sizeof(*r.slots));
    int rc = r.ep < 0 || r.slots == NULL ? PMQ_ENOMEM : relay_listen(&r);
    if (rc != 0) {
        fprintf(stderr, "paxmq-bench relay: cannot listen on %s:%s: %s\n", o->host, o->port,
                pmq_strerror(rc));
        goto out;
    }
    signal(SIGINT, relay_on_signal);
    signal(SIGTERM, relay_on_signal);
    fprintf(stderr, "paxmq-bench relay: %s on %s:%s for at most %.0f s (Ctrl-C stops)\n",
            o->proto == BENCH_PROTO_MQTT ? "mqtt" : "stomp", o->host, o->port, o->duration_s);
    uint64_t deadline = pmq_mono_ns() + (uint64_t)(o->duration_s * 1e9);
    struct epoll_event evs[256];
    while (!relay_stop_flag && pmq_mono_ns() < deadline) {
        int n = epoll_wait(r.ep, evs, (int)PMQ_ARRAY_LEN(evs), 100);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == RELAY_LISTENER) {
                relay_accept(&r);
            } else {
                relay_conn_io(&r, (uint32_t)evs[i].data.u64, evs[i].events);
            }
        }
        relay_turn_end(&r);
    }
out:
    for (uint32_t s = 0; r.slots != NULL && s < r.nslots; s++) {
        if (r.slots[s] != NULL) {
            r.slots[s]->dead = true;
        }
    }
    if (r.slots != NULL) {
        relay_reap(&r);
    }
    pmq_free(r.slots);
    if (r.lfd >= 0) {
        close(r.lfd);
    }
    if (r.ep >= 0) {
        close(r.ep);
    }
    return rc == 0 ? 0 : 1;
}
