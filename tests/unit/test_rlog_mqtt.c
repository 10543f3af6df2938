/* Unit tests for the MQTT commands of src/log/rlog.c: each one round trips, every
 * truncation and trailing byte is rejected as data, and the values the decoder must
 * refuse (packet id 0, QoS 3, empty client id or filter) are refused. */
#include "test_util.h"

#include "paxmq/rlog.h"

/* Decodes b and checks that every strict prefix and one extra byte are rejected. */
static void decode_strict(pmq_buf_t *b, rlog_cmd_t *c) {
    for (size_t n = 0; n < b->len; n++) {
        assert_int_equal(rlog_cmd_decode(pmq_slice(b->data, n), c), PMQ_ECORRUPT);
    }
    assert_int_equal(pmq_buf_append(b, "x", 1), 0);
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(b), c), PMQ_ECORRUPT);
    b->len--;
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(b), c), 0);
}

static void test_session_open_close(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    rlog_cmd_t c;
    assert_int_equal(rlog_encode_mqtt_session_open(&b, PMQ_SLICE_LIT("dev-1"), 1032), 0);
    decode_strict(&b, &c);
    assert_int_equal(c.type, RLOG_CMD_MQTT_SESSION_OPEN);
    assert_true(pmq_slice_eq_cstr(c.client_id, "dev-1"));
    assert_int_equal(c.limit, 1032);
    pmq_buf_reset(&b);
    assert_int_equal(rlog_encode_mqtt_session_close(&b, PMQ_SLICE_LIT("dev-1")), 0);
    decode_strict(&b, &c);
    assert_int_equal(c.type, RLOG_CMD_MQTT_SESSION_CLOSE);
    assert_true(pmq_slice_eq_cstr(c.client_id, "dev-1"));
    assert_string_equal(rlog_cmd_type_name(RLOG_CMD_MQTT_SESSION_CLOSE), "MQTT_SESSION_CLOSE");
    pmq_buf_close(&b);
}

static void test_sub_unsub(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    rlog_cmd_t c;
    assert_int_equal(rlog_encode_mqtt_sub(&b, PMQ_SLICE_LIT("c"), PMQ_SLICE_LIT("/topic/a.*.>"), 2),
                     0);
    decode_strict(&b, &c);
    assert_int_equal(c.type, RLOG_CMD_MQTT_SUB);
    assert_true(pmq_slice_eq_cstr(c.pattern, "/topic/a.*.>"));
    assert_int_equal(c.qos, 2);
    /* QoS 3 is not a QoS: the decoder refuses it. */
    b.data[b.len - 1] = 3;
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(&b), &c), PMQ_ECORRUPT);
    pmq_buf_reset(&b);
    assert_int_equal(rlog_encode_mqtt_unsub(&b, PMQ_SLICE_LIT("c"), PMQ_SLICE_LIT("/topic/x")), 0);
    decode_strict(&b, &c);
    assert_int_equal(c.type, RLOG_CMD_MQTT_UNSUB);
    assert_true(pmq_slice_eq_cstr(c.pattern, "/topic/x"));
    pmq_buf_close(&b);
}

static void test_pid_commands(void **state) {
    (void)state;
    const rlog_cmd_type_t types[] = {RLOG_CMD_MQTT_QOS2_IN, RLOG_CMD_MQTT_QOS2_REL,
                                     RLOG_CMD_MQTT_OUT_REC, RLOG_CMD_MQTT_OUT_COMP};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(types); i++) {
        pmq_buf_t b;
        pmq_buf_init(&b, 0);
        rlog_cmd_t c;
        assert_int_equal(rlog_encode_mqtt_pid(&b, types[i], PMQ_SLICE_LIT("client"), 65535), 0);
        decode_strict(&b, &c);
        assert_int_equal(c.type, types[i]);
        assert_int_equal(c.pid, 65535);
        assert_true(pmq_slice_eq_cstr(c.client_id, "client"));
        /* Packet id 0 never exists [MQTT-2.3.1-1]. */
        b.data[b.len - 1] = 0;
        b.data[b.len - 2] = 0;
        assert_int_equal(rlog_cmd_decode(pmq_buf_slice(&b), &c), PMQ_ECORRUPT);
        pmq_buf_close(&b);
    }
}

static void test_out_bind(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    rlog_cmd_t c;
    assert_int_equal(rlog_encode_mqtt_out_bind(&b, PMQ_SLICE_LIT("z"), 0x0102030405060708ull, 7),
                     0);
    decode_strict(&b, &c);
    assert_int_equal(c.type, RLOG_CMD_MQTT_OUT_BIND);
    assert_true(c.seq == 0x0102030405060708ull);
    assert_int_equal(c.pid, 7);
    pmq_buf_close(&b);
}

static void test_retain(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    rlog_cmd_t c;
    rlog_msg_props_t p = {.priority = 4, .persistent = true, .timestamp_ms = 99};
    rlog_header_t h = {PMQ_SLICE_LIT("ActiveMQ.MQTT.QoS"), PMQ_SLICE_LIT("1")};
    assert_int_equal(rlog_encode_retain(&b, PMQ_SLICE_LIT("/topic/a.b"), &p, &h, 1,
                                        PMQ_SLICE_LIT("21.5")),
                     0);
    decode_strict(&b, &c);
    assert_int_equal(c.type, RLOG_CMD_RETAIN);
    assert_true(pmq_slice_eq_cstr(c.dest, "/topic/a.b"));
    assert_true(pmq_slice_eq_cstr(c.body, "21.5"));
    assert_true(c.props.persistent);
    assert_int_equal(c.header_count, 1);
    pmq_buf_reset(&b);
    /* The clearing form: an empty body. */
    assert_int_equal(rlog_encode_retain(&b, PMQ_SLICE_LIT("/topic/a.b"), &p, NULL, 0,
                                        pmq_slice(NULL, 0)),
                     0);
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(&b), &c), 0);
    assert_int_equal(c.body.len, 0);
    pmq_buf_close(&b);
}

static void test_empty_client_rejected_and_txn(void **state) {
    (void)state;
    /* Hand-built: version 1, MQTT_SESSION_CLOSE, empty client id. */
    const char bad[] = {1, RLOG_CMD_MQTT_SESSION_CLOSE, 0, 0, 0, 0};
    rlog_cmd_t c;
    assert_int_equal(rlog_cmd_decode(pmq_slice(bad, sizeof(bad)), &c), PMQ_ECORRUPT);
    /* MQTT commands nest in a TXN (PUBLISH + QOS2_IN is how a QoS 2 PUBLISH is stored). */
    pmq_buf_t txn, op;
    pmq_buf_init(&txn, 0);
    pmq_buf_init(&op, 0);
    size_t mark;
    assert_int_equal(rlog_txn_begin(&txn, &mark), 0);
    rlog_msg_props_t p = {.priority = 4, .persistent = true};
    assert_int_equal(rlog_encode_publish(&op, PMQ_SLICE_LIT("/topic/t"), &p, NULL, 0,
                                         PMQ_SLICE_LIT("x")),
                     0);
    assert_int_equal(rlog_txn_add_op(&txn, mark, pmq_buf_slice(&op)), 0);
    pmq_buf_reset(&op);
    assert_int_equal(rlog_encode_mqtt_pid(&op, RLOG_CMD_MQTT_QOS2_IN, PMQ_SLICE_LIT("c"), 9), 0);
    assert_int_equal(rlog_txn_add_op(&txn, mark, pmq_buf_slice(&op)), 0);
    rlog_txn_end(&txn, mark);
    assert_int_equal(rlog_cmd_decode(pmq_buf_slice(&txn), &c), 0);
    assert_int_equal(c.op_count, 2);
    /* An unknown type after the last MQTT one is still refused. */
    const char unknown[] = {1, RLOG_CMD_TYPE_LAST + 1, 0, 0, 0, 1, 'c'};
    assert_int_equal(rlog_cmd_decode(pmq_slice(unknown, sizeof(unknown)), &c), PMQ_ECORRUPT);
    pmq_buf_close(&txn);
    pmq_buf_close(&op);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_open_close),
        cmocka_unit_test(test_sub_unsub),
        cmocka_unit_test(test_pid_commands),
        cmocka_unit_test(test_out_bind),
        cmocka_unit_test(test_retain),
        cmocka_unit_test(test_empty_client_rejected_and_txn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
