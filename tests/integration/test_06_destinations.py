"""Destinations the ActiveMQ way: queue round-robin, topic fan-out, temp queues/topics,
wildcards, priority, expiry, reply-to/correlation-id, user headers end to end."""

import time
import uuid

import pytest

from pmqtest import T
from stomp_raw import VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_queue_round_robin(broker, connect, uniq, version):
    q = uniq("queue")
    a = connect(broker, version)
    a.subscribe(q, "a")
    b = connect(broker, version)
    b.subscribe(q, "b")
    p = connect(broker, version)
    for i in range(10):
        p.send(q, ("m%d" % i).encode(), receipt=True)
    got_a = [m.body for m in a.messages(5)]
    got_b = [m.body for m in b.messages(5)]
    assert a.poll(0.2) is None and b.poll(0.05) is None
    assert sorted(got_a + got_b) == sorted(("m%d" % i).encode() for i in range(10))
    # alternation: consecutive messages go to different consumers, each in order
    assert got_a == sorted(got_a, key=lambda x: int(x[1:]))
    assert got_b == sorted(got_b, key=lambda x: int(x[1:]))
    assert {got_a[0], got_b[0]} == {b"m0", b"m1"}


def test_queue_each_message_exactly_once_with_three_consumers(broker, connect, uniq):
    q = uniq("queue")
    cs = [connect(broker) for _ in range(3)]
    for i, c in enumerate(cs):
        c.subscribe(q, "c%d" % i)
    p = connect(broker)
    for i in range(30):
        p.send(q, ("n%d" % i).encode())
    p.receipt("SEND", {"destination": q}, b"n30")
    seen = []
    for c in cs:
        while True:
            m = c.poll(0.3)
            if m is None:
                break
            seen.append(m.body)
    assert sorted(seen) == sorted(("n%d" % i).encode() for i in range(31))


@pytest.mark.parametrize("version", VERSIONS)
def test_topic_fan_out(broker, connect, uniq, version):
    t = uniq("topic")
    subs = [connect(broker, version) for _ in range(3)]
    for i, s in enumerate(subs):
        s.subscribe(t, "s%d" % i)
    p = connect(broker, version)
    bodies = [("f%d" % i).encode() for i in range(5)]
    for b in bodies:
        p.send(t, b, receipt=True)
    for i, s in enumerate(subs):
        got = s.messages(5)
        assert [m.body for m in got] == bodies
        assert all(m["subscription"] == "s%d" % i for m in got)
        assert all(m["destination"] == t for m in got)


def test_topic_two_subscriptions_on_one_connection_each_get_a_copy(broker, connect, uniq):
    t = uniq("topic")
    c = connect(broker)
    c.subscribe(t, "x")
    c.subscribe(t, "y")
    c.send(t, b"twice", receipt=True)
    got = c.messages(2)
    assert sorted(m["subscription"] for m in got) == ["x", "y"]
    assert all(m.body == b"twice" for m in got)


# ---- temporary destinations -----------------------------------------------------------

def test_temp_queue_request_reply(broker, connect, uniq):
    svc = uniq("queue")
    server = connect(broker)
    server.subscribe(svc, "svc")
    client = connect(broker)
    client.subscribe("/temp-queue/replies", "r")
    client.send(svc, b"ping", {"reply-to": "/temp-queue/replies",
                               "correlation-id": "c-17"}, receipt=True)
    req = server.expect("MESSAGE")
    assert req.body == b"ping"
    reply_to = req["reply-to"]
    assert reply_to
    server.send(reply_to, b"pong", {"correlation-id": req["correlation-id"]}, receipt=True)
    rep = client.expect("MESSAGE")
    assert rep.body == b"pong"
    assert rep["correlation-id"] == "c-17"


def test_temp_queues_are_private_to_their_connection(broker, connect):
    a = connect(broker)
    b = connect(broker)
    a.subscribe("/temp-queue/same-name", "ta")
    b.subscribe("/temp-queue/same-name", "tb")
    a.send("/temp-queue/same-name", b"for a", receipt=True)
    b.send("/temp-queue/same-name", b"for b", receipt=True)
    assert a.expect("MESSAGE").body == b"for a"
    assert b.expect("MESSAGE").body == b"for b"
    assert a.poll(0.3) is None and b.poll(0.05) is None


def test_temp_queue_dies_with_its_connection(broker, connect, uniq):
    svc = uniq("queue")
    name = "/temp-queue/short-lived-" + uuid.uuid4().hex[:6]
    a = connect(broker)
    a.subscribe(name, "t")
    a.send(svc, b"req", {"reply-to": name}, receipt=True)
    server = connect(broker)
    server.subscribe(svc, "svc")
    reply_to = server.expect("MESSAGE")["reply-to"]
    a.disconnect()
    # a reply to the dead temp queue is either refused or dropped, never kept
    server.send_frame("SEND", [("destination", reply_to), ("receipt", "late")], b"late")
    server.recv(T(3))  # RECEIPT or ERROR; both are fine
    a2 = connect(broker)
    a2.subscribe(name, "t")
    assert a2.poll(0.4) is None
    assert a2.poll(0.01) is None


def test_temp_topic_fan_out_within_connection(broker, connect):
    a = connect(broker)
    a.subscribe("/temp-topic/events", "e1")
    a.subscribe("/temp-topic/events", "e2")
    a.send("/temp-topic/events", b"evt", receipt=True)
    got = a.messages(2)
    assert sorted(m["subscription"] for m in got) == ["e1", "e2"]
    other = connect(broker)
    other.subscribe("/temp-topic/events", "o")
    a.send("/temp-topic/events", b"evt2", receipt=True)
    assert other.poll(0.3) is None


# ---- wildcards ------------------------------------------------------------------------

def test_star_wildcard_matches_one_level(broker, connect, uniq):
    root = uniq(None)
    s = connect(broker)
    s.subscribe("/topic/%s.*.c" % root, "w")
    p = connect(broker)
    for d in ("a.c", "a.b.c", "b.c", "a.c.d", "c"):
        p.send("/topic/%s.%s" % (root, d), d.encode(), receipt=True)
    got = [(m.body, m["destination"]) for m in s.messages(2)]
    assert got == [(b"a.c", "/topic/%s.a.c" % root), (b"b.c", "/topic/%s.b.c" % root)]
    assert s.poll(0.3) is None


def test_greater_than_wildcard_matches_the_rest(broker, connect, uniq):
    root = uniq(None)
    s = connect(broker)
    s.subscribe("/topic/%s.>" % root, "w")
    p = connect(broker)
    for d in ("x", "x.y", "x.y.z", "q.r"):
        p.send("/topic/%s.%s" % (root, d), d.encode(), receipt=True)
    p.send("/topic/%sother.x" % root, b"other", receipt=True)
    got = [m.body for m in s.messages(4)]
    assert got == [b"x", b"x.y", b"x.y.z", b"q.r"]
    assert s.poll(0.3) is None


def test_wildcard_in_the_middle_and_end(broker, connect, uniq):
    root = uniq(None)
    s = connect(broker)
    s.subscribe("/topic/%s.*.b.>" % root, "w")
    p = connect(broker)
    for d in ("a.b.c", "z.b.c.d", "a.c.b.d", "b.c"):
        p.send("/topic/%s.%s" % (root, d), d.encode(), receipt=True)
    got = [m.body for m in s.messages(2)]
    assert got == [b"a.b.c", b"z.b.c.d"]
    assert s.poll(0.3) is None


# ---- priority and expiry ---------------------------------------------------------------

def test_priority_higher_first_within_queue(broker, connect, uniq):
    q = uniq("queue")
    p = connect(broker)
    prios = [4, 0, 9, 4, 7, 1, 9, 5, 0, 7]
    for i, pr in enumerate(prios):
        p.send(q, ("%d" % i).encode(), {"priority": str(pr), "persistent": "true"},
               receipt=True)
    c = connect(broker)
    c.subscribe(q, "s")
    got = c.messages(len(prios))
    expected = sorted(range(len(prios)), key=lambda i: (-prios[i], i))
    assert [int(m.body) for m in got] == expected
    assert [m["priority"] for m in got] == [str(prios[i]) for i in expected]


def test_priority_non_persistent(broker, connect, uniq):
    q = uniq("queue")
    p = connect(broker)
    for i, pr in enumerate([1, 8, 3]):
        p.send(q, ("%d" % i).encode(), {"priority": str(pr)}, receipt=True)
    c = connect(broker)
    c.subscribe(q, "s")
    assert [m.body for m in c.messages(3)] == [b"1", b"2", b"0"]


def test_expired_message_is_never_delivered(broker, connect, uniq):
    q = uniq("queue")
    p = connect(broker)
    now = int(time.time() * 1000)
    p.send(q, b"already expired", {"expires": str(now - 1000)}, receipt=True)
    p.send(q, b"expires soon", {"expires": str(now + 300), "persistent": "true"},
           receipt=True)
    p.send(q, b"lives long", {"expires": str(now + 600000)}, receipt=True)
    p.send(q, b"never expires", {"expires": "0"}, receipt=True)
    time.sleep(0.8)
    c = connect(broker)
    c.subscribe(q, "s")
    got = c.messages(2)
    assert [m.body for m in got] == [b"lives long", b"never expires"]
    assert got[0]["expires"] == str(now + 600000)
    assert c.poll(0.3) is None


def test_expired_while_waiting_for_topic_durable(broker, connect, uniq):
    t = uniq("topic")
    cid = "cid-" + uuid.uuid4().hex[:8]
    d = connect(broker, headers={"client-id": cid})
    d.subscribe(t, "d", **{"activemq.subscriptionName": "exp"})
    d.disconnect()
    p = connect(broker)
    now = int(time.time() * 1000)
    p.send(t, b"stale", {"expires": str(now + 200), "persistent": "true"}, receipt=True)
    p.send(t, b"fresh", {"persistent": "true"}, receipt=True)
    time.sleep(0.6)
    d = connect(broker, headers={"client-id": cid})
    d.subscribe(t, "d", **{"activemq.subscriptionName": "exp"})
    assert d.expect("MESSAGE").body == b"fresh"
    assert d.poll(0.3) is None


# ---- headers end to end ----------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_reply_to_and_correlation_id_carried(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version)
    c.subscribe(q, "s")
    c.send(q, b"rq", {"reply-to": "/queue/replies-here", "correlation-id": "corr-42"},
           receipt=True)
    m = c.expect("MESSAGE")
    assert m["reply-to"] == "/queue/replies-here"
    assert m["correlation-id"] == "corr-42"


@pytest.mark.parametrize("version", VERSIONS)
def test_user_headers_and_content_type_unchanged(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version)
    c.subscribe(q, "s")
    headers = {
        "content-type": "application/json;charset=utf-8",
        "x-trace-id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "x-unicode": "gr\u00fc\u00df \u4e16\u754c",
        "x-empty": "",
        "CamelCase_Prop": "42",
    }
    c.send(q, b'{"k": 1}', headers, receipt=True)
    m = c.expect("MESSAGE")
    assert m.body == b'{"k": 1}'
    for k, v in headers.items():
        assert m.get(k) == v, (k, m.headers)


@pytest.mark.parametrize("version", ["1.1", "1.2"])  # (ActiveMQ trims in 1.0)
def test_header_whitespace_is_not_trimmed(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version)
    c.subscribe(q, "s")
    c.send(q, b"ws", {"x-spaces": "  leading and trailing  "}, receipt=True)
    assert c.expect("MESSAGE")["x-spaces"] == "  leading and trailing  "


def test_timestamp_and_persistent_headers(broker, connect, uniq):
    q = uniq("queue")
    c = connect(broker)
    c.subscribe(q, "s")
    before = int(time.time() * 1000)
    c.send(q, b"p", {"persistent": "true"}, receipt=True)
    m = c.expect("MESSAGE")
    after = int(time.time() * 1000)
    assert m["persistent"] == "true"
    assert before - 2000 <= int(m["timestamp"]) <= after + 2000


def test_headers_through_topic_and_stomppy(broker, stomppy, uniq):
    t = uniq("topic")
    conn, coll = stomppy(broker, "1.1")
    conn.subscribe(t, id="1", ack="auto")
    conn.send(t, b"<x/>", content_type="application/xml",
              headers={"x-a": "1", "correlation-id": "cid", "reply-to": "/topic/back"})
    m = coll.get(T(5))
    assert m.body == b"<x/>"
    assert m.headers["content-type"] == "application/xml"
    assert m.headers["x-a"] == "1"
    assert m.headers["correlation-id"] == "cid"
    assert m.headers["reply-to"] == "/topic/back"
