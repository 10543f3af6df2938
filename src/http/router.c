/* The router: exact paths and prefix routes, with a method check.
 *
 * A small array scanned linearly (64 routes at most): exact matches win over prefixes,
 * the longest prefix wins among prefixes, and a path that exists under other methods
 * yields 405 with the allowed set instead of 404. HEAD is served by GET routes. */
#define PMQ_HTTP_SERVER_INTERNALS 1
#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

void http__router_init(http_router_t *r) { memset(r, 0, sizeof(*r)); }

void http__router_close(http_router_t *r) {
    for (size_t i = 0; i < r->count; i++) {
        pmq_free(r->routes[i].path);
    }
    r->count = 0;
}

int http__router_add(http_router_t *r, unsigned methods, const char *path, unsigned flags,
                     http_handler_fn fn, void *arg) {
    if (path == NULL || path[0] != '/' || fn == NULL || methods == 0 ||
        (flags & ~HTTP_ROUTE_PREFIX) != 0) {
        return PMQ_EINVAL;
    }
    size_t len = strlen(path);
    for (size_t i = 0; i < r->count; i++) {
        const http_route_t *o = &r->routes[i];
        if (o->flags == flags && o->path_len == len && memcmp(o->path, path, len) == 0 &&
            (o->methods & methods) != 0) {
            return PMQ_EEXIST;
        }
    }
    if (r->count == HTTP_ROUTES_MAX) {
        return PMQ_EFULL;
    }
    char *copy = pmq_strdup(path);
    if (copy == NULL) {
        return PMQ_ENOMEM;
    }
    r->routes[r->count++] = (http_route_t){copy, len, methods, flags, fn, arg};
    return 0;
}

/* How well route matches path: 0 = no, otherwise a rank (exact beats any prefix). */
static size_t match_rank(const http_route_t *route, pmq_slice_t path) {
    if ((route->flags & HTTP_ROUTE_PREFIX) == 0) {
        return pmq_slice_eq(path, pmq_slice(route->path, route->path_len)) ? SIZE_MAX : 0;
    }
    if (path.len > route->path_len && memcmp(path.ptr, route->path, route->path_len) == 0) {
        return route->path_len;
    }
    return 0;
}

int http__router_match(const http_router_t *r, http_method_t m, pmq_slice_t path,
                       http_route_match_t *out) {
    memset(out, 0, sizeof(*out));
    unsigned want = HTTP_MASK(m == HTTP_METHOD_HEAD ? HTTP_METHOD_GET : m);
    size_t best_rank = 0;
    size_t path_rank = 0;
    for (size_t i = 0; i < r->count; i++) {
        const http_route_t *route = &r->routes[i];
        size_t rank = match_rank(route, path);
        if (rank == 0) {
            continue;
        }
        /* The allowed set comes from the best-matching path only. */
        if (rank > path_rank) {
            path_rank = rank;
            out->allowed = 0;
        }
        if (rank == path_rank) {
            out->allowed |= route->methods;
        }
        if ((route->methods & want) != 0 && rank > best_rank) {
            best_rank = rank;
            out->route = route;
        }
    }
    if (out->route != NULL && best_rank == path_rank) {
        const http_route_t *route = out->route;
        out->tail = (route->flags & HTTP_ROUTE_PREFIX)
                        ? pmq_slice(path.ptr + route->path_len, path.len - route->path_len)
                        : pmq_slice("", 0);
        return 200;
    }
    out->route = NULL;
    return path_rank == 0 ? 404 : 405;
}
