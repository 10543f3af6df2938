/* Rules that span several keys, checked after every source is applied (so the final
 * values are judged, wherever each came from). Each error names both keys, their
 * values and their origins. Ordering rules are a table; the rest are small functions. */
#include <stdio.h>

#include "paxmq/assert.h"
#include "cfg_int.h"

#define DESC_MAX 512

typedef struct order_rule {
    const char *a;
    const char *b;
    uint64_t a_mult; /* compare a * a_mult with b */
    bool strict;     /* a * a_mult < b, else <= */
    const char *rel; /* "below", "at most half of", ... */
} order_rule_t;

static const order_rule_t order_rules[] = {
    /* A master must lose its lease before anyone may be elected in its place. */
    {"cluster.lease_ms", "cluster.election_timeout_ms", 1, true, "below"},
    /* At least two heartbeats fit in one election timeout, so one lost beat is no
     * election. */
    {"cluster.heartbeat_ms", "cluster.election_timeout_ms", 2, false, "at most half of"},
    {"cluster.voters_min", "cluster.voters_max", 1, false, "at most"},
    {"stomp.header_bytes_max", "stomp.frame_bytes_max", 1, false, "at most"},
    {"store.snapshot_bytes", "store.map_size", 1, true, "below"},
};

/* "cluster.lease_ms = 900ms (default)" */
static void describe(const pmq_config_t *cfg, const cfg__key_t *k, char *buf, size_t len) {
    char value[128];
    char origin[192];
    cfg__fmt_field(cfg, k, value, sizeof(value));
    cfg__fmt_origin(cfg, k, origin, sizeof(origin));
    snprintf(buf, len, "%s = %s (%s)", k->name, value, origin);
}

static int pair_fail(const pmq_config_t *cfg, const char *a, const char *rel, const char *b,
                     char *err, size_t errlen) {
    const cfg__key_t *ka = cfg__key_find(a);
    const cfg__key_t *kb = cfg__key_find(b);
    PMQ_ASSERT(ka != NULL);
    PMQ_ASSERT(kb != NULL);
    char da[DESC_MAX];
    char db[DESC_MAX];
    describe(cfg, ka, da, sizeof(da));
    describe(cfg, kb, db, sizeof(db));
    return cfg__fail(err, errlen, "%s must be %s %s", da, rel, db);
}

static int check_order(const pmq_config_t *cfg, char *err, size_t errlen) {
    for (size_t i = 0; i < PMQ_ARRAY_LEN(order_rules); i++) {
        const order_rule_t *r = &order_rules[i];
        const cfg__key_t *ka = cfg__key_find(r->a);
        const cfg__key_t *kb = cfg__key_find(r->b);
        PMQ_ASSERT(ka != NULL);
        PMQ_ASSERT(kb != NULL);
        uint64_t a = cfg__num(cfg, ka) * r->a_mult;
        uint64_t b = cfg__num(cfg, kb);
        if (r->strict ? a >= b : a > b) {
            return pair_fail(cfg, r->a, r->rel, r->b, err, errlen);
        }
    }
    return 0;
}

static bool same_socket(const pmq_listen_t *x, const pmq_listen_t *y) {
    if (!x->enabled || !y->enabled || x->port == 0 || x->port != y->port) {
        return false;
    }
    bool x_any = strcmp(x->host, "0.0.0.0") == 0 || strcmp(x->host, "::") == 0;
    bool y_any = strcmp(y->host, "0.0.0.0") == 0 || strcmp(y->host, "::") == 0;
    return x_any || y_any || strcmp(x->host, y->host) == 0;
}

static int check_listeners(const pmq_config_t *cfg, char *err, size_t errlen) {
    static const char *const names[] = {"stomp.listen", "mqtt.listen", "http.listen",
                                        "cluster.listen"};
    const pmq_listen_t *l[] = {&cfg->stomp.listen, &cfg->mqtt.listen, &cfg->http.listen,
                               &cfg->cluster.listen};
    PMQ_STATIC_ASSERT(PMQ_ARRAY_LEN(names) == 4, "listener count");
    for (size_t i = 0; i < PMQ_ARRAY_LEN(names); i++) {
        for (size_t j = i + 1; j < PMQ_ARRAY_LEN(names); j++) {
            if (same_socket(l[i], l[j])) {
                return pair_fail(cfg, names[j], "on a different port than", names[i], err,
                                 errlen);
            }
        }
    }
    return 0;
}

static int check_peers(const pmq_config_t *cfg, char *err, size_t errlen) {
    if (cfg->cluster.discovery != NULL && cfg->cluster.peers.count > 0) {
        return pair_fail(cfg, "cluster.peers", "empty when using", "cluster.discovery", err,
                         errlen);
    }
    const pmq_strlist_t *peers = &cfg->cluster.peers;
    for (size_t i = 0; i < peers->count; i++) {
        pmq_peer_t a;
        int rc = cfg_peer_parse(peers->items[i], &a);
        PMQ_ASSERT(rc == 0); /* every item passed cfg__check_peer */
        for (size_t j = 0; j < i; j++) {
            pmq_peer_t b;
            rc = cfg_peer_parse(peers->items[j], &b);
            PMQ_ASSERT(rc == 0);
            if (strcmp(a.name, b.name) == 0) {
                char origin[192];
                cfg__fmt_origin(cfg, cfg__key_find("cluster.peers"), origin, sizeof(origin));
                return cfg__fail(err, errlen, "%s: cluster.peers names '%s' twice", origin,
                                 a.name);
            }
        }
    }
    return 0;
}

int cfg__cross_check(const pmq_config_t *cfg, char *err, size_t errlen) {
    int rc = check_order(cfg, err, errlen);
    if (rc == 0) {
        rc = check_listeners(cfg, err, errlen);
    }
    if (rc == 0 && (cfg->http.admin_user == NULL) != (cfg->http.admin_password == NULL)) {
        rc = cfg->http.admin_user == NULL
                 ? pair_fail(cfg, "http.admin_user", "set together with", "http.admin_password",
                             err, errlen)
                 : pair_fail(cfg, "http.admin_password", "set together with",
                             "http.admin_user", err, errlen);
    }
    if (rc == 0) {
        rc = check_peers(cfg, err, errlen);
    }
    return rc;
}
