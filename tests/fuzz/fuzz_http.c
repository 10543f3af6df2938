/* libFuzzer driver for the HTTP/1.1 request parser and the JSON string escaper.
 * Properties: no crash; feeding the bytes in two pieces (split at a point the input
 * chooses) gives the same outcome as feeding them whole; a complete request's slices
 * lie inside the input; JSON escaping of arbitrary bytes yields valid UTF-8 with no raw
 * control characters. */
#include <stdlib.h>

#include "paxmq/assert.h"
#include "paxmq/buf.h"
#include "paxmq/http.h"

static int feed_all(const char *data, size_t len, size_t split, http_request_t *req) {
    http_limits_t lim;
    http_limits_default(&lim);
    lim.header_count_max = 16;
    lim.header_bytes_max = 1024;
    lim.body_bytes_max = 4096;
    http_parser_t p;
    PMQ_ASSERT(http_parser_init(&p, &lim) == 0);
    pmq_proto_err_t err = {0};
    int rc = PMQ_EAGAIN;
    if (split > 0 && split < len) {
        rc = http_parser_feed(&p, data, split, &err);
    }
    if (rc == PMQ_EAGAIN) {
        rc = http_parser_feed(&p, data, len, &err);
    }
    if (rc > 0) {
        *req = p.req;
        PMQ_ASSERT((size_t)rc <= len);
        PMQ_ASSERT(req->path.ptr >= data && req->path.ptr + req->path.len <= data + len);
    } else if (rc != PMQ_EAGAIN) {
        PMQ_ASSERT(err.code >= 400 && err.code <= 505);
        PMQ_ASSERT(err.must_close);
    }
    http_parser_close(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) {
        return 0;
    }
    size_t split = data[0] % (size + 1);
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    http_request_t a, b;
    int whole = feed_all(in, len, 0, &a);
    int pieces = feed_all(in, len, split, &b);
    /* A request that completes whole completes identically when fed in two pieces. */
    PMQ_ASSERT(whole == pieces || (whole < 0 && pieces < 0));
    pmq_buf_t out;
    pmq_buf_init(&out, 0);
    if (http_json_escape(&out, pmq_slice(in, len)) == 0) {
        PMQ_ASSERT(pmq_utf8_is_valid(pmq_buf_slice(&out), true));
        for (size_t i = 0; i < out.len; i++) {
            PMQ_ASSERT((unsigned char)out.data[i] >= 0x20);
        }
    }
    pmq_buf_close(&out);
    return 0;
}
