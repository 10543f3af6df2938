/* Text -> typed value for every key type, and the human description of what a key
 * accepts. The same text form serves defaults, env, flags and (after conversion)
 * libconfig scalars, so there is one parser per type and one place that says what is
 * allowed. Nothing here touches pmq_config_t; load.c stores the parsed value. */
#include <stdio.h>
#include <strings.h>

#include "paxmq/assert.h"
#include "cfg_int.h"

#define LIST_ITEMS_MAX 256

typedef struct unit {
    const char *suffix;
    uint64_t mult;
} unit_t;

static const unit_t size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", UINT64_C(1) << 10},
    {"kib", UINT64_C(1) << 10},
    {"m", UINT64_C(1) << 20},
    {"mib", UINT64_C(1) << 20},
    {"g", UINT64_C(1) << 30},
    {"gib", UINT64_C(1) << 30},
    {"t", UINT64_C(1) << 40},
    {"tib", UINT64_C(1) << 40},
};

static const unit_t duration_units[] = {
    {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"min", 60000}, {"h", 3600000},
};

static pmq_slice_t trim(pmq_slice_t s) {
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t')) {
        s.len--;
    }
    return s;
}

static bool slice_ieq(pmq_slice_t s, const char *lit) {
    return s.len == strlen(lit) && strncasecmp(s.ptr, lit, s.len) == 0;
}

static bool has_control_char(pmq_slice_t s) {
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c == 0x7f) {
            return true;
        }
    }
    return false;
}

static bool in_range(const cfg__key_t *k, uint64_t v) {
    return (k->zero_off && v == 0) || (v >= k->min && v <= k->max);
}

/* Digits, optional blanks, then a suffix from units (case-insensitive). */
static bool parse_scaled(pmq_slice_t s, const unit_t *units, size_t n_units, uint64_t *out) {
    size_t digits = 0;
    while (digits < s.len && s.ptr[digits] >= '0' && s.ptr[digits] <= '9') {
        digits++;
    }
    uint64_t v;
    if (!pmq_slice_to_u64(pmq_slice(s.ptr, digits), UINT64_MAX, &v)) {
        return false;
    }
    pmq_slice_t suffix = trim(pmq_slice(s.ptr + digits, s.len - digits));
    for (size_t i = 0; i < n_units; i++) {
        if (slice_ieq(suffix, units[i].suffix)) {
            if (v > UINT64_MAX / units[i].mult) {
                return false;
            }
            *out = v * units[i].mult;
            return true;
        }
    }
    return false;
}

static int parse_bool(pmq_slice_t s, bool *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(yes); i++) {
        if (slice_ieq(s, yes[i]) || slice_ieq(s, no[i])) {
            *out = slice_ieq(s, yes[i]);
            return 0;
        }
    }
    return PMQ_EINVAL;
}

static int parse_string(const cfg__key_t *k, pmq_slice_t s, char **out) {
    if (s.len == 0 && k->optional) {
        *out = NULL;
        return 0;
    }
    if (s.len < k->min || s.len > k->max || has_control_char(s)) {
        return PMQ_EINVAL;
    }
    char *copy = pmq_slice_dup(s);
    if (copy == NULL) {
        return PMQ_ENOMEM;
    }
    if (k->check != NULL && !k->check->ok(copy)) {
        pmq_free(copy);
        return PMQ_EINVAL;
    }
    *out = copy;
    return 0;
}

static int parse_enum(const cfg__key_t *k, pmq_slice_t s, uint64_t *out) {
    for (uint64_t i = 0; k->values[i] != NULL; i++) {
        if (slice_ieq(s, k->values[i])) {
            *out = i;
            return 0;
        }
    }
    return PMQ_EINVAL;
}

static int parse_listen(pmq_slice_t s, pmq_listen_t *out) {
    memset(out, 0, sizeof(*out));
    if (slice_ieq(s, "off")) {
        return 0;
    }
    char tmp[80];
    if (s.len >= sizeof(tmp)) {
        return PMQ_EINVAL;
    }
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = '\0';
    if (!cfg__hostport_parse(tmp, out->host, &out->port)) {
        return PMQ_EINVAL;
    }
    out->enabled = true;
    return 0;
}

/* Splits "a, b,c" on commas into trimmed items, then validates them as one list. */
static int parse_list_text(const cfg__key_t *k, pmq_slice_t s, cfg__value_t *out,
                           char *detail, size_t dlen) {
    if (s.len == 0) {
        return 0;
    }
    char *copy = pmq_slice_dup(s);
    if (copy == NULL) {
        return PMQ_ENOMEM;
    }
    const char *items[LIST_ITEMS_MAX];
    size_t n = 0;
    int rc = 0;
    for (char *p = copy; p != NULL; n++) {
        char *comma = strchr(p, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        if (n == LIST_ITEMS_MAX || n == k->max) {
            snprintf(detail, dlen, "more than %llu items", (unsigned long long)k->max);
            rc = PMQ_EINVAL;
            goto out;
        }
        /* Trim in place: the item ends where its trimmed slice ends. */
        pmq_slice_t item = trim(pmq_slice_cstr(p));
        p[(size_t)(item.ptr - p) + item.len] = '\0';
        items[n] = item.ptr;
        p = comma ? comma + 1 : NULL;
    }
    rc = cfg__parse_items(k, items, n, out, detail, dlen);
out:
    pmq_free(copy);
    return rc;
}

int cfg__parse_items(const cfg__key_t *k, const char *const *items, size_t n,
                     cfg__value_t *out, char *detail, size_t dlen) {
    PMQ_ASSERT(k->type == CFG__LIST);
    memset(out, 0, sizeof(*out));
    if (n > k->max) {
        snprintf(detail, dlen, "%zu items, more than %llu", n, (unsigned long long)k->max);
        return PMQ_EINVAL;
    }
    if (n == 0) {
        return 0;
    }
    char **dup = pmq_calloc(n, sizeof(char *));
    if (dup == NULL) {
        return PMQ_ENOMEM;
    }
    out->list.items = dup;
    for (size_t i = 0; i < n; i++) {
        pmq_slice_t s = pmq_slice_cstr(items[i]);
        char q[CFG__ECHO_LEN_MAX + 8];
        cfg__quote(items[i], false, q, sizeof(q));
        if (s.len == 0 || s.len > CFG__ITEM_LEN_MAX || has_control_char(s) ||
            (k->check != NULL && !k->check->ok(items[i]))) {
            snprintf(detail, dlen, "item %zu %s is not valid", i + 1, q);
            cfg__value_clear(out);
            return PMQ_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(dup[j], items[i]) == 0) {
                snprintf(detail, dlen, "item %zu %s is listed twice", i + 1, q);
                cfg__value_clear(out);
                return PMQ_EINVAL;
            }
        }
        dup[i] = pmq_strdup(items[i]);
        out->list.count = i + 1;
        if (dup[i] == NULL) {
            cfg__value_clear(out);
            return PMQ_ENOMEM;
        }
    }
    return 0;
}

int cfg__parse(const cfg__key_t *k, const char *text, cfg__value_t *out, char *detail,
               size_t dlen) {
    memset(out, 0, sizeof(*out));
    detail[0] = '\0';
    pmq_slice_t t = trim(pmq_slice_cstr(text));
    int rc = PMQ_EINVAL;
    switch (k->type) {
    case CFG__BOOL:
        return parse_bool(t, &out->b);
    case CFG__INT:
        if (pmq_slice_to_u64(t, UINT64_MAX, &out->u) && in_range(k, out->u)) {
            rc = 0;
        }
        return rc;
    case CFG__SIZE:
        if (parse_scaled(t, size_units, PMQ_ARRAY_LEN(size_units), &out->u) &&
            in_range(k, out->u)) {
            rc = 0;
        }
        return rc;
    case CFG__DURATION:
        if (parse_scaled(t, duration_units, PMQ_ARRAY_LEN(duration_units), &out->u) &&
            in_range(k, out->u)) {
            rc = 0;
        }
        return rc;
    case CFG__STRING:
        /* Strings keep their blanks: a path or password may end in a space. */
        return parse_string(k, pmq_slice_cstr(text), &out->s);
    case CFG__ENUM:
        return parse_enum(k, t, &out->u);
    case CFG__LISTEN:
        return parse_listen(t, &out->listen);
    case CFG__LIST:
        return parse_list_text(k, t, out, detail, dlen);
    }
    PMQ_UNREACHABLE();
}

void cfg__value_clear(cfg__value_t *v) {
    pmq_free(v->s);
    for (size_t i = 0; i < v->list.count; i++) {
        pmq_free(v->list.items[i]);
    }
    pmq_free(v->list.items);
    memset(v, 0, sizeof(*v));
}

static void fmt_scaled(uint64_t v, const unit_t *units, size_t n, const char *base,
                       char *buf, size_t len) {
    for (size_t i = n; i-- > 0;) {
        if (v != 0 && units[i].mult > 1 && v % units[i].mult == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(v / units[i].mult),
                     units[i].suffix);
            return;
        }
    }
    snprintf(buf, len, "%llu%s", (unsigned long long)v, v == 0 ? "" : base);
}

void cfg__fmt_size(uint64_t bytes, char *buf, size_t len) {
    static const unit_t shown[] = {
        {"KiB", UINT64_C(1) << 10},
        {"MiB", UINT64_C(1) << 20},
        {"GiB", UINT64_C(1) << 30},
        {"TiB", UINT64_C(1) << 40},
    };
    fmt_scaled(bytes, shown, PMQ_ARRAY_LEN(shown), "B", buf, len);
}

void cfg__fmt_duration(uint64_t ms, char *buf, size_t len) {
    static const unit_t shown[] = {{"s", 1000}, {"m", 60000}, {"h", 3600000}};
    fmt_scaled(ms, shown, PMQ_ARRAY_LEN(shown), "ms", buf, len);
}

static void describe_range(const cfg__key_t *k, const char *what, char *buf, size_t len) {
    char lo[32];
    char hi[32];
    if (k->type == CFG__SIZE) {
        cfg__fmt_size(k->min, lo, sizeof(lo));
        cfg__fmt_size(k->max, hi, sizeof(hi));
    } else if (k->type == CFG__DURATION) {
        cfg__fmt_duration(k->min, lo, sizeof(lo));
        cfg__fmt_duration(k->max, hi, sizeof(hi));
    } else {
        snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
        snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
    }
    snprintf(buf, len, "%s%s from %s to %s", k->zero_off ? "0 (off) or " : "", what, lo, hi);
}

void cfg__describe(const cfg__key_t *k, char *buf, size_t len) {
    char tmp[160];
    switch (k->type) {
    case CFG__BOOL:
        snprintf(buf, len, "true or false");
        return;
    case CFG__INT:
        describe_range(k, "an integer", buf, len);
        return;
    case CFG__SIZE:
        describe_range(k, "a size", tmp, sizeof(tmp));
        snprintf(buf, len, "%s (bytes, or with suffix KiB, MiB, GiB, TiB)", tmp);
        return;
    case CFG__DURATION:
        describe_range(k, "a duration", tmp, sizeof(tmp));
        snprintf(buf, len, "%s (milliseconds, or with suffix ms, s, m, h)", tmp);
        return;
    case CFG__STRING:
        /* A check's phrase already says what (and how long) its values are. */
        if (k->check != NULL) {
            snprintf(tmp, sizeof(tmp), "%s", k->check->allowed);
        } else {
            snprintf(tmp, sizeof(tmp), "a string of %llu to %llu characters",
                     (unsigned long long)k->min, (unsigned long long)k->max);
        }
        snprintf(buf, len, "%s%s", tmp, k->optional ? ", or empty for none" : "");
        return;
    case CFG__ENUM: {
        size_t used = (size_t)snprintf(buf, len, "one of");
        for (size_t i = 0; k->values[i] != NULL && used < len; i++) {
            used += (size_t)snprintf(buf + used, len - used, "%s %s", i ? "," : "",
                                     k->values[i]);
        }
        return;
    }
    case CFG__LISTEN:
        snprintf(buf, len, "host:port (IPv6 as [addr]:port, port 0 to 65535) or off");
        return;
    case CFG__LIST:
        snprintf(tmp, sizeof(tmp), "a string of 1 to %d characters", CFG__ITEM_LEN_MAX);
        snprintf(buf, len, "a comma-separated list of at most %llu items, each %s",
                 (unsigned long long)k->max, k->check ? k->check->allowed : tmp);
        return;
    }
    PMQ_UNREACHABLE();
}

void cfg__quote(const char *v, bool secret, char *buf, size_t len) {
    PMQ_ASSERT(len >= 8);
    if (secret) {
        snprintf(buf, len, "'********'");
        return;
    }
    size_t o = 0;
    buf[o++] = '\'';
    for (size_t i = 0; v[i] != '\0'; i++) {
        unsigned char c = (unsigned char)v[i];
        if (i == CFG__ECHO_LEN_MAX || o + 8 >= len) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'') {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '\'';
    buf[o] = '\0';
}
