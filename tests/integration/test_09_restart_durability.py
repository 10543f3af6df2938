"""Durability across restarts: SIGTERM (graceful, exit 0) and kill -9 (crash), with the
store syncing (--store.sync=true). Every persistent message that got a RECEIPT and was
not acked comes back; nothing whose ACK got a RECEIPT comes back."""

import threading
import time

import pytest

from pmqtest import T, assert_serves, need_local
from stomp_raw import Closed, RawStomp, Timeout

PERSISTENT = {"persistent": "true"}
# Tests that restart the broker skip by themselves under PAXMQ_EXTERNAL; the kill -9
# tests are marked paxmq_only as well (they check paxmq's --store.sync=true contract).


def _stream(broker, q, n, window=64, kill_after=None, start=0):
    """Send persistent messages body=b"<seq>" with a receipt each, at most `window`
    outstanding. With kill_after, kill -9 the broker once that many receipts arrived.
    Returns the set of receipted sequence numbers."""
    c = RawStomp(broker.addr, "1.2", timeout=T(10))
    c.connect()
    receipted = set()
    outstanding = 0
    seq = start
    killed = False
    try:
        while len(receipted) < n:
            while outstanding < window and seq < start + n:
                c.send_frame("SEND", [("destination", q), ("persistent", "true"),
                                      ("receipt", "s%d" % seq)], b"%d" % seq)
                seq += 1
                outstanding += 1
            f = c.recv(T(10))
            assert f.command == "RECEIPT", f
            receipted.add(int(f["receipt-id"][1:]))
            outstanding -= 1
            if kill_after is not None and len(receipted) >= kill_after:
                broker.kill9()
                killed = True
                break
    except Closed:
        assert killed, "broker closed the producer before the crash"
    finally:
        c.close()
    return receipted


def _drain(broker, q, idle=1.0, ack=True, sub_id="d"):
    """Consume q with client-individual acks until idle; returns the MESSAGE frames."""
    c = RawStomp(broker.addr, "1.2", timeout=T(10))
    c.connect()
    c.subscribe(q, sub_id, ack="client-individual")
    got = []
    while True:
        f = c.poll(T(idle))
        if f is None:
            break
        assert f.command == "MESSAGE", f
        got.append(f)
        if ack:
            c.ack(f)
    c.disconnect()
    return got


def _check_no_bad_duplicates(msgs):
    seen = set()
    for m in msgs:
        s = int(m.body)
        if s in seen:
            assert m.get("redelivered") == "true", "duplicate %d not marked redelivered" % s
        seen.add(s)
    return seen


def test_sigterm_then_restart_keeps_receipted_persistent(start_broker, connect, uniq):
    b = start_broker()
    q = uniq("queue")
    p = connect(b)
    for i in range(20):
        p.send(q, b"%d" % i, PERSISTENT, receipt=True)
    p.send(q, b"transient", receipt=True)  # non-persistent: skips the log
    b.restart()
    got = _drain(b, q)
    assert [m.body for m in got] == [b"%d" % i for i in range(20)]


def test_message_id_stable_across_restart(start_broker, connect, uniq):
    b = start_broker()
    q = uniq("queue")
    p = connect(b)
    p.send(q, b"same id", PERSISTENT, receipt=True)
    c = connect(b)
    c.subscribe(q, "s", ack="client-individual")
    before = c.expect("MESSAGE")["message-id"]
    c.disconnect()
    b.restart()
    after = _drain(b, q)
    assert [m["message-id"] for m in after] == [before]


def test_message_ids_unique_across_restarts(start_broker, connect, uniq):
    b = start_broker()
    q = uniq("queue")
    ids = set()
    for round_ in range(3):
        p = connect(b)
        for i in range(5):
            p.send(q, b"%d" % i, PERSISTENT, receipt=True)
        msgs = _drain(b, q)
        assert len(msgs) == 5
        ids |= {m["message-id"] for m in msgs}
        b.restart()
    assert len(ids) == 15, "message-id reused after a restart"


def test_acked_before_sigterm_does_not_come_back(start_broker, connect, uniq):
    b = start_broker()
    q = uniq("queue")
    p = connect(b)
    for i in range(10):
        p.send(q, b"%d" % i, PERSISTENT, receipt=True)
    c = connect(b)
    c.subscribe(q, "s", ack="client-individual")
    for m in c.messages(10):
        if int(m.body) < 6:
            c.ack(m)
    c.disconnect()
    b.restart()
    assert sorted(int(m.body) for m in _drain(b, q)) == [6, 7, 8, 9]


def test_sigterm_closes_every_client_and_exits_0(start_broker, connect, uniq):
    b = start_broker()
    need_local(b)
    q = uniq("queue")
    idle = connect(b, "1.0")
    holder = connect(b, "1.2")
    holder.subscribe(q, "h", ack="client-individual")
    mid_tx = connect(b, "1.1")
    mid_tx.receipt("BEGIN", {"transaction": "open"})
    mid_tx.send(q, b"in tx", {"transaction": "open", "persistent": "true"})
    holder_p = connect(b, "1.2")
    holder_p.send(q, b"held", PERSISTENT, receipt=True)
    holder.expect("MESSAGE")
    t0 = time.monotonic()
    b.proc.send_signal(15)
    for c in (idle, holder, mid_tx, holder_p):
        frames = c.wait_closed(T(10))
        assert all(f.command == "ERROR" for f in frames), frames
    code = b.proc.wait(timeout=T(10))
    assert code == 0, "exit code %s after SIGTERM" % code
    print("SIGTERM to exit: %.2fs" % (time.monotonic() - t0))
    b.start()
    got = _drain(b, q)
    assert [m.body for m in got] == [b"held"], "unacked kept, open transaction discarded"


@pytest.mark.paxmq_only
def test_kill9_mid_stream_small(start_broker, uniq):
    b = start_broker(store_sync=True)
    q = uniq("queue")
    receipted = _stream(b, q, 600, window=64, kill_after=300)
    assert len(receipted) >= 300
    b.start()
    got = _drain(b, q)
    seqs = _check_no_bad_duplicates(got)
    missing = receipted - seqs
    assert not missing, "%d receipted messages lost, e.g. %s" % (len(missing),
                                                               sorted(missing)[:10])
    assert seqs <= set(range(600))
    # in order within the queue
    firsts = []
    for m in got:
        if m.get("redelivered") != "true":
            firsts.append(int(m.body))
    assert firsts == sorted(firsts)


@pytest.mark.paxmq_only
def test_kill9_after_acking_half(start_broker, connect, uniq):
    b = start_broker(store_sync=True)
    q = uniq("queue")
    p = connect(b)
    for i in range(100):
        p.send(q, b"%d" % i, PERSISTENT, receipt=True)
    c = connect(b)
    c.subscribe(q, "s", ack="client-individual")
    for m in c.messages(100, timeout=T(10)):
        if int(m.body) % 2 == 0:
            c.ack(m, receipt=True)
    b.kill9()
    b.start()
    got = _drain(b, q)
    assert sorted(int(m.body) for m in got) == list(range(1, 100, 2))


@pytest.mark.paxmq_only
def test_kill9_after_commit(start_broker, connect, uniq):
    b = start_broker(store_sync=True)
    q = uniq("queue")
    p = connect(b)
    p.receipt("BEGIN", {"transaction": "t1"})
    for i in range(10):
        p.send(q, b"%d" % i, {"persistent": "true", "transaction": "t1"})
    p.receipt("COMMIT", {"transaction": "t1"})
    p.receipt("BEGIN", {"transaction": "t2"})
    p.send(q, b"uncommitted", {"persistent": "true", "transaction": "t2"})
    p.receipt("SEND", {"destination": uniq("queue")}, b"flush")
    b.kill9()
    b.start()
    assert [m.body for m in _drain(b, q)] == [b"%d" % i for i in range(10)]


@pytest.mark.paxmq_only
def test_kill9_keeps_durable_subscription_and_its_messages(start_broker, connect, uniq):
    b = start_broker(store_sync=True)
    t = uniq("topic")
    d = connect(b, headers={"client-id": "dur-k9"})
    d.subscribe(t, "d", **{"activemq.subscriptionName": "k9"})
    d.disconnect()
    p = connect(b)
    for i in range(5):
        p.send(t, b"%d" % i, PERSISTENT, receipt=True)
    b.kill9()
    b.start()
    d = connect(b, headers={"client-id": "dur-k9"})
    d.subscribe(t, "d", **{"activemq.subscriptionName": "k9"})
    assert [m.body for m in d.messages(5)] == [b"%d" % i for i in range(5)]


@pytest.mark.paxmq_only
def test_kill9_nonpersistent_gone_persistent_kept(start_broker, connect, uniq):
    b = start_broker(store_sync=True)
    q = uniq("queue")
    p = connect(b)
    p.send(q, b"np", receipt=True)
    p.send(q, b"p", PERSISTENT, receipt=True)
    b.kill9()
    b.start()
    assert [m.body for m in _drain(b, q)] == [b"p"]
    assert_serves(b)


class _AckingConsumer(threading.Thread):
    """Consumes q with client-individual acks, each ACK with a receipt; records which
    acks were receipted before the broker died."""

    def __init__(self, broker, q):
        super().__init__(daemon=True)
        self.c = RawStomp(broker.addr, "1.2", timeout=T(10))
        self.c.connect()
        self.c.subscribe(q, "live", ack="client-individual")
        self.acked = set()  # ACK receipted: must never come back
        self.ack_sent = set()  # ACK sent, receipt maybe lost in the crash: either way
        self.delivered = set()
        self.error = None

    def run(self):
        try:
            while True:
                f = self.c.recv(T(30))
                if f.command == "MESSAGE":
                    s = int(f.body)
                    self.delivered.add(s)
                    self.c.send_frame("ACK", [("id", f["ack"]), ("receipt", "a%d" % s)])
                    self.ack_sent.add(s)
                elif f.command == "RECEIPT":
                    self.acked.add(int(f["receipt-id"][1:]))
                else:
                    raise AssertionError("unexpected %r" % f)
        except (Closed, OSError):
            pass
        except (Timeout, AssertionError) as e:
            self.error = e
        finally:
            self.c.close()


@pytest.mark.slow
@pytest.mark.paxmq_only
def test_kill9_loop_with_concurrent_consumer(start_broker, uniq):
    b = start_broker(store_sync=True)
    q = uniq("queue")
    all_receipted = set()
    all_acked = set()
    all_ack_sent = set()
    per_round = 3000
    for r in range(3):
        cons = _AckingConsumer(b, q)
        cons.start()
        receipted = _stream(b, q, per_round, window=64, kill_after=per_round // 2,
                            start=r * per_round)
        cons.join(T(10))
        assert cons.error is None, cons.error
        back = cons.delivered & all_acked
        assert not back, "round %d: acked messages came back: %s" % (r, sorted(back)[:10])
        all_receipted |= receipted
        all_acked |= cons.acked
        all_ack_sent |= cons.ack_sent
        b.start()
    got = _drain(b, q, idle=2.0)
    seqs = _check_no_bad_duplicates(got)
    back = seqs & all_acked
    assert not back, "%d acked messages came back, e.g. %s" % (len(back), sorted(back)[:10])
    missing = (all_receipted - all_ack_sent) - seqs
    assert not missing, "%d receipted unacked messages lost, e.g. %s" % (
        len(missing), sorted(missing)[:10])
    print("kill -9 loop: %d receipted, %d acked, %d delivered after the last restart"
          % (len(all_receipted), len(all_acked), len(got)))


@pytest.mark.slow
@pytest.mark.paxmq_only
def test_kill9_big_stream(start_broker, uniq):
    b = start_broker(store_sync=True)
    q = uniq("queue")
    n = 20000
    t0 = time.monotonic()
    receipted = _stream(b, q, n, window=64, kill_after=15000)
    rate = len(receipted) / (time.monotonic() - t0)
    b.start()
    got = _drain(b, q, idle=2.0)
    seqs = _check_no_bad_duplicates(got)
    missing = receipted - seqs
    assert not missing, "%d receipted messages lost" % len(missing)
    print("kill -9 big: %d receipted at %.0f msg/s (window 64, sync on), %d recovered"
          % (len(receipted), rate, len(seqs)))


def test_restart_flags_keep_data_dir(start_broker, uniq, connect):
    """A restart may change flags (here sync) without losing anything."""
    b = start_broker()
    need_local(b)
    q = uniq("queue")
    p = connect(b)
    p.send(q, b"before", PERSISTENT, receipt=True)
    b.restart(store_sync=True)
    p = connect(b)
    p.send(q, b"after", PERSISTENT, receipt=True)
    b.restart(store_sync=False)
    assert [m.body for m in _drain(b, q)] == [b"before", b"after"]
