/* Internals of the config layer: the key descriptor table and the generic helpers that
 * read, validate and print values through it.
 *
 * Invariant: every value lands in pmq_config_t through cfg__store(), which frees the
 * previous owned value of that key, so a key overridden by file, env and flag never
 * leaks. Defaults are written in the same text form as env/flags and go through the
 * same parser, so a default outside its own range fails the unit test at once. */
#ifndef PAXMQ_CFG_INT_H
#define PAXMQ_CFG_INT_H

#include "paxmq/config.h"

typedef enum cfg__type {
    CFG__BOOL,     /* bool */
    CFG__INT,      /* uint32_t in [min, max] (or 0 with zero_off) */
    CFG__SIZE,     /* uint64_t bytes, text accepts 64KiB, 4MiB, 1GiB */
    CFG__DURATION, /* uint32_t ms, text accepts 500ms, 2s, 1m, 1h */
    CFG__STRING,   /* char *, length in [min, max]; optional: empty = none (NULL) */
    CFG__ENUM,     /* an int-sized enum, index into values */
    CFG__LISTEN,   /* pmq_listen_t from "host:port" or "off" */
    CFG__LIST,     /* pmq_strlist_t, at most max items, comma-separated in env/flags */
} cfg__type_t;

typedef enum cfg__origin_kind {
    CFG__FROM_DEFAULT = 0,
    CFG__FROM_FILE = 1,
    CFG__FROM_ENV = 2,
    CFG__FROM_FLAG = 3,
} cfg__origin_kind_t;

/* An extra syntax rule for a string or for each list item. */
typedef struct cfg__check {
    bool (*ok)(const char *s);
    const char *allowed; /* e.g. "letters, digits, '.', '_' and '-'" */
} cfg__check_t;

typedef struct cfg__key {
    const char *name; /* "section.key" */
    cfg__type_t type;
    size_t offset;          /* into pmq_config_t */
    uint64_t min, max;      /* INT/SIZE/DURATION: value; STRING: length; LIST: max items */
    bool zero_off;          /* INT/DURATION: 0 is allowed too and means off */
    bool optional;          /* STRING: may be none (empty text unsets it) */
    bool secret;            /* never printed, never echoed in errors */
    const char *def;        /* default in env/flag text form; NULL = none */
    const char *const *values; /* ENUM: allowed names, NULL-terminated; index = value */
    const cfg__check_t *check; /* STRING, LIST items: extra rule or NULL */
    const char *unit;          /* INT: what is counted, for the reference */
    const char *help;          /* one sentence: the meaning */
} cfg__key_t;

/* Longest accepted list item and longest text value echoed back in an error. */
#define CFG__ITEM_LEN_MAX 255
#define CFG__ECHO_LEN_MAX 80

typedef struct cfg__value {
    bool b;
    uint64_t u;
    char *s;
    pmq_listen_t listen;
    pmq_strlist_t list;
} cfg__value_t;

/* Where a value being applied comes from, for error messages and cfg_print. */
typedef struct cfg__src {
    cfg__origin_kind_t kind;
    const char *file; /* FILE */
    uint32_t line;    /* FILE */
    const char *env;  /* ENV: the variable name */
} cfg__src_t;

/* keys.c: the table. */
extern const cfg__key_t cfg__keys[];
extern const size_t cfg__key_count;

/* suggest.c: lookup by name and "did you mean" hints. */
const cfg__key_t *cfg__key_find(const char *name);
/* True when [s, s+len) is the section part of some key ("stomp"). */
bool cfg__section_exists(const char *s, size_t len);
/* Writes " (did you mean 'stomp.listen'?)" or "" into buf; env adds the variable. */
void cfg__suggest(const char *name, bool env, char *buf, size_t len);
/* PAXMQ_ + upper-cased name with dots as underscores. */
void cfg__env_name(const cfg__key_t *k, char *buf, size_t len);
size_t cfg__key_index(const cfg__key_t *k);

/* value.c: text -> typed value, and what a key accepts. */
/* Returns 0, PMQ_EINVAL (detail may say which part is wrong) or PMQ_ENOMEM. On
 * success out owns its strings (release with cfg__value_clear). */
int cfg__parse(const cfg__key_t *k, const char *text, cfg__value_t *out, char *detail,
               size_t dlen);
/* Builds a LIST value from separate items (a libconfig array). */
int cfg__parse_items(const cfg__key_t *k, const char *const *items, size_t n,
                     cfg__value_t *out, char *detail, size_t dlen);
void cfg__value_clear(cfg__value_t *v);
/* "an integer from 1 to 100000", "one of error, warn, info, debug", ... */
void cfg__describe(const cfg__key_t *k, char *buf, size_t len);
void cfg__fmt_size(uint64_t bytes, char *buf, size_t len);
void cfg__fmt_duration(uint64_t ms, char *buf, size_t len);
/* Quotes a value for an error message: escaped, truncated, masked when secret. */
void cfg__quote(const char *v, bool secret, char *buf, size_t len);

/* check.c: the extra string rules and cfg_peer_parse. */
extern const cfg__check_t cfg__check_name;
extern const cfg__check_t cfg__check_dns;
extern const cfg__check_t cfg__check_peer;
extern const cfg__check_t cfg__check_user;
/* Parses "host:port" / "[v6]:port" into host/port; false when malformed. */
bool cfg__hostport_parse(const char *s, char host[64], uint16_t *port);

/* field.c: reading and writing the field a key describes. */
/* Replaces key k's value in cfg (freeing the old one), takes v's strings, records the
 * origin. */
void cfg__store(pmq_config_t *cfg, const cfg__key_t *k, cfg__value_t *v,
                const cfg__src_t *src);
/* The numeric value of an INT, SIZE or DURATION key. */
uint64_t cfg__num(const pmq_config_t *cfg, const cfg__key_t *k);
/* The value as text for messages: "4MiB", "900ms", "'x'", "off", "3 items";
 * secrets masked. */
void cfg__fmt_field(const pmq_config_t *cfg, const cfg__key_t *k, char *buf, size_t len);
/* "host:port", "[v6]:port" or "off". */
void cfg__fmt_listen(const pmq_listen_t *l, char *buf, size_t len);

/* load.c: applying values and reporting errors. */
/* Parses text for k and stores it; on PMQ_EINVAL fills err and returns PMQ_ECONFIG. */
int cfg__apply_text(pmq_config_t *cfg, const cfg__key_t *k, const char *text,
                    const cfg__src_t *src, char *err, size_t errlen);
/* Formats "file a.cfg:3" / "env PAXMQ_X" / "flag --x.y" / "default". */
void cfg__fmt_src(const cfg__src_t *src, const cfg__key_t *k, char *buf, size_t len);
/* Same, for the recorded origin of key k in cfg. */
void cfg__fmt_origin(const pmq_config_t *cfg, const cfg__key_t *k, char *buf, size_t len);
/* snprintf into err; returns PMQ_ECONFIG. */
int cfg__fail(char *err, size_t errlen, const char *fmt, ...) PMQ_PRINTF(3, 4);
/* "<src>: invalid value '<v>' for key '<k>': expected <allowed>[ (<detail>)]". */
int cfg__invalid(char *err, size_t errlen, const cfg__src_t *src, const cfg__key_t *k,
                 const char *text, const char *detail);

/* file.c: reads a libconfig file through the table. */
int cfg__load_file(pmq_config_t *cfg, const char *path, char *err, size_t errlen);

/* cross.c: rules that span several keys. */
int cfg__cross_check(const pmq_config_t *cfg, char *err, size_t errlen);

#endif
