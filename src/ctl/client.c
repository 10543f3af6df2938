/* paxmqctl's HTTP/1.1 client: one request per connection (`Connection: close`), a total
 * deadline enforced with poll(2), responses capped at 16 MiB. Blocking POSIX sockets
 * only, so the binary has no dependency beyond libc. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"

#define CTL_RESPONSE_MAX (16u * 1024 * 1024)

bool ctl_target_parse(ctl_target_t *t, const char *addr) {
    const char *host = addr;
    size_t host_len;
    const char *port = NULL;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            return false;
        }
        host = addr + 1;
        host_len = (size_t)(end - host);
        port = end[1] == ':' ? end + 2 : NULL;
    } else {
        const char *colon = strrchr(addr, ':');
        host_len = colon ? (size_t)(colon - addr) : strlen(addr);
        port = colon ? colon + 1 : NULL;
        if (colon != NULL && memchr(addr, ':', host_len) != NULL) {
            return false; /* a bare IPv6 address needs brackets */
        }
    }
    uint64_t p = 8161;
    if (port != NULL && !pmq_slice_to_u64(pmq_slice_cstr(port), 65535, &p)) {
        return false;
    }
    if (host_len == 0 || host_len >= sizeof(t->host) || p == 0) {
        return false;
    }
    memcpy(t->host, host, host_len);
    t->host[host_len] = '\0';
    snprintf(t->port, sizeof(t->port), "%u", (unsigned)p);
    return true;
}

static int wait_fd(int fd, short events, uint64_t deadline_ms) {
    for (;;) {
        uint64_t now = pmq_mono_ms();
        if (now >= deadline_ms) {
            return PMQ_EIO;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, (int)(deadline_ms - now));
        if (rc > 0) {
            return 0;
        }
        if (rc < 0 && errno != EINTR) {
            return PMQ_EIO;
        }
    }
}

/* Connects to any address of the target before the deadline; returns the fd or -1. */
static int connect_target(const ctl_target_t *t, uint64_t deadline_ms, char *err, size_t len) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int grc = getaddrinfo(t->host, t->port, &hints, &res);
    if (grc != 0) {
        snprintf(err, len, "cannot resolve %s: %s", t->host, gai_strerror(grc));
        return -1;
    }
    int fd = -1;
    snprintf(err, len, "cannot connect to %s:%s", t->host, t->port);
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (rc != 0 && (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline_ms) != 0 ||
                        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)) {
            const char *why = soerr          ? strerror(soerr)
                              : errno == EINPROGRESS ? "timed out"
                                                     : strerror(errno);
            snprintf(err, len, "cannot connect to %s:%s: %s", t->host, t->port, why);
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int put_basic_auth(pmq_buf_t *b, const char *user, const char *password) {
    pmq_buf_t plain;
    pmq_buf_init(&plain, 1024);
    int rc = pmq_buf_appendf(&plain, "%s:%s", user, password);
    rc = rc ? rc : pmq_buf_append_cstr(b, "Authorization: Basic ");
    for (size_t i = 0; rc == 0 && i < plain.len; i += 3) {
        const unsigned char *p = (const unsigned char *)plain.data + i;
        size_t n = PMQ_MIN(3, plain.len - i);
        uint32_t v = (uint32_t)p[0] << 16 | (n > 1 ? (uint32_t)p[1] << 8 : 0) | (n > 2 ? p[2] : 0);
        char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], n > 1 ? b64[(v >> 6) & 63] : '=',
                     n > 2 ? b64[v & 63] : '='};
        rc = pmq_buf_append(b, q, 4);
    }
    pmq_buf_close(&plain);
    return rc ? rc : pmq_buf_append(b, "\r\n", 2);
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline_ms) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline_ms) != 0) {
                return PMQ_EIO;
            }
        } else {
            return PMQ_EIO;
        }
    }
    return 0;
}

static int recv_all(int fd, pmq_buf_t *in, uint64_t deadline_ms) {
    char chunk[16384];
    for (;;) {
        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
        if (r == 0) {
            return 0;
        }
        if (r > 0) {
            if (pmq_buf_append(in, chunk, (size_t)r) != 0) {
                return PMQ_EIO;
            }
        } else if (errno == EAGAIN || errno == EINTR) {
            if (wait_fd(fd, POLLIN, deadline_ms) != 0) {
                return PMQ_EIO;
            }
        } else {
            return PMQ_EIO;
        }
    }
}

/* Splits "HTTP/1.1 200 OK\r\n...\r\n\r\nbody" into status and body. */
static int parse_response(pmq_buf_t *in, ctl_response_t *resp) {
    const char *end = NULL;
    for (size_t i = 0; i + 3 < in->len && end == NULL; i++) {
        if (memcmp(in->data + i, "\r\n\r\n", 4) == 0) {
            end = in->data + i;
        }
    }
    if (end == NULL || in->len < 12 || memcmp(in->data, "HTTP/1.", 7) != 0 ||
        in->data[8] != ' ') {
        return PMQ_EIO;
    }
    uint64_t status = 0;
    if (!pmq_slice_to_u64(pmq_slice(in->data + 9, 3), 999, &status) || status < 100) {
        return PMQ_EIO;
    }
    resp->status = (int)status;
    const char *body = end + 4;
    size_t body_len = in->len - (size_t)(body - in->data);
    /* Content-Length, when present, bounds the body (case-insensitive name). */
    for (const char *line = strstr(in->data, "\r\n"); line != NULL && line < end;
         line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "content-length:", 15) == 0) {
            uint64_t n = strtoull(line + 17, NULL, 10);
            if (n > body_len) {
                return PMQ_EIO; /* the connection closed early */
            }
            body_len = (size_t)n;
        }
    }
    return pmq_buf_append(&resp->body, body, body_len) == 0 ? 0 : PMQ_EIO;
}

int ctl_http_request(const ctl_target_t *t, const char *method, const char *path,
                     ctl_response_t *resp, char *err, size_t err_len) {
    uint64_t deadline = pmq_mono_ms() + (uint64_t)t->timeout_ms;
    pmq_buf_t req;
    pmq_buf_t in;
    pmq_buf_init(&req, 64 * 1024);
    pmq_buf_init(&in, CTL_RESPONSE_MAX);
    int rc = PMQ_EIO;
    bool v6 = strchr(t->host, ':') != NULL;
    int fd = connect_target(t, deadline, err, err_len);
    if (fd < 0) {
        goto out;
    }
    rc = pmq_buf_appendf(&req, "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: paxmqctl/%s\r\n"
                         "Accept: */*\r\nConnection: close\r\nContent-Length: 0\r\n",
                         method, path, v6 ? "[" : "", t->host, v6 ? "]" : "", t->port,
                         PMQ_VERSION);
    if (rc == 0 && t->user != NULL && t->password != NULL) {
        rc = put_basic_auth(&req, t->user, t->password);
    }
    rc = rc ? rc : pmq_buf_append(&req, "\r\n", 2);
    rc = rc ? rc : send_all(fd, req.data, req.len, deadline);
    rc = rc ? rc : recv_all(fd, &in, deadline);
    if (rc != 0) {
        snprintf(err, err_len, "no answer from %s:%s within %d ms", t->host, t->port,
                 t->timeout_ms);
        goto out;
    }
    rc = parse_response(&in, resp);
    if (rc != 0) {
        snprintf(err, err_len, "malformed HTTP response from %s:%s", t->host, t->port);
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    pmq_buf_close(&req);
    pmq_buf_close(&in);
    return rc;
}
