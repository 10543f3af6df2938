/* Unit tests for the router (src/http/router.c: exact, prefix, method checks) and the
 * Basic-auth check (src/http/auth.c). White-box: uses the layer's internal header. */
#define PMQ_HTTP_SERVER_INTERNALS 1
#include "test_util.h"

#include "http_int.h"

static int h_a(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)arg, (void)req, (void)resp;
    return 0;
}
static int h_b(void *arg, const http_request_t *req, http_response_t *resp) {
    (void)arg, (void)req, (void)resp;
    return 0;
}

#define GET HTTP_MASK(HTTP_METHOD_GET)
#define POST HTTP_MASK(HTTP_METHOD_POST)
#define DEL HTTP_MASK(HTTP_METHOD_DELETE)

/* Routes are built inside each test: cmocka checks leaks per test function, so the
 * allocations of a test must also be released in it. */
static http_router_t *router_new(void) {
    http_router_t *r = test_calloc(1, sizeof(*r));
    http__router_init(r);
    assert_int_equal(http__router_add(r, GET, "/api/v1/destinations", 0, h_a, NULL), 0);
    assert_int_equal(http__router_add(r, GET | DEL, "/api/v1/destinations/", HTTP_ROUTE_PREFIX,
                                      h_b, NULL), 0);
    assert_int_equal(http__router_add(r, POST, "/api/v1/destinations/special", 0, h_a, NULL), 0);
    assert_int_equal(http__router_add(r, GET, "/api/", HTTP_ROUTE_PREFIX, h_a, NULL), 0);
    return r;
}

static void router_free(http_router_t *r) {
    http__router_close(r);
    test_free(r);
}

static int match(http_router_t *r, http_method_t m, const char *path, http_route_match_t *out) {
    return http__router_match(r, m, pmq_slice_cstr(path), out);
}

static void test_exact_and_prefix(void **state) {
    (void)state;
    http_router_t *r = router_new();
    http_route_match_t m;
    assert_int_equal(match(r, HTTP_METHOD_GET, "/api/v1/destinations", &m), 200);
    assert_ptr_equal(m.route->fn, h_a);
    assert_int_equal(m.tail.len, 0);
    assert_int_equal(match(r, HTTP_METHOD_GET, "/api/v1/destinations/%2Fqueue%2Fa/x", &m), 200);
    assert_ptr_equal(m.route->fn, h_b);
    assert_true(pmq_slice_eq_cstr(m.tail, "%2Fqueue%2Fa/x"));
    /* The longest prefix wins over the shorter "/api/". */
    assert_int_equal(match(r, HTTP_METHOD_DELETE, "/api/v1/destinations/q", &m), 200);
    assert_ptr_equal(m.route->fn, h_b);
    assert_int_equal(match(r, HTTP_METHOD_GET, "/api/other", &m), 200);
    assert_true(pmq_slice_eq_cstr(m.tail, "other"));
    /* HEAD is served by GET routes. */
    assert_int_equal(match(r, HTTP_METHOD_HEAD, "/api/v1/destinations", &m), 200);
    router_free(r);
}

static void test_not_found_and_method(void **state) {
    (void)state;
    http_router_t *r = router_new();
    http_route_match_t m;
    assert_int_equal(match(r, HTTP_METHOD_GET, "/nope", &m), 404);
    assert_int_equal(match(r, HTTP_METHOD_GET, "/ap", &m), 404);
    /* A prefix needs a non-empty rest: "/api/" itself is not matched by "/api/". */
    assert_int_equal(match(r, HTTP_METHOD_GET, "/api/", &m), 404);
    /* The exact path exists with POST only: 405, the Allow set is its own. */
    assert_int_equal(match(r, HTTP_METHOD_GET, "/api/v1/destinations/special", &m), 405);
    assert_int_equal(m.allowed, POST);
    assert_int_equal(match(r, HTTP_METHOD_POST, "/api/v1/destinations/special", &m), 200);
    assert_int_equal(match(r, HTTP_METHOD_PUT, "/api/v1/destinations/q", &m), 405);
    assert_int_equal(m.allowed, GET | DEL);
    assert_int_equal(match(r, HTTP_METHOD_POST, "/api/v1/destinations", &m), 405);
    assert_int_equal(m.allowed, GET);
    router_free(r);
}

static void test_add_errors(void **state) {
    (void)state;
    http_router_t *r = router_new();
    assert_int_equal(http__router_add(r, GET, "/api/v1/destinations", 0, h_b, NULL), PMQ_EEXIST);
    /* Same path, other methods: allowed and merged into the Allow set. */
    assert_int_equal(http__router_add(r, POST, "/api/v1/destinations", 0, h_b, NULL), 0);
    http_route_match_t m;
    assert_int_equal(match(r, HTTP_METHOD_POST, "/api/v1/destinations", &m), 200);
    assert_ptr_equal(m.route->fn, h_b);
    assert_int_equal(http__router_add(r, GET, "relative", 0, h_a, NULL), PMQ_EINVAL);
    assert_int_equal(http__router_add(r, 0, "/x", 0, h_a, NULL), PMQ_EINVAL);
    assert_int_equal(http__router_add(r, GET, "/x", 0, NULL, NULL), PMQ_EINVAL);
    assert_int_equal(http__router_add(r, GET, "/x", 0x80, h_a, NULL), PMQ_EINVAL);
    int rc = 0;
    char path[32];
    for (int i = 0; rc == 0; i++) {
        snprintf(path, sizeof(path), "/r%d", i);
        rc = http__router_add(r, GET, path, 0, h_a, NULL);
    }
    assert_int_equal(rc, PMQ_EFULL);
    assert_int_equal(r->count, HTTP_ROUTES_MAX);
    router_free(r);
}

/* ---- Basic auth ---- */

static bool auth_with(http_server_t *srv, const char *header) {
    http_header_t h[2] = {{PMQ_SLICE_LIT("Host"), PMQ_SLICE_LIT("x")},
                          {PMQ_SLICE_LIT("Authorization"), pmq_slice_cstr(header)}};
    http_request_t req = {.headers = h, .header_count = header ? 2 : 1};
    return http__auth_ok(srv, &req);
}

static void test_basic_auth(void **state) {
    (void)state;
    http_server_t *srv = test_calloc(1, sizeof(*srv));
    srv->app.admin_user = "admin";
    srv->app.admin_password = "s3cret";
    assert_true(auth_with(srv, "Basic YWRtaW46czNjcmV0"));   /* admin:s3cret */
    assert_true(auth_with(srv, "basic  YWRtaW46czNjcmV0"));  /* scheme is case-insensitive */
    assert_false(auth_with(srv, NULL));
    assert_false(auth_with(srv, "Basic YWRtaW46czNjcmV1"));  /* admin:s3creu */
    assert_false(auth_with(srv, "Basic YWRtaW46czNjcmV0eA==")); /* admin:s3cretx */
    assert_false(auth_with(srv, "Basic YWRtaW46czNjcmU="));  /* admin:s3cre */
    assert_false(auth_with(srv, "Basic YWRtaW4="));          /* no colon */
    assert_false(auth_with(srv, "Basic YWRtaW46czNjcmV0="));  /* bad padding */
    assert_false(auth_with(srv, "Basic !!!!"));
    assert_false(auth_with(srv, "Bearer YWRtaW46czNjcmV0"));
    assert_true(auth_with(srv, "Basic OnM6Yw==") == false);  /* ":s:c" */
    srv->app.admin_password = "";
    assert_true(auth_with(srv, "Basic YWRtaW46"));           /* admin: with empty password */
    srv->app.admin_user = NULL;
    assert_false(auth_with(srv, "Basic YWRtaW46czNjcmV0")); /* nothing configured: closed */
    srv->app.admin_open = true;
    assert_true(auth_with(srv, NULL));
    test_free(srv);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_and_prefix),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_basic_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
