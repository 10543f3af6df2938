/* Printing: the effective configuration in libconfig syntax (--check-config), the key
 * reference for --help, and the same reference as the Markdown table of docs/CONFIG.md.
 *
 * cfg_print's output must load back through cfg_load: sizes are quoted strings with
 * suffixes, durations plain milliseconds, none-valued strings and masked secrets are
 * comment lines (so they load back as unset, never as the mask). */
#include <stdio.h>

#include "paxmq/assert.h"
#include "cfg_int.h"

#define COMMENT_COLUMN 52

typedef struct printer {
    pmq_buf_t *out;
    int rc; /* sticky: the first append error */
} printer_t;

static void put(printer_t *p, const char *s) {
    if (p->rc == 0) {
        p->rc = pmq_buf_append_cstr(p->out, s);
    }
}

static void putf(printer_t *p, const char *fmt, ...) PMQ_PRINTF(2, 3);
static void putf(printer_t *p, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    PMQ_ASSERT(n >= 0);
    PMQ_ASSERT((size_t)n < sizeof(small)); /* callers print bounded pieces */
    put(p, small);
}

/* A libconfig string literal: only '"' and '\' need escaping, since values with
 * control characters were rejected when parsed. */
static void put_quoted(printer_t *p, const char *s) {
    put(p, "\"");
    for (const char *c = s; *c != '\0'; c++) {
        char esc[3] = {'\\', *c, '\0'};
        put(p, (*c == '"' || *c == '\\') ? esc : (char[2]){*c, '\0'});
    }
    put(p, "\"");
}

static void put_value(printer_t *p, const pmq_config_t *cfg, const cfg__key_t *k) {
    const void *f = (const char *)cfg + k->offset;
    char text[96];
    switch (k->type) {
    case CFG__BOOL:
    case CFG__INT:
        cfg__fmt_field(cfg, k, text, sizeof(text));
        put(p, text);
        return;
    case CFG__DURATION:
        putf(p, "%llu", (unsigned long long)cfg__num(cfg, k));
        return;
    case CFG__SIZE:
    case CFG__ENUM:
        cfg__fmt_field(cfg, k, text, sizeof(text));
        put_quoted(p, text);
        return;
    case CFG__LISTEN:
        cfg__fmt_listen(f, text, sizeof(text));
        put_quoted(p, text);
        return;
    case CFG__STRING:
        put_quoted(p, *(char *const *)f);
        return;
    case CFG__LIST: {
        const pmq_strlist_t *l = f;
        put(p, "[");
        for (size_t i = 0; i < l->count; i++) {
            put(p, i ? ", " : " ");
            put_quoted(p, l->items[i]);
        }
        put(p, l->count ? " ]" : "]");
        return;
    }
    }
    PMQ_UNREACHABLE();
}

static void put_key(printer_t *p, const pmq_config_t *cfg, const cfg__key_t *k) {
    const char *key = strchr(k->name, '.') + 1;
    char origin[256];
    cfg__fmt_origin(cfg, k, origin, sizeof(origin));
    bool unset = k->type == CFG__STRING && *(char *const *)((const char *)cfg + k->offset) == NULL;
    if (unset) {
        putf(p, "    # %s is not set (%s)\n", key, origin);
        return;
    }
    if (k->secret) {
        putf(p, "    # %s = \"********\";  (secret, masked; %s)\n", key, origin);
        return;
    }
    size_t start = p->out->len;
    putf(p, "    %s = ", key);
    put_value(p, cfg, k);
    put(p, ";");
    size_t width = p->out->len - start;
    putf(p, "%*s# %s\n", width < COMMENT_COLUMN ? (int)(COMMENT_COLUMN - width) : 2, "", origin);
}

static size_t section_len(const cfg__key_t *k) { return (size_t)(strchr(k->name, '.') - k->name); }

static bool same_section(const cfg__key_t *a, const cfg__key_t *b) {
    return section_len(a) == section_len(b) && memcmp(a->name, b->name, section_len(a)) == 0;
}

int cfg_print(const pmq_config_t *cfg, pmq_buf_t *out) {
    printer_t p = {out, 0};
    put(&p, "# paxmq effective configuration. Secrets are masked; the comment after each\n"
            "# value says where it came from.\n");
    if (!cfg->store.sync) {
        put(&p, "# WARNING: store.sync = false: acknowledged messages can be lost on a crash.\n"
                "# Use it for tests only.\n");
    }
    for (size_t i = 0; i < cfg__key_count; i++) {
        const cfg__key_t *k = &cfg__keys[i];
        if (i == 0 || !same_section(k, &cfg__keys[i - 1])) {
            putf(&p, "%s%.*s = {\n", i ? "};\n\n" : "\n", (int)section_len(k), k->name);
        }
        put_key(&p, cfg, k);
    }
    put(&p, "};\n");
    return p.rc;
}

static void fmt_default(const cfg__key_t *k, bool markdown, char *buf, size_t len) {
    if (k->def == NULL) {
        snprintf(buf, len, "%s", k->optional ? "none" : "host name");
    } else if (k->type == CFG__LIST) {
        snprintf(buf, len, markdown ? "`[]`" : "[]");
    } else {
        snprintf(buf, len, markdown ? "`%s`" : "%s", k->def);
    }
}

static void fmt_type(const cfg__key_t *k, char *buf, size_t len) {
    static const char *const names[] = {"bool",   "integer", "size",   "duration",
                                        "string", "enum",    "listen", "list"};
    PMQ_ASSERT((size_t)k->type < PMQ_ARRAY_LEN(names));
    if (k->type == CFG__INT && k->unit != NULL) {
        snprintf(buf, len, "integer (%s)", k->unit);
    } else {
        snprintf(buf, len, "%s%s", k->secret ? "secret " : "", names[k->type]);
    }
}

int cfg_print_help(pmq_buf_t *out) {
    printer_t p = {out, 0};
    put(&p, "Configuration keys. Set each in the --config file (section = { key = value; };),\n"
            "in the environment as PAXMQ_SECTION_KEY, or as a flag --section.key=value.\n"
            "Flags beat the environment, which beats the file. Outside the file a list is\n"
            "comma-separated. Sizes take KiB/MiB/GiB/TiB, durations ms/s/m/h.\n");
    for (size_t i = 0; i < cfg__key_count; i++) {
        const cfg__key_t *k = &cfg__keys[i];
        char env[96];
        char type[64];
        char def[64];
        char allowed[256];
        cfg__env_name(k, env, sizeof(env));
        fmt_type(k, type, sizeof(type));
        fmt_default(k, false, def, sizeof(def));
        cfg__describe(k, allowed, sizeof(allowed));
        putf(&p, "\n  %s  (%s, env %s)\n      %s\n", k->name, type, env, k->help);
        putf(&p, "      default: %s; allowed: %s\n", def, allowed);
    }
    return p.rc;
}

/* A Markdown table cell: '|' would end the cell. */
static void put_cell(printer_t *p, const char *s) {
    put(p, " ");
    for (const char *c = s; *c != '\0'; c++) {
        put(p, *c == '|' ? "\\|" : (char[2]){*c, '\0'});
    }
    put(p, " |");
}

int cfg_print_reference(pmq_buf_t *out) {
    printer_t p = {out, 0};
    put(&p, "| key | type | default | allowed | environment | meaning |\n"
            "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < cfg__key_count; i++) {
        const cfg__key_t *k = &cfg__keys[i];
        char cell[320];
        put(&p, "|");
        snprintf(cell, sizeof(cell), "`%s`", k->name);
        put_cell(&p, cell);
        fmt_type(k, cell, sizeof(cell));
        put_cell(&p, cell);
        fmt_default(k, true, cell, sizeof(cell));
        put_cell(&p, cell);
        cfg__describe(k, cell, sizeof(cell));
        put_cell(&p, cell);
        char env[96];
        cfg__env_name(k, env, sizeof(env));
        snprintf(cell, sizeof(cell), "`%s`", env);
        put_cell(&p, cell);
        put_cell(&p, k->help);
        put(&p, "\n");
    }
    return p.rc;
}
