/* Slice parsing helpers and a strict UTF-8 validator (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF). */
#include "paxmq/base.h"

bool pmq_slice_to_u64(pmq_slice_t s, uint64_t max, uint64_t *out) {
    if (s.len == 0 || s.len > 20) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.ptr[i] - '0';
        if (d > 9) {
            return false;
        }
        if (v > (max - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool pmq_slice_to_i64(pmq_slice_t s, int64_t *out) {
    bool neg = false;
    if (s.len > 0 && (s.ptr[0] == '-' || s.ptr[0] == '+')) {
        neg = s.ptr[0] == '-';
        s.ptr++;
        s.len--;
    }
    uint64_t v;
    if (!pmq_slice_to_u64(s, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v)) {
        return false;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool pmq_utf8_is_valid(pmq_slice_t s, bool reject_nul) {
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0;
    while (i < s.len) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (c == 0 && reject_nul) {
                return false;
            }
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        uint32_t min;
        if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + n > s.len) {
            return false;
        }
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n;
    }
    return true;
}
