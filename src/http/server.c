/* The HTTP server object: listener, loop-lag timer, routes, checks, stats, close.
 *
 * The server is freed in two steps like its connections: http_server_close closes every
 * connection and both handles, and the last close callback (listener, timer or
 * connection) frees it. Nothing here knows the broker: the application is http_app_t. */
#define PMQ_HTTP_SERVER_INTERNALS 1
#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

#define LAG_INTERVAL_MS 100

static void server_free(http_server_t *srv) {
    PMQ_ASSERT(srv->handles_open == 0);
    PMQ_ASSERT(srv->conns == NULL);
    http__router_close(&srv->router);
    for (size_t i = 0; i < srv->check_count; i++) {
        pmq_free(srv->checks[i].name);
    }
    pmq_free((char *)srv->app.admin_user);
    pmq_free((char *)srv->app.admin_password);
    pmq_free(srv);
}

void http__server_maybe_free(http_server_t *srv) {
    if (srv->closing && srv->handles_open == 0 && srv->conns == NULL) {
        server_free(srv);
    }
}

static void on_server_handle_close(uv_handle_t *h) {
    http_server_t *srv = h->data;
    PMQ_ASSERT(srv->handles_open > 0);
    srv->handles_open--;
    http__server_maybe_free(srv);
}

static void on_connection(uv_stream_t *listener, int status) {
    http_server_t *srv = listener->data;
    if (status != 0 || srv->closing) {
        PMQ_LOG_WARN("http_accept_error", "err=%s", pmq_errname(status));
        return;
    }
    http__conn_accept(srv);
}

static void on_lag_tick(uv_timer_t *t) {
    http_server_t *srv = t->data;
    uint64_t now = pmq_mono_ms();
    uint64_t elapsed = now - srv->lag_last_ms;
    srv->loop_lag_ms = elapsed > LAG_INTERVAL_MS ? elapsed - LAG_INTERVAL_MS : 0;
    srv->lag_last_ms = now;
}

void http__count_code(http_server_t *srv, int status) {
    for (size_t i = 0; i < HTTP_CODES_MAX; i++) {
        if (srv->codes[i].code == status || srv->codes[i].code == 0) {
            srv->codes[i].code = status;
            srv->codes[i].count++;
            return;
        }
    }
    /* More distinct codes than slots: fold into the last one's count. */
    srv->codes[HTTP_CODES_MAX - 1].count++;
}

static int copy_app(http_server_t *srv, const http_app_t *app) {
    srv->app = *app;
    srv->app.admin_user = NULL;
    srv->app.admin_password = NULL;
    if (app->admin_user != NULL && app->admin_password != NULL) {
        srv->app.admin_user = pmq_strdup(app->admin_user);
        srv->app.admin_password = pmq_strdup(app->admin_password);
        if (srv->app.admin_user == NULL || srv->app.admin_password == NULL) {
            return PMQ_ENOMEM;
        }
    }
    return 0;
}

static int bind_listener(http_server_t *srv, const char *host, uint16_t port) {
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        return PMQ_EINVAL;
    }
    int rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection);
    }
    if (rc != 0) {
        return rc;
    }
    int len = sizeof(ss);
    rc = uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len);
    if (rc == 0) {
        srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return rc;
}

int http_server_new(http_server_t **out, uv_loop_t *loop, const http_limits_t *limits,
                    const char *host, uint16_t port, const http_app_t *app) {
    PMQ_ASSERT(limits->header_count_max > 0 && limits->body_bytes_max > 0);
    *out = NULL;
    http_server_t *srv = pmq_calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return PMQ_ENOMEM;
    }
    srv->loop = loop;
    srv->limits = *limits;
    srv->start_wall_ms = pmq_wall_ms();
    srv->lag_last_ms = pmq_mono_ms();
    pmq_ratelimit_init(&srv->bad_log, 10, 10000);
    http__router_init(&srv->router);
    int rc = copy_app(srv, app);
    if (rc == 0) {
        rc = http__probes_register(srv);
    }
    if (rc == 0) {
        rc = http__metrics_register(srv);
    }
    uv_tcp_init(loop, &srv->listener);
    uv_timer_init(loop, &srv->lag_timer);
    srv->listener.data = srv;
    srv->lag_timer.data = srv;
    srv->handles_open = 2;
    if (rc == 0) {
        rc = bind_listener(srv, host, port);
    }
    if (rc != 0) {
        http_server_close(srv); /* frees from the close callbacks */
        return rc;
    }
    uv_timer_start(&srv->lag_timer, on_lag_tick, LAG_INTERVAL_MS, LAG_INTERVAL_MS);
    uv_unref((uv_handle_t *)&srv->lag_timer);
    PMQ_LOG_INFO("http_listening", "host=%s port=%u", host, (unsigned)srv->port);
    *out = srv;
    return 0;
}

uint16_t http_server_port(const http_server_t *srv) { return srv->port; }

int http_server_route(http_server_t *srv, unsigned methods, const char *path, unsigned flags,
                      http_handler_fn fn, void *arg) {
    return http__router_add(&srv->router, methods, path, flags, fn, arg);
}

int http_server_add_check(http_server_t *srv, unsigned mask, const char *name, http_check_fn fn,
                          void *arg) {
    unsigned all = HTTP_PROBE_LIVE | HTTP_PROBE_READY | HTTP_PROBE_STARTUP;
    if (name == NULL || name[0] == '\0' || fn == NULL || mask == 0 || (mask & ~all) != 0) {
        return PMQ_EINVAL;
    }
    if (srv->check_count == HTTP_CHECKS_MAX) {
        return PMQ_EFULL;
    }
    char *copy = pmq_strdup(name);
    if (copy == NULL) {
        return PMQ_ENOMEM;
    }
    srv->checks[srv->check_count++] = (http_check_t){copy, mask, fn, arg};
    return 0;
}

void http_server_stats(const http_server_t *srv, http_server_stats_t *out) { *out = srv->stats; }

void http_server_close(http_server_t *srv) {
    if (srv->closing) {
        return;
    }
    srv->closing = true;
    for (http_conn_t *c = srv->conns; c != NULL; c = c->next) {
        http__conn_close(c);
    }
    uv_close((uv_handle_t *)&srv->listener, on_server_handle_close);
    uv_close((uv_handle_t *)&srv->lag_timer, on_server_handle_close);
}
