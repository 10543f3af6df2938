/* paxmq-bench internals shared by the files in bench/.
 *
 * The tool is a load generator, not part of the broker: it carries its own small
 * client-side STOMP 1.2 and MQTT 3.1.1 encoders/parsers so it never depends on the
 * broker's codecs. Threads: the main thread parses options, starts at most one worker
 * per core and reports; each worker owns its connections and its epoll set, and talks
 * to the main thread only through the atomics in bench_run_t. */
#ifndef PAXMQ_BENCH_INT_H
#define PAXMQ_BENCH_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "paxmq/base.h"
#include "paxmq/buf.h"

/* Limits (STYLE: a bound on everything). */
#define BENCH_THREADS_MAX 2u           /* one worker per core on the 2-core target */
#define BENCH_CONNS_MAX 100000u        /* --connections */
#define BENCH_CLIENTS_MAX 1000u        /* --producers, --subscribers */
#define BENCH_WINDOW_MAX 65535u        /* MQTT packet ids bound the window */
#define BENCH_SIZE_MAX (4u << 20)      /* --size */
#define BENCH_FRAME_MAX (8u << 20)     /* largest frame we accept from a broker */
#define BENCH_RBUF_ACTIVE (256u << 10) /* read buffer of a producer/subscriber */
#define BENCH_RBUF_IDLE (4u << 10)     /* read buffer of an idle (conns) connection */
#define BENCH_BATCH_BYTES (64u << 10)  /* frames built into one write */
#define BENCH_OUT_HIGH (1u << 20)      /* pending acks: stop reading above this */
#define BENCH_OUT_LIMIT (16u << 20)    /* hard cap of a connection's output buffer */
#define BENCH_HANDSHAKES_MAX 128u      /* connects in flight per worker */
#define BENCH_SEQ_MAX (1ull << 32)     /* messages per producer (bitmap bound) */
#define BENCH_PAYLOAD_MIN 40u          /* "PXB1" + producer + seq + timestamp */
#define BENCH_PACE_QUANTUM_NS 50000u   /* paced producers wake at most every 50 us */

typedef enum bench_proto {
    BENCH_PROTO_STOMP = 0,
    BENCH_PROTO_MQTT = 1,
} bench_proto_t;

typedef enum bench_scenario {
    BENCH_SC_FANIN = 0,
    BENCH_SC_FANOUT,
    BENCH_SC_QUEUE,
    BENCH_SC_LATENCY,
    BENCH_SC_CONNS,
    BENCH_SC_RELAY, /* not a scenario: serve as a trivial broker (bench_relay.c) */
} bench_scenario_t;

typedef struct bench_opts {
    bench_scenario_t scenario;
    bench_proto_t proto;
    char host[256];
    char port[16];
    char user[128];
    char pass[128];
    char vhost[128];
    char dest[200];        /* empty: a unique name per run */
    uint32_t size;         /* payload bytes */
    uint64_t count;        /* total messages published; 0 = use duration */
    double duration_s;     /* publishing time when count == 0 */
    uint32_t producers;
    uint32_t subscribers;
    uint32_t window;       /* outstanding receipts / PUBACKs (queue) */
    double rate;           /* total msg/s over all producers; 0 = unpaced */
    uint32_t connections;  /* conns scenario */
    uint32_t prefetch;     /* STOMP queue consumer prefetch headers; 0 = broker default */
    uint64_t max_lag;      /* at most this many deliveries published but not yet settled */
    uint64_t relay_drop;   /* relay: drop every Nth published message (self-test); 0 = none */
    uint32_t threads;
    int broker_pid;        /* 0 = none */
    double drain_s;        /* give up after this long without a new delivery */
    double timeout_s;      /* hard bound of the measured phase */
    double settle_s;       /* conns: wait before reading the broker's RSS */
    double warmup_s;       /* latencies of messages sent earlier are not recorded */
    bool json;
    bool quiet;
} bench_opts_t;

/* Run phases, advanced only by the main thread (except BENCH_PHASE_DONE on error). */
enum {
    BENCH_PHASE_SETUP = 0, /* connect, handshake, subscribe */
    BENCH_PHASE_RUN,       /* producers publish */
    BENCH_PHASE_STOP,      /* producers stop; deliveries drain */
    BENCH_PHASE_DONE,      /* workers flush, disconnect and exit */
};

/* What a client-side parser found in the input. */
typedef enum bench_ev_kind {
    BENCH_EV_NONE = 0,
    BENCH_EV_CONNECTED,  /* STOMP CONNECTED, MQTT CONNACK accepted */
    BENCH_EV_SUBSCRIBED, /* STOMP RECEIPT for a SUBSCRIBE, MQTT SUBACK */
    BENCH_EV_MESSAGE,    /* STOMP MESSAGE, MQTT PUBLISH */
    BENCH_EV_PUBACK,     /* STOMP RECEIPT for a SEND, MQTT PUBACK */
    BENCH_EV_ERROR,      /* STOMP ERROR, MQTT refusal; text in .text */
} bench_ev_kind_t;

typedef struct bench_ev {
    bench_ev_kind_t kind;
    pmq_slice_t body;   /* MESSAGE payload (borrowed from the read buffer) */
    pmq_slice_t ack_id; /* STOMP: value of the ack (1.2) or message-id header, raw */
    uint16_t packet_id; /* MQTT PUBLISH QoS 1 / PUBACK */
    uint8_t qos;        /* MQTT PUBLISH */
    pmq_slice_t text;   /* ERROR description */
} bench_ev_t;

/* ---- client-side STOMP 1.2 (bench_stomp.c) ---- */

/* One frame as found in the input: slices into it, header values still escaped. */
typedef struct bench_stomp_frame {
    pmq_slice_t command;
    pmq_slice_t content_length;
    pmq_slice_t receipt_id;
    pmq_slice_t ack;
    pmq_slice_t message_id;
    pmq_slice_t message;
    pmq_slice_t receipt;
    pmq_slice_t id;
    pmq_slice_t destination;
    pmq_slice_t body;
    bool has_content_length;
} bench_stomp_frame_t;

/* Splits one frame off in (any command). Returns 1, 0 (need more bytes), PMQ_EPROTO or
 * PMQ_ETOOBIG; *used as for bench_stomp_parse. */
PMQ_MUST_USE int bench_stomp_frame_parse(pmq_slice_t in, size_t *used, bench_stomp_frame_t *f);

/* Parses at most one server frame from in. Returns 1 with *ev filled, 0 when more
 * bytes are needed, PMQ_EPROTO on garbage or PMQ_ETOOBIG past BENCH_FRAME_MAX. *used is
 * the number of bytes to consume in every case (heart-beat EOLs are consumed too). */
PMQ_MUST_USE int bench_stomp_parse(pmq_slice_t in, size_t *used, bench_ev_t *ev);

/* Encoders (STOMP and MQTT alike) append one complete frame/packet to b and return 0,
 * or PMQ_ETOOBIG / PMQ_ENOMEM from the buffer (b is then unchanged or holds a partial
 * frame the caller discards with the connection). Any thread owning b. */

/* CONNECT with accept-version 1.2, host o->vhost, heart-beat 0,0 and the credentials. */
PMQ_MUST_USE int bench_stomp_connect(pmq_buf_t *b, const bench_opts_t *o);
/* SUBSCRIBE with receipt "s<id>"; client_individual selects the ack mode. */
PMQ_MUST_USE int bench_stomp_subscribe(pmq_buf_t *b, uint32_t id, const char *dest,
                                       bool client_individual, uint32_t prefetch);
/* ACK with id = ack_id as received (still escaped, STOMP 1.2). */
PMQ_MUST_USE int bench_stomp_ack(pmq_buf_t *b, pmq_slice_t ack_id);
PMQ_MUST_USE int bench_stomp_disconnect(pmq_buf_t *b);
/* Writes the invariant head of a SEND frame (command, destination, content-length,
 * persistent) without the blank line; bench_stomp_send_tail completes it. */
PMQ_MUST_USE int bench_stomp_send_head(pmq_buf_t *b, const char *dest, uint32_t size,
                                       bool persistent);

/* ---- client-side MQTT 3.1.1 (bench_mqtt.c) ---- */

/* Parses at most one server packet; returns and consumes as bench_stomp_parse. */
PMQ_MUST_USE int bench_mqtt_parse(pmq_slice_t in, size_t *used, bench_ev_t *ev);
/* Splits one packet off in: first byte and the bytes after the remaining length.
 * Returns 1, 0 (need more), PMQ_EPROTO or PMQ_ETOOBIG. */
PMQ_MUST_USE int bench_mqtt_packet_parse(pmq_slice_t in, size_t *used, uint8_t *byte0,
                                         pmq_slice_t *body);
/* Appends a fixed header: byte0 and the remaining length. */
PMQ_MUST_USE int bench_mqtt_fixed_header(pmq_buf_t *b, uint8_t byte0, uint32_t rem);
/* CONNECT for MQTT 3.1.1: clean session, keep-alive 0, optional username/password. */
PMQ_MUST_USE int bench_mqtt_connect(pmq_buf_t *b, const bench_opts_t *o, const char *client_id);
/* SUBSCRIBE to one topic filter at qos. */
PMQ_MUST_USE int bench_mqtt_subscribe(pmq_buf_t *b, uint16_t packet_id, const char *topic,
                                      uint8_t qos);
PMQ_MUST_USE int bench_mqtt_puback(pmq_buf_t *b, uint16_t packet_id);
PMQ_MUST_USE int bench_mqtt_disconnect(pmq_buf_t *b);
/* Writes a PUBLISH fixed header, topic and (QoS 1) a packet-id placeholder; the
 * caller patches the id at offset *pid_off and appends size payload bytes. */
PMQ_MUST_USE int bench_mqtt_publish_head(pmq_buf_t *b, const char *topic, uint8_t qos,
                                         uint32_t size, size_t *pid_off);

/* ---- statistics (bench_stats.c) ---- */

/* Log-linear latency histogram in nanoseconds: 128 sub-buckets per power of two,
 * so every reported percentile is within 0.8% of the true value. */
#define BENCH_HIST_SUB 128u
#define BENCH_HIST_BUCKETS (BENCH_HIST_SUB * 36u)
typedef struct bench_hist {
    uint64_t counts[BENCH_HIST_BUCKETS];
    uint64_t total;
    uint64_t max_ns;
    long double sum_ns;
} bench_hist_t;

void bench_hist_add(bench_hist_t *h, uint64_t ns);
void bench_hist_merge(bench_hist_t *into, const bench_hist_t *from);
/* Value at quantile q in [0, 1] (0 when empty). */
uint64_t bench_hist_quantile(const bench_hist_t *h, double q);

/* A growable bitmap of sequence numbers seen from one producer. */
typedef struct bench_seen {
    uint64_t *bits;
    size_t words;
} bench_seen_t;

/* Marks seq; returns 1 when it is new, 0 when it was already set, PMQ_ENOMEM or
 * PMQ_ETOOBIG (seq >= BENCH_SEQ_MAX). */
PMQ_MUST_USE int bench_seen_mark(bench_seen_t *s, uint64_t seq);
/* ORs from into into, growing into as needed; PMQ_ENOMEM. */
PMQ_MUST_USE int bench_seen_or(bench_seen_t *into, const bench_seen_t *from);
uint64_t bench_seen_count(const bench_seen_t *s);
void bench_seen_free(bench_seen_t *s);

/* Broker process figures from /proc; zeros when unreadable. */
typedef struct bench_proc {
    bool ok;
    uint64_t rss_kib; /* VmRSS */
    uint64_t hwm_kib; /* VmHWM: peak RSS */
    double cpu_s;     /* utime + stime */
} bench_proc_t;

void bench_proc_read(int pid, bench_proc_t *out);
/* CPU seconds this process has used (all threads). */
double bench_self_cpu_s(void);

/* Hex helpers for the payload header. */
void bench_hex_u64(char *dst16, uint64_t v);
void bench_hex_u16(char *dst4, uint16_t v);
bool bench_unhex_u64(const char *src, size_t n, uint64_t *out);

/* ---- the relay (bench_relay.c) ---- */

/* Serves o->proto on o->host:o->port as a trivial fan-out relay until SIGINT/SIGTERM or
 * o->duration_s. Returns the process exit status. Main thread only. */
int bench_relay_run(const bench_opts_t *o);

/* ---- the run (bench_worker.c) ---- */

typedef struct bench_run bench_run_t;

/* Everything the report needs once the workers have stopped. */
typedef struct bench_result {
    uint64_t sent;
    uint64_t acked;          /* receipts / PUBACKs for published messages */
    uint64_t expected;       /* deliveries that reliable delivery would give */
    uint64_t delivered;      /* unique deliveries (per subscriber for topics) */
    uint64_t received;       /* every delivery, duplicates included */
    uint64_t duplicates;
    uint64_t reordered;
    uint64_t foreign;        /* messages without our payload header */
    uint64_t t_send_ns;      /* from start to the last publish */
    uint64_t t_ack_ns;       /* from start to the last receipt */
    uint64_t t_deliver_ns;   /* from start to the last new delivery */
    uint64_t t_setup_ns;     /* connect + handshake (+ subscribe) time */
    uint32_t conns_ready;
    bench_hist_t *hist;      /* delivery latency; owned by the result */
    char error[256];         /* empty when the run itself worked */
} bench_result_t;

/* Creates the run: resolves the target and lays out connections over workers.
 * Returns PMQ_EINVAL (bad host), PMQ_ENOMEM. */
PMQ_MUST_USE int bench_run_new(const bench_opts_t *o, bench_run_t **out);
/* Starts the workers (they connect and handshake). PMQ_EIO when a thread fails. */
PMQ_MUST_USE int bench_run_start(bench_run_t *r);
/* Waits until every connection is ready, an error, or timeout_s. Returns 0 or PMQ_EIO. */
PMQ_MUST_USE int bench_run_wait_ready(bench_run_t *r, double timeout_s);
/* Main-thread control of the phases and live counters for progress lines. */
void bench_run_set_phase(bench_run_t *r, int phase);
int bench_run_phase(bench_run_t *r);
void bench_run_counters(bench_run_t *r, uint64_t *sent, uint64_t *acked, uint64_t *delivered);
/* True once every worker has seen phase (and published all it built before). */
bool bench_run_phase_acked(bench_run_t *r, int phase);
uint32_t bench_run_ready(bench_run_t *r);
/* The destination (STOMP) or topic (MQTT) the run uses. */
const char *bench_run_dest(const bench_run_t *r);
/* The first error any worker hit, or NULL. */
const char *bench_run_error(bench_run_t *r);
uint64_t bench_run_t0_ns(const bench_run_t *r);
/* Joins the workers and fills res (res->hist must be freed by the caller with
 * pmq_free). */
void bench_run_finish(bench_run_t *r, bench_result_t *res);
void bench_run_free(bench_run_t *r);

#endif
