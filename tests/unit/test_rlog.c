/* Unit tests for src/log/rlog.c: every command round trips, malformed and truncated
 * bytes are rejected as data (never asserted on), and versions are checked. */
#include "test_util.h"

#include "paxmq/rlog.h"

static void test_entry_roundtrip(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    rlog_entry_t e = {.index = 42, .ballot = (7ull << 16) | 2, .time_ms = 1700000000123ull,
                      .type = RLOG_ENTRY_CMD, .payload = PMQ_SLICE_LIT("cmd-bytes")};
    assert_int_equal(rlog_entry_encode(&b, &e), 0);
    rlog_entry_t d;
    assert_int_equal(rlog_entry_decode(pmq_buf_slice(&b), 42, &d), 0);
    assert_true(d.index == 42 && d.ballot == e.ballot && d.time_ms == e.time_ms);
    assert_int_equal(d.type, RLOG_ENTRY_CMD);
    assert_true(pmq_slice_eq_cstr(d.payload, "cmd-bytes"));
    b.data[0] = 9; /* a future format version */
    assert_int_equal(rlog_entry_decode(pmq_buf_slice(&b), 42, &d), PMQ_EVERSION);
    b.data[0] = 1;
    b.data[1] = 77; /* unknown entry type */
    assert_int_equal(rlog_entry_decode(pmq_buf_slice(&b), 42, &d), PMQ_ECORRUPT);
    assert_int_equal(rlog_entry_decode(pmq_slice(b.data, 5), 42, &d), PMQ_ECORRUPT);
    pmq_buf_close(&b);
}

static void test_publish_roundtrip(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    rlog_msg_props_t p = {.priority = 9, .persistent = true, .expires_ms = 5, .timestamp_ms = 6};
    rlog_header_t h[2] = {{PMQ_SLICE_LIT("content-type"), PMQ_SLICE_LIT("text/plain")},
                          {PMQ_SLICE_LIT("x"), pmq_slice("a\0b", 3)}};
    pmq_slice_t body = pmq_slice("bo\0dy", 5);
    assert_int_equal(rlog_encode_publish(&b, PMQ_SLICE_LIT("/queue/a"), &p, h, 2, body), 0);
    rlog_cmd_t c;
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(&b), &c), 0);
    assert_int_equal(c.type, RLOG_CMD_PUBLISH);
    assert_true(pmq_slice_eq_cstr(c.dest, "/queue/a"));
    assert_int_equal(c.props.priority, 9);
    assert_true(c.props.persistent);
    assert_true(c.props.expires_ms == 5 && c.props.timestamp_ms == 6);
    assert_true(pmq_slice_eq(c.body, body));
    rlog_iter_t it = rlog_headers_iter(&c);
    rlog_header_t got;
    assert_true(rlog_headers_next(&it, &got));
    assert_true(pmq_slice_eq_cstr(got.value, "text/plain"));
    assert_true(rlog_headers_next(&it, &got));
    assert_true(pmq_slice_eq(got.value, pmq_slice("a\0b", 3)));
    assert_false(rlog_headers_next(&it, &got));
    /* Every truncation of a valid command is rejected, never crashes. */
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(rlog_cmd_decode(pmq_slice(b.data, n), &c), PMQ_ECORRUPT);
    }
    /* Trailing garbage is rejected too. */
    assert_int_equal(pmq_buf_append(&b, "x", 1), 0);
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(&b), &c), PMQ_ECORRUPT);
    pmq_buf_close(&b);
}

static void test_seqs_dsub_dest_roundtrip(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    uint64_t seqs[3] = {1, 99, 1ull << 40};
    assert_int_equal(rlog_encode_seqs(&b, RLOG_CMD_DLQ, PMQ_SLICE_LIT("/queue/q"),
                                      PMQ_SLICE_LIT("/queue/ActiveMQ.DLQ"), seqs, 3), 0);
    rlog_cmd_t c;
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(&b), &c), 0);
    assert_int_equal(c.type, RLOG_CMD_DLQ);
    assert_true(pmq_slice_eq_cstr(c.dlq, "/queue/ActiveMQ.DLQ"));
    rlog_iter_t it = rlog_seqs_iter(&c);
    uint64_t s;
    for (int i = 0; i < 3; i++) {
        assert_true(rlog_seqs_next(&it, &s));
        assert_true(s == seqs[i]);
    }
    assert_false(rlog_seqs_next(&it, &s));
    pmq_buf_reset(&b);
    assert_int_equal(rlog_encode_dsub_add(&b, PMQ_SLICE_LIT("c1"), PMQ_SLICE_LIT("s1"),
                                          PMQ_SLICE_LIT("/topic/a.>")), 0);
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(&b), &c), 0);
    assert_true(pmq_slice_eq_cstr(c.pattern, "/topic/a.>"));
    pmq_buf_reset(&b);
    assert_int_equal(rlog_encode_dest_op(&b, RLOG_CMD_PURGE, PMQ_SLICE_LIT("/queue/z")), 0);
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(&b), &c), 0);
    assert_int_equal(c.type, RLOG_CMD_PURGE);
    pmq_buf_close(&b);
}

static void test_txn_roundtrip_and_no_nesting(void **state) {
    (void)state;
    pmq_buf_t b, op;
    pmq_buf_init(&b, 0);
    pmq_buf_init(&op, 0);
    size_t mark;
    assert_int_equal(rlog_txn_begin(&b, &mark), 0);
    uint64_t seq = 3;
    assert_int_equal(rlog_encode_seqs(&op, RLOG_CMD_ACK, PMQ_SLICE_LIT("/queue/q"),
                                      pmq_slice(NULL, 0), &seq, 1), 0);
    assert_int_equal(rlog_txn_add_op(&b, mark, pmq_buf_slice(&op)), 0);
    assert_int_equal(rlog_txn_add_op(&b, mark, pmq_buf_slice(&op)), 0);
    rlog_txn_end(&b, mark);
    rlog_cmd_t c;
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(&b), &c), 0);
    assert_int_equal(c.op_count, 2);
    /* A transaction inside a transaction is rejected. */
    pmq_buf_t outer;
    pmq_buf_init(&outer, 0);
    assert_int_equal(rlog_txn_begin(&outer, &mark), 0);
    assert_int_equal(rlog_txn_add_op(&outer, mark, pmq_buf_slice(&b)), 0);
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(&outer), &c), PMQ_ECORRUPT);
    pmq_buf_close(&outer);
    pmq_buf_close(&op);
    pmq_buf_close(&b);
}

static void test_random_bytes_never_crash(void **state) {
    (void)state;
    pmq_rng_t rng;
    pmq_rng_seed(&rng, 7);
    char buf[64];
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)pmq_rng_below(&rng, sizeof(buf));
        for (size_t k = 0; k < n; k++) {
            buf[k] = (char)pmq_rng_below(&rng, k < 2 ? 10 : 256);
        }
        rlog_cmd_t c;
        accepted += rlog_cmd_decode(pmq_slice(buf, n), &c) == 0;
    }
    assert_true(accepted < 20000);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_roundtrip),
        cmocka_unit_test(test_publish_roundtrip),
        cmocka_unit_test(test_seqs_dsub_dest_roundtrip),
        cmocka_unit_test(test_txn_roundtrip_and_no_nesting),
        cmocka_unit_test(test_random_bytes_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
