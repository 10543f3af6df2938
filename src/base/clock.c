/* Clock reads. Only drivers (net, store, cluster driver, main) call these; pure code
 * receives time as an input. */
#include <time.h>

#include "paxmq/base.h"

uint64_t pmq_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t pmq_mono_ms(void) { return pmq_mono_ns() / 1000000ull; }

uint64_t pmq_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}
