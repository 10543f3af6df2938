/* Unit tests for MQTT topic rules (src/proto/mqtt/mqtt_topic.c): name and filter
 * validation, §4.7 matching (the specification's own examples first, then edge cases),
 * and the ActiveMQ mapping between MQTT topics and STOMP /topic/ destinations. */
#include "test_util.h"

#include "paxmq/buf.h"
#include "paxmq/mqtt.h"

static pmq_slice_t S(const char *s) { return pmq_slice_cstr(s); }

typedef struct match_case {
    const char *filter;
    const char *topic;
    bool match;
} match_case_t;

static const match_case_t match_cases[] = {
    /* §4.7.1.2 multi-level wildcard */
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/#", "sport", true},
    {"sport/#", "sports", false},
    {"#", "sport/tennis/player1", true},
    {"#", "a", true},
    {"#", "/", true},
    /* §4.7.1.3 single-level wildcard */
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+/+", "/finance", true},
    {"/+", "/finance", true},
    {"+", "/finance", false},
    {"+/tennis/#", "sport/tennis/player1", true},
    {"+/tennis/#", "sport/tennis", true},
    {"sport/+/player1", "sport/tennis/player1", true},
    {"sport/+/player1", "sport/tennis/player2", false},
    /* §4.7.2 topics beginning with $ */
    {"#", "$SYS/monitor/Clients", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"$SYS/#", "$SYS/monitor/Clients", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"$SYS/#", "$SYS", true},
    {"+/#", "$SYS/x", false},
    {"+", "$SYS", false},
    {"$SYS", "$SYS", true},
    /* §4.7.3 exact, case-sensitive comparison */
    {"ACCOUNTS", "Accounts", false},
    {"Accounts payable", "Accounts payable", true},
    {"/finance", "finance", false},
    {"finance", "/finance", false},
    /* our own edge cases */
    {"a/b", "a/b/c", false},
    {"a/b/c", "a/b", false},
    {"ab", "a", false},
    {"a", "ab", false},
    {"a/+/c", "a//c", true},
    {"+/+", "/", true},
    {"+", "/", false},
    {"+/#", "a", true},
    {"a/+/#", "a", false},
    {"a/+/#", "a/b", true},
    {"a/+/#", "a/b/c/d", true},
    {"a//#", "a//", true},
    {"a/#", "a/", true},
    {"#", "$", false},
    {"+/$SYS", "a/$SYS", true},
    {"$foo/+", "$foo/bar", true},
    {"sport/tennis/+", "sport/tennis/", true},
    {"caf\xc3\xa9/+", "caf\xc3\xa9/x", true},
    {"+/+/+", "a/b", false},
    {"a/b/#", "a/bc", false},
};

static void test_match_table(void **state) {
    (void)state;
    for (size_t i = 0; i < PMQ_ARRAY_LEN(match_cases); i++) {
        const match_case_t *c = &match_cases[i];
        assert_true(mqtt_topic_filter_is_valid(S(c->filter)));
        assert_true(mqtt_topic_name_is_valid(S(c->topic)));
        if (mqtt_topic_matches(S(c->filter), S(c->topic)) != c->match) {
            fail_msg("filter '%s' topic '%s': want %s", c->filter, c->topic,
                     c->match ? "match" : "no match");
        }
    }
}

/* A filter without wildcards matches exactly the topic with the same bytes. */
static void test_match_plain_is_equality(void **state) {
    (void)state;
    static const char *const names[] = {"a", "a/b", "/a", "a/", "//", "$SYS/x", "x/$y"};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(names); i++) {
        for (size_t j = 0; j < PMQ_ARRAY_LEN(names); j++) {
            assert_int_equal(mqtt_topic_matches(S(names[i]), S(names[j])), i == j);
        }
    }
}

static void test_filter_validation(void **state) {
    (void)state;
    static const char *const valid[] = {
        "#", "+", "+/+", "/#", "sport/#", "sport/tennis/#", "+/tennis/#", "sport/+/player1",
        "/", "//", "$SYS/#", "a b/c", "caf\xc3\xa9", "+/+/#", "a//+",
    };
    static const char *const invalid[] = {
        "", "sport/tennis#", "sport/tennis/#/ranking", "sport+", "#/", "a/#/", "++",
        "a/++/b", "+a", "a+/b", "##", "\xff", "\xc0\xaf", "a/\xed\xa0\x80",
    };
    for (size_t i = 0; i < PMQ_ARRAY_LEN(valid); i++) {
        if (!mqtt_topic_filter_is_valid(S(valid[i]))) {
            fail_msg("'%s' should be a valid filter", valid[i]);
        }
    }
    for (size_t i = 0; i < PMQ_ARRAY_LEN(invalid); i++) {
        if (mqtt_topic_filter_is_valid(S(invalid[i]))) {
            fail_msg("'%s' should be an invalid filter", invalid[i]);
        }
    }
    assert_false(mqtt_topic_filter_is_valid(pmq_slice("a\0b", 3))); /* U+0000 */
    char *big = test_malloc(MQTT_STRING_BYTES_MAX + 1);
    memset(big, 'a', MQTT_STRING_BYTES_MAX + 1);
    assert_true(mqtt_topic_filter_is_valid(pmq_slice(big, MQTT_STRING_BYTES_MAX)));
    assert_false(mqtt_topic_filter_is_valid(pmq_slice(big, MQTT_STRING_BYTES_MAX + 1)));
    assert_true(mqtt_topic_name_is_valid(pmq_slice(big, MQTT_STRING_BYTES_MAX)));
    assert_false(mqtt_topic_name_is_valid(pmq_slice(big, MQTT_STRING_BYTES_MAX + 1)));
    test_free(big);
}

static void test_name_validation(void **state) {
    (void)state;
    static const char *const valid[] = {"a", "/", "a/b", "$SYS/x", "sport/tennis/player1",
                                        "Accounts payable", "caf\xc3\xa9/\xe2\x82\xac", "a*b>c"};
    static const char *const invalid[] = {"", "+", "#", "a/+", "a/#", "a+b", "b#", "\xc0\xaf",
                                          "\xed\xbf\xbf", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(valid); i++) {
        if (!mqtt_topic_name_is_valid(S(valid[i]))) {
            fail_msg("'%s' should be a valid topic name", valid[i]);
        }
    }
    for (size_t i = 0; i < PMQ_ARRAY_LEN(invalid); i++) {
        if (mqtt_topic_name_is_valid(S(invalid[i]))) {
            fail_msg("'%s' should be an invalid topic name", invalid[i]);
        }
    }
    assert_false(mqtt_topic_name_is_valid(pmq_slice("a\0", 2)));
    assert_true(mqtt_topic_filter_has_wildcard(S("a/+")));
    assert_true(mqtt_topic_filter_has_wildcard(S("#")));
    assert_false(mqtt_topic_filter_has_wildcard(S("a/b")));
    assert_false(mqtt_topic_filter_has_wildcard(S("")));
}

/* ---- ActiveMQ mapping: MQTT a/b/c <-> STOMP /topic/a.b.c ---- */

typedef struct map_case {
    const char *mqtt;
    const char *stomp;
} map_case_t;

static const map_case_t map_cases[] = {
    {"a/b/c", "/topic/a.b.c"},
    {"a", "/topic/a"},
    {"a/+/c", "/topic/a.*.c"},
    {"a/#", "/topic/a.>"},
    {"#", "/topic/>"},
    {"+", "/topic/*"},
    {"+/+/#", "/topic/*.*.>"},
    {"v1.0/x", "/topic/v1/0.x"},       /* a literal '.' becomes '/', as in ActiveMQ */
    {"/finance", "/topic/.finance"},
    {"a//b", "/topic/a..b"},
    {"a/", "/topic/a."},
    {"$SYS/broker/clients", "/topic/$SYS.broker.clients"},
    {"price*/x", "/topic/price+.x"},  /* a literal '*' is not a STOMP wildcard */
    {"a>b", "/topic/a#b"},
    {"caf\xc3\xa9/\xe2\x82\xac", "/topic/caf\xc3\xa9.\xe2\x82\xac"},
};

static void test_map_table_both_ways(void **state) {
    (void)state;
    for (size_t i = 0; i < PMQ_ARRAY_LEN(map_cases); i++) {
        const map_case_t *c = &map_cases[i];
        pmq_buf_t b;
        pmq_buf_init(&b, 0);
        assert_int_equal(mqtt_topic_to_stomp(S(c->mqtt), &b), 0);
        if (!pmq_slice_eq_cstr(pmq_buf_slice(&b), c->stomp)) {
            fail_msg("'%s' -> '%.*s', want '%s'", c->mqtt, (int)b.len, b.data, c->stomp);
        }
        pmq_buf_reset(&b);
        assert_int_equal(mqtt_topic_from_stomp(S(c->stomp), &b), 0);
        if (!pmq_slice_eq_cstr(pmq_buf_slice(&b), c->mqtt)) {
            fail_msg("'%s' -> '%.*s', want '%s'", c->stomp, (int)b.len, b.data, c->mqtt);
        }
        pmq_buf_close(&b);
    }
}

/* Every byte value survives MQTT -> STOMP -> MQTT (the swap is its own inverse). */
static void test_map_roundtrip_all_bytes(void **state) {
    (void)state;
    char all[256];
    for (int i = 0; i < 256; i++) {
        all[i] = (char)i;
    }
    pmq_buf_t stomp;
    pmq_buf_t back;
    pmq_buf_init(&stomp, 0);
    pmq_buf_init(&back, 0);
    assert_int_equal(mqtt_topic_to_stomp(pmq_slice(all, 256), &stomp), 0);
    assert_int_equal(stomp.len, 7 + 256);
    assert_int_equal(mqtt_topic_from_stomp(pmq_buf_slice(&stomp), &back), 0);
    assert_int_equal(back.len, 256);
    assert_memory_equal(back.data, all, 256);
    pmq_buf_close(&stomp);
    pmq_buf_close(&back);
}

/* Matching commutes with the mapping: a STOMP wildcard subscription mapped to MQTT sees
 * the MQTT topics that correspond to the STOMP destinations ActiveMQ would route to it. */
static void test_map_preserves_matching(void **state) {
    (void)state;
    pmq_buf_t f;
    pmq_buf_t t;
    pmq_buf_init(&f, 0);
    pmq_buf_init(&t, 0);
    assert_int_equal(mqtt_topic_from_stomp(S("/topic/PRICE.STOCK.*.IBM"), &f), 0);
    assert_int_equal(mqtt_topic_from_stomp(S("/topic/PRICE.STOCK.NYSE.IBM"), &t), 0);
    assert_true(mqtt_topic_filter_is_valid(pmq_buf_slice(&f)));
    assert_false(mqtt_topic_name_is_valid(pmq_buf_slice(&f)));
    assert_true(mqtt_topic_name_is_valid(pmq_buf_slice(&t)));
    assert_true(mqtt_topic_matches(pmq_buf_slice(&f), pmq_buf_slice(&t)));
    pmq_buf_reset(&f);
    assert_int_equal(mqtt_topic_from_stomp(S("/topic/PRICE.>"), &f), 0);
    assert_true(mqtt_topic_matches(pmq_buf_slice(&f), pmq_buf_slice(&t)));
    pmq_buf_close(&f);
    pmq_buf_close(&t);
}

static void test_map_errors(void **state) {
    (void)state;
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(mqtt_topic_from_stomp(S("/queue/a"), &b), PMQ_EINVAL);
    assert_int_equal(mqtt_topic_from_stomp(S("/topic/"), &b), PMQ_EINVAL);
    assert_int_equal(mqtt_topic_from_stomp(S("topic/a"), &b), PMQ_EINVAL);
    assert_int_equal(mqtt_topic_from_stomp(S("/temp-topic/a"), &b), PMQ_EINVAL);
    assert_int_equal(mqtt_topic_from_stomp(S(""), &b), PMQ_EINVAL);
    assert_int_equal(b.len, 0);
    char *big = test_malloc(7 + MQTT_STRING_BYTES_MAX + 1);
    memcpy(big, "/topic/", 7);
    memset(big + 7, 'a', MQTT_STRING_BYTES_MAX + 1);
    assert_int_equal(mqtt_topic_from_stomp(pmq_slice(big, 7 + MQTT_STRING_BYTES_MAX + 1), &b),
                     PMQ_ETOOBIG);
    assert_int_equal(mqtt_topic_from_stomp(pmq_slice(big, 7 + MQTT_STRING_BYTES_MAX), &b), 0);
    assert_int_equal(b.len, MQTT_STRING_BYTES_MAX);
    test_free(big);
    pmq_buf_close(&b);
    /* out's limit is respected and out is unchanged on failure */
    pmq_buf_init(&b, 10);
    assert_int_equal(pmq_buf_append_cstr(&b, "xy"), 0);
    assert_int_equal(mqtt_topic_to_stomp(S("a/b"), &b), PMQ_ETOOBIG);
    assert_int_equal(b.len, 2);
    assert_int_equal(mqtt_topic_from_stomp(S("/topic/a.b.c.d.e.f.g.h"), &b), PMQ_ETOOBIG);
    assert_int_equal(b.len, 2);
    assert_int_equal(mqtt_topic_to_stomp(S("a"), &b), 0); /* appends: "xy/topic/a" */
    assert_memory_equal(b.data, "xy/topic/a", 10);
    pmq_buf_close(&b);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_match_plain_is_equality),
        cmocka_unit_test(test_filter_validation),
        cmocka_unit_test(test_name_validation),
        cmocka_unit_test(test_map_table_both_ways),
        cmocka_unit_test(test_map_roundtrip_all_bytes),
        cmocka_unit_test(test_map_preserves_matching),
        cmocka_unit_test(test_map_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
