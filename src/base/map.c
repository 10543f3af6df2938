/* Open-addressing hash map with linear probing and tombstones; FNV-1a-style hashing
 * with a final mix. No random seed on purpose: identical operation histories give
 * identical iteration orders, which replicated apply() relies on. */
#include "paxmq/assert.h"
#include "paxmq/map.h"

uint64_t pmq_hash(pmq_slice_t key) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < key.len; i++) {
        h ^= (unsigned char)key.ptr[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h < 2 ? h + 2 : h;
}

void pmq_map_init(pmq_map_t *m) { *m = (pmq_map_t){NULL, 0, 0, 0}; }

void pmq_map_close(pmq_map_t *m) {
    pmq_free(m->slots);
    pmq_map_init(m);
}

static pmq_map_slot_t *find_slot(const pmq_map_t *m, pmq_slice_t key, uint64_t h) {
    if (m->cap == 0) {
        return NULL;
    }
    size_t mask = m->cap - 1;
    for (size_t i = h & mask, n = 0; n < m->cap; i = (i + 1) & mask, n++) {
        pmq_map_slot_t *s = &m->slots[i];
        if (s->hash == 0) {
            return NULL;
        }
        if (s->hash == h && pmq_slice_eq(s->key, key)) {
            return s;
        }
    }
    return NULL;
}

void *pmq_map_get(const pmq_map_t *m, pmq_slice_t key) {
    pmq_map_slot_t *s = find_slot(m, key, pmq_hash(key));
    return s ? s->value : NULL;
}

static int grow(pmq_map_t *m) {
    size_t cap = m->cap ? m->cap : 8;
    /* Rehash in place size when mostly tombstones, otherwise double. */
    if (m->count * 2 >= cap) {
        cap *= 2;
    }
    pmq_map_slot_t *slots = pmq_calloc(cap, sizeof(*slots));
    if (slots == NULL) {
        return PMQ_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        pmq_map_slot_t *s = &m->slots[i];
        if (s->hash < 2) {
            continue;
        }
        size_t j = s->hash & (cap - 1);
        while (slots[j].hash != 0) {
            j = (j + 1) & (cap - 1);
        }
        slots[j] = *s;
    }
    pmq_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->used = m->count;
    return 0;
}

int pmq_map_put(pmq_map_t *m, pmq_slice_t key, void *value) {
    uint64_t h = pmq_hash(key);
    pmq_map_slot_t *s = find_slot(m, key, h);
    if (s != NULL) {
        s->value = value;
        s->key = key;
        return 0;
    }
    if ((m->used + 1) * 4 >= m->cap * 3) {
        int rc = grow(m);
        if (rc != 0) {
            return rc;
        }
    }
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].hash >= 2) {
        i = (i + 1) & mask;
    }
    if (m->slots[i].hash == 0) {
        m->used++;
    }
    m->slots[i] = (pmq_map_slot_t){h, key, value};
    m->count++;
    PMQ_ASSERT(m->used < m->cap);
    return 0;
}

void *pmq_map_del(pmq_map_t *m, pmq_slice_t key) {
    pmq_map_slot_t *s = find_slot(m, key, pmq_hash(key));
    if (s == NULL) {
        return NULL;
    }
    void *v = s->value;
    s->hash = 1;
    s->value = NULL;
    s->key = pmq_slice(NULL, 0);
    PMQ_ASSERT(m->count > 0);
    m->count--;
    return v;
}

bool pmq_map_next(const pmq_map_t *m, size_t *pos, pmq_slice_t *key, void **value) {
    while (*pos < m->cap) {
        pmq_map_slot_t *s = &m->slots[(*pos)++];
        if (s->hash >= 2) {
            if (key != NULL) {
                *key = s->key;
            }
            *value = s->value;
            return true;
        }
    }
    return false;
}
