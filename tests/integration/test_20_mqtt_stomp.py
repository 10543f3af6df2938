"""MQTT and STOMP share one topic namespace, the ActiveMQ way: MQTT a/b/c is STOMP
/topic/a.b.c, '+'/'#' are '*'/'>'. A STOMP SEND reaches MQTT subscribers (QoS 1 when
persistent, else 0) and an MQTT PUBLISH reaches STOMP subscribers (persistent for QoS 1/2,
with the ActiveMQ.MQTT.QoS header), durable STOMP subscriptions included. Also the $SYS
topics: published periodically, retained for new subscribers, not matched by '#'."""

import time

import pytest

from mqtt_fixture import *  # noqa: F401,F403
from mqtt_fixture import wait_mqtt
from pmqtest import T
from stomp_raw import RawStomp


def stomp(b):
    c = RawStomp(b.addr, "1.2", timeout=T(5))
    c.connect()
    return c


def test_stomp_send_reaches_mqtt_subscriber(mqttb, paho):
    m = paho(mqttb, "mq")
    m.sub("x/y", 2)
    m.sub("w/+/z", 1)
    s = stomp(mqttb)
    s.send("/topic/x.y", b"persistent", {"persistent": "true"}, receipt=True)
    s.send("/topic/x.y", b"volatile", receipt=True)
    s.send("/topic/w.any.z", b"wild", {"persistent": "true"}, receipt=True)
    got = m.take(3)
    assert ("x/y", b"persistent", 1, 0) in got  # min(2, 1): a STOMP message is QoS 1 at most
    assert ("x/y", b"volatile", 0, 0) in got
    assert ("w/any/z", b"wild", 1, 0) in got
    s.close()


def test_mqtt_publish_reaches_stomp_subscriber(mqttb, paho):
    s = stomp(mqttb)
    s.subscribe("/topic/a.b", "s1")
    s.subscribe("/topic/a.*", "s2")
    m = paho(mqttb, "mp")
    m.pub("a/b", b"q0", qos=0)
    m.pub("a/b", b"q2", qos=2)
    got = s.messages(4)
    by = {(f["subscription"], f.body): f for f in got}
    assert set(by) == {("s1", b"q0"), ("s2", b"q0"), ("s1", b"q2"), ("s2", b"q2")}
    f0, f2 = by[("s1", b"q0")], by[("s1", b"q2")]
    assert f0["destination"] == "/topic/a.b"
    assert f0.get("persistent") is None and f0["ActiveMQ.MQTT.QoS"] == "0"
    assert f2["persistent"] == "true" and f2["ActiveMQ.MQTT.QoS"] == "2"
    s.close()


def test_mqtt_qos1_lands_in_durable_stomp_subscription(mqttb, paho):
    s = RawStomp(mqttb.addr, "1.2", timeout=T(5))
    s.connect({"client-id": "stomp-durable"})
    s.subscribe("/topic/dur.>", "d", ack="client-individual",
                **{"activemq.subscriptionName": "n"})
    s.disconnect()
    m = paho(mqttb, "dp")
    m.pub("dur/1", b"kept", qos=1)
    m.pub("dur/2", b"lost", qos=0)  # non-persistent: not kept for an absent subscriber
    s = RawStomp(mqttb.addr, "1.2", timeout=T(5))
    s.connect({"client-id": "stomp-durable"})
    s.subscribe("/topic/dur.>", "d", ack="client-individual",
                **{"activemq.subscriptionName": "n"})
    f = s.messages(1)[0]
    assert (f.body, f["destination"]) == (b"kept", "/topic/dur.1")
    s.ack(f)
    assert s.poll(0.4) is None
    s.close()


def test_names_round_trip_the_activemq_way(mqttb, paho):
    m = paho(mqttb, "names")
    m.sub("v1.0/x", 0)  # '.' in an MQTT name is '/' on the STOMP side
    s = stomp(mqttb)
    s.subscribe("/topic/v1/0.x", "lit")
    p = paho(mqttb, "namespub")
    p.pub("v1.0/x", b"dot")
    assert m.take(1)[0][:2] == ("v1.0/x", b"dot")
    assert s.messages(1)[0]["destination"] == "/topic/v1/0.x"
    s.send("/topic/v1/0.x", b"back", receipt=True)
    assert m.take(1)[0][:2] == ("v1.0/x", b"back")
    s.close()


def test_persistent_mqtt_session_gets_stomp_persistent_while_offline(mqtt_start, raw):
    b = mqtt_start(store_sync=True)
    c = raw(b)
    c.connect("offline-dev", clean=False)
    c.subscribe([("cmd/dev", 1)])
    c.disconnect()
    s = stomp(b)
    s.send("/topic/cmd.dev", b"reboot", {"persistent": "true"}, receipt=True)
    s.send("/topic/cmd.dev", b"not kept", receipt=True)
    s.close()
    b.kill9()
    b.start()
    wait_mqtt(b)
    c = raw(b)
    c.connect("offline-dev", clean=False)
    got = c.messages(1)
    assert (got[0].payload, got[0].qos) == (b"reboot", 1)
    assert c.poll(0.4) is None


def test_sys_topics(mqtt_start, paho):
    b = mqtt_start(mqtt_sys_interval_ms=1000)
    everything = paho(b, "all")
    everything.sub("#", 0)
    time.sleep(0.5)  # the first update goes out on the broker's first tick
    sys = paho(b, "sys")
    sys.sub("$SYS/broker/clients/connected", 0)
    topic, payload, qos, retain = sys.take(1)[0]  # the latest value at once, retained
    assert topic == "$SYS/broker/clients/connected" and retain == 1
    assert int(payload) >= 0
    topic, payload, qos, retain = sys.take(1, timeout=T(3))[0]  # then every second
    assert retain == 0 and int(payload) >= 2
    everything.none(1.2)  # '#' does not match $SYS topics [MQTT-4.7.2-1]
    v = paho(b, "ver")
    v.sub("$SYS/broker/version", 0)
    assert v.take(1)[0][1].startswith(b"paxmq")
