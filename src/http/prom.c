/* Prometheus text exposition format 0.0.4 writer.
 *
 * Names are validated (our own metric names, but a bad one would make the whole scrape
 * fail, so it is an error code rather than an abort); label values are escaped exactly
 * as the format requires: backslash, double quote and line feed. HELP text escapes
 * backslash and line feed. Numbers print in Go's ParseFloat-compatible forms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "paxmq/assert.h"
#include "paxmq/http.h"

static bool name_ok(const char *s, bool colon_ok) {
    if (s == NULL || *s == '\0') {
        return false;
    }
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                     (colon_ok && c == ':');
        if (!alpha && !(p != s && c >= '0' && c <= '9')) {
            return false;
        }
    }
    return true;
}

static bool labels_ok(const http_prom_label_t *labels, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!name_ok(labels[i].name, false) || strncmp(labels[i].name, "__", 2) == 0 ||
            labels[i].value == NULL) {
            return false;
        }
    }
    return true;
}

static const char *type_name(http_prom_type_t t) {
    switch (t) {
    case HTTP_PROM_COUNTER: return "counter";
    case HTTP_PROM_GAUGE: return "gauge";
    case HTTP_PROM_HISTOGRAM: return "histogram";
    case HTTP_PROM_UNTYPED: return "untyped";
    }
    PMQ_UNREACHABLE();
}

/* Appends s with the given characters backslash-escaped (\n becomes "\\n"). */
static int append_escaped(pmq_buf_t *b, const char *s, bool quote) {
    int rc = 0;
    for (const char *p = s; rc == 0 && *p; p++) {
        if (*p == '\\') {
            rc = pmq_buf_append(b, "\\\\", 2);
        } else if (*p == '\n') {
            rc = pmq_buf_append(b, "\\n", 2);
        } else if (quote && *p == '"') {
            rc = pmq_buf_append(b, "\\\"", 2);
        } else {
            rc = pmq_buf_append(b, p, 1);
        }
    }
    return rc;
}

int http_prom_family(pmq_buf_t *b, const char *name, http_prom_type_t type, const char *help) {
    if (!name_ok(name, true) || help == NULL) {
        return PMQ_EINVAL;
    }
    int rc = pmq_buf_appendf(b, "# HELP %s ", name);
    if (rc == 0) {
        rc = append_escaped(b, help, false);
    }
    if (rc == 0) {
        rc = pmq_buf_appendf(b, "\n# TYPE %s %s\n", name, type_name(type));
    }
    return rc;
}

/* name{labels[,extra_name="extra_value"]} without the value. */
static int put_series(pmq_buf_t *b, const char *name, const char *suffix,
                      const http_prom_label_t *labels, size_t n, const char *extra_name,
                      const char *extra_value) {
    int rc = pmq_buf_appendf(b, "%s%s", name, suffix);
    if (n == 0 && extra_name == NULL) {
        return rc;
    }
    if (rc == 0) {
        rc = pmq_buf_append(b, "{", 1);
    }
    for (size_t i = 0; rc == 0 && i <= n; i++) {
        const char *ln = i < n ? labels[i].name : extra_name;
        const char *lv = i < n ? labels[i].value : extra_value;
        if (ln == NULL) {
            break;
        }
        rc = pmq_buf_appendf(b, "%s%s=\"", i > 0 ? "," : "", ln);
        if (rc == 0) {
            rc = append_escaped(b, lv, true);
        }
        if (rc == 0) {
            rc = pmq_buf_append(b, "\"", 1);
        }
    }
    return rc == 0 ? pmq_buf_append(b, "}", 1) : rc;
}

static void format_double(char *out, size_t cap, double v) {
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
    } else if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(out, cap, "%.0f", v);
    } else {
        snprintf(out, cap, "%.17g", v);
        for (int prec = 1; prec < 17; prec++) {
            char tmp[40];
            snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
            if (strtod(tmp, NULL) == v) {
                snprintf(out, cap, "%s", tmp);
                break;
            }
        }
    }
}

int http_prom_sample(pmq_buf_t *b, const char *name, const http_prom_label_t *labels,
                     size_t nlabels, double value) {
    if (!name_ok(name, true) || !labels_ok(labels, nlabels)) {
        return PMQ_EINVAL;
    }
    char num[48];
    format_double(num, sizeof(num), value);
    int rc = put_series(b, name, "", labels, nlabels, NULL, NULL);
    return rc == 0 ? pmq_buf_appendf(b, " %s\n", num) : rc;
}

int http_prom_sample_u64(pmq_buf_t *b, const char *name, const http_prom_label_t *labels,
                         size_t nlabels, uint64_t value) {
    if (!name_ok(name, true) || !labels_ok(labels, nlabels)) {
        return PMQ_EINVAL;
    }
    int rc = put_series(b, name, "", labels, nlabels, NULL, NULL);
    return rc == 0 ? pmq_buf_appendf(b, " %llu\n", (unsigned long long)value) : rc;
}

int http_prom_histogram(pmq_buf_t *b, const char *name, const http_prom_label_t *labels,
                        size_t nlabels, const double *bounds, const uint64_t *counts,
                        size_t nbounds, double sum) {
    if (!name_ok(name, true) || !labels_ok(labels, nlabels)) {
        return PMQ_EINVAL;
    }
    for (size_t i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
            return PMQ_EINVAL;
        }
    }
    uint64_t cumulative = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i <= nbounds; i++) {
        char le[48];
        if (i < nbounds) {
            format_double(le, sizeof(le), bounds[i]);
        } else {
            snprintf(le, sizeof(le), "+Inf");
        }
        cumulative += counts[i];
        rc = put_series(b, name, "_bucket", labels, nlabels, "le", le);
        if (rc == 0) {
            rc = pmq_buf_appendf(b, " %llu\n", (unsigned long long)cumulative);
        }
    }
    char num[48];
    format_double(num, sizeof(num), sum);
    if (rc == 0) {
        rc = put_series(b, name, "_sum", labels, nlabels, NULL, NULL);
    }
    if (rc == 0) {
        rc = pmq_buf_appendf(b, " %s\n", num);
    }
    if (rc == 0) {
        rc = put_series(b, name, "_count", labels, nlabels, NULL, NULL);
    }
    return rc == 0 ? pmq_buf_appendf(b, " %llu\n", (unsigned long long)cumulative) : rc;
}
