/* Quorum arithmetic for the Paxos core: pure functions over configs and ack sets.
 *
 * Every quorum decision in paxos*.c goes through q1()/q2() and the helpers here, so a
 * Flexible Paxos variant (CLUSTER §2.2) would be a change to this file only. Members
 * match by exact (id, incarnation) unless the simulator's unsafe switch asks for ids. */
#include "paxmq/assert.h"
#include "paxmq/paxos.h"

uint32_t paxos_q1(uint32_t n) {
    PMQ_ASSERT(n <= PAXOS_VOTERS_MAX);
    return n / 2 + 1;
}

uint32_t paxos_q2(uint32_t n) {
    PMQ_ASSERT(n <= PAXOS_VOTERS_MAX);
    return n / 2 + 1;
}

static bool member_match(paxos_member_t a, paxos_member_t b, bool by_id_only) {
    return by_id_only ? a.id == b.id : paxos_member_eq(a, b);
}

static bool set_has(const paxos_member_t *set, size_t n, paxos_member_t m, bool by_id_only) {
    for (size_t i = 0; i < n; i++) {
        if (member_match(set[i], m, by_id_only)) {
            return true;
        }
    }
    return false;
}

/* Counts voters of one half that appear in acks; each voter is counted once even if
 * acks repeats it (or, by id, lists two incarnations). */
static uint32_t half_count(const paxos_member_t *voters, uint8_t n_voters,
                           const paxos_member_t *acks, size_t n_acks, bool by_id_only) {
    uint32_t count = 0;
    for (uint8_t i = 0; i < n_voters; i++) {
        if (set_has(acks, n_acks, voters[i], by_id_only)) {
            count++;
        }
    }
    PMQ_ASSERT(count <= n_voters);
    return count;
}

bool paxos_quorum_has(const paxos_config_t *cfg, const paxos_member_t *acks, size_t n_acks,
                      bool by_id_only) {
    PMQ_ASSERT(cfg != NULL);
    if (cfg->n_voters == 0) {
        return false;
    }
    if (half_count(cfg->voters, cfg->n_voters, acks, n_acks, by_id_only) <
        paxos_q2(cfg->n_voters)) {
        return false;
    }
    if (!cfg->joint) {
        return true;
    }
    PMQ_ASSERT(cfg->n_new > 0);
    return half_count(cfg->new_voters, cfg->n_new, acks, n_acks, by_id_only) >=
           paxos_q2(cfg->n_new);
}

/* The match index of voter v, or 0 when v has no entry. */
static uint64_t match_of(paxos_member_t v, const paxos_member_t *members,
                         const uint64_t *matches, size_t n, bool by_id_only) {
    uint64_t best = 0;
    for (size_t i = 0; i < n; i++) {
        if (member_match(members[i], v, by_id_only) && matches[i] > best) {
            best = matches[i];
        }
    }
    return best;
}

/* The q-th largest match among one half's voters. */
static uint64_t half_commit(const paxos_member_t *voters, uint8_t n_voters,
                            const paxos_member_t *members, const uint64_t *matches, size_t n,
                            bool by_id_only) {
    uint64_t m[PAXOS_VOTERS_MAX];
    PMQ_ASSERT(n_voters > 0);
    PMQ_ASSERT(n_voters <= PAXOS_VOTERS_MAX);
    for (uint8_t i = 0; i < n_voters; i++) {
        m[i] = match_of(voters[i], members, matches, n, by_id_only);
    }
    /* Insertion sort, descending: at most seven values. */
    for (uint8_t i = 1; i < n_voters; i++) {
        uint64_t v = m[i];
        int j = i - 1;
        while (j >= 0 && m[j] < v) {
            m[j + 1] = m[j];
            j--;
        }
        m[j + 1] = v;
    }
    return m[paxos_q2(n_voters) - 1];
}

uint64_t paxos_quorum_commit_index(const paxos_config_t *cfg, const paxos_member_t *members,
                                   const uint64_t *matches, size_t n, bool by_id_only) {
    PMQ_ASSERT(cfg != NULL);
    if (cfg->n_voters == 0) {
        return 0;
    }
    uint64_t c = half_commit(cfg->voters, cfg->n_voters, members, matches, n, by_id_only);
    if (cfg->joint) {
        uint64_t c2 = half_commit(cfg->new_voters, cfg->n_new, members, matches, n, by_id_only);
        c = PMQ_MIN(c, c2);
    }
    return c;
}

bool paxos_config_is_voter(const paxos_config_t *cfg, paxos_member_t m, bool by_id_only) {
    if (set_has(cfg->voters, cfg->n_voters, m, by_id_only)) {
        return true;
    }
    return cfg->joint && set_has(cfg->new_voters, cfg->n_new, m, by_id_only);
}

bool paxos_config_is_learner(const paxos_config_t *cfg, paxos_member_t m) {
    return set_has(cfg->learners, cfg->n_learners, m, false);
}

static bool ids_unique(const paxos_member_t *set, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (set[i].id == 0) {
            return false;
        }
        for (size_t j = i + 1; j < n; j++) {
            if (set[i].id == set[j].id) {
                return false;
            }
        }
    }
    return true;
}

bool paxos_config_is_valid(const paxos_config_t *cfg) {
    if (cfg->n_voters == 0 || cfg->n_voters > PAXOS_VOTERS_MAX) {
        return false;
    }
    if (cfg->n_learners > PAXOS_LEARNERS_MAX || cfg->n_new > PAXOS_VOTERS_MAX) {
        return false;
    }
    if (cfg->joint != (cfg->n_new > 0)) {
        return false;
    }
    if (!ids_unique(cfg->voters, cfg->n_voters) || !ids_unique(cfg->new_voters, cfg->n_new) ||
        !ids_unique(cfg->learners, cfg->n_learners)) {
        return false;
    }
    for (uint8_t i = 0; i < cfg->n_learners; i++) {
        if (paxos_config_is_voter(cfg, cfg->learners[i], false)) {
            return false;
        }
    }
    return true;
}
