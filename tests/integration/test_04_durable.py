"""Durable topic subscriptions: client-id on CONNECT + activemq.subscriptionName."""

import uuid

import pytest

from pmqtest import T, need_local
from stomp_raw import VERSIONS

PERSISTENT = {"persistent": "true"}


def _durable(connect, broker, topic, client_id, name, version="1.2", ack="auto", sub_id="d"):
    c = connect(broker, version, headers={"client-id": client_id})
    c.subscribe(topic, sub_id, ack=ack, **{"activemq.subscriptionName": name})
    return c


def _publish(connect, broker, topic, bodies, version="1.2", headers=PERSISTENT):
    p = connect(broker, version)
    for b in bodies:
        p.send(topic, b, headers, receipt=True)
    p.disconnect()


@pytest.mark.parametrize("version", VERSIONS)
def test_durable_subscriber_gets_messages_published_while_away(broker, connect, uniq,
                                                               version):
    t = uniq("topic")
    cid = "cid-" + uuid.uuid4().hex[:8]
    c = _durable(connect, broker, t, cid, "sub1", version)
    _publish(connect, broker, t, [b"live"], version)
    assert c.expect("MESSAGE").body == b"live"
    c.disconnect()
    bodies = [("away %d" % i).encode() for i in range(5)]
    _publish(connect, broker, t, bodies, version)
    c = _durable(connect, broker, t, cid, "sub1", version)
    got = c.messages(5, timeout=T(5))
    assert [m.body for m in got] == bodies
    assert all(m["destination"] == t for m in got)
    assert c.poll(0.3) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_non_durable_subscriber_keeps_nothing(broker, connect, uniq, version):
    t = uniq("topic")
    c = connect(broker, version)
    c.subscribe(t, "nd")
    c.disconnect()
    _publish(connect, broker, t, [b"lost 1", b"lost 2"], version)
    c = connect(broker, version)
    c.subscribe(t, "nd")
    assert c.poll(0.4) is None


def test_durable_and_plain_subscribers_side_by_side(broker, connect, uniq):
    t = uniq("topic")
    cid = "cid-" + uuid.uuid4().hex[:8]
    d = _durable(connect, broker, t, cid, "dur")
    plain = connect(broker)
    plain.subscribe(t, "p")
    _publish(connect, broker, t, [b"both"])
    assert d.expect("MESSAGE").body == b"both"
    assert plain.expect("MESSAGE").body == b"both"
    d.disconnect()
    plain.disconnect()
    _publish(connect, broker, t, [b"only durable"])
    d = _durable(connect, broker, t, cid, "dur")
    assert d.expect("MESSAGE").body == b"only durable"
    plain = connect(broker)
    plain.subscribe(t, "p")
    assert plain.poll(0.3) is None


def test_two_durable_subscriptions_each_get_everything(broker, connect, uniq):
    t = uniq("topic")
    cid1, cid2 = ("cid-" + uuid.uuid4().hex[:8] for _ in range(2))
    _durable(connect, broker, t, cid1, "one").disconnect()
    _durable(connect, broker, t, cid2, "two").disconnect()
    bodies = [b"a", b"b", b"c"]
    _publish(connect, broker, t, bodies)
    for cid, name in ((cid1, "one"), (cid2, "two")):
        c = _durable(connect, broker, t, cid, name)
        assert [m.body for m in c.messages(3)] == bodies
        c.disconnect()


def test_durable_client_ack_unacked_comes_back(broker, connect, uniq):
    t = uniq("topic")
    cid = "cid-" + uuid.uuid4().hex[:8]
    _durable(connect, broker, t, cid, "s", ack="client-individual").disconnect()
    _publish(connect, broker, t, [b"first", b"second"])
    c = _durable(connect, broker, t, cid, "s", ack="client-individual")
    first, second = c.messages(2)
    c.ack(first, receipt=True)
    c.disconnect()
    c = _durable(connect, broker, t, cid, "s", ack="client-individual")
    again = c.expect("MESSAGE")
    assert again.body == b"second"
    assert again["message-id"] == second["message-id"]
    c.ack(again, receipt=True)
    assert c.poll(0.3) is None


def test_unsubscribe_with_subscription_name_removes_durable(broker, connect, uniq):
    """ActiveMQ convention: an UNSUBSCRIBE carrying activemq.subscriptionName, sent on a
    connection with the same client-id while the subscriber is away, deletes the durable
    subscription (a plain UNSUBSCRIBE or a disconnect only detaches)."""
    t = uniq("topic")
    cid = "cid-" + uuid.uuid4().hex[:8]
    _durable(connect, broker, t, cid, "gone").disconnect()
    c = connect(broker, "1.2", headers={"client-id": cid})
    c.unsubscribe("d", **{"activemq.subscriptionName": "gone"})
    c.disconnect()
    _publish(connect, broker, t, [b"after removal"])
    c = _durable(connect, broker, t, cid, "gone")
    assert c.poll(0.4) is None


def test_plain_unsubscribe_keeps_durable(broker, connect, uniq):
    t = uniq("topic")
    cid = "cid-" + uuid.uuid4().hex[:8]
    c = _durable(connect, broker, t, cid, "kept")
    c.unsubscribe("d")
    c.disconnect()
    _publish(connect, broker, t, [b"kept for me"])
    c = _durable(connect, broker, t, cid, "kept")
    assert c.expect("MESSAGE").body == b"kept for me"


def test_durable_subscription_survives_restart(broker, connect, uniq):
    need_local(broker)
    t = uniq("topic")
    cid = "cid-" + uuid.uuid4().hex[:8]
    _durable(connect, broker, t, cid, "s").disconnect()
    broker.restart()
    _publish(connect, broker, t, [b"after restart 1"])
    broker.restart()
    _publish(connect, broker, t, [b"after restart 2"])
    c = _durable(connect, broker, t, cid, "s")
    assert [m.body for m in c.messages(2)] == [b"after restart 1", b"after restart 2"]


def test_stomppy_durable(broker, stomppy, uniq):
    t = uniq("topic")
    cid = "py-" + uuid.uuid4().hex[:8]
    conn, coll = stomppy(broker, "1.2", headers={"client-id": cid})
    conn.subscribe(t, id="py", ack="auto", headers={"activemq.subscriptionName": "py"})
    conn.disconnect()
    assert coll.disconnected.wait(T(5))
    pub, pcoll = stomppy(broker, "1.2")
    pub.send(t, b"for py", headers={"persistent": "true", "receipt": "pr"})
    pcoll.wait_receipt("pr", T(5))
    conn, coll = stomppy(broker, "1.2", headers={"client-id": cid})
    conn.subscribe(t, id="py", ack="auto", headers={"activemq.subscriptionName": "py"})
    assert coll.get(T(5)).body == b"for py"
