/* Encode/decode of the records the store keeps in LMDB (formats in docs/STORE.md).
 *
 * Pure byte work: no LMDB, no allocation, callable from either thread. Every value
 * starts with a CRC-32C that also covers the record's key (index or meta key), so a
 * value copied under the wrong key fails its check like a flipped bit does. Encoders
 * assert their own output decodes (the pair of STYLE §3); decoders treat their input as
 * untrusted and return PMQ_ECORRUPT, never assert. */
#include "store_int.h"

static uint32_t crc_index(uint64_t index, pmq_slice_t payload) {
    unsigned char be[8];
    pmq_store_u64be(be, index);
    uint32_t crc = pmq_crc32c(0, be, sizeof(be));
    return pmq_crc32c(crc, payload.ptr, payload.len);
}

static uint32_t crc_meta(const char *key, pmq_slice_t value) {
    /* The NUL separator keeps ("ab", "c") and ("a", "bc") apart. */
    uint32_t crc = pmq_crc32c(0, key, strlen(key) + 1);
    return pmq_crc32c(crc, value.ptr, value.len);
}

void store__key_encode(unsigned char out[STORE__KEY_BYTES], uint64_t index) {
    PMQ_ASSERT(index >= 1);
    pmq_store_u64be(out, index);
    PMQ_ASSERT(pmq_load_u64be(out) == index);
}

int store__key_decode(pmq_slice_t key, uint64_t *index) {
    if (key.len != STORE__KEY_BYTES) {
        return PMQ_ECORRUPT;
    }
    uint64_t v = pmq_load_u64be(key.ptr);
    if (v == 0) {
        return PMQ_ECORRUPT;
    }
    *index = v;
    return 0;
}

size_t store__log_value_size(size_t payload_len) {
    PMQ_ASSERT(payload_len <= SIZE_MAX - STORE__CRC_BYTES);
    return STORE__CRC_BYTES + payload_len;
}

void store__log_value_encode(char *dst, uint64_t index, pmq_slice_t payload) {
    PMQ_ASSERT(dst != NULL);
    PMQ_ASSERT(index >= 1);
    pmq_store_u32be(dst, crc_index(index, payload));
    if (payload.len > 0) {
        memcpy(dst + STORE__CRC_BYTES, payload.ptr, payload.len);
    }
    /* Paired with store__log_value_decode: a full re-check costs a CRC pass, so only in
     * debug builds. */
    pmq_slice_t check;
    PMQ_DASSERT(store__log_value_decode(
                    index, pmq_slice(dst, store__log_value_size(payload.len)), &check) == 0);
}

int store__log_value_decode(uint64_t index, pmq_slice_t value, pmq_slice_t *payload) {
    PMQ_ASSERT(index >= 1);
    if (value.len < STORE__CRC_BYTES) {
        return PMQ_ECORRUPT;
    }
    pmq_slice_t p = pmq_slice(value.ptr + STORE__CRC_BYTES, value.len - STORE__CRC_BYTES);
    if (pmq_load_u32be(value.ptr) != crc_index(index, p)) {
        return PMQ_ECORRUPT;
    }
    *payload = p;
    return 0;
}

size_t store__meta_value_size(size_t value_len) {
    PMQ_ASSERT(value_len <= STORE_META_VALUE_MAX);
    return STORE__CRC_BYTES + value_len;
}

void store__meta_value_encode(char *dst, const char *key, pmq_slice_t value) {
    PMQ_ASSERT(dst != NULL);
    PMQ_ASSERT(key != NULL);
    pmq_store_u32be(dst, crc_meta(key, value));
    if (value.len > 0) {
        memcpy(dst + STORE__CRC_BYTES, value.ptr, value.len);
    }
    pmq_slice_t check;
    PMQ_DASSERT(store__meta_value_decode(
                    key, pmq_slice(dst, store__meta_value_size(value.len)), &check) == 0);
}

int store__meta_value_decode(const char *key, pmq_slice_t stored, pmq_slice_t *value) {
    PMQ_ASSERT(key != NULL);
    if (stored.len < STORE__CRC_BYTES) {
        return PMQ_ECORRUPT;
    }
    pmq_slice_t v = pmq_slice(stored.ptr + STORE__CRC_BYTES, stored.len - STORE__CRC_BYTES);
    if (pmq_load_u32be(stored.ptr) != crc_meta(key, v)) {
        return PMQ_ECORRUPT;
    }
    *value = v;
    return 0;
}

size_t store__snap_value_size(size_t len) {
    PMQ_ASSERT(len <= SIZE_MAX - STORE__SNAP_HDR_BYTES);
    return STORE__SNAP_HDR_BYTES + len;
}

void store__snap_value_encode(char *dst, uint64_t index, pmq_slice_t bytes) {
    PMQ_ASSERT(dst != NULL);
    PMQ_ASSERT(index >= 1);
    pmq_store_u32be(dst, crc_index(index, bytes));
    pmq_store_u64be(dst + STORE__CRC_BYTES, index);
    if (bytes.len > 0) {
        memcpy(dst + STORE__SNAP_HDR_BYTES, bytes.ptr, bytes.len);
    }
    uint64_t check_index;
    pmq_slice_t check;
    PMQ_DASSERT(store__snap_value_decode(pmq_slice(dst, store__snap_value_size(bytes.len)),
                                         &check_index, &check) == 0);
}

int store__snap_value_decode(pmq_slice_t stored, uint64_t *index, pmq_slice_t *bytes) {
    if (stored.len < STORE__SNAP_HDR_BYTES) {
        return PMQ_ECORRUPT;
    }
    uint64_t idx = pmq_load_u64be(stored.ptr + STORE__CRC_BYTES);
    pmq_slice_t b =
        pmq_slice(stored.ptr + STORE__SNAP_HDR_BYTES, stored.len - STORE__SNAP_HDR_BYTES);
    if (idx == 0 || pmq_load_u32be(stored.ptr) != crc_index(idx, b)) {
        return PMQ_ECORRUPT;
    }
    *index = idx;
    *bytes = b;
    return 0;
}
