/* Unit tests for paxos_codec.c: every message type round-trips, and damaged or hostile
 * input (bad CRC, truncation, wrong version, oversized counts, trailing bytes) is
 * rejected with an error code instead of an assertion (STYLE §3). */
#include "test_util.h"

#include "paxmq/paxos.h"

static paxos_member_t mem(uint32_t id, uint64_t inc) {
    return (paxos_member_t){id, {inc, inc + 1}};
}

static paxos_msg_t base_msg(uint8_t type) {
    paxos_msg_t m = {0};
    m.type = type;
    m.from = mem(1, 10);
    m.to = mem(2, 20);
    m.ballot = (paxos_ballot_t){7, 1};
    m.commit = 41;
    return m;
}

static void encode(const paxos_msg_t *m, pmq_buf_t *b) {
    pmq_buf_init(b, 0);
    assert_int_equal(paxos_msg_encode(m, b), 0);
    assert_int_equal(b->len, paxos_msg_encoded_size(m));
}

static void test_append_round_trip(void **state) {
    (void)state;
    paxos_entry_t ents[2] = {
        {43, {7, 1}, PAXOS_ENTRY_CMD, PMQ_SLICE_LIT("hello")},
        {44, {6, 3}, PAXOS_ENTRY_NOOP, {NULL, 0}},
    };
    paxos_msg_t m = base_msg(PAXOS_MSG_APPEND);
    m.prev_index = 42;
    m.prev_ballot = (paxos_ballot_t){5, 2};
    m.hb_seq = 9;
    m.n_entries = 2;
    m.entries = ents;
    pmq_buf_t b;
    encode(&m, &b);
    paxos_msg_dec_t *d = test_malloc(sizeof(*d));
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), 0);
    assert_int_equal(d->msg.type, PAXOS_MSG_APPEND);
    assert_true(paxos_member_eq(d->msg.from, m.from));
    assert_true(paxos_member_eq(d->msg.to, m.to));
    assert_int_equal(paxos_ballot_cmp(d->msg.ballot, m.ballot), 0);
    assert_int_equal(d->msg.prev_index, 42);
    assert_int_equal(d->msg.prev_ballot.round, 5);
    assert_int_equal(d->msg.hb_seq, 9);
    assert_int_equal(d->msg.commit, 41);
    assert_int_equal(d->msg.n_entries, 2);
    assert_int_equal(d->msg.entries[0].index, 43);
    assert_true(pmq_slice_eq_cstr(d->msg.entries[0].data, "hello"));
    assert_int_equal(d->msg.entries[1].type, PAXOS_ENTRY_NOOP);
    assert_int_equal(d->msg.entries[1].ballot.rank, 3);
    test_free(d);
    pmq_buf_close(&b);
}

static void test_small_types_round_trip(void **state) {
    (void)state;
    paxos_msg_dec_t *d = test_malloc(sizeof(*d));
    pmq_buf_t b;

    paxos_msg_t m = base_msg(PAXOS_MSG_PREPARE);
    m.pre_vote = true;
    m.transfer = true;
    m.transfer_ballot = (paxos_ballot_t){6, 3};
    m.from_index = 42;
    encode(&m, &b);
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), 0);
    assert_true(d->msg.pre_vote);
    assert_true(d->msg.transfer);
    assert_int_equal(d->msg.transfer_ballot.rank, 3);
    assert_int_equal(d->msg.from_index, 42);
    pmq_buf_close(&b);

    m = base_msg(PAXOS_MSG_APPEND_RESP);
    m.ok = true;
    m.promised = (paxos_ballot_t){7, 1};
    m.match_index = 99;
    m.hint_index = 3;
    m.reject_index = 4;
    m.hb_seq = 5;
    encode(&m, &b);
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), 0);
    assert_true(d->msg.ok);
    assert_int_equal(d->msg.match_index, 99);
    assert_int_equal(d->msg.hint_index, 3);
    assert_int_equal(d->msg.reject_index, 4);
    pmq_buf_close(&b);

    m = base_msg(PAXOS_MSG_TIMEOUT_NOW);
    encode(&m, &b);
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), 0);
    assert_int_equal(d->msg.type, PAXOS_MSG_TIMEOUT_NOW);
    pmq_buf_close(&b);
    test_free(d);
}

static void test_promise_and_snapshot_round_trip(void **state) {
    (void)state;
    paxos_msg_dec_t *d = test_malloc(sizeof(*d));
    pmq_buf_t b;
    paxos_entry_t e = {50, {3, 2}, PAXOS_ENTRY_CMD, PMQ_SLICE_LIT("v")};
    paxos_msg_t m = base_msg(PAXOS_MSG_PROMISE);
    m.granted = true;
    m.need_snapshot = false;
    m.promised = m.ballot;
    m.from_index = 50;
    m.last_index = 60;
    m.covered_to = 55;
    m.n_entries = 1;
    m.entries = &e;
    encode(&m, &b);
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), 0);
    assert_true(d->msg.granted);
    assert_int_equal(d->msg.last_index, 60);
    assert_int_equal(d->msg.covered_to, 55);
    assert_int_equal(d->msg.entries[0].index, 50);
    pmq_buf_close(&b);

    paxos_snap_meta_t meta = {0};
    meta.index = 77;
    meta.ballot = (paxos_ballot_t){4, 1};
    meta.config.n_voters = 2;
    meta.config.voters[0] = mem(1, 10);
    meta.config.voters[1] = mem(2, 20);
    meta.config.n_learners = 1;
    meta.config.learners[0] = mem(3, 30);
    m = base_msg(PAXOS_MSG_SNAPSHOT);
    m.snap = &meta;
    m.data = PMQ_SLICE_LIT("image-bytes");
    encode(&m, &b);
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), 0);
    assert_int_equal(d->msg.snap->index, 77);
    assert_int_equal(d->msg.snap->config.n_learners, 1);
    assert_true(paxos_member_eq(d->msg.snap->config.learners[0], mem(3, 30)));
    assert_true(pmq_slice_eq_cstr(d->msg.data, "image-bytes"));
    pmq_buf_close(&b);
    test_free(d);
}

static void test_damaged_input_rejected(void **state) {
    (void)state;
    paxos_entry_t e = {43, {7, 1}, PAXOS_ENTRY_CMD, PMQ_SLICE_LIT("payload")};
    paxos_msg_t m = base_msg(PAXOS_MSG_APPEND);
    m.prev_index = 42;
    m.n_entries = 1;
    m.entries = &e;
    pmq_buf_t b;
    encode(&m, &b);
    paxos_msg_dec_t *d = test_malloc(sizeof(*d));
    /* Every truncation fails cleanly. */
    for (size_t n = 0; n < b.len; n++) {
        assert_int_not_equal(paxos_msg_decode(pmq_slice(b.data, n), d), 0);
    }
    /* A flipped bit anywhere in the body trips the CRC. */
    for (size_t i = 12; i < b.len; i++) {
        b.data[i] ^= 0x10;
        assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), PMQ_EPROTO);
        b.data[i] ^= 0x10;
    }
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), 0);
    b.data[2] = 9; /* version */
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), PMQ_EVERSION);
    b.data[2] = PAXOS_WIRE_VERSION;
    b.data[0] = 'Q'; /* magic */
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), PMQ_EPROTO);
    b.data[0] = 'P';
    /* Trailing garbage after one message is an error. */
    assert_int_equal(pmq_buf_append(&b, "x", 1), 0);
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), PMQ_EPROTO);
    pmq_buf_close(&b);
    test_free(d);
}

/* A body whose CRC is right but whose counts lie must still be rejected. */
static void test_hostile_counts_rejected(void **state) {
    (void)state;
    paxos_msg_t m = base_msg(PAXOS_MSG_APPEND);
    pmq_buf_t b;
    encode(&m, &b);
    /* The entry count is the last u32 of an APPEND body without entries. */
    pmq_store_u32be(b.data + b.len - 4, PAXOS_MSG_ENTRIES_MAX + 1);
    pmq_store_u32be(b.data + 8, pmq_crc32c(0, b.data + 12, b.len - 12));
    paxos_msg_dec_t *d = test_malloc(sizeof(*d));
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), PMQ_EPROTO);
    pmq_store_u32be(b.data + b.len - 4, 3); /* claims entries that are not there */
    pmq_store_u32be(b.data + 8, pmq_crc32c(0, b.data + 12, b.len - 12));
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), PMQ_EPROTO);
    /* An unknown message type. */
    b.data[3] = 42;
    pmq_store_u32be(b.data + b.len - 4, 0);
    pmq_store_u32be(b.data + 8, pmq_crc32c(0, b.data + 12, b.len - 12));
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), PMQ_EPROTO);
    /* A huge declared body length. */
    b.data[3] = PAXOS_MSG_APPEND;
    pmq_store_u32be(b.data + 4, 0xFFFFFFF0u);
    assert_int_equal(paxos_msg_decode(pmq_buf_slice(&b), d), PMQ_ETOOBIG);
    pmq_buf_close(&b);
    test_free(d);
}

static void test_config_codec(void **state) {
    (void)state;
    paxos_config_t c = {0};
    c.joint = true;
    c.n_voters = 1;
    c.voters[0] = mem(1, 1);
    c.n_new = 2;
    c.new_voters[0] = mem(1, 1);
    c.new_voters[1] = mem(2, 2);
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    assert_int_equal(paxos_config_encode(&c, &b), 0);
    paxos_config_t out;
    assert_int_equal(paxos_config_decode(pmq_buf_slice(&b), &out), 0);
    assert_true(out.joint);
    assert_int_equal(out.n_new, 2);
    assert_true(paxos_member_eq(out.new_voters[1], mem(2, 2)));
    b.data[1] = PAXOS_VOTERS_MAX + 1; /* voter count beyond the limit */
    assert_int_equal(paxos_config_decode(pmq_buf_slice(&b), &out), PMQ_EPROTO);
    pmq_buf_close(&b);
    c.joint = false; /* invalid shape: refuses to encode */
    pmq_buf_init(&b, 0);
    assert_int_equal(paxos_config_encode(&c, &b), PMQ_EINVAL);
    pmq_buf_close(&b);
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_round_trip),
        cmocka_unit_test(test_small_types_round_trip),
        cmocka_unit_test(test_promise_and_snapshot_round_trip),
        cmocka_unit_test(test_damaged_input_rejected),
        cmocka_unit_test(test_hostile_counts_rejected),
        cmocka_unit_test(test_config_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
