/* Unit tests for quorum.c: majority sizes, joint quorums, exact incarnation matching,
 * commit index arithmetic and config validation (CLUSTER §2.2, §1.4, §3.2). */
#include "test_util.h"

#include "paxmq/paxos.h"

static paxos_member_t mem(uint32_t id, uint64_t inc) {
    return (paxos_member_t){id, {inc, inc}};
}

static paxos_config_t cfg3(void) {
    paxos_config_t c = {0};
    c.n_voters = 3;
    c.voters[0] = mem(1, 1);
    c.voters[1] = mem(2, 1);
    c.voters[2] = mem(3, 1);
    return c;
}

static void test_majority_sizes(void **state) {
    (void)state;
    uint32_t want[] = {1, 1, 2, 2, 3, 3, 4, 4};
    for (uint32_t n = 0; n <= 7; n++) {
        assert_int_equal(paxos_q1(n), want[n]);
        assert_int_equal(paxos_q2(n), want[n]);
    }
}

static void test_majority_of_three(void **state) {
    (void)state;
    paxos_config_t c = cfg3();
    paxos_member_t one[] = {mem(1, 1)};
    paxos_member_t two[] = {mem(1, 1), mem(3, 1)};
    paxos_member_t dup[] = {mem(1, 1), mem(1, 1)};
    assert_false(paxos_quorum_has(&c, one, 1, false));
    assert_true(paxos_quorum_has(&c, two, 2, false));
    /* One voter acknowledging twice is still one voter. */
    assert_false(paxos_quorum_has(&c, dup, 2, false));
}

/* CLUSTER §1.4 rule 2: an empty-disk incarnation of a voter's name is not that voter. */
static void test_fresh_incarnation_not_counted(void **state) {
    (void)state;
    paxos_config_t c = cfg3();
    paxos_member_t acks[] = {mem(1, 1), mem(2, 99)};
    assert_false(paxos_quorum_has(&c, acks, 2, false));
    /* The unsafe switch (simulator only) counts by name and gets this wrong. */
    assert_true(paxos_quorum_has(&c, acks, 2, true));
    assert_false(paxos_config_is_voter(&c, mem(2, 99), false));
    assert_true(paxos_config_is_voter(&c, mem(2, 99), true));
}

/* §3.2 rule 4: while joint, a quorum needs majorities of both halves. */
static void test_joint_needs_both_halves(void **state) {
    (void)state;
    paxos_config_t c = cfg3();
    c.joint = true;
    c.n_new = 5;
    for (uint32_t i = 0; i < 5; i++) {
        c.new_voters[i] = mem(i + 1, 1);
    }
    paxos_member_t old_only[] = {mem(1, 1), mem(2, 1)};
    paxos_member_t new_only[] = {mem(3, 1), mem(4, 1), mem(5, 1)};
    paxos_member_t both[] = {mem(1, 1), mem(2, 1), mem(4, 1)};
    assert_false(paxos_quorum_has(&c, old_only, 2, false));
    assert_false(paxos_quorum_has(&c, new_only, 3, false));
    assert_true(paxos_quorum_has(&c, both, 3, false));
}

static void test_commit_index(void **state) {
    (void)state;
    paxos_config_t c = cfg3();
    paxos_member_t ms[] = {mem(1, 1), mem(2, 1), mem(3, 1), mem(9, 1)};
    uint64_t matches[] = {9, 5, 2, 100};
    /* The learner-like member 9 does not count. */
    assert_int_equal(paxos_quorum_commit_index(&c, ms, matches, 4, false), 5);
    c.joint = true;
    c.n_new = 3;
    c.new_voters[0] = mem(3, 1);
    c.new_voters[1] = mem(9, 1);
    c.new_voters[2] = mem(8, 1);
    /* New half {3:2, 9:100, 8:0} commits 2; the minimum of both halves wins. */
    assert_int_equal(paxos_quorum_commit_index(&c, ms, matches, 4, false), 2);
    /* Nobody known: zero. */
    assert_int_equal(paxos_quorum_commit_index(&c, ms, matches, 0, false), 0);
}

static void test_config_validity(void **state) {
    (void)state;
    paxos_config_t c = cfg3();
    assert_true(paxos_config_is_valid(&c));
    c.voters[2] = mem(1, 7); /* two incarnations of one name voting in one half */
    assert_false(paxos_config_is_valid(&c));
    c = cfg3();
    c.n_learners = 1;
    c.learners[0] = mem(2, 1); /* a learner that is also a voter */
    assert_false(paxos_config_is_valid(&c));
    c.learners[0] = mem(2, 2); /* the next incarnation as a learner is fine */
    assert_true(paxos_config_is_valid(&c));
    c.n_voters = 0;
    assert_false(paxos_config_is_valid(&c));
    c = cfg3();
    c.joint = true; /* joint without a new half */
    assert_false(paxos_config_is_valid(&c));
}

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_majority_sizes),
        cmocka_unit_test(test_majority_of_three),
        cmocka_unit_test(test_fresh_incarnation_not_counted),
        cmocka_unit_test(test_joint_needs_both_halves),
        cmocka_unit_test(test_commit_index),
        cmocka_unit_test(test_config_validity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
