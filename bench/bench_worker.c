/* paxmq-bench workers: connections, the epoll loop of each worker thread, and the
 * producer/subscriber logic that generates and counts messages.
 *
 * Plain epoll + pthreads rather than libuv: a load generator wants exact control of
 * when it writes (a whole batch of frames in one send(), never one per frame), large
 * reads straight into its parse buffer, and a per-thread timerfd with nanosecond
 * deadlines for paced publishing; libuv would add a copy-free but callback-per-write
 * layer and a 1 ms timer resolution that the latency scenario cannot use.
 *
 * Ownership: a worker owns its connections; the main thread touches them only after
 * pthread_join. Invariants: a producer builds a new batch only when its previous batch
 * is fully written (so output is bounded by one batch), and a worker stops building as
 * soon as it has seen BENCH_PHASE_STOP, acknowledging that in phase_ack. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "bench_int.h"
#include "paxmq/assert.h"

#define WORKERS_MAX 64u
#define EV_TIMER UINT64_MAX
#define EV_KICK (UINT64_MAX - 1)

enum { ROLE_PRODUCER = 0, ROLE_SUBSCRIBER, ROLE_IDLE };
enum { CONN_NEW = 0, CONN_CONNECTING, CONN_HANDSHAKE, CONN_SUBSCRIBING, CONN_READY, CONN_DEAD };

typedef struct bench_conn {
    int fd;
    uint32_t index; /* global: client ids, subscription ids, producer ids */
    uint8_t role;
    uint8_t state;
    uint32_t mask; /* epoll interest registered now */
    char *rbuf;
    size_t rcap;
    size_t rlen;
    pmq_buf_t out;
    size_t out_off;
    /* producer */
    uint16_t prod_id;
    uint64_t quota;
    uint64_t sent;
    uint64_t acked;
    uint64_t t_last_send;
    uint64_t t_last_ack;
    /* subscriber: one bitmap and one high-water sequence per producer */
    bench_seen_t *seen;
    uint64_t *next_seq;
    uint64_t received;
    uint64_t unique;
    uint64_t dups;
    uint64_t reordered;
    uint64_t gaps; /* sequence numbers skipped: lost unless they arrive late */
    uint64_t foreign;
    uint64_t t_last_new;
} bench_conn_t;

typedef struct bench_worker {
    bench_run_t *run;
    uint32_t id;
    pthread_t thread;
    bool started;
    int ep;
    int tfd;
    int kick;
    uint64_t timer_armed_ns;
    bench_conn_t *conns;
    uint32_t nconns;
    uint32_t next_connect;
    uint32_t handshaking;
    int phase;
    _Atomic int phase_ack;
    uint64_t sent;
    uint64_t acked;
    uint64_t unique;
    uint64_t gaps;
    uint64_t sent_pub;
    uint64_t acked_pub;
    uint64_t unique_pub;
    uint64_t gaps_pub;
    bool lag_blocked; /* a producer waits for deliveries to catch up */
    bench_hist_t *hist;
} bench_worker_t;

struct bench_run {
    const bench_opts_t *o;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char dest[256];
    char tag[32];
    bool reliable;
    bool topic;
    uint32_t nworkers;
    bench_worker_t workers[WORKERS_MAX];
    uint32_t total_conns;
    _Atomic int phase;
    _Atomic uint64_t t0_ns;
    _Atomic uint64_t sent;
    _Atomic uint64_t acked;
    _Atomic uint64_t delivered;
    _Atomic uint64_t gaps;
    _Atomic uint32_t ready;
    _Atomic bool failed;
    char err[256];
    double rate_per_prod; /* msg/s per producer, 0 = unpaced */
    uint64_t warmup_end_ns;
    pmq_buf_t head;       /* invariant frame head shared read-only by producers */
    size_t pid_off;       /* MQTT packet-id offset in head */
    size_t frame_bytes;   /* bytes of one published frame */
    char *payload;        /* template payload, opts.size bytes */
};

/* Records the first error of the run and stops everyone. Any thread. */
PMQ_PRINTF(2, 3)
static void run_fail(bench_run_t *r, const char *fmt, ...) {
    bool expected = false;
    if (atomic_compare_exchange_strong(&r->failed, &expected, true)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, sizeof(r->err), fmt, ap);
        va_end(ap);
    }
    atomic_store(&r->phase, BENCH_PHASE_DONE);
}

static uint64_t out_pending(const bench_conn_t *c) { return c->out.len - c->out_off; }

static int conn_flush(bench_conn_t *c) {
    size_t pending = out_pending(c);
    if (pending == 0) {
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

/* The publishers' lead over the subscribers, in deliveries, is bounded (--max-lag) so a
 * broker that buffers without back-pressure is measured at the rate it can sustain
 * instead of being flooded (and so one scenario cannot poison the next). Messages a
 * subscriber saw skipped count as settled, so QoS 0 drops never stall the producers. */
static bool lag_exceeded(bench_worker_t *w) {
    bench_run_t *r = w->run;
    uint64_t sent = atomic_load_explicit(&r->sent, memory_order_relaxed) + (w->sent - w->sent_pub);
    uint64_t settled = atomic_load_explicit(&r->delivered, memory_order_relaxed) +
                       atomic_load_explicit(&r->gaps, memory_order_relaxed);
    uint64_t per_msg = r->reliable ? 1 : r->o->subscribers;
    bool over = sent * per_msg > settled + r->o->max_lag;
    w->lag_blocked |= over;
    return over;
}

/* How many messages producer c may build now (0 when it must wait). */
static uint64_t produce_budget(bench_worker_t *w, const bench_conn_t *c, uint64_t now) {
    bench_run_t *r = w->run;
    if (c->role != ROLE_PRODUCER || c->state != CONN_READY || w->phase != BENCH_PHASE_RUN) {
        return 0;
    }
    if (c->sent >= c->quota || out_pending(c) > 0) {
        return 0;
    }
    uint64_t n = PMQ_MAX(BENCH_BATCH_BYTES / r->frame_bytes, 1);
    n = PMQ_MIN(n, c->quota - c->sent);
    if (r->reliable) {
        uint64_t inflight = c->sent - c->acked;
        if (inflight >= r->o->window) {
            return 0;
        }
        n = PMQ_MIN(n, r->o->window - inflight);
    }
    if (r->o->max_lag > 0 && lag_exceeded(w)) {
        return 0;
    }
    if (r->rate_per_prod > 0) {
        uint64_t t0 = atomic_load_explicit(&r->t0_ns, memory_order_relaxed);
        uint64_t due = (uint64_t)((double)(now - t0) * r->rate_per_prod / 1e9) + 1;
        n = due > c->sent ? PMQ_MIN(n, due - c->sent) : 0;
    }
    return n;
}

/* Builds one message at dst: frame head, per-message headers, then the payload whose
 * first 40 bytes are "PXB1" + producer (4 hex) + sequence (16 hex) + send time (16 hex
 * of CLOCK_MONOTONIC ns). Returns the bytes written. */
static size_t build_msg(const bench_run_t *r, const bench_conn_t *c, char *dst, uint64_t seq,
                        uint64_t now) {
    char *p = dst;
    memcpy(p, r->head.data, r->head.len);
    if (r->o->proto == BENCH_PROTO_MQTT) {
        if (r->reliable) {
            pmq_store_u16be(p + r->pid_off, (uint16_t)(seq % 65535u + 1u));
        }
        p += r->head.len;
    } else {
        p += r->head.len;
        if (r->reliable) {
            memcpy(p, "receipt:", 8);
            bench_hex_u64(p + 8, seq);
            p[24] = '\n';
            p += 25;
        }
        *p++ = '\n';
    }
    memcpy(p, r->payload, r->o->size);
    bench_hex_u16(p + 4, c->prod_id);
    bench_hex_u64(p + 8, seq);
    bench_hex_u64(p + 24, now);
    p += r->o->size;
    if (r->o->proto == BENCH_PROTO_STOMP) {
        *p++ = '\0';
    }
    return (size_t)(p - dst);
}

static int produce(bench_worker_t *w, bench_conn_t *c, uint64_t now) {
    uint64_t n = produce_budget(w, c, now);
    if (n == 0) {
        return 0;
    }
    int rc = pmq_buf_reserve(&c->out, (size_t)n * w->run->frame_bytes);
    if (rc != 0) {
        return rc;
    }
    for (uint64_t i = 0; i < n; i++) {
        c->out.len += build_msg(w->run, c, c->out.data + c->out.len, c->sent + i, now);
    }
    PMQ_ASSERT(c->out.len <= (size_t)n * w->run->frame_bytes);
    c->sent += n;
    w->sent += n;
    c->t_last_send = now;
    return conn_flush(c);
}

static int on_message(bench_worker_t *w, bench_conn_t *c, const bench_ev_t *ev, uint64_t now) {
    bench_run_t *r = w->run;
    pmq_slice_t b = ev->body;
    uint64_t prod = 0;
    uint64_t seq = 0;
    uint64_t ts = 0;
    c->received++;
    if (b.len < BENCH_PAYLOAD_MIN || memcmp(b.ptr, "PXB1", 4) != 0 ||
        !bench_unhex_u64(b.ptr + 4, 4, &prod) || !bench_unhex_u64(b.ptr + 8, 16, &seq) ||
        !bench_unhex_u64(b.ptr + 24, 16, &ts) || prod >= r->o->producers) {
        c->foreign++;
    } else {
        int rc = bench_seen_mark(&c->seen[prod], seq);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            c->dups++;
        } else {
            c->unique++;
            w->unique++;
            c->t_last_new = now;
            if (seq + 1 < c->next_seq[prod]) {
                c->reordered++;
            } else {
                c->gaps += seq - c->next_seq[prod];
                w->gaps += seq - c->next_seq[prod];
                c->next_seq[prod] = seq + 1;
            }
            if (ts >= r->warmup_end_ns && now >= ts) {
                bench_hist_add(w->hist, now - ts);
            }
        }
    }
    if (!r->reliable) {
        return 0;
    }
    if (r->o->proto == BENCH_PROTO_STOMP) {
        return bench_stomp_ack(&c->out, ev->ack_id);
    }
    return ev->qos > 0 ? bench_mqtt_puback(&c->out, ev->packet_id) : 0;
}

static int send_subscribe(bench_worker_t *w, bench_conn_t *c) {
    bench_run_t *r = w->run;
    c->state = CONN_SUBSCRIBING;
    if (r->o->proto == BENCH_PROTO_STOMP) {
        return bench_stomp_subscribe(&c->out, c->index, r->dest, r->reliable, r->o->prefetch);
    }
    return bench_mqtt_subscribe(&c->out, 1, r->dest, r->reliable ? 1 : 0);
}

static void conn_ready(bench_worker_t *w, bench_conn_t *c) {
    c->state = CONN_READY;
    PMQ_ASSERT(w->handshaking > 0);
    w->handshaking--;
    atomic_fetch_add(&w->run->ready, 1);
}

static int on_event(bench_worker_t *w, bench_conn_t *c, const bench_ev_t *ev, uint64_t now) {
    switch (ev->kind) {
    case BENCH_EV_MESSAGE:
        return on_message(w, c, ev, now);
    case BENCH_EV_PUBACK:
        c->acked++;
        w->acked++;
        c->t_last_ack = now;
        return c->acked <= c->sent ? 0 : PMQ_EPROTO;
    case BENCH_EV_CONNECTED:
        if (c->state != CONN_HANDSHAKE) {
            return PMQ_EPROTO;
        }
        if (c->role == ROLE_SUBSCRIBER) {
            return send_subscribe(w, c);
        }
        conn_ready(w, c);
        return 0;
    case BENCH_EV_SUBSCRIBED:
        if (c->state != CONN_SUBSCRIBING) {
            return PMQ_EPROTO;
        }
        conn_ready(w, c);
        return 0;
    case BENCH_EV_ERROR:
        run_fail(w->run, "broker error on connection %u: %.*s", c->index, (int)ev->text.len,
                 ev->text.ptr);
        return PMQ_ECLOSED;
    case BENCH_EV_NONE:
        return 0;
    }
    return 0;
}

static int parse_all(bench_worker_t *w, bench_conn_t *c, uint64_t now) {
    bool stomp = w->run->o->proto == BENCH_PROTO_STOMP;
    size_t off = 0;
    int rc = 0;
    while (rc == 0 && off < c->rlen) {
        bench_ev_t ev;
        size_t used = 0;
        pmq_slice_t in = pmq_slice(c->rbuf + off, c->rlen - off);
        int got = stomp ? bench_stomp_parse(in, &used, &ev) : bench_mqtt_parse(in, &used, &ev);
        off += used;
        if (got <= 0) {
            rc = got;
            break;
        }
        rc = on_event(w, c, &ev, now);
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    return rc;
}

static int rbuf_grow(bench_conn_t *c) {
    if (c->rcap >= BENCH_FRAME_MAX + BENCH_RBUF_ACTIVE) {
        return PMQ_ETOOBIG;
    }
    size_t cap = c->rcap * 2;
    char *p = pmq_realloc(c->rbuf, cap);
    if (p == NULL) {
        return PMQ_ENOMEM;
    }
    c->rbuf = p;
    c->rcap = cap;
    return 0;
}

/* Reads until the socket is drained (a few rounds at most, for fairness), parsing as
 * it goes. */
static int conn_read(bench_worker_t *w, bench_conn_t *c, uint64_t now) {
    for (int round = 0; round < 4; round++) {
        if (c->rlen == c->rcap) {
            int rc = rbuf_grow(c);
            if (rc != 0) {
                return rc;
            }
        }
        size_t space = c->rcap - c->rlen;
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, space, 0);
        if (n == 0) {
            return PMQ_ECLOSED;
        }
        if (n < 0) {
            return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
        }
        c->rlen += (size_t)n;
        int rc = parse_all(w, c, now);
        if (rc != 0) {
            return rc;
        }
        if ((size_t)n < space || out_pending(c) > BENCH_OUT_HIGH) {
            break;
        }
    }
    return 0;
}

static int conn_client_hello(bench_worker_t *w, bench_conn_t *c) {
    const bench_opts_t *o = w->run->o;
    if (o->proto == BENCH_PROTO_STOMP) {
        return bench_stomp_connect(&c->out, o);
    }
    char client_id[48];
    snprintf(client_id, sizeof(client_id), "pxb%s-%u", w->run->tag, c->index);
    return bench_mqtt_connect(&c->out, o, client_id);
}

/* A finished non-blocking connect: check it, then say CONNECT. */
static int conn_connected(bench_worker_t *w, bench_conn_t *c) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    if (err != 0) {
        return -err;
    }
    c->state = CONN_HANDSHAKE;
    int rc = conn_client_hello(w, c);
    return rc != 0 ? rc : conn_flush(c);
}

static int conn_set_mask(bench_worker_t *w, bench_conn_t *c, uint32_t mask) {
    if (mask == c->mask) {
        return 0;
    }
    struct epoll_event ev = {.events = mask, .data.u64 = (uint64_t)(c - w->conns)};
    if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        return -errno;
    }
    c->mask = mask;
    return 0;
}

/* What the connection waits for now: input unless too many acks are queued; output
 * while connecting, while bytes are pending, or while an unpaced producer may go on. */
static uint32_t conn_want(bench_worker_t *w, const bench_conn_t *c, uint64_t now) {
    if (c->state == CONN_CONNECTING) {
        return EPOLLOUT;
    }
    uint32_t mask = out_pending(c) > BENCH_OUT_HIGH ? 0u : (uint32_t)EPOLLIN;
    if (out_pending(c) > 0 || produce_budget(w, c, now) > 0) {
        mask |= EPOLLOUT;
    }
    return mask;
}

static int conn_start(bench_worker_t *w, bench_conn_t *c) {
    bench_run_t *r = w->run;
    c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        return -errno;
    }
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (const struct sockaddr *)&r->addr, r->addr_len) != 0 &&
        errno != EINPROGRESS) {
        return -errno;
    }
    c->state = CONN_CONNECTING;
    c->mask = EPOLLOUT;
    struct epoll_event ev = {.events = c->mask, .data.u64 = (uint64_t)(c - w->conns)};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        return -errno;
    }
    w->handshaking++;
    return 0;
}

/* Keeps at most BENCH_HANDSHAKES_MAX connects and handshakes in flight. */
static int start_more(bench_worker_t *w) {
    while (w->next_connect < w->nconns && w->handshaking < BENCH_HANDSHAKES_MAX) {
        bench_conn_t *c = &w->conns[w->next_connect++];
        int rc = conn_start(w, c);
        if (rc != 0) {
            run_fail(w->run, "connect (connection %u): %s", c->index, pmq_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* Produces, flushes and re-registers interest after anything happened on c. */
static int conn_pump(bench_worker_t *w, bench_conn_t *c, uint64_t now) {
    int rc = produce(w, c, now);
    if (rc == 0) {
        rc = conn_flush(c);
    }
    return rc != 0 ? rc : conn_set_mask(w, c, conn_want(w, c, now));
}

static int conn_io(bench_worker_t *w, bench_conn_t *c, uint32_t events, uint64_t now) {
    int rc = 0;
    if (c->state == CONN_CONNECTING) {
        rc = (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) ? conn_connected(w, c) : 0;
    } else {
        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            rc = conn_read(w, c, now);
        }
        if (rc == 0 && (events & EPOLLOUT)) {
            rc = conn_flush(c);
        }
    }
    return rc != 0 ? rc : conn_pump(w, c, now);
}

/* Arms the worker's timerfd at the next moment a paced producer may publish. */
static void pace_arm(bench_worker_t *w) {
    bench_run_t *r = w->run;
    if (r->rate_per_prod <= 0 || w->phase != BENCH_PHASE_RUN) {
        return;
    }
    uint64_t t0 = atomic_load_explicit(&r->t0_ns, memory_order_relaxed);
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < w->nconns; i++) {
        bench_conn_t *c = &w->conns[i];
        if (c->role == ROLE_PRODUCER && c->state == CONN_READY && c->sent < c->quota) {
            uint64_t due = t0 + (uint64_t)((double)c->sent * 1e9 / r->rate_per_prod);
            next = PMQ_MIN(next, due);
        }
    }
    if (next == UINT64_MAX) {
        return;
    }
    /* Wake at most once per quantum: above 20,000 msg/s per worker the messages that
     * fell due meanwhile go out together in one send (each is stamped when built), so
     * pacing never costs a wake-up per message. */
    next = PMQ_MAX(next, pmq_mono_ns() + BENCH_PACE_QUANTUM_NS);
    if (next == w->timer_armed_ns) {
        return;
    }
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(next / 1000000000u);
    its.it_value.tv_nsec = (long)(next % 1000000000u);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) {
        its.it_value.tv_nsec = 1; /* zero would disarm */
    }
    if (timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0) {
        w->timer_armed_ns = next;
    }
}

static void drain_fd(int fd) {
    uint64_t v;
    while (read(fd, &v, sizeof(v)) > 0) {
    }
}

/* Handles one epoll event; returns non-zero when the run must stop. */
static int handle_event(bench_worker_t *w, const struct epoll_event *ev, uint64_t now) {
    if (ev->data.u64 == EV_TIMER || ev->data.u64 == EV_KICK) {
        drain_fd(ev->data.u64 == EV_TIMER ? w->tfd : w->kick);
        w->timer_armed_ns = ev->data.u64 == EV_TIMER ? 0 : w->timer_armed_ns;
        for (uint32_t i = 0; i < w->nconns; i++) {
            bench_conn_t *c = &w->conns[i];
            if (c->role == ROLE_PRODUCER && c->state == CONN_READY) {
                int rc = conn_pump(w, c, now);
                if (rc != 0) {
                    run_fail(w->run, "connection %u: %s", c->index, pmq_strerror(rc));
                    return rc;
                }
            }
        }
        return 0;
    }
    bench_conn_t *c = &w->conns[ev->data.u64];
    uint8_t before = c->state;
    int rc = conn_io(w, c, ev->events, now);
    if (rc == PMQ_ECLOSED && w->phase >= BENCH_PHASE_DONE) {
        return 0;
    }
    if (rc != 0) {
        const bench_opts_t *o = w->run->o;
        if (before == CONN_CONNECTING) {
            run_fail(w->run, "connect to %s:%s: %s", o->host, o->port, pmq_strerror(rc));
        } else if (!atomic_load(&w->run->failed)) {
            run_fail(w->run, "connection %u: %s", c->index,
                     rc == PMQ_ECLOSED ? "the broker closed the connection" : pmq_strerror(rc));
        }
        return rc;
    }
    return (before != CONN_READY && c->state == CONN_READY) ? start_more(w) : 0;
}

static void publish_counters(bench_worker_t *w) {
    bench_run_t *r = w->run;
    atomic_fetch_add_explicit(&r->sent, w->sent - w->sent_pub, memory_order_release);
    atomic_fetch_add_explicit(&r->acked, w->acked - w->acked_pub, memory_order_release);
    atomic_fetch_add_explicit(&r->delivered, w->unique - w->unique_pub, memory_order_release);
    atomic_fetch_add_explicit(&r->gaps, w->gaps - w->gaps_pub, memory_order_release);
    w->gaps_pub = w->gaps;
    w->sent_pub = w->sent;
    w->acked_pub = w->acked;
    w->unique_pub = w->unique;
}

static void on_phase(bench_worker_t *w, int phase, uint64_t now) {
    w->phase = phase;
    if (phase == BENCH_PHASE_RUN) {
        struct epoll_event kick = {.events = EPOLLIN, .data.u64 = EV_KICK};
        (void)handle_event(w, &kick, now);
    }
    /* Everything built under the previous phase has been published already (end of
     * the previous iteration), so the main thread may trust the counters from now on. */
    atomic_store_explicit(&w->phase_ack, phase, memory_order_release);
}

/* Best effort goodbye: DISCONNECT / MQTT DISCONNECT after any pending acks, bounded by
 * a deadline so a stuck broker cannot hold the tool. */
static void worker_goodbye(bench_worker_t *w) {
    uint64_t deadline = pmq_mono_ns() + 2000000000ull;
    for (uint32_t i = 0; i < w->nconns; i++) {
        bench_conn_t *c = &w->conns[i];
        if (c->fd < 0) {
            continue;
        }
        if (c->state == CONN_READY) {
            int rc = w->run->o->proto == BENCH_PROTO_STOMP ? bench_stomp_disconnect(&c->out)
                                                           : bench_mqtt_disconnect(&c->out);
            (void)rc; /* a full buffer only loses the courtesy frame */
        }
        while (out_pending(c) > 0 && pmq_mono_ns() < deadline) {
            size_t before = out_pending(c);
            if (conn_flush(c) != 0) {
                break;
            }
            if (out_pending(c) == before) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
        }
        close(c->fd);
        c->fd = -1;
        c->state = CONN_DEAD;
    }
}

static void *worker_main(void *arg) {
    bench_worker_t *w = arg;
    struct epoll_event evs[256];
    if (start_more(w) != 0) {
        return NULL;
    }
    for (;;) {
        int phase = atomic_load_explicit(&w->run->phase, memory_order_acquire);
        uint64_t now = pmq_mono_ns();
        if (phase != w->phase) {
            on_phase(w, phase, now);
        }
        if (phase == BENCH_PHASE_DONE) {
            break;
        }
        pace_arm(w);
        int n = epoll_wait(w->ep, evs, (int)PMQ_ARRAY_LEN(evs), w->lag_blocked ? 1 : 100);
        if (n < 0 && errno != EINTR) {
            run_fail(w->run, "epoll_wait: %s", strerror(errno));
            break;
        }
        now = pmq_mono_ns();
        int rc = 0;
        for (int i = 0; i < n && rc == 0; i++) {
            rc = handle_event(w, &evs[i], now);
        }
        if (rc == 0 && w->lag_blocked) {
            /* Re-check the blocked producers: deliveries may have caught up. */
            w->lag_blocked = false;
            struct epoll_event kick = {.events = EPOLLIN, .data.u64 = EV_KICK};
            (void)handle_event(w, &kick, now);
        }
        publish_counters(w);
    }
    publish_counters(w);
    worker_goodbye(w);
    return NULL;
}

/* ---- run set-up and results (main thread) ---- */

static int resolve(bench_run_t *r) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(r->o->host, r->o->port, &hints, &res) != 0 || res == NULL) {
        return PMQ_EINVAL;
    }
    memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
    r->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void pick_dest(bench_run_t *r) {
    const bench_opts_t *o = r->o;
    if (o->dest[0] != '\0') {
        snprintf(r->dest, sizeof(r->dest), "%s", o->dest);
    } else if (o->proto == BENCH_PROTO_MQTT) {
        snprintf(r->dest, sizeof(r->dest), "paxmq-bench/%s", r->tag);
    } else {
        snprintf(r->dest, sizeof(r->dest), "/%s/paxmq-bench.%s", r->reliable ? "queue" : "topic",
                 r->tag);
    }
}

static int build_templates(bench_run_t *r) {
    const bench_opts_t *o = r->o;
    r->payload = pmq_malloc(o->size);
    if (r->payload == NULL) {
        return PMQ_ENOMEM;
    }
    memset(r->payload, 'x', o->size);
    memcpy(r->payload, "PXB1", 4);
    pmq_buf_init(&r->head, 4096);
    int rc;
    if (o->proto == BENCH_PROTO_STOMP) {
        rc = bench_stomp_send_head(&r->head, r->dest, o->size, r->reliable);
        r->frame_bytes = r->head.len + (r->reliable ? 25u : 0u) + 1u + o->size + 1u;
    } else {
        rc = bench_mqtt_publish_head(&r->head, r->dest, r->reliable ? 1 : 0, o->size,
                                     &r->pid_off);
        r->frame_bytes = r->head.len + o->size;
    }
    return rc;
}

typedef struct layout {
    uint8_t role;
    uint32_t index;
    uint32_t worker;
} layout_t;

/* Places clients on workers, heaviest first onto the least loaded worker: a topic
 * subscriber parses what every producer sends, a producer only copies templates. */
static void place(bench_run_t *r, layout_t *lay, uint32_t n, uint8_t role, double weight,
                  double *load, uint32_t *counts) {
    for (uint32_t i = 0; i < n; i++) {
        uint32_t best = 0;
        for (uint32_t k = 1; k < r->nworkers; k++) {
            best = load[k] < load[best] ? k : best;
        }
        load[best] += weight;
        counts[best]++;
        lay[r->total_conns] = (layout_t){role, r->total_conns, best};
        r->total_conns++;
    }
}

static int conn_init(bench_run_t *r, bench_conn_t *c, const layout_t *l) {
    const bench_opts_t *o = r->o;
    *c = (bench_conn_t){.fd = -1, .index = l->index, .role = l->role};
    pmq_buf_init(&c->out, BENCH_OUT_LIMIT);
    c->rcap = l->role == ROLE_IDLE ? BENCH_RBUF_IDLE : BENCH_RBUF_ACTIVE;
    c->rbuf = pmq_malloc(c->rcap);
    if (c->rbuf == NULL) {
        return PMQ_ENOMEM;
    }
    if (l->role == ROLE_PRODUCER) {
        uint32_t j = l->index - o->subscribers;
        c->prod_id = (uint16_t)j;
        c->quota = o->count == 0 ? BENCH_SEQ_MAX
                                 : o->count / o->producers + (j < o->count % o->producers);
    } else if (l->role == ROLE_SUBSCRIBER) {
        c->seen = pmq_calloc(o->producers, sizeof(*c->seen));
        c->next_seq = pmq_calloc(o->producers, sizeof(*c->next_seq));
        if (c->seen == NULL || c->next_seq == NULL) {
            return PMQ_ENOMEM;
        }
    }
    return 0;
}

static int lay_out(bench_run_t *r) {
    const bench_opts_t *o = r->o;
    uint32_t clients = o->scenario == BENCH_SC_CONNS ? o->connections
                                                     : o->producers + o->subscribers;
    r->nworkers = PMQ_MAX(PMQ_MIN(PMQ_MIN(o->threads, clients), WORKERS_MAX), 1);
    layout_t *lay = pmq_calloc(clients, sizeof(*lay));
    if (lay == NULL) {
        return PMQ_ENOMEM;
    }
    double load[WORKERS_MAX] = {0};
    uint32_t counts[WORKERS_MAX] = {0};
    if (o->scenario == BENCH_SC_CONNS) {
        place(r, lay, o->connections, ROLE_IDLE, 1.0, load, counts);
    } else {
        double sub_w = r->reliable ? (double)o->producers / o->subscribers : o->producers;
        place(r, lay, o->subscribers, ROLE_SUBSCRIBER, sub_w, load, counts);
        place(r, lay, o->producers, ROLE_PRODUCER, 0.5, load, counts);
    }
    int rc = 0;
    for (uint32_t k = 0; k < r->nworkers && rc == 0; k++) {
        bench_worker_t *w = &r->workers[k];
        w->conns = pmq_calloc(PMQ_MAX(counts[k], 1), sizeof(*w->conns));
        rc = w->conns == NULL ? PMQ_ENOMEM : 0;
    }
    for (uint32_t i = 0; i < clients && rc == 0; i++) {
        bench_worker_t *w = &r->workers[lay[i].worker];
        rc = conn_init(r, &w->conns[w->nconns++], &lay[i]);
    }
    pmq_free(lay);
    return rc;
}

int bench_run_new(const bench_opts_t *o, bench_run_t **out) {
    bench_run_t *r = pmq_calloc(1, sizeof(*r));
    if (r == NULL) {
        return PMQ_ENOMEM;
    }
    r->o = o;
    r->reliable = o->scenario == BENCH_SC_QUEUE;
    r->topic = !r->reliable;
    r->rate_per_prod = o->rate > 0 && o->producers > 0 ? o->rate / o->producers : 0.0;
    snprintf(r->tag, sizeof(r->tag), "%x%04x", (unsigned)getpid(),
             (unsigned)(pmq_mono_ns() & 0xffffu));
    for (uint32_t k = 0; k < WORKERS_MAX; k++) {
        r->workers[k] = (bench_worker_t){.run = r, .id = k, .ep = -1, .tfd = -1, .kick = -1};
    }
    int rc = resolve(r);
    if (rc == 0) {
        pick_dest(r);
        rc = build_templates(r);
    }
    if (rc == 0) {
        rc = lay_out(r);
    }
    if (rc != 0) {
        bench_run_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int worker_setup(bench_worker_t *w) {
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    w->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->hist = pmq_calloc(1, sizeof(*w->hist));
    if (w->ep < 0 || w->tfd < 0 || w->kick < 0) {
        return PMQ_EIO;
    }
    if (w->hist == NULL) {
        return PMQ_ENOMEM;
    }
    struct epoll_event te = {.events = EPOLLIN, .data.u64 = EV_TIMER};
    struct epoll_event ke = {.events = EPOLLIN, .data.u64 = EV_KICK};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->tfd, &te) != 0 ||
        epoll_ctl(w->ep, EPOLL_CTL_ADD, w->kick, &ke) != 0) {
        return PMQ_EIO;
    }
    return 0;
}

int bench_run_start(bench_run_t *r) {
    for (uint32_t k = 0; k < r->nworkers; k++) {
        bench_worker_t *w = &r->workers[k];
        int rc = worker_setup(w);
        if (rc != 0) {
            return rc;
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            return PMQ_EIO;
        }
        w->started = true;
    }
    return 0;
}

int bench_run_wait_ready(bench_run_t *r, double timeout_s) {
    uint64_t deadline = pmq_mono_ns() + (uint64_t)(timeout_s * 1e9);
    while (atomic_load(&r->ready) < r->total_conns) {
        if (atomic_load(&r->failed)) {
            return PMQ_EIO;
        }
        if (pmq_mono_ns() >= deadline) {
            run_fail(r, "only %u of %u connections ready after %.0f s", atomic_load(&r->ready),
                     r->total_conns, timeout_s);
            return PMQ_EIO;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

void bench_run_set_phase(bench_run_t *r, int phase) {
    if (phase == BENCH_PHASE_RUN) {
        uint64_t t0 = pmq_mono_ns();
        r->warmup_end_ns = t0 + (uint64_t)(r->o->warmup_s * 1e9);
        atomic_store_explicit(&r->t0_ns, t0, memory_order_relaxed);
    }
    int cur = atomic_load(&r->phase);
    while (cur < phase && !atomic_compare_exchange_weak(&r->phase, &cur, phase)) {
    }
    for (uint32_t k = 0; k < r->nworkers; k++) {
        uint64_t one = 1;
        if (r->workers[k].kick >= 0) {
            ssize_t n = write(r->workers[k].kick, &one, sizeof(one));
            (void)n; /* a full eventfd is already a pending wake-up */
        }
    }
}

int bench_run_phase(bench_run_t *r) { return atomic_load(&r->phase); }

bool bench_run_phase_acked(bench_run_t *r, int phase) {
    for (uint32_t k = 0; k < r->nworkers; k++) {
        if (atomic_load_explicit(&r->workers[k].phase_ack, memory_order_acquire) < phase) {
            return false;
        }
    }
    return true;
}

void bench_run_counters(bench_run_t *r, uint64_t *sent, uint64_t *acked, uint64_t *delivered) {
    *sent = atomic_load_explicit(&r->sent, memory_order_acquire);
    *acked = atomic_load_explicit(&r->acked, memory_order_acquire);
    *delivered = atomic_load_explicit(&r->delivered, memory_order_acquire);
}

const char *bench_run_error(bench_run_t *r) { return atomic_load(&r->failed) ? r->err : NULL; }

uint64_t bench_run_t0_ns(const bench_run_t *r) { return atomic_load(&r->t0_ns); }

uint32_t bench_run_ready(bench_run_t *r) { return atomic_load(&r->ready); }

static void merge_conn(bench_run_t *r, const bench_conn_t *c, bench_result_t *res,
                       bench_seen_t *uni, uint64_t *last) {
    if (c->role == ROLE_PRODUCER) {
        res->sent += c->sent;
        res->acked += c->acked;
        last[0] = PMQ_MAX(last[0], c->t_last_send);
        last[1] = PMQ_MAX(last[1], c->t_last_ack);
        return;
    }
    if (c->role != ROLE_SUBSCRIBER) {
        return;
    }
    res->received += c->received;
    res->reordered += c->reordered;
    res->foreign += c->foreign;
    last[2] = PMQ_MAX(last[2], c->t_last_new);
    if (uni == NULL) {
        res->delivered += c->unique;
        res->duplicates += c->dups;
        return;
    }
    for (uint32_t p = 0; p < r->o->producers; p++) {
        if (bench_seen_or(&uni[p], &c->seen[p]) != 0) {
            snprintf(res->error, sizeof(res->error), "out of memory merging deliveries");
        }
    }
}

void bench_run_finish(bench_run_t *r, bench_result_t *res) {
    bench_run_set_phase(r, BENCH_PHASE_DONE);
    for (uint32_t k = 0; k < r->nworkers; k++) {
        if (r->workers[k].started) {
            pthread_join(r->workers[k].thread, NULL);
            r->workers[k].started = false;
        }
    }
    *res = (bench_result_t){0};
    res->hist = pmq_calloc(1, sizeof(*res->hist));
    bench_seen_t *uni = r->reliable ? pmq_calloc(r->o->producers, sizeof(*uni)) : NULL;
    uint64_t last[3] = {0, 0, 0}; /* send, ack, deliver */
    for (uint32_t k = 0; k < r->nworkers; k++) {
        const bench_worker_t *w = &r->workers[k];
        for (uint32_t i = 0; i < w->nconns; i++) {
            merge_conn(r, &w->conns[i], res, uni, last);
        }
        if (res->hist != NULL && w->hist != NULL) {
            bench_hist_merge(res->hist, w->hist);
        }
    }
    if (uni != NULL) {
        for (uint32_t p = 0; p < r->o->producers; p++) {
            res->delivered += bench_seen_count(&uni[p]);
            bench_seen_free(&uni[p]);
        }
        pmq_free(uni);
        res->duplicates = res->received - res->foreign - res->delivered;
    }
    res->expected = r->reliable ? res->sent : res->sent * r->o->subscribers;
    uint64_t t0 = atomic_load(&r->t0_ns);
    res->t_send_ns = last[0] > t0 && t0 > 0 ? last[0] - t0 : 0;
    res->t_ack_ns = last[1] > t0 && t0 > 0 ? last[1] - t0 : 0;
    res->t_deliver_ns = last[2] > t0 && t0 > 0 ? last[2] - t0 : 0;
    res->conns_ready = atomic_load(&r->ready);
    if (atomic_load(&r->failed) && res->error[0] == '\0') {
        snprintf(res->error, sizeof(res->error), "%s", r->err);
    }
}

const char *bench_run_dest(const bench_run_t *r) { return r->dest; }

void bench_run_free(bench_run_t *r) {
    if (r == NULL) {
        return;
    }
    for (uint32_t k = 0; k < WORKERS_MAX; k++) {
        bench_worker_t *w = &r->workers[k];
        PMQ_ASSERT(!w->started);
        for (uint32_t i = 0; i < w->nconns; i++) {
            bench_conn_t *c = &w->conns[i];
            if (c->fd >= 0) {
                close(c->fd);
            }
            pmq_free(c->rbuf);
            pmq_buf_close(&c->out);
            for (uint32_t p = 0; c->seen != NULL && p < r->o->producers; p++) {
                bench_seen_free(&c->seen[p]);
            }
            pmq_free(c->seen);
            pmq_free(c->next_seq);
        }
        pmq_free(w->conns);
        pmq_free(w->hist);
        int fds[3] = {w->ep, w->tfd, w->kick};
        for (size_t i = 0; i < PMQ_ARRAY_LEN(fds); i++) {
            if (fds[i] >= 0) {
                close(fds[i]);
            }
        }
    }
    pmq_buf_close(&r->head);
    pmq_free(r->payload);
    pmq_free(r);
}
