/* Basic authentication for mutating admin requests (RFC 7617).
 *
 * The configured user and password are compared in constant time with respect to the
 * submitted values (only the configured lengths can leak), so a client cannot find the
 * password byte by byte from response timing. */
#define PMQ_HTTP_SERVER_INTERNALS 1
#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

#define AUTH_DECODED_MAX 512

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with padding; returns the decoded length or -1. */
static int b64_decode(pmq_slice_t in, unsigned char *out, size_t cap) {
    if (in.len % 4 != 0) {
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < in.len; i += 4) {
        int v[4];
        int pad = 0;
        if (i + 4 == in.len && in.ptr[i + 3] == '=') {
            pad = in.ptr[i + 2] == '=' ? 2 : 1;
        }
        for (int k = 0; k < 4; k++) {
            v[k] = k >= 4 - pad ? 0 : b64_value((unsigned char)in.ptr[i + (size_t)k]);
            if (v[k] < 0) {
                return -1;
            }
        }
        uint32_t triple = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) |
                          ((uint32_t)v[2] << 6) | (uint32_t)v[3];
        if (n + 3 - (size_t)pad > cap) {
            return -1;
        }
        out[n++] = (unsigned char)(triple >> 16);
        if (pad < 2) {
            out[n++] = (unsigned char)(triple >> 8);
        }
        if (pad < 1) {
            out[n++] = (unsigned char)triple;
        }
    }
    return (int)n;
}

/* Constant time in the length of want: every byte of want is compared. */
static bool ct_equal(const unsigned char *got, size_t got_len, const char *want) {
    size_t want_len = strlen(want);
    unsigned diff = (unsigned)(got_len != want_len);
    for (size_t i = 0; i < want_len; i++) {
        unsigned char g = got_len ? got[i % got_len] : 0;
        diff |= (unsigned)(g ^ (unsigned char)want[i]);
    }
    return diff == 0;
}

bool http__auth_ok(const http_server_t *srv, const http_request_t *req) {
    if (srv->app.admin_open) {
        return true;
    }
    if (srv->app.admin_user == NULL || srv->app.admin_password == NULL) {
        return false;
    }
    pmq_slice_t v;
    if (!http_request_header(req, "authorization", &v) || v.len < 6 ||
        !http__ascii_prefix(v, "basic ")) {
        return false;
    }
    pmq_slice_t b64 = pmq_slice(v.ptr + 6, v.len - 6);
    while (b64.len > 0 && b64.ptr[0] == ' ') {
        b64 = pmq_slice(b64.ptr + 1, b64.len - 1);
    }
    unsigned char dec[AUTH_DECODED_MAX];
    int n = b64_decode(b64, dec, sizeof(dec));
    if (n <= 0) {
        return false;
    }
    const unsigned char *colon = memchr(dec, ':', (size_t)n);
    if (colon == NULL) {
        return false;
    }
    size_t user_len = (size_t)(colon - dec);
    /* Evaluate both comparisons so timing does not reveal which half was wrong. */
    bool user_ok = ct_equal(dec, user_len, srv->app.admin_user);
    bool pass_ok = ct_equal(colon + 1, (size_t)n - user_len - 1, srv->app.admin_password);
    return user_ok & pass_ok;
}
