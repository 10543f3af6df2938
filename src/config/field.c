/* The one place that reads and writes pmq_config_t fields through a key's offset.
 *
 * cfg__store owns the replace-and-free rule for strings and lists, so a key set by
 * default, file, env and flag in turn holds exactly one allocation at the end. */
#include <stdio.h>

#include "paxmq/assert.h"
#include "cfg_int.h"

static void *field(pmq_config_t *cfg, const cfg__key_t *k) { return (char *)cfg + k->offset; }

static const void *cfield(const pmq_config_t *cfg, const cfg__key_t *k) {
    return (const char *)cfg + k->offset;
}

static void list_free(pmq_strlist_t *l) {
    for (size_t i = 0; i < l->count; i++) {
        pmq_free(l->items[i]);
    }
    pmq_free(l->items);
    l->items = NULL;
    l->count = 0;
}

void cfg__store(pmq_config_t *cfg, const cfg__key_t *k, cfg__value_t *v,
                const cfg__src_t *src) {
    void *f = field(cfg, k);
    switch (k->type) {
    case CFG__BOOL:
        *(bool *)f = v->b;
        break;
    case CFG__INT:
    case CFG__DURATION:
        PMQ_ASSERT(v->u <= UINT32_MAX);
        *(uint32_t *)f = (uint32_t)v->u;
        break;
    case CFG__SIZE:
        *(uint64_t *)f = v->u;
        break;
    case CFG__ENUM: {
        int e = (int)v->u;
        memcpy(f, &e, sizeof(e));
        break;
    }
    case CFG__STRING:
        pmq_free(*(char **)f);
        *(char **)f = v->s;
        v->s = NULL;
        break;
    case CFG__LISTEN:
        *(pmq_listen_t *)f = v->listen;
        break;
    case CFG__LIST:
        list_free(f);
        *(pmq_strlist_t *)f = v->list;
        v->list = (pmq_strlist_t){0, NULL};
        break;
    }
    pmq_cfg_origin_t *o = &cfg->origin[cfg__key_index(k)];
    o->kind = (uint8_t)src->kind;
    o->line = src->kind == CFG__FROM_FILE ? src->line : 0;
}

uint64_t cfg__num(const pmq_config_t *cfg, const cfg__key_t *k) {
    const void *f = cfield(cfg, k);
    switch (k->type) {
    case CFG__INT:
    case CFG__DURATION:
        return *(const uint32_t *)f;
    case CFG__SIZE:
        return *(const uint64_t *)f;
    default:
        PMQ_UNREACHABLE();
    }
}

void cfg__fmt_listen(const pmq_listen_t *l, char *buf, size_t len) {
    if (!l->enabled) {
        snprintf(buf, len, "off");
    } else if (strchr(l->host, ':') != NULL) {
        snprintf(buf, len, "[%s]:%u", l->host, (unsigned)l->port);
    } else {
        snprintf(buf, len, "%s:%u", l->host, (unsigned)l->port);
    }
}

void cfg__fmt_field(const pmq_config_t *cfg, const cfg__key_t *k, char *buf, size_t len) {
    const void *f = cfield(cfg, k);
    switch (k->type) {
    case CFG__BOOL:
        snprintf(buf, len, "%s", *(const bool *)f ? "true" : "false");
        return;
    case CFG__INT:
        snprintf(buf, len, "%llu", (unsigned long long)cfg__num(cfg, k));
        return;
    case CFG__SIZE:
        cfg__fmt_size(cfg__num(cfg, k), buf, len);
        return;
    case CFG__DURATION:
        cfg__fmt_duration(cfg__num(cfg, k), buf, len);
        return;
    case CFG__ENUM: {
        int e;
        memcpy(&e, f, sizeof(e));
        snprintf(buf, len, "%s", k->values[e]);
        return;
    }
    case CFG__STRING: {
        const char *s = *(char *const *)f;
        if (s == NULL) {
            snprintf(buf, len, "none");
        } else {
            cfg__quote(s, k->secret, buf, len);
        }
        return;
    }
    case CFG__LISTEN:
        cfg__fmt_listen(f, buf, len);
        return;
    case CFG__LIST:
        snprintf(buf, len, "%zu items", ((const pmq_strlist_t *)f)->count);
        return;
    }
    PMQ_UNREACHABLE();
}

void cfg_free(pmq_config_t *cfg) {
    for (size_t i = 0; i < cfg__key_count; i++) {
        const cfg__key_t *k = &cfg__keys[i];
        if (k->type == CFG__STRING) {
            pmq_free(*(char **)field(cfg, k));
        } else if (k->type == CFG__LIST) {
            list_free(field(cfg, k));
        }
    }
    pmq_free(cfg->origin_file);
    memset(cfg, 0, sizeof(*cfg));
}
