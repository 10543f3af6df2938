/* STOMP 1.0/1.1/1.2 frame codec: an incremental parser and the encoder.
 *
 * Pure code over bytes (links pmq_base only). The parser validates a frame's head line by
 * line as bytes arrive, without touching them, and remembers where it stopped; only when
 * the whole frame (through its NUL) is present does it unescape the headers in place and
 * hand out slices. Every byte is therefore examined a bounded number of times however the
 * stream is split, and nothing is allocated per frame. Invariant: scan offsets are
 * relative to the frame start, which is buf[0] once the caller has dropped *consumed. */
#include <stdio.h>

#include "paxmq/assert.h"
#include "paxmq/stomp.h"

enum { PS_IDLE = 0, PS_COMMAND, PS_HEADERS, PS_BODY };

static const char *const k_command_names[STOMP_CMD_COUNT] = {
    [STOMP_CMD_UNKNOWN] = "UNKNOWN",         [STOMP_CMD_CONNECT] = "CONNECT",
    [STOMP_CMD_STOMP] = "STOMP",             [STOMP_CMD_SEND] = "SEND",
    [STOMP_CMD_SUBSCRIBE] = "SUBSCRIBE",     [STOMP_CMD_UNSUBSCRIBE] = "UNSUBSCRIBE",
    [STOMP_CMD_ACK] = "ACK",                 [STOMP_CMD_NACK] = "NACK",
    [STOMP_CMD_BEGIN] = "BEGIN",             [STOMP_CMD_COMMIT] = "COMMIT",
    [STOMP_CMD_ABORT] = "ABORT",             [STOMP_CMD_DISCONNECT] = "DISCONNECT",
    [STOMP_CMD_CONNECTED] = "CONNECTED",     [STOMP_CMD_MESSAGE] = "MESSAGE",
    [STOMP_CMD_RECEIPT] = "RECEIPT",         [STOMP_CMD_ERROR] = "ERROR",
};

/* ---- small helpers ---- */

/* Copies s into dst for an error reason, replacing bytes outside printable ASCII with
 * '?' and truncating to fit, so a hostile command never puts control bytes in a log. */
static void printable_copy(char *dst, size_t dst_len, pmq_slice_t s) {
    size_t n = PMQ_MIN(s.len, dst_len - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[n] = '\0';
}

/* memchr over a slice that may be (NULL, 0). */
static bool slice_has(pmq_slice_t s, char c) {
    return s.len > 0 && memchr(s.ptr, c, s.len) != NULL;
}

/* Length of the run of "\n" and "\r\n" at the front of s (heart-beats, STOMP 1.2
 * "Heart-beating"; also the optional EOLs after a frame's NUL in the Augmented BNF). */
static size_t skip_eols(const char *s, size_t n) {
    size_t i = 0;
    for (;;) {
        if (i < n && s[i] == '\n') {
            i++;
        } else if (i + 1 < n && s[i] == '\r' && s[i + 1] == '\n') {
            i += 2;
        } else {
            return i;
        }
    }
}

/* The line f[start..eol) without the CR of a CRLF (accepted in every version). */
static pmq_slice_t line_slice(const char *f, size_t start, size_t eol) {
    size_t n = eol - start;
    if (n > 0 && f[eol - 1] == '\r') {
        n--;
    }
    return pmq_slice(f + start, n);
}

static bool escape_is_defined(stomp_version_t v, char c) {
    return c == 'n' || c == 'c' || c == '\\' || (c == 'r' && v >= STOMP_V1_2);
}

/* Returns the first undefined escape in s (a backslash not followed by a defined
 * letter, including a lone trailing one), or NULL when every escape is defined. */
static const char *escape_find_bad(stomp_version_t v, pmq_slice_t s) {
    const char *p = s.ptr;
    const char *end = s.ptr + s.len;
    while (p < end && (p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (p + 1 == end || !escape_is_defined(v, p[1])) {
            return p;
        }
        p += 2;
    }
    return NULL;
}

/* Decodes 1.1/1.2 escapes of an already validated s in place; the result is never
 * longer, so it is written over the start of s. */
static pmq_slice_t unescape_in_place(stomp_version_t v, char *s, size_t len) {
    char *bs = memchr(s, '\\', len);
    if (bs == NULL) {
        return pmq_slice(s, len);
    }
    char *w = bs;
    const char *r = bs;
    const char *end = s + len;
    while (r < end) {
        if (*r != '\\') {
            *w++ = *r++;
            continue;
        }
        PMQ_ASSERT(r + 1 < end);
        PMQ_ASSERT(escape_is_defined(v, r[1]));
        char c = r[1];
        *w++ = c == 'n' ? '\n' : c == 'c' ? ':' : c == 'r' ? '\r' : '\\';
        r += 2;
    }
    return pmq_slice(s, (size_t)(w - s));
}

/* ---- parser lifecycle ---- */

void stomp_limits_default(stomp_limits_t *limits) {
    limits->frame_bytes_max = STOMP_FRAME_BYTES_MAX_DEFAULT;
    limits->header_count_max = STOMP_HEADER_COUNT_MAX_DEFAULT;
    limits->header_bytes_max = STOMP_HEADER_BYTES_MAX_DEFAULT;
}

int stomp_parser_init_shared(stomp_parser_t *p, const stomp_limits_t *limits,
                             stomp_header_t *shared_headers) {
    memset(p, 0, sizeof(*p));
    /* The bounds keep every offset sum below SIZE_MAX without per-step overflow checks. */
    if (limits->frame_bytes_max == 0 || limits->frame_bytes_max > SIZE_MAX / 4) {
        return PMQ_EINVAL;
    }
    if (limits->header_bytes_max == 0 || limits->header_bytes_max > SIZE_MAX / 4) {
        return PMQ_EINVAL;
    }
    if (limits->header_count_max > STOMP_HEADER_COUNT_MAX_CEILING) {
        return PMQ_EINVAL;
    }
    if (shared_headers != NULL) {
        p->headers = shared_headers;
        p->headers_borrowed = true;
    } else {
        p->headers = pmq_calloc(PMQ_MAX(limits->header_count_max, 1), sizeof(stomp_header_t));
        if (p->headers == NULL) {
            return PMQ_ENOMEM;
        }
    }
    p->limits = *limits;
    p->version = STOMP_V1_0;
    stomp_parser_reset(p);
    return 0;
}

void stomp_parser_close(stomp_parser_t *p) {
    if (!p->headers_borrowed) {
        pmq_free(p->headers);
    }
    p->headers = NULL;
    stomp_parser_reset(p);
}

void stomp_parser_set_version(stomp_parser_t *p, stomp_version_t v) {
    PMQ_ASSERT(v == STOMP_V1_0 || v == STOMP_V1_1 || v == STOMP_V1_2);
    p->version = v;
}

void stomp_parser_reset(stomp_parser_t *p) {
    p->state = PS_IDLE;
    p->unescape = false;
    p->has_content_length = false;
    p->command = STOMP_CMD_UNKNOWN;
    p->scan_off = 0;
    p->line_off = 0;
    p->head_len = 0;
    p->header_count = 0;
    p->content_length = 0;
}

/* ---- scanning: validate without modifying, remember progress ---- */

/* Searches f[scan_off..end) for c. Every search starts at scan_off, which only moves
 * forward within a frame: this is what keeps split input linear. */
static const char *scan_for(stomp_parser_t *p, const char *f, size_t end, char c) {
    if (p->scan_off >= end) {
        return NULL;
    }
    p->scanned_bytes += end - p->scan_off;
    return memchr(f + p->scan_off, c, end - p->scan_off);
}

static int fail_frame_too_big(const stomp_parser_t *p, pmq_proto_err_t *err) {
    return pmq_proto_fail(err, PMQ_ETOOBIG, 0, true,
                          "frame exceeds %zu bytes (stomp.frame_bytes_max)",
                          p->limits.frame_bytes_max);
}

static int scan_command(stomp_parser_t *p, const char *f, size_t avail, pmq_proto_err_t *err) {
    /* Look for the EOL only within the longest legal command line plus CR LF. */
    size_t end = PMQ_MIN(avail, (size_t)STOMP_COMMAND_BYTES_MAX + 2);
    const char *nl = scan_for(p, f, end, '\n');
    char shown[STOMP_COMMAND_BYTES_MAX + 1];
    if (nl == NULL) {
        p->scan_off = end;
        if (end == avail) {
            return PMQ_EAGAIN;
        }
        printable_copy(shown, 41, pmq_slice(f, end));
        return pmq_proto_fail(err, PMQ_EPROTO, 0, true,
                              "command line longer than %d bytes: '%s...'",
                              STOMP_COMMAND_BYTES_MAX, shown);
    }
    size_t eol = (size_t)(nl - f);
    pmq_slice_t name = line_slice(f, 0, eol);
    if (name.len > STOMP_COMMAND_BYTES_MAX) {
        printable_copy(shown, 41, name);
        return pmq_proto_fail(err, PMQ_EPROTO, 0, true,
                              "command line longer than %d bytes: '%s...'",
                              STOMP_COMMAND_BYTES_MAX, shown);
    }
    p->command = stomp_command_lookup(name);
    if (p->command == STOMP_CMD_UNKNOWN) {
        printable_copy(shown, sizeof(shown), name);
        return pmq_proto_fail(err, PMQ_EPROTO, 0, true, "unknown command '%s'", shown);
    }
    /* STOMP 1.2 "Value Encoding": CONNECT and CONNECTED frames never escape, for 1.0
     * compatibility; the version itself is only known once CONNECT was processed. */
    p->unescape = stomp_command_is_escaped(p->version, p->command);
    p->state = PS_HEADERS;
    p->scan_off = eol + 1;
    p->line_off = eol + 1;
    return 0;
}

static int check_escapes(const stomp_parser_t *p, pmq_slice_t s, pmq_proto_err_t *err) {
    const char *bad = escape_find_bad(p->version, s);
    if (bad == NULL) {
        return 0;
    }
    if (bad + 1 == s.ptr + s.len) {
        return pmq_proto_fail(err, PMQ_EPROTO, 0, true,
                              "undefined escape sequence: lone '\\' at the end of a header "
                              "name or value");
    }
    char shown[2];
    printable_copy(shown, sizeof(shown), pmq_slice(bad + 1, 1));
    return pmq_proto_fail(err, PMQ_EPROTO, 0, true,
                          "undefined escape sequence '\\%s' in a header (STOMP 1.%d)", shown,
                          (int)p->version - 10);
}

/* Validates one complete header line (CR of CRLF already removed). */
static int check_header_line(stomp_parser_t *p, pmq_slice_t line, pmq_proto_err_t *err) {
    if (line.len > p->limits.header_bytes_max) {
        return pmq_proto_fail(err, PMQ_ETOOBIG, 0, true,
                              "header line exceeds %zu bytes (stomp.header_bytes_max)",
                              p->limits.header_bytes_max);
    }
    if (++p->header_count > p->limits.header_count_max) {
        return pmq_proto_fail(err, PMQ_ETOOBIG, 0, true,
                              "frame has more than %zu headers (stomp.header_count_max)",
                              p->limits.header_count_max);
    }
    if (slice_has(line, '\0')) {
        return pmq_proto_fail(err, PMQ_EPROTO, 0, true, "NUL byte in a header line");
    }
    /* STOMP 1.2 Augmented BNF: CR appears in the head only as part of an EOL. */
    if (slice_has(line, '\r')) {
        return pmq_proto_fail(err, PMQ_EPROTO, 0, true,
                              "carriage return inside a header line");
    }
    const char *colon = memchr(line.ptr, ':', line.len);
    if (colon == NULL) {
        return pmq_proto_fail(err, PMQ_EPROTO, 0, true, "header line without ':'");
    }
    if (colon == line.ptr) {
        return pmq_proto_fail(err, PMQ_EPROTO, 0, true, "empty header name");
    }
    pmq_slice_t name = pmq_slice(line.ptr, (size_t)(colon - line.ptr));
    pmq_slice_t value = pmq_slice(colon + 1, line.len - name.len - 1);
    if (p->unescape) {
        int rc = check_escapes(p, name, err);
        rc = rc != 0 ? rc : check_escapes(p, value, err);
        if (rc != 0) {
            return rc;
        }
    }
    /* Escapes are ASCII, so the raw line is valid UTF-8 exactly when the decoded is. */
    if (!pmq_utf8_is_valid(line, true)) {
        return pmq_proto_fail(err, PMQ_EPROTO, 0, true, "header is not valid UTF-8");
    }
    /* STOMP 1.2 "Repeated Header Entries": only the first occurrence counts. */
    if (!p->has_content_length && pmq_slice_eq_cstr(name, "content-length")) {
        if (!pmq_slice_to_u64(value, UINT64_MAX, &p->content_length)) {
            char shown[24];
            printable_copy(shown, sizeof(shown), value);
            return pmq_proto_fail(err, PMQ_EPROTO, 0, true, "invalid content-length '%s'",
                                  shown);
        }
        p->has_content_length = true;
    }
    return 0;
}

static int head_done(stomp_parser_t *p, size_t head_len, pmq_proto_err_t *err) {
    size_t max = p->limits.frame_bytes_max;
    /* The frame is head + body + NUL; with content-length its size is known now, so a
     * too-large frame fails before any of its body is buffered. */
    if (head_len >= max) {
        return fail_frame_too_big(p, err);
    }
    if (p->has_content_length && p->content_length > (uint64_t)(max - head_len - 1)) {
        return fail_frame_too_big(p, err);
    }
    p->head_len = head_len;
    p->scan_off = head_len;
    p->state = PS_BODY;
    return 0;
}

static int scan_headers(stomp_parser_t *p, const char *f, size_t avail, pmq_proto_err_t *err) {
    /* A legal line has at most header_bytes_max bytes plus CR LF. */
    size_t line_cap = p->limits.header_bytes_max + 2;
    for (;;) {
        size_t end = avail - p->line_off > line_cap ? p->line_off + line_cap : avail;
        const char *nl = scan_for(p, f, end, '\n');
        if (nl == NULL) {
            p->scan_off = end;
            if (end == avail) {
                return PMQ_EAGAIN;
            }
            return pmq_proto_fail(err, PMQ_ETOOBIG, 0, true,
                                  "header line exceeds %zu bytes (stomp.header_bytes_max)",
                                  p->limits.header_bytes_max);
        }
        size_t eol = (size_t)(nl - f);
        pmq_slice_t line = line_slice(f, p->line_off, eol);
        if (line.len == 0) {
            return head_done(p, eol + 1, err);
        }
        int rc = check_header_line(p, line, err);
        if (rc != 0) {
            return rc;
        }
        p->line_off = eol + 1;
        p->scan_off = eol + 1;
    }
}

static int scan_body(stomp_parser_t *p, const char *f, size_t avail, size_t *frame_len,
                     pmq_proto_err_t *err) {
    if (p->has_content_length) {
        size_t need = p->head_len + (size_t)p->content_length + 1;
        if (avail < need) {
            p->scan_off = avail;
            return PMQ_EAGAIN;
        }
        if (f[need - 1] != '\0') {
            return pmq_proto_fail(err, PMQ_EPROTO, 0, true,
                                  "frame body not terminated by NUL after content-length "
                                  "bytes");
        }
        *frame_len = need;
        return 0;
    }
    /* Without content-length the body runs to the first NUL, which must lie within the
     * frame limit (STOMP 1.2 "Size Limits"). */
    size_t end = PMQ_MIN(avail, p->limits.frame_bytes_max);
    const char *nul = scan_for(p, f, end, '\0');
    if (nul == NULL) {
        p->scan_off = PMQ_MAX(p->scan_off, end);
        return end == avail ? PMQ_EAGAIN : fail_frame_too_big(p, err);
    }
    *frame_len = (size_t)(nul - f) + 1;
    return 0;
}

/* Advances the scan as far as avail allows; 0 with *frame_len once the frame is whole. */
static int scan(stomp_parser_t *p, const char *f, size_t avail, size_t *frame_len,
                pmq_proto_err_t *err) {
    int rc = 0;
    if (p->state == PS_COMMAND) {
        rc = scan_command(p, f, avail, err);
    }
    if (rc == 0 && p->state == PS_HEADERS) {
        rc = scan_headers(p, f, avail, err);
    }
    if (rc == 0) {
        PMQ_ASSERT(p->state == PS_BODY);
        rc = scan_body(p, f, avail, frame_len, err);
    }
    /* Whatever is still missing, the frame is longer than avail: fail once that alone
     * proves it exceeds the limit, so a peer cannot make us buffer without bound. */
    if (rc == PMQ_EAGAIN && avail >= p->limits.frame_bytes_max) {
        rc = fail_frame_too_big(p, err);
    }
    return rc;
}

/* ---- building the frame: unescape in place, fill the header array ---- */

static void build_frame(stomp_parser_t *p, char *f, size_t frame_len, stomp_frame_t *out) {
    char *nl = memchr(f, '\n', p->head_len);
    PMQ_ASSERT(nl != NULL);
    out->command = p->command;
    out->command_name = line_slice(f, 0, (size_t)(nl - f));
    size_t off = (size_t)(nl - f) + 1;
    size_t k = 0;
    for (;;) {
        char *eol = memchr(f + off, '\n', p->head_len - off);
        PMQ_ASSERT(eol != NULL);
        char *start = f + off;
        pmq_slice_t line = line_slice(f, off, (size_t)(eol - f));
        off = (size_t)(eol - f) + 1;
        if (line.len == 0) {
            break;
        }
        char *colon = memchr(start, ':', line.len);
        PMQ_ASSERT(colon != NULL);
        PMQ_ASSERT(k < p->header_count);
        stomp_header_t *h = &p->headers[k++];
        size_t name_len = (size_t)(colon - start);
        size_t value_len = line.len - name_len - 1;
        if (p->unescape) {
            h->name = unescape_in_place(p->version, start, name_len);
            h->value = unescape_in_place(p->version, colon + 1, value_len);
        } else {
            h->name = pmq_slice(start, name_len);
            h->value = pmq_slice(colon + 1, value_len);
        }
    }
    PMQ_ASSERT(off == p->head_len);
    PMQ_ASSERT(k == p->header_count);
    out->headers = p->headers;
    out->header_count = k;
    out->body = pmq_slice(f + p->head_len, frame_len - p->head_len - 1);
    out->has_content_length = p->has_content_length;
    PMQ_DASSERT(!p->has_content_length || out->body.len == p->content_length);
}

int stomp_parse(stomp_parser_t *p, char *buf, size_t len, size_t *consumed,
                stomp_frame_t *out, pmq_proto_err_t *err) {
    PMQ_ASSERT(p->headers != NULL);
    *consumed = 0;
    size_t skip = 0;
    if (p->state == PS_IDLE) {
        skip = skip_eols(buf, len);
        /* A lone trailing CR may be the first half of a heart-beat CRLF. */
        if (skip == len || (skip + 1 == len && buf[skip] == '\r')) {
            *consumed = skip;
            return PMQ_EAGAIN;
        }
        p->state = PS_COMMAND;
    }
    char *f = buf + skip;
    size_t avail = len - skip;
    /* The caller must keep the unconsumed bytes of a partly scanned frame. */
    PMQ_ASSERT(p->scan_off <= avail);
    size_t frame_len = 0;
    int rc = scan(p, f, avail, &frame_len, err);
    if (rc == PMQ_EAGAIN) {
        *consumed = skip;
        return rc;
    }
    if (rc != 0) {
        stomp_parser_reset(p);
        return rc;
    }
    PMQ_ASSERT(frame_len <= avail);
    PMQ_ASSERT(frame_len <= p->limits.frame_bytes_max);
    build_frame(p, f, frame_len, out);
    *consumed = skip + frame_len + skip_eols(f + frame_len, avail - frame_len);
    stomp_parser_reset(p);
    return 0;
}

/* ---- frame and command helpers ---- */

const stomp_header_t *stomp_frame_header(const stomp_frame_t *f, const char *name) {
    pmq_slice_t n = pmq_slice_cstr(name);
    for (size_t i = 0; i < f->header_count; i++) {
        if (pmq_slice_eq(f->headers[i].name, n)) {
            return &f->headers[i];
        }
    }
    return NULL;
}

bool stomp_frame_header_value(const stomp_frame_t *f, const char *name, pmq_slice_t *out) {
    const stomp_header_t *h = stomp_frame_header(f, name);
    if (h == NULL) {
        return false;
    }
    *out = h->value;
    return true;
}

const char *stomp_command_name(stomp_command_t c) {
    if ((int)c <= (int)STOMP_CMD_UNKNOWN || (int)c >= STOMP_CMD_COUNT) {
        return k_command_names[STOMP_CMD_UNKNOWN];
    }
    return k_command_names[c];
}

stomp_command_t stomp_command_lookup(pmq_slice_t name) {
    for (int c = STOMP_CMD_UNKNOWN + 1; c < STOMP_CMD_COUNT; c++) {
        if (pmq_slice_eq_cstr(name, k_command_names[c])) {
            return (stomp_command_t)c;
        }
    }
    return STOMP_CMD_UNKNOWN;
}

bool stomp_command_is_escaped(stomp_version_t v, stomp_command_t cmd) {
    return v >= STOMP_V1_1 && cmd != STOMP_CMD_CONNECT && cmd != STOMP_CMD_STOMP &&
           cmd != STOMP_CMD_CONNECTED;
}

/* ---- encoding ---- */

bool stomp_header_is_encodable(stomp_version_t v, stomp_command_t cmd, pmq_slice_t name,
                               pmq_slice_t value) {
    if (name.len == 0) {
        return false;
    }
    if (!pmq_utf8_is_valid(name, true) || !pmq_utf8_is_valid(value, true)) {
        return false;
    }
    bool escaped = stomp_command_is_escaped(v, cmd);
    /* Only 1.2 has \r; elsewhere a CR would be taken for part of a CRLF (or rejected). */
    if (!(escaped && v >= STOMP_V1_2) && (slice_has(name, '\r') || slice_has(value, '\r'))) {
        return false;
    }
    if (!escaped && (slice_has(name, '\n') || slice_has(value, '\n') || slice_has(name, ':'))) {
        return false;
    }
    return true;
}

static const char *escape_of(stomp_version_t v, char c) {
    switch (c) {
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case ':':
        return "\\c";
    case '\r':
        return v >= STOMP_V1_2 ? "\\r" : NULL;
    default:
        return NULL;
    }
}

int stomp_escape(pmq_buf_t *out, stomp_version_t v, pmq_slice_t s) {
    if (v < STOMP_V1_1) {
        return pmq_buf_append_slice(out, s);
    }
    size_t saved = out->len;
    size_t run = 0;
    int rc = pmq_buf_reserve(out, s.len);
    for (size_t i = 0; rc == 0 && i < s.len; i++) {
        const char *esc = escape_of(v, s.ptr[i]);
        if (esc != NULL) {
            rc = pmq_buf_append(out, s.ptr + run, i - run);
            rc = rc != 0 ? rc : pmq_buf_append(out, esc, 2);
            run = i + 1;
        }
    }
    rc = rc != 0 ? rc : pmq_buf_append(out, s.ptr + run, s.len - run);
    if (rc != 0) {
        out->len = saved;
    }
    return rc;
}

int stomp_encode_begin(pmq_buf_t *out, stomp_command_t cmd) {
    PMQ_ASSERT((int)cmd > (int)STOMP_CMD_UNKNOWN);
    PMQ_ASSERT((int)cmd < STOMP_CMD_COUNT);
    size_t saved = out->len;
    int rc = pmq_buf_append_cstr(out, k_command_names[cmd]);
    rc = rc != 0 ? rc : pmq_buf_append(out, "\n", 1);
    if (rc != 0) {
        out->len = saved;
    }
    return rc;
}

int stomp_encode_header(pmq_buf_t *out, stomp_version_t v, stomp_command_t cmd,
                        pmq_slice_t name, pmq_slice_t value) {
    if (!stomp_header_is_encodable(v, cmd, name, value)) {
        return PMQ_EINVAL;
    }
    /* Without escaping, stomp_escape at 1.0 appends verbatim. */
    stomp_version_t ev = stomp_command_is_escaped(v, cmd) ? v : STOMP_V1_0;
    size_t saved = out->len;
    int rc = stomp_escape(out, ev, name);
    rc = rc != 0 ? rc : pmq_buf_append(out, ":", 1);
    rc = rc != 0 ? rc : stomp_escape(out, ev, value);
    rc = rc != 0 ? rc : pmq_buf_append(out, "\n", 1);
    if (rc != 0) {
        out->len = saved;
    }
    return rc;
}

int stomp_encode_end(pmq_buf_t *out, pmq_slice_t body, bool add_content_length) {
    size_t saved = out->len;
    int rc = 0;
    if (add_content_length) {
        /* Formatted by hand: this runs once per delivered message. */
        char digits[24];
        size_t i = sizeof(digits);
        size_t v = body.len;
        do {
            digits[--i] = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0);
        rc = pmq_buf_append_cstr(out, "content-length:");
        rc = rc != 0 ? rc : pmq_buf_append(out, digits + i, sizeof(digits) - i);
        rc = rc != 0 ? rc : pmq_buf_append(out, "\n", 1);
    }
    rc = rc != 0 ? rc : pmq_buf_append(out, "\n", 1);
    rc = rc != 0 ? rc : pmq_buf_append_slice(out, body);
    rc = rc != 0 ? rc : pmq_buf_append(out, "", 1);
    if (rc != 0) {
        out->len = saved;
    }
    return rc;
}

/* With add_content_length false, a caller-supplied content-length decides where the
 * peer ends the body, so it must be present when the body has a NUL and must match. */
static bool caller_length_is_consistent(const stomp_header_t *headers, size_t n,
                                        pmq_slice_t body) {
    for (size_t i = 0; i < n; i++) {
        if (pmq_slice_eq_cstr(headers[i].name, "content-length")) {
            uint64_t cl;
            return pmq_slice_to_u64(headers[i].value, UINT64_MAX, &cl) && cl == body.len;
        }
    }
    return !slice_has(body, '\0');
}

int stomp_encode(pmq_buf_t *out, stomp_version_t v, stomp_command_t cmd,
                 const stomp_header_t *headers, size_t n, pmq_slice_t body,
                 bool add_content_length) {
    if (!add_content_length && !caller_length_is_consistent(headers, n, body)) {
        return PMQ_EINVAL;
    }
    size_t saved = out->len;
    int rc = stomp_encode_begin(out, cmd);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (add_content_length && pmq_slice_eq_cstr(headers[i].name, "content-length")) {
            continue;
        }
        rc = stomp_encode_header(out, v, cmd, headers[i].name, headers[i].value);
    }
    rc = rc != 0 ? rc : stomp_encode_end(out, body, add_content_length);
    if (rc != 0) {
        out->len = saved;
    }
    return rc;
}

int stomp_parser_init(stomp_parser_t *p, const stomp_limits_t *limits) {
    return stomp_parser_init_shared(p, limits, NULL);
}
