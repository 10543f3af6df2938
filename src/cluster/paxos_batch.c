/* The Paxos core's output side: building a batch, acknowledging it, compaction and the
 * read-only queries. The batch contract itself is documented on paxos_batch_t. */
#include "paxos_int.h"

/* Moves replies whose writes are durable into the outbox, attaching PROMISE entries
 * from the log as it is now (everything reported is what this acceptor has accepted). */
static void release_held(paxos_t *p) {
    uint32_t keep = 0;
    for (uint32_t i = 0; i < p->n_held; i++) {
        paxos__held_t *h = &p->held[i];
        if (h->need_seq > p->durable_seq) {
            p->held[keep++] = *h;
            continue;
        }
        bool outdated = paxos_ballot_cmp(p->promised, h->msg.ballot) > 0;
        if (outdated && h->msg.type == PAXOS_MSG_APPEND_RESP) {
            continue; /* I follow a higher ballot now: that master is finished */
        }
        paxos_msg_t *m = paxos__out(p, h->msg.type, h->msg.to);
        if (m == NULL) {
            continue;
        }
        *m = h->msg;
        m->commit = p->commit;
        if (outdated) {
            /* Promised higher since: my log may hold entries above this ballot, which a
             * PROMISE for it must never carry. Tell the candidate it lost instead. */
            m->granted = false;
            m->promised = p->promised;
            continue;
        }
        if (m->type != PAXOS_MSG_PROMISE || m->pre_vote || !m->granted) {
            continue;
        }
        /* Report accepted entries from from_index on, within the message bounds.
         * covered_to >= last_index tells the candidate it has seen everything. */
        uint64_t from = m->from_index;
        uint64_t last = paxos__log_last(&p->log);
        m->last_index = last;
        m->need_snapshot = from < p->log.first; /* chosen entries I compacted away */
        m->covered_to = from - 1;
        if (m->need_snapshot || from > last) {
            continue;
        }
        size_t bytes = 0;
        uint32_t n = 0;
        for (uint64_t idx = from; idx <= last && n < p->cfg.msg_entries_max; idx++, n++) {
            const paxos_entry_t *e = paxos__log_at(&p->log, idx);
            if (n > 0 && bytes + e->data.len > p->cfg.msg_bytes_max) {
                break;
            }
            bytes += e->data.len;
        }
        m->entries = paxos__log_at(&p->log, from);
        m->n_entries = n;
        m->covered_to = from + n - 1;
        PMQ_ASSERT(n >= 1);
        PMQ_ASSERT(paxos_msg_encoded_size(m) > 0); /* within PAXOS_MSG_BYTES_MAX */
    }
    p->n_held = keep;
}

static void fill_persist(paxos_t *p, paxos_batch_t *b) {
    if (!p->hard_dirty && p->dirty_lo == 0 && !p->snap_install) {
        return;
    }
    if (p->n_pending == PAXOS__PERSIST_MAX) {
        return; /* the store is far behind: hold writes until it catches up */
    }
    b->seq = ++p->next_seq;
    b->hard_changed = p->hard_dirty;
    uint64_t lo = 0;
    if (p->snap_install) {
        b->snapshot = &p->inst_snap;
        b->snapshot_data = pmq_slice(p->snap_data, p->snap_len);
        lo = p->inst_snap.index;
    }
    if (p->dirty_lo != 0) {
        PMQ_ASSERT(p->dirty_lo >= p->log.first);
        PMQ_ASSERT(p->dirty_hi <= paxos__log_last(&p->log));
        b->entries = paxos__log_at(&p->log, p->dirty_lo);
        b->n_entries = (size_t)(p->dirty_hi - p->dirty_lo + 1);
        lo = lo == 0 ? p->dirty_lo : PMQ_MIN(lo, p->dirty_lo);
    }
    p->pending[p->n_pending++] = (paxos__pending_t){b->seq, lo};
    p->hard_dirty = false;
    p->dirty_lo = p->dirty_hi = 0;
    p->snap_install = false; /* snap_data is freed at advance */
}

bool paxos_ready(paxos_t *p, paxos_batch_t *b) {
    PMQ_ASSERT(!p->in_batch);
    memset(b, 0, sizeof(*b));
    if (p->role == PAXOS_ROLE_LEADER) {
        paxos__maybe_commit(p);
    } else if (p->role == PAXOS_ROLE_CANDIDATE) {
        paxos__cand_poll(p);
    }
    if (p->role == PAXOS_ROLE_LEADER) {
        paxos__leader_flush(p);
    }
    release_held(p);
    b->hard = (paxos_hard_t){p->promised, p->promised_to, p->commit};
    fill_persist(p, b);
    uint64_t hi = PMQ_MIN(p->commit, paxos__durable_index(p));
    if (hi > p->applied) {
        PMQ_ASSERT(p->applied + 1 >= p->log.first);
        b->committed = paxos__log_at(&p->log, p->applied + 1);
        b->n_committed = (size_t)(hi - p->applied);
    }
    b->msgs = p->outbox;
    b->n_msgs = p->n_out;
    b->role_changed = p->role_changed;
    b->role = p->role;
    b->ballot = p->ballot;
    b->leader_id = p->leader.id;
    bool has = b->seq != 0 || b->n_msgs > 0 || b->n_committed > 0 || b->role_changed;
    p->in_batch = has;
    return has;
}

void paxos_advance(paxos_t *p, paxos_batch_t *b) {
    PMQ_ASSERT(p->in_batch);
    if (b->n_committed > 0) {
        uint64_t last = b->committed[b->n_committed - 1].index;
        PMQ_ASSERT(last == p->applied + b->n_committed);
        PMQ_ASSERT(last <= p->commit);
        p->applied = last;
    }
    if (b->snapshot != NULL && p->snap_data != NULL && !p->snap_install) {
        pmq_free(p->snap_data);
        p->snap_data = NULL;
        p->snap_len = 0;
    }
    p->n_out = 0;
    p->role_changed = false;
    p->in_batch = false;
    memset(b, 0, sizeof(*b));
}

/* ---- snapshots ---- */

int paxos_snapshot_meta(const paxos_t *p, uint64_t index, paxos_snap_meta_t *meta) {
    if (index > p->applied || index + 1 < p->log.first || index == 0) {
        return PMQ_EINVAL;
    }
    memset(meta, 0, sizeof(*meta));
    meta->index = index;
    meta->ballot = paxos__log_ballot(&p->log, index);
    if (!paxos__config_at(p, index, &meta->config)) {
        return PMQ_EINVAL; /* no config yet: nothing worth a snapshot */
    }
    return 0;
}

int paxos_compact(paxos_t *p, uint64_t index) {
    PMQ_ASSERT(!p->in_batch);
    if (index + 1 == p->log.first) {
        return 0;
    }
    if (index > paxos__durable_index(p)) {
        return PMQ_EINVAL;
    }
    paxos_snap_meta_t meta;
    int rc = paxos_snapshot_meta(p, index, &meta);
    if (rc != 0) {
        return rc;
    }
    paxos__log_compact(&p->log, &meta);
    PMQ_ASSERT(p->commit + 1 >= p->log.first);
    return 0;
}

/* ---- queries ---- */

bool paxos_lease_valid(const paxos_t *p) {
    return p->role == PAXOS_ROLE_LEADER && !p->lease_revoked && p->now < p->lease_until;
}

void paxos_status(const paxos_t *p, paxos_status_t *st) {
    memset(st, 0, sizeof(*st));
    st->role = p->role;
    st->ballot = p->ballot;
    st->promised = p->promised;
    st->leader_id = p->leader.id;
    st->fresh = paxos__is_fresh(p);
    st->voter = paxos__self_voter(p);
    st->learner = paxos_config_is_learner(&p->conf, p->self);
    st->serving = p->role == PAXOS_ROLE_LEADER && p->serving;
    st->lease_valid = paxos_lease_valid(p);
    st->first_index = p->log.first;
    st->last_index = paxos__log_last(&p->log);
    st->commit = p->commit;
    st->applied = p->applied;
    st->durable_index = paxos__durable_index(p);
    st->config_index = p->conf_index;
    st->config = p->conf;
    st->now_ticks = p->now;
    st->msgs_rejected = p->msgs_rejected;
    st->msgs_dropped = p->msgs_dropped;
    st->elections_won = p->elections_won;
    st->safety_alarms = p->safety_alarms;
}

bool paxos_log_get(const paxos_t *p, uint64_t index, paxos_entry_t *out) {
    const paxos_entry_t *e = paxos__log_at(&p->log, index);
    if (e == NULL) {
        return false;
    }
    *out = *e;
    return true;
}

const char *paxos_role_name(paxos_role_t role) {
    switch (role) {
    case PAXOS_ROLE_FOLLOWER:
        return "follower";
    case PAXOS_ROLE_PRECANDIDATE:
        return "precandidate";
    case PAXOS_ROLE_CANDIDATE:
        return "candidate";
    case PAXOS_ROLE_LEADER:
        return "master";
    }
    return "?";
}

const char *paxos_msg_type_name(uint8_t type) {
    static const char *const names[] = {"?",      "PREPARE",  "PROMISE",    "APPEND",
                                        "APPEND_RESP", "SNAPSHOT", "TIMEOUT_NOW"};
    return type < PMQ_ARRAY_LEN(names) ? names[type] : "?";
}

const char *paxos_entry_type_name(uint8_t type) {
    static const char *const names[] = {"?",           "NOOP",         "GENESIS",
                                        "CONFIG_JOINT", "CONFIG_FINAL", "ADD_LEARNER",
                                        "REMOVE_LEARNER", "CMD"};
    return type < PMQ_ARRAY_LEN(names) ? names[type] : "?";
}
