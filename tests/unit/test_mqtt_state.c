/* Unit tests for the MQTT state of the broker (src/broker/mqtt_state.c, retain.c): routing
 * of topic publishes to sessions (once per message, effective QoS, the '$' rule), what a
 * durable session keeps while its client is away, its limit, the outbound and inbound QoS 2
 * state, retained messages, and determinism: the same commands give the same state hash,
 * a snapshot restores the same state, and node-local (volatile) state never changes it. */
#include <stdio.h>

#include "test_util.h"

#include "paxmq/broker.h"

typedef struct proposal {
    pmq_buf_t cmd;
    broker_done_cb done;
    void *cookie;
} proposal_t;

typedef struct fixture {
    broker_t *b;
    proposal_t props[64];
    size_t nprops;
    uint64_t index;
} fixture_t;

/* What an online session owner (the protocol layer) was handed. */
typedef struct owner {
    char bodies[64][32];
    uint8_t qos[64];
    uint64_t tags[64];
    size_t n;
    bool full;
} owner_t;

static int fake_propose(void *arg, pmq_slice_t cmd, broker_done_cb done, void *cookie) {
    fixture_t *fx = arg;
    assert_true(fx->nprops < PMQ_ARRAY_LEN(fx->props));
    proposal_t *p = &fx->props[fx->nprops++];
    pmq_buf_init(&p->cmd, 0);
    assert_int_equal(pmq_buf_append_slice(&p->cmd, cmd), 0);
    p->done = done;
    p->cookie = cookie;
    return 0;
}

static void commit_all(fixture_t *fx) {
    for (size_t i = 0; i < fx->nprops; i++) {
        proposal_t *p = &fx->props[i];
        assert_int_equal(broker_apply(fx->b, ++fx->index, pmq_buf_slice(&p->cmd)), 0);
        if (p->done != NULL) {
            p->done(p->cookie, 0);
        }
        pmq_buf_close(&p->cmd);
    }
    fx->nprops = 0;
}

static void record(owner_t *o, const pmq_msg_t *m, uint8_t qos, uint64_t tag) {
    assert_true(o->n < PMQ_ARRAY_LEN(o->bodies));
    snprintf(o->bodies[o->n], sizeof(o->bodies[0]), "%.*s", (int)m->body.len, m->body.ptr);
    o->qos[o->n] = qos;
    o->tags[o->n] = tag;
    o->n++;
}

static int direct(void *owner, pmq_msg_t *m, uint8_t qos) {
    owner_t *o = owner;
    if (o->full) {
        return PMQ_EFULL;
    }
    record(o, m, qos, 0);
    return 0;
}

static int queued(void *owner, broker_sub_t *sub, const broker_delivery_t *d) {
    (void)sub;
    owner_t *o = owner;
    if (o->full) {
        return PMQ_EFULL;
    }
    record(o, d->msg, 0, d->tag);
    return 0;
}

static const broker_mqtt_ops_t mqtt_ops = {direct};
static const broker_consumer_ops_t consumer_ops = {queued};

static fixture_t *fixture_new(void) {
    fixture_t *fx = test_calloc(1, sizeof(*fx));
    broker_options_t o = {.broker_id = "test", .prefetch_default = 100, .max_redeliveries = 5,
                          .dlq = "ActiveMQ.DLQ", .queue_depth_max = 1000,
                          .queue_bytes_max = 1 << 20, .destinations_max = 1000};
    broker_log_t log = {fx, fake_propose};
    assert_int_equal(broker_new(&fx->b, &o, &log), 0);
    return fx;
}

static void fixture_free(fixture_t *fx) {
    commit_all(fx);
    broker_free(fx->b);
    test_free(fx);
}

static void apply(fixture_t *fx, pmq_buf_t *cmd) {
    assert_int_equal(fake_propose(fx, pmq_buf_slice(cmd), NULL, NULL), 0);
    pmq_buf_reset(cmd);
    commit_all(fx);
}

static void open_session(fixture_t *fx, const char *client, uint32_t limit) {
    pmq_buf_t c;
    pmq_buf_init(&c, 0);
    assert_int_equal(rlog_encode_mqtt_session_open(&c, pmq_slice_cstr(client), limit), 0);
    apply(fx, &c);
    pmq_buf_close(&c);
}

static void sub_durable(fixture_t *fx, const char *client, const char *pattern, uint8_t qos) {
    pmq_buf_t c;
    pmq_buf_init(&c, 0);
    assert_int_equal(rlog_encode_mqtt_sub(&c, pmq_slice_cstr(client), pmq_slice_cstr(pattern),
                                          qos), 0);
    apply(fx, &c);
    pmq_buf_close(&c);
}

static void pid_cmd(fixture_t *fx, rlog_cmd_type_t type, const char *client, uint16_t pid) {
    pmq_buf_t c;
    pmq_buf_init(&c, 0);
    assert_int_equal(rlog_encode_mqtt_pid(&c, type, pmq_slice_cstr(client), pid), 0);
    apply(fx, &c);
    pmq_buf_close(&c);
}

/* Publishes as the MQTT session does: persistent for QoS >= 1, with the QoS header. */
static void publish(fixture_t *fx, const char *dest, const char *body, uint8_t qos) {
    char q[2] = {(char)('0' + qos), 0};
    rlog_header_t h = {PMQ_SLICE_LIT(BROKER_MQTT_QOS_HEADER), pmq_slice_cstr(q)};
    rlog_msg_props_t p = {.priority = 4, .persistent = qos > 0, .timestamp_ms = 1};
    if (qos == 0) {
        assert_int_equal(broker_publish_volatile(fx->b, pmq_slice_cstr(dest), &p, &h, 1,
                                                 pmq_slice_cstr(body), 1000), 0);
        return;
    }
    pmq_buf_t c;
    pmq_buf_init(&c, 0);
    assert_int_equal(rlog_encode_publish(&c, pmq_slice_cstr(dest), &p, &h, 1,
                                         pmq_slice_cstr(body)), 0);
    apply(fx, &c);
    pmq_buf_close(&c);
}

static void retain(fixture_t *fx, const char *dest, const char *body) {
    rlog_msg_props_t p = {.priority = 4, .persistent = true, .timestamp_ms = 1};
    pmq_buf_t c;
    pmq_buf_init(&c, 0);
    assert_int_equal(rlog_encode_retain(&c, pmq_slice_cstr(dest), &p, NULL, 0,
                                        pmq_slice_cstr(body)), 0);
    apply(fx, &c);
    pmq_buf_close(&c);
}

static void test_offline_session_keeps_qos1_once(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    open_session(fx, "dev", 100);
    /* Overlapping filters: the message is queued once, at the highest QoS (§3.3.5). */
    sub_durable(fx, "dev", "/topic/a.*", 1);
    sub_durable(fx, "dev", "/topic/a.>", 2);
    broker_msess_t *s = broker_msess_find(fx->b, PMQ_SLICE_LIT("dev"));
    assert_non_null(s);
    assert_int_equal(broker_msess_filter_count(s), 2);
    publish(fx, "/topic/a.b", "q2", 2);
    publish(fx, "/topic/a.b", "q1", 1);
    publish(fx, "/topic/a.b", "q0", 0); /* offline: QoS 0 is not kept */
    publish(fx, "/topic/other", "no", 2);
    assert_int_equal(broker_msess_queued(s), 2);
    /* The client comes back: queued messages arrive in order with delivery tags. */
    owner_t o = {0};
    broker_sub_t *sub = NULL;
    broker_msess_bind(fx->b, s, &mqtt_ops, &o);
    assert_int_equal(broker_msess_consume(fx->b, s, &consumer_ops, &o, 10, &o, &sub), 0);
    (void)broker_run(fx->b, 0);
    assert_int_equal(o.n, 2);
    assert_string_equal(o.bodies[0], "q2");
    assert_string_equal(o.bodies[1], "q1");
    assert_true(o.tags[0] != 0 && o.tags[1] != 0);
    broker_stats_t st;
    broker_stats_get(fx->b, &st);
    assert_int_equal(st.messages, 2);
    /* Acknowledged (PUBACK): removed through the log. */
    assert_int_equal(broker_ack(fx->b, sub, o.tags[1], NULL, NULL), 0);
    (void)broker_run(fx->b, 0);
    commit_all(fx);
    assert_int_equal(broker_msess_queued(s), 1);
    broker_unsubscribe(fx->b, sub, false);
    broker_msess_unbind(fx->b, s);
    fixture_free(fx);
}

static void test_effective_qos_and_online_direct(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    open_session(fx, "c", 100);
    sub_durable(fx, "c", "/topic/t", 0);
    sub_durable(fx, "c", "/topic/u", 1);
    broker_msess_t *s = broker_msess_find(fx->b, PMQ_SLICE_LIT("c"));
    owner_t o = {0};
    broker_msess_bind(fx->b, s, &mqtt_ops, &o);
    publish(fx, "/topic/t", "sub-qos0", 2);  /* min(2, 0) = 0: handed over, not queued */
    publish(fx, "/topic/u", "volatile", 0);  /* a QoS 0 message: handed over */
    publish(fx, "/topic/u", "stored", 2);    /* min(2, 1) = 1: queued */
    assert_int_equal(o.n, 2);
    assert_string_equal(o.bodies[0], "sub-qos0");
    assert_int_equal(o.qos[0], 0);
    assert_string_equal(o.bodies[1], "volatile");
    assert_int_equal(broker_msess_queued(s), 1);
    /* A refusing owner loses QoS 0 messages, counted. */
    o.full = true;
    publish(fx, "/topic/u", "dropped", 0);
    broker_mqtt_stats_t ms;
    broker_mqtt_stats_get(fx->b, &ms);
    assert_int_equal(ms.direct_dropped, 1);
    broker_msess_unbind(fx->b, s);
    publish(fx, "/topic/t", "gone", 0);
    assert_int_equal(o.n, 2);
    fixture_free(fx);
}

static void test_limit_drops_for_that_session_only(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    open_session(fx, "small", 2);
    open_session(fx, "big", 10);
    sub_durable(fx, "small", "/topic/x", 1);
    sub_durable(fx, "big", "/topic/x", 1);
    for (int i = 0; i < 4; i++) {
        publish(fx, "/topic/x", "m", 1);
    }
    assert_int_equal(broker_msess_queued(broker_msess_find(fx->b, PMQ_SLICE_LIT("small"))), 2);
    assert_int_equal(broker_msess_queued(broker_msess_find(fx->b, PMQ_SLICE_LIT("big"))), 4);
    broker_mqtt_stats_t ms;
    broker_mqtt_stats_get(fx->b, &ms);
    assert_int_equal(ms.queued_dropped, 2);
    assert_int_equal(ms.durable_sessions, 2);
    fixture_free(fx);
}

static void test_dollar_topics_not_matched_by_wildcards(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    broker_msess_t *all = NULL, *sys = NULL, *plus = NULL;
    assert_int_equal(broker_msess_new_volatile(fx->b, PMQ_SLICE_LIT("all"), &all), 0);
    assert_int_equal(broker_msess_new_volatile(fx->b, PMQ_SLICE_LIT("sys"), &sys), 0);
    assert_int_equal(broker_msess_new_volatile(fx->b, PMQ_SLICE_LIT("plus"), &plus), 0);
    assert_int_equal(broker_msess_sub_volatile(fx->b, all, PMQ_SLICE_LIT("/topic/>"), 0), 0);
    assert_int_equal(broker_msess_sub_volatile(fx->b, sys, PMQ_SLICE_LIT("/topic/$SYS.>"), 0), 0);
    assert_int_equal(broker_msess_sub_volatile(fx->b, plus, PMQ_SLICE_LIT("/topic/*.broker"), 0),
                     0);
    owner_t oa = {0}, os = {0}, op = {0};
    broker_msess_bind(fx->b, all, &mqtt_ops, &oa);
    broker_msess_bind(fx->b, sys, &mqtt_ops, &os);
    broker_msess_bind(fx->b, plus, &mqtt_ops, &op);
    publish(fx, "/topic/$SYS.broker", "s", 0);
    publish(fx, "/topic/app.broker", "a", 0);
    assert_int_equal(oa.n, 1); /* [MQTT-4.7.2-1] */
    assert_string_equal(oa.bodies[0], "a");
    assert_int_equal(os.n, 1);
    assert_string_equal(os.bodies[0], "s");
    assert_int_equal(op.n, 1);
    assert_string_equal(op.bodies[0], "a");
    /* Removing a filter stops deliveries; the '$' rule does not apply to a literal "$x". */
    assert_true(broker_msess_unsub_volatile(fx->b, all, PMQ_SLICE_LIT("/topic/>")));
    assert_false(broker_msess_unsub_volatile(fx->b, all, PMQ_SLICE_LIT("/topic/>")));
    publish(fx, "/topic/app.broker", "b", 0);
    assert_int_equal(oa.n, 1);
    broker_msess_free_volatile(fx->b, all);
    broker_msess_free_volatile(fx->b, sys);
    broker_msess_free_volatile(fx->b, plus);
    fixture_free(fx);
}

static void test_volatile_session_gets_persistent_at_qos(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    broker_msess_t *v = NULL;
    assert_int_equal(broker_msess_new_volatile(fx->b, PMQ_SLICE_LIT("clean"), &v), 0);
    assert_int_equal(broker_msess_sub_volatile(fx->b, v, PMQ_SLICE_LIT("/topic/a.*"), 2), 0);
    assert_int_equal(broker_msess_sub_volatile(fx->b, v, PMQ_SLICE_LIT("/topic/a.b"), 1), 0);
    owner_t o = {0};
    broker_msess_bind(fx->b, v, &mqtt_ops, &o);
    publish(fx, "/topic/a.b", "p", 2);
    assert_int_equal(o.n, 1); /* once, at max(2, 1) = 2 */
    assert_int_equal(o.qos[0], 2);
    assert_false(broker_msess_is_durable(v));
    assert_null(broker_msess_find(fx->b, PMQ_SLICE_LIT("clean")));
    /* Volatile sessions are not durable state: removing one leaves the hash as it is. */
    uint64_t before = broker_state_hash(fx->b);
    broker_msess_free_volatile(fx->b, v);
    assert_true(broker_state_hash(fx->b) == before);
    fixture_free(fx);
}

static void test_outbound_qos2_state(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    open_session(fx, "q2", 100);
    sub_durable(fx, "q2", "/topic/t", 2);
    publish(fx, "/topic/t", "exactly-once", 2);
    broker_msess_t *s = broker_msess_find(fx->b, PMQ_SLICE_LIT("q2"));
    owner_t o = {0};
    broker_sub_t *sub = NULL;
    broker_msess_bind(fx->b, s, &mqtt_ops, &o);
    assert_int_equal(broker_msess_consume(fx->b, s, &consumer_ops, &o, 10, &o, &sub), 0);
    (void)broker_run(fx->b, 0);
    assert_int_equal(o.n, 1);
    pmq_buf_t c;
    pmq_buf_init(&c, 0);
    /* Find the message's sequence: it is the one message in the queue. */
    uint64_t seq = 0;
    for (uint64_t i = 1; i < 10 && seq == 0; i++) {
        assert_int_equal(rlog_encode_mqtt_out_bind(&c, PMQ_SLICE_LIT("q2"), i, 7), 0);
        apply(fx, &c);
        uint16_t pid = 0;
        if (broker_msess_out_pid(s, i, &pid)) {
            assert_int_equal(pid, 7);
            seq = i;
        }
    }
    assert_true(seq != 0);
    assert_true(broker_msess_pid_in_use(s, 7));
    assert_false(broker_msess_pid_in_use(s, 8));
    /* PUBREC: the message leaves the queue, the id waits for PUBCOMP. */
    pid_cmd(fx, RLOG_CMD_MQTT_OUT_REC, "q2", 7);
    assert_int_equal(broker_msess_queued(s), 0);
    const uint16_t *pids = NULL;
    assert_int_equal(broker_msess_out_rel(s, &pids), 1);
    assert_int_equal(pids[0], 7);
    assert_true(broker_msess_pid_in_use(s, 7));
    pid_cmd(fx, RLOG_CMD_MQTT_OUT_COMP, "q2", 7);
    assert_int_equal(broker_msess_out_rel(s, &pids), 0);
    assert_false(broker_msess_pid_in_use(s, 7));
    pmq_buf_close(&c);
    broker_unsubscribe(fx->b, sub, false);
    broker_msess_unbind(fx->b, s);
    fixture_free(fx);
}

static void test_inbound_qos2_and_close(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    open_session(fx, "in", 100);
    pid_cmd(fx, RLOG_CMD_MQTT_QOS2_IN, "in", 300);
    pid_cmd(fx, RLOG_CMD_MQTT_QOS2_IN, "in", 5);
    pid_cmd(fx, RLOG_CMD_MQTT_QOS2_IN, "in", 300); /* idempotent */
    broker_msess_t *s = broker_msess_find(fx->b, PMQ_SLICE_LIT("in"));
    const uint16_t *pids = NULL;
    assert_int_equal(broker_msess_qos2_in(s, &pids), 2);
    assert_int_equal(pids[0], 5);
    assert_int_equal(pids[1], 300);
    pid_cmd(fx, RLOG_CMD_MQTT_QOS2_REL, "in", 5);
    assert_int_equal(broker_msess_qos2_in(s, &pids), 1);
    assert_int_equal(pids[0], 300);
    /* Commands for a session that does not exist change nothing. */
    uint64_t h = broker_state_hash(fx->b);
    pid_cmd(fx, RLOG_CMD_MQTT_QOS2_IN, "nobody", 1);
    sub_durable(fx, "nobody", "/topic/x", 1);
    assert_true(broker_state_hash(fx->b) == h);
    /* CLOSE deletes the session, its queue and its messages. */
    sub_durable(fx, "in", "/topic/x", 1);
    publish(fx, "/topic/x", "m", 1);
    pmq_buf_t c;
    pmq_buf_init(&c, 0);
    assert_int_equal(rlog_encode_mqtt_session_close(&c, PMQ_SLICE_LIT("in")), 0);
    apply(fx, &c);
    pmq_buf_close(&c);
    assert_null(broker_msess_find(fx->b, PMQ_SLICE_LIT("in")));
    broker_stats_t st;
    broker_stats_get(fx->b, &st);
    assert_int_equal(st.messages, 0);
    assert_int_equal(st.destinations, 0);
    fixture_free(fx);
}

static void collect(void *arg, pmq_msg_t *m) {
    owner_t *o = arg;
    record(o, m, broker_msg_mqtt_qos(m), 0);
}

static void test_retained(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    retain(fx, "/topic/home.temp", "20");
    retain(fx, "/topic/home.temp", "21"); /* replaces */
    retain(fx, "/topic/home.hum", "40");
    retain(fx, "/topic/$SYS.x", "sys");
    assert_int_equal(broker_retained_count(fx->b), 3);
    assert_true(broker_retained_has(fx->b, PMQ_SLICE_LIT("/topic/home.temp")));
    owner_t o = {0};
    broker_retained_match(fx->b, PMQ_SLICE_LIT("/topic/home.temp"), collect, &o);
    assert_int_equal(o.n, 1);
    assert_string_equal(o.bodies[0], "21");
    o.n = 0;
    broker_retained_match(fx->b, PMQ_SLICE_LIT("/topic/>"), collect, &o);
    assert_int_equal(o.n, 2); /* not the $ topic */
    o.n = 0;
    broker_retained_match(fx->b, PMQ_SLICE_LIT("/topic/$SYS.>"), collect, &o);
    assert_int_equal(o.n, 1);
    retain(fx, "/topic/home.temp", ""); /* an empty payload clears [MQTT-3.3.1-10] */
    assert_false(broker_retained_has(fx->b, PMQ_SLICE_LIT("/topic/home.temp")));
    assert_int_equal(broker_retained_count(fx->b), 2);
    fixture_free(fx);
}

/* A random mix of every MQTT command and publishes applied to two brokers, a snapshot of
 * the first restored into a third: all three hash the same. */
static void random_commands(fixture_t *fx, broker_t *other, uint64_t seed) {
    pmq_rng_t rng;
    pmq_rng_seed(&rng, seed);
    pmq_buf_t cmd;
    pmq_buf_init(&cmd, 0);
    for (uint64_t i = 1; i <= 3000; i++) {
        pmq_buf_reset(&cmd);
        char client[8], pat[32];
        snprintf(client, sizeof(client), "c%u", (unsigned)pmq_rng_below(&rng, 4));
        snprintf(pat, sizeof(pat), "/topic/t.%u", (unsigned)pmq_rng_below(&rng, 3));
        pmq_slice_t cid = pmq_slice_cstr(client);
        uint16_t pid = (uint16_t)(1 + pmq_rng_below(&rng, 20));
        rlog_msg_props_t p = {.priority = 4, .persistent = true, .timestamp_ms = i};
        rlog_header_t h = {PMQ_SLICE_LIT(BROKER_MQTT_QOS_HEADER), PMQ_SLICE_LIT("2")};
        int rc = 0;
        switch (pmq_rng_below(&rng, 11)) {
        case 0: rc = rlog_encode_mqtt_session_open(&cmd, cid, 3 + (uint32_t)pmq_rng_below(&rng, 5)); break;
        case 1: rc = rlog_encode_mqtt_session_close(&cmd, cid); break;
        case 2: rc = rlog_encode_mqtt_sub(&cmd, cid, pmq_slice_cstr(pat), (uint8_t)pmq_rng_below(&rng, 3)); break;
        case 3: rc = rlog_encode_mqtt_unsub(&cmd, cid, PMQ_SLICE_LIT("/topic/t.*")); break;
        case 4: rc = rlog_encode_retain(&cmd, pmq_slice_cstr(pat), &p, &h, 1, pmq_rng_below(&rng, 3) ? PMQ_SLICE_LIT("r") : pmq_slice(NULL, 0)); break;
        case 5: rc = rlog_encode_mqtt_pid(&cmd, pmq_rng_below(&rng, 2) ? RLOG_CMD_MQTT_QOS2_IN : RLOG_CMD_MQTT_QOS2_REL, cid, pid); break;
        case 6: rc = rlog_encode_mqtt_out_bind(&cmd, cid, 1 + pmq_rng_below(&rng, i), pid); break;
        case 7: rc = rlog_encode_mqtt_pid(&cmd, pmq_rng_below(&rng, 2) ? RLOG_CMD_MQTT_OUT_REC : RLOG_CMD_MQTT_OUT_COMP, cid, pid); break;
        case 8: rc = rlog_encode_mqtt_sub(&cmd, cid, PMQ_SLICE_LIT("/topic/t.*"), 2); break;
        default: rc = rlog_encode_publish(&cmd, pmq_slice_cstr(pat), &p, &h, 1, PMQ_SLICE_LIT("b")); break;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(broker_apply(fx->b, i, pmq_buf_slice(&cmd)), 0);
        assert_int_equal(broker_apply(other, i, pmq_buf_slice(&cmd)), 0);
    }
    pmq_buf_close(&cmd);
}

static void test_apply_is_deterministic(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    broker_t *other = NULL, *restored = NULL, *bad = NULL;
    broker_options_t o = {.broker_id = "test", .prefetch_default = 100, .max_redeliveries = 5,
                          .dlq = "ActiveMQ.DLQ", .queue_depth_max = 1000,
                          .queue_bytes_max = 1 << 20, .destinations_max = 1000};
    broker_log_t log = {fx, fake_propose};
    assert_int_equal(broker_new(&other, &o, &log), 0);
    assert_int_equal(broker_new(&restored, &o, &log), 0);
    assert_int_equal(broker_new(&bad, &o, &log), 0);
    random_commands(fx, other, 77);
    assert_true(broker_state_hash(fx->b) == broker_state_hash(other));
    assert_true(broker_retained_count(fx->b) > 0);
    broker_mqtt_stats_t ms;
    broker_mqtt_stats_get(fx->b, &ms);
    assert_true(ms.durable_sessions > 0);
    pmq_buf_t snap;
    pmq_buf_init(&snap, 0);
    assert_int_equal(broker_snapshot_encode(fx->b, &snap), 0);
    assert_int_equal(broker_snapshot_restore(restored, pmq_buf_slice(&snap)), 0);
    assert_true(broker_state_hash(restored) == broker_state_hash(fx->b));
    broker_mqtt_stats_t rs;
    broker_mqtt_stats_get(restored, &rs);
    assert_true(rs.durable_sessions == ms.durable_sessions && rs.filters == ms.filters);
    /* A volatile session on one node does not change its durable state. */
    broker_msess_t *v = NULL;
    assert_int_equal(broker_msess_new_volatile(other, PMQ_SLICE_LIT("c1"), &v), 0);
    assert_int_equal(broker_msess_sub_volatile(other, v, PMQ_SLICE_LIT("/topic/>"), 1), 0);
    assert_true(broker_state_hash(other) == broker_state_hash(fx->b));
    broker_msess_free_volatile(other, v);
    /* Every truncation of the snapshot's MQTT section is refused as data. */
    assert_int_equal(broker_snapshot_restore(bad, pmq_slice(snap.data, snap.len - 1)),
                     PMQ_ECORRUPT);
    pmq_buf_close(&snap);
    broker_free(other);
    broker_free(restored);
    broker_free(bad);
    fixture_free(fx);
}

static void test_version1_snapshot_restores(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    publish(fx, "/queue/q", "kept", 1);
    pmq_buf_t snap;
    pmq_buf_init(&snap, 0);
    assert_int_equal(broker_snapshot_encode(fx->b, &snap), 0);
    /* A version 1 snapshot is the same without the MQTT section (two zero counts). */
    assert_int_equal(snap.data[0], 2);
    snap.data[0] = 1;
    snap.len -= 8;
    broker_t *r = NULL;
    broker_options_t o = {.broker_id = "test", .prefetch_default = 1, .queue_depth_max = 10,
                          .queue_bytes_max = 1 << 20, .destinations_max = 10};
    broker_log_t log = {fx, fake_propose};
    assert_int_equal(broker_new(&r, &o, &log), 0);
    assert_int_equal(broker_snapshot_restore(r, pmq_buf_slice(&snap)), 0);
    assert_true(broker_state_hash(r) == broker_state_hash(fx->b));
    broker_free(r);
    pmq_buf_close(&snap);
    fixture_free(fx);
}

static void test_close_while_bound_keeps_hash(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    fixture_t *fy = fixture_new();
    fixture_t *both[] = {fx, fy};
    for (int i = 0; i < 2; i++) {
        open_session(both[i], "x", 10);
        sub_durable(both[i], "x", "/topic/a", 1);
        publish(both[i], "/topic/a", "m", 1);
    }
    /* On fx the session is online with a consumer; on fy nobody is connected. */
    broker_msess_t *s = broker_msess_find(fx->b, PMQ_SLICE_LIT("x"));
    owner_t o = {0};
    broker_sub_t *sub = NULL;
    broker_msess_bind(fx->b, s, &mqtt_ops, &o);
    assert_int_equal(broker_msess_consume(fx->b, s, &consumer_ops, &o, 10, &o, &sub), 0);
    (void)broker_run(fx->b, 0);
    for (int i = 0; i < 2; i++) {
        pmq_buf_t c;
        pmq_buf_init(&c, 0);
        assert_int_equal(rlog_encode_mqtt_session_close(&c, PMQ_SLICE_LIT("x")), 0);
        apply(both[i], &c);
        pmq_buf_close(&c);
    }
    assert_true(broker_state_hash(fx->b) == broker_state_hash(fy->b));
    /* A new session may take the name while the old one is still bound. */
    open_session(fx, "x", 10);
    assert_non_null(broker_msess_find(fx->b, PMQ_SLICE_LIT("x")));
    broker_unsubscribe(fx->b, sub, false);
    broker_msess_unbind(fx->b, s);
    fixture_free(fx);
    fixture_free(fy);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offline_session_keeps_qos1_once),
        cmocka_unit_test(test_effective_qos_and_online_direct),
        cmocka_unit_test(test_limit_drops_for_that_session_only),
        cmocka_unit_test(test_dollar_topics_not_matched_by_wildcards),
        cmocka_unit_test(test_volatile_session_gets_persistent_at_qos),
        cmocka_unit_test(test_outbound_qos2_state),
        cmocka_unit_test(test_inbound_qos2_and_close),
        cmocka_unit_test(test_retained),
        cmocka_unit_test(test_apply_is_deterministic),
        cmocka_unit_test(test_version1_snapshot_restores),
        cmocka_unit_test(test_close_while_bound_keeps_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
