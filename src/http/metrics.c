/* GET /metrics: the application's families, then process and HTTP-layer metrics.
 *
 * Prometheus text format 0.0.4. The families this file writes are reserved: the
 * application must not emit `process_*` or `paxmq_http_*` (a duplicate family makes
 * the whole scrape invalid). */
#define PMQ_HTTP_SERVER_INTERNALS 1
#include <stdio.h>

#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

static int write_process(pmq_buf_t *b) {
    http_procstat_t ps;
    if (http__procstat_read(&ps) != 0) {
        return 0; /* /proc unavailable: omit process metrics rather than fail the scrape */
    }
    int rc = http_prom_family(b, "process_cpu_seconds_total", HTTP_PROM_COUNTER,
                              "Total user and system CPU time spent in seconds.");
    rc = rc ? rc : http_prom_sample(b, "process_cpu_seconds_total", NULL, 0, ps.cpu_seconds);
    rc = rc ? rc : http_prom_family(b, "process_resident_memory_bytes", HTTP_PROM_GAUGE,
                                    "Resident memory size in bytes.");
    rc = rc ? rc : http_prom_sample_u64(b, "process_resident_memory_bytes", NULL, 0,
                                        ps.rss_bytes);
    rc = rc ? rc : http_prom_family(b, "process_virtual_memory_bytes", HTTP_PROM_GAUGE,
                                    "Virtual memory size in bytes.");
    rc = rc ? rc : http_prom_sample_u64(b, "process_virtual_memory_bytes", NULL, 0,
                                        ps.vsize_bytes);
    rc = rc ? rc : http_prom_family(b, "process_open_fds", HTTP_PROM_GAUGE,
                                    "Number of open file descriptors.");
    rc = rc ? rc : http_prom_sample_u64(b, "process_open_fds", NULL, 0, ps.open_fds);
    rc = rc ? rc : http_prom_family(b, "process_max_fds", HTTP_PROM_GAUGE,
                                    "Maximum number of open file descriptors.");
    rc = rc ? rc : http_prom_sample_u64(b, "process_max_fds", NULL, 0, ps.max_fds);
    rc = rc ? rc : http_prom_family(b, "process_start_time_seconds", HTTP_PROM_GAUGE,
                                    "Start time of the process since unix epoch in seconds.");
    rc = rc ? rc : http_prom_sample(b, "process_start_time_seconds", NULL, 0,
                                    ps.start_time_seconds);
    return rc;
}

static int write_http(const http_server_t *srv, pmq_buf_t *b) {
    int rc = http_prom_family(b, "paxmq_http_requests_total", HTTP_PROM_COUNTER,
                              "HTTP responses sent, by status code.");
    for (size_t i = 0; rc == 0 && i < HTTP_CODES_MAX && srv->codes[i].code != 0; i++) {
        char code[8];
        snprintf(code, sizeof(code), "%d", srv->codes[i].code);
        http_prom_label_t l = {"code", code};
        rc = http_prom_sample_u64(b, "paxmq_http_requests_total", &l, 1, srv->codes[i].count);
    }
    rc = rc ? rc : http_prom_family(b, "paxmq_http_connections", HTTP_PROM_GAUGE,
                                    "Open HTTP connections.");
    rc = rc ? rc : http_prom_sample_u64(b, "paxmq_http_connections", NULL, 0, srv->conn_count);
    rc = rc ? rc : http_prom_family(b, "paxmq_http_connections_accepted_total",
                                    HTTP_PROM_COUNTER, "HTTP connections accepted.");
    rc = rc ? rc : http_prom_sample_u64(b, "paxmq_http_connections_accepted_total", NULL, 0,
                                        srv->stats.connections_total);
    rc = rc ? rc : http_prom_family(b, "paxmq_http_bad_requests_total", HTTP_PROM_COUNTER,
                                    "Requests rejected by the HTTP layer (malformed, too large).");
    rc = rc ? rc : http_prom_sample_u64(b, "paxmq_http_bad_requests_total", NULL, 0,
                                        srv->stats.bad_requests_total);
    rc = rc ? rc : http_prom_family(b, "paxmq_http_event_loop_lag_seconds", HTTP_PROM_GAUGE,
                                    "Most recent measured lag of the event loop.");
    rc = rc ? rc : http_prom_sample(b, "paxmq_http_event_loop_lag_seconds", NULL, 0,
                                    (double)srv->loop_lag_ms / 1000.0);
    return rc;
}

static int on_metrics(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)req;
    http_server_t *srv = arg;
    pmq_buf_t *b = http_response_body(resp);
    int rc = srv->app.metrics != NULL ? srv->app.metrics(srv->app.arg, b) : 0;
    rc = rc ? rc : write_process(b);
    rc = rc ? rc : write_http(srv, b);
    if (rc != 0) {
        return rc;
    }
    http_response_set_status(resp, 200);
    return http_response_add_header(resp, "Content-Type", HTTP_PROM_CONTENT_TYPE);
}

int http__metrics_register(http_server_t *srv) {
    return http__router_add(&srv->router, HTTP_MASK(HTTP_METHOD_GET), "/metrics", 0, on_metrics,
                            srv);
}
