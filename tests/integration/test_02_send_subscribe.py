"""SEND / SUBSCRIBE / UNSUBSCRIBE, RECEIPTs, header escaping per version, bodies with NUL,
message-id uniqueness; with raw frames and with the stomp.py client."""

import os
import time

import pytest

from pmqtest import T
from stomp_raw import VERSIONS, encode_frame


@pytest.mark.parametrize("version", VERSIONS)
def test_send_then_receive(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version)
    c.subscribe(q, "sub-1")
    c.send(q, b"hello world", receipt=True)
    m = c.expect("MESSAGE")
    assert m.body == b"hello world"
    assert m["destination"] == q
    assert m.get("message-id")
    assert m.get("subscription") == "sub-1"


@pytest.mark.parametrize("version", VERSIONS)
def test_queue_keeps_messages_until_a_consumer_comes(broker, connect, uniq, version):
    q = uniq("queue")
    p = connect(broker, version)
    bodies = [("m%d" % i).encode() for i in range(5)]
    for b in bodies:
        p.send(q, b, receipt=True)
    c = connect(broker, version)
    c.subscribe(q, "s")
    assert [m.body for m in c.messages(5)] == bodies
    assert c.poll(0.3) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_topic_without_subscriber_drops(broker, connect, uniq, version):
    t = uniq("topic")
    p = connect(broker, version)
    p.send(t, b"nobody listens", receipt=True)
    c = connect(broker, version)
    c.subscribe(t, "s")
    p.send(t, b"now someone does", receipt=True)
    assert c.expect("MESSAGE").body == b"now someone does"
    assert c.poll(0.3) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_receipt_for_every_frame_with_receipt(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version)
    c.receipt("SUBSCRIBE", [("destination", q), ("id", "s1"), ("ack", "client")])
    c.receipt("SEND", [("destination", q)], b"one")
    m = c.expect("MESSAGE")
    c.receipt("BEGIN", [("transaction", "tx1")])
    c.receipt("SEND", [("destination", q), ("transaction", "tx1")], b"two")
    c.receipt("COMMIT", [("transaction", "tx1")])
    m2 = c.expect("MESSAGE")
    assert m2.body == b"two"
    c.receipt("BEGIN", [("transaction", "tx2")])
    c.receipt("ABORT", [("transaction", "tx2")])
    c.receipt("ACK", c.ack_headers(m2, "s1"))
    if version != "1.0":
        c.send(q, b"three")
        m3 = c.expect("MESSAGE")
        c.receipt("NACK", c.ack_headers(m3, "s1"))
    c.receipt("UNSUBSCRIBE", [("id", "s1")])
    c.send_frame("DISCONNECT", [("receipt", "last")])
    c.wait_receipt("last", "DISCONNECT")
    assert m.body == b"one"


@pytest.mark.parametrize("version", VERSIONS)
def test_unsubscribe_stops_delivery(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version)
    c.subscribe(q, "s")
    c.send(q, b"before", receipt=True)
    assert c.expect("MESSAGE").body == b"before"
    c.unsubscribe("s")
    c.send(q, b"after", receipt=True)
    assert c.poll(0.4) is None
    # the message stayed in the queue for the next consumer
    d = connect(broker, version)
    d.subscribe(q, "t")
    assert d.expect("MESSAGE").body == b"after"


@pytest.mark.parametrize("version", VERSIONS)
def test_subscription_header_tells_subscriptions_apart(broker, connect, uniq, version):
    q1, q2 = uniq("queue"), uniq("queue")
    c = connect(broker, version)
    c.subscribe(q1, "first")
    c.subscribe(q2, "second")
    c.send(q2, b"to two", receipt=True)
    c.send(q1, b"to one", receipt=True)
    got = {m.body: (m["subscription"], m["destination"]) for m in c.messages(2)}
    assert got == {b"to two": ("second", q2), b"to one": ("first", q1)}


@pytest.mark.parametrize("version", VERSIONS)
def test_message_ids_unique(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version)
    c.subscribe(q, "s")
    for i in range(100):
        c.send(q, ("m%d" % i).encode())
    msgs = c.messages(100, timeout=T(10))
    ids = [m["message-id"] for m in msgs]
    assert len(set(ids)) == 100
    assert [m.body for m in msgs] == [("m%d" % i).encode() for i in range(100)]


# ---- bodies ---------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_body_with_nul_bytes_needs_content_length(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version)
    c.subscribe(q, "s")
    body = b"a\x00b\x00\x00c" + bytes(range(256)) + b"\x00"
    c.send(q, body, receipt=True)
    m = c.expect("MESSAGE")
    assert m.body == body
    assert m["content-length"] == str(len(body))


@pytest.mark.parametrize("version", VERSIONS)
def test_text_body_without_content_length(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version)
    c.subscribe(q, "s")
    c.send(q, "plain text, no length: \u00e9t\u00e9".encode(), content_length=False,
           receipt=True)
    assert c.expect("MESSAGE").body == "plain text, no length: \u00e9t\u00e9".encode()


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_body(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version)
    c.subscribe(q, "s")
    c.send(q, b"", {"x-kind": "empty"}, receipt=True)
    m = c.expect("MESSAGE")
    assert m.body == b""
    assert m["x-kind"] == "empty"


def test_one_mebibyte_binary_body(broker, connect, uniq):
    q = uniq("queue")
    c = connect(broker, "1.2")
    c.subscribe(q, "s")
    body = os.urandom(1 << 20)
    c.send(q, body, receipt=True, timeout=T(10))
    m = c.expect("MESSAGE", timeout=T(10))
    assert m.body == body


def test_frames_split_into_single_bytes(broker, connect, uniq):
    """A client that writes one byte at a time is parsed correctly."""
    q = uniq("queue")
    c = connect(broker, "1.2")
    c.subscribe(q, "s")
    data = encode_frame("SEND", [("destination", q), ("receipt", "slow")], b"x\x00y")
    for i in range(len(data)):
        c.send_raw(data[i:i + 1])
        if i % 16 == 0:
            time.sleep(0.001)
    got = sorted(f.command for f in (c.recv(), c.recv()))
    assert got == ["MESSAGE", "RECEIPT"]


def test_many_frames_in_one_write(broker, connect, uniq):
    q = uniq("queue")
    c = connect(broker, "1.2")
    c.subscribe(q, "s")
    data = b"".join(encode_frame("SEND", [("destination", q)], ("n%d" % i).encode())
                    for i in range(50))
    c.send_raw(data + b"\n\n")  # trailing EOLs are heart-beats, not frames
    assert [m.body for m in c.messages(50)] == [("n%d" % i).encode() for i in range(50)]


# ---- header escaping -----------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_escaped_header_value_round_trips(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version)
    c.subscribe(q, "s")
    value = "a:b\nc\\d::e"
    c.send(q, b"esc", {"x-odd": value}, receipt=True)
    m = c.expect("MESSAGE")
    assert m["x-odd"] == value


def test_carriage_return_escaped_in_1_2(broker, connect, uniq):
    q = uniq("queue")
    c = connect(broker, "1.2")
    c.subscribe(q, "s")
    c.send(q, b"cr", {"x-cr": "line1\r\nline2"}, receipt=True)
    assert c.expect("MESSAGE")["x-cr"] == "line1\r\nline2"


@pytest.mark.paxmq_only  # ActiveMQ 5.17 unescapes 1.0 header values (it turns \n into EOL)
def test_1_0_header_values_are_raw(broker, connect, uniq):
    q = uniq("queue")
    c = connect(broker, "1.0")
    c.subscribe(q, "s")
    c.send(q, b"raw", {"x-path": "C:\\temp\\new", "x-colon": "a:b:c"}, receipt=True)
    m = c.expect("MESSAGE")
    assert m["x-path"] == "C:\\temp\\new"
    assert m["x-colon"] == "a:b:c"


@pytest.mark.paxmq_only  # same ActiveMQ 1.0 unescaping bug
def test_1_0_value_reaches_1_2_consumer_unchanged(broker, connect, uniq):
    q = uniq("queue")
    sub = connect(broker, "1.2")
    sub.subscribe(q, "s")
    pub = connect(broker, "1.0")
    pub.send(q, b"x", {"x-path": "C:\\new:dir"}, receipt=True)
    assert sub.expect("MESSAGE")["x-path"] == "C:\\new:dir"


def test_1_2_value_reaches_1_1_consumer_unchanged(broker, connect, uniq):
    q = uniq("queue")
    sub = connect(broker, "1.1")
    sub.subscribe(q, "s")
    pub = connect(broker, "1.2")
    pub.send(q, b"x", {"x-v": "k:v\nnext\\end"}, receipt=True)
    assert sub.expect("MESSAGE")["x-v"] == "k:v\nnext\\end"


def test_repeated_header_first_wins(broker, connect, uniq):
    q = uniq("queue")
    c = connect(broker, "1.2")
    c.subscribe(q, "s")
    c.send_frame("SEND", [("destination", q), ("x-rep", "first"), ("x-rep", "second"),
                          ("receipt", "rep")], b"rep")
    frames = [c.recv(), c.recv()]
    m = [f for f in frames if f.command == "MESSAGE"][0]
    assert m["x-rep"] == "first"


# ---- the stomp.py client ---------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_stomppy_send_subscribe(broker, stomppy, uniq, version):
    q = uniq("queue")
    conn, coll = stomppy(broker, version)
    conn.subscribe(q, id="py-1", ack="auto")
    headers = {"x-user": "value with spaces", "x-num": "17"}
    for i in range(10):
        conn.send(q, ("py %d" % i).encode(), content_type="text/plain", headers=headers)
    msgs = coll.get_n(10, timeout=T(5))
    assert [m.body for m in msgs] == [("py %d" % i).encode() for i in range(10)]
    for m in msgs:
        assert m.headers["x-user"] == "value with spaces"
        assert m.headers["x-num"] == "17"
        assert m.headers["content-type"].startswith("text/plain")
        assert m.headers["destination"] == q
    coll.none(0.3)


@pytest.mark.parametrize("version", VERSIONS)
def test_stomppy_receipts(broker, stomppy, uniq, version):
    q = uniq("queue")
    conn, coll = stomppy(broker, version)
    conn.send(q, b"with receipt", headers={"receipt": "py-r1"})
    coll.wait_receipt("py-r1", timeout=T(5))
