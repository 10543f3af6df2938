/* net: TCP listeners and connections on the libuv loop, with no protocol knowledge.
 *
 * Reads land in one buffer shared by every connection of the loop (so an idle
 * connection holds no read buffer); the protocol must consume or copy the bytes
 * during on_read. Writes are copied into the connection's outbound buffer and flushed
 * once per loop iteration (a uv_check handle), so many frames leave in one system
 * call. Closing is two-step: net_conn_close marks the connection, flushes what is
 * pending (bounded by a linger time), and on_close runs from the uv_close callback,
 * never inside the connection's own read callback.
 *
 * Thread: loop thread only. */
#ifndef PAXMQ_NET_H
#define PAXMQ_NET_H

#include <uv.h>

#include "paxmq/buf.h"

typedef struct net net_t;
typedef struct net_conn net_conn_t;
typedef struct net_listener net_listener_t;

typedef struct net_conn_ops {
    /* Bytes arrived; data is writable and valid only during the call. */
    void (*on_read)(net_conn_t *c, char *data, size_t len);
    /* Outbound bytes fell below half of outbound_bytes_max after exceeding it. */
    void (*on_drain)(net_conn_t *c);
    /* The connection is gone (EOF, error, or net_conn_close finished). status is 0 or
     * a libuv error. The net_conn_t is freed right after this returns. */
    void (*on_close)(net_conn_t *c, int status);
} net_conn_ops_t;

/* A new connection was accepted: set its ops and user data with net_conn_setup.
 * Returning non-zero closes it at once. */
typedef int (*net_accept_cb)(void *arg, net_conn_t *c);

typedef struct net_options {
    size_t read_bytes_max;     /* the shared read buffer (bytes per read call) */
    size_t outbound_bytes_max; /* per connection; above it net_conn_is_full() is true */
    uint32_t linger_ms;        /* how long a closing connection may take to flush */
} net_options_t;

PMQ_MUST_USE int net_new(net_t **out, uv_loop_t *loop, const net_options_t *opts);
/* Closes listeners and every connection (each gets on_close), then frees n. Runs the
 * loop until the handles are closed. */
void net_free(net_t *n);

/* Listens on host:port (IPv4 or IPv6 literal, or a name resolved synchronously at
 * start-up). name is for logs ("stomp", "mqtt", "http"). libuv errors (e.g.
 * UV_EADDRINUSE) are returned as is. */
PMQ_MUST_USE int net_listen(net_t *n, const char *name, const char *host, uint16_t port,
                            net_accept_cb cb, void *arg, net_listener_t **out);
/* The port actually bound (useful with port 0). */
uint16_t net_listener_port(const net_listener_t *l);
/* Stops accepting new connections on every listener (shutdown). */
void net_stop_listening(net_t *n);

void net_conn_setup(net_conn_t *c, const net_conn_ops_t *ops, void *data);
void *net_conn_data(const net_conn_t *c);
/* Queues bytes (copied). PMQ_ECLOSED after close; PMQ_ENOMEM. */
PMQ_MUST_USE int net_conn_write(net_conn_t *c, const void *data, size_t len);
/* The outbound buffer, to encode frames into directly; call net_conn_commit after. */
pmq_buf_t *net_conn_outbuf(net_conn_t *c);
void net_conn_commit(net_conn_t *c);
size_t net_conn_outbound_bytes(const net_conn_t *c);
bool net_conn_is_full(const net_conn_t *c);
/* The configured outbound limit (net.outbound_bytes_max). */
size_t net_conn_outbound_max(const net_conn_t *c);
bool net_conn_is_closing(const net_conn_t *c);
void net_conn_pause_read(net_conn_t *c);
void net_conn_resume_read(net_conn_t *c);
/* Flushes pending output, then closes. Idempotent. */
void net_conn_close(net_conn_t *c);
/* Monotonic ms of the last byte read / written. */
uint64_t net_conn_last_read_ms(const net_conn_t *c);
uint64_t net_conn_last_write_ms(const net_conn_t *c);
/* "ip:port" of the peer, for logs. The string lives in a buffer shared by the loop's
 * connections: use it before the next call (one per log line). */
const char *net_conn_peer(const net_conn_t *c);
uint64_t net_conn_id(const net_conn_t *c);

typedef struct net_stats {
    uint64_t accepted, open, bytes_in, bytes_out, write_calls;
} net_stats_t;
void net_stats_get(const net_t *n, net_stats_t *out);

#endif
