/* Users from auth.users_file and crypt(3) verification. The file is parsed once at
 * start-up; a malformed line stops the start with the file and line named. */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "paxmq/assert.h"
#include "paxmq/auth.h"

typedef struct auth_user {
    char *name;
    char *hash;
    char *groups;
} auth_user_t;

struct auth {
    bool anonymous;
    size_t count;
    auth_user_t *users;
};

static bool name_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '@';
}

/* Parses one non-comment line into u. Returns NULL or a reason. */
static const char *parse_line(char *line, auth_user_t *u) {
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c2 == NULL) {
        return "expected name:crypt-hash:groups";
    }
    *c1 = '\0';
    *c2 = '\0';
    if (line[0] == '\0') {
        return "empty user name";
    }
    for (const char *p = line; *p; p++) {
        if (!name_char_ok(*p)) {
            return "user names may contain letters, digits and . _ - @ only";
        }
    }
    if (c1[1] != '$' || strlen(c1 + 1) < 4) {
        return "the password must be a crypt(3) hash such as $6$... or $y$... "
               "(make one with: openssl passwd -6)";
    }
    u->name = pmq_strdup(line);
    u->hash = pmq_strdup(c1 + 1);
    u->groups = pmq_strdup(c2 + 1);
    return u->name && u->hash && u->groups ? NULL : "out of memory";
}

static void free_users(auth_t *a) {
    for (size_t i = 0; i < a->count; i++) {
        pmq_free(a->users[i].name);
        pmq_free(a->users[i].hash);
        pmq_free(a->users[i].groups);
    }
    pmq_free(a->users);
    a->users = NULL;
    a->count = 0;
}

static int load_file(auth_t *a, const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "auth.users_file=%s: %s", path, strerror(errno));
        return PMQ_ECONFIG;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IROTH)) {
        PMQ_LOG_WARN("users_file_readable", "path=%s detail=\"other users can read the "
                     "password hashes; chmod o-r it\"", path);
    }
    char line[AUTH_LINE_BYTES_MAX + 2];
    int rc = 0;
    for (unsigned lineno = 1; rc == 0 && fgets(line, sizeof(line), f) != NULL; lineno++) {
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] != '\n' && !feof(f)) {
            snprintf(err, errlen, "auth.users_file=%s line %u: longer than %d bytes", path,
                     lineno, AUTH_LINE_BYTES_MAX);
            rc = PMQ_ECONFIG;
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) {
            line[--n] = '\0';
        }
        if (n == 0 || line[0] == '#') {
            continue;
        }
        if (a->count == AUTH_USERS_MAX) {
            snprintf(err, errlen, "auth.users_file=%s: more than %d users", path, AUTH_USERS_MAX);
            rc = PMQ_ECONFIG;
            break;
        }
        auth_user_t u = {0};
        const char *why = parse_line(line, &u);
        for (size_t i = 0; why == NULL && i < a->count; i++) {
            if (strcmp(a->users[i].name, u.name) == 0) {
                why = "user listed twice";
            }
        }
        if (why != NULL) {
            pmq_free(u.name);
            pmq_free(u.hash);
            pmq_free(u.groups);
            snprintf(err, errlen, "auth.users_file=%s line %u: %s", path, lineno, why);
            rc = PMQ_ECONFIG;
            break;
        }
        a->users[a->count++] = u;
    }
    fclose(f);
    return rc;
}

int auth_load(auth_t **out, const char *users_file, bool anonymous, char *err, size_t errlen) {
    auth_t *a = pmq_calloc(1, sizeof(*a));
    if (a == NULL) {
        return PMQ_ENOMEM;
    }
    a->anonymous = anonymous;
    int rc = 0;
    if (users_file != NULL) {
        a->users = pmq_calloc(AUTH_USERS_MAX, sizeof(auth_user_t));
        rc = a->users ? load_file(a, users_file, err, errlen) : PMQ_ENOMEM;
    }
    if (rc != 0) {
        auth_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

static bool equal_ct(const char *x, const char *y) {
    size_t nx = strlen(x), ny = strlen(y);
    unsigned char d = nx != ny;
    for (size_t i = 0; i < nx && i < ny; i++) {
        d |= (unsigned char)(x[i] ^ y[i]);
    }
    return d == 0;
}

int auth_check(const auth_t *a, bool has_credentials, pmq_slice_t login, pmq_slice_t password) {
    if (!has_credentials) {
        return a->anonymous ? 0 : PMQ_EDENIED;
    }
    if (a->users == NULL) {
        /* No user database: credentials cannot be checked, so they grant nothing more
         * than anonymity does (ActiveMQ without an authentication plugin). */
        return a->anonymous ? 0 : PMQ_EDENIED;
    }
    char name[128], pass[256];
    if (login.len >= sizeof(name) || password.len >= sizeof(pass)) {
        return PMQ_EDENIED;
    }
    memcpy(name, login.ptr, login.len);
    name[login.len] = '\0';
    memcpy(pass, password.ptr, password.len);
    pass[password.len] = '\0';
    int rc = PMQ_EDENIED;
    for (size_t i = 0; i < a->count; i++) {
        if (strcmp(a->users[i].name, name) != 0) {
            continue;
        }
        struct crypt_data cd;
        memset(&cd, 0, sizeof(cd));
        const char *h = crypt_r(pass, a->users[i].hash, &cd);
        if (h != NULL && h[0] != '*' && equal_ct(h, a->users[i].hash)) {
            rc = 0;
        }
        break;
    }
    memset(pass, 0, sizeof(pass));
    return rc;
}

size_t auth_user_count(const auth_t *a) { return a->count; }

void auth_free(auth_t *a) {
    if (a != NULL) {
        free_users(a);
        pmq_free(a);
    }
}
