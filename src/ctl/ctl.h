/* paxmqctl internals: a blocking HTTP/1.1 client over POSIX sockets and a small,
 * tolerant JSON reader for rendering tables. The tool needs no libuv: it must run as a
 * container HEALTHCHECK with nothing else in the image. */
#ifndef PAXMQ_CTL_H
#define PAXMQ_CTL_H

#include "paxmq/buf.h"

/* Exit codes (docs/HTTP.md): */
#define CTL_EXIT_OK 0          /* the node answered 2xx (health: exactly 200) */
#define CTL_EXIT_FAIL 1        /* the node answered, with another status */
#define CTL_EXIT_USAGE 2       /* bad command line */
#define CTL_EXIT_UNREACHABLE 3 /* no connection, timeout or an unreadable answer */

typedef struct ctl_target {
    char host[256];
    char port[8];
    const char *user;     /* NULL: no Authorization header */
    const char *password;
    int timeout_ms;
} ctl_target_t;

typedef struct ctl_response {
    int status;
    pmq_buf_t body;
} ctl_response_t;

/* Parses "HOST:PORT", "[v6]:PORT" or "HOST" (port 8161). false when malformed. */
bool ctl_target_parse(ctl_target_t *t, const char *addr);
/* Sends one request (empty body) and reads the whole answer within t->timeout_ms.
 * resp->body must be initialized by the caller and is filled. 0, or PMQ_EIO with a
 * message in err (cannot connect, timeout, malformed response). */
PMQ_MUST_USE int ctl_http_request(const ctl_target_t *t, const char *method, const char *path,
                                  ctl_response_t *resp, char *err, size_t err_len);

/* ---- JSON reader ---- */
typedef enum ctl_json_type {
    CTL_JSON_NULL,
    CTL_JSON_BOOL,
    CTL_JSON_NUMBER,
    CTL_JSON_STRING,
    CTL_JSON_ARRAY,
    CTL_JSON_OBJECT,
} ctl_json_type_t;

typedef struct ctl_json {
    ctl_json_type_t type;
    char *key;           /* member name when inside an object (decoded), else NULL */
    char *str;           /* decoded string, or the literal text of a number/bool/null */
    pmq_slice_t raw;     /* the value's source text */
    struct ctl_json *child;
    struct ctl_json *next;
} ctl_json_t;

/* Parses text into a tree (free with ctl_json_free). NULL when malformed or too deep. */
ctl_json_t *ctl_json_parse(pmq_slice_t text);
void ctl_json_free(ctl_json_t *j);
/* The member named key of an object, or NULL. */
const ctl_json_t *ctl_json_get(const ctl_json_t *obj, const char *key);

#endif
