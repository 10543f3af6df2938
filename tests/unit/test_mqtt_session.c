/* Unit tests for the socket-free parts of the MQTT session (src/proto/mqtt): the
 * outbound window (packet id allocation never reuses an id in flight or one the durable
 * state holds, wraps 65535 -> 1, never returns 0), the pending ring behind it (FIFO across
 * growth), and the inbound QoS 2 id set (sorted, flags kept, idempotent). */
#include "test_util.h"

#include "mqtt_int.h"

static mqtt_sess_t *sess_new(void) {
    mqtt_sess_t *s = test_calloc(1, sizeof(*s) + 2);
    s->next_pid = 1;
    return s;
}

static void sess_free(mqtt_sess_t *s) {
    mqtt__win_free(s);
    test_free(s);
}

static bool odd_in_use(const void *arg, uint16_t pid) {
    (void)arg;
    return pid % 2 == 1;
}

static void test_pid_alloc_skips_ids_in_use_and_wraps(void **state) {
    (void)state;
    mqtt_sess_t *s = sess_new();
    assert_int_equal(mqtt__pid_alloc(s, NULL, NULL), 1);
    mqtt_flight_t f = {.pid = 2, .qos = 1, .state = FL_SENT};
    assert_int_equal(mqtt__flight_push(s, &f), 0);
    assert_int_equal(mqtt__pid_alloc(s, NULL, NULL), 3); /* 2 is in flight */
    /* Ids the durable state holds are skipped too (here: every odd one). */
    assert_int_equal(mqtt__pid_alloc(s, odd_in_use, NULL), 4);
    s->next_pid = 65535;
    assert_int_equal(mqtt__pid_alloc(s, NULL, NULL), 65535);
    assert_int_equal(mqtt__pid_alloc(s, NULL, NULL), 1); /* wraps, skipping 0 */
    uint32_t at = 99;
    assert_non_null(mqtt__flight_find(s, 2, &at));
    assert_int_equal(at, 0);
    assert_null(mqtt__flight_find(s, 3, &at));
    sess_free(s);
}

static bool all_in_use(const void *arg, uint16_t pid) {
    (void)arg;
    (void)pid;
    return true;
}

static void test_pid_alloc_exhausted_returns_zero(void **state) {
    (void)state;
    mqtt_sess_t *s = sess_new();
    assert_int_equal(mqtt__pid_alloc(s, all_in_use, NULL), 0);
    sess_free(s);
}

static void test_window_keeps_send_order(void **state) {
    (void)state;
    mqtt_sess_t *s = sess_new();
    for (uint16_t pid = 10; pid < 20; pid++) {
        mqtt_flight_t f = {.pid = pid, .qos = 2, .state = FL_SENT};
        assert_int_equal(mqtt__flight_push(s, &f), 0);
    }
    uint32_t at;
    assert_non_null(mqtt__flight_find(s, 13, &at));
    mqtt__flight_remove(s, at);
    assert_int_equal(mqtt__fl_count(s), 9);
    uint16_t expect[] = {10, 11, 12, 14, 15, 16, 17, 18, 19};
    for (uint32_t i = 0; i < mqtt__fl_count(s); i++) {
        assert_int_equal(s->w->fl[i].pid, expect[i]);
    }
    assert_int_equal(mqtt__flight_add_rel(s, 500), 0);
    assert_int_equal(s->w->fl[9].state, FL_PUBREL);
    assert_true(s->w->fl[9].logged);
    /* Emptied, the session holds no delivery state at all. */
    while (mqtt__fl_count(s) > 0) {
        mqtt__flight_remove(s, 0);
    }
    assert_null(s->w);
    sess_free(s);
}

static void test_pending_ring_is_fifo_across_growth(void **state) {
    (void)state;
    mqtt_sess_t *s = sess_new();
    uint8_t next_in = 0, next_out = 0;
    /* Interleave pushes and pops so the ring wraps before it grows. */
    for (int round = 0; round < 50; round++) {
        for (int k = 0; k < 3; k++) {
            mqtt_pend_t p = {.msg = NULL, .qos = next_in++ % 3, .retain = false};
            assert_int_equal(mqtt__pend_push(s, &p), 0);
        }
        mqtt_pend_t out;
        assert_true(mqtt__pend_pop(s, &out));
        assert_int_equal(out.qos, next_out++ % 3);
    }
    mqtt_pend_t out;
    while (mqtt__pend_pop(s, &out)) {
        assert_int_equal(out.qos, next_out++ % 3);
    }
    assert_int_equal(next_in, next_out);
    assert_null(s->w); /* an empty ring gives its memory back */
    sess_free(s);
}

static void test_inbound_qos2_set(void **state) {
    (void)state;
    mqtt_sess_t *s = sess_new();
    uint16_t pids[] = {500, 3, 65535, 77, 1, 300};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(pids); i++) {
        assert_int_equal(mqtt__in_put(s, pids[i], false), 0);
    }
    assert_int_equal(mqtt__in_put(s, 77, false), 0); /* idempotent */
    assert_int_equal(s->w->in_count, 6);
    for (uint32_t i = 1; i < s->w->in_count; i++) {
        assert_true((s->w->in[i - 1] & 0xFFFF) < (s->w->in[i] & 0xFFFF));
    }
    assert_int_equal(mqtt__in_get(s, 77), 77); /* held, not yet stored */
    assert_true(mqtt__in_mark_stored(s, 77));
    assert_int_equal(mqtt__in_get(s, 77), 77 | MQTT_IN_STORED);
    assert_int_equal(mqtt__in_put(s, 77, false), 0); /* does not forget it is stored */
    assert_int_equal(mqtt__in_get(s, 77), 77 | MQTT_IN_STORED);
    assert_false(mqtt__in_mark_stored(s, 78));
    assert_int_equal(mqtt__in_get(s, 78), 0);
    mqtt__in_del(s, 77);
    mqtt__in_del(s, 77);
    assert_int_equal(mqtt__in_get(s, 77), 0);
    assert_int_equal(s->w->in_count, 5);
    sess_free(s);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pid_alloc_skips_ids_in_use_and_wraps),
        cmocka_unit_test(test_pid_alloc_exhausted_returns_zero),
        cmocka_unit_test(test_window_keeps_send_order),
        cmocka_unit_test(test_pending_ring_is_fifo_across_growth),
        cmocka_unit_test(test_inbound_qos2_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
