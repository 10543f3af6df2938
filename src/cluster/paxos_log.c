/* The Paxos core's in-memory log and the configs derived from it.
 *
 * The log is an array of entries from `first` (the snapshot index + 1) to `last`. It is
 * never truncated: an acceptor only replaces one index's value by a higher-ballot one
 * (see docs/PAXOS.md "no suffix truncation"), and compaction drops a committed prefix.
 * Every write marks the index dirty so the next batch persists it. Memory is bounded
 * by cfg.log_entries_max entries of at most cfg.entry_bytes_max bytes each. */
#include "paxos_int.h"

int paxos__log_init(paxos__log_t *log, size_t cap_hint) {
    memset(log, 0, sizeof(*log));
    log->first = 1;
    log->cap = cap_hint < 16 ? 16 : cap_hint;
    log->ents = pmq_calloc(log->cap, sizeof(paxos_entry_t));
    return log->ents == NULL ? PMQ_ENOMEM : 0;
}

static void entry_free(paxos_entry_t *e) {
    pmq_free((void *)e->data.ptr);
    e->data = pmq_slice(NULL, 0);
}

void paxos__log_close(paxos__log_t *log) {
    for (size_t i = 0; i < log->n; i++) {
        entry_free(&log->ents[i]);
    }
    pmq_free(log->ents);
    memset(log, 0, sizeof(*log));
}

paxos_entry_t *paxos__log_at(const paxos__log_t *log, uint64_t index) {
    if (index < log->first || index > paxos__log_last(log)) {
        return NULL;
    }
    paxos_entry_t *e = &log->ents[index - log->first];
    PMQ_DASSERT(e->index == index);
    return e;
}

paxos_ballot_t paxos__log_ballot(const paxos__log_t *log, uint64_t index) {
    const paxos_entry_t *e = paxos__log_at(log, index);
    if (e != NULL) {
        return e->ballot;
    }
    if (log->has_snap && index == log->snap.index) {
        return log->snap.ballot;
    }
    return (paxos_ballot_t){0, 0};
}

static int log_grow(paxos_t *p) {
    paxos__log_t *log = &p->log;
    if (log->n < log->cap) {
        return 0;
    }
    if (log->n >= p->cfg.log_entries_max) {
        return PMQ_EFULL;
    }
    size_t cap = PMQ_MIN(log->cap * 2, (size_t)p->cfg.log_entries_max);
    paxos_entry_t *ents = pmq_realloc(log->ents, cap * sizeof(*ents));
    if (ents == NULL) {
        return PMQ_ENOMEM;
    }
    log->ents = ents;
    log->cap = cap;
    return 0;
}

void paxos__mark_dirty(paxos_t *p, uint64_t index) {
    PMQ_ASSERT(index >= p->log.first);
    if (p->dirty_lo == 0 || index < p->dirty_lo) {
        p->dirty_lo = index;
    }
    if (index > p->dirty_hi) {
        p->dirty_hi = index;
    }
}

int paxos__log_put(paxos_t *p, uint64_t index, paxos_ballot_t ballot, uint8_t type,
                   pmq_slice_t data) {
    paxos__log_t *log = &p->log;
    PMQ_ASSERT(!p->in_batch);
    PMQ_ASSERT(index >= log->first);
    PMQ_ASSERT(index <= paxos__log_last(log) + 1);
    PMQ_ASSERT(data.len <= p->cfg.entry_bytes_max);
    char *copy = NULL;
    if (data.len > 0) {
        copy = pmq_malloc(data.len);
        if (copy == NULL) {
            return PMQ_ENOMEM;
        }
        memcpy(copy, data.ptr, data.len);
    }
    if (index == paxos__log_last(log) + 1) {
        int rc = log_grow(p);
        if (rc != 0) {
            pmq_free(copy);
            return rc;
        }
        log->n++;
    } else {
        entry_free(&log->ents[index - log->first]);
    }
    paxos_entry_t *e = &log->ents[index - log->first];
    *e = (paxos_entry_t){index, ballot, type, pmq_slice(copy, data.len)};
    paxos__mark_dirty(p, index);
    if (paxos_entry_is_config(type) || index <= p->conf_index) {
        paxos__conf_refresh(p);
    }
    return 0;
}

void paxos__log_restamp(paxos_t *p, uint64_t index, paxos_ballot_t ballot) {
    paxos_entry_t *e = paxos__log_at(&p->log, index);
    PMQ_ASSERT(e != NULL);
    PMQ_ASSERT(paxos_ballot_cmp(e->ballot, ballot) <= 0);
    e->ballot = ballot;
    paxos__mark_dirty(p, index);
}

void paxos__log_compact(paxos__log_t *log, const paxos_snap_meta_t *meta) {
    PMQ_ASSERT(meta->index + 1 >= log->first);
    uint64_t drop = PMQ_MIN(meta->index + 1 - log->first, (uint64_t)log->n);
    for (size_t i = 0; i < drop; i++) {
        entry_free(&log->ents[i]);
    }
    memmove(log->ents, log->ents + drop, (log->n - drop) * sizeof(paxos_entry_t));
    log->n -= drop;
    log->first = meta->index + 1;
    log->has_snap = true;
    log->snap = *meta;
    PMQ_ASSERT(log->n == 0 || log->ents[0].index == log->first);
}

bool paxos__by_id(const paxos_t *p) { return p->cfg.unsafe_count_fresh_incarnations; }

bool paxos_entry_is_config(uint8_t type) {
    return type == PAXOS_ENTRY_GENESIS || type == PAXOS_ENTRY_CONFIG_JOINT ||
           type == PAXOS_ENTRY_CONFIG_FINAL || type == PAXOS_ENTRY_ADD_LEARNER ||
           type == PAXOS_ENTRY_REMOVE_LEARNER;
}

int paxos_entry_config(const paxos_entry_t *e, paxos_config_t *out) {
    if (!paxos_entry_is_config(e->type)) {
        return PMQ_EINVAL;
    }
    pmq_slice_t d = e->data;
    if (e->type == PAXOS_ENTRY_GENESIS) {
        if (d.len < 16) {
            return PMQ_EPROTO;
        }
        d = pmq_slice(d.ptr + 16, d.len - 16);
    }
    return paxos_config_decode(d, out);
}

/* Decodes a config entry that the core itself validated on the way in. */
static void must_config(const paxos_entry_t *e, paxos_config_t *out) {
    int rc = paxos_entry_config(e, out);
    PMQ_ASSERT(rc == 0);
}

bool paxos__config_at(const paxos_t *p, uint64_t index, paxos_config_t *out) {
    const paxos__log_t *log = &p->log;
    uint64_t i = PMQ_MIN(index, paxos__log_last(log));
    for (; i >= log->first && i > 0; i--) {
        const paxos_entry_t *e = paxos__log_at(log, i);
        if (paxos_entry_is_config(e->type)) {
            must_config(e, out);
            return true;
        }
    }
    if (log->has_snap) {
        *out = log->snap.config;
        return true;
    }
    memset(out, 0, sizeof(*out));
    return false;
}

void paxos__conf_refresh(paxos_t *p) {
    const paxos__log_t *log = &p->log;
    for (uint64_t i = paxos__log_last(log); i >= log->first && i > 0; i--) {
        const paxos_entry_t *e = paxos__log_at(log, i);
        if (paxos_entry_is_config(e->type)) {
            must_config(e, &p->conf);
            p->conf_index = i;
            return;
        }
    }
    p->conf_index = 0;
    if (log->has_snap) {
        p->conf = log->snap.config;
    } else {
        memset(&p->conf, 0, sizeof(p->conf));
    }
}

/* The config in force at the commit index, cached: a scan back to the latest config
 * entry could otherwise walk the whole log on every quorum check. Values at or below
 * commit never change, so the cache only moves forward (or is dropped on install). */
bool paxos__commit_config(paxos_t *p, paxos_config_t *out) {
    if (!p->cc_valid || p->cc_commit > p->commit || p->cc_commit + 1 < p->log.first) {
        p->cc_has = paxos__config_at(p, p->commit, &p->cc_conf);
        p->cc_commit = p->commit;
        p->cc_valid = true;
    }
    for (uint64_t i = p->commit; i > p->cc_commit; i--) {
        const paxos_entry_t *e = paxos__log_at(&p->log, i);
        PMQ_ASSERT(e != NULL);
        if (paxos_entry_is_config(e->type)) {
            must_config(e, &p->cc_conf);
            p->cc_has = true;
            break;
        }
    }
    p->cc_commit = p->commit;
    *out = p->cc_conf;
    return p->cc_has;
}

int paxos__configs_above_commit(paxos_t *p, paxos_config_t *out, int max) {
    PMQ_ASSERT(max > 0);
    int n = 0;
    if (paxos__commit_config(p, &out[0])) {
        n = 1;
    }
    for (uint64_t i = p->commit + 1; i <= paxos__log_last(&p->log); i++) {
        const paxos_entry_t *e = paxos__log_at(&p->log, i);
        if (!paxos_entry_is_config(e->type)) {
            continue;
        }
        if (n == max) {
            return -1;
        }
        must_config(e, &out[n++]);
    }
    return n;
}
