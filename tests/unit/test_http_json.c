/* Unit tests for the JSON writer (src/http/json.c): the RFC 8259 escaping table,
 * invalid UTF-8 replacement, numbers, nesting and the sticky size-limit error. */
#include "test_util.h"

#include "paxmq/http.h"

typedef struct esc_case {
    const char *in;
    size_t len;
    const char *out;
} esc_case_t;

#define ESC(lit, expect) {lit, sizeof(lit) - 1, expect}

static const esc_case_t esc_cases[] = {
    ESC("plain", "\"plain\""),
    ESC("", "\"\""),
    ESC("q\"b\\s/", "\"q\\\"b\\\\s/\""),
    ESC("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""),
    ESC("\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\""),
    ESC("a\0b", "\"a\\u0000b\""),
    ESC("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""),
    ESC("\xff", "\"\xef\xbf\xbd\""),                       /* never valid */
    ESC("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\""),       /* overlong '/' */
    ESC("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""), /* surrogate */
    ESC("a\xe2\x82", "\"a\xef\xbf\xbd\xef\xbf\xbd\""),     /* truncated */
    ESC("\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
    ESC("\x80z", "\"\xef\xbf\xbdz\""),                     /* lone continuation */
};

static void test_escape_table(void **state) {
    (void)state;
    for (size_t i = 0; i < PMQ_ARRAY_LEN(esc_cases); i++) {
        pmq_buf_t b;
        pmq_buf_init(&b, 0);
        assert_int_equal(http_json_escape(&b, pmq_slice(esc_cases[i].in, esc_cases[i].len)), 0);
        assert_true(pmq_utf8_is_valid(pmq_buf_slice(&b), true));
        if (!pmq_slice_eq_cstr(pmq_buf_slice(&b), esc_cases[i].out)) {
            print_error("case %zu: got %.*s\n", i, (int)b.len, b.data);
        }
        assert_true(pmq_slice_eq_cstr(pmq_buf_slice(&b), esc_cases[i].out));
        pmq_buf_close(&b);
    }
}

static void test_document(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    http_json_t j;
    http_json_init(&j, &b);
    http_json_object_begin(&j);
    http_json_key(&j, "node");
    http_json_cstr(&j, "n\"1");
    http_json_key(&j, "ints");
    http_json_array_begin(&j);
    http_json_int(&j, INT64_MIN);
    http_json_uint(&j, UINT64_MAX);
    http_json_int(&j, 0);
    http_json_array_end(&j);
    http_json_key(&j, "d");
    http_json_array_begin(&j);
    http_json_double(&j, 0.1);
    http_json_double(&j, 1e300);
    http_json_double(&j, -2.5);
    http_json_double(&j, 0.0 / 0.0);
    http_json_array_end(&j);
    http_json_key(&j, "empty");
    http_json_object_begin(&j);
    http_json_object_end(&j);
    http_json_key(&j, "e2");
    http_json_array_begin(&j);
    http_json_array_end(&j);
    http_json_key(&j, "t");
    http_json_bool(&j, true);
    http_json_key(&j, "f");
    http_json_bool(&j, false);
    http_json_key(&j, "n");
    http_json_cstr(&j, NULL);
    http_json_object_end(&j);
    assert_int_equal(http_json_finish(&j), 0);
    const char *expect = "{\"node\":\"n\\\"1\",\"ints\":[-9223372036854775808,"
                         "18446744073709551615,0],\"d\":[0.1,1e+300,-2.5,null],\"empty\":{},"
                         "\"e2\":[],\"t\":true,\"f\":false,\"n\":null}";
    if (!pmq_slice_eq_cstr(pmq_buf_slice(&b), expect)) {
        print_error("got %.*s\n", (int)b.len, b.data);
    }
    assert_true(pmq_slice_eq_cstr(pmq_buf_slice(&b), expect));
    pmq_buf_close(&b);
}

/* A capped buffer: the first failure sticks and finish reports it. */
static void test_sticky_limit(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 16);
    http_json_t j;
    http_json_init(&j, &b);
    http_json_array_begin(&j);
    for (int i = 0; i < 10; i++) {
        http_json_cstr(&j, "abcdef");
    }
    http_json_array_end(&j);
    assert_int_equal(http_json_finish(&j), PMQ_ETOOBIG);
    assert_true(b.len <= 16);
    pmq_buf_close(&b);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_table),
        cmocka_unit_test(test_document),
        cmocka_unit_test(test_sticky_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
