/* Unit tests for src/broker: dispatch semantics a STOMP/MQTT user would notice
 * (round robin, prefetch, priority, acks, redelivery, DLQ, expiry, topics, durable
 * subscriptions) and the determinism of apply (same log -> same state, snapshot ->
 * same state). The log is a fake that commits when the test says so. */
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
    proposal_t props[256];
    size_t nprops;
    uint64_t index;
} fixture_t;

typedef struct consumer {
    uint64_t tags[512];
    char ids[512][48];
    bool redelivered[512];
    uint8_t prio[512];
    size_t n;
    bool full;
} consumer_t;

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

/* Applies every pending proposal in order, like a log that committed them. */
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

static int deliver(void *owner, broker_sub_t *sub, const broker_delivery_t *d) {
    (void)sub;
    consumer_t *c = owner;
    if (c->full) {
        return PMQ_EFULL;
    }
    assert_true(c->n < 512);
    c->tags[c->n] = d->tag;
    snprintf(c->ids[c->n], sizeof(c->ids[0]), "%.*s", (int)d->msg->body.len, d->msg->body.ptr);
    c->redelivered[c->n] = d->redelivered;
    c->prio[c->n] = d->msg->priority;
    c->n++;
    return 0;
}

static const broker_consumer_ops_t ops = {deliver};

static fixture_t *fixture_new(void) {
    fixture_t *fx = test_calloc(1, sizeof(*fx));
    broker_options_t o = {.broker_id = "test", .prefetch_default = 1000, .max_redeliveries = 2,
                          .dlq = "ActiveMQ.DLQ", .queue_depth_max = 100,
                          .queue_bytes_max = 1 << 20, .destinations_max = 100};
    broker_log_t log = {fx, fake_propose};
    assert_int_equal(broker_new(&fx->b, &o, &log), 0);
    return fx;
}

/* cmocka checks for leaks when the test body returns, so each test frees its fixture. */
static void fixture_free(fixture_t *fx) {
    commit_all(fx);
    broker_free(fx->b);
    test_free(fx);
}

static void publish(fixture_t *fx, const char *dest, const char *body, uint8_t prio, bool persistent,
                    uint64_t expires) {
    rlog_msg_props_t p = {.priority = prio, .persistent = persistent, .expires_ms = expires,
                          .timestamp_ms = 1};
    if (!persistent) {
        assert_int_equal(broker_publish_volatile(fx->b, pmq_slice_cstr(dest), &p, NULL, 0,
                                                 pmq_slice_cstr(body), 1000), 0);
        return;
    }
    pmq_buf_t cmd;
    pmq_buf_init(&cmd, 0);
    assert_int_equal(rlog_encode_publish(&cmd, pmq_slice_cstr(dest), &p, NULL, 0,
                                         pmq_slice_cstr(body)), 0);
    assert_int_equal(fake_propose(fx, pmq_buf_slice(&cmd), NULL, NULL), 0);
    pmq_buf_close(&cmd);
    commit_all(fx);
}

static broker_sub_t *sub(fixture_t *fx, consumer_t *c, const char *dest, broker_ack_mode_t mode,
                         uint32_t prefetch) {
    broker_sub_spec_t spec = {.dest = pmq_slice_cstr(dest), .ack_mode = mode, .prefetch = prefetch};
    broker_sub_t *s = NULL;
    assert_int_equal(broker_subscribe(fx->b, &spec, &ops, c, &s), 0);
    return s;
}

static uint64_t depth(fixture_t *fx) {
    broker_stats_t st;
    broker_stats_get(fx->b, &st);
    return st.messages;
}

static void test_round_robin_and_prefetch(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    consumer_t a = {0}, b = {0};
    broker_sub_t *sa = sub(fx, &a, "/queue/q", BROKER_ACK_CLIENT_INDIVIDUAL, 2);
    broker_sub_t *sb = sub(fx, &b, "/queue/q", BROKER_ACK_CLIENT_INDIVIDUAL, 2);
    for (int i = 0; i < 6; i++) {
        char body[8];
        snprintf(body, sizeof(body), "m%d", i);
        publish(fx, "/queue/q", body, 4, true, 0);
    }
    broker_run(fx->b, 1000);
    /* Each message goes to exactly one consumer, alternating, each holding its prefetch. */
    assert_int_equal(a.n, 2);
    assert_int_equal(b.n, 2);
    assert_string_equal(a.ids[0], "m0");
    assert_string_equal(b.ids[0], "m1");
    assert_int_equal(broker_ack(fx->b, sa, a.tags[0], NULL, NULL), 0);
    broker_run(fx->b, 1000);
    assert_int_equal(a.n, 3); /* the freed slot is refilled */
    commit_all(fx);           /* the ACK batch commits */
    assert_int_equal(depth(fx), 5);
    broker_unsubscribe(fx->b, sa, false);
    broker_unsubscribe(fx->b, sb, false);
    fixture_free(fx);
}

static void test_priority_order(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    publish(fx, "/queue/p", "low", 1, true, 0);
    publish(fx, "/queue/p", "high", 9, true, 0);
    publish(fx, "/queue/p", "mid", 5, false, 0);
    consumer_t c = {0};
    broker_sub_t *s = sub(fx, &c, "/queue/p", BROKER_ACK_AUTO, 0);
    broker_run(fx->b, 1000);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.ids[0], "high");
    assert_string_equal(c.ids[1], "mid");
    assert_string_equal(c.ids[2], "low");
    commit_all(fx); /* auto-acks of the persistent ones */
    assert_int_equal(depth(fx), 0);
    broker_unsubscribe(fx->b, s, false);
    fixture_free(fx);
}

static void test_cumulative_ack(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    for (int i = 0; i < 4; i++) {
        publish(fx, "/queue/c", "x", 4, true, 0);
    }
    consumer_t c = {0};
    broker_sub_t *s = sub(fx, &c, "/queue/c", BROKER_ACK_CLIENT, 0);
    broker_run(fx->b, 1000);
    assert_int_equal(c.n, 4);
    assert_int_equal(broker_ack(fx->b, s, c.tags[2], NULL, NULL), 0); /* acks 0, 1 and 2 */
    broker_run(fx->b, 1000);
    commit_all(fx);
    assert_int_equal(depth(fx), 1);
    assert_int_equal(broker_ack(fx->b, s, c.tags[1], NULL, NULL), PMQ_ENOTFOUND);
    broker_unsubscribe(fx->b, s, false);
    assert_int_equal(depth(fx), 1); /* the unacked one is back in the queue */
    fixture_free(fx);
}

static void test_nack_redelivery_then_dlq(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    publish(fx, "/queue/d", "poison", 4, true, 0);
    consumer_t c = {0};
    broker_sub_t *s = sub(fx, &c, "/queue/d", BROKER_ACK_CLIENT_INDIVIDUAL, 0);
    for (int attempt = 0; attempt < 3; attempt++) {
        broker_run(fx->b, 1000);
        assert_int_equal(c.n, (size_t)attempt + 1);
        assert_true(c.redelivered[attempt] == (attempt > 0));
        assert_int_equal(broker_nack(fx->b, s, c.tags[attempt]), 0);
    }
    /* max_redeliveries = 2: the third failure moves it to the DLQ through the log. */
    broker_run(fx->b, 1000);
    assert_int_equal(c.n, 3);
    assert_int_equal(fx->nprops, 1);
    commit_all(fx);
    consumer_t d = {0};
    broker_sub_t *ds = sub(fx, &d, "/queue/ActiveMQ.DLQ", BROKER_ACK_AUTO, 0);
    broker_run(fx->b, 1000);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.ids[0], "poison");
    broker_unsubscribe(fx->b, s, false);
    broker_unsubscribe(fx->b, ds, false);
    fixture_free(fx);
}

static void test_close_redelivers_to_other_consumer(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    publish(fx, "/queue/r", "one", 4, true, 0);
    consumer_t a = {0}, b = {0};
    broker_sub_t *sa = sub(fx, &a, "/queue/r", BROKER_ACK_CLIENT_INDIVIDUAL, 0);
    broker_run(fx->b, 1000);
    assert_int_equal(a.n, 1);
    broker_sub_t *sb = sub(fx, &b, "/queue/r", BROKER_ACK_CLIENT_INDIVIDUAL, 0);
    broker_run(fx->b, 1000);
    assert_int_equal(b.n, 0);
    broker_unsubscribe(fx->b, sa, false);
    broker_run(fx->b, 1000);
    assert_int_equal(b.n, 1);
    assert_true(b.redelivered[0]);
    broker_unsubscribe(fx->b, sb, false);
    fixture_free(fx);
}

static void test_expired_never_delivered(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    publish(fx, "/queue/e", "stale", 4, true, 500);  /* expired at t=500 */
    publish(fx, "/queue/e", "fresh", 4, true, 5000);
    consumer_t c = {0};
    broker_sub_t *s = sub(fx, &c, "/queue/e", BROKER_ACK_AUTO, 0);
    broker_run(fx->b, 1000);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.ids[0], "fresh");
    commit_all(fx); /* EXPIRE and ACK commands */
    assert_int_equal(depth(fx), 0);
    broker_stats_t st;
    broker_stats_get(fx->b, &st);
    assert_int_equal(st.expired, 1);
    broker_unsubscribe(fx->b, s, false);
    fixture_free(fx);
}

static void test_topics_wildcards_and_durable(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    consumer_t exact = {0}, star = {0}, rest = {0}, other = {0};
    broker_sub_t *s1 = sub(fx, &exact, "/topic/a.b", BROKER_ACK_AUTO, 0);
    broker_sub_t *s2 = sub(fx, &star, "/topic/a.*", BROKER_ACK_AUTO, 0);
    broker_sub_t *s3 = sub(fx, &rest, "/topic/a.>", BROKER_ACK_AUTO, 0);
    broker_sub_t *s4 = sub(fx, &other, "/topic/b.*", BROKER_ACK_AUTO, 0);
    publish(fx, "/topic/a.b", "1", 4, false, 0);
    publish(fx, "/topic/a.b.c", "2", 4, false, 0);
    assert_int_equal(exact.n, 1);
    assert_int_equal(star.n, 1);
    assert_int_equal(rest.n, 2);
    assert_int_equal(other.n, 0);
    broker_unsubscribe(fx->b, s1, false);
    broker_unsubscribe(fx->b, s2, false);
    broker_unsubscribe(fx->b, s3, false);
    broker_unsubscribe(fx->b, s4, false);

    /* A durable subscription keeps persistent messages while its consumer is away. */
    consumer_t d = {0};
    broker_sub_spec_t spec = {.dest = PMQ_SLICE_LIT("/topic/news"), .client_id = PMQ_SLICE_LIT("c1"),
                              .durable_name = PMQ_SLICE_LIT("s1")};
    broker_sub_t *ds = NULL;
    assert_int_equal(broker_subscribe(fx->b, &spec, &ops, &d, &ds), 0);
    commit_all(fx); /* DSUB_ADD */
    broker_unsubscribe(fx->b, ds, false);
    publish(fx, "/topic/news", "kept", 4, true, 0);
    publish(fx, "/topic/news", "lost", 4, false, 0);
    assert_int_equal(broker_subscribe(fx->b, &spec, &ops, &d, &ds), 0);
    broker_run(fx->b, 1000);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.ids[0], "kept");
    broker_unsubscribe(fx->b, ds, true);
    commit_all(fx);
    fixture_free(fx);
}

/* Applies the same pseudo-random command stream to two brokers, and a snapshot of the
 * first to a third: all three must hold the same durable state. */
static void test_apply_is_deterministic(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    broker_t *other = NULL, *restored = NULL;
    broker_options_t o = {.broker_id = "test", .prefetch_default = 10, .max_redeliveries = 2,
                          .dlq = "ActiveMQ.DLQ", .queue_depth_max = 100000,
                          .queue_bytes_max = 1 << 30, .destinations_max = 1000};
    broker_log_t log = {fx, fake_propose};
    assert_int_equal(broker_new(&other, &o, &log), 0);
    assert_int_equal(broker_new(&restored, &o, &log), 0);
    pmq_rng_t rng;
    pmq_rng_seed(&rng, 1234);
    pmq_buf_t cmd;
    pmq_buf_init(&cmd, 0);
    for (uint64_t i = 1; i <= 2000; i++) {
        pmq_buf_reset(&cmd);
        char dest[32];
        unsigned pick = (unsigned)pmq_rng_below(&rng, 10);
        if (pick < 6) {
            snprintf(dest, sizeof(dest), pick < 4 ? "/queue/q%u" : "/topic/t.%u",
                     (unsigned)pmq_rng_below(&rng, 5));
            rlog_msg_props_t p = {.priority = (uint8_t)pmq_rng_below(&rng, 10), .persistent = true};
            assert_int_equal(rlog_encode_publish(&cmd, pmq_slice_cstr(dest), &p, NULL, 0,
                                                 PMQ_SLICE_LIT("body")), 0);
        } else if (pick < 9) {
            uint64_t seq = 1 + pmq_rng_below(&rng, i);
            snprintf(dest, sizeof(dest), "/queue/q%u", (unsigned)pmq_rng_below(&rng, 5));
            assert_int_equal(rlog_encode_seqs(&cmd, pick == 8 ? RLOG_CMD_DLQ : RLOG_CMD_ACK,
                                              pmq_slice_cstr(dest),
                                              pick == 8 ? PMQ_SLICE_LIT("/queue/ActiveMQ.DLQ")
                                                        : pmq_slice(NULL, 0),
                                              &seq, 1), 0);
        } else {
            snprintf(dest, sizeof(dest), "s%u", (unsigned)pmq_rng_below(&rng, 3));
            assert_int_equal(rlog_encode_dsub_add(&cmd, PMQ_SLICE_LIT("c"), pmq_slice_cstr(dest),
                                                  PMQ_SLICE_LIT("/topic/t.*")), 0);
        }
        assert_int_equal(broker_apply(fx->b, i, pmq_buf_slice(&cmd)), 0);
        assert_int_equal(broker_apply(other, i, pmq_buf_slice(&cmd)), 0);
    }
    assert_true(broker_state_hash(fx->b) == broker_state_hash(other));
    pmq_buf_t snap;
    pmq_buf_init(&snap, 0);
    assert_int_equal(broker_snapshot_encode(fx->b, &snap), 0);
    assert_int_equal(broker_snapshot_restore(restored, pmq_buf_slice(&snap)), 0);
    assert_true(broker_state_hash(restored) == broker_state_hash(fx->b));
    assert_true(broker_last_applied(restored) == 2000);
    /* A damaged snapshot is refused as data. */
    broker_t *bad = NULL;
    assert_int_equal(broker_new(&bad, &o, &log), 0);
    assert_int_equal(broker_snapshot_restore(bad, pmq_slice(snap.data, snap.len / 2)), PMQ_ECORRUPT);
    broker_free(bad);
    pmq_buf_close(&snap);
    pmq_buf_close(&cmd);
    broker_free(other);
    broker_free(restored);
    fixture_free(fx);
}

static void test_queue_full_admission(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    for (int i = 0; i < 100; i++) {
        assert_int_equal(broker_admit(fx->b, PMQ_SLICE_LIT("/queue/full")), 0);
        publish(fx, "/queue/full", "x", 4, false, 0);
    }
    assert_int_equal(broker_admit(fx->b, PMQ_SLICE_LIT("/queue/full")), PMQ_EFULL);
    consumer_t c = {0};
    broker_sub_t *s = sub(fx, &c, "/queue/full", BROKER_ACK_AUTO, 0);
    broker_run(fx->b, 1000);
    assert_int_equal(c.n, 100);
    assert_int_equal(broker_admit(fx->b, PMQ_SLICE_LIT("/queue/full")), 0);
    broker_unsubscribe(fx->b, s, false);
    fixture_free(fx);
}

typedef struct rewaiter {
    fixture_t *fx;
    int calls;
    broker_waiter_t *w;
} rewaiter_t;

/* A blocked producer that, once woken, publishes one message and finds the queue full
 * again, so it registers anew: the wake-up must not loop on it in the same call. */
static void rewait(void *arg) {
    rewaiter_t *r = arg;
    r->calls++;
    r->w = NULL;
    publish(r->fx, "/queue/one", "again", 4, false, 0);
    if (broker_admit(r->fx->b, PMQ_SLICE_LIT("/queue/one")) == PMQ_EFULL) {
        assert_int_equal(broker_wait_for_room(r->fx->b, PMQ_SLICE_LIT("/queue/one"), rewait, r, &r->w), 0);
    }
}

static void test_blocked_producer_wakeups_terminate(void **state) {
    (void)state;
    fixture_t *fx = fixture_new();
    broker_free(fx->b);
    broker_options_t o = {.broker_id = "test", .prefetch_default = 1, .max_redeliveries = 2,
                          .dlq = "DLQ", .queue_depth_max = 1, .queue_bytes_max = 1 << 20,
                          .destinations_max = 10};
    broker_log_t log = {fx, fake_propose};
    assert_int_equal(broker_new(&fx->b, &o, &log), 0);
    publish(fx, "/queue/one", "first", 4, false, 0);
    assert_int_equal(broker_admit(fx->b, PMQ_SLICE_LIT("/queue/one")), PMQ_EFULL);
    rewaiter_t r = {fx, 0, NULL};
    assert_int_equal(broker_wait_for_room(fx->b, PMQ_SLICE_LIT("/queue/one"), rewait, &r, &r.w), 0);
    consumer_t c = {0};
    broker_sub_t *s = sub(fx, &c, "/queue/one", BROKER_ACK_AUTO, 0);
    for (int i = 0; i < 5; i++) {
        broker_run(fx->b, 1000); /* each call returns; progress happens across calls */
    }
    assert_true(r.calls >= 2);
    assert_true(c.n >= 2);
    if (r.w != NULL) {
        broker_waiter_cancel(r.w);
    }
    broker_unsubscribe(fx->b, s, false);
    fixture_free(fx);
}

static void test_destination_validation(void **state) {
    (void)state;
    char reason[160];
    assert_true(broker_dest_is_valid(PMQ_SLICE_LIT("/queue/a.b"), false, reason, sizeof(reason)));
    assert_false(broker_dest_is_valid(PMQ_SLICE_LIT("queue/a"), false, reason, sizeof(reason)));
    assert_false(broker_dest_is_valid(PMQ_SLICE_LIT("/queue/"), false, reason, sizeof(reason)));
    assert_false(broker_dest_is_valid(PMQ_SLICE_LIT("/topic/a.*"), false, reason, sizeof(reason)));
    assert_true(broker_dest_is_valid(PMQ_SLICE_LIT("/topic/a.*"), true, reason, sizeof(reason)));
    assert_false(broker_dest_is_valid(PMQ_SLICE_LIT("/topic/a.>.b"), true, reason, sizeof(reason)));
    assert_false(broker_dest_is_valid(PMQ_SLICE_LIT("/topic/a*"), true, reason, sizeof(reason)));
    assert_false(broker_dest_is_valid(PMQ_SLICE_LIT("/queue/a.*"), true, reason, sizeof(reason)));
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_robin_and_prefetch),
        cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_cumulative_ack),
        cmocka_unit_test(test_nack_redelivery_then_dlq),
        cmocka_unit_test(test_close_redelivers_to_other_consumer),
        cmocka_unit_test(test_expired_never_delivered),
        cmocka_unit_test(test_topics_wildcards_and_durable),
        cmocka_unit_test(test_apply_is_deterministic),
        cmocka_unit_test(test_queue_full_admission),
        cmocka_unit_test(test_blocked_producer_wakeups_terminate),
        cmocka_unit_test(test_destination_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
