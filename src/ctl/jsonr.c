/* A small, tolerant JSON reader for paxmqctl's tables (RFC 8259 values; depth and size
 * bounded). It builds a tree of heap nodes; strings are decoded to UTF-8, numbers and
 * literals keep their source text. Not used by the server, which never parses JSON. */
#include <stdlib.h>

#include "paxmq/assert.h"

#include "ctl.h"

#define JSON_DEPTH_MAX 64

typedef struct reader {
    const char *p;
    const char *end;
    int depth;
} reader_t;

static void skip_ws(reader_t *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) {
        r->p++;
    }
}

static int hex4(const char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

static int put_utf8(pmq_buf_t *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return pmq_buf_append(b, u, n);
}

/* One escape after the backslash at r->p; appends the decoded character. */
static int read_escape(reader_t *r, pmq_buf_t *b) {
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    if (r->p >= r->end) {
        return -1;
    }
    const char *e = memchr(from, *r->p, sizeof(from) - 1);
    if (e != NULL) {
        r->p++;
        return pmq_buf_append(b, &to[e - from], 1);
    }
    if (*r->p != 'u' || r->end - r->p < 5) {
        return -1;
    }
    int cp = hex4(r->p + 1);
    r->p += 5;
    if (cp >= 0xd800 && cp <= 0xdbff && r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u') {
        int lo = hex4(r->p + 2);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
            r->p += 6;
            return put_utf8(b, 0x10000 + (((uint32_t)cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00));
        }
    }
    if (cp < 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
        cp = 0xfffd; /* tolerant: a lone surrogate becomes U+FFFD */
    }
    return put_utf8(b, (uint32_t)cp);
}

static char *read_string(reader_t *r) {
    PMQ_DASSERT(*r->p == '"');
    r->p++;
    pmq_buf_t b;
    pmq_buf_init(&b, 16 * 1024 * 1024);
    int rc = 0;
    while (rc == 0 && r->p < r->end && *r->p != '"') {
        if (*r->p == '\\') {
            r->p++;
            rc = read_escape(r, &b);
        } else {
            rc = pmq_buf_append(&b, r->p++, 1);
        }
    }
    if (rc != 0 || r->p >= r->end || pmq_buf_append(&b, "", 1) != 0) {
        pmq_buf_close(&b);
        return NULL;
    }
    r->p++;
    return pmq_buf_steal(&b, NULL);
}

static ctl_json_t *read_value(reader_t *r);

/* Reads the members or elements of a container whose opening bracket was consumed. */
static bool read_children(reader_t *r, ctl_json_t *node, bool object) {
    char close = object ? '}' : ']';
    ctl_json_t **tail = &node->child;
    skip_ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return true;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(r);
        if (object) {
            if (r->p >= r->end || *r->p != '"' || (key = read_string(r)) == NULL) {
                return false;
            }
            skip_ws(r);
            if (r->p >= r->end || *r->p != ':') {
                pmq_free(key);
                return false;
            }
            r->p++;
        }
        ctl_json_t *child = read_value(r);
        if (child == NULL) {
            pmq_free(key);
            return false;
        }
        child->key = key;
        *tail = child;
        tail = &child->next;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return true;
        }
        return false;
    }
}

static bool read_scalar(reader_t *r, ctl_json_t *node) {
    const char *start = r->p;
    while (r->p < r->end && strchr(",]} \t\r\n", *r->p) == NULL) {
        r->p++;
    }
    pmq_slice_t lit = pmq_slice(start, (size_t)(r->p - start));
    if (pmq_slice_eq_cstr(lit, "true") || pmq_slice_eq_cstr(lit, "false")) {
        node->type = CTL_JSON_BOOL;
    } else if (pmq_slice_eq_cstr(lit, "null")) {
        node->type = CTL_JSON_NULL;
    } else if (lit.len > 0 && (lit.ptr[0] == '-' || (lit.ptr[0] >= '0' && lit.ptr[0] <= '9'))) {
        node->type = CTL_JSON_NUMBER;
    } else {
        return false;
    }
    node->str = pmq_slice_dup(lit);
    return node->str != NULL;
}

static ctl_json_t *read_value(reader_t *r) {
    skip_ws(r);
    if (r->p >= r->end || r->depth >= JSON_DEPTH_MAX) {
        return NULL;
    }
    ctl_json_t *node = pmq_calloc(1, sizeof(*node));
    if (node == NULL) {
        return NULL;
    }
    const char *start = r->p;
    bool ok;
    if (*r->p == '{' || *r->p == '[') {
        bool object = *r->p == '{';
        node->type = object ? CTL_JSON_OBJECT : CTL_JSON_ARRAY;
        r->p++;
        r->depth++;
        ok = read_children(r, node, object);
        r->depth--;
    } else if (*r->p == '"') {
        node->type = CTL_JSON_STRING;
        node->str = read_string(r);
        ok = node->str != NULL;
    } else {
        ok = read_scalar(r, node);
    }
    if (!ok) {
        ctl_json_free(node);
        return NULL;
    }
    node->raw = pmq_slice(start, (size_t)(r->p - start));
    return node;
}

ctl_json_t *ctl_json_parse(pmq_slice_t text) {
    reader_t r = {text.ptr, text.ptr + text.len, 0};
    ctl_json_t *root = read_value(&r);
    skip_ws(&r);
    if (root != NULL && r.p != r.end) {
        ctl_json_free(root);
        return NULL;
    }
    return root;
}

void ctl_json_free(ctl_json_t *j) {
    while (j != NULL) {
        ctl_json_t *next = j->next;
        ctl_json_free(j->child);
        pmq_free(j->key);
        pmq_free(j->str);
        pmq_free(j);
        j = next;
    }
}

const ctl_json_t *ctl_json_get(const ctl_json_t *obj, const char *key) {
    if (obj == NULL || obj->type != CTL_JSON_OBJECT) {
        return NULL;
    }
    for (const ctl_json_t *c = obj->child; c != NULL; c = c->next) {
        if (c->key != NULL && strcmp(c->key, key) == 0) {
            return c;
        }
    }
    return NULL;
}
