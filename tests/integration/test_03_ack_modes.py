"""Ack modes auto / client (cumulative) / client-individual, ACK and NACK per version,
redelivery with redelivered:true, prefetch, and the dead-letter queue."""

import pytest

from pmqtest import T
from stomp_raw import VERSIONS

DLQ = "/queue/ActiveMQ.DLQ"


def _fill(connect, broker, q, n, version="1.2", prefix="m", persistent=False):
    p = connect(broker, version)
    bodies = [("%s%d" % (prefix, i)).encode() for i in range(n)]
    h = {"persistent": "true"} if persistent else {}
    for b in bodies:
        p.send(q, b, h, receipt=True)
    p.disconnect()
    return bodies


@pytest.mark.parametrize("version", VERSIONS)
def test_auto_ack_is_not_redelivered(broker, connect, uniq, version):
    q = uniq("queue")
    _fill(connect, broker, q, 3, version)
    c = connect(broker, version)
    c.subscribe(q, "s", ack="auto")
    assert [m.body for m in c.messages(3)] == [b"m0", b"m1", b"m2"]
    c.disconnect()
    d = connect(broker, version)
    d.subscribe(q, "s", ack="auto")
    assert d.poll(0.4) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_client_individual_acks_one_message(broker, connect, uniq, version):
    q = uniq("queue")
    _fill(connect, broker, q, 3, version)
    c = connect(broker, version)
    c.subscribe(q, "s", ack="client-individual")
    msgs = c.messages(3)
    if version == "1.2":
        assert all(m.get("ack") for m in msgs), "1.2 MESSAGE needs an ack header"
    c.ack(msgs[1], receipt=True)
    c.disconnect()
    d = connect(broker, version)
    d.subscribe(q, "s", ack="client-individual")
    again = d.messages(2)
    assert [m.body for m in again] == [b"m0", b"m2"]
    assert all(m.get("redelivered") == "true" for m in again), again
    assert d.poll(0.3) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_client_ack_is_cumulative(broker, connect, uniq, version):
    q = uniq("queue")
    _fill(connect, broker, q, 5, version)
    c = connect(broker, version)
    c.subscribe(q, "s", ack="client")
    msgs = c.messages(5)
    c.ack(msgs[2], receipt=True)  # acks m0, m1 and m2
    c.disconnect()
    d = connect(broker, version)
    d.subscribe(q, "s", ack="client")
    again = d.messages(2)
    assert [m.body for m in again] == [b"m3", b"m4"]
    assert all(m.get("redelivered") == "true" for m in again)
    d.ack(again[1], receipt=True)
    d.disconnect()
    e = connect(broker, version)
    e.subscribe(q, "s", ack="client")
    assert e.poll(0.3) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_unacked_redelivered_after_abrupt_close(broker, connect, uniq, version):
    """A consumer that vanishes without DISCONNECT (socket closed) loses its messages to
    the next consumer, flagged redelivered."""
    q = uniq("queue")
    _fill(connect, broker, q, 2, version)
    c = connect(broker, version)
    c.subscribe(q, "s", ack="client-individual")
    first = c.messages(2)
    c.close()
    d = connect(broker, version)
    d.subscribe(q, "s2", ack="client-individual")
    again = d.messages(2, timeout=T(5))
    assert [m.body for m in again] == [b"m0", b"m1"]
    assert [m["message-id"] for m in again] == [m["message-id"] for m in first]
    assert all(m.get("redelivered") == "true" for m in again)


@pytest.mark.parametrize("version", VERSIONS)
def test_unacked_redelivered_after_unsubscribe(broker, connect, uniq, version):
    q = uniq("queue")
    _fill(connect, broker, q, 2, version)
    c = connect(broker, version)
    c.subscribe(q, "s", ack="client-individual")
    c.messages(2)
    other = connect(broker, version)
    other.subscribe(q, "o", ack="client-individual")
    assert other.poll(0.3) is None  # both are held by the first consumer
    c.unsubscribe("s")
    again = other.messages(2, timeout=T(5))
    assert sorted(m.body for m in again) == [b"m0", b"m1"]
    assert all(m.get("redelivered") == "true" for m in again)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
@pytest.mark.paxmq_only  # ActiveMQ 5.17 treats a STOMP NACK as a poison ack: straight to DLQ
def test_nack_redelivers_with_redelivered_flag(broker, connect, uniq, version):
    q = uniq("queue")
    _fill(connect, broker, q, 1, version)
    c = connect(broker, version)
    c.subscribe(q, "s", ack="client-individual")
    m = c.expect("MESSAGE")
    assert m.get("redelivered") != "true"
    c.nack(m, receipt=True)
    again = c.expect("MESSAGE", timeout=T(5))
    assert again.body == b"m0"
    assert again["message-id"] == m["message-id"]
    assert again.get("redelivered") == "true"
    c.ack(again, receipt=True)
    c.disconnect()
    d = connect(broker, version)
    d.subscribe(q, "s", ack="client-individual")
    assert d.poll(0.3) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_ack_with_receipt_then_reconnect_nothing_left(broker, connect, uniq, version):
    q = uniq("queue")
    _fill(connect, broker, q, 4, version, persistent=True)
    c = connect(broker, version)
    c.subscribe(q, "s", ack="client-individual")
    for m in c.messages(4):
        c.ack(m, receipt=True)
    c.disconnect()
    d = connect(broker, version)
    d.subscribe(q, "s", ack="client-individual")
    assert d.poll(0.4) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_prefetch_one_lets_second_consumer_work(broker, connect, uniq, version):
    q = uniq("queue")
    a = connect(broker, version)
    a.subscribe(q, "a", ack="client-individual", **{"activemq.prefetchSize": "1"})
    b = connect(broker, version)
    b.subscribe(q, "b", ack="client-individual", **{"activemq.prefetchSize": "1"})
    _fill(connect, broker, q, 4, version)
    ma = a.expect("MESSAGE")
    mb = b.expect("MESSAGE")
    assert {ma.body, mb.body} == {b"m0", b"m1"}
    # each holds one unacked message: nothing more until it acks
    assert a.poll(0.3) is None
    assert b.poll(0.05) is None
    a.ack(ma)
    ma2 = a.expect("MESSAGE")
    assert ma2.body in (b"m2", b"m3")
    b.ack(mb)
    mb2 = b.expect("MESSAGE")
    assert {ma2.body, mb2.body} == {b"m2", b"m3"}


def test_prefetch_one_single_consumer_gets_next_after_ack(broker, connect, uniq):
    q = uniq("queue")
    _fill(connect, broker, q, 3)
    a = connect(broker, "1.2")
    a.subscribe(q, "a", ack="client-individual", **{"activemq.prefetchSize": "1"})
    got = []
    for _ in range(3):
        m = a.expect("MESSAGE")
        assert a.poll(0.2) is None, "prefetch 1 exceeded"
        got.append(m.body)
        a.ack(m)
    assert got == [b"m0", b"m1", b"m2"]


def test_default_prefetch_delivers_many_unacked(broker, connect, uniq):
    """Without activemq.prefetchSize a client-ack consumer gets many messages in flight
    (the documented default is large: 1000)."""
    q = uniq("queue")
    _fill(connect, broker, q, 50)
    a = connect(broker, "1.2")
    a.subscribe(q, "a", ack="client-individual")
    assert len(a.messages(50)) == 50


def test_ack_of_one_subscription_does_not_touch_another(broker, connect, uniq):
    q1, q2 = uniq("queue"), uniq("queue")
    _fill(connect, broker, q1, 1, prefix="one")
    _fill(connect, broker, q2, 1, prefix="two")
    c = connect(broker, "1.1")
    c.subscribe(q1, "s1", ack="client")
    c.subscribe(q2, "s2", ack="client")
    got = {m.body: m for m in c.messages(2)}
    c.ack(got[b"one0"], receipt=True)
    c.disconnect()
    d = connect(broker, "1.1")
    d.subscribe(q1, "s1", ack="client")
    d.subscribe(q2, "s2", ack="client")
    m = d.expect("MESSAGE")
    assert m.body == b"two0"
    assert d.poll(0.3) is None


# ---- dead-letter queue (paxmq: exactly 1 + max_redeliveries deliveries) ----------------

@pytest.mark.paxmq_only  # ActiveMQ's STOMP NACK skips redelivery; its DLQ policy differs
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_nack_past_max_redeliveries_goes_to_dlq(start_broker, connect, uniq, version):
    b = start_broker(broker_max_redeliveries=2)
    q = uniq("queue")
    p = connect(b, version)
    p.send(q, b"poison", {"persistent": "true", "x-tag": "keep-me"}, receipt=True)
    p.send(q, b"fine", {"persistent": "true"}, receipt=True)
    c = connect(b, version)
    c.subscribe(q, "s", ack="client-individual", **{"activemq.prefetchSize": "1"})
    deliveries = []
    while True:
        m = c.expect("MESSAGE", timeout=T(5))
        if m.body == b"fine":
            c.ack(m, receipt=True)
            break
        deliveries.append(m)
        c.nack(m, receipt=True)
    assert len(deliveries) == 3, "1 delivery + 2 redeliveries, got %d" % len(deliveries)
    assert deliveries[0].get("redelivered") != "true"
    assert all(m.get("redelivered") == "true" for m in deliveries[1:])
    assert c.poll(0.3) is None
    d = connect(b, version)
    d.subscribe(DLQ, "dlq", ack="client-individual")
    dead = d.expect("MESSAGE", timeout=T(5))
    assert dead.body == b"poison"
    assert dead["x-tag"] == "keep-me"
    assert dead["destination"] == DLQ
    d.ack(dead, receipt=True)
    assert d.poll(0.3) is None


@pytest.mark.paxmq_only  # ActiveMQ counts disconnect redeliveries but DLQs them client-side
def test_consumer_crashes_past_max_redeliveries_goes_to_dlq(start_broker, connect, uniq):
    b = start_broker(broker_max_redeliveries=2)
    q = uniq("queue")
    p = connect(b)
    p.send(q, b"crashy", {"persistent": "true"}, receipt=True)
    for i in range(3):
        c = connect(b)
        c.subscribe(q, "s", ack="client-individual")
        m = c.expect("MESSAGE", timeout=T(5))
        assert m.body == b"crashy"
        assert (m.get("redelivered") == "true") == (i > 0)
        c.close()  # no ACK, no DISCONNECT
    c = connect(b)
    c.subscribe(q, "s", ack="client-individual")
    assert c.poll(0.5) is None, "message delivered more than 1 + max_redeliveries times"
    d = connect(b)
    d.subscribe(DLQ, "dlq", ack="auto")
    assert d.expect("MESSAGE", timeout=T(5)).body == b"crashy"


@pytest.mark.paxmq_only
def test_default_max_redeliveries_is_six(broker, connect, uniq):
    q = uniq("queue")
    p = connect(broker)
    p.send(q, b"seven lives", {"persistent": "true"}, receipt=True)
    c = connect(broker)
    c.subscribe(q, "s", ack="client-individual")
    n = 0
    while True:
        m = c.poll(T(2))
        if m is None:
            break
        n += 1
        c.nack(m)
        assert n <= 7, "delivered more than 1 + 6 times"
    assert n == 7
    d = connect(broker)
    d.subscribe(DLQ, "dlq")
    assert d.expect("MESSAGE", timeout=T(5)).body == b"seven lives"


@pytest.mark.paxmq_only
def test_dlq_move_survives_restart(start_broker, connect, uniq):
    b = start_broker(broker_max_redeliveries=0)
    q = uniq("queue")
    p = connect(b)
    p.send(q, b"dead on arrival", {"persistent": "true"}, receipt=True)
    c = connect(b)
    c.subscribe(q, "s", ack="client-individual")
    c.nack(c.expect("MESSAGE"), receipt=True)
    c.disconnect()
    b.restart()
    c = connect(b)
    c.subscribe(q, "s")
    assert c.poll(0.4) is None
    d = connect(b)
    d.subscribe(DLQ, "dlq")
    assert d.expect("MESSAGE", timeout=T(5)).body == b"dead on arrival"
