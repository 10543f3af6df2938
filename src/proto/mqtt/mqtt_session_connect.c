/* CONNECT and the life of a session (MQTT 3.1.1 §3.1, §3.2, §4.1): connection limit, client
 * id assignment, session takeover, clean sessions (volatile: a broker session that is never
 * in the log), persistent sessions (created and discarded through the log before CONNACK),
 * going offline and coming back, and the will. CONNECTs for one client id are serialized:
 * while a session is being created or discarded in the log, the next CONNECT waits. */
#include <stdio.h>

#include "mqtt_int.h"

static void connect_proceed(mqtt_conn_t *c);

static void refuse(mqtt_conn_t *c, uint8_t rc, const char *why) {
    if (mqtt__conn_alive(c) && mqtt_encode_connack(net_conn_outbuf(c->net), false, rc) == 0) {
        mqtt__packet_out(c);
    }
    mqtt__conn_close(c, why);
}

static mqtt_sess_t *sess_new(mqtt_server_t *srv, pmq_slice_t id, bool clean) {
    mqtt_sess_t *s = pmq_calloc(1, sizeof(*s) + id.len + 1);
    if (s == NULL) {
        return NULL;
    }
    s->srv = srv;
    s->clean = clean;
    s->refs = 1;
    s->next_pid = 1;
    PMQ_ASSERT(id.len <= UINT16_MAX); /* a CONNECT string, or our short assigned id */
    s->id_len = (uint16_t)id.len;
    memcpy(s->client_id, id.ptr, id.len);
    if (pmq_map_put(&srv->sessions, pmq_slice(s->client_id, id.len), s) != 0) {
        pmq_free(s);
        return NULL;
    }
    s->in_map = true;
    return s;
}

void mqtt__sess_discard(mqtt_sess_t *s) {
    mqtt_server_t *srv = s->srv;
    broker_t *b = srv->broker;
    if (s->conn != NULL) {
        s->conn->sess = NULL;
        s->conn = NULL;
    }
    if (s->sub != NULL) {
        broker_unsubscribe(b, s->sub, false); /* in-flight messages stay in the queue */
        s->sub = NULL;
    }
    if (s->bs != NULL && broker_msess_is_durable(s->bs)) {
        broker_msess_unbind(b, s->bs);
    } else if (s->bs != NULL) {
        broker_msess_free_volatile(b, s->bs);
    }
    s->bs = NULL;
    mqtt__win_free(s);
    if (s->waiting != NULL) {
        mqtt_conn_t *w = s->waiting;
        s->waiting = NULL;
        mqtt__conn_close(w, "session went away while the CONNECT waited");
        mqtt__conn_unref(w);
    }
    if (s->in_map) {
        void *gone = pmq_map_del(&srv->sessions, pmq_slice(s->client_id, s->id_len));
        PMQ_ASSERT(gone == s);
        s->in_map = false;
        mqtt__sess_unref(s);
    }
}

/* The connection c is taken over by a new CONNECT with the same client id [MQTT-3.1.4-2].
 * It did not send DISCONNECT, so its will is published (§3.1.2.5). */
static void takeover(mqtt_sess_t *s) {
    mqtt_conn_t *old = s->conn;
    old->srv->st.takeovers++;
    PMQ_LOG_INFO("mqtt_takeover", "client=%s old_conn=%llu", s->client_id,
                 (unsigned long long)old->id);
    mqtt__publish_will(old);
    if (s->bs != NULL) {
        broker_msess_unbind(old->srv->broker, s->bs); /* the new connection binds again */
    }
    old->sess = NULL;
    s->conn = NULL;
    mqtt__conn_close(old, "session taken over");
}

static void send_connack(mqtt_conn_t *c, bool present) {
    if (mqtt_encode_connack(net_conn_outbuf(c->net), present, MQTT_CONNACK_ACCEPTED) != 0) {
        mqtt__conn_close(c, "out of memory for CONNACK");
        return;
    }
    mqtt__packet_out(c);
    c->state = CONN_UP;
    c->srv->st.connects++;
}

/* Reads the durable QoS 2 state of a persistent session into memory, once per session
 * object: stored inbound ids (a re-sent PUBLISH gets PUBREC, not a second delivery) and
 * outbound ids awaiting PUBCOMP (PUBREL is re-sent) [MQTT-4.4.0-1]. */
static int sess_load(mqtt_sess_t *s) {
    if (s->loaded) {
        return 0;
    }
    const uint16_t *pids = NULL;
    uint32_t n = broker_msess_qos2_in(s->bs, &pids);
    for (uint32_t i = 0; i < n; i++) {
        if (mqtt__in_put(s, pids[i], true) != 0) {
            return PMQ_ENOMEM;
        }
    }
    n = broker_msess_out_rel(s->bs, &pids);
    for (uint32_t i = 0; i < n; i++) {
        if (mqtt__flight_find(s, pids[i], &(uint32_t){0}) == NULL &&
            mqtt__flight_add_rel(s, pids[i]) != 0) {
            return PMQ_ENOMEM;
        }
    }
    s->loaded = true;
    return 0;
}

/* The session is set up in the broker: bind, CONNACK, re-send the window. */
static void sess_online(mqtt_sess_t *s, mqtt_conn_t *c, bool present) {
    mqtt_server_t *srv = s->srv;
    broker_t *b = srv->broker;
    int rc = 0;
    if (s->bs == NULL && !s->clean) {
        s->bs = broker_msess_find(b, pmq_slice(s->client_id, s->id_len));
        rc = s->bs ? sess_load(s) : PMQ_ENOTFOUND;
    }
    if (rc == 0 && !s->clean && s->sub == NULL) {
        rc = broker_msess_consume(b, s->bs, &mqtt__queue_ops, s, srv->opt.inflight_max, s,
                                  &s->sub);
    }
    if (rc != 0) {
        refuse(c, MQTT_CONNACK_UNAVAILABLE, "session setup failed");
        if (s->clean) {
            mqtt__sess_discard(s);
        }
        return;
    }
    s->conn = c;
    c->sess = s;
    pmq_free(c->req);
    c->req = NULL;
    send_connack(c, present);
    if (s->bs != NULL) {
        /* A clean session gets its (volatile) broker session with its first SUBSCRIBE:
         * an idle connection holds none. */
        broker_msess_bind(b, s->bs, &mqtt__direct_ops, s);
    }
    PMQ_LOG_DEBUG("mqtt_connected", "conn=%llu client=%s clean=%d present=%d keepalive=%u",
                  (unsigned long long)c->id, s->client_id, s->clean, present, c->keepalive_s);
    mqtt__sess_resend(s);
    mqtt__conn_unblock(c);
}

/* Proposes SESSION_OPEN or SESSION_CLOSE for s; the CONNECT of c continues in
 * mqtt__connect_done. */
static void sess_log(mqtt_sess_t *s, mqtt_conn_t *c, bool open) {
    mqtt_server_t *srv = s->srv;
    pmq_slice_t id = pmq_slice(s->client_id, s->id_len);
    uint32_t limit = srv->opt.inflight_max + srv->opt.queued_max;
    pmq_buf_reset(&srv->scratch);
    int rc = open ? rlog_encode_mqtt_session_open(&srv->scratch, id, limit)
                  : rlog_encode_mqtt_session_close(&srv->scratch, id);
    mqtt_op_t *op = rc == 0 ? mqtt__op_new(OP_SESSION, c, s, 0) : NULL;
    if (op == NULL) {
        refuse(c, MQTT_CONNACK_UNAVAILABLE, "out of memory");
        mqtt__sess_discard(s); /* nothing was stored for it */
        return;
    }
    s->busy = true;
    mqtt__propose(srv, op);
}

void mqtt__connect_done(mqtt_op_t *op, int status) {
    mqtt_sess_t *s = op->sess;
    mqtt_conn_t *c = op->conn;
    s->busy = false;
    bool mine = s->in_map && s->conn == NULL && c->sess == NULL && mqtt__conn_alive(c);
    if (status != 0) {
        if (mine) {
            refuse(c, MQTT_CONNACK_UNAVAILABLE, "the session could not be stored");
        }
        if (s->in_map && s->conn == NULL) {
            mqtt__sess_discard(s); /* nothing durable to come back to */
        }
    } else if (mine) {
        sess_online(s, c, false);
    } else if (s->clean && s->conn == NULL && s->in_map) {
        mqtt__sess_discard(s); /* its connection went while the log was busy */
    }
    if (s->waiting != NULL) {
        mqtt_conn_t *w = s->waiting;
        s->waiting = NULL;
        if (mqtt__conn_alive(w)) {
            connect_proceed(w);
        }
        mqtt__conn_unref(w);
    }
}

static void connect_clean(mqtt_conn_t *c, mqtt_sess_t *old) {
    mqtt_server_t *srv = c->srv;
    pmq_slice_t id = pmq_slice(c->req->id, c->req->id_len);
    if (old != NULL) {
        mqtt__sess_discard(old); /* [MQTT-3.1.2-6]: the previous session is discarded */
    }
    mqtt_sess_t *s = sess_new(srv, id, true);
    if (s == NULL) {
        refuse(c, MQTT_CONNACK_UNAVAILABLE, "out of memory");
        return;
    }
    if (broker_msess_find(srv->broker, id) != NULL) {
        sess_log(s, c, false); /* a persistent session of that id goes first, durably */
        return;
    }
    sess_online(s, c, false);
}

static void connect_persistent(mqtt_conn_t *c, mqtt_sess_t *s) {
    mqtt_server_t *srv = c->srv;
    pmq_slice_t id = pmq_slice(c->req->id, c->req->id_len);
    if (s != NULL && s->clean) {
        mqtt__sess_discard(s);
        s = NULL;
    }
    if (s != NULL) {
        sess_online(s, c, true); /* [MQTT-3.2.2-2]: resumed, session present */
        return;
    }
    broker_msess_t *bs = broker_msess_find(srv->broker, id);
    broker_stats_t bst;
    broker_stats_get(srv->broker, &bst);
    if (bs == NULL && bst.destinations >= srv->opt.sessions_max) {
        refuse(c, MQTT_CONNACK_UNAVAILABLE, "too many destinations for a new persistent session");
        return;
    }
    s = sess_new(srv, id, false);
    if (s == NULL) {
        refuse(c, MQTT_CONNACK_UNAVAILABLE, "out of memory");
        return;
    }
    if (bs == NULL) {
        sess_log(s, c, true); /* CONNACK once the new session is durable */
        return;
    }
    uint32_t limit = srv->opt.inflight_max + srv->opt.queued_max;
    if (broker_msess_limit(bs) != limit) {
        /* Opened under other mqtt.inflight_max/queued_max settings: adopt the current. */
        pmq_buf_reset(&srv->scratch);
        if (rlog_encode_mqtt_session_open(&srv->scratch, id, limit) == 0) {
            mqtt__propose_quiet(srv, "session limit update");
        }
    }
    sess_online(s, c, true);
}

static void connect_proceed(mqtt_conn_t *c) {
    mqtt_server_t *srv = c->srv;
    pmq_slice_t id = pmq_slice(c->req->id, c->req->id_len);
    mqtt_sess_t *s = pmq_map_get(&srv->sessions, id);
    if (s != NULL && s->busy) {
        if (s->waiting != NULL) {
            mqtt_conn_t *w = s->waiting; /* taken over before it even connected */
            mqtt__conn_close(w, "session taken over");
            mqtt__conn_unref(w);
        }
        s->waiting = c;
        mqtt__conn_ref(c);
        return;
    }
    if (s != NULL && s->conn != NULL) {
        takeover(s);
    }
    if (c->req->clean) {
        connect_clean(c, s);
    } else {
        connect_persistent(c, s);
    }
}

/* Copies the will out of the CONNECT (it is published after the packet is gone). */
static int keep_will(mqtt_conn_t *c, const mqtt_connect_t *p) {
    if (!p->will) {
        return 0;
    }
    mqtt_will_t *w = pmq_malloc(sizeof(*w) + p->will_topic.len + p->will_payload.len + 1);
    if (w == NULL) {
        return PMQ_ENOMEM;
    }
    w->qos = p->will_qos;
    w->retain = p->will_retain;
    memcpy(w->data, p->will_topic.ptr, p->will_topic.len);
    if (p->will_payload.len > 0) {
        memcpy(w->data + p->will_topic.len, p->will_payload.ptr, p->will_payload.len);
    }
    w->topic = pmq_slice(w->data, p->will_topic.len);
    w->payload = pmq_slice(w->data + p->will_topic.len, p->will_payload.len);
    c->will = w;
    return 0;
}

static int keep_req(mqtt_conn_t *c, const mqtt_connect_t *p) {
    char auto_id[48];
    pmq_slice_t id = p->client_id;
    if (id.len == 0) {
        /* [MQTT-3.1.3-6]: the server assigns a unique id (the codec allows an empty one
         * only with clean session 1, [MQTT-3.1.3-7]). */
        int n = snprintf(auto_id, sizeof(auto_id), "paxmq-%llx-%llu",
                         (unsigned long long)c->srv->nonce, (unsigned long long)c->id);
        id = pmq_slice(auto_id, (size_t)n);
    }
    mqtt_req_t *r = pmq_malloc(sizeof(*r) + id.len + 1);
    if (r == NULL) {
        return PMQ_ENOMEM;
    }
    r->clean = p->clean_session;
    r->id_len = id.len;
    memcpy(r->id, id.ptr, id.len);
    r->id[id.len] = '\0';
    c->req = r;
    return 0;
}

void mqtt__on_connect(mqtt_conn_t *c, const mqtt_connect_t *p) {
    mqtt_server_t *srv = c->srv;
    net_stats_t ns;
    net_stats_get(srv->net, &ns);
    if (ns.open > srv->opt.connections_max) {
        srv->st.rejected_connections++;
        refuse(c, MQTT_CONNACK_UNAVAILABLE, "too many connections (net.connections_max)");
        return;
    }
    if (srv->opt.auth != NULL &&
        auth_check(srv->opt.auth, p->has_username, p->username, p->password) != 0) {
        srv->st.auth_failures++;
        PMQ_LOG_WARN("mqtt_auth_failed", "conn=%llu peer=%s user=%.*s", (unsigned long long)c->id,
                     net_conn_peer(c->net), (int)PMQ_MIN(p->username.len, 64), p->username.ptr);
        /* §3.2.2.3: 0x04 for a wrong name or password, 0x05 when none was given. */
        refuse(c, p->has_username ? MQTT_CONNACK_BAD_CREDENTIALS : MQTT_CONNACK_NOT_AUTHORIZED,
               "authentication failed");
        return;
    }
    c->keepalive_s = p->keepalive_s;
    if (keep_will(c, p) != 0 || keep_req(c, p) != 0) {
        refuse(c, MQTT_CONNACK_UNAVAILABLE, "out of memory");
        return;
    }
    c->state = CONN_WAIT;
    mqtt__conn_block(c); /* packets after CONNECT wait for CONNACK's decision */
    connect_proceed(c);
}

void mqtt__conn_detach(mqtt_conn_t *c) {
    mqtt_sess_t *s = c->sess;
    if (s == NULL) {
        return; /* never connected, taken over, or its session was discarded */
    }
    PMQ_ASSERT(s->conn == c);
    if (!c->clean_disconnect && c->state == CONN_UP && !c->srv->shutting_down) {
        mqtt__publish_will(c);
    }
    s->conn = NULL;
    c->sess = NULL;
    if (s->clean) {
        if (!s->busy) {
            mqtt__sess_discard(s); /* [MQTT-3.1.2-6]: a clean session ends with its connection */
        }
        return;
    }
    /* Persistent: offline. Its queue keeps QoS 1/2 messages; QoS 0 ones are not kept. */
    if (s->bs != NULL) {
        broker_msess_unbind(c->srv->broker, s->bs);
    }
}
