"""MQTT QoS 0, 1 and 2 in both directions: effective QoS (min of publish and subscription),
one delivery per message however many filters match (persistent sessions), the in-flight
window (mqtt.inflight_max), the queue behind it (mqtt.queued_max), QoS 2 exactly once on
inbound re-sends, packet ids, wildcards, UNSUBSCRIBE, and mosquitto's command-line
clients."""

import subprocess
import time

import pytest

from mqtt_fixture import *  # noqa: F401,F403
from mqtt_fixture import (PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, UNSUBACK, ack_packet,
                          publish_packet, unsubscribe_packet)
from pmqtest import T


@pytest.mark.parametrize("pub_qos", [0, 1, 2])
@pytest.mark.parametrize("sub_qos", [0, 1, 2])
def test_effective_qos_is_the_minimum(mqttb, paho, pub_qos, sub_qos):
    sub = paho(mqttb, "sub-%d-%d" % (pub_qos, sub_qos))
    assert sub.sub("q/t", sub_qos) == (sub_qos,)
    pub = paho(mqttb, "pub-%d-%d" % (pub_qos, sub_qos))
    pub.pub("q/t", b"m", qos=pub_qos)
    topic, payload, qos, retain = sub.take(1)[0]
    assert (topic, payload, qos, retain) == ("q/t", b"m", min(pub_qos, sub_qos), 0)
    sub.none()


def test_wildcards(mqttb, paho):
    sub = paho(mqttb, "wild")
    sub.sub("sport/+/score", 0)
    sub.sub("news/#", 0)
    pub = paho(mqttb, "wpub")
    for t in ["sport/tennis/score", "sport/tennis/x", "news", "news/a/b", "sport/score"]:
        pub.pub(t, t.encode())
    got = sorted(m[0] for m in sub.take(3))
    assert got == ["news", "news/a/b", "sport/tennis/score"]
    sub.none()


def test_overlapping_filters_persistent_session_gets_one_copy_at_max_qos(mqttb, raw):
    c = raw(mqttb)
    c.connect("overlap", clean=False)
    assert c.subscribe([("ov/+", 1), ("ov/#", 2)]) == [1, 2]
    p = raw(mqttb)
    p.connect("ovpub")
    p.publish("ov/a", b"x", qos=2, pid=5)
    m = c.messages(1)[0]
    assert (m.topic, m.qos, m.payload) == ("ov/a", 2, b"x")
    assert c.poll(0.4) is None  # [MQTT-3.3.5-1]: once


def test_qos2_inbound_resend_is_not_delivered_twice(mqttb, raw):
    sub = raw(mqttb)
    sub.connect("q2sub")
    sub.subscribe([("once", 2)])
    p = raw(mqttb)
    p.connect("q2pub", clean=False)
    p.send(publish_packet("once", b"exactly", qos=2, pid=77))
    assert p.expect_ack(PUBREC).pid == 77
    # The client did not see PUBREC (say) and re-sends with DUP: answered, not published.
    p.send(publish_packet("once", b"exactly", qos=2, pid=77, dup=True))
    assert p.expect_ack(PUBREC).pid == 77
    p.send(ack_packet(PUBREL, 77))
    assert p.expect_ack(PUBCOMP).pid == 77
    assert [m.payload for m in sub.messages(1)] == [b"exactly"]
    assert sub.poll(0.4) is None
    # After PUBREL the id is free again: the same id is a new message [MQTT-4.3.3-2].
    p.publish("once", b"again", qos=2, pid=77)
    assert [m.payload for m in sub.messages(1)] == [b"again"]


def test_pubrel_for_unknown_id_gets_pubcomp(mqttb, raw):
    c = raw(mqttb)
    c.connect("unk")
    c.send(ack_packet(PUBREL, 999))
    assert c.expect(PUBCOMP).pid == 999


def test_outbound_packet_ids_and_qos2_flow(mqttb, raw):
    sub = raw(mqttb)
    sub.connect("flow")
    sub.subscribe([("f/#", 2)])
    pub = raw(mqttb)
    pub.connect("fpub")
    for i in range(3):
        pub.publish("f/x", b"%d" % i, qos=2, pid=10 + i)
    got = sub.messages(3, ack=False)
    assert [m.payload for m in got] == [b"0", b"1", b"2"]
    pids = [m.pid for m in got]
    assert len(set(pids)) == 3 and 0 not in pids
    for m in got:
        sub.send(ack_packet(PUBREC, m.pid))
        assert sub.expect_ack(PUBREL).pid == m.pid
        sub.send(ack_packet(PUBCOMP, m.pid))


def test_inflight_window_and_queue(mqtt_start, raw):
    b = mqtt_start(mqtt_inflight_max=4, mqtt_queued_max=5)
    sub = raw(b)
    sub.connect("slow")
    sub.subscribe([("w", 1)])
    pub = raw(b)
    pub.connect("wpub")
    for i in range(20):
        pub.publish("w", b"%d" % i, qos=1, pid=i + 1)
    # Four in flight, unacknowledged; five more wait; the rest was dropped for this client.
    first = sub.messages(4, ack=False)
    assert sub.poll(0.4) is None
    for m in first:
        sub.send(ack_packet(PUBACK, m.pid))
    rest = []
    while True:
        m = sub.poll(0.5)
        if m is None:
            break
        rest.append(m)
        sub.ack(m)
    assert [int(m.payload) for m in first + rest] == list(range(9))


def test_unsubscribe_stops_delivery(mqttb, raw):
    for clean in (True, False):
        c = raw(mqttb)
        c.connect("uns-%d" % clean, clean=clean)
        c.subscribe([("u/1", 1), ("u/2", 1)])
        c.send(unsubscribe_packet(9, ["u/1", "never/subscribed"]))
        assert c.expect(UNSUBACK).pid == 9
        c.publish("u/1", b"no", qos=1, pid=1)
        c.publish("u/2", b"yes", qos=1, pid=2)
        assert [m.payload for m in c.messages(1)] == [b"yes"]
        assert c.poll(0.3) is None
        c.disconnect()


def test_mosquitto_clients(mqttb):
    host, port = mqttb.mqtt_addr
    sub = subprocess.Popen(["mosquitto_sub", "-h", host, "-p", str(port), "-t", "cli/#", "-q",
                            "2", "-C", "3", "-v"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    for q in (0, 1, 2):
        subprocess.run(["mosquitto_pub", "-h", host, "-p", str(port), "-t", "cli/q%d" % q, "-m",
                        "m%d" % q, "-q", str(q)], check=True, timeout=T(10))
    out, _ = sub.communicate(timeout=T(10))
    assert out.split("\n")[:3] == ["cli/q0 m0", "cli/q1 m1", "cli/q2 m2"]


def test_many_messages_in_order_qos1(mqttb, paho):
    sub = paho(mqttb, "order")
    sub.sub("ord", 1)
    pub = paho(mqttb, "opub")
    for i in range(500):
        pub.c.publish("ord", b"%d" % i, 1)
    got = sub.take(500, timeout=T(20))
    assert [int(m[1]) for m in got] == list(range(500))


def test_qos0_fan_in_to_a_slow_subscriber_loses_nothing(mqtt_start, raw):
    """Producer flow control (as for STOMP topics): QoS 0 publishers that outrun a live
    subscriber are held back instead of the subscriber losing messages, MQTT and STOMP
    publishers alike."""
    import threading
    from mqtt_fixture import RawMqtt, connect_packet
    from stomp_raw import RawStomp, encode_frame
    b = mqtt_start(net_outbound_bytes_max=64 * 1024)
    sub = raw(b, timeout=T(30))
    sub.connect("slowsub")
    sub.subscribe([("fan/in", 0)])
    producers, per_producer, body = 3, 2000, b"x" * 1000
    errors = []

    def mqtt_producer(k):
        try:
            p = RawMqtt(b.mqtt_addr, T(30))
            p.connect("fp%d" % k)
            for i in range(per_producer):
                p.send(publish_packet("fan/in", b"%d %d " % (k, i) + body))
            p.publish("fan/in", b"%d end" % k, qos=1, pid=1)
            p.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def stomp_producer(k):
        try:
            p = RawStomp(b.addr, "1.2", timeout=T(30))
            p.connect()
            for i in range(per_producer):
                p.send_raw(encode_frame("SEND", [("destination", "/topic/fan.in")],
                                        b"%d %d " % (k, i) + body))
            p.send("/topic/fan.in", b"%d end" % k, receipt=True, timeout=T(60))
            p.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=mqtt_producer if k < 2 else stomp_producer, args=(k,),
                                daemon=True) for k in range(producers)]
    for th in threads:
        th.start()
    time.sleep(1.0)  # the subscriber reads nothing for a while: producers must wait
    last, got, ends = {}, 0, 0
    while ends < producers:
        m = sub.recv(T(30))
        assert m.type == PUBLISH, m
        k, i = m.payload.split(b" ")[:2]
        if i == b"end":
            ends += 1
            continue
        k, i = int(k), int(i)
        assert i == last.get(k, -1) + 1, "producer %d: %d after %s" % (k, i, last.get(k))
        last[k] = i
        got += 1
    for th in threads:
        th.join(T(30))
    assert not errors, errors
    assert got == producers * per_producer
