/* Internal declarations shared by the files of the HTTP layer (never included elsewhere).
 *
 * Character-class helpers and the HTTP/1.1 head validator used by the parser. */
#ifndef PAXMQ_HTTP_INT_H
#define PAXMQ_HTTP_INT_H

#include "paxmq/http.h"

/* RFC 9110 §5.6.2 token characters. */
static inline bool http__is_tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field-value bytes: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5). */
static inline bool http__is_value_char(unsigned char c) {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* ASCII case-insensitive equality of a slice and a C string. */
bool http__ascii_ieq(pmq_slice_t s, const char *lit);
/* ASCII case-insensitive prefix test. */
bool http__ascii_prefix(pmq_slice_t s, const char *prefix);
/* True when the comma-separated list s contains token (case-insensitive, OWS trimmed). */
bool http__list_has_token(pmq_slice_t s, const char *token);

/* Validates and slices the complete head p->[start, head_len) of data (h1_head.c). */
int http__parse_head(http_parser_t *p, const char *data, pmq_proto_err_t *err);
/* Header-level semantics after the fields are split: Host, Content-Length,
 * Transfer-Encoding, Connection, Expect, Upgrade (h1_fields.c). */
int http__check_semantics(http_parser_t *p, pmq_proto_err_t *err);

#endif
