/* Unit tests for the HTTP/1.1 request parser (src/http/h1_*.c): well-formed requests,
 * every malformed case with its status, byte-by-byte and random split feeding,
 * pipelining and the configured limits. Also the request helpers (query, percent). */
#include <stdio.h>

#include "test_util.h"

#include "paxmq/http.h"

typedef struct fixture {
    http_limits_t limits;
    http_parser_t parser;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = test_calloc(1, sizeof(*f));
    http_limits_default(&f->limits);
    f->limits.request_line_bytes_max = 64;
    f->limits.header_bytes_max = 256;
    f->limits.header_count_max = 8;
    f->limits.body_bytes_max = 32;
    assert_int_equal(http_parser_init(&f->parser, &f->limits), 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    http_parser_close(&f->parser);
    test_free(f);
    return 0;
}

/* Feeds the whole string at once after a reset; returns the feed result. */
static int feed_all(fixture_t *f, const char *s, size_t len, pmq_proto_err_t *err) {
    http_parser_reset(&f->parser);
    return http_parser_feed(&f->parser, s, len, err);
}

static void test_simple_get(void **state) {
    fixture_t *f = *state;
    static const char req[] = "GET /livez?verbose&x=1 HTTP/1.1\r\nHost: a\r\nX-A:  v  \r\n\r\n";
    pmq_proto_err_t err = {0};
    assert_int_equal(feed_all(f, req, sizeof(req) - 1, &err), (int)sizeof(req) - 1);
    const http_request_t *r = &f->parser.req;
    assert_int_equal(r->method, HTTP_METHOD_GET);
    assert_true(pmq_slice_eq_cstr(r->path, "/livez"));
    assert_true(pmq_slice_eq_cstr(r->query, "verbose&x=1"));
    assert_int_equal(r->version, 11);
    assert_true(r->keep_alive);
    assert_int_equal(r->header_count, 2);
    pmq_slice_t v;
    assert_true(http_request_header(r, "x-a", &v));
    assert_true(pmq_slice_eq_cstr(v, "v"));
    assert_true(http_query_get(r->query, "verbose", &v));
    assert_int_equal(v.len, 0);
    assert_true(http_query_get(r->query, "x", &v));
    assert_true(pmq_slice_eq_cstr(v, "1"));
    assert_false(http_query_get(r->query, "y", &v));
    assert_int_equal(r->body.len, 0);
}

static void test_body_and_partial(void **state) {
    fixture_t *f = *state;
    static const char req[] = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    pmq_proto_err_t err = {0};
    http_parser_reset(&f->parser);
    assert_int_equal(http_parser_feed(&f->parser, req, sizeof(req) - 3, &err), PMQ_EAGAIN);
    assert_true(http_parser_head_done(&f->parser));
    /* The buffer moves between calls, as a growing connection buffer would. */
    char *copy = test_malloc(sizeof(req));
    memcpy(copy, req, sizeof(req));
    assert_int_equal(http_parser_feed(&f->parser, copy, sizeof(req) - 1, &err),
                     (int)sizeof(req) - 1);
    assert_true(pmq_slice_eq_cstr(f->parser.req.body, "hello"));
    assert_true(f->parser.req.body.ptr == copy + sizeof(req) - 6);
    assert_true(pmq_slice_eq_cstr(f->parser.req.path, "/p"));
    test_free(copy);
}

/* Same request fed one byte at a time: EAGAIN until the last byte. */
static void test_byte_by_byte(void **state) {
    fixture_t *f = *state;
    static const char req[] = "\r\nPUT /x HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\n"
                              "Connection: keep-alive\r\n\r\nabc";
    pmq_proto_err_t err = {0};
    http_parser_reset(&f->parser);
    size_t n = sizeof(req) - 1;
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(http_parser_feed(&f->parser, req, i, &err), PMQ_EAGAIN);
    }
    assert_int_equal(http_parser_feed(&f->parser, req, n, &err), (int)n);
    assert_int_equal(f->parser.req.method, HTTP_METHOD_PUT);
    assert_int_equal(f->parser.req.version, 10);
    assert_true(f->parser.req.keep_alive);
    assert_true(pmq_slice_eq_cstr(f->parser.req.body, "abc"));
}

/* Three pipelined requests in one buffer, split at random points (seeded): each is
 * returned in order with the right length and the rest stays for the next. */
static void test_pipelined_random_splits(void **state) {
    fixture_t *f = *state;
    static const char reqs[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                               "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
                               "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    static const char *const paths[] = {"/a", "/b", "/c"};
    pmq_rng_t rng;
    pmq_rng_seed(&rng, 0x5eed);
    for (int round = 0; round < 200; round++) {
        size_t total = sizeof(reqs) - 1;
        size_t off = 0;  /* start of the current request */
        size_t have = 0; /* bytes "received" */
        int seen = 0;
        http_parser_reset(&f->parser);
        while (off < total) {
            size_t step = 1 + (size_t)pmq_rng_below(&rng, 20);
            have = PMQ_MIN(total, have + step);
            pmq_proto_err_t err = {0};
            int rc = PMQ_EAGAIN;
            while (off < total && (rc = http_parser_feed(&f->parser, reqs + off, have - off,
                                                         &err)) > 0) {
                assert_true(pmq_slice_eq_cstr(f->parser.req.path, paths[seen]));
                assert_int_equal(f->parser.req.keep_alive, seen != 2);
                seen++;
                off += (size_t)rc;
                http_parser_reset(&f->parser);
                if (off == have) {
                    break;
                }
            }
            if (off < have) {
                assert_int_equal(rc, PMQ_EAGAIN);
            }
        }
        assert_int_equal(seen, 3);
    }
}

typedef struct bad_case {
    const char *input;
    int status;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"GET / HTTP/1.1\nHost: a\n\n", 400},                       /* bare LF */
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},                /* two spaces */
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},                /* trailing space */
    {"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},              /* space in target */
    {"GET /\r\nHost: a\r\n\r\n", 400},                          /* HTTP/0.9 style */
    {"G(T / HTTP/1.1\r\n", 400},                                /* bad method char, early */
    {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400},      /* TLS ClientHello, early */
    {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400},
    {"GET / FOO/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/11\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
    {"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501},                /* unknown method */
    {"get / HTTP/1.1\r\nHost: a\r\n\r\n", 501},                 /* methods are case-sensitive */
    {"GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400},                 /* not origin-form */
    {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},                 /* asterisk only for OPTIONS */
    {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},         /* raw UTF-8 in target */
    {"GET /#f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n\r\n", 400},                            /* no Host on 1.1 */
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},                /* space before colon */
    {"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  folded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\rz\r\n\r\n", 400},       /* bare CR */
    {"GET / HTTP/1.1\r\nHost: a\r\nX\x7f: 1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 33\r\n\r\n", 413},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417},
    {"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 414},
    {"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\nH: 1\r\n\r\n",
     431},
};

/* Every malformed case gives its status, both fed whole and byte by byte, and always
 * asks for the connection to close. */
static void test_malformed_table(void **state) {
    fixture_t *f = *state;
    for (size_t i = 0; i < PMQ_ARRAY_LEN(bad_cases); i++) {
        const char *in = bad_cases[i].input;
        size_t n = strlen(in);
        pmq_proto_err_t err = {0};
        int rc = feed_all(f, in, n, &err);
        if (rc >= 0 || err.code != bad_cases[i].status) {
            print_error("case %zu (%s): rc=%d status=%d\n", i, in, rc, err.code);
        }
        assert_true(rc == PMQ_EPROTO || rc == PMQ_ETOOBIG);
        assert_int_equal(err.code, bad_cases[i].status);
        assert_true(err.must_close);
        assert_true(err.reason[0] != '\0');
        http_parser_reset(&f->parser);
        int last = PMQ_EAGAIN;
        for (size_t k = 1; k <= n && last == PMQ_EAGAIN; k++) {
            last = http_parser_feed(&f->parser, in, k, &err);
        }
        assert_true(last == PMQ_EPROTO || last == PMQ_ETOOBIG);
        assert_int_equal(err.code, bad_cases[i].status);
    }
}

/* The header-bytes limit fires before the section is complete (no unbounded wait). */
static void test_header_bytes_limit_early(void **state) {
    fixture_t *f = *state;
    char big[600];
    int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(big + n, 'v', sizeof(big) - (size_t)n);
    pmq_proto_err_t err = {0};
    assert_int_equal(feed_all(f, big, sizeof(big), &err), PMQ_ETOOBIG);
    assert_int_equal(err.code, 431);
}

static void test_accepted_forms(void **state) {
    fixture_t *f = *state;
    pmq_proto_err_t err = {0};
    static const char abs[] = "GET http://node:8161/metrics?x HTTP/1.1\r\nHost: node\r\n\r\n";
    assert_true(feed_all(f, abs, sizeof(abs) - 1, &err) > 0);
    assert_true(pmq_slice_eq_cstr(f->parser.req.path, "/metrics"));
    assert_true(pmq_slice_eq_cstr(f->parser.req.query, "x"));
    static const char star[] = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_true(feed_all(f, star, sizeof(star) - 1, &err) > 0);
    assert_int_equal(f->parser.req.method, HTTP_METHOD_OPTIONS);
    static const char v12[] = "GET / HTTP/1.2\r\nHost: a\r\n\r\n";
    assert_true(feed_all(f, v12, sizeof(v12) - 1, &err) > 0);
    assert_int_equal(f->parser.req.version, 11);
    static const char v10[] = "GET / HTTP/1.0\r\n\r\n";
    assert_true(feed_all(f, v10, sizeof(v10) - 1, &err) > 0);
    assert_false(f->parser.req.keep_alive);
    static const char obs[] = "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\t!\r\n\r\n";
    assert_true(feed_all(f, obs, sizeof(obs) - 1, &err) > 0);
    static const char cont[] =
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n";
    assert_int_equal(feed_all(f, cont, sizeof(cont) - 1, &err), PMQ_EAGAIN);
    assert_true(http_parser_head_done(&f->parser));
}

static void test_h2c_upgrade_detection(void **state) {
    fixture_t *f = *state;
    pmq_proto_err_t err = {0};
    static const char up[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                             "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
    assert_true(feed_all(f, up, sizeof(up) - 1, &err) > 0);
    assert_true(f->parser.req.h2c_upgrade);
    assert_true(pmq_slice_eq_cstr(f->parser.req.h2_settings, "AAMAAABkAAQCAAAAAAIAAAAA"));
    static const char noconn[] = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n"
                                 "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
    assert_true(feed_all(f, noconn, sizeof(noconn) - 1, &err) > 0);
    assert_false(f->parser.req.h2c_upgrade);
}

static void test_pct_decode(void **state) {
    (void)state;
    char out[16];
    size_t n = 0;
    assert_int_equal(http_pct_decode(PMQ_SLICE_LIT("%2Fqueue%2fa+b"), out, sizeof(out), &n), 0);
    assert_string_equal(out, "/queue/a+b");
    assert_int_equal(n, 10);
    assert_int_equal(http_pct_decode(PMQ_SLICE_LIT("a%2"), out, sizeof(out), &n), PMQ_EPROTO);
    assert_int_equal(http_pct_decode(PMQ_SLICE_LIT("a%zz"), out, sizeof(out), &n), PMQ_EPROTO);
    assert_int_equal(http_pct_decode(PMQ_SLICE_LIT("a%00"), out, sizeof(out), &n), PMQ_EPROTO);
    assert_int_equal(http_pct_decode(PMQ_SLICE_LIT("0123456789abcdef"), out, sizeof(out), &n),
                     PMQ_ETOOBIG);
    assert_int_equal(http_method_parse(PMQ_SLICE_LIT("DELETE")), HTTP_METHOD_DELETE);
    assert_string_equal(http_status_reason(431), "Request Header Fields Too Large");
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_simple_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_and_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_byte_by_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_random_splits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_bytes_limit_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accepted_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h2c_upgrade_detection, setup, teardown),
        cmocka_unit_test(test_pct_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
