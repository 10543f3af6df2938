/* Unit tests for src/base: buffers, readers, UTF-8, integers, CRC-32C, PRNG, errors. */
#include "test_util.h"

#include "paxmq/buf.h"

static void test_buf_limit_and_growth(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 10);
    assert_int_equal(pmq_buf_append(&b, "12345", 5), 0);
    assert_int_equal(pmq_buf_append(&b, "67890", 5), 0);
    assert_int_equal(pmq_buf_append(&b, "x", 1), PMQ_ETOOBIG);
    assert_int_equal(b.len, 10);
    pmq_buf_consume(&b, 3);
    assert_memory_equal(b.data, "4567890", 7);
    assert_int_equal(pmq_buf_appendf(&b, "%d", 42), 0);
    assert_memory_equal(b.data, "456789042", 9);
    pmq_buf_close(&b);
}

static void test_buf_roundtrip_integers(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(pmq_buf_put_u8(&b, 0xAB), 0);
    assert_int_equal(pmq_buf_put_u16(&b, 0xBEEF), 0);
    assert_int_equal(pmq_buf_put_u32(&b, 0xDEADBEEF), 0);
    assert_int_equal(pmq_buf_put_u64(&b, 0x0123456789ABCDEFull), 0);
    assert_int_equal(pmq_buf_put_bytes(&b, PMQ_SLICE_LIT("hello")), 0);
    pmq_rd_t r = pmq_rd_init(pmq_buf_slice(&b));
    assert_int_equal(pmq_rd_u8(&r), 0xAB);
    assert_int_equal(pmq_rd_u16(&r), 0xBEEF);
    assert_int_equal(pmq_rd_u32(&r), 0xDEADBEEF);
    assert_true(pmq_rd_u64(&r) == 0x0123456789ABCDEFull);
    pmq_slice_t s = pmq_rd_bytes(&r, 100);
    assert_true(pmq_slice_eq_cstr(s, "hello"));
    assert_false(r.err);
    assert_int_equal(r.left, 0);
    (void)pmq_rd_u8(&r);
    assert_true(r.err);
    pmq_buf_close(&b);
}

static void test_rd_bytes_rejects_length_past_end(void **state) {
    (void)state;
    const char raw[] = {0, 0, 0, 9, 'a', 'b'};
    pmq_rd_t r = pmq_rd_init(pmq_slice(raw, sizeof(raw)));
    pmq_slice_t s = pmq_rd_bytes(&r, 100);
    assert_true(r.err);
    assert_int_equal(s.len, 0);
    pmq_rd_t r2 = pmq_rd_init(pmq_slice(raw, sizeof(raw)));
    (void)pmq_rd_bytes(&r2, 4);
    assert_true(r2.err);
}

static void test_utf8(void **state) {
    (void)state;
    assert_true(pmq_utf8_is_valid(PMQ_SLICE_LIT("plain"), true));
    assert_true(pmq_utf8_is_valid(PMQ_SLICE_LIT("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"), true));
    assert_false(pmq_utf8_is_valid(PMQ_SLICE_LIT("\xc0\xaf"), false));     /* overlong */
    assert_false(pmq_utf8_is_valid(PMQ_SLICE_LIT("\xed\xa0\x80"), false)); /* surrogate */
    assert_false(pmq_utf8_is_valid(PMQ_SLICE_LIT("\xf4\x90\x80\x80"), false));
    assert_false(pmq_utf8_is_valid(PMQ_SLICE_LIT("\xe2\x82"), false)); /* truncated */
    assert_false(pmq_utf8_is_valid(PMQ_SLICE_LIT("\xff"), false));
    assert_true(pmq_utf8_is_valid(pmq_slice("a\0b", 3), false));
    assert_false(pmq_utf8_is_valid(pmq_slice("a\0b", 3), true));
}

static void test_integers(void **state) {
    (void)state;
    uint64_t v;
    assert_true(pmq_slice_to_u64(PMQ_SLICE_LIT("18446744073709551615"), UINT64_MAX, &v));
    assert_true(v == UINT64_MAX);
    assert_false(pmq_slice_to_u64(PMQ_SLICE_LIT("18446744073709551616"), UINT64_MAX, &v));
    assert_false(pmq_slice_to_u64(PMQ_SLICE_LIT("12a"), UINT64_MAX, &v));
    assert_false(pmq_slice_to_u64(PMQ_SLICE_LIT(""), UINT64_MAX, &v));
    assert_false(pmq_slice_to_u64(PMQ_SLICE_LIT("11"), 10, &v));
    int64_t i;
    assert_true(pmq_slice_to_i64(PMQ_SLICE_LIT("-9223372036854775808"), &i));
    assert_true(i == INT64_MIN);
    assert_false(pmq_slice_to_i64(PMQ_SLICE_LIT("9223372036854775808"), &i));
}

static void test_crc32c_known_vector(void **state) {
    (void)state;
    /* RFC 3720 appendix B.4: CRC-32C of "123456789" is 0xE3069283. */
    assert_int_equal(pmq_crc32c(0, "123456789", 9), 0xE3069283u);
    uint32_t c = pmq_crc32c(0, "1234", 4);
    assert_int_equal(pmq_crc32c(c, "56789", 5), 0xE3069283u);
}

static void test_rng_reproducible(void **state) {
    (void)state;
    pmq_rng_t a, b;
    pmq_rng_seed(&a, 42);
    pmq_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) {
        assert_true(pmq_rng_next(&a) == pmq_rng_next(&b));
    }
    for (int i = 0; i < 1000; i++) {
        uint64_t x = pmq_rng_range(&a, 5, 9);
        assert_true(x >= 5 && x <= 9);
    }
}

static void test_errors_have_names(void **state) {
    (void)state;
    assert_string_equal(pmq_errname(PMQ_EPROTO), "PMQ_EPROTO");
    assert_string_equal(pmq_strerror(PMQ_ETOOBIG), "value exceeds a configured limit");
    assert_true(PMQ_EINVAL < -10000);
    assert_string_equal(pmq_errname(-2), "ENOENT");
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_limit_and_growth),
        cmocka_unit_test(test_buf_roundtrip_integers),
        cmocka_unit_test(test_rd_bytes_rejects_length_past_end),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_crc32c_known_vector),
        cmocka_unit_test(test_rng_reproducible),
        cmocka_unit_test(test_errors_have_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
