/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-1 table. Used for
 * every stored record and peer frame. The table is computed into a static const at
 * compile time would need C23; we build it once lazily instead (idempotent, so a race
 * between threads writes identical values). */
#include "paxmq/base.h"

static uint32_t crc_table[256];
static volatile int crc_table_ready;

static void crc_table_build(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        crc_table[i] = c;
    }
    __atomic_store_n(&crc_table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t pmq_crc32c(uint32_t crc, const void *data, size_t len) {
    if (!__atomic_load_n(&crc_table_ready, __ATOMIC_ACQUIRE)) {
        crc_table_build();
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    }
    return ~crc;
}
