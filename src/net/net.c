/* TCP listeners and connections over libuv. One read buffer per loop, batched writes
 * flushed from a uv_prepare handle (just before the loop would block), back-pressure
 * signalling, and two-step close with a bounded linger. No protocol knowledge. */
#include <stdio.h>

#include "paxmq/assert.h"
#include "paxmq/map.h"
#include "paxmq/net.h"

#define NET_SWEEP_MS 250

struct net_listener {
    uv_tcp_t tcp;
    net_t *net;
    char name[16];
    net_accept_cb cb;
    void *arg;
    uint16_t port;
    pmq_list_t link;
    bool closed;
};

struct net_conn {
    uv_tcp_t tcp;
    net_t *net;
    const net_conn_ops_t *ops;
    void *data;
    pmq_buf_t out;      /* queued, not yet handed to libuv */
    pmq_buf_t inflight; /* owned by wreq until write_cb */
    uv_write_t *wreq;   /* only while a write waits for the socket (idle connections
                         * carry no write request) */
    pmq_list_t link;       /* net->conns */
    pmq_list_t dirty_link; /* net->dirty: has queued output */
    uint64_t id, last_read_ms, last_write_ms, close_deadline_ms;
    int close_status;
    bool writing, closing, handle_closed, paused, was_full;
};

struct net {
    uv_loop_t *loop;
    net_options_t opt;
    char *rbuf;
    bool rbuf_busy;
    uv_prepare_t flush;
    uv_timer_t sweep;
    pmq_list_t listeners, conns, dirty;
    uint64_t next_id;
    char peer[64]; /* net_conn_peer's result, formatted on demand */
    net_stats_t st;
};

static void conn_flush(net_conn_t *c);
static void conn_do_close(net_conn_t *c, int status);

static void on_flush(uv_prepare_t *h) {
    net_t *n = h->data;
    while (!pmq_list_is_empty(&n->dirty)) {
        net_conn_t *c = PMQ_CONTAINER_OF(n->dirty.next, net_conn_t, dirty_link);
        pmq_list_remove(&c->dirty_link);
        conn_flush(c);
    }
}

static void on_sweep(uv_timer_t *t) {
    net_t *n = t->data;
    uint64_t now = pmq_mono_ms();
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &n->conns) {
        net_conn_t *c = PMQ_CONTAINER_OF(it, net_conn_t, link);
        if (c->closing && !c->handle_closed && now >= c->close_deadline_ms) {
            conn_do_close(c, UV_ETIMEDOUT); /* the peer does not read: stop waiting */
        }
    }
}

int net_new(net_t **out, uv_loop_t *loop, const net_options_t *opts) {
    net_t *n = pmq_calloc(1, sizeof(*n));
    if (n == NULL) {
        return PMQ_ENOMEM;
    }
    n->loop = loop;
    n->opt = *opts;
    if (n->opt.read_bytes_max < 4096) {
        n->opt.read_bytes_max = 4096;
    }
    n->rbuf = pmq_malloc(n->opt.read_bytes_max);
    if (n->rbuf == NULL) {
        pmq_free(n);
        return PMQ_ENOMEM;
    }
    pmq_list_init(&n->listeners);
    pmq_list_init(&n->conns);
    pmq_list_init(&n->dirty);
    uv_prepare_init(loop, &n->flush);
    n->flush.data = n;
    uv_prepare_start(&n->flush, on_flush);
    uv_timer_init(loop, &n->sweep);
    n->sweep.data = n;
    uv_timer_start(&n->sweep, on_sweep, NET_SWEEP_MS, NET_SWEEP_MS);
    uv_unref((uv_handle_t *)&n->sweep);
    *out = n;
    return 0;
}

static void on_conn_closed(uv_handle_t *h) {
    net_conn_t *c = PMQ_CONTAINER_OF((uv_tcp_t *)h, net_conn_t, tcp);
    net_t *n = c->net;
    pmq_list_remove(&c->link);
    pmq_list_remove(&c->dirty_link);
    PMQ_ASSERT(n->st.open > 0);
    n->st.open--;
    if (c->ops != NULL && c->ops->on_close != NULL) {
        c->ops->on_close(c, c->close_status);
    }
    pmq_buf_close(&c->out);
    pmq_buf_close(&c->inflight);
    pmq_free(c);
}

static void conn_do_close(net_conn_t *c, int status) {
    if (c->handle_closed) {
        return;
    }
    c->closing = true;
    c->handle_closed = true;
    if (c->close_status == 0) {
        c->close_status = status;
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void check_drain(net_conn_t *c) {
    if (c->was_full && net_conn_outbound_bytes(c) <= c->net->opt.outbound_bytes_max / 2) {
        c->was_full = false;
        if (!c->closing && c->ops != NULL && c->ops->on_drain != NULL) {
            c->ops->on_drain(c);
        }
    }
}

static void on_write(uv_write_t *req, int status) {
    net_conn_t *c = req->data;
    pmq_free(req);
    c->wreq = NULL;
    c->writing = false;
    pmq_buf_reset(&c->inflight);
    if (status < 0) {
        conn_do_close(c, status);
        return;
    }
    if (c->handle_closed) {
        return;
    }
    conn_flush(c);
    check_drain(c);
}

static void conn_flush(net_conn_t *c) {
    if (c->writing || c->handle_closed) {
        return;
    }
    if (c->out.len > 0) {
        uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
        int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        c->net->st.write_calls++;
        if (w < 0 && w != UV_EAGAIN) {
            conn_do_close(c, w);
            return;
        }
        size_t done = w > 0 ? (size_t)w : 0;
        c->net->st.bytes_out += done;
        c->last_write_ms = pmq_mono_ms();
        if (done < c->out.len) {
            /* The kernel buffer is full: hand the rest to libuv and queue behind it. */
            pmq_buf_t tmp = c->inflight;
            c->inflight = c->out;
            c->out = tmp;
            if (done > 0) {
                pmq_buf_consume(&c->inflight, done);
            }
            uv_buf_t rest = uv_buf_init(c->inflight.data, (unsigned)c->inflight.len);
            c->wreq = pmq_malloc(sizeof(*c->wreq));
            if (c->wreq == NULL) {
                conn_do_close(c, UV_ENOMEM);
                return;
            }
            c->wreq->data = c;
            int rc = uv_write(c->wreq, (uv_stream_t *)&c->tcp, &rest, 1, on_write);
            if (rc < 0) {
                pmq_free(c->wreq);
                c->wreq = NULL;
                conn_do_close(c, rc);
                return;
            }
            c->writing = true;
            c->net->st.bytes_out += rest.len; /* counted when handed over */
            return;
        }
        pmq_buf_reset(&c->out);
    }
    check_drain(c);
    if (c->closing) {
        conn_do_close(c, 0);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    net_conn_t *c = h->data;
    net_t *n = c->net;
    /* Reads are handled synchronously one connection at a time, so one buffer serves all. */
    PMQ_ASSERT(!n->rbuf_busy);
    n->rbuf_busy = true;
    *buf = uv_buf_init(n->rbuf, (unsigned)n->opt.read_bytes_max);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    (void)buf;
    net_conn_t *c = s->data;
    c->net->rbuf_busy = false;
    if (nread > 0) {
        c->net->st.bytes_in += (uint64_t)nread;
        c->last_read_ms = pmq_mono_ms();
        if (!c->closing) {
            c->ops->on_read(c, c->net->rbuf, (size_t)nread);
        }
        return;
    }
    if (nread < 0) {
        uv_read_stop(s);
        if (nread == UV_EOF) {
            net_conn_close(c); /* flush what the protocol still wanted to say */
        } else {
            conn_do_close(c, (int)nread);
        }
    }
}

/* Formats "ip:port" of c's peer into the loop's shared buffer. */
static const char *format_peer(const net_conn_t *c) {
    char *out = c->net->peer;
    size_t len = sizeof(c->net->peer);
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    snprintf(out, len, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) != 0) {
        return out;
    }
    char ip[48] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    }
    snprintf(out, len, "%s:%d", ip, port);
    return out;
}

static void on_connection(uv_stream_t *server, int status) {
    net_listener_t *l = server->data;
    net_t *n = l->net;
    if (status < 0) {
        PMQ_LOG_WARN("accept_failed", "listener=%s err=%s", l->name, uv_strerror(status));
        return;
    }
    net_conn_t *c = pmq_calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    c->net = n;
    c->id = ++n->next_id;
    c->last_read_ms = c->last_write_ms = pmq_mono_ms();
    pmq_buf_init(&c->out, 0);
    pmq_buf_init(&c->inflight, 0);
    pmq_list_init(&c->dirty_link);
    uv_tcp_init(n->loop, &c->tcp);
    c->tcp.data = c;
    pmq_list_push_back(&n->conns, &c->link);
    n->st.open++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_do_close(c, UV_ECONNABORTED);
        return;
    }
    n->st.accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    if (l->cb(l->arg, c) != 0 || c->ops == NULL) {
        net_conn_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int net_listen(net_t *n, const char *name, const char *host, uint16_t port, net_accept_cb cb,
               void *arg, net_listener_t **out) {
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc != 0) {
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    }
    if (rc != 0) {
        return rc;
    }
    net_listener_t *l = pmq_calloc(1, sizeof(*l));
    if (l == NULL) {
        return PMQ_ENOMEM;
    }
    l->net = n;
    l->cb = cb;
    l->arg = arg;
    snprintf(l->name, sizeof(l->name), "%s", name);
    uv_tcp_init(n->loop, &l->tcp);
    l->tcp.data = l;
    pmq_list_push_back(&n->listeners, &l->link);
    rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&addr, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
    }
    if (rc != 0) {
        return rc; /* the listener is closed with the others in net_free */
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
    l->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    PMQ_LOG_INFO("listening", "listener=%s addr=%s:%u", name, host, l->port);
    if (out != NULL) {
        *out = l;
    }
    return 0;
}

uint16_t net_listener_port(const net_listener_t *l) { return l->port; }

static void on_listener_closed(uv_handle_t *h) {
    net_listener_t *l = h->data;
    pmq_free(l);
}

void net_stop_listening(net_t *n) {
    while (!pmq_list_is_empty(&n->listeners)) {
        net_listener_t *l = PMQ_CONTAINER_OF(n->listeners.next, net_listener_t, link);
        pmq_list_remove(&l->link);
        uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    }
}

static void on_net_handle_closed(uv_handle_t *h) { (void)h; }

void net_free(net_t *n) {
    if (n == NULL) {
        return;
    }
    net_stop_listening(n);
    pmq_list_t *it, *tmp;
    PMQ_LIST_FOREACH_SAFE(it, tmp, &n->conns) {
        net_conn_t *c = PMQ_CONTAINER_OF(it, net_conn_t, link);
        conn_do_close(c, UV_ECANCELED);
    }
    uv_close((uv_handle_t *)&n->flush, on_net_handle_closed);
    uv_close((uv_handle_t *)&n->sweep, on_net_handle_closed);
    while (!pmq_list_is_empty(&n->conns) || uv_is_active((uv_handle_t *)&n->flush) ||
           !uv_is_closing((uv_handle_t *)&n->sweep)) {
        uv_run(n->loop, UV_RUN_ONCE);
    }
    uv_run(n->loop, UV_RUN_NOWAIT);
    pmq_free(n->rbuf);
    pmq_free(n);
}

void net_conn_setup(net_conn_t *c, const net_conn_ops_t *ops, void *data) {
    c->ops = ops;
    c->data = data;
}

void *net_conn_data(const net_conn_t *c) { return c->data; }

pmq_buf_t *net_conn_outbuf(net_conn_t *c) { return &c->out; }

void net_conn_commit(net_conn_t *c) {
    if (c->out.len > 0 && !c->writing && !pmq_list_is_linked(&c->dirty_link)) {
        pmq_list_push_back(&c->net->dirty, &c->dirty_link);
    }
    if (net_conn_is_full(c)) {
        c->was_full = true;
    }
}

int net_conn_write(net_conn_t *c, const void *data, size_t len) {
    if (c->closing) {
        return PMQ_ECLOSED;
    }
    int rc = pmq_buf_append(&c->out, data, len);
    if (rc == 0) {
        net_conn_commit(c);
    }
    return rc;
}

size_t net_conn_outbound_bytes(const net_conn_t *c) { return c->out.len + c->inflight.len; }

bool net_conn_is_full(const net_conn_t *c) {
    return net_conn_outbound_bytes(c) >= c->net->opt.outbound_bytes_max;
}

size_t net_conn_outbound_max(const net_conn_t *c) { return c->net->opt.outbound_bytes_max; }

bool net_conn_is_closing(const net_conn_t *c) { return c->closing; }

void net_conn_pause_read(net_conn_t *c) {
    if (!c->paused && !c->handle_closed) {
        c->paused = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

void net_conn_resume_read(net_conn_t *c) {
    if (c->paused && !c->closing) {
        c->paused = false;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

void net_conn_close(net_conn_t *c) {
    if (c->closing) {
        return;
    }
    c->closing = true;
    c->close_deadline_ms = pmq_mono_ms() + c->net->opt.linger_ms;
    if (!c->handle_closed) {
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    /* Flush from the prepare handle, outside whatever callback we are in. */
    if (!c->writing && !pmq_list_is_linked(&c->dirty_link)) {
        pmq_list_push_back(&c->net->dirty, &c->dirty_link);
    }
}

uint64_t net_conn_last_read_ms(const net_conn_t *c) { return c->last_read_ms; }
uint64_t net_conn_last_write_ms(const net_conn_t *c) { return c->last_write_ms; }
const char *net_conn_peer(const net_conn_t *c) { return format_peer(c); }
uint64_t net_conn_id(const net_conn_t *c) { return c->id; }
void net_stats_get(const net_t *n, net_stats_t *out) { *out = n->st; }
