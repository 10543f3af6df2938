/* paxmq-sim world: the event queue, virtual clocks with drift, the seeded network, the
 * two-layer disk, and the per-node driver that executes each core's batches under the
 * ordering contract on paxos_batch_t (persist -> send -> apply -> advance).
 *
 * Messages always travel encoded (paxos_msg_encode/decode), so the wire codec is
 * exercised by every run. Persistence is asynchronous like production: a batch's write
 * becomes durable only when its fsync event fires, and a crash keeps a random prefix
 * of the pending writes and loses the rest. */
#include <stdarg.h>
#include <stdlib.h>

#include "sim_int.h"

#include "paxmq/assert.h"

const char *sim_git_hash = PAXMQ_GIT_HASH;

void sim_opts_defaults(sim_opts_t *o) {
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->nodes = 3;
    o->max_nodes = 5;
    o->steps = 5000;
    o->drift_ppm_max = 1000;
    o->clients = 4;
    o->think_min_us = 20000;
    o->think_max_us = 200000;
    o->sm = &sim_kv_ops;
}

/* ---- small utilities ---- */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    PMQ_ASSERT(p != NULL);
    return p;
}

static char *xdup(const void *p, size_t n) {
    char *c = xmalloc(n);
    if (n > 0) {
        memcpy(c, p, n);
    }
    return c;
}

uint64_t sim__value_hash(uint8_t type, pmq_slice_t data) {
    uint64_t h = 1469598103934665603ull ^ type;
    for (size_t i = 0; i < data.len; i++) {
        h = (h ^ (unsigned char)data.ptr[i]) * 1099511628211ull;
    }
    return (h ^ (data.len << 8) ^ type) | 1; /* never 0: 0 means unknown */
}

sim_node_t *sim__node(sim_world_t *w, uint32_t id) {
    PMQ_ASSERT(id >= 1 && id <= SIM_NODES_MAX);
    return &w->nodes[id];
}

/* ---- trace ---- */

void sim_trace(sim_world_t *w, const char *fmt, ...) {
    char line[SIM_TRACE_LINE];
    int off = snprintf(line, sizeof(line), "%4llu.%03llus ", (unsigned long long)(w->now / 1000000),
                       (unsigned long long)(w->now / 1000 % 1000));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
    va_end(ap);
    memcpy(w->ring[w->ring_head], line, sizeof(line));
    w->ring_head = (w->ring_head + 1) % SIM_TRACE_RING;
    w->ring_n = PMQ_MIN(w->ring_n + 1, (size_t)SIM_TRACE_RING);
    if (w->capture != NULL && fmt[0] != ' ') { /* message-level lines only with --trace */
        (void)!pmq_buf_append_cstr(w->capture, line);
        (void)!pmq_buf_append(w->capture, "\n", 1);
    }
    if (w->o.trace) {
        fprintf(stdout, "%s\n", line);
    }
}

void sim_trace_dump(const sim_world_t *w, FILE *out, size_t last) {
    size_t n = PMQ_MIN(last, w->ring_n);
    size_t start = (w->ring_head + SIM_TRACE_RING - n) % SIM_TRACE_RING;
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "  %s\n", w->ring[(start + i) % SIM_TRACE_RING]);
    }
}

void sim_trace_capture(sim_world_t *w, pmq_buf_t *buf) { w->capture = buf; }

void sim_fail(sim_world_t *w, const char *fmt, ...) {
    if (w->failed) {
        return;
    }
    w->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->failure, sizeof(w->failure), fmt, ap);
    va_end(ap);
    sim_trace(w, "VIOLATION %s", w->failure);
}

bool sim_failed(const sim_world_t *w) { return w->failed; }
const char *sim_failure(const sim_world_t *w) { return w->failure; }
uint64_t sim_now_us(const sim_world_t *w) { return w->now; }
void sim_get_counters(const sim_world_t *w, sim_counters_t *c) { *c = w->ctr; }

/* ---- event heap, ordered by (time, insertion sequence): deterministic ---- */

static bool ev_less(const sim_ev_t *a, const sim_ev_t *b) {
    return a->t != b->t ? a->t < b->t : a->seq < b->seq;
}

void sim__push_ev(sim_world_t *w, sim_ev_t ev) {
    if (w->n_heap == w->cap_heap) {
        w->cap_heap = w->cap_heap ? w->cap_heap * 2 : 1024;
        w->heap = realloc(w->heap, w->cap_heap * sizeof(sim_ev_t));
        PMQ_ASSERT(w->heap != NULL);
    }
    ev.seq = ++w->ev_seq;
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_less(&ev, &w->heap[parent])) {
            break;
        }
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = ev;
}

static sim_ev_t pop_ev(sim_world_t *w) {
    sim_ev_t top = w->heap[0];
    sim_ev_t last = w->heap[--w->n_heap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        size_t r = l + 1;
        size_t m = i;
        const sim_ev_t *best = &last;
        if (l < w->n_heap && ev_less(&w->heap[l], best)) {
            m = l;
            best = &w->heap[l];
        }
        if (r < w->n_heap && ev_less(&w->heap[r], best)) {
            m = r;
        }
        if (m == i) {
            break;
        }
        w->heap[i] = w->heap[m];
        i = m;
    }
    if (w->n_heap > 0) {
        w->heap[i] = last;
    }
    return top;
}

/* ---- clocks: node local time = real time * (1 + drift) ---- */

static uint64_t local_now(const sim_world_t *w, const sim_node_t *n) {
    unsigned __int128 d = (unsigned __int128)(w->now - n->clock_real) *
                          (uint64_t)(1000000 + n->drift_ppm);
    return n->clock_local + (uint64_t)(d / 1000000u);
}

static void schedule_tick(sim_world_t *w, sim_node_t *n) {
    uint64_t local = (n->tick_k + 1) * (uint64_t)SIM_TICK_US;
    PMQ_ASSERT(local > n->clock_local);
    unsigned __int128 num = (unsigned __int128)(local - n->clock_local) * 1000000u;
    uint64_t rate = (uint64_t)(1000000 + n->drift_ppm);
    uint64_t t = n->clock_real + (uint64_t)((num + rate - 1) / rate);
    if (t <= w->now) {
        t = w->now + 1;
    }
    sim__push_ev(w, (sim_ev_t){.t = t, .kind = EV_TICK, .node = n->id, .life = n->life});
}

/* Runs every tick whose local time has come (one, normally; several after a pause): the
 * driver's contract (paxos.h) is to catch up missed ticks before it steps a message.
 * With unsafe_tick_per_callback it behaves like a bare repeating libuv timer instead:
 * one tick, and the missed ones are lost. */
static void catch_up_ticks(sim_world_t *w, sim_node_t *n) {
    uint64_t due = local_now(w, n) / SIM_TICK_US;
    if (due <= n->tick_k) {
        return;
    }
    uint64_t count = w->o.unsafe_tick_per_callback ? 1 : due - n->tick_k;
    n->tick_k = due;
    if (n->up) {
        for (uint64_t i = 0; i < count; i++) {
            paxos_tick(n->p);
        }
        sim__pump(w, n);
    }
}

/* The hardware clock keeps running while the node is down: resume at its tick. */
static void clock_resync(sim_world_t *w, sim_node_t *n) {
    uint64_t local = local_now(w, n);
    n->clock_local = local;
    n->clock_real = w->now;
    n->tick_k = PMQ_MAX(n->tick_k, local / SIM_TICK_US);
}

/* ---- disk ---- */

static void write_free(sim_write_t *wr) {
    for (size_t i = 0; i < wr->n; i++) {
        free((void *)wr->ents[i].data.ptr);
    }
    free(wr->ents);
    free(wr->snap_data);
    memset(wr, 0, sizeof(*wr));
}

static void disk_log_drop_to(sim_disk_t *d, uint64_t index) {
    while (d->n > 0 && d->first <= index) {
        free((void *)d->log[0].data.ptr);
        memmove(d->log, d->log + 1, (d->n - 1) * sizeof(paxos_entry_t));
        d->n--;
        d->first++;
    }
    if (d->n == 0 && d->first <= index) {
        d->first = index + 1;
    }
}

static void disk_clear(sim_disk_t *d) {
    for (size_t i = 0; i < d->n_pend; i++) {
        write_free(&d->pend[i]);
    }
    for (size_t i = 0; i < d->n; i++) {
        free((void *)d->log[i].data.ptr);
    }
    free(d->log);
    free(d->pend);
    free(d->snap_data);
    memset(d, 0, sizeof(*d));
    d->first = 1;
}

/* Makes one write durable: it is applied to the durable layer in order. */
static void disk_make_durable(sim_world_t *w, sim_node_t *n, sim_write_t *wr) {
    sim_disk_t *d = &n->disk;
    sim__on_hard(w, n, &wr->hard);
    d->has_hard = true;
    d->hard = wr->hard;
    if (wr->has_snap) {
        free(d->snap_data);
        d->snap_data = wr->snap_data;
        d->snap_len = wr->snap_len;
        wr->snap_data = NULL;
        d->has_snap = true;
        d->snap = wr->snap;
        disk_log_drop_to(d, wr->snap.index);
    }
    for (size_t i = 0; i < wr->n; i++) {
        paxos_entry_t *e = &wr->ents[i];
        if (e->index < d->first) {
            continue; /* covered by a snapshot written since */
        }
        if (e->index > d->first + d->n) {
            sim_fail(w, "n%u store write at %llu leaves a hole after %llu", n->id,
                     (unsigned long long)e->index, (unsigned long long)(d->first + d->n - 1));
            continue;
        }
        if (e->index < d->first + d->n) {
            free((void *)d->log[e->index - d->first].data.ptr);
        } else {
            if (d->n == d->cap) {
                d->cap = d->cap ? d->cap * 2 : 64;
                d->log = realloc(d->log, d->cap * sizeof(paxos_entry_t));
                PMQ_ASSERT(d->log != NULL);
            }
            d->n++;
        }
        d->log[e->index - d->first] = *e;
        e->data = pmq_slice(NULL, 0);
    }
    write_free(wr);
}

bool sim__durable_has(const sim_node_t *n, uint64_t index, uint64_t hash) {
    const sim_disk_t *d = &n->disk;
    if (d->has_snap && index <= d->snap.index) {
        return true;
    }
    if (index < d->first || index >= d->first + d->n) {
        return false;
    }
    const paxos_entry_t *e = &d->log[index - d->first];
    return hash == 0 || sim__value_hash(e->type, e->data) == hash;
}

static void schedule_fsync(sim_world_t *w, sim_node_t *n) {
    if (n->fsync_pending || n->disk.n_pend == 0) {
        return;
    }
    uint64_t lat = n->fsync_us != 0 ? n->fsync_us
                                     : pmq_rng_range(&w->rng, w->fsync_min_us, w->fsync_max_us);
    if (n->fsync_us == 0 && w->slow_fsync_ppm && pmq_rng_chance(&w->rng, w->slow_fsync_ppm, 1000000)) {
        lat += pmq_rng_range(&w->rng, 20000, 400000); /* gray failure: a slow disk */
    }
    n->fsync_pending = true;
    sim_ev_t ev = {.t = w->now + lat, .kind = EV_FSYNC, .node = n->id, .life = n->life};
    sim__push_ev(w, ev);
}

static void on_fsync(sim_world_t *w, sim_node_t *n) {
    n->fsync_pending = false;
    sim_disk_t *d = &n->disk;
    /* Group commit: everything queued when the sync started becomes durable. */
    size_t count = d->n_pend;
    uint64_t seq = 0;
    for (size_t i = 0; i < count; i++) {
        seq = d->pend[i].seq;
        disk_make_durable(w, n, &d->pend[i]);
    }
    memmove(d->pend, d->pend + count, (d->n_pend - count) * sizeof(sim_write_t));
    d->n_pend -= count;
    if (seq != 0) {
        paxos_persisted(n->p, seq);
    }
    sim__pump(w, n);
    schedule_fsync(w, n);
}

static void queue_write(sim_world_t *w, sim_node_t *n, const paxos_batch_t *b) {
    sim_disk_t *d = &n->disk;
    if (d->n_pend == d->cap_pend) {
        d->cap_pend = d->cap_pend ? d->cap_pend * 2 : 16;
        d->pend = realloc(d->pend, d->cap_pend * sizeof(sim_write_t));
        PMQ_ASSERT(d->pend != NULL);
    }
    sim_write_t *wr = &d->pend[d->n_pend++];
    memset(wr, 0, sizeof(*wr));
    wr->seq = b->seq;
    wr->hard = b->hard;
    if (b->snapshot != NULL) {
        wr->has_snap = true;
        wr->snap = *b->snapshot;
        wr->snap_data = xdup(b->snapshot_data.ptr, b->snapshot_data.len);
        wr->snap_len = b->snapshot_data.len;
    }
    wr->n = b->n_entries;
    wr->ents = xmalloc(sizeof(paxos_entry_t) * (b->n_entries ? b->n_entries : 1));
    for (size_t i = 0; i < b->n_entries; i++) {
        wr->ents[i] = b->entries[i];
        wr->ents[i].data = pmq_slice(xdup(b->entries[i].data.ptr, b->entries[i].data.len),
                                     b->entries[i].data.len);
        sim__on_written(w, n, &b->entries[i]);
    }
    schedule_fsync(w, n);
}

/* ---- network ---- */

static void net_send(sim_world_t *w, uint32_t from, const paxos_msg_t *m) {
    uint32_t to = m->to.id;
    w->ctr.msgs_sent++;
    if (to < 1 || to > SIM_NODES_MAX || !w->nodes[to].exists || w->blocked[from][to]) {
        w->ctr.msgs_dropped++;
        return;
    }
    if (w->drop_next[from][to] > 0) {
        w->drop_next[from][to]--;
        w->ctr.msgs_dropped++;
        return;
    }
    if (w->drop_ppm && pmq_rng_chance(&w->rng, w->drop_ppm, 1000000)) {
        w->ctr.msgs_dropped++;
        return;
    }
    pmq_buf_t b;
    pmq_buf_init(&b, 0);
    if (paxos_msg_encode(m, &b) != 0) {
        sim_fail(w, "n%u could not encode a %s", from, paxos_msg_type_name(m->type));
        pmq_buf_close(&b);
        return;
    }
    if (!w->o.scripted && pmq_rng_chance(&w->rng, 1, 64)) {
        size_t slot = (size_t)pmq_rng_below(&w->rng, PMQ_ARRAY_LEN(w->old_msgs));
        free(w->old_msgs[slot].bytes);
        w->old_msgs[slot].from = from;
        w->old_msgs[slot].to = to;
        w->old_msgs[slot].bytes = xdup(b.data, b.len);
        w->old_msgs[slot].len = b.len;
    }
    int copies = w->dup_ppm && pmq_rng_chance(&w->rng, w->dup_ppm, 1000000) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        uint64_t delay = pmq_rng_range(&w->rng, w->delay_min_us, w->delay_max_us);
        if (w->long_delay_ppm && pmq_rng_chance(&w->rng, w->long_delay_ppm, 1000000)) {
            delay += pmq_rng_range(&w->rng, 10000, 300000); /* reordering */
        }
        sim_ev_t ev = {.t = w->now + delay, .kind = EV_MSG, .node = to, .from = from};
        ev.bytes = xdup(b.data, b.len);
        ev.len = b.len;
        sim__push_ev(w, ev);
    }
    if (w->o.trace) {
        sim_trace(w, "  n%u -> n%u %s b=(%llu,%u) n=%u", from, to, paxos_msg_type_name(m->type),
                  (unsigned long long)m->ballot.round, m->ballot.rank, m->n_entries);
    }
    pmq_buf_close(&b);
}

static void on_msg(sim_world_t *w, sim_ev_t *ev) {
    sim_node_t *n = sim__node(w, ev->node);
    if (!n->exists || !n->up || w->blocked[ev->from][ev->node]) {
        w->ctr.msgs_dropped++;
        return;
    }
    paxos_msg_dec_t *d = xmalloc(sizeof(*d));
    int rc = paxos_msg_decode(pmq_slice(ev->bytes, ev->len), d);
    if (rc != 0) {
        sim_fail(w, "n%u could not decode a message from n%u: %s", n->id, ev->from,
                 pmq_errname(rc));
    } else {
        rc = paxos_step(n->p, &d->msg);
        if (rc != 0) {
            sim_fail(w, "n%u rejected a %s from a correct peer n%u: %s", n->id,
                     paxos_msg_type_name(d->msg.type), ev->from, pmq_errname(rc));
        }
        sim__pump(w, n);
    }
    free(d);
}

/* ---- the driver loop of one node ---- */

static void take_snapshot(sim_world_t *w, sim_node_t *n, bool force) {
    paxos_status_t st;
    paxos_status(n->p, &st);
    if ((!force && st.applied < st.first_index + w->compact_every) ||
        st.applied > st.durable_index || st.applied < st.first_index) {
        return;
    }
    paxos_snap_meta_t meta;
    if (paxos_snapshot_meta(n->p, st.applied, &meta) != 0) {
        return;
    }
    PMQ_ASSERT(n->sm_index == st.applied);
    pmq_buf_t img;
    pmq_buf_init(&img, 0);
    PMQ_ASSERT(w->o.sm->snapshot(n->sm, &img) == 0);
    /* The image and its meta are durable before the log is cut (CLUSTER §2.9). */
    sim_disk_t *d = &n->disk;
    free(d->snap_data);
    d->snap_data = xdup(img.data, img.len);
    d->snap_len = img.len;
    d->has_snap = true;
    d->snap = meta;
    disk_log_drop_to(d, meta.index);
    free(n->cur_snap);
    n->cur_snap = xdup(img.data, img.len);
    n->cur_snap_len = img.len;
    n->cur_snap_index = meta.index;
    pmq_buf_close(&img);
    PMQ_ASSERT(paxos_compact(n->p, meta.index) == 0);
}

static void send_batch_msgs(sim_world_t *w, sim_node_t *n, const paxos_batch_t *b) {
    for (size_t i = 0; i < b->n_msgs; i++) {
        paxos_msg_t m = b->msgs[i];
        if (m.type == PAXOS_MSG_SNAPSHOT) {
            if (m.snap->index != n->cur_snap_index) {
                sim_fail(w, "n%u asked to send snapshot %llu but holds %llu", n->id,
                         (unsigned long long)m.snap->index,
                         (unsigned long long)n->cur_snap_index);
                continue;
            }
            m.data = pmq_slice(n->cur_snap, n->cur_snap_len);
            w->ctr.snapshots_sent++;
        }
        sim__on_send(w, n, &m);
        net_send(w, n->id, &m);
    }
}

static void install_snapshot(sim_world_t *w, sim_node_t *n, const paxos_batch_t *b) {
    if (w->o.sm->restore(n->sm, b->snapshot_data) != 0) {
        sim_fail(w, "n%u could not restore snapshot %llu", n->id,
                 (unsigned long long)b->snapshot->index);
        return;
    }
    n->sm_index = b->snapshot->index;
    free(n->cur_snap);
    n->cur_snap = xdup(b->snapshot_data.ptr, b->snapshot_data.len);
    n->cur_snap_len = b->snapshot_data.len;
    n->cur_snap_index = b->snapshot->index;
    sim_trace(w, "n%u installs a snapshot at %llu", n->id, (unsigned long long)b->snapshot->index);
    sim__on_snapshot_installed(w, n, b->snapshot->index);
}

static void note_role(sim_world_t *w, sim_node_t *n, const paxos_batch_t *b) {
    if (!b->role_changed) {
        return;
    }
    if (b->role != n->role || b->role == PAXOS_ROLE_LEADER) {
        if (b->role == PAXOS_ROLE_LEADER && n->role != PAXOS_ROLE_LEADER) {
            sim_trace(w, "n%u becomes master ballot=(%llu,%u)", n->id,
                      (unsigned long long)b->ballot.round, b->ballot.rank);
            w->ctr.elections++;
            sim__on_leader(w, n);
        } else if (n->role == PAXOS_ROLE_LEADER && b->role != PAXOS_ROLE_LEADER) {
            sim_trace(w, "n%u steps down", n->id);
        } else if (w->o.trace) {
            sim_trace(w, "n%u %s", n->id, paxos_role_name(b->role));
        }
    }
    n->role = b->role;
}

void sim__pump(sim_world_t *w, sim_node_t *n) {
    paxos_batch_t b;
    while (n->up && paxos_ready(n->p, &b)) {
        /* 1. persist (queued; durable at the fsync event) */
        if (b.seq != 0) {
            queue_write(w, n, &b);
        }
        if (b.snapshot != NULL) {
            install_snapshot(w, n, &b);
        }
        /* 2. send */
        send_batch_msgs(w, n, &b);
        /* 3. apply */
        for (size_t i = 0; i < b.n_committed; i++) {
            const paxos_entry_t *e = &b.committed[i];
            if (e->index != n->sm_index + 1) {
                sim_fail(w, "n%u applies %llu after %llu", n->id, (unsigned long long)e->index,
                         (unsigned long long)n->sm_index);
            }
            if (e->type == PAXOS_ENTRY_CMD) {
                w->o.sm->apply(n->sm, e->index, e->data);
            }
            n->sm_index = e->index;
            sim__on_applied(w, n, e);
            sim__client_applied(w, n, e);
        }
        /* 4. role and lease */
        note_role(w, n, &b);
        paxos_advance(n->p, &b);
        for (; w->acks_checked < w->n_acks; w->acks_checked++) {
            sim__on_ack(w, n, &w->acks[w->acks_checked]);
        }
    }
    if (n->up) {
        take_snapshot(w, n, false);
    }
}

/* ---- node lifecycle ---- */

static void node_boot(sim_world_t *w, sim_node_t *n, bool restore) {
    paxos_cfg_t cfg;
    paxos_cfg_defaults(&cfg);
    cfg.self = n->me;
    cfg.unsafe_single_server_changes = w->o.unsafe_single_server_changes;
    cfg.unsafe_count_fresh_incarnations = w->o.unsafe_count_fresh_incarnations;
    cfg.unsafe_config_above_uncommitted = w->o.unsafe_config_above_uncommitted;
    cfg.log_entries_max = 20000;
    cfg.snapshot_bytes_max = 1024 * 1024;
    pmq_rng_seed(&n->rng, w->o.seed * 1000003u + n->id * 7919u + n->gen * 104729u + n->life);
    paxos_restore_t r = {0};
    sim_disk_t *d = &n->disk;
    if (restore && (d->has_hard || d->n > 0 || d->has_snap)) {
        r.hard = d->hard;
        r.has_snapshot = d->has_snap;
        r.snap = d->snap;
        r.entries = d->log;
        r.n_entries = d->n;
        r.applied = d->has_snap ? d->snap.index : 0;
    }
    int rc = paxos_new(&cfg, restore ? &r : NULL, &n->rng, &n->p);
    PMQ_ASSERT(rc == 0);
    n->sm = w->o.sm->create();
    n->sm_index = 0;
    free(n->cur_snap);
    n->cur_snap = NULL;
    n->cur_snap_len = 0;
    n->cur_snap_index = 0;
    if (restore && d->has_snap) {
        PMQ_ASSERT(w->o.sm->restore(n->sm, pmq_slice(d->snap_data, d->snap_len)) == 0);
        n->sm_index = d->snap.index;
        n->cur_snap = xdup(d->snap_data, d->snap_len);
        n->cur_snap_len = d->snap_len;
        n->cur_snap_index = d->snap.index;
        sim__on_snapshot_installed(w, n, d->snap.index);
    }
    n->up = true;
    n->role = PAXOS_ROLE_FOLLOWER;
    n->fsync_pending = false;
    n->last_commit = 0; /* a restart may resume from a lower persisted commit */
    clock_resync(w, n);
    schedule_tick(w, n);
}

static void node_stop(sim_world_t *w, sim_node_t *n) {
    (void)w;
    paxos_free(n->p);
    n->p = NULL;
    w->o.sm->destroy(n->sm);
    n->sm = NULL;
    n->up = false;
    n->life++;
    n->role = PAXOS_ROLE_FOLLOWER;
    n->paused_until = 0; /* a stopped process that is killed is simply down */
}

static paxos_member_t member_for(const sim_world_t *w, uint32_t id, uint32_t gen) {
    return (paxos_member_t){id, {w->o.seed ^ (0x1000u * id), gen}};
}

int sim_add_node(sim_world_t *w) {
    uint32_t id = 0;
    for (uint32_t i = 1; i <= w->o.max_nodes && id == 0; i++) {
        if (!w->nodes[i].exists) {
            id = i;
        }
    }
    if (id == 0) {
        return 0;
    }
    sim_node_t *n = &w->nodes[id];
    uint32_t gen = n->gen + 1;
    uint32_t life = n->life + 1;
    uint64_t tick_k = n->tick_k;
    memset(n, 0, sizeof(*n));
    n->id = id;
    n->exists = true;
    n->gen = gen;
    n->life = life;
    n->tick_k = tick_k;
    n->me = member_for(w, id, gen);
    n->disk.first = 1;
    /* A third of the nodes run at -max, a third at +max, the rest anywhere between: the
     * pair that stresses a lease (a slow master, a fast acceptor) is common. */
    switch (w->o.drift_ppm_max == 0 ? 3 : pmq_rng_below(&w->rng, 3)) {
    case 0:
        n->drift_ppm = -w->o.drift_ppm_max;
        break;
    case 1:
        n->drift_ppm = w->o.drift_ppm_max;
        break;
    case 2:
        n->drift_ppm = (int64_t)pmq_rng_range(&w->rng, 0, (uint64_t)(2 * w->o.drift_ppm_max)) -
                       w->o.drift_ppm_max;
        break;
    default:
        n->drift_ppm = 0;
    }
    if (w->o.scripted) {
        n->drift_ppm = 0;
    }
    w->n_ids = PMQ_MAX(w->n_ids, id);
    node_boot(w, n, false);
    sim_trace(w, "n%u starts fresh (incarnation %u)", id, gen);
    return (int)id;
}

void sim_crash(sim_world_t *w, uint32_t id) {
    sim_node_t *n = sim__node(w, id);
    if (!n->exists || !n->up) {
        return;
    }
    /* Writes the store had queued may or may not have reached the platter: keep a
     * random prefix, lose the rest. */
    size_t keep = w->o.scripted ? 0 : (size_t)pmq_rng_below(&w->rng, n->disk.n_pend + 1);
    for (size_t i = 0; i < n->disk.n_pend; i++) {
        if (i < keep) {
            disk_make_durable(w, n, &n->disk.pend[i]);
        } else {
            write_free(&n->disk.pend[i]);
        }
    }
    n->disk.n_pend = 0;
    node_stop(w, n);
    w->ctr.crashes++;
    w->last_fault_us = w->now;
    sim_trace(w, "n%u crashes (kept %zu unsynced writes)", id, keep);
}

void sim_restart(sim_world_t *w, uint32_t id) {
    sim_node_t *n = sim__node(w, id);
    if (!n->exists || n->up) {
        return;
    }
    node_boot(w, n, true);
    sim_trace(w, "n%u restarts", id);
}

void sim_restart_empty(sim_world_t *w, uint32_t id) {
    sim_node_t *n = sim__node(w, id);
    if (!n->exists) {
        return;
    }
    if (n->up) {
        node_stop(w, n);
    }
    if (w->has_ghost[id]) {
        disk_clear(&w->ghost[id].disk);
    }
    w->has_ghost[id] = true;
    w->ghost[id].disk = n->disk; /* the checker may still count what it held */
    w->ghost[id].me = n->me;
    memset(&n->disk, 0, sizeof(n->disk));
    disk_clear(&n->disk);
    n->gen++;
    n->me = member_for(w, id, n->gen);
    n->max_promised = (paxos_ballot_t){0, 0};
    n->last_commit = 0;
    node_boot(w, n, false);
    w->ctr.wipes++;
    w->last_fault_us = w->now;
    sim_trace(w, "n%u restarts with an empty disk (incarnation %u)", id, n->gen);
}

void sim_remove_node(sim_world_t *w, uint32_t id) {
    sim_node_t *n = sim__node(w, id);
    if (!n->exists) {
        return;
    }
    if (n->up) {
        node_stop(w, n);
    }
    disk_clear(&n->disk);
    free(n->cur_snap);
    n->cur_snap = NULL;
    n->exists = false;
    sim_trace(w, "n%u is removed for good", id);
}

/* Up and running: a paused process is up but neither serves nor answers. */
bool sim_node_up(const sim_world_t *w, uint32_t id) {
    return id >= 1 && id <= SIM_NODES_MAX && w->nodes[id].exists && w->nodes[id].up &&
           w->nodes[id].paused_until <= w->now;
}
bool sim_node_exists(const sim_world_t *w, uint32_t id) {
    return id >= 1 && id <= SIM_NODES_MAX && w->nodes[id].exists;
}
paxos_t *sim_core(sim_world_t *w, uint32_t id) {
    return sim_node_up(w, id) ? w->nodes[id].p : NULL;
}
paxos_member_t sim_member(const sim_world_t *w, uint32_t id) { return w->nodes[id].me; }
uint32_t sim_node_count(const sim_world_t *w) { return w->n_ids; }

int sim_bootstrap(sim_world_t *w, uint32_t seed_id, const uint32_t *ids, uint32_t n_ids) {
    paxos_config_t c = {0};
    for (uint32_t i = 0; i < n_ids; i++) {
        c.voters[c.n_voters++] = w->nodes[ids[i]].me;
    }
    w->genesis_count++;
    w->genesis_seed = seed_id;
    sim_trace(w, "n%u proposes genesis with %u voters", seed_id, n_ids);
    int rc = paxos_bootstrap(w->nodes[seed_id].p, w->cluster_id, &c);
    sim__pump(w, &w->nodes[seed_id]);
    return rc;
}

/* ---- network control ---- */

void sim_block(sim_world_t *w, uint32_t from, uint32_t to, bool blocked) {
    w->blocked[from][to] = blocked;
    w->partitioned = w->partitioned || blocked;
}

void sim_isolate(sim_world_t *w, uint32_t id, bool isolated) {
    for (uint32_t k = 1; k <= SIM_NODES_MAX; k++) {
        if (k != id) {
            sim_block(w, id, k, isolated);
            sim_block(w, k, id, isolated);
        }
    }
}

void sim_heal(sim_world_t *w) {
    memset(w->blocked, 0, sizeof(w->blocked));
    w->partitioned = false;
}

void sim_drop_next(sim_world_t *w, uint32_t from, uint32_t to, uint32_t count) {
    w->drop_next[from][to] = count;
}

void sim_set_fsync(sim_world_t *w, uint32_t id, uint32_t us) { sim__node(w, id)->fsync_us = us; }

void sim_compact(sim_world_t *w, uint32_t id) {
    if (sim_node_up(w, id)) {
        take_snapshot(w, sim__node(w, id), true);
        sim_trace(w, "n%u compacts its log up to its applied index", id);
    }
}

void sim_pause(sim_world_t *w, uint32_t id, uint64_t us) {
    sim_node_t *n = sim__node(w, id);
    if (!n->exists || !n->up) {
        return;
    }
    n->paused_until = PMQ_MAX(n->paused_until, w->now + us);
    w->ctr.pauses++;
    w->last_fault_us = w->now;
    sim_trace(w, "n%u pauses for %llu ms", id, (unsigned long long)(us / 1000));
}

void sim_replay_old(sim_world_t *w) {
    size_t slot = (size_t)pmq_rng_below(&w->rng, PMQ_ARRAY_LEN(w->old_msgs));
    if (w->old_msgs[slot].bytes == NULL) {
        return;
    }
    sim_ev_t ev = {.t = w->now + 1, .kind = EV_MSG, .node = w->old_msgs[slot].to,
                   .from = w->old_msgs[slot].from};
    ev.bytes = xdup(w->old_msgs[slot].bytes, w->old_msgs[slot].len);
    ev.len = w->old_msgs[slot].len;
    sim__push_ev(w, ev);
    w->ctr.replays++;
}

void sim_set_drift(sim_world_t *w, uint32_t id, int64_t ppm) {
    sim_node_t *n = sim__node(w, id);
    n->clock_local = local_now(w, n); /* rebase: the rate changes from now on */
    n->clock_real = w->now;
    n->drift_ppm = ppm;
}

uint32_t sim_leased_leader(sim_world_t *w) {
    for (uint32_t i = 1; i <= w->n_ids; i++) {
        if (sim_node_up(w, i) && paxos_lease_valid(w->nodes[i].p)) {
            return i;
        }
    }
    return 0;
}

uint32_t sim_leader(sim_world_t *w) {
    uint32_t leased = sim_leased_leader(w);
    paxos_status_t st;
    if (leased != 0) {
        paxos_status(w->nodes[leased].p, &st);
        if (st.serving) {
            return leased;
        }
    }
    uint32_t best = 0;
    paxos_ballot_t bb = {0, 0};
    for (uint32_t i = 1; i <= w->n_ids; i++) {
        if (!sim_node_up(w, i)) {
            continue;
        }
        paxos_status(w->nodes[i].p, &st);
        if (st.serving && paxos_ballot_cmp(st.ballot, bb) > 0) {
            bb = st.ballot;
            best = i;
        }
    }
    return best;
}

int sim_propose(sim_world_t *w, uint32_t node, const char *value) {
    if (!sim_node_up(w, node)) {
        return PMQ_ENOTLEADER;
    }
    uint64_t idx = 0;
    int rc = paxos_propose(w->nodes[node].p, pmq_slice_cstr(value), &idx);
    sim__pump(w, &w->nodes[node]);
    return rc;
}

int sim_change(sim_world_t *w, uint32_t node, const paxos_change_t *chg) {
    if (!sim_node_up(w, node)) {
        return PMQ_ENOTLEADER;
    }
    int rc = paxos_propose_change(w->nodes[node].p, chg);
    if (rc == 0) {
        w->ctr.config_changes++;
    }
    sim__pump(w, &w->nodes[node]);
    return rc;
}

int sim_transfer(sim_world_t *w, uint32_t node, uint32_t target) {
    if (!sim_node_up(w, node)) {
        return PMQ_ENOTLEADER;
    }
    int rc = paxos_transfer(w->nodes[node].p, target);
    if (rc == 0) {
        w->ctr.transfers++;
        sim_trace(w, "n%u transfers leadership to n%u", node, target);
    }
    sim__pump(w, &w->nodes[node]);
    return rc;
}

/* ---- the run loop ---- */

static void dispatch(sim_world_t *w, sim_ev_t *ev) {
    sim_node_t *n = ev->kind == EV_CLIENT ? NULL : sim__node(w, ev->node);
    if (n != NULL && n->exists && n->up && n->paused_until > w->now) {
        sim_ev_t later = *ev; /* a stopped process handles nothing: keep it, in order */
        later.t = n->paused_until;
        sim__push_ev(w, later);
        return;
    }
    switch (ev->kind) {
    case EV_TICK:
        if (n->exists && n->life == ev->life) {
            catch_up_ticks(w, n);
            schedule_tick(w, n);
        }
        break;
    case EV_MSG:
        if (n->exists && n->up) {
            catch_up_ticks(w, n);
        }
        on_msg(w, ev);
        break;
    case EV_FSYNC:
        if (n->exists && n->up && n->life == ev->life) {
            catch_up_ticks(w, n);
            on_fsync(w, n);
        }
        break;
    case EV_CLIENT:
        sim__client_event(w, ev->node, ev->life);
        break;
    default:
        PMQ_UNREACHABLE();
    }
    free(ev->bytes);
}

void sim_run_for(sim_world_t *w, uint64_t us) {
    uint64_t end = w->now + us;
    while (!w->failed && w->n_heap > 0 && w->heap[0].t <= end) {
        sim_ev_t ev = pop_ev(w);
        w->now = ev.t;
        w->ctr.events++;
        dispatch(w, &ev);
        sim__check_after_event(w);
    }
    if (!w->failed) {
        w->now = end;
    }
}

/* ---- creation ---- */

sim_world_t *sim_world_new(const sim_opts_t *o) {
    sim_world_t *w = calloc(1, sizeof(*w));
    PMQ_ASSERT(w != NULL);
    w->o = *o;
    if (w->o.max_nodes < w->o.nodes) {
        w->o.max_nodes = w->o.nodes;
    }
    PMQ_ASSERT(w->o.max_nodes <= SIM_NODES_MAX);
    pmq_rng_seed(&w->rng, o->seed);
    for (int i = 0; i < 16; i++) {
        w->cluster_id[i] = (uint8_t)pmq_rng_next(&w->rng);
    }
    if (o->scripted) {
        w->delay_min_us = w->delay_max_us = 1000;
        w->fsync_min_us = w->fsync_max_us = 500;
        w->compact_every = 1000000;
    } else {
        /* Per-seed environment: some seeds are calm, some are hostile. */
        w->drop_ppm = o->no_faults ? 0 : (uint32_t)pmq_rng_range(&w->rng, 0, 50000);
        w->dup_ppm = o->no_faults ? 0 : (uint32_t)pmq_rng_range(&w->rng, 0, 20000);
        w->delay_min_us = (uint32_t)pmq_rng_range(&w->rng, 100, 1000);
        w->delay_max_us = w->delay_min_us + (uint32_t)pmq_rng_range(&w->rng, 0, 5000);
        w->long_delay_ppm = o->no_faults ? 0 : (uint32_t)pmq_rng_range(&w->rng, 0, 20000);
        w->fsync_min_us = (uint32_t)pmq_rng_range(&w->rng, 50, 500);
        w->fsync_max_us = w->fsync_min_us + (uint32_t)pmq_rng_range(&w->rng, 0, 3000);
        w->slow_fsync_ppm = o->no_faults ? 0 : (uint32_t)pmq_rng_range(&w->rng, 0, 5000);
        w->compact_every = (uint32_t)pmq_rng_range(&w->rng, 20, 400);
    }
    for (uint32_t i = 0; i < o->nodes; i++) {
        sim_add_node(w);
    }
    return w;
}

void sim_world_free(sim_world_t *w) {
    if (w == NULL) {
        return;
    }
    for (uint32_t i = 1; i <= SIM_NODES_MAX; i++) {
        sim_node_t *n = &w->nodes[i];
        if (n->up) {
            node_stop(w, n);
        }
        disk_clear(&n->disk);
        free(n->cur_snap);
    }
    for (uint32_t i = 1; i <= SIM_NODES_MAX; i++) {
        if (w->has_ghost[i]) {
            disk_clear(&w->ghost[i].disk);
        }
    }
    for (size_t i = 0; i < w->n_heap; i++) {
        free(w->heap[i].bytes);
    }
    free(w->heap);
    free(w->chosen);
    free(w->state_hash);
    free(w->acked);
    free(w->chosen_ballot);
    free(w->ibv);
    for (size_t i = 0; i < PMQ_ARRAY_LEN(w->old_msgs); i++) {
        free(w->old_msgs[i].bytes);
    }
    free(w->leaderships);
    free(w->acks);
    free(w);
}
