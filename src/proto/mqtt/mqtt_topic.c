/* MQTT topic names and filters (§4.7): validation, matching, and the ActiveMQ mapping
 * between MQTT topics and STOMP "/topic/..." destinations that makes the two protocols
 * share one namespace. Pure functions over borrowed slices; nothing here allocates
 * except the caller's pmq_buf_t in the mapping functions. Not here: the subscription
 * index that decides which subscribers a message reaches (that is the broker's). */
#include "paxmq/assert.h"
#include "paxmq/mqtt.h"

#define STOMP_TOPIC_PREFIX "/topic/"

/* End (exclusive) of the level that starts at `from`: the next '/' or s.len. */
static size_t level_end(pmq_slice_t s, size_t from) {
    const char *slash = from < s.len ? memchr(s.ptr + from, '/', s.len - from) : NULL;
    return slash != NULL ? (size_t)(slash - s.ptr) : s.len;
}

static bool level_is(pmq_slice_t s, size_t from, size_t end, char c) {
    return end - from == 1 && s.ptr[from] == c;
}

bool mqtt_topic_name_is_valid(pmq_slice_t topic) {
    if (topic.len == 0 || topic.len > MQTT_STRING_BYTES_MAX) {
        return false; /* [MQTT-4.7.3-1], [MQTT-4.7.3-3] */
    }
    if (memchr(topic.ptr, '+', topic.len) != NULL || memchr(topic.ptr, '#', topic.len) != NULL) {
        return false; /* [MQTT-3.3.2-2], [MQTT-4.7.1-1] */
    }
    return pmq_utf8_is_valid(topic, true); /* [MQTT-1.5.3-1], [MQTT-1.5.3-2] */
}

bool mqtt_topic_filter_is_valid(pmq_slice_t filter) {
    if (filter.len == 0 || filter.len > MQTT_STRING_BYTES_MAX) {
        return false; /* [MQTT-4.7.3-1], [MQTT-4.7.3-3] */
    }
    size_t from = 0;
    for (;;) {
        size_t end = level_end(filter, from);
        for (size_t i = from; i < end; i++) {
            char c = filter.ptr[i];
            if ((c == '+' || c == '#') && end - from != 1) {
                return false; /* a wildcard must be a whole level [MQTT-4.7.1-2], [MQTT-4.7.1-3] */
            }
        }
        if (level_is(filter, from, end, '#') && end != filter.len) {
            return false; /* '#' must be the last level [MQTT-4.7.1-2] */
        }
        if (end == filter.len) {
            break;
        }
        from = end + 1;
    }
    return pmq_utf8_is_valid(filter, true);
}

bool mqtt_topic_filter_has_wildcard(pmq_slice_t filter) {
    return filter.len > 0 && (memchr(filter.ptr, '+', filter.len) != NULL ||
                              memchr(filter.ptr, '#', filter.len) != NULL);
}

bool mqtt_topic_matches(pmq_slice_t filter, pmq_slice_t topic) {
    PMQ_DASSERT(mqtt_topic_filter_is_valid(filter));
    PMQ_DASSERT(mqtt_topic_name_is_valid(topic));
    if (filter.len == 0 || topic.len == 0) {
        return false;
    }
    /* §4.7.2 [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic
     * starting with '$' ("#" does not see $SYS/...). */
    if (topic.ptr[0] == '$' && (filter.ptr[0] == '+' || filter.ptr[0] == '#')) {
        return false;
    }
    size_t f = 0;
    size_t t = 0;
    for (;;) {
        size_t fe = level_end(filter, f);
        if (level_is(filter, f, fe, '#')) {
            return true; /* the rest of the topic, including no more levels (§4.7.1.2) */
        }
        size_t te = level_end(topic, t);
        if (!level_is(filter, f, fe, '+') &&
            (fe - f != te - t || memcmp(filter.ptr + f, topic.ptr + t, fe - f) != 0)) {
            return false;
        }
        bool filter_done = fe == filter.len;
        bool topic_done = te == topic.len;
        if (filter_done || topic_done) {
            /* "sport/#" matches "sport": the only filter rest allowed is a final "/#". */
            return filter_done ? topic_done
                               : (filter.len - (fe + 1) == 1 && filter.ptr[fe + 1] == '#');
        }
        f = fe + 1;
        t = te + 1;
    }
}

/* ActiveMQ's MQTTProtocolSupport swaps these three pairs in both directions, so the
 * mapping is an involution: MQTT separators and wildcards become ActiveMQ's and literal
 * '.', '*', '>' in an MQTT name become '/', '+', '#' (literals in ActiveMQ names). */
static char swap_char(char c) {
    switch (c) {
    case '/':
        return '.';
    case '.':
        return '/';
    case '+':
        return '*';
    case '*':
        return '+';
    case '#':
        return '>';
    case '>':
        return '#';
    default:
        return c;
    }
}

static int append_swapped(pmq_buf_t *out, const char *prefix, pmq_slice_t s) {
    size_t plen = strlen(prefix);
    int rc = pmq_buf_reserve(out, plen + s.len);
    if (rc != 0) {
        return rc;
    }
    char *w = out->data + out->len;
    memcpy(w, prefix, plen);
    for (size_t i = 0; i < s.len; i++) {
        w[plen + i] = swap_char(s.ptr[i]);
    }
    out->len += plen + s.len;
    return 0;
}

int mqtt_topic_to_stomp(pmq_slice_t topic, pmq_buf_t *out) {
    return append_swapped(out, STOMP_TOPIC_PREFIX, topic);
}

int mqtt_topic_from_stomp(pmq_slice_t destination, pmq_buf_t *out) {
    if (!pmq_slice_has_prefix(destination, STOMP_TOPIC_PREFIX)) {
        return PMQ_EINVAL;
    }
    size_t plen = strlen(STOMP_TOPIC_PREFIX);
    pmq_slice_t name = pmq_slice(destination.ptr + plen, destination.len - plen);
    if (name.len == 0) {
        return PMQ_EINVAL;
    }
    if (name.len > MQTT_STRING_BYTES_MAX) {
        return PMQ_ETOOBIG;
    }
    return append_swapped(out, "", name);
}
