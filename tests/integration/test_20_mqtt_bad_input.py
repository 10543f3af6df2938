"""Malformed and forbidden MQTT input over raw sockets: every case closes the offending
connection (after CONNACK where the specification gives a code), the node keeps serving
everyone else, and nothing stored is lost."""

import struct
import time

import pytest

from mqtt_fixture import *  # noqa: F401,F403
from mqtt_fixture import (CONNACK, connect_packet, packet, publish_packet, s16,
                          subscribe_packet)
from pmqtest import T

BAD_AFTER_CONNECT = {
    "reserved type 0": packet(0x00),
    "reserved type 15": packet(0xF0),
    "remaining length with a fifth byte": bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    "non-minimal remaining length": bytes([0xC0, 0x80, 0x00]),
    "PUBREL flags 0000": packet(0x60, struct.pack(">H", 1)),
    "SUBSCRIBE flags 0000": packet(0x80, struct.pack(">H", 1) + s16("a") + b"\x00"),
    "PINGREQ with flags": packet(0xC1),
    "QoS 3 PUBLISH": packet(0x36, s16("a") + b"\x00\x01x"),
    "QoS 0 with DUP": packet(0x38, s16("a") + b"x"),
    "QoS 1 with packet id 0": publish_packet("a", b"x", qos=1, pid=0),
    "wildcard + in PUBLISH topic": publish_packet("a/+", b"x"),
    "wildcard # in PUBLISH topic": publish_packet("a/#", b"x"),
    "empty PUBLISH topic": publish_packet("", b"x"),
    "invalid UTF-8 topic": packet(0x30, struct.pack(">H", 2) + b"\xc3\x28" + b"x"),
    "U+0000 in topic": packet(0x30, struct.pack(">H", 3) + b"a\x00b" + b"x"),
    "surrogate in topic": packet(0x30, struct.pack(">H", 3) + b"\xed\xa0\x80"),
    "SUBSCRIBE without filters": packet(0x82, struct.pack(">H", 1)),
    "SUBSCRIBE with QoS 3": subscribe_packet(1, [("a", 3)]),
    "SUBSCRIBE filter a/#/b": subscribe_packet(1, [("a/#/b", 0)]),
    "SUBSCRIBE filter a+": subscribe_packet(1, [("a+", 0)]),
    "PUBACK with length 3": packet(0x40, b"\x00\x01\x00"),
    "CONNACK from a client": packet(0x20, b"\x00\x00"),
    "SUBACK from a client": packet(0x90, b"\x00\x01\x00"),
    "DISCONNECT with a body": packet(0xE0, b"\x00"),
    "second CONNECT": connect_packet("again"),
}


@pytest.mark.parametrize("name", sorted(BAD_AFTER_CONNECT))
def test_bad_packet_closes_connection_only(mqttb, raw, name):
    stored = raw(mqttb)
    stored.connect("keeper", clean=False)
    stored.subscribe([("keep", 1)])
    stored.disconnect()
    other = raw(mqttb)
    other.connect("bystander")
    other.subscribe([("by", 0)])
    bad = raw(mqttb)
    bad.connect("bad-" + name.replace(" ", "-")[:40], will=("by", b"will", 0, False))
    p = raw(mqttb)
    p.connect("kp")
    p.publish("keep", b"stored", qos=1, pid=1)
    bad.send(BAD_AFTER_CONNECT[name])
    bad.assert_closed()
    # A protocol error is an abnormal close: the will is published (§3.1.2.5).
    assert [m.payload for m in other.messages(1)] == [b"will"]
    other.publish("by", b"still here")
    assert [m.payload for m in other.messages(1)] == [b"still here"]
    again = raw(mqttb)
    again.connect("keeper", clean=False)
    assert [m.payload for m in again.messages(1)] == [b"stored"]


BAD_CONNECT = {
    "protocol name MQTX": (packet(0x10, s16("MQTX") + bytes([4, 2, 0, 60]) + s16("x")), None),
    "level 5": (packet(0x10, s16("MQTT") + bytes([5, 2, 0, 60]) + s16("x")), 1),
    "MQIsdp level 4": (packet(0x10, s16("MQIsdp") + bytes([4, 2, 0, 60]) + s16("x")), 1),
    "reserved flag": (packet(0x10, s16("MQTT") + bytes([4, 3, 0, 60]) + s16("x")), None),
    "password without user": (packet(0x10, s16("MQTT") + bytes([4, 0x42, 0, 60]) + s16("x") +
                                     s16("pw")), None),
    "truncated payload": (packet(0x10, s16("MQTT") + bytes([4, 2, 0, 60]) + b"\x00\x05ab"), None),
    "id too long": (connect_packet("i" * 300), 2),
    "will topic with wildcard": (connect_packet("w", will=("a/#", b"x", 0, False)), None),
}


@pytest.mark.parametrize("name", sorted(BAD_CONNECT))
def test_bad_connect(mqttb, raw, name):
    data, rc = BAD_CONNECT[name]
    c = raw(mqttb)
    c.send(data)
    c.last_connack = None
    c.assert_closed()
    got = c.last_connack.rc if c.last_connack is not None else None
    assert got == rc
    ok = raw(mqttb)
    ok.connect("after-" + name.replace(" ", "-"))


def test_packet_larger_than_limit(mqtt_start, raw):
    b = mqtt_start(mqtt_packet_bytes_max=4096)
    c = raw(b)
    c.connect("big")
    c.send(publish_packet("t", b"x" * 5000))
    c.assert_closed()
    ok = raw(b)
    ok.connect("small")
    ok.subscribe([("t", 0)])
    ok.publish("t", b"x" * 4000)
    assert len(ok.messages(1)[0].payload) == 4000


def test_byte_by_byte_input(mqttb, raw):
    c = raw(mqttb)
    data = connect_packet("slowpoke") + subscribe_packet(1, [("bb", 1)]) + \
        publish_packet("bb", b"dribbled", qos=1, pid=2)
    for i in range(len(data)):
        c.send(data[i:i + 1])
        time.sleep(0.002)
    kinds = [c.recv().type for _ in range(3)]
    assert kinds[0] == CONNACK
    got = [c.recv() for _ in range(1)]
    assert sorted(kinds[1:] + [g.type for g in got]) == [3, 4, 9]


def test_stalled_partial_packet_is_closed(mqtt_start, raw):
    b = mqtt_start(stomp_connect_timeout_ms=500)
    c = raw(b)
    c.connect("staller")
    c.send(bytes([0x30, 0x10]) + b"ab")  # 16 bytes announced, 2 sent
    c.assert_closed(timeout=T(3))
