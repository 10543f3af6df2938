/* Unit tests for the Prometheus text writer (src/http/prom.c): HELP/TYPE lines, label
 * value escaping, number formats, histogram layout and name validation. */
#include <math.h>

#include "test_util.h"

#include "paxmq/http.h"

static void assert_buf(pmq_buf_t *b, const char *expect) {
    if (!pmq_slice_eq_cstr(pmq_buf_slice(b), expect)) {
        print_error("got:\n%.*s\nwant:\n%s\n", (int)b->len, b->data, expect);
    }
    assert_true(pmq_slice_eq_cstr(pmq_buf_slice(b), expect));
}

static void test_family_and_escaping(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(http_prom_family(&b, "paxmq_messages_in_total", HTTP_PROM_COUNTER,
                                      "Messages in.\nSecond \\ line"), 0);
    http_prom_label_t labels[] = {{"destination", "/queue/a\"b\\c\nd"}, {"proto", "stomp"}};
    assert_int_equal(http_prom_sample_u64(&b, "paxmq_messages_in_total", labels, 2,
                                          UINT64_MAX), 0);
    assert_int_equal(http_prom_sample(&b, "paxmq_x", NULL, 0, 0.25), 0);
    assert_int_equal(http_prom_sample(&b, "paxmq_x", NULL, 0, 3.0), 0);
    assert_int_equal(http_prom_sample(&b, "paxmq_x", NULL, 0, INFINITY), 0);
    assert_int_equal(http_prom_sample(&b, "paxmq_x", NULL, 0, -INFINITY), 0);
    assert_int_equal(http_prom_sample(&b, "paxmq_x", NULL, 0, NAN), 0);
    assert_int_equal(http_prom_sample(&b, "paxmq_x", NULL, 0, 1e20), 0);
    assert_buf(&b, "# HELP paxmq_messages_in_total Messages in.\\nSecond \\\\ line\n"
                   "# TYPE paxmq_messages_in_total counter\n"
                   "paxmq_messages_in_total{destination=\"/queue/a\\\"b\\\\c\\nd\","
                   "proto=\"stomp\"} 18446744073709551615\n"
                   "paxmq_x 0.25\npaxmq_x 3\npaxmq_x +Inf\npaxmq_x -Inf\npaxmq_x NaN\n"
                   "paxmq_x 1e+20\n");
    pmq_buf_close(&b);
}

static void test_histogram(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    const double bounds[] = {0.001, 0.01, 0.1};
    const uint64_t counts[] = {2, 0, 5, 1};
    http_prom_label_t l[] = {{"env", "log"}};
    assert_int_equal(http_prom_family(&b, "paxmq_commit_seconds", HTTP_PROM_HISTOGRAM,
                                      "Commit latency."), 0);
    assert_int_equal(http_prom_histogram(&b, "paxmq_commit_seconds", l, 1, bounds, counts, 3,
                                         0.5), 0);
    assert_int_equal(http_prom_histogram(&b, "paxmq_h", NULL, 0, bounds, counts, 0, 0), 0);
    assert_buf(&b, "# HELP paxmq_commit_seconds Commit latency.\n"
                   "# TYPE paxmq_commit_seconds histogram\n"
                   "paxmq_commit_seconds_bucket{env=\"log\",le=\"0.001\"} 2\n"
                   "paxmq_commit_seconds_bucket{env=\"log\",le=\"0.01\"} 2\n"
                   "paxmq_commit_seconds_bucket{env=\"log\",le=\"0.1\"} 7\n"
                   "paxmq_commit_seconds_bucket{env=\"log\",le=\"+Inf\"} 8\n"
                   "paxmq_commit_seconds_sum{env=\"log\"} 0.5\n"
                   "paxmq_commit_seconds_count{env=\"log\"} 8\n"
                   "paxmq_h_bucket{le=\"+Inf\"} 2\npaxmq_h_sum 0\npaxmq_h_count 2\n");
    pmq_buf_close(&b);
}

static void test_invalid_names(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(http_prom_family(&b, "1abc", HTTP_PROM_GAUGE, "x"), PMQ_EINVAL);
    assert_int_equal(http_prom_family(&b, "a-b", HTTP_PROM_GAUGE, "x"), PMQ_EINVAL);
    assert_int_equal(http_prom_family(&b, "", HTTP_PROM_GAUGE, "x"), PMQ_EINVAL);
    http_prom_label_t bad1[] = {{"__reserved", "v"}};
    http_prom_label_t bad2[] = {{"a:b", "v"}};
    assert_int_equal(http_prom_sample(&b, "ok", bad1, 1, 1), PMQ_EINVAL);
    assert_int_equal(http_prom_sample(&b, "ok", bad2, 1, 1), PMQ_EINVAL);
    const double unsorted[] = {1, 1};
    const uint64_t counts[] = {0, 0, 0};
    assert_int_equal(http_prom_histogram(&b, "h", NULL, 0, unsorted, counts, 2, 0), PMQ_EINVAL);
    assert_int_equal(b.len, 0);
    assert_int_equal(http_prom_sample(&b, "ns:sub_total", NULL, 0, 1), 0);
    pmq_buf_close(&b);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_and_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_invalid_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
