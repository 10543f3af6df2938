/* xoshiro256** seeded through splitmix64: small, fast, and reproducible from a seed. */
#include "paxmq/assert.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void pmq_rng_seed(pmq_rng_t *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        rng->s[i] = splitmix64(&seed);
    }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t pmq_rng_next(pmq_rng_t *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t pmq_rng_below(pmq_rng_t *rng, uint64_t bound) {
    PMQ_ASSERT(bound > 0);
    /* Rejection sampling removes modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t v;
    do {
        v = pmq_rng_next(rng);
    } while (v >= limit);
    return v % bound;
}

uint64_t pmq_rng_range(pmq_rng_t *rng, uint64_t lo, uint64_t hi) {
    PMQ_ASSERT(lo <= hi);
    if (hi - lo == UINT64_MAX) {
        return pmq_rng_next(rng);
    }
    return lo + pmq_rng_below(rng, hi - lo + 1);
}

bool pmq_rng_chance(pmq_rng_t *rng, uint32_t num, uint32_t den) {
    PMQ_ASSERT(den > 0);
    return pmq_rng_below(rng, den) < num;
}
