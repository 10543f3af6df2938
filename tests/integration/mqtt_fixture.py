"""MQTT fixtures and clients for the paxmqd integration tests (test_20_mqtt_*.py).

Fixtures (import them into a test module with `from mqtt_fixture import *`):
  mqtt_start(**overrides) -> Broker   a paxmqd with an MQTT listener on a free loopback
                                      port (b.mqtt_addr); keyword overrides as start_broker
  mqttb                               one default broker with MQTT
  paho(broker, client_id, ...)        a connected python3-paho-mqtt client (loop running)
  raw(broker, ...)                    a RawMqtt client (sockets closed at teardown)

RawMqtt builds packets byte by byte, so tests can send exactly the malformed input they
mean and see packet ids, DUP and RETAIN flags on what comes back. It knows nothing about
paxmq beyond MQTT 3.1.1.
"""

import os
import queue
import socket
import struct
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from pmqtest import EXTERNAL, T, free_port  # noqa: E402

import paho.mqtt.client as paho_mqtt  # noqa: E402

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = range(8, 15)


class Closed(Exception):
    """The broker closed the connection."""


class Timeout(Exception):
    """Nothing complete arrived in time."""


def rl(n):
    """Remaining Length encoding (§2.2.3)."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s16(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">H", len(b)) + b


def packet(b0, body=b""):
    return bytes([b0]) + rl(len(body)) + body


def connect_packet(client_id="", clean=True, keepalive=60, will=None, username=None,
                   password=None, level=4):
    """will = (topic, payload, qos, retain)."""
    name = b"MQTT" if level == 4 else b"MQIsdp"
    flags = 0x02 if clean else 0
    payload = s16(client_id)
    if will is not None:
        topic, msg, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += s16(topic) + s16(msg)
    if username is not None:
        flags |= 0x80
        payload += s16(username)
    if password is not None:
        flags |= 0x40
        payload += s16(password)
    body = s16(name) + bytes([level, flags]) + struct.pack(">H", keepalive) + payload
    return packet(0x10, body)


def publish_packet(topic, payload, qos=0, pid=0, retain=False, dup=False):
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = s16(topic) + (struct.pack(">H", pid) if qos else b"") + payload
    return packet(b0, body)


def ack_packet(kind, pid):
    return packet((kind << 4) | (0x02 if kind == PUBREL else 0), struct.pack(">H", pid))


def subscribe_packet(pid, filters):
    """filters: [(filter, qos)]."""
    body = struct.pack(">H", pid) + b"".join(s16(f) + bytes([q]) for f, q in filters)
    return packet(0x82, body)


def unsubscribe_packet(pid, filters):
    return packet(0xA2, struct.pack(">H", pid) + b"".join(s16(f) for f in filters))


class Packet:
    def __init__(self, b0, body):
        self.type = b0 >> 4
        self.flags = b0 & 0x0F
        self.body = body
        self.dup = bool(self.flags & 0x08)
        self.qos = (self.flags >> 1) & 3
        self.retain = bool(self.flags & 0x01)
        self.pid = None
        if self.type == PUBLISH:
            n = struct.unpack(">H", body[:2])[0]
            self.topic = body[2:2 + n].decode()
            rest = body[2 + n:]
            if self.qos:
                self.pid = struct.unpack(">H", rest[:2])[0]
                rest = rest[2:]
            self.payload = rest
        elif self.type in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, SUBACK):
            self.pid = struct.unpack(">H", body[:2])[0]
            self.codes = list(body[2:])
        elif self.type == CONNACK:
            self.session_present = bool(body[0] & 1)
            self.rc = body[1]

    def __repr__(self):
        if self.type == PUBLISH:
            return "PUBLISH(%s qos=%d pid=%s dup=%d retain=%d %r)" % (
                self.topic, self.qos, self.pid, self.dup, self.retain, self.payload)
        return "Packet(type=%d pid=%s body=%r)" % (self.type, self.pid, self.body)


class RawMqtt:
    def __init__(self, addr, timeout=None):
        self.sock = socket.create_connection(addr, timeout=timeout or T(5))
        self.buf = b""
        self.timeout = timeout or T(5)

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _read(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout()
        except (ConnectionResetError, BrokenPipeError):
            raise Closed()
        if not data:
            raise Closed()
        self.buf += data

    def recv(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            p = self._take()
            if p is not None:
                return p
            self._read(deadline)

    def _take(self):
        if len(self.buf) < 2:
            return None
        n, mul, i = 0, 1, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            n += (b & 0x7F) * mul
            mul *= 128
            i += 1
            if not b & 0x80:
                break
        if len(self.buf) < i + n:
            return None
        p = Packet(self.buf[0], self.buf[i:i + n])
        self.buf = self.buf[i + n:]
        return p

    def poll(self, timeout):
        try:
            return self.recv(timeout)
        except Timeout:
            return None

    def expect(self, kind, timeout=None):
        p = self.recv(timeout)
        assert p.type == kind, "expected packet type %d, got %r" % (kind, p)
        return p

    def connect(self, client_id="", clean=True, keepalive=60, expect_rc=0, **kw):
        self.send(connect_packet(client_id, clean, keepalive, **kw))
        p = self.expect(CONNACK)
        assert p.rc == expect_rc, "CONNACK rc %d, wanted %d" % (p.rc, expect_rc)
        return p

    def subscribe(self, filters, pid=1):
        self.send(subscribe_packet(pid, filters))
        p = self.expect(SUBACK)
        assert p.pid == pid
        return p.codes

    def publish(self, topic, payload, qos=0, pid=1, retain=False):
        """Publishes and completes the QoS handshake."""
        self.send(publish_packet(topic, payload, qos, pid, retain))
        if qos == 1:
            assert self.expect_ack(PUBACK).pid == pid
        elif qos == 2:
            assert self.expect_ack(PUBREC).pid == pid
            self.send(ack_packet(PUBREL, pid))
            assert self.expect_ack(PUBCOMP).pid == pid

    def expect_ack(self, kind, timeout=None):
        """Next packet of type kind, skipping PUBLISHes (kept in self.stray)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            p = self.recv(max(0.01, deadline - time.monotonic()))
            if p.type == PUBLISH:
                self.stray = getattr(self, "stray", []) + [p]
                continue
            assert p.type == kind, "expected %d, got %r" % (kind, p)
            return p

    def messages(self, n, timeout=None, ack=True):
        """n PUBLISH packets (stray ones first), acknowledging QoS 1 and 2 fully."""
        out = list(getattr(self, "stray", []))
        self.stray = []
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(out) < n:
            p = self.recv(max(0.01, deadline - time.monotonic()))
            if p.type == PUBREL:
                self.send(ack_packet(PUBCOMP, p.pid))
                continue
            assert p.type == PUBLISH, p
            out.append(p)
        if ack:
            for p in out:
                self.ack(p)
        return out

    def ack(self, p):
        if p.qos == 1:
            self.send(ack_packet(PUBACK, p.pid))
        elif p.qos == 2:
            self.send(ack_packet(PUBREC, p.pid))
            rel = self.expect_ack(PUBREL)
            assert rel.pid == p.pid
            self.send(ack_packet(PUBCOMP, p.pid))

    def assert_closed(self, timeout=None):
        deadline = time.monotonic() + (timeout or T(5))
        try:
            while True:
                p = self.recv(max(0.01, deadline - time.monotonic()))
                if p.type == CONNACK:
                    self.last_connack = p
        except Closed:
            return
        except Timeout:
            pytest.fail("the broker did not close the connection")

    def disconnect(self):
        self.send(packet(0xE0))
        self.close()


def wait_mqtt(b):
    """start_broker waits for the STOMP port; the MQTT listener opens just after it."""
    deadline = time.monotonic() + T(10)
    while True:
        try:
            socket.create_connection(b.mqtt_addr, timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def mqtt_port_of(b):
    return int(b.overrides["mqtt.listen"].rsplit(":", 1)[1])


@pytest.fixture
def mqtt_start(start_broker):
    """Factory: mqtt_start(**overrides) -> Broker with an MQTT listener (b.mqtt_addr)."""
    if EXTERNAL:
        pytest.skip("the MQTT tests start their own paxmqd")

    def _start(**overrides):
        overrides.setdefault("mqtt_listen", "127.0.0.1:%d" % free_port())
        overrides.setdefault("mqtt_sys_interval_ms", 0)
        b = start_broker(**overrides)
        b.mqtt_addr = ("127.0.0.1", mqtt_port_of(b))
        wait_mqtt(b)
        return b

    return _start


@pytest.fixture
def mqttb(mqtt_start):
    return mqtt_start()


@pytest.fixture
def raw():
    made = []

    def _raw(broker, timeout=None):
        c = RawMqtt(broker.mqtt_addr, timeout)
        made.append(c)
        return c

    yield _raw
    for c in made:
        c.close()


class PahoClient:
    """A paho client with received messages in a queue (topic, payload, qos, retain)."""

    def __init__(self, broker, client_id, clean=True, protocol=paho_mqtt.MQTTv311, will=None,
                 keepalive=60, username=None, password=None):
        self.got = queue.Queue()
        self.connack = queue.Queue()
        self.c = paho_mqtt.Client(client_id=client_id, clean_session=clean, protocol=protocol)
        self.c.on_message = lambda c, u, m: self.got.put((m.topic, m.payload, m.qos, m.retain))
        self.c.on_connect = lambda c, u, flags, rc: self.connack.put((rc, flags))
        if will is not None:
            self.c.will_set(*will)
        if username is not None:
            self.c.username_pw_set(username, password)
        host, port = broker.mqtt_addr
        self.c.connect(host, port, keepalive)
        self.c.loop_start()
        rc, flags = self.connack.get(timeout=T(5))
        self.rc = rc
        self.session_present = flags.get("session present", 0)

    def sub(self, topic, qos=0):
        res = queue.Queue()
        self.c.on_subscribe = lambda c, u, mid, granted: res.put(granted)
        self.c.subscribe(topic, qos)
        return res.get(timeout=T(5))

    def pub(self, topic, payload, qos=0, retain=False):
        info = self.c.publish(topic, payload, qos, retain)
        info.wait_for_publish(T(5))
        assert info.is_published()

    def take(self, n, timeout=None):
        out = []
        deadline = time.monotonic() + (timeout or T(5))
        while len(out) < n:
            out.append(self.got.get(timeout=max(0.01, deadline - time.monotonic())))
        return out

    def none(self, wait=0.3):
        try:
            m = self.got.get(timeout=wait)
        except queue.Empty:
            return True
        pytest.fail("unexpected message %r" % (m,))

    def close(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()


@pytest.fixture
def paho():
    made = []

    def _paho(broker, client_id="", **kw):
        p = PahoClient(broker, client_id, **kw)
        made.append(p)
        return p

    yield _paho
    for p in made:
        try:
            p.close()
        except Exception:
            pass
