/* paxmqctl: a small CLI over a paxmq node's HTTP admin API (docs/HTTP.md).
 *
 * Commands: status, health --live|--ready|--startup, destinations, purge NAME, drain.
 * Exit codes are part of the contract (a container HEALTHCHECK relies on them): 0
 * success, 1 the node answered unhealthy or with an error, 2 usage, 3 unreachable. */
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"

typedef struct ctl {
    ctl_target_t target;
    bool json;
    bool verbose;
    const char *probe; /* health: /livez, /readyz or /startupz */
    const char *command;
    const char *arg;
    bool help;
} ctl_t;

static const char usage_main[] =
    "usage: paxmqctl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Talks to a paxmq node over its HTTP admin API.\n"
    "\n"
    "Commands:\n"
    "  status                            role, ballot, commit index and more\n"
    "  health --live|--ready|--startup   probe the node: exit 0 when healthy\n"
    "  destinations                      destinations with depth, consumers, counters\n"
    "  purge NAME                        remove every message from queue NAME\n"
    "  drain                             make the node NotReady and hand over\n"
    "\n"
    "Options (anywhere on the line):\n"
    "  --http HOST:PORT   node address (default $PAXMQ_HTTP_ADDR, else 127.0.0.1:8161)\n"
    "  --user USER        admin user for purge/drain (default $PAXMQ_HTTP_ADMIN_USER)\n"
    "  --password PASS    admin password (default $PAXMQ_HTTP_ADMIN_PASSWORD)\n"
    "  --json             print the node's JSON answer unchanged\n"
    "  --timeout MS       give up after MS milliseconds (default 5000)\n"
    "  -h, --help         this help; `paxmqctl COMMAND --help` for one command\n"
    "\n"
    "Exit status: 0 success; 1 the node answered unhealthy or with an error;\n"
    "2 usage error; 3 the node could not be reached (or answered garbage).\n";

typedef struct command {
    const char *name;
    int (*run)(ctl_t *c);
    const char *help;
    bool takes_arg;
} command_t;

static int usage_error(const char *what, const char *detail) {
    fprintf(stderr, "paxmqctl: %s%s\nTry 'paxmqctl --help'.\n", what, detail ? detail : "");
    return CTL_EXIT_USAGE;
}

/* Prints s with control characters replaced, so a hostile name cannot drive the
 * terminal. */
static void print_clean(FILE *f, const char *s, int width) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
        n += (*p & 0xc0) != 0x80; /* count code points, not bytes */
    }
    for (; n < width; n++) {
        fputc(' ', f);
    }
}

static int cell_width(const char *s) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        n += (*p & 0xc0) != 0x80;
    }
    return n;
}

/* Runs one request; on transport failure prints why and returns CTL_EXIT_UNREACHABLE. */
static int request(ctl_t *c, const char *method, const char *path, ctl_response_t *resp) {
    char err[512] = "";
    pmq_buf_init(&resp->body, 0);
    resp->status = 0;
    if (ctl_http_request(&c->target, method, path, resp, err, sizeof(err)) != 0) {
        fprintf(stderr, "paxmqctl: %s\n", err);
        return CTL_EXIT_UNREACHABLE;
    }
    return CTL_EXIT_OK;
}

/* For a non-2xx answer: prints the status and the node's message; returns 1. */
static int report_http_error(const ctl_response_t *resp) {
    fprintf(stderr, "paxmqctl: the node answered %d: %.*s", resp->status,
            (int)PMQ_MIN(resp->body.len, 2000), resp->body.data ? resp->body.data : "");
    if (resp->body.len == 0 || resp->body.data[resp->body.len - 1] != '\n') {
        fputc('\n', stderr);
    }
    if (resp->status == 401) {
        fprintf(stderr, "paxmqctl: give credentials with --user/--password or "
                        "PAXMQ_HTTP_ADMIN_USER/PAXMQ_HTTP_ADMIN_PASSWORD\n");
    }
    return CTL_EXIT_FAIL;
}

static void print_body(const ctl_response_t *resp) {
    fwrite(resp->body.data, 1, resp->body.len, stdout);
    if (resp->body.len > 0 && resp->body.data[resp->body.len - 1] != '\n') {
        fputc('\n', stdout);
    }
}

/* ---- commands ---- */

static int cmd_status(ctl_t *c) {
    ctl_response_t resp;
    int rc = request(c, "GET", "/api/v1/status", &resp);
    if (rc == CTL_EXIT_OK && (resp.status < 200 || resp.status > 299)) {
        rc = report_http_error(&resp);
    } else if (rc == CTL_EXIT_OK) {
        ctl_json_t *doc = c->json ? NULL : ctl_json_parse(pmq_buf_slice(&resp.body));
        if (doc == NULL || doc->type != CTL_JSON_OBJECT) {
            print_body(&resp);
        } else {
            int width = 0;
            for (const ctl_json_t *m = doc->child; m != NULL; m = m->next) {
                width = PMQ_MAX(width, cell_width(m->key));
            }
            for (const ctl_json_t *m = doc->child; m != NULL; m = m->next) {
                print_clean(stdout, m->key, width);
                fputs("  ", stdout);
                if (m->str != NULL) {
                    print_clean(stdout, m->str, 0);
                } else {
                    fwrite(m->raw.ptr, 1, m->raw.len, stdout);
                }
                fputc('\n', stdout);
            }
        }
        ctl_json_free(doc);
    }
    pmq_buf_close(&resp.body);
    return rc;
}

static int cmd_health(ctl_t *c) {
    if (c->probe == NULL) {
        return usage_error("health needs one of --live, --ready, --startup", NULL);
    }
    char path[32];
    snprintf(path, sizeof(path), "%s%s", c->probe, c->verbose ? "?verbose" : "");
    ctl_response_t resp;
    int rc = request(c, "GET", path, &resp);
    if (rc == CTL_EXIT_OK) {
        print_body(&resp);
        rc = resp.status == 200 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
    }
    pmq_buf_close(&resp.body);
    return rc;
}

static const char *const dest_columns[] = {"name",     "type",     "depth",
                                           "consumers", "enqueued", "dequeued"};
#define DEST_COLUMNS PMQ_ARRAY_LEN(dest_columns)

static const char *cell(const ctl_json_t *row, const char *key) {
    const ctl_json_t *v = ctl_json_get(row, key);
    return v != NULL && v->str != NULL ? v->str : "-";
}

static void print_destinations(const ctl_json_t *list) {
    int width[DEST_COLUMNS];
    for (size_t k = 0; k < DEST_COLUMNS; k++) {
        width[k] = cell_width(dest_columns[k]);
        for (const ctl_json_t *row = list->child; row != NULL; row = row->next) {
            width[k] = PMQ_MAX(width[k], cell_width(cell(row, dest_columns[k])));
        }
    }
    for (size_t k = 0; k < DEST_COLUMNS; k++) {
        char upper[16];
        size_t n = strlen(dest_columns[k]);
        for (size_t i = 0; i <= n; i++) {
            char ch = dest_columns[k][i];
            upper[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
        }
        print_clean(stdout, upper, k + 1 < DEST_COLUMNS ? width[k] + 2 : 0);
    }
    fputc('\n', stdout);
    for (const ctl_json_t *row = list->child; row != NULL; row = row->next) {
        for (size_t k = 0; k < DEST_COLUMNS; k++) {
            print_clean(stdout, cell(row, dest_columns[k]),
                        k + 1 < DEST_COLUMNS ? width[k] + 2 : 0);
        }
        fputc('\n', stdout);
    }
}

static int cmd_destinations(ctl_t *c) {
    ctl_response_t resp;
    int rc = request(c, "GET", "/api/v1/destinations", &resp);
    if (rc == CTL_EXIT_OK && (resp.status < 200 || resp.status > 299)) {
        rc = report_http_error(&resp);
    } else if (rc == CTL_EXIT_OK) {
        ctl_json_t *doc = c->json ? NULL : ctl_json_parse(pmq_buf_slice(&resp.body));
        const ctl_json_t *list = doc && doc->type == CTL_JSON_ARRAY
                                     ? doc
                                     : ctl_json_get(doc, "destinations");
        if (list == NULL || list->type != CTL_JSON_ARRAY) {
            print_body(&resp);
        } else {
            print_destinations(list);
        }
        ctl_json_free(doc);
    }
    pmq_buf_close(&resp.body);
    return rc;
}

/* A mutation: POST path, print the answer. */
static int post(ctl_t *c, const char *path, const char *done) {
    ctl_response_t resp;
    int rc = request(c, "POST", path, &resp);
    if (rc == CTL_EXIT_OK && (resp.status < 200 || resp.status > 299)) {
        rc = report_http_error(&resp);
    } else if (rc == CTL_EXIT_OK) {
        if (c->json) {
            print_body(&resp);
        } else {
            printf("%s\n", done);
        }
    }
    pmq_buf_close(&resp.body);
    return rc;
}

static int cmd_purge(ctl_t *c) {
    /* Percent-encode everything but unreserved characters (RFC 3986 §2.3). */
    pmq_buf_t path;
    pmq_buf_init(&path, 8192);
    int rc = pmq_buf_append_cstr(&path, "/api/v1/destinations/");
    for (const unsigned char *p = (const unsigned char *)c->arg; rc == 0 && *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;
        rc = plain ? pmq_buf_append(&path, p, 1) : pmq_buf_appendf(&path, "%%%02X", *p);
    }
    rc = rc ? rc : pmq_buf_append(&path, "/purge", 7); /* with the NUL */
    if (rc != 0) {
        pmq_buf_close(&path);
        return usage_error("destination name too long", NULL);
    }
    char done[600];
    snprintf(done, sizeof(done), "purged %.500s", c->arg);
    rc = post(c, path.data, done);
    pmq_buf_close(&path);
    return rc;
}

static int cmd_drain(ctl_t *c) { return post(c, "/api/v1/drain", "draining"); }

static const command_t commands[] = {
    {"status", cmd_status, "usage: paxmqctl status [--json]\n\nShows the node's role, ballot, "
     "commit and applied indexes (GET /api/v1/status).\n", false},
    {"health", cmd_health, "usage: paxmqctl health --live|--ready|--startup [--verbose]\n\n"
     "Probes /livez, /readyz or /startupz and prints the one-line answer.\nExit 0 when the node "
     "answers 200, 1 when it answers anything else, 3 when it cannot be reached.\nMade for "
     "container health checks: HEALTHCHECK CMD [\"paxmqctl\", \"health\", \"--live\"]\n", false},
    {"destinations", cmd_destinations, "usage: paxmqctl destinations [--json]\n\nLists "
     "destinations with depth, consumers and counters (GET /api/v1/destinations).\n", false},
    {"purge", cmd_purge, "usage: paxmqctl purge NAME [--user U --password P]\n\nRemoves every "
     "message from queue NAME, through the replicated log\n(POST /api/v1/destinations/NAME/purge)."
     "\n", true},
    {"drain", cmd_drain, "usage: paxmqctl drain [--user U --password P]\n\nMakes the node "
     "NotReady, hands mastership over and closes clients (POST /api/v1/drain).\n", false},
};

/* ---- command line ---- */

/* Matches "--name VALUE" or "--name=VALUE"; advances *i past a separate value. */
static bool opt_value(int argc, char **argv, int *i, const char *name, const char **value) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) {
        return false;
    }
    if (a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (a[n] != '\0') {
        return false;
    }
    *value = *i + 1 < argc ? argv[++*i] : NULL;
    return true;
}

static int parse_args(ctl_t *c, int argc, char **argv) {
    const char *addr = getenv("PAXMQ_HTTP_ADDR");
    const char *timeout = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "help") == 0) {
            c->help = true;
        } else if (strcmp(a, "--json") == 0) {
            c->json = true;
        } else if (strcmp(a, "--verbose") == 0) {
            c->verbose = true;
        } else if (strcmp(a, "--live") == 0 || strcmp(a, "--ready") == 0 ||
                   strcmp(a, "--startup") == 0) {
            if (c->probe != NULL) {
                return usage_error("give only one of --live, --ready, --startup", NULL);
            }
            c->probe = a[2] == 'l' ? "/livez" : a[2] == 'r' ? "/readyz" : "/startupz";
        } else if (opt_value(argc, argv, &i, "--http", &v)) {
            addr = v ? v : "";
        } else if (opt_value(argc, argv, &i, "--user", &v)) {
            c->target.user = v;
        } else if (opt_value(argc, argv, &i, "--password", &v)) {
            c->target.password = v;
        } else if (opt_value(argc, argv, &i, "--timeout", &v)) {
            timeout = v ? v : "";
        } else if (a[0] == '-') {
            return usage_error("unknown option ", a);
        } else if (c->command == NULL) {
            c->command = a;
        } else if (c->arg == NULL) {
            c->arg = a;
        } else {
            return usage_error("unexpected argument ", a);
        }
        if (a[0] == '-' && a[1] == '-' && strchr(a, '=') == NULL && v == NULL &&
            (strcmp(a, "--http") == 0 || strcmp(a, "--user") == 0 ||
             strcmp(a, "--password") == 0 || strcmp(a, "--timeout") == 0)) {
            return usage_error("missing value for ", a);
        }
    }
    uint64_t ms = 5000;
    if (timeout != NULL && (!pmq_slice_to_u64(pmq_slice_cstr(timeout), 3600000, &ms) || ms == 0)) {
        return usage_error("--timeout needs milliseconds between 1 and 3600000, not ", timeout);
    }
    c->target.timeout_ms = (int)ms;
    if (!ctl_target_parse(&c->target, addr ? addr : "127.0.0.1:8161")) {
        return usage_error("bad address (want HOST:PORT): ", addr);
    }
    return CTL_EXIT_OK;
}

int main(int argc, char **argv) {
    ctl_t c = {0};
    c.target.user = getenv("PAXMQ_HTTP_ADMIN_USER");
    c.target.password = getenv("PAXMQ_HTTP_ADMIN_PASSWORD");
    int rc = parse_args(&c, argc, argv);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (c.command == NULL) {
        fputs(usage_main, c.help ? stdout : stderr);
        return c.help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < PMQ_ARRAY_LEN(commands); i++) {
        const command_t *cmd = &commands[i];
        if (strcmp(c.command, cmd->name) != 0) {
            continue;
        }
        if (c.help) {
            fputs(cmd->help, stdout);
            return CTL_EXIT_OK;
        }
        if (cmd->takes_arg != (c.arg != NULL)) {
            fputs(cmd->help, stderr);
            return CTL_EXIT_USAGE;
        }
        if (c.probe != NULL && cmd->run != cmd_health) {
            return usage_error("--live/--ready/--startup only go with health", NULL);
        }
        return cmd->run(&c);
    }
    return usage_error("unknown command ", c.command);
}
