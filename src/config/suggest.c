/* Key lookup by name and by environment variable name, and the "did you mean" hint for
 * unknown keys (Levenshtein distance over the table; the table is small and this runs
 * only at start-up, so linear scans are fine). */
#include <stdio.h>

#include "paxmq/assert.h"
#include "cfg_int.h"

#define NAME_LEN_MAX 64

const cfg__key_t *cfg__key_find(const char *name) {
    for (size_t i = 0; i < cfg__key_count; i++) {
        if (strcmp(cfg__keys[i].name, name) == 0) {
            return &cfg__keys[i];
        }
    }
    return NULL;
}

size_t cfg__key_index(const cfg__key_t *k) {
    PMQ_ASSERT(k >= cfg__keys);
    PMQ_ASSERT(k < cfg__keys + cfg__key_count);
    return (size_t)(k - cfg__keys);
}

bool cfg__section_exists(const char *s, size_t len) {
    for (size_t i = 0; i < cfg__key_count; i++) {
        const char *dot = strchr(cfg__keys[i].name, '.');
        PMQ_ASSERT(dot != NULL);
        if ((size_t)(dot - cfg__keys[i].name) == len && memcmp(cfg__keys[i].name, s, len) == 0) {
            return true;
        }
    }
    return false;
}

void cfg__env_name(const cfg__key_t *k, char *buf, size_t len) {
    size_t o = (size_t)snprintf(buf, len, "PAXMQ_");
    for (const char *p = k->name; *p != '\0' && o + 1 < len; p++) {
        char c = *p;
        buf[o++] = c == '.' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    buf[o] = '\0';
}

static size_t distance(const char *a, const char *b) {
    size_t la = strlen(a);
    size_t lb = strlen(b);
    if (la >= NAME_LEN_MAX || lb >= NAME_LEN_MAX) {
        return SIZE_MAX;
    }
    size_t prev[NAME_LEN_MAX + 1];
    size_t cur[NAME_LEN_MAX + 1];
    for (size_t j = 0; j <= lb; j++) {
        prev[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            cur[j] = PMQ_MIN(PMQ_MIN(prev[j] + 1, cur[j - 1] + 1), sub);
        }
        memcpy(prev, cur, sizeof(prev));
    }
    return prev[lb];
}

void cfg__suggest(const char *name, bool env, char *buf, size_t len) {
    buf[0] = '\0';
    const cfg__key_t *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < cfg__key_count; i++) {
        size_t d = distance(name, cfg__keys[i].name);
        if (d < best_d) {
            best_d = d;
            best = &cfg__keys[i];
        }
    }
    /* Close enough to be a typo: two edits, or a third of the name for long ones. */
    size_t allowed = PMQ_MAX((size_t)2, strlen(name) / 3);
    if (best != NULL && best_d <= allowed) {
        char env_name[96];
        cfg__env_name(best, env_name, sizeof(env_name));
        if (env) {
            snprintf(buf, len, " (did you mean '%s', set by %s?)", best->name, env_name);
        } else {
            snprintf(buf, len, " (did you mean '%s'?)", best->name);
        }
    }
}
