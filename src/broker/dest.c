/* Destination names (ActiveMQ conventions), wildcard matching, and the queue table.
 *
 * Names: "/queue/NAME", "/topic/NAME", "/temp-queue/NAME", "/temp-topic/NAME" (per
 * connection), "/remote-temp-queue/ID" and "/remote-temp-topic/ID" (a temp destination
 * seen from other connections). Topic wildcards as in ActiveMQ: '.' separates levels,
 * '*' matches exactly one level, '>' (last level only) matches zero or more levels. */
#include <stdio.h>

#include "broker_int.h"

static const char *const durable_prefixes[] = {"/queue/", "/topic/"};
static const char *const all_prefixes[] = {"/queue/",      "/topic/",
                                           "/temp-queue/", "/temp-topic/",
                                           "/remote-temp-queue/", "/remote-temp-topic/"};

bool broker_dest_is_durable(pmq_slice_t dest) {
    for (size_t i = 0; i < PMQ_ARRAY_LEN(durable_prefixes); i++) {
        if (pmq_slice_has_prefix(dest, durable_prefixes[i])) {
            return true;
        }
    }
    return false;
}

bool broker__is_wildcard(pmq_slice_t dest) {
    if (!pmq_slice_has_prefix(dest, "/topic/")) {
        return false;
    }
    return memchr(dest.ptr, '*', dest.len) != NULL || memchr(dest.ptr, '>', dest.len) != NULL;
}

bool broker_dest_is_valid(pmq_slice_t dest, bool for_subscribe, char *reason, size_t len) {
    size_t plen = 0;
    for (size_t i = 0; i < PMQ_ARRAY_LEN(all_prefixes); i++) {
        if (pmq_slice_has_prefix(dest, all_prefixes[i])) {
            plen = strlen(all_prefixes[i]);
            break;
        }
    }
    if (plen == 0) {
        snprintf(reason, len,
                 "destination '%.*s' must start with /queue/, /topic/, /temp-queue/ or "
                 "/temp-topic/",
                 (int)PMQ_MIN(dest.len, 100), dest.ptr);
        return false;
    }
    if (dest.len == plen || dest.len > RLOG_NAME_BYTES_MAX) {
        snprintf(reason, len, "destination name is empty or longer than %d bytes",
                 RLOG_NAME_BYTES_MAX);
        return false;
    }
    if (memchr(dest.ptr, ',', dest.len) != NULL) {
        snprintf(reason, len, "composite destinations (with ',') are not supported");
        return false;
    }
    bool wild = memchr(dest.ptr, '*', dest.len) != NULL || memchr(dest.ptr, '>', dest.len) != NULL;
    if (wild && (!for_subscribe || !pmq_slice_has_prefix(dest, "/topic/"))) {
        snprintf(reason, len, "wildcards ('*', '>') are only allowed when subscribing to topics");
        return false;
    }
    if (wild) {
        /* '>' may only stand alone as the last level; '*' only alone in its level. */
        const char *name = dest.ptr + plen;
        size_t n = dest.len - plen;
        for (size_t i = 0; i < n; i++) {
            char c = name[i];
            if (c != '*' && c != '>') {
                continue;
            }
            bool starts = i == 0 || name[i - 1] == '.';
            bool ends = i + 1 == n || name[i + 1] == '.';
            if (!starts || !ends || (c == '>' && i + 1 != n)) {
                snprintf(reason, len, "'%c' must be a whole level%s", c,
                         c == '>' ? " and the last one" : "");
                return false;
            }
        }
    }
    return true;
}

/* Splits off the next '.'-separated level. */
static bool next_level(pmq_slice_t *rest, pmq_slice_t *level) {
    if (rest->ptr == NULL) {
        return false;
    }
    const char *dot = memchr(rest->ptr, '.', rest->len);
    if (dot == NULL) {
        *level = *rest;
        *rest = pmq_slice(NULL, 0);
    } else {
        *level = pmq_slice(rest->ptr, (size_t)(dot - rest->ptr));
        *rest = pmq_slice(dot + 1, rest->len - level->len - 1);
    }
    return true;
}

bool broker__pattern_matches(pmq_slice_t pattern, pmq_slice_t topic) {
    if (!pmq_slice_has_prefix(pattern, "/topic/") || !pmq_slice_has_prefix(topic, "/topic/")) {
        return pmq_slice_eq(pattern, topic);
    }
    pmq_slice_t p = pmq_slice(pattern.ptr + 7, pattern.len - 7);
    pmq_slice_t t = pmq_slice(topic.ptr + 7, topic.len - 7);
    pmq_slice_t pl, tl;
    for (;;) {
        bool hp = next_level(&p, &pl);
        if (hp && pmq_slice_eq_cstr(pl, ">")) {
            return true; /* the rest, including nothing */
        }
        bool ht = next_level(&t, &tl);
        if (!hp || !ht) {
            return hp == ht;
        }
        if (!pmq_slice_eq_cstr(pl, "*") && !pmq_slice_eq(pl, tl)) {
            return false;
        }
    }
}

broker_queue_t *broker__queue_get(broker_t *b, pmq_slice_t name) {
    return pmq_map_get(&b->queues, name);
}

broker_queue_t *broker__queue_ensure(broker_t *b, pmq_slice_t name, bq_kind_t kind) {
    broker_queue_t *q = pmq_map_get(&b->queues, name);
    if (q != NULL) {
        return q;
    }
    q = pmq_calloc(1, sizeof(*q));
    char *copy = pmq_slice_dup(name);
    if (q == NULL || copy == NULL) {
        goto fail;
    }
    q->name = copy;
    q->kind = kind;
    for (int i = 0; i < BROKER_PRIORITIES; i++) {
        pmq_list_init(&q->ready[i]);
    }
    pmq_map_init(&q->by_seq);
    pmq_list_init(&q->consumers);
    pmq_list_init(&q->waiters);
    pmq_list_init(&q->dirty_link);
    pmq_list_init(&q->batch_link);
    pmq_list_init(&q->dsub_link);
    if (pmq_map_put(&b->queues, pmq_slice_cstr(q->name), q) != 0) {
        goto fail;
    }
    b->st.destinations++;
    return q;
fail:
    pmq_free(copy);
    pmq_free(q);
    return NULL;
}

void broker__queue_destroy(broker_t *b, broker_queue_t *q) {
    PMQ_ASSERT(pmq_list_is_empty(&q->consumers));
    broker__queue_clear(b, q);
    broker__wake_waiters(b, q);
    PMQ_ASSERT(q->depth == 0);
    pmq_list_remove(&q->dirty_link);
    pmq_list_remove(&q->batch_link);
    pmq_list_remove(&q->dsub_link);
    broker__batch_free(&q->acks);
    broker__batch_free(&q->dlqs);
    broker__batch_free(&q->expires);
    void *gone = pmq_map_del(&b->queues, pmq_slice_cstr(q->name));
    PMQ_ASSERT(gone == q);
    pmq_map_close(&q->by_seq);
    b->st.destinations--;
    pmq_free(q->pattern);
    pmq_free(q->name);
    pmq_free(q);
}

void broker__queue_mark_dirty(broker_t *b, broker_queue_t *q) {
    if (!pmq_list_is_linked(&q->dirty_link)) {
        pmq_list_push_back(&b->dirty, &q->dirty_link);
        broker__kick(b);
    }
}

void broker__dsub_name(pmq_buf_t *out, pmq_slice_t client_id, pmq_slice_t name) {
    pmq_buf_reset(out);
    if (pmq_buf_append_cstr(out, "dsub:") != 0 || pmq_buf_append_slice(out, client_id) != 0 ||
        pmq_buf_append_cstr(out, ":") != 0 || pmq_buf_append_slice(out, name) != 0) {
        out->len = 0;
    }
}
