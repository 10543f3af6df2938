/* Unit tests for src/proto/stomp/stomp_codec.c: round trips of every command in every
 * version, value encoding both ways, content-length with NULs, every malformed case,
 * limits (including early detection while streaming) and incremental parsing split at
 * seeded random points. Links only pmq_stomp_codec + pmq_base + cmocka. */
#include "test_util.h"

#include <stdio.h>

#include "paxmq/buf.h"
#include "paxmq/stomp.h"

#define LIT(s) (s), (sizeof(s) - 1)

typedef struct fx {
    stomp_parser_t p;
    char buf[16384];
    size_t consumed;
    stomp_frame_t f;
    pmq_proto_err_t err;
} fx_t;

static int fx_setup(void **state) {
    fx_t *x = test_calloc(1, sizeof(*x));
    stomp_limits_t l;
    stomp_limits_default(&l);
    assert_int_equal(stomp_parser_init(&x->p, &l), 0);
    *state = x;
    return 0;
}

static int fx_teardown(void **state) {
    fx_t *x = *state;
    stomp_parser_close(&x->p);
    test_free(x);
    return 0;
}

static void fx_limits(fx_t *x, size_t frame, size_t count, size_t line) {
    stomp_parser_close(&x->p);
    stomp_limits_t l = {frame, count, line};
    assert_int_equal(stomp_parser_init(&x->p, &l), 0);
}

/* Parses n bytes of s (copied into the mutable fixture buffer) from a fresh scan. */
static int fx_parse(fx_t *x, stomp_version_t v, const char *s, size_t n) {
    assert_true(n <= sizeof(x->buf));
    memcpy(x->buf, s, n);
    stomp_parser_reset(&x->p);
    stomp_parser_set_version(&x->p, v);
    memset(&x->err, 0, sizeof(x->err));
    return stomp_parse(&x->p, x->buf, n, &x->consumed, &x->f, &x->err);
}

static void assert_header(const stomp_frame_t *f, size_t i, const char *name, const char *value) {
    assert_true(i < f->header_count);
    assert_true(pmq_slice_eq_cstr(f->headers[i].name, name));
    assert_true(pmq_slice_eq_cstr(f->headers[i].value, value));
}

static void assert_reason(const fx_t *x, const char *needle) {
    if (strstr(x->err.reason, needle) == NULL) {
        fail_msg("reason '%s' lacks '%s'", x->err.reason, needle);
    }
    assert_true(x->err.must_close);
}

static const stomp_version_t k_versions[] = {STOMP_V1_0, STOMP_V1_1, STOMP_V1_2};

/* ---- commands ---- */

static void test_command_table(void **state) {
    (void)state;
    for (int c = STOMP_CMD_CONNECT; c < STOMP_CMD_COUNT; c++) {
        const char *name = stomp_command_name((stomp_command_t)c);
        assert_int_equal(stomp_command_lookup(pmq_slice_cstr(name)), c);
    }
    assert_string_equal(stomp_command_name(STOMP_CMD_SUBSCRIBE), "SUBSCRIBE");
    assert_string_equal(stomp_command_name(STOMP_CMD_UNKNOWN), "UNKNOWN");
    assert_string_equal(stomp_command_name((stomp_command_t)99), "UNKNOWN");
    assert_int_equal(stomp_command_lookup(PMQ_SLICE_LIT("send")), STOMP_CMD_UNKNOWN);
    assert_int_equal(stomp_command_lookup(PMQ_SLICE_LIT("SENDX")), STOMP_CMD_UNKNOWN);
    assert_int_equal(stomp_command_lookup(PMQ_SLICE_LIT("CONNECTE")), STOMP_CMD_UNKNOWN);
    assert_int_equal(stomp_command_lookup(PMQ_SLICE_LIT("")), STOMP_CMD_UNKNOWN);
}

/* ---- round trips ---- */

/* Headers every version can carry in every command (no CR, LF or ':' in names). */
static void roundtrip_one(fx_t *x, stomp_version_t v, stomp_command_t cmd, bool add_cl,
                          pmq_slice_t body) {
    bool esc = stomp_command_is_escaped(v, cmd);
    stomp_header_t hs[] = {
        {PMQ_SLICE_LIT("destination"), PMQ_SLICE_LIT("/queue/a.b")},
        {PMQ_SLICE_LIT("empty"), PMQ_SLICE_LIT("")},
        {PMQ_SLICE_LIT("spaces"), PMQ_SLICE_LIT("  padded value ")},
        {PMQ_SLICE_LIT("utf8"), PMQ_SLICE_LIT("h\xc3\xa9llo \xe2\x82\xac")},
        {PMQ_SLICE_LIT("colon"), PMQ_SLICE_LIT("a:b:c")},
        {PMQ_SLICE_LIT("backslash"), PMQ_SLICE_LIT("C:\\dir\\n")},
        /* Only escaping frames can carry a line feed or a colon in a name. */
        {esc ? PMQ_SLICE_LIT("we:ird\\") : PMQ_SLICE_LIT("plain"),
         esc ? PMQ_SLICE_LIT("line1\nline2") : PMQ_SLICE_LIT("x")},
    };
    size_t n = PMQ_ARRAY_LEN(hs);
    pmq_buf_t out;
    pmq_buf_init(&out, 0);
    assert_int_equal(stomp_encode(&out, v, cmd, hs, n, body, add_cl), 0);
    assert_true(out.len <= sizeof(x->buf));
    assert_int_equal(fx_parse(x, v, out.data, out.len), 0);
    assert_int_equal(x->consumed, out.len);
    assert_int_equal(x->f.command, cmd);
    assert_true(pmq_slice_eq_cstr(x->f.command_name, stomp_command_name(cmd)));
    assert_int_equal(x->f.header_count, n + (add_cl ? 1 : 0));
    for (size_t i = 0; i < n; i++) {
        assert_true(pmq_slice_eq(x->f.headers[i].name, hs[i].name));
        assert_true(pmq_slice_eq(x->f.headers[i].value, hs[i].value));
    }
    assert_int_equal(x->f.has_content_length, add_cl);
    assert_true(pmq_slice_eq(x->f.body, body));
    pmq_buf_close(&out);
}

static void test_roundtrip_every_command_every_version(void **state) {
    fx_t *x = *state;
    for (size_t vi = 0; vi < PMQ_ARRAY_LEN(k_versions); vi++) {
        for (int c = STOMP_CMD_CONNECT; c < STOMP_CMD_COUNT; c++) {
            roundtrip_one(x, k_versions[vi], (stomp_command_t)c, false, PMQ_SLICE_LIT(""));
            roundtrip_one(x, k_versions[vi], (stomp_command_t)c, false,
                          PMQ_SLICE_LIT("text body\nwith lines\r\n"));
            roundtrip_one(x, k_versions[vi], (stomp_command_t)c, true,
                          pmq_slice("bin\0ary\0", 8));
        }
    }
}

static void test_encode_exact_bytes(void **state) {
    (void)state;
    pmq_buf_t out;
    pmq_buf_init(&out, 0);
    stomp_header_t hs[] = {{PMQ_SLICE_LIT("destination"), PMQ_SLICE_LIT("/queue/a")},
                           {PMQ_SLICE_LIT("k:1"), PMQ_SLICE_LIT("v\\\n:\r")}};
    assert_int_equal(stomp_encode(&out, STOMP_V1_2, STOMP_CMD_MESSAGE, hs, 2,
                                  PMQ_SLICE_LIT("hi"), true),
                     0);
    const char want[] = "MESSAGE\ndestination:/queue/a\nk\\c1:v\\\\\\n\\c\\r\n"
                        "content-length:2\n\nhi";
    assert_int_equal(out.len, sizeof(want));
    assert_memory_equal(out.data, want, sizeof(want)); /* includes the trailing NUL */
    pmq_buf_close(&out);
}

/* ---- value encoding ---- */

static void test_escape_per_version(void **state) {
    (void)state;
    static const struct {
        stomp_version_t v;
        const char *want;
    } cases[] = {
        {STOMP_V1_0, "a\\b\nc:d\re"},
        {STOMP_V1_1, "a\\\\b\\nc\\cd\re"},
        {STOMP_V1_2, "a\\\\b\\nc\\cd\\re"},
    };
    for (size_t i = 0; i < PMQ_ARRAY_LEN(cases); i++) {
        pmq_buf_t out;
        pmq_buf_init(&out, 0);
        assert_int_equal(stomp_escape(&out, cases[i].v, PMQ_SLICE_LIT("a\\b\nc:d\re")), 0);
        assert_true(pmq_slice_eq_cstr(pmq_buf_slice(&out), cases[i].want));
        pmq_buf_close(&out);
    }
}

static void test_unescape_per_version(void **state) {
    fx_t *x = *state;
    const char raw[] = "SEND\nk\\cx:a\\nb\\\\c\\cd\n\n";
    assert_int_equal(fx_parse(x, STOMP_V1_2, raw, sizeof(raw)), 0);
    assert_header(&x->f, 0, "k:x", "a\nb\\c:d");
    assert_int_equal(fx_parse(x, STOMP_V1_1, raw, sizeof(raw)), 0);
    assert_header(&x->f, 0, "k:x", "a\nb\\c:d");
    /* 1.0 has no value encoding: everything after the first ':' is the value. */
    assert_int_equal(fx_parse(x, STOMP_V1_0, raw, sizeof(raw)), 0);
    assert_header(&x->f, 0, "k\\cx", "a\\nb\\\\c\\cd");

    const char cr[] = "SEND\nk:a\\rb\n\n";
    assert_int_equal(fx_parse(x, STOMP_V1_2, cr, sizeof(cr)), 0);
    assert_header(&x->f, 0, "k", "a\rb");
    assert_int_equal(fx_parse(x, STOMP_V1_1, cr, sizeof(cr)), PMQ_EPROTO);
    assert_reason(x, "undefined escape sequence '\\r'");
    assert_int_equal(fx_parse(x, STOMP_V1_0, cr, sizeof(cr)), 0);
    assert_header(&x->f, 0, "k", "a\\rb");
}

static void test_parser_defaults_to_no_unescaping(void **state) {
    fx_t *x = *state;
    const char raw[] = "SEND\nk:a\\tb\n\n";
    memcpy(x->buf, raw, sizeof(raw));
    assert_int_equal(stomp_parse(&x->p, x->buf, sizeof(raw), &x->consumed, &x->f, &x->err), 0);
    assert_header(&x->f, 0, "k", "a\\tb");
}

static void test_connect_frames_never_unescaped(void **state) {
    fx_t *x = *state;
    static const char *const cmds[] = {"CONNECT", "STOMP", "CONNECTED"};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(cmds); i++) {
        char raw[128];
        int n = snprintf(raw, sizeof(raw), "%s\nlogin:dom\\user\npasscode:p\\tq\\\n\n", cmds[i]);
        assert_int_equal(fx_parse(x, STOMP_V1_2, raw, (size_t)n + 1), 0);
        assert_header(&x->f, 0, "login", "dom\\user");
        assert_header(&x->f, 1, "passcode", "p\\tq\\");
    }
    /* The encoder agrees: CONNECTED values go out verbatim even in 1.2. */
    pmq_buf_t out;
    pmq_buf_init(&out, 0);
    assert_int_equal(stomp_encode_header(&out, STOMP_V1_2, STOMP_CMD_CONNECTED,
                                         PMQ_SLICE_LIT("server"), PMQ_SLICE_LIT("a\\b:c")),
                     0);
    assert_true(pmq_slice_eq_cstr(pmq_buf_slice(&out), "server:a\\b:c\n"));
    pmq_buf_close(&out);
}

static void test_colon_in_value_is_kept(void **state) {
    fx_t *x = *state;
    const char raw[] = "SEND\ndestination:/queue/a:b\nurl:http://h:1/x\n\n";
    for (size_t vi = 0; vi < PMQ_ARRAY_LEN(k_versions); vi++) {
        assert_int_equal(fx_parse(x, k_versions[vi], raw, sizeof(raw)), 0);
        assert_header(&x->f, 0, "destination", "/queue/a:b");
        assert_header(&x->f, 1, "url", "http://h:1/x");
    }
}

static void test_undefined_escapes_rejected(void **state) {
    fx_t *x = *state;
    const char tab[] = "SEND\nk:a\\tb\n\n";
    assert_int_equal(fx_parse(x, STOMP_V1_2, tab, sizeof(tab)), PMQ_EPROTO);
    assert_reason(x, "undefined escape sequence '\\t'");
    const char lone_value[] = "SEND\nk:ab\\\n\n";
    assert_int_equal(fx_parse(x, STOMP_V1_1, lone_value, sizeof(lone_value)), PMQ_EPROTO);
    assert_reason(x, "undefined escape sequence");
    const char lone_name[] = "SEND\nk\\:v\n\n";
    assert_int_equal(fx_parse(x, STOMP_V1_2, lone_name, sizeof(lone_name)), PMQ_EPROTO);
    assert_reason(x, "undefined escape sequence");
    const char upper[] = "SEND\nk:\\N\n\n";
    assert_int_equal(fx_parse(x, STOMP_V1_2, upper, sizeof(upper)), PMQ_EPROTO);
}

/* ---- structure ---- */

static void test_whitespace_not_trimmed(void **state) {
    fx_t *x = *state;
    const char raw[] = "SEND\n key : value \n\n";
    for (size_t vi = 0; vi < PMQ_ARRAY_LEN(k_versions); vi++) {
        assert_int_equal(fx_parse(x, k_versions[vi], raw, sizeof(raw)), 0);
        assert_header(&x->f, 0, " key ", " value ");
    }
}

static void test_crlf_frames(void **state) {
    fx_t *x = *state;
    const char raw[] = "SEND\r\ndestination:/queue/a\r\nreceipt:r1\r\n\r\nhi\r\n";
    for (size_t vi = 0; vi < PMQ_ARRAY_LEN(k_versions); vi++) {
        assert_int_equal(fx_parse(x, k_versions[vi], raw, sizeof(raw)), 0);
        assert_true(pmq_slice_eq_cstr(x->f.command_name, "SEND"));
        assert_int_equal(x->f.header_count, 2);
        assert_header(&x->f, 0, "destination", "/queue/a");
        assert_header(&x->f, 1, "receipt", "r1");
        assert_true(pmq_slice_eq_cstr(x->f.body, "hi\r\n"));
        assert_int_equal(x->consumed, sizeof(raw));
    }
}

static void test_heartbeats_and_trailing_eols(void **state) {
    fx_t *x = *state;
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("\n\r\n\n")), PMQ_EAGAIN);
    assert_int_equal(x->consumed, 4);
    /* A lone CR may still become CRLF: it is kept. */
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("\n\r")), PMQ_EAGAIN);
    assert_int_equal(x->consumed, 1);
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("\r\nSEND\n")), PMQ_EAGAIN);
    assert_int_equal(x->consumed, 2);
    /* Frames with heart-beats around them: the EOLs after a NUL go with its frame. */
    const char two[] = "\n\nBEGIN\ntransaction:t\n\n\0\n\r\n\nCOMMIT\ntransaction:t\n\n\0\r";
    char *b = x->buf;
    memcpy(b, two, sizeof(two) - 1);
    size_t len = sizeof(two) - 1;
    stomp_parser_reset(&x->p);
    assert_int_equal(stomp_parse(&x->p, b, len, &x->consumed, &x->f, &x->err), 0);
    assert_int_equal(x->f.command, STOMP_CMD_BEGIN);
    assert_int_equal(x->consumed, 2 + 22 + 4);
    b += x->consumed;
    len -= x->consumed;
    assert_int_equal(stomp_parse(&x->p, b, len, &x->consumed, &x->f, &x->err), 0);
    assert_int_equal(x->f.command, STOMP_CMD_COMMIT);
    assert_int_equal(x->consumed, len - 1);
}

static void test_body_runs_to_first_nul(void **state) {
    fx_t *x = *state;
    const char raw[] = "SEND\ndestination:/q\n\nabc\0def\0\n";
    assert_int_equal(fx_parse(x, STOMP_V1_2, raw, sizeof(raw) - 1), 0);
    assert_true(pmq_slice_eq_cstr(x->f.body, "abc"));
    assert_false(x->f.has_content_length);
    /* "def\0" is no frame: unknown command. */
    assert_int_equal(stomp_parse(&x->p, x->buf + x->consumed, sizeof(raw) - 1 - x->consumed,
                                 &x->consumed, &x->f, &x->err),
                     PMQ_EPROTO);
    assert_reason(x, "unknown command 'def?'");
}

static void test_content_length_with_nuls(void **state) {
    fx_t *x = *state;
    const char raw[] = "SEND\ncontent-length:5\ndestination:/q\n\na\0b\0c\0";
    assert_int_equal(fx_parse(x, STOMP_V1_2, raw, sizeof(raw) - 1), 0);
    assert_true(x->f.has_content_length);
    assert_int_equal(x->f.body.len, 5);
    assert_memory_equal(x->f.body.ptr, "a\0b\0c", 5);
    assert_int_equal(x->consumed, sizeof(raw) - 1);
    /* Waits for the counted bytes even when a NUL arrives earlier. */
    assert_int_equal(fx_parse(x, STOMP_V1_2, raw, sizeof(raw) - 3), PMQ_EAGAIN);
    assert_int_equal(x->consumed, 0);
}

static void test_content_length_zero_and_repeated(void **state) {
    fx_t *x = *state;
    const char raw[] = "SEND\ncontent-length:0\ncontent-length:junk\n\n\0";
    assert_int_equal(fx_parse(x, STOMP_V1_2, raw, sizeof(raw) - 1), 0);
    assert_int_equal(x->f.body.len, 0);
    pmq_slice_t v;
    assert_true(stomp_frame_header_value(&x->f, "content-length", &v));
    assert_true(pmq_slice_eq_cstr(v, "0"));
}

static void test_content_length_not_followed_by_nul(void **state) {
    fx_t *x = *state;
    const char raw[] = "SEND\ncontent-length:2\n\nabc\0";
    assert_int_equal(fx_parse(x, STOMP_V1_2, raw, sizeof(raw) - 1), PMQ_EPROTO);
    assert_reason(x, "frame body not terminated by NUL after content-length bytes");
    assert_int_equal(x->consumed, 0);
}

static void test_content_length_invalid(void **state) {
    fx_t *x = *state;
    static const char *const bad[] = {"abc", "", "-1", "+1", " 1", "1 ", "0x10", "1.0",
                                      "99999999999999999999999", "18446744073709551616"};
    for (size_t i = 0; i < PMQ_ARRAY_LEN(bad); i++) {
        char raw[128];
        int n = snprintf(raw, sizeof(raw), "SEND\ncontent-length:%s\n\n", bad[i]);
        assert_int_equal(fx_parse(x, STOMP_V1_2, raw, (size_t)n + 1), PMQ_EPROTO);
        assert_reason(x, "invalid content-length");
    }
}

static void test_content_length_over_limit_fails_before_body(void **state) {
    fx_t *x = *state;
    fx_limits(x, 1024, 16, 256);
    const char raw[] = "SEND\ncontent-length:100000\n\n";
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT(raw)), PMQ_ETOOBIG);
    assert_reason(x, "frame exceeds 1024 bytes (stomp.frame_bytes_max)");
    const char huge[] = "SEND\ncontent-length:18446744073709551615\n\n";
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT(huge)), PMQ_ETOOBIG);
}

static void test_malformed_headers(void **state) {
    fx_t *x = *state;
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nnocolon\n\n\0")), PMQ_EPROTO);
    assert_reason(x, "header line without ':'");
    assert_int_equal(fx_parse(x, STOMP_V1_0, LIT("SEND\n:value\n\n\0")), PMQ_EPROTO);
    assert_reason(x, "empty header name");
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:v\0x\n\n\0")), PMQ_EPROTO);
    assert_reason(x, "NUL byte in a header line");
    assert_int_equal(fx_parse(x, STOMP_V1_1, LIT("SEND\nk:a\rb\n\n\0")), PMQ_EPROTO);
    assert_reason(x, "carriage return inside a header line");
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:v\r\r\n\n\0")), PMQ_EPROTO);
    /* A frame without its blank line has its NUL inside a header line. */
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:v\n\0")), PMQ_EAGAIN);
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:v\n\0\n")), PMQ_EPROTO);
}

static void test_invalid_utf8_rejected(void **state) {
    fx_t *x = *state;
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:\xc0\xaf\n\n\0")), PMQ_EPROTO);
    assert_reason(x, "not valid UTF-8");
    assert_int_equal(fx_parse(x, STOMP_V1_0, LIT("SEND\n\xff:v\n\n\0")), PMQ_EPROTO);
    assert_reason(x, "not valid UTF-8");
    assert_int_equal(fx_parse(x, STOMP_V1_1, LIT("SEND\nk:\xed\xa0\x80\n\n\0")), PMQ_EPROTO);
    /* The body is opaque bytes. */
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:v\n\n\xff\xfe\0")), 0);
}

static void test_bad_commands(void **state) {
    fx_t *x = *state;
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("FOO\x01" "BAR\n\n\0")), PMQ_EPROTO);
    assert_reason(x, "unknown command 'FOO?BAR'");
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("send\n\n\0")), PMQ_EPROTO);
    assert_reason(x, "unknown command 'send'");
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND \n\n\0")), PMQ_EPROTO);
    char line[200];
    memset(line, 'A', sizeof(line));
    /* 64 bytes is the longest command line (still unknown); 65 is too long, and is
     * rejected as soon as 66 bytes without EOL have arrived. */
    line[64] = '\n';
    assert_int_equal(fx_parse(x, STOMP_V1_2, line, 65), PMQ_EPROTO);
    assert_reason(x, "unknown command 'AAAA");
    line[64] = 'A';
    line[65] = '\n';
    assert_int_equal(fx_parse(x, STOMP_V1_2, line, 66), PMQ_EPROTO);
    assert_reason(x, "command line longer than 64 bytes");
    memset(line, 'A', sizeof(line));
    assert_int_equal(fx_parse(x, STOMP_V1_2, line, 66), PMQ_EAGAIN);
    assert_int_equal(fx_parse(x, STOMP_V1_2, line, 67), PMQ_EPROTO);
    assert_reason(x, "command line longer than 64 bytes");
}

/* ---- limits ---- */

static void test_limit_frame_bytes(void **state) {
    fx_t *x = *state;
    fx_limits(x, 64, 16, 64);
    /* Exactly 64 bytes: head "SEND\n\n" (6) + 57 body + NUL. */
    char raw[200];
    memcpy(raw, "SEND\n\n", 6);
    memset(raw + 6, 'b', 100);
    raw[63] = '\0';
    assert_int_equal(fx_parse(x, STOMP_V1_2, raw, 64), 0);
    assert_int_equal(x->f.body.len, 57);
    raw[63] = 'b';
    raw[64] = '\0';
    assert_int_equal(fx_parse(x, STOMP_V1_2, raw, 65), PMQ_ETOOBIG);
    assert_reason(x, "frame exceeds 64 bytes (stomp.frame_bytes_max)");
    /* Streaming: 63 bytes without NUL could still be a legal frame, 64 cannot. */
    assert_int_equal(fx_parse(x, STOMP_V1_2, raw, 63), PMQ_EAGAIN);
    assert_int_equal(fx_parse(x, STOMP_V1_2, raw, 64), PMQ_ETOOBIG);
    /* A head that never ends is caught by the same limit. */
    char head[200];
    memcpy(head, "SEND\n", 5);
    for (size_t i = 5; i + 4 <= sizeof(head); i += 4) {
        memcpy(head + i, "k:v\n", 4);
    }
    assert_int_equal(fx_parse(x, STOMP_V1_2, head, 63), PMQ_EAGAIN);
    assert_int_equal(fx_parse(x, STOMP_V1_2, head, 64), PMQ_ETOOBIG);
}

static void test_limit_header_count(void **state) {
    fx_t *x = *state;
    fx_limits(x, 4096, 3, 64);
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\na:1\nb:2\nc:3\n\n\0")), 0);
    assert_int_equal(x->f.header_count, 3);
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\na:1\nb:2\nc:3\nd:4\n")), PMQ_ETOOBIG);
    assert_reason(x, "more than 3 headers (stomp.header_count_max)");
    fx_limits(x, 4096, 0, 64);
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("DISCONNECT\n\n\0")), 0);
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("DISCONNECT\nreceipt:1\n\n\0")), PMQ_ETOOBIG);
}

static void test_limit_header_bytes(void **state) {
    fx_t *x = *state;
    fx_limits(x, 4096, 8, 10);
    /* "k:12345678" is 10 bytes: allowed, also with CRLF. */
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:12345678\r\n\n\0")), 0);
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:123456789\n\n\0")), PMQ_ETOOBIG);
    assert_reason(x, "header line exceeds 10 bytes (stomp.header_bytes_max)");
    /* Streaming: 12 bytes of one line without LF (10 + CR + ?) already prove it. */
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:12345678\r")), PMQ_EAGAIN);
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:123456789\r")), PMQ_EAGAIN);
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:1234567890\r")), PMQ_ETOOBIG);
    /* Escapes count as received: 5 escaped bytes are 10 on the wire. */
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:\\n\\n\\n\\n\n\n\0")), 0);
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("SEND\nk:\\n\\n\\n\\nx\n\n\0")), PMQ_ETOOBIG);
}

static void test_parser_init_rejects_bad_limits(void **state) {
    (void)state;
    stomp_parser_t p;
    stomp_limits_t l = {0, 10, 10};
    assert_int_equal(stomp_parser_init(&p, &l), PMQ_EINVAL);
    l = (stomp_limits_t){100, 10, 0};
    assert_int_equal(stomp_parser_init(&p, &l), PMQ_EINVAL);
    l = (stomp_limits_t){100, STOMP_HEADER_COUNT_MAX_CEILING + 1, 10};
    assert_int_equal(stomp_parser_init(&p, &l), PMQ_EINVAL);
    stomp_limits_default(&l);
    assert_int_equal(l.frame_bytes_max, 4194304);
    assert_int_equal(stomp_parser_init(&p, &l), 0);
    stomp_parser_close(&p);
    stomp_parser_close(&p);
}

/* ---- lookups ---- */

static void test_repeated_headers_first_wins(void **state) {
    fx_t *x = *state;
    assert_int_equal(fx_parse(x, STOMP_V1_2, LIT("MESSAGE\nfoo:World\nfoo:Hello\n\n\0")), 0);
    const stomp_header_t *h = stomp_frame_header(&x->f, "foo");
    assert_non_null(h);
    assert_true(pmq_slice_eq_cstr(h->value, "World"));
    assert_null(stomp_frame_header(&x->f, "Foo"));
    pmq_slice_t v = PMQ_SLICE_LIT("untouched");
    assert_false(stomp_frame_header_value(&x->f, "bar", &v));
    assert_true(pmq_slice_eq_cstr(v, "untouched"));
}

/* ---- encoder guards ---- */

static void test_encode_rejects_unencodable(void **state) {
    (void)state;
    pmq_buf_t out;
    pmq_buf_init(&out, 0);
    assert_int_equal(pmq_buf_append_cstr(&out, "prefix"), 0);
    pmq_slice_t nl = PMQ_SLICE_LIT("a\nb");
    pmq_slice_t k = PMQ_SLICE_LIT("k");
    assert_int_equal(stomp_encode_header(&out, STOMP_V1_0, STOMP_CMD_SEND, k, nl), PMQ_EINVAL);
    assert_int_equal(stomp_encode_header(&out, STOMP_V1_2, STOMP_CMD_CONNECTED, k, nl),
                     PMQ_EINVAL);
    assert_int_equal(stomp_encode_header(&out, STOMP_V1_0, STOMP_CMD_SEND,
                                         PMQ_SLICE_LIT("a:b"), k),
                     PMQ_EINVAL);
    assert_int_equal(stomp_encode_header(&out, STOMP_V1_1, STOMP_CMD_SEND, k,
                                         PMQ_SLICE_LIT("a\rb")),
                     PMQ_EINVAL);
    assert_int_equal(stomp_encode_header(&out, STOMP_V1_2, STOMP_CMD_SEND, PMQ_SLICE_LIT(""), k),
                     PMQ_EINVAL);
    assert_int_equal(stomp_encode_header(&out, STOMP_V1_2, STOMP_CMD_SEND, k,
                                         PMQ_SLICE_LIT("\xff")),
                     PMQ_EINVAL);
    assert_int_equal(stomp_encode_header(&out, STOMP_V1_2, STOMP_CMD_SEND, k, pmq_slice("a\0", 2)),
                     PMQ_EINVAL);
    assert_true(stomp_header_is_encodable(STOMP_V1_2, STOMP_CMD_SEND, k, PMQ_SLICE_LIT("a\rb")));
    /* A body with NUL needs a content-length, and a caller's one must match. */
    pmq_slice_t nul_body = pmq_slice("x\0y", 3);
    assert_int_equal(stomp_encode(&out, STOMP_V1_2, STOMP_CMD_SEND, NULL, 0, nul_body, false),
                     PMQ_EINVAL);
    stomp_header_t wrong = {PMQ_SLICE_LIT("content-length"), PMQ_SLICE_LIT("2")};
    assert_int_equal(stomp_encode(&out, STOMP_V1_2, STOMP_CMD_SEND, &wrong, 1, nul_body, false),
                     PMQ_EINVAL);
    stomp_header_t bad[] = {{k, PMQ_SLICE_LIT("ok")}, {k, nl}};
    assert_int_equal(stomp_encode(&out, STOMP_V1_0, STOMP_CMD_SEND, bad, 2, k, true), PMQ_EINVAL);
    assert_true(pmq_slice_eq_cstr(pmq_buf_slice(&out), "prefix"));
    pmq_buf_close(&out);
}

static void test_encode_content_length_replaces_callers(void **state) {
    fx_t *x = *state;
    pmq_buf_t out;
    pmq_buf_init(&out, 0);
    stomp_header_t hs[] = {{PMQ_SLICE_LIT("content-length"), PMQ_SLICE_LIT("999")},
                           {PMQ_SLICE_LIT("destination"), PMQ_SLICE_LIT("/queue/q")}};
    assert_int_equal(stomp_encode(&out, STOMP_V1_2, STOMP_CMD_SEND, hs, 2,
                                  pmq_slice("a\0b", 3), true),
                     0);
    assert_int_equal(fx_parse(x, STOMP_V1_2, out.data, out.len), 0);
    assert_int_equal(x->f.header_count, 2);
    assert_header(&x->f, 0, "destination", "/queue/q");
    assert_header(&x->f, 1, "content-length", "3");
    pmq_buf_close(&out);
}

static void test_encode_respects_buffer_limit(void **state) {
    (void)state;
    pmq_buf_t out;
    pmq_buf_init(&out, 40);
    assert_int_equal(pmq_buf_append_cstr(&out, "x"), 0);
    stomp_header_t h = {PMQ_SLICE_LIT("destination"), PMQ_SLICE_LIT("/queue/quite-long-name")};
    assert_int_equal(stomp_encode(&out, STOMP_V1_2, STOMP_CMD_SEND, &h, 1, PMQ_SLICE_LIT(""),
                                  false),
                     PMQ_ETOOBIG);
    assert_int_equal(out.len, 1);
    assert_int_equal(stomp_escape(&out, STOMP_V1_2, PMQ_SLICE_LIT("::::::::::::::::::::::")),
                     PMQ_ETOOBIG);
    assert_int_equal(out.len, 1);
    pmq_buf_close(&out);
}

/* ---- incremental parsing ---- */

/* Appends a canonical, length-prefixed dump of f, so two parses can be compared. */
static void dump_frame(pmq_buf_t *d, const stomp_frame_t *f) {
    assert_int_equal(pmq_buf_appendf(d, "%s %zu %d|", stomp_command_name(f->command),
                                     f->header_count, (int)f->has_content_length),
                     0);
    for (size_t i = 0; i < f->header_count; i++) {
        assert_int_equal(pmq_buf_appendf(d, "%zu:", f->headers[i].name.len), 0);
        assert_int_equal(pmq_buf_append_slice(d, f->headers[i].name), 0);
        assert_int_equal(pmq_buf_appendf(d, "%zu:", f->headers[i].value.len), 0);
        assert_int_equal(pmq_buf_append_slice(d, f->headers[i].value), 0);
    }
    assert_int_equal(pmq_buf_appendf(d, "|%zu:", f->body.len), 0);
    assert_int_equal(pmq_buf_append_slice(d, f->body), 0);
    assert_int_equal(pmq_buf_append(d, "\n", 1), 0);
}

/* Feeds stream in chunks of 1..max_chunk bytes (rng) or whole (rng NULL), dropping what
 * each parse consumed, as a connection would. Returns the frame count; the stream must
 * parse without error and leave nothing behind. */
static size_t feed_stream_stat(stomp_version_t v, pmq_slice_t stream, pmq_rng_t *rng,
                               size_t max_chunk, pmq_buf_t *dump, uint64_t *scanned) {
    stomp_parser_t p;
    stomp_limits_t l;
    stomp_limits_default(&l);
    assert_int_equal(stomp_parser_init(&p, &l), 0);
    stomp_parser_set_version(&p, v);
    pmq_buf_t in;
    pmq_buf_init(&in, 0);
    size_t fed = 0;
    size_t frames = 0;
    while (fed < stream.len) {
        size_t n = rng != NULL ? (size_t)pmq_rng_range(rng, 1, max_chunk) : stream.len;
        n = PMQ_MIN(n, stream.len - fed);
        assert_int_equal(pmq_buf_append(&in, stream.ptr + fed, n), 0);
        fed += n;
        for (;;) {
            size_t consumed = 0;
            stomp_frame_t f;
            pmq_proto_err_t err;
            int rc = stomp_parse(&p, in.data, in.len, &consumed, &f, &err);
            if (rc != 0 && rc != PMQ_EAGAIN) {
                fail_msg("parse failed at %zu: %s", fed, err.reason);
            }
            if (rc == 0) {
                dump_frame(dump, &f);
                frames++;
            }
            if (consumed > 0) {
                pmq_buf_consume(&in, consumed);
            }
            if (rc == PMQ_EAGAIN) {
                break;
            }
        }
    }
    assert_int_equal(in.len, 0);
    pmq_buf_close(&in);
    *scanned = p.scanned_bytes;
    stomp_parser_close(&p);
    return frames;
}

static size_t feed_stream(stomp_version_t v, pmq_slice_t stream, pmq_rng_t *rng,
                          size_t max_chunk, pmq_buf_t *dump) {
    uint64_t scanned;
    return feed_stream_stat(v, stream, rng, max_chunk, dump, &scanned);
}

/* A stream of encoded frames of every command plus hand-written CRLF frames, with
 * heart-beats between them. Returns how many frames it holds. */
static size_t build_corpus(pmq_buf_t *s, stomp_version_t v) {
    size_t frames = 0;
    stomp_header_t hs[] = {{PMQ_SLICE_LIT("destination"), PMQ_SLICE_LIT("/topic/x.y")},
                           {PMQ_SLICE_LIT("id"), PMQ_SLICE_LIT("sub-0")},
                           {PMQ_SLICE_LIT("note"), PMQ_SLICE_LIT("a:b\\c")}};
    for (int c = STOMP_CMD_CONNECT; c < STOMP_CMD_COUNT; c++) {
        bool cl = c % 2 == 0;
        pmq_slice_t body = cl ? pmq_slice("\0bin\0", 5) : PMQ_SLICE_LIT("plain text");
        assert_int_equal(stomp_encode(s, v, (stomp_command_t)c, hs, 3, body, cl), 0);
        frames++;
        assert_int_equal(pmq_buf_append_cstr(s, c % 3 == 0 ? "\r\n\n" : "\n"), 0);
    }
    assert_int_equal(pmq_buf_append_cstr(s, "SEND\r\ndestination:/queue/crlf\r\n\r\nbody"), 0);
    assert_int_equal(pmq_buf_append(s, "\0\r\n", 3), 0);
    assert_int_equal(pmq_buf_append_cstr(s, "ACK\r\nid:7\r\n\r\n"), 0);
    assert_int_equal(pmq_buf_append(s, "\0", 1), 0);
    assert_int_equal(pmq_buf_append_cstr(s, "\n\n"), 0);
    return frames + 2;
}

static void test_incremental_byte_by_byte_and_random_splits(void **state) {
    (void)state;
    pmq_rng_t rng;
    pmq_rng_seed(&rng, 0x5709c0dec);
    for (size_t vi = 0; vi < PMQ_ARRAY_LEN(k_versions); vi++) {
        stomp_version_t v = k_versions[vi];
        pmq_buf_t stream;
        pmq_buf_init(&stream, 0);
        size_t want = build_corpus(&stream, v);
        pmq_buf_t whole;
        pmq_buf_init(&whole, 0);
        assert_int_equal(feed_stream(v, pmq_buf_slice(&stream), NULL, 0, &whole), want);
        static const size_t max_chunks[] = {1, 2, 3, 7, 16, 64, 500};
        for (size_t ci = 0; ci < PMQ_ARRAY_LEN(max_chunks); ci++) {
            for (int round = 0; round < (max_chunks[ci] == 1 ? 1 : 20); round++) {
                pmq_buf_t split;
                pmq_buf_init(&split, 0);
                size_t got = feed_stream(v, pmq_buf_slice(&stream), &rng, max_chunks[ci], &split);
                assert_int_equal(got, want);
                assert_int_equal(split.len, whole.len);
                assert_memory_equal(split.data, whole.data, whole.len);
                pmq_buf_close(&split);
            }
        }
        pmq_buf_close(&whole);
        pmq_buf_close(&stream);
    }
}

/* A 2 MiB frame (and a head of 500 headers) fed one byte at a time: each call must
 * resume where the last one stopped, so the bytes searched stay below the bytes fed. */
static void test_incremental_large_frames_linear(void **state) {
    (void)state;
    size_t body_len = 2u << 20;
    char *body = test_malloc(body_len);
    memset(body, 'z', body_len);
    stomp_header_t hs[500];
    char names[500][8];
    for (size_t i = 0; i < PMQ_ARRAY_LEN(hs); i++) {
        snprintf(names[i], sizeof(names[i]), "h%zu", i);
        hs[i] = (stomp_header_t){pmq_slice_cstr(names[i]), PMQ_SLICE_LIT("v\\:\n")};
    }
    pmq_buf_t stream;
    pmq_buf_init(&stream, 0);
    assert_int_equal(stomp_encode(&stream, STOMP_V1_2, STOMP_CMD_SEND, hs, 500,
                                  pmq_slice(body, body_len), false),
                     0);
    assert_int_equal(stomp_encode(&stream, STOMP_V1_2, STOMP_CMD_SEND, hs, 2,
                                  pmq_slice(body, body_len), true),
                     0);
    pmq_rng_t rng;
    pmq_rng_seed(&rng, 7);
    pmq_buf_t dump;
    pmq_buf_init(&dump, 0);
    uint64_t t0 = pmq_mono_ms();
    uint64_t scanned = 0;
    assert_int_equal(feed_stream_stat(STOMP_V1_2, pmq_buf_slice(&stream), &rng, 1, &dump,
                                      &scanned),
                     2);
    print_message("fed %zu bytes one at a time in %llu ms, scanned %llu bytes\n", stream.len,
                  (unsigned long long)(pmq_mono_ms() - t0), (unsigned long long)scanned);
    /* Each byte is searched at most once (the content-length body not even once). */
    assert_true(scanned <= stream.len);
    pmq_buf_close(&dump);
    pmq_buf_close(&stream);
    test_free(body);
}

/* ---- no allocation per frame ---- */

static size_t g_allocs;
static void *count_malloc(size_t n) { g_allocs++; return test_malloc(n); }
static void *count_calloc(size_t c, size_t n) { g_allocs++; return test_calloc(c, n); }
static void *count_realloc(void *p, size_t n) { g_allocs++; return test_realloc(p, n); }
static void count_free(void *p) { test_free(p); }

static void test_parse_does_not_allocate(void **state) {
    fx_t *x = *state;
    pmq_buf_t s;
    pmq_buf_init(&s, 0);
    size_t want = build_corpus(&s, STOMP_V1_2);
    assert_true(s.len <= sizeof(x->buf));
    memcpy(x->buf, s.data, s.len);
    stomp_parser_set_version(&x->p, STOMP_V1_2);
    static const pmq_alloc_hooks_t counting = {count_malloc, count_calloc, count_realloc,
                                               count_free};
    pmq_alloc_set_hooks(&counting);
    g_allocs = 0;
    size_t off = 0;
    size_t frames = 0;
    while (stomp_parse(&x->p, x->buf + off, s.len - off, &x->consumed, &x->f, &x->err) == 0) {
        off += x->consumed;
        frames++;
    }
    size_t allocs = g_allocs;
    pmq_test_use_cmocka_allocator();
    assert_int_equal(frames, want);
    assert_int_equal(allocs, 0);
    pmq_buf_close(&s);
}

#define FX(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(void) {
    pmq_test_use_cmocka_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_table),
        FX(test_roundtrip_every_command_every_version),
        cmocka_unit_test(test_encode_exact_bytes),
        cmocka_unit_test(test_escape_per_version),
        FX(test_unescape_per_version),
        FX(test_parser_defaults_to_no_unescaping),
        FX(test_connect_frames_never_unescaped),
        FX(test_colon_in_value_is_kept),
        FX(test_undefined_escapes_rejected),
        FX(test_whitespace_not_trimmed),
        FX(test_crlf_frames),
        FX(test_heartbeats_and_trailing_eols),
        FX(test_body_runs_to_first_nul),
        FX(test_content_length_with_nuls),
        FX(test_content_length_zero_and_repeated),
        FX(test_content_length_not_followed_by_nul),
        FX(test_content_length_invalid),
        FX(test_content_length_over_limit_fails_before_body),
        FX(test_malformed_headers),
        FX(test_invalid_utf8_rejected),
        FX(test_bad_commands),
        FX(test_limit_frame_bytes),
        FX(test_limit_header_count),
        FX(test_limit_header_bytes),
        cmocka_unit_test(test_parser_init_rejects_bad_limits),
        FX(test_repeated_headers_first_wins),
        cmocka_unit_test(test_encode_rejects_unencodable),
        FX(test_encode_content_length_replaces_callers),
        cmocka_unit_test(test_encode_respects_buffer_limit),
        cmocka_unit_test(test_incremental_byte_by_byte_and_random_splits),
        cmocka_unit_test(test_incremental_large_frames_linear),
        FX(test_parse_does_not_allocate),
    };
    return cmocka_run_group_tests_name("stomp_codec", tests, NULL, NULL);
}
