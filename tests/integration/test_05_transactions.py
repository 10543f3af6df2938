"""BEGIN / COMMIT / ABORT: transactional SENDs and ACKs take effect at COMMIT."""

import pytest

from pmqtest import T
from stomp_raw import VERSIONS, Closed


def _tx_send(c, q, tx, body, headers=None):
    h = {"transaction": tx}
    h.update(headers or {})
    c.send(q, body, h)


@pytest.mark.parametrize("version", VERSIONS)
def test_sends_invisible_until_commit(broker, connect, uniq, version):
    q = uniq("queue")
    consumer = connect(broker, version)
    consumer.subscribe(q, "s")
    p = connect(broker, version)
    p.receipt("BEGIN", {"transaction": "tx-1"})
    for i in range(3):
        _tx_send(p, q, "tx-1", ("t%d" % i).encode())
    p.send(q, b"outside", receipt=True)
    assert consumer.expect("MESSAGE").body == b"outside"
    assert consumer.poll(0.3) is None
    p.receipt("COMMIT", {"transaction": "tx-1"})
    assert [m.body for m in consumer.messages(3)] == [b"t0", b"t1", b"t2"]


@pytest.mark.parametrize("version", VERSIONS)
def test_abort_discards_sends(broker, connect, uniq, version):
    q = uniq("queue")
    consumer = connect(broker, version)
    consumer.subscribe(q, "s")
    p = connect(broker, version)
    p.receipt("BEGIN", {"transaction": "tx-a"})
    _tx_send(p, q, "tx-a", b"never", {"persistent": "true"})
    p.receipt("ABORT", {"transaction": "tx-a"})
    p.send(q, b"marker", receipt=True)
    assert consumer.expect("MESSAGE").body == b"marker"
    assert consumer.poll(0.3) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_disconnect_discards_open_transaction(broker, connect, uniq, version):
    q = uniq("queue")
    p = connect(broker, version)
    p.receipt("BEGIN", {"transaction": "tx-d"})
    _tx_send(p, q, "tx-d", b"never 1", {"persistent": "true"})
    _tx_send(p, q, "tx-d", b"never 2")
    p.disconnect()
    p2 = connect(broker, version)
    p2.send(q, b"marker", receipt=True)
    consumer = connect(broker, version)
    consumer.subscribe(q, "s")
    assert consumer.expect("MESSAGE").body == b"marker"
    assert consumer.poll(0.3) is None


def test_abrupt_close_discards_open_transaction(broker, connect, uniq):
    q = uniq("queue")
    p = connect(broker, "1.2")
    p.receipt("BEGIN", {"transaction": "tx-x"})
    _tx_send(p, q, "tx-x", b"never")
    p.receipt("SEND", {"destination": q}, b"marker")
    p.close()
    consumer = connect(broker, "1.2")
    consumer.subscribe(q, "s")
    assert consumer.expect("MESSAGE").body == b"marker"
    assert consumer.poll(0.3) is None


def test_two_transactions_on_one_connection(broker, connect, uniq):
    q = uniq("queue")
    consumer = connect(broker, "1.2")
    consumer.subscribe(q, "s")
    p = connect(broker, "1.2")
    p.receipt("BEGIN", {"transaction": "A"})
    p.receipt("BEGIN", {"transaction": "B"})
    _tx_send(p, q, "A", b"a1")
    _tx_send(p, q, "B", b"b1")
    _tx_send(p, q, "A", b"a2")
    p.receipt("COMMIT", {"transaction": "B"})
    assert consumer.expect("MESSAGE").body == b"b1"
    p.receipt("ABORT", {"transaction": "A"})
    assert consumer.poll(0.3) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_transactional_ack_takes_effect_at_commit(broker, connect, uniq, version):
    q = uniq("queue")
    p = connect(broker, version)
    p.send(q, b"m", {"persistent": "true"}, receipt=True)
    c = connect(broker, version)
    c.subscribe(q, "s", ack="client-individual")
    m = c.expect("MESSAGE")
    c.receipt("BEGIN", {"transaction": "tx-ack"})
    c.ack(m, transaction="tx-ack")
    c.receipt("COMMIT", {"transaction": "tx-ack"})
    c.disconnect()
    d = connect(broker, version)
    d.subscribe(q, "s", ack="client-individual")
    assert d.poll(0.4) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_aborted_ack_leaves_message_unacked(broker, connect, uniq, version):
    q = uniq("queue")
    p = connect(broker, version)
    p.send(q, b"m", {"persistent": "true"}, receipt=True)
    c = connect(broker, version)
    c.subscribe(q, "s", ack="client-individual")
    m = c.expect("MESSAGE")
    c.receipt("BEGIN", {"transaction": "tx-ab"})
    c.ack(m, transaction="tx-ab")
    c.receipt("ABORT", {"transaction": "tx-ab"})
    c.disconnect()
    d = connect(broker, version)
    d.subscribe(q, "s", ack="client-individual")
    again = d.expect("MESSAGE", timeout=T(5))
    assert again.body == b"m"
    assert again["message-id"] == m["message-id"]
    assert again.get("redelivered") == "true"


def test_ack_in_uncommitted_transaction_is_void_on_disconnect(broker, connect, uniq):
    q = uniq("queue")
    p = connect(broker, "1.2")
    p.send(q, b"m", {"persistent": "true"}, receipt=True)
    c = connect(broker, "1.2")
    c.subscribe(q, "s", ack="client-individual")
    m = c.expect("MESSAGE")
    c.receipt("BEGIN", {"transaction": "tx-open"})
    c.ack(m, transaction="tx-open")
    c.disconnect()
    d = connect(broker, "1.2")
    d.subscribe(q, "s", ack="client-individual")
    assert d.expect("MESSAGE", timeout=T(5)).body == b"m"


def test_send_and_ack_in_one_transaction(broker, connect, uniq):
    """Consume-transform-produce: the ACK of the input and the SEND of the output commit
    together."""
    qin, qout = uniq("queue"), uniq("queue")
    p = connect(broker, "1.2")
    p.send(qin, b"input", {"persistent": "true"}, receipt=True)
    w = connect(broker, "1.2")
    w.subscribe(qin, "in", ack="client-individual")
    m = w.expect("MESSAGE")
    out = connect(broker, "1.2")
    out.subscribe(qout, "out")
    w.receipt("BEGIN", {"transaction": "ctp"})
    w.ack(m, transaction="ctp")
    _tx_send(w, qout, "ctp", b"output", {"persistent": "true"})
    assert out.poll(0.3) is None
    w.receipt("COMMIT", {"transaction": "ctp"})
    assert out.expect("MESSAGE").body == b"output"
    w.disconnect()
    again = connect(broker, "1.2")
    again.subscribe(qin, "in", ack="client-individual")
    assert again.poll(0.4) is None


def test_stomppy_transaction(broker, stomppy, uniq):
    q = uniq("queue")
    conn, coll = stomppy(broker, "1.2")
    conn.subscribe(q, id="s", ack="auto")
    tx = conn.begin()
    conn.send(q, b"py tx 1", transaction=tx)
    conn.send(q, b"py tx 2", transaction=tx)
    coll.none(0.3)
    conn.commit(tx)
    assert [m.body for m in coll.get_n(2, T(5))] == [b"py tx 1", b"py tx 2"]


@pytest.mark.parametrize("frame", ["SEND", "COMMIT", "ABORT"])
def test_unknown_transaction_is_an_error(broker, connect, uniq, frame):
    q = uniq("queue")
    c = connect(broker, "1.2")
    h = [("transaction", "no-such-tx"), ("receipt", "bad-tx")]
    if frame == "SEND":
        h.append(("destination", q))
    c.send_frame(frame, h, b"x" if frame == "SEND" else b"")
    try:
        f = c.recv(T(3))
    except Closed:
        raise AssertionError("connection closed without an ERROR frame")
    assert f.command == "ERROR", f
    assert f.get("message")
    assert f.get("receipt-id") == "bad-tx"
