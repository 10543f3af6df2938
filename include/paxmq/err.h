/* paxmq error codes: one X-macro table of name and message.
 *
 * Every function that can fail returns int: 0 for success, a negative PMQ_E* code
 * otherwise. libuv codes are negative errno values and pass through unchanged; the
 * PMQ_E* codes live below -10000 so they never collide with errno. LMDB codes are
 * mapped to PMQ_E* only inside src/store/. */
#ifndef PAXMQ_ERR_H
#define PAXMQ_ERR_H

#define PMQ_ERR_TABLE(X)                                                     \
    X(EINVAL,    "invalid argument")                                         \
    X(ENOMEM,    "out of memory")                                            \
    X(EPROTO,    "protocol error")                                           \
    X(ETOOBIG,   "value exceeds a configured limit")                         \
    X(EAGAIN,    "incomplete input, feed more bytes")                        \
    X(EFULL,     "queue or buffer full")                                     \
    X(ENOTFOUND, "not found")                                                \
    X(EEXIST,    "already exists")                                           \
    X(ECORRUPT,  "stored data failed its integrity check")                   \
    X(EVERSION,  "unsupported format version")                               \
    X(EIO,       "input/output error")                                       \
    X(ESTORE,    "storage engine error")                                     \
    X(ECONFIG,   "invalid configuration")                                    \
    X(ECLOSED,   "object is closing or closed")                              \
    X(ENOTLEADER,"this node is not the master")                              \
    X(ESTALE,    "request refers to an outdated ballot or version")          \
    X(EDENIED,   "permission denied")

#define PMQ_OK 0

/* Ordinals give each code a stable distinct value: PMQ_EINVAL = -10001, ... */
enum pmq__err_ord {
    PMQ__ERR_ORD_ZERO = 0,
#define PMQ__ERR_ORD(name, msg) PMQ__##name##_ORD,
    PMQ_ERR_TABLE(PMQ__ERR_ORD)
#undef PMQ__ERR_ORD
    PMQ__ERR_ORD_COUNT
};

enum pmq_err {
#define PMQ__ERR_VAL(name, msg) PMQ_##name = -10000 - PMQ__##name##_ORD,
    PMQ_ERR_TABLE(PMQ__ERR_VAL)
#undef PMQ__ERR_VAL
};

/* Returns a static human-readable message for any code: PMQ_E*, negative errno
 * (libuv), or 0. Never NULL. Any thread. */
const char *pmq_strerror(int err);

/* Returns the symbolic name ("PMQ_EPROTO", "ECONNRESET", ...). Never NULL. Any thread. */
const char *pmq_errname(int err);

#endif
