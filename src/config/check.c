/* Syntax rules for string keys beyond "a string of N characters": member names, the
 * dns:NAME discovery form, static peers and host:port addresses. These only check
 * syntax; nothing here resolves names or touches the network. */
#include <stdio.h>

#include "cfg_int.h"

static bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 63) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-') {
            return false;
        }
    }
    return true;
}

/* A DNS name: labels of 1..63 letters, digits, '-' or '_', separated by dots. */
static bool dns_name_ok(const char *s, size_t n) {
    if (n == 0 || n > 253) {
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
            continue;
        }
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_') {
            return false;
        }
        if (++label > 63) {
            return false;
        }
    }
    return true;
}

static bool dns_ok(const char *s) {
    return strncmp(s, "dns:", 4) == 0 && dns_name_ok(s + 4, strlen(s + 4));
}

static bool ipv6_ok(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && s[i] != ':' && s[i] != '.' && s[i] != '%') {
            return false;
        }
    }
    return memchr(s, ':', n) != NULL;
}

bool cfg__hostport_parse(const char *s, char host[64], uint16_t *port) {
    const char *h = s;
    size_t hlen;
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            return false;
        }
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
        if (!ipv6_ok(h, hlen)) {
            return false;
        }
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            return false;
        }
        hlen = (size_t)(colon - s);
        /* A bare IPv6 address is ambiguous with the port separator. */
        if (memchr(s, ':', hlen) != NULL || !dns_name_ok(s, hlen)) {
            return false;
        }
    }
    if (hlen == 0 || hlen > 63) {
        return false;
    }
    uint64_t p;
    if (!pmq_slice_to_u64(pmq_slice_cstr(colon + 1), 65535, &p)) {
        return false;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return true;
}

int cfg_peer_parse(const char *entry, pmq_peer_t *out) {
    const char *eq = strchr(entry, '=');
    if (eq == NULL || (size_t)(eq - entry) >= sizeof(out->name)) {
        return PMQ_EINVAL;
    }
    pmq_peer_t p;
    memset(&p, 0, sizeof(p));
    memcpy(p.name, entry, (size_t)(eq - entry));
    if (!name_ok(p.name) || !cfg__hostport_parse(eq + 1, p.host, &p.port) || p.port == 0) {
        return PMQ_EINVAL;
    }
    *out = p;
    return 0;
}

static bool peer_ok(const char *s) {
    pmq_peer_t p;
    return cfg_peer_parse(s, &p) == 0;
}

static bool user_ok(const char *s) {
    /* HTTP Basic credentials split user and password at the first ':' (RFC 7617 §2). */
    return strchr(s, ':') == NULL;
}

const cfg__check_t cfg__check_name = {name_ok,
                                      "a name of 1 to 63 letters, digits, '.', '_' or '-'"};
const cfg__check_t cfg__check_dns = {dns_ok, "dns:NAME with NAME a DNS name"};
const cfg__check_t cfg__check_peer = {peer_ok, "name=host:port (port 1 to 65535)"};
const cfg__check_t cfg__check_user = {user_ok, "a user name of 1 to 63 characters, no ':'"};
