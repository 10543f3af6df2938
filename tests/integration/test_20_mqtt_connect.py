"""MQTT CONNECT and the life of a connection: CONNACK return codes, MQTT 3.1 and 3.1.1
clients, assigned client ids, keep-alive, wills (published on abnormal close, keep-alive
timeout and takeover; not on DISCONNECT), session takeover, the connection limit."""

import socket
import time

import pytest

from mqtt_fixture import *  # noqa: F401,F403
from mqtt_fixture import (CONNACK, PUBLISH, Closed, RawMqtt, connect_packet, packet, paho_mqtt,
                          s16)
from pmqtest import T


def test_paho_and_mosquitto_clients_connect(mqttb, paho):
    for proto in (paho_mqtt.MQTTv311, paho_mqtt.MQTTv31):
        c = paho(mqttb, "c-%d" % proto, protocol=proto)
        assert c.rc == 0
        assert c.sub("x/y", 1) == (1,)
        c.pub("x/y", b"v%d" % proto, qos=1)
        assert c.take(1)[0][:3] == ("x/y", b"v%d" % proto, 1)


def test_connack_codes(mqttb, raw):
    # Unacceptable protocol level (an MQTT 5 CONNECT): 0x01, then close [MQTT-3.1.2-2].
    c = raw(mqttb)
    body = s16("MQTT") + bytes([5, 0x02, 0, 60]) + bytes([0]) + s16("v5")
    c.send(packet(0x10, body))
    assert c.expect(CONNACK).rc == 1
    c.assert_closed()
    # Empty client id with clean session 0: 0x02 [MQTT-3.1.3-8].
    c = raw(mqttb)
    c.send(connect_packet("", clean=False))
    assert c.expect(CONNACK).rc == 2
    c.assert_closed()
    # MQTT 3.1 with a 24-character id: 0x02.
    c = raw(mqttb)
    c.send(connect_packet("x" * 24, level=3))
    assert c.expect(CONNACK).rc == 2
    c.assert_closed()
    # An empty id with clean session 1 is accepted: the server assigns one [MQTT-3.1.3-6].
    c = raw(mqttb)
    p = c.connect("")
    assert p.rc == 0 and not p.session_present


def test_second_connect_and_packet_before_connect_close(mqttb, raw):
    c = raw(mqttb)
    c.connect("twice")
    c.send(connect_packet("twice"))  # [MQTT-3.1.0-2]
    c.assert_closed()
    c = raw(mqttb)
    c.send(packet(0xC0))  # PINGREQ before CONNECT [MQTT-3.1.0-1]
    c.assert_closed()


def test_pingreq_gets_pingresp(mqttb, raw):
    c = raw(mqttb)
    c.connect("pinger")
    c.send(packet(0xC0))
    assert c.recv().type == 13


def test_keepalive_timeout_closes_and_publishes_will(mqttb, raw):
    watcher = raw(mqttb)
    watcher.connect("watcher")
    watcher.subscribe([("wills/#", 1)])
    c = raw(mqttb)
    c.connect("sleepy", keepalive=1, will=("wills/sleepy", b"gone", 1, False))
    t0 = time.monotonic()
    c.assert_closed(timeout=T(5))
    elapsed = time.monotonic() - t0
    # One and a half times the keep-alive [MQTT-3.1.2-24], checked every 100 ms.
    assert 1.4 <= elapsed <= T(3.0), elapsed
    m = watcher.messages(1)[0]
    assert (m.topic, m.payload, m.qos) == ("wills/sleepy", b"gone", 1)


def test_keepalive_reset_by_any_packet(mqttb, raw):
    c = raw(mqttb)
    c.connect("busy", keepalive=1)
    for _ in range(6):
        time.sleep(0.5)
        c.send(packet(0xC0))
        assert c.recv().type == 13
    # 3 seconds later it is still connected.


def test_will_on_abnormal_close_not_on_disconnect(mqttb, raw):
    watcher = raw(mqttb)
    watcher.connect("w2")
    watcher.subscribe([("status/#", 0)])
    polite = raw(mqttb)
    polite.connect("polite", will=("status/polite", b"died", 0, False))
    polite.disconnect()
    rude = raw(mqttb)
    rude.connect("rude", will=("status/rude", b"died", 0, False))
    rude.sock.shutdown(socket.SHUT_RDWR)
    rude.close()
    m = watcher.messages(1)[0]
    assert (m.topic, m.payload) == ("status/rude", b"died")
    assert watcher.poll(0.3) is None  # nothing from "polite" [MQTT-3.14.4-3]


def test_will_retained(mqttb, raw, paho):
    c = raw(mqttb)
    c.connect("ret-will", will=("status/rw", b"offline", 1, True))
    c.close()
    time.sleep(0.3)
    late = paho(mqttb, "late")
    late.sub("status/rw", 1)
    topic, payload, qos, retain = late.take(1)[0]
    assert (topic, payload, qos, retain) == ("status/rw", b"offline", 1, 1)


def test_takeover_closes_first_and_publishes_its_will(mqttb, raw):
    watcher = raw(mqttb)
    watcher.connect("w3")
    watcher.subscribe([("tk/#", 0)])
    first = raw(mqttb)
    first.connect("same-id", will=("tk/first", b"taken", 0, False))
    second = raw(mqttb)
    second.connect("same-id")
    first.assert_closed()  # [MQTT-3.1.4-2]
    m = watcher.messages(1)[0]
    assert (m.topic, m.payload) == ("tk/first", b"taken")
    # The second connection works.
    second.subscribe([("tk/x", 0)])
    second.publish("tk/x", b"alive")
    assert second.messages(1)[0].payload == b"alive"


def test_connections_max_gives_server_unavailable(mqtt_start, raw):
    b = mqtt_start(net_connections_max=2)
    a1 = raw(b)
    a1.connect("a1")
    a2 = raw(b)
    a2.connect("a2")
    a3 = raw(b)
    a3.send(connect_packet("a3"))
    assert a3.expect(CONNACK).rc == 3
    a3.assert_closed()
    a1.disconnect()
    time.sleep(0.3)
    a4 = raw(b)
    a4.connect("a4")


def test_connect_timeout(mqtt_start, raw):
    b = mqtt_start(stomp_connect_timeout_ms=500)
    c = raw(b)
    c.assert_closed(timeout=T(3))


def test_authentication(mqtt_start, raw, tmp_path):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # Debian's python3.11 still ships it
    users = tmp_path / "users"
    users.write_text("alice:%s:\n" % crypt.crypt("secret", crypt.mksalt(crypt.METHOD_SHA512)))
    b = mqtt_start(auth_users_file=str(users), auth_anonymous=False)
    ok = raw(b)
    ok.connect("a", username="alice", password="secret")
    bad = raw(b)
    bad.send(connect_packet("b", username="alice", password="wrong"))
    assert bad.expect(CONNACK).rc == 4
    bad.assert_closed()
    anon = raw(b)
    anon.send(connect_packet("c"))
    assert anon.expect(CONNACK).rc == 5
    anon.assert_closed()


def test_node_keeps_serving_after_many_bad_clients(mqttb, raw):
    for i in range(50):
        c = raw(mqttb)
        c.send(bytes([0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]))
        c.assert_closed()
    c = raw(mqttb)
    c.connect("fine")
    c.subscribe([("ok", 0)])
    c.publish("ok", b"1")
    assert c.messages(1)[0].payload == b"1"
