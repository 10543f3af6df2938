/* Process statistics from /proc/self for the standard process_* metrics (Linux only).
 *
 * Reads /proc/self/stat (CPU ticks, start time, sizes), /proc/stat (boot time) and
 * counts /proc/self/fd. Called per scrape on the loop thread; a few small reads. */
#define PMQ_HTTP_SERVER_INTERNALS 1
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "paxmq/assert.h"
#include "paxmq/http.h"

#include "http_int.h"

static int read_file(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return PMQ_EIO;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0 ? 0 : PMQ_EIO;
}

static uint64_t boot_time_seconds(void) {
    char buf[8192];
    if (read_file("/proc/stat", buf, sizeof(buf)) != 0) {
        return 0;
    }
    const char *p = strstr(buf, "\nbtime ");
    return p ? strtoull(p + 7, NULL, 10) : 0;
}

static uint64_t count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return 0;
    }
    uint64_t n = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n > 0 ? n - 1 : 0; /* minus the directory's own descriptor */
}

int http__procstat_read(http_procstat_t *out) {
    char buf[1024];
    memset(out, 0, sizeof(*out));
    if (read_file("/proc/self/stat", buf, sizeof(buf)) != 0) {
        return PMQ_EIO;
    }
    /* The command name may hold spaces and parentheses: fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL) {
        return PMQ_EIO;
    }
    p += 2; /* field 3, the state */
    uint64_t field[64] = {0};
    int i = 3;
    for (char *tok = strtok(p, " "); tok != NULL && i < 64; tok = strtok(NULL, " "), i++) {
        field[i] = strtoull(tok, NULL, 10);
    }
    if (i <= 24) {
        return PMQ_EIO;
    }
    double tick = (double)sysconf(_SC_CLK_TCK);
    out->cpu_seconds = (double)(field[14] + field[15]) / tick;
    out->start_time_seconds = (double)boot_time_seconds() + (double)field[22] / tick;
    out->vsize_bytes = field[23];
    out->rss_bytes = field[24] * (uint64_t)sysconf(_SC_PAGESIZE);
    out->open_fds = count_fds();
    struct rlimit rl;
    out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (uint64_t)rl.rlim_cur : 0;
    return 0;
}
