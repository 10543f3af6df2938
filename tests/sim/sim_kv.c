/* The simulator's default replicated state machine: an append-only key/value store
 * with an idempotency table and a running hash.
 *
 * Command bytes: "KV1" client u32, seq u64, key u32, value u64 (big-endian). A command
 * whose (client, seq) is not above the client's high-water mark is a duplicate retry
 * and has no effect (CLUSTER §2.10 idempotency). The state hash folds in every applied
 * effect in order, so two nodes agree on it only if they applied the same sequence. */
#include <stdlib.h>

#include "sim.h"

#define KV_KEYS 64

typedef struct kv {
    uint64_t hash;
    uint64_t applied;
    uint64_t dups;
    uint64_t vals[KV_KEYS];
    uint64_t client_seq[SIM_CLIENTS_MAX];
} kv_t;

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static void *kv_create(void) { return calloc(1, sizeof(kv_t)); }
static void kv_destroy(void *sm) { free(sm); }

static bool kv_decode(pmq_slice_t b, sim_cmd_t *c) {
    if (b.len != 3 + 4 + 8 + 4 + 8 || memcmp(b.ptr, "KV1", 3) != 0) {
        return false;
    }
    c->client = pmq_load_u32be(b.ptr + 3);
    c->seq = pmq_load_u64be(b.ptr + 7);
    c->key = pmq_load_u32be(b.ptr + 15);
    c->value = pmq_load_u64be(b.ptr + 19);
    return c->client < SIM_CLIENTS_MAX;
}

static int kv_encode(const sim_cmd_t *c, pmq_buf_t *out) {
    char b[27];
    memcpy(b, "KV1", 3);
    pmq_store_u32be(b + 3, c->client);
    pmq_store_u64be(b + 7, c->seq);
    pmq_store_u32be(b + 15, c->key);
    pmq_store_u64be(b + 19, c->value);
    return pmq_buf_append(out, b, sizeof(b));
}

static void kv_apply(void *sm, uint64_t index, pmq_slice_t cmd) {
    kv_t *kv = sm;
    sim_cmd_t c;
    kv->applied++;
    if (!kv_decode(cmd, &c)) {
        /* Scenario commands are free text: they still change the hash. */
        for (size_t i = 0; i < cmd.len; i++) {
            kv->hash = mix(kv->hash, (unsigned char)cmd.ptr[i]);
        }
        return;
    }
    (void)index; /* the effect must not depend on where it landed, only on order */
    if (c.seq <= kv->client_seq[c.client]) {
        kv->dups++;
        return;
    }
    kv->client_seq[c.client] = c.seq;
    kv->vals[c.key % KV_KEYS] = c.value;
    kv->hash = mix(mix(mix(kv->hash, c.client), c.seq), c.value);
}

static int kv_snapshot(void *sm, pmq_buf_t *out) {
    return pmq_buf_append(out, sm, sizeof(kv_t));
}

static int kv_restore(void *sm, pmq_slice_t image) {
    if (image.len != sizeof(kv_t)) {
        return PMQ_ECORRUPT;
    }
    memcpy(sm, image.ptr, sizeof(kv_t));
    return 0;
}

static uint64_t kv_hash(void *sm) { return ((kv_t *)sm)->hash; }

static uint64_t kv_client_seq(void *sm, uint32_t client) {
    return client < SIM_CLIENTS_MAX ? ((kv_t *)sm)->client_seq[client] : 0;
}

const sim_sm_ops_t sim_kv_ops = {
    .name = "kv",
    .create = kv_create,
    .destroy = kv_destroy,
    .apply = kv_apply,
    .snapshot = kv_snapshot,
    .restore = kv_restore,
    .hash = kv_hash,
    .encode_cmd = kv_encode,
    .decode_cmd = kv_decode,
    .client_seq = kv_client_seq,
};
