"""Persistent MQTT sessions (clean session 0) and retained messages survive kill -9: their
subscriptions, the QoS 1/2 messages queued while the client was away, the in-flight
window (re-sent with DUP on reconnect), the QoS 2 packet-id state in both directions, and
retained messages. Every PUBACKed message is delivered after a crash. A clean session 1
CONNECT discards a persistent session durably."""

import time

import pytest

from mqtt_fixture import *  # noqa: F401,F403
from mqtt_fixture import (PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, Closed, RawMqtt,
                          ack_packet, publish_packet, wait_mqtt)
from pmqtest import T

pytestmark = pytest.mark.paxmq_only


@pytest.fixture
def durable(mqtt_start):
    return mqtt_start(store_sync=True)


def crash_and_restart(b):
    b.kill9()
    b.start()
    wait_mqtt(b)


def test_offline_messages_and_subscriptions_survive_kill9(durable, raw):
    c = raw(durable)
    assert not c.connect("dev", clean=False).session_present
    assert c.subscribe([("sensors/#", 1), ("cmd/+", 2)]) == [1, 2]
    c.disconnect()
    p = raw(durable)
    p.connect("pub")
    p.publish("sensors/t", b"q1", qos=1, pid=1)
    p.publish("cmd/x", b"q2", qos=2, pid=2)
    p.publish("sensors/t", b"q0", qos=0)  # not kept for an absent client
    p.publish("other", b"no", qos=1, pid=3)
    crash_and_restart(durable)
    c = raw(durable)
    assert c.connect("dev", clean=False).session_present  # [MQTT-3.2.2-2]
    got = c.messages(2)
    assert [(m.topic, m.payload, m.qos) for m in got] == [("sensors/t", b"q1", 1),
                                                          ("cmd/x", b"q2", 2)]
    assert c.poll(0.4) is None
    # The subscriptions are still there after the crash.
    p = raw(durable)
    p.connect("pub2")
    p.publish("sensors/h", b"live", qos=1, pid=1)
    assert c.messages(1)[0].payload == b"live"


def test_inflight_qos1_resent_with_dup_and_same_id_on_reconnect(durable, raw):
    c = raw(durable)
    c.connect("inflight", clean=False)
    c.subscribe([("if", 1)])
    p = raw(durable)
    p.connect("ifpub")
    for i in range(3):
        p.publish("if", b"%d" % i, qos=1, pid=i + 1)
    first = c.messages(3, ack=False)
    c.send(ack_packet(PUBACK, first[0].pid))
    time.sleep(0.2)
    c.close()  # without DISCONNECT, with two unacknowledged
    c = raw(durable)
    assert c.connect("inflight", clean=False).session_present
    again = c.messages(2)
    # [MQTT-4.4.0-1]: re-sent in order, same packet ids, DUP set.
    assert [(m.payload, m.pid, m.dup) for m in again] == [(b"1", first[1].pid, True),
                                                          (b"2", first[2].pid, True)]
    assert c.poll(0.4) is None


def test_unacked_qos1_redelivered_after_kill9(durable, raw):
    c = raw(durable)
    c.connect("crashy", clean=False)
    c.subscribe([("cr", 1)])
    p = raw(durable)
    p.connect("crpub")
    p.publish("cr", b"keep", qos=1, pid=1)
    p.publish("cr", b"acked", qos=1, pid=2)
    got = c.messages(2, ack=False)
    c.send(ack_packet(PUBACK, got[1].pid))
    time.sleep(0.3)  # the ACK reaches the log
    crash_and_restart(durable)
    c = raw(durable)
    c.connect("crashy", clean=False)
    assert [m.payload for m in c.messages(1)] == [b"keep"]
    assert c.poll(0.4) is None


def test_outbound_qos2_same_id_after_kill9_and_pubrel_resent(durable, raw):
    c = raw(durable)
    c.connect("q2out", clean=False)
    c.subscribe([("x2", 2)])
    p = raw(durable)
    p.connect("x2pub")
    p.publish("x2", b"once", qos=2, pid=1)
    m = c.expect(PUBLISH)
    pid = m.pid
    crash_and_restart(durable)
    c = raw(durable)
    c.connect("q2out", clean=False)
    m2 = c.expect(PUBLISH)
    # The same packet id: a client that stored it will not deliver it twice.
    assert (m2.pid, m2.dup, m2.payload) == (pid, True, b"once")
    c.send(ack_packet(PUBREC, pid))
    assert c.expect(PUBREL).pid == pid
    time.sleep(0.3)
    crash_and_restart(durable)
    c = raw(durable)
    c.connect("q2out", clean=False)
    # After PUBREC the message is gone; only PUBREL is re-sent [MQTT-4.4.0-1].
    assert c.expect(PUBREL).pid == pid
    c.send(ack_packet(PUBCOMP, pid))
    assert c.poll(0.4) is None
    time.sleep(0.3)
    crash_and_restart(durable)
    c = raw(durable)
    c.connect("q2out", clean=False)
    assert c.poll(0.5) is None


def test_inbound_qos2_id_survives_kill9(durable, raw):
    s = raw(durable)
    s.connect("q2watch", clean=False)
    s.subscribe([("in2", 1)])
    p = raw(durable)
    p.connect("q2in", clean=False)
    p.send(publish_packet("in2", b"exactly", qos=2, pid=300))
    assert p.expect(PUBREC).pid == 300
    assert [m.payload for m in s.messages(1)] == [b"exactly"]
    time.sleep(0.3)  # the watcher's PUBACK reaches the log (else QoS 1 redelivers it)
    crash_and_restart(durable)
    p = raw(durable)
    assert p.connect("q2in", clean=False).session_present
    # The client re-sends (it never got PUBCOMP): PUBREC again, no second delivery.
    p.send(publish_packet("in2", b"exactly", qos=2, pid=300, dup=True))
    assert p.expect(PUBREC).pid == 300
    p.send(ack_packet(PUBREL, 300))
    assert p.expect(PUBCOMP).pid == 300
    s = raw(durable)
    s.connect("q2watch", clean=False)
    assert s.poll(0.5) is None


def test_retained_survives_kill9_and_empty_payload_clears(durable, raw, paho):
    p = raw(durable)
    p.connect("rpub")
    p.publish("r/a", b"A", qos=1, pid=1, retain=True)
    p.publish("r/b", b"B0", qos=0, retain=True)
    p.publish("r/b", b"B1", qos=1, pid=2, retain=True)
    p.publish("r/c", b"C", qos=1, pid=3, retain=True)
    p.publish("r/c", b"", qos=1, pid=4, retain=True)  # clears [MQTT-3.3.1-10]
    time.sleep(0.2)
    crash_and_restart(durable)
    c = paho(durable, "rsub")
    c.sub("r/#", 1)
    got = sorted(c.take(2))
    assert got == [("r/a", b"A", 1, 1), ("r/b", b"B1", 1, 1)]
    c.none()
    # An established subscription gets later publishes with RETAIN 0 [MQTT-3.3.1-9].
    p = raw(durable)
    p.connect("rpub2")
    p.publish("r/a", b"A2", qos=1, pid=1, retain=True)
    assert c.take(1) == [("r/a", b"A2", 1, 0)]


def test_clean_session_discards_persistent_session_durably(durable, raw):
    c = raw(durable)
    c.connect("flip", clean=False)
    c.subscribe([("fl", 1)])
    c.disconnect()
    p = raw(durable)
    p.connect("flpub")
    p.publish("fl", b"queued", qos=1, pid=1)
    c = raw(durable)
    assert not c.connect("flip", clean=True).session_present  # [MQTT-3.1.2-6]
    c.disconnect()
    crash_and_restart(durable)
    c = raw(durable)
    assert not c.connect("flip", clean=False).session_present
    p = raw(durable)
    p.connect("flpub2")
    p.publish("fl", b"after", qos=1, pid=1)
    assert c.poll(0.5) is None  # no subscription, no queued message


def test_queued_max_for_offline_session(mqtt_start, raw):
    b = mqtt_start(mqtt_inflight_max=2, mqtt_queued_max=3)
    c = raw(b)
    c.connect("limited", clean=False)
    c.subscribe([("lim", 1)])
    c.disconnect()
    p = raw(b)
    p.connect("limpub")
    for i in range(10):
        p.publish("lim", b"%d" % i, qos=1, pid=i + 1)
    c = raw(b)
    c.connect("limited", clean=False)
    got = []
    while True:
        m = c.poll(0.5)
        if m is None:
            break
        got.append(int(m.payload))
        c.ack(m)
    assert got == [0, 1, 2, 3, 4]  # window 2 + queue 3; the rest dropped for this client


def test_every_puback_survives_kill9(durable, raw):
    s = raw(durable)
    s.connect("acked-watch", clean=False)
    s.subscribe([("ack/#", 1)])
    s.disconnect()
    p = RawMqtt(durable.mqtt_addr, T(10))
    p.connect("acked-pub")
    acked, sent, outstanding = set(), 0, 0
    try:
        while len(acked) < 300:
            while outstanding < 32 and sent < 400:
                sent += 1
                p.send(publish_packet("ack/s", b"%d" % sent, qos=1, pid=sent))
                outstanding += 1
            a = p.recv()
            assert a.type == PUBACK
            acked.add(a.pid)
            outstanding -= 1
        durable.kill9()
    finally:
        p.close()
    durable.start()
    wait_mqtt(durable)
    s = raw(durable)
    s.connect("acked-watch", clean=False)
    got = set()
    while True:
        m = s.poll(1.0)
        if m is None:
            break
        got.add(int(m.payload))
        s.ack(m)
    missing = acked - got
    assert not missing, "PUBACKed but lost: %s" % sorted(missing)[:10]
