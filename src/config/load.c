/* cfg_load: defaults -> file -> environment -> flags -> cross-key rules.
 *
 * Each stage goes through cfg__apply_text with its source, so every error names where
 * the value came from. The environment is the envp argument, never environ, so tests
 * inject it; the only outside reads are the --config file and gethostname() for the
 * node.name default. On any failure the partly built configuration is freed. */
#include <stdio.h>
#include <unistd.h>

#include "paxmq/assert.h"
#include "cfg_int.h"

#define FLAG_NAME_MAX 128
#define ENV_NAME_MAX 128

int cfg__fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return PMQ_ECONFIG;
}

void cfg__fmt_src(const cfg__src_t *src, const cfg__key_t *k, char *buf, size_t len) {
    switch (src->kind) {
    case CFG__FROM_DEFAULT:
        snprintf(buf, len, "%s", k->def == NULL && !k->optional ? "default (host name)"
                                                                : "default");
        return;
    case CFG__FROM_FILE:
        snprintf(buf, len, "file %s:%u", src->file, (unsigned)src->line);
        return;
    case CFG__FROM_ENV:
        snprintf(buf, len, "env %s", src->env);
        return;
    case CFG__FROM_FLAG:
        snprintf(buf, len, "flag --%s", k->name);
        return;
    }
    PMQ_UNREACHABLE();
}

void cfg__fmt_origin(const pmq_config_t *cfg, const cfg__key_t *k, char *buf, size_t len) {
    const pmq_cfg_origin_t *o = &cfg->origin[cfg__key_index(k)];
    char env[ENV_NAME_MAX];
    cfg__env_name(k, env, sizeof(env));
    cfg__src_t src = {.kind = (cfg__origin_kind_t)o->kind,
                      .file = cfg->origin_file ? cfg->origin_file : "?",
                      .line = o->line,
                      .env = env};
    cfg__fmt_src(&src, k, buf, len);
}

int cfg__invalid(char *err, size_t errlen, const cfg__src_t *src, const cfg__key_t *k,
                 const char *text, const char *detail) {
    char where[FLAG_NAME_MAX + 64];
    char allowed[256];
    char quoted[CFG__ECHO_LEN_MAX * 4 + 8];
    cfg__fmt_src(src, k, where, sizeof(where));
    cfg__describe(k, allowed, sizeof(allowed));
    cfg__quote(text, k->secret, quoted, sizeof(quoted));
    bool has_detail = detail != NULL && detail[0] != '\0';
    return cfg__fail(err, errlen, "%s: invalid value %s for key '%s': expected %s%s%s%s",
                     where, quoted, k->name, allowed, has_detail ? " (" : "",
                     has_detail ? detail : "", has_detail ? ")" : "");
}

int cfg__apply_text(pmq_config_t *cfg, const cfg__key_t *k, const char *text,
                    const cfg__src_t *src, char *err, size_t errlen) {
    cfg__value_t v;
    char detail[CFG__ECHO_LEN_MAX * 4 + 64];
    int rc = cfg__parse(k, text, &v, detail, sizeof(detail));
    if (rc == PMQ_EINVAL) {
        return cfg__invalid(err, errlen, src, k, text, detail);
    }
    if (rc != 0) {
        cfg__fail(err, errlen, "key '%s': %s", k->name, pmq_strerror(rc));
        return rc;
    }
    cfg__store(cfg, k, &v, src);
    cfg__value_clear(&v);
    return 0;
}

static int apply_defaults(pmq_config_t *cfg, char *err, size_t errlen) {
    cfg__src_t src = {.kind = CFG__FROM_DEFAULT};
    for (size_t i = 0; i < cfg__key_count; i++) {
        const cfg__key_t *k = &cfg__keys[i];
        const char *text = k->def;
        char host[256];
        if (text == NULL && !k->optional) {
            /* Only node.name has a computed default: the host name (DESIGN §3a). */
            PMQ_ASSERT(strcmp(k->name, "node.name") == 0);
            if (gethostname(host, sizeof(host)) != 0) {
                snprintf(host, sizeof(host), "localhost");
            }
            host[sizeof(host) - 1] = '\0';
            text = host;
        }
        if (text == NULL) {
            continue;
        }
        int rc = cfg__apply_text(cfg, k, text, &src, err, errlen);
        if (rc != 0) {
            /* Only a host name that is no valid member name can fail here. */
            size_t used = strlen(err);
            snprintf(err + used, errlen - used, "; set node.name (PAXMQ_NODE_NAME)");
            return rc;
        }
    }
    return 0;
}

static bool is_config_flag(const char *a) {
    if (strncmp(a, "--", 2) != 0) {
        return false;
    }
    size_t name_len = strcspn(a + 2, "=");
    const char *dot = memchr(a + 2, '.', name_len);
    return dot != NULL;
}

static int unknown_key(const char *where, const char *name, bool env, char *err,
                       size_t errlen) {
    char hint[FLAG_NAME_MAX + 96];
    char quoted[CFG__ECHO_LEN_MAX * 4 + 8];
    cfg__suggest(name, env, hint, sizeof(hint));
    cfg__quote(name, false, quoted, sizeof(quoted));
    return cfg__fail(err, errlen, "%s: unknown key %s%s", where, quoted, hint);
}

static int push_rest(pmq_cfg_rest_t *rest, int i, const char *a, char *err, size_t errlen) {
    char quoted[CFG__ECHO_LEN_MAX * 4 + 8];
    cfg__quote(a, false, quoted, sizeof(quoted));
    if (rest == NULL) {
        return cfg__fail(err, errlen, "unexpected argument %s", quoted);
    }
    if (rest->count == PMQ_CFG_REST_MAX) {
        return cfg__fail(err, errlen, "too many arguments (at %s; at most %d)", quoted,
                         PMQ_CFG_REST_MAX);
    }
    rest->index[rest->count++] = i;
    return 0;
}

/* First pass over argv: finds --config and hands every non-configuration argument to
 * rest. Configuration flags are applied later, after the file and the environment. */
static int scan_args(int argc, char **argv, pmq_cfg_rest_t *rest, const char **file,
                     char *err, size_t errlen) {
    bool options_done = false;
    *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = NULL;
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (options_done || strncmp(a, "--config", 8) != 0 || (a[8] != '\0' && a[8] != '=')) {
            int rc = options_done || !is_config_flag(a) ? push_rest(rest, i, a, err, errlen) : 0;
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (a[8] == '=') {
            value = a + 9;
        } else if (i + 1 < argc) {
            value = argv[++i];
        }
        if (value == NULL || value[0] == '\0') {
            return cfg__fail(err, errlen, "flag --config needs a file: --config FILE");
        }
        if (*file != NULL) {
            return cfg__fail(err, errlen, "flag --config given twice");
        }
        *file = value;
    }
    return 0;
}

/* Second pass: applies --section.key=value flags in order (a later flag wins). */
static int apply_flags(pmq_config_t *cfg, int argc, char **argv, char *err, size_t errlen) {
    cfg__src_t src = {.kind = CFG__FROM_FLAG};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            break;
        }
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (!is_config_flag(a)) {
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t name_len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        char name[FLAG_NAME_MAX];
        snprintf(name, sizeof(name), "%.*s", (int)PMQ_MIN(name_len, sizeof(name) - 1), a + 2);
        const cfg__key_t *k = name_len < sizeof(name) ? cfg__key_find(name) : NULL;
        if (k == NULL) {
            char where[FLAG_NAME_MAX + 8];
            snprintf(where, sizeof(where), "flag --%s", name);
            return unknown_key(where, name, false, err, errlen);
        }
        if (eq == NULL) {
            return cfg__fail(err, errlen, "flag --%s needs a value: --%s=VALUE", name, name);
        }
        int rc = cfg__apply_text(cfg, k, eq + 1, &src, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static const cfg__key_t *key_for_env(const char *name, size_t len) {
    for (size_t i = 0; i < cfg__key_count; i++) {
        char env[ENV_NAME_MAX];
        cfg__env_name(&cfg__keys[i], env, sizeof(env));
        if (strlen(env) == len && memcmp(env, name, len) == 0) {
            return &cfg__keys[i];
        }
    }
    return NULL;
}

/* PAXMQ_STOMP_LISEN -> "stomp.lisen" when "stomp" is a section; false otherwise (the
 * variable belongs to someone else and is ignored). */
static bool env_guess_key(const char *name, size_t len, char *key, size_t keylen) {
    const char *rest = name + 6;
    size_t rest_len = len - 6;
    size_t sect = strcspn(rest, "_");
    char lower[ENV_NAME_MAX];
    if (rest_len >= sizeof(lower) || sect > rest_len) {
        return false;
    }
    for (size_t i = 0; i < rest_len; i++) {
        char c = rest[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    lower[rest_len] = '\0';
    if (!cfg__section_exists(lower, sect)) {
        return false;
    }
    if (sect < rest_len) {
        lower[sect] = '.';
    }
    snprintf(key, keylen, "%s", lower);
    return true;
}

static int apply_env(pmq_config_t *cfg, char **envp, char *err, size_t errlen) {
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        const char *e = envp[i];
        const char *eq = strchr(e, '=');
        if (strncmp(e, "PAXMQ_", 6) != 0 || eq == NULL || eq - e >= ENV_NAME_MAX) {
            continue;
        }
        size_t len = (size_t)(eq - e);
        char name[ENV_NAME_MAX];
        snprintf(name, sizeof(name), "%.*s", (int)len, e);
        const cfg__key_t *k = key_for_env(name, len);
        if (k == NULL) {
            char key[ENV_NAME_MAX];
            char where[ENV_NAME_MAX + 8];
            if (!env_guess_key(name, len, key, sizeof(key))) {
                continue;
            }
            snprintf(where, sizeof(where), "env %s", name);
            return unknown_key(where, key, true, err, errlen);
        }
        cfg__src_t src = {.kind = CFG__FROM_ENV, .env = name};
        int rc = cfg__apply_text(cfg, k, eq + 1, &src, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int cfg_load(pmq_config_t *cfg, int argc, char **argv, char **envp, pmq_cfg_rest_t *rest,
             char *errbuf, size_t errlen) {
    PMQ_ASSERT(errbuf != NULL);
    PMQ_ASSERT(errlen > 0);
    PMQ_ASSERT(argc == 0 || argv != NULL);
    memset(cfg, 0, sizeof(*cfg));
    errbuf[0] = '\0';
    if (rest != NULL) {
        rest->count = 0;
    }
    const char *file = NULL;
    int rc = scan_args(argc, argv, rest, &file, errbuf, errlen);
    if (rc == 0) {
        rc = apply_defaults(cfg, errbuf, errlen);
    }
    if (rc == 0 && file != NULL) {
        rc = cfg__load_file(cfg, file, errbuf, errlen);
    }
    if (rc == 0) {
        rc = apply_env(cfg, envp, errbuf, errlen);
    }
    if (rc == 0) {
        rc = apply_flags(cfg, argc, argv, errbuf, errlen);
    }
    if (rc == 0) {
        rc = cfg__cross_check(cfg, errbuf, errlen);
    }
    if (rc != 0) {
        cfg_free(cfg);
    }
    return rc;
}
