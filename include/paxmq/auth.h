/* auth: client authentication against auth.users_file.
 *
 * The file holds one user per line, `name:crypt-hash:groups` (groups comma-separated,
 * may be empty); '#' starts a comment line. Hashes are crypt(3) strings such as
 * `$y$...` (yescrypt) or `$6$...` (SHA-512), made with `mkpasswd` or
 * `openssl passwd -6`. Rules:
 *   - a client that presents credentials must match a user, whatever auth.anonymous says;
 *   - a client without credentials is accepted only when auth.anonymous is true.
 * Groups are loaded for future authorization; every authenticated user may currently
 * use every destination.
 *
 * Thread: loop thread (read-only after auth_load). Each check runs crypt(3) once on the
 * calling thread: about a millisecond for SHA-512 with default rounds. */
#ifndef PAXMQ_AUTH_H
#define PAXMQ_AUTH_H

#include "paxmq/base.h"

typedef struct auth auth_t;

#define AUTH_USERS_MAX 10000
#define AUTH_LINE_BYTES_MAX 1024

/* Loads users_file (NULL: no named users). On a bad file returns PMQ_ECONFIG and writes
 * "auth.users_file=PATH line N: what is wrong" into err. */
PMQ_MUST_USE int auth_load(auth_t **out, const char *users_file, bool anonymous, char *err,
                           size_t errlen);
/* Checks a client's credentials. has_credentials is false when the client sent no login
 * at all. Returns 0 (accepted) or PMQ_EDENIED. */
PMQ_MUST_USE int auth_check(const auth_t *a, bool has_credentials, pmq_slice_t login,
                            pmq_slice_t password);
size_t auth_user_count(const auth_t *a);
void auth_free(auth_t *a);

#endif
