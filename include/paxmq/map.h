/* Intrusive doubly linked lists and an open-addressing hash map keyed by byte slices.
 *
 * The map does not own keys or values: a key slice must stay valid while its entry is
 * in the map (typically it points into the value's own memory). Iteration order is a
 * function of the insertion/deletion history only (no random seed), which keeps
 * apply() deterministic across replicas that applied the same commands. */
#ifndef PAXMQ_MAP_H
#define PAXMQ_MAP_H

#include "paxmq/base.h"

typedef struct pmq_list {
    struct pmq_list *prev;
    struct pmq_list *next;
} pmq_list_t;

static inline void pmq_list_init(pmq_list_t *head) { head->prev = head->next = head; }
static inline bool pmq_list_is_empty(const pmq_list_t *head) { return head->next == head; }
static inline bool pmq_list_is_linked(const pmq_list_t *node) {
    return node->next != NULL && node->next != node;
}
static inline void pmq_list__insert(pmq_list_t *node, pmq_list_t *prev, pmq_list_t *next) {
    node->prev = prev;
    node->next = next;
    prev->next = node;
    next->prev = node;
}
static inline void pmq_list_push_back(pmq_list_t *head, pmq_list_t *node) {
    pmq_list__insert(node, head->prev, head);
}
static inline void pmq_list_push_front(pmq_list_t *head, pmq_list_t *node) {
    pmq_list__insert(node, head, head->next);
}
/* Unlinks node and leaves it self-linked (so unlinking twice is harmless). */
static inline void pmq_list_remove(pmq_list_t *node) {
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}
static inline pmq_list_t *pmq_list_first(const pmq_list_t *head) {
    return head->next == head ? NULL : head->next;
}
#define PMQ_LIST_FOREACH_SAFE(it, tmp, head)                                            \
    for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); (it) = (tmp), (tmp) = (it)->next)

typedef struct pmq_map_slot {
    uint64_t hash; /* 0 = empty, 1 = deleted (tombstone); real hashes are >= 2 */
    pmq_slice_t key;
    void *value;
} pmq_map_slot_t;

typedef struct pmq_map {
    pmq_map_slot_t *slots;
    size_t cap; /* power of two or 0 */
    size_t count;
    size_t used; /* count + tombstones */
} pmq_map_t;

void pmq_map_init(pmq_map_t *m);
/* Frees the slot array (not keys or values). */
void pmq_map_close(pmq_map_t *m);
void *pmq_map_get(const pmq_map_t *m, pmq_slice_t key);
/* Inserts or replaces. Returns PMQ_ENOMEM; the map is unchanged then. */
PMQ_MUST_USE int pmq_map_put(pmq_map_t *m, pmq_slice_t key, void *value);
/* Removes and returns the value, or NULL when absent. */
void *pmq_map_del(pmq_map_t *m, pmq_slice_t key);
/* Iteration: start with *pos = 0; returns false at the end. Do not insert while
 * iterating; deleting the current entry is allowed. */
bool pmq_map_next(const pmq_map_t *m, size_t *pos, pmq_slice_t *key, void **value);
static inline size_t pmq_map_count(const pmq_map_t *m) { return m->count; }

uint64_t pmq_hash(pmq_slice_t key);

#endif
