/* Reads the --config file with libconfig and feeds every setting through the key table.
 *
 * The file is one group per section (stomp = { listen = "0.0.0.0:61613"; };). Scalars
 * are turned into the same text form env and flags use, so one parser per type serves
 * all sources; a list key takes a libconfig array/list of strings or one
 * comma-separated string. Everything libconfig allocated is released by
 * config_destroy before returning; nothing from it outlives this file. */
#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <stdio.h>
#include <string.h>

#include "paxmq/assert.h"
#include "cfg_int.h"

#define FULL_NAME_MAX 160
#define FILE_LIST_MAX 256
/* A configuration file larger than this is a mistake, not a configuration. */
#define FILE_BYTES_MAX (1u << 20)

static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.';
}

/* Skips a string literal or comment starting at p, counting newlines; returns p
 * unchanged when there is none. */
static const char *skip_noise(const char *p, unsigned *line) {
    if (p[0] == '"') {
        for (p++; *p != '\0' && *p != '"'; p++) {
            p += p[0] == '\\' && p[1] != '\0';
            *line += *p == '\n';
        }
        return *p ? p + 1 : p;
    }
    if (p[0] == '#' || (p[0] == '/' && p[1] == '/')) {
        return p + strcspn(p, "\n");
    }
    if (p[0] == '/' && p[1] == '*') {
        for (p += 2; *p != '\0' && !(p[0] == '*' && p[1] == '/'); p++) {
            *line += *p == '\n';
        }
        return *p ? p + 2 : p;
    }
    return p;
}

/* libconfig 1.5 silently wraps an integer literal beyond 32 bits unless it carries an
 * L suffix (8589934592 reads as 0), so a size written that way would load as a
 * different value. Reject such literals before libconfig sees them. */
static int check_int_literals(const char *text, const char *path, char *err, size_t errlen) {
    unsigned line = 1;
    const char *p = text;
    while (*p != '\0') {
        const char *q = skip_noise(p, &line);
        if (q != p) {
            p = q;
            continue;
        }
        if (!is_word(*p)) {
            line += *p == '\n';
            p++;
            continue;
        }
        const char *start = p;
        while (is_word(*p)) {
            p++;
        }
        size_t n = (size_t)(p - start);
        bool hex = n > 2 && start[0] == '0' && (start[1] == 'x' || start[1] == 'X');
        if (start[0] < '0' || start[0] > '9' || start[n - 1] == 'L' ||
            memchr(start, '.', n) != NULL || (!hex && strcspn(start, "eE") < n)) {
            continue; /* a name, an int64 literal or a float */
        }
        uint64_t v = 0;
        bool big = n > 18 || (hex ? sscanf(start, "%" SCNx64, &v) != 1
                                  : !pmq_slice_to_u64(pmq_slice(start, n), UINT64_MAX, &v));
        if (big || v > INT32_MAX) {
            return cfg__fail(err, errlen,
                             "file %s:%u: integer %.*s is too large without an L suffix; "
                             "write %.*sL, or a quoted size such as \"8GiB\"",
                             path, line, (int)n, start, (int)n, start);
        }
    }
    return 0;
}

static int read_text(const char *path, pmq_buf_t *b, char *err, size_t errlen) {
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return cfg__fail(err, errlen, "file %s: cannot read it: %s", path, strerror(errno));
    }
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        rc = pmq_buf_append(b, chunk, n);
    }
    if (rc == 0 && ferror(fp)) {
        rc = cfg__fail(err, errlen, "file %s: cannot read it: %s", path, strerror(errno));
    } else if (rc == 0) {
        rc = pmq_buf_append(b, "", 1);
    }
    fclose(fp);
    if (rc == PMQ_ETOOBIG) {
        rc = cfg__fail(err, errlen, "file %s: larger than %u bytes", path, FILE_BYTES_MAX);
    } else if (rc == PMQ_ENOMEM) {
        cfg__fail(err, errlen, "file %s: out of memory", path);
    }
    return rc;
}

static int unknown(const cfg__src_t *src, const char *name, char *err, size_t errlen) {
    char hint[FULL_NAME_MAX + 64];
    char quoted[CFG__ECHO_LEN_MAX * 4 + 8];
    cfg__suggest(name, false, hint, sizeof(hint));
    cfg__quote(name, false, quoted, sizeof(quoted));
    return cfg__fail(err, errlen, "file %s:%u: unknown key %s%s", src->file,
                     (unsigned)src->line, quoted, hint);
}

static int load_list(pmq_config_t *cfg, const cfg__key_t *k, const config_setting_t *s,
                     const cfg__src_t *src, char *err, size_t errlen) {
    int n = config_setting_length(s);
    const char *items[FILE_LIST_MAX];
    char detail[CFG__ECHO_LEN_MAX * 4 + 64];
    if (n < 0 || n > FILE_LIST_MAX || (uint64_t)n > k->max) {
        snprintf(detail, sizeof(detail), "%d items, more than %" PRIu64, n, k->max);
        return cfg__invalid(err, errlen, src, k, "(list)", detail);
    }
    for (int i = 0; i < n; i++) {
        items[i] = config_setting_get_string_elem(s, i);
        if (items[i] == NULL) {
            snprintf(detail, sizeof(detail), "item %d is not a string", i + 1);
            return cfg__invalid(err, errlen, src, k, "(list)", detail);
        }
    }
    cfg__value_t v;
    int rc = cfg__parse_items(k, items, (size_t)n, &v, detail, sizeof(detail));
    if (rc == PMQ_EINVAL) {
        return cfg__invalid(err, errlen, src, k, "(list)", detail);
    }
    if (rc != 0) {
        cfg__fail(err, errlen, "key '%s': %s", k->name, pmq_strerror(rc));
        return rc;
    }
    cfg__store(cfg, k, &v, src);
    cfg__value_clear(&v);
    return 0;
}

static int load_setting(pmq_config_t *cfg, const cfg__key_t *k, const config_setting_t *s,
                        const cfg__src_t *src, char *err, size_t errlen) {
    char text[64];
    const char *value = text;
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
        snprintf(text, sizeof(text), "%d", config_setting_get_int(s));
        break;
    case CONFIG_TYPE_INT64:
        snprintf(text, sizeof(text), "%lld", config_setting_get_int64(s));
        break;
    case CONFIG_TYPE_FLOAT:
        snprintf(text, sizeof(text), "%g", config_setting_get_float(s));
        break;
    case CONFIG_TYPE_BOOL:
        snprintf(text, sizeof(text), "%s", config_setting_get_bool(s) ? "true" : "false");
        break;
    case CONFIG_TYPE_STRING:
        value = config_setting_get_string(s);
        break;
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST:
        if (k->type == CFG__LIST) {
            return load_list(cfg, k, s, src, err, errlen);
        }
        return cfg__invalid(err, errlen, src, k, "(list)", NULL);
    default:
        return cfg__invalid(err, errlen, src, k, "(group)", NULL);
    }
    return cfg__apply_text(cfg, k, value, src, err, errlen);
}

static int load_section(pmq_config_t *cfg, const config_setting_t *sect, const char *path,
                        char *err, size_t errlen) {
    const char *name = config_setting_name(sect);
    const char *file = config_setting_source_file(sect);
    cfg__src_t src = {.kind = CFG__FROM_FILE,
                      .file = file ? file : path,
                      .line = config_setting_source_line(sect)};
    PMQ_ASSERT(name != NULL);
    if (!config_setting_is_group(sect)) {
        if (cfg__section_exists(name, strlen(name))) {
            return cfg__fail(err, errlen, "file %s:%u: section '%s' must be a group: %s = { ... };",
                             src.file, (unsigned)src.line, name, name);
        }
        return unknown(&src, name, err, errlen);
    }
    int n = config_setting_length(sect);
    if (n == 0 && !cfg__section_exists(name, strlen(name))) {
        return cfg__fail(err, errlen, "file %s:%u: unknown section '%s'", src.file,
                         (unsigned)src.line, name);
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(sect, (unsigned)i);
        char full[FULL_NAME_MAX];
        snprintf(full, sizeof(full), "%s.%s", name, config_setting_name(s));
        src.line = config_setting_source_line(s);
        const char *sfile = config_setting_source_file(s);
        src.file = sfile ? sfile : path;
        const cfg__key_t *k = cfg__key_find(full);
        if (k == NULL) {
            return unknown(&src, full, err, errlen);
        }
        int rc = load_setting(cfg, k, s, &src, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int cfg__load_file(pmq_config_t *cfg, const char *path, char *err, size_t errlen) {
    pmq_buf_t text;
    pmq_buf_init(&text, FILE_BYTES_MAX + 1);
    int rc = read_text(path, &text, err, errlen);
    if (rc == 0) {
        rc = check_int_literals(text.data, path, err, errlen);
    }
    pmq_buf_close(&text);
    if (rc != 0) {
        return rc;
    }
    config_t lc;
    config_init(&lc);
    errno = 0;
    if (config_read_file(&lc, path) != CONFIG_TRUE) {
        if (config_error_type(&lc) == CONFIG_ERR_FILE_IO) {
            rc = cfg__fail(err, errlen, "file %s: cannot read it: %s", path,
                           errno ? strerror(errno) : "I/O error");
        } else {
            const char *f = config_error_file(&lc);
            rc = cfg__fail(err, errlen, "file %s:%d: %s", f ? f : path, config_error_line(&lc),
                           config_error_text(&lc));
        }
        goto out;
    }
    cfg->origin_file = pmq_strdup(path);
    if (cfg->origin_file == NULL) {
        rc = cfg__fail(err, errlen, "file %s: out of memory", path);
        goto out;
    }
    const config_setting_t *root = config_root_setting(&lc);
    int n = config_setting_length(root);
    for (int i = 0; i < n && rc == 0; i++) {
        rc = load_section(cfg, config_setting_get_elem(root, (unsigned)i), path, err, errlen);
    }
out:
    config_destroy(&lc);
    return rc;
}
