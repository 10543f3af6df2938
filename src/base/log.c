/* Diagnostic logging: one key=value line per event on stderr, written with a single
 * write(2) so lines from the loop and store threads never interleave. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "paxmq/base.h"

static pmq_log_level_t log_threshold = PMQ_LOG_INFO;
static char log_node[64] = "-";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void pmq_log_setup(pmq_log_level_t level, const char *node_name) {
    log_threshold = level;
    if (node_name != NULL && node_name[0] != '\0') {
        snprintf(log_node, sizeof(log_node), "%s", node_name);
    }
}

bool pmq_log_enabled(pmq_log_level_t level) { return level <= log_threshold; }

bool pmq_log_level_parse(const char *s, pmq_log_level_t *out) {
    for (size_t i = 0; i < PMQ_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (pmq_log_level_t)i;
            return true;
        }
    }
    return false;
}

void pmq_log_write(pmq_log_level_t level, const char *event, const char *fmt, ...) {
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s node=%s event=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], log_node, event);
    if (n < 0) {
        return;
    }
    size_t used = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
    va_end(ap);
    if (m > 0) {
        used += (size_t)m < sizeof(line) - used ? (size_t)m : sizeof(line) - used - 1;
    }
    if (used >= sizeof(line) - 1) {
        used = sizeof(line) - 2;
    }
    line[used++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, used);
    (void)w;
}

void pmq_ratelimit_init(pmq_ratelimit_t *rl, uint32_t per_window, uint64_t window_ms) {
    *rl = (pmq_ratelimit_t){0, 0, per_window, window_ms, 0};
}

bool pmq_ratelimit_allow(pmq_ratelimit_t *rl, uint64_t now_ms) {
    if (now_ms - rl->window_start_ms >= rl->window_ms) {
        rl->window_start_ms = now_ms;
        rl->count = 0;
    }
    if (rl->count < rl->per_window) {
        rl->count++;
        return true;
    }
    rl->suppressed++;
    return false;
}
