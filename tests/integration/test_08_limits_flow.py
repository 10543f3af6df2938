"""Configurable limits and flow control: connections, subscriptions, queue depth with
full_policy fail/block, prefetch default, and a slow consumer that must not grow the
broker's memory. All of these need paxmqd flags, so they are paxmq_only."""

import os
import socket
import threading
import time

import pytest

from pmqtest import T, assert_serves
from stomp_raw import Closed, RawStomp, Timeout, encode_frame

pytestmark = pytest.mark.paxmq_only


def _refused(b, connect):
    """Try one more connection; True when the broker refused it (ERROR/close)."""
    c = connect(b, "1.2", do_connect=False)
    try:
        c.send_frame("CONNECT", [("accept-version", "1.2"), ("host", "/")])
        f = c.recv(T(3))
    except (Closed, ConnectionError):
        return True
    if f.command == "CONNECTED":
        return False
    assert f.command == "ERROR" and f.get("message"), f
    c.wait_closed(T(3))
    return True


def test_connections_max(start_broker, connect):
    b = start_broker(net_connections_max=5)
    conns = [connect(b, "1.2") for _ in range(5)]
    assert _refused(b, connect), "6th connection accepted with net.connections_max=5"
    # the five are unaffected
    for c in conns:
        c.receipt("BEGIN", {"transaction": "t"})
    conns[0].disconnect()
    deadline = time.monotonic() + T(3)
    while True:  # the freed slot becomes usable once the broker has processed the close
        c = connect(b, "1.2", do_connect=False)
        try:
            f = c.connect(expect=None)
        except (Closed, ConnectionError):
            f = None
        if f is not None and f.command == "CONNECTED":
            break
        assert time.monotonic() < deadline, "slot not freed after a DISCONNECT"
        time.sleep(0.1)


def test_subscriptions_max(start_broker, connect, uniq):
    b = start_broker(stomp_subscriptions_max=3)
    c = connect(b, "1.2")
    for i in range(3):
        c.subscribe(uniq("queue"), "s%d" % i)
    c.send_frame("SUBSCRIBE", [("destination", uniq("queue")), ("id", "s3"),
                               ("receipt", "too-many")])
    c.expect_error_and_close(T(5), receipt_id="too-many")
    # the limit is per connection
    d = connect(b, "1.2")
    for i in range(3):
        d.subscribe(uniq("queue"), "s%d" % i)
    assert_serves(b)


def test_unsubscribe_frees_a_subscription_slot(start_broker, connect, uniq):
    b = start_broker(stomp_subscriptions_max=2)
    c = connect(b, "1.2")
    c.subscribe(uniq("queue"), "a")
    c.subscribe(uniq("queue"), "b")
    c.unsubscribe("a")
    c.subscribe(uniq("queue"), "c")


def test_queue_full_fail_policy(start_broker, connect, uniq):
    b = start_broker(broker_queue_depth_max=10, broker_full_policy="fail")
    q = uniq("queue")
    name = q.split("/")[-1]
    p = connect(b, "1.2")
    for i in range(10):
        p.send(q, ("m%d" % i).encode(), {"persistent": "true"}, receipt=True)
    p.send_frame("SEND", [("destination", q), ("receipt", "full")], b"overflow")
    err = p.expect_error_and_close(T(5), receipt_id="full")
    assert name in err["message"] or name in err.text, err
    # other queues are not affected
    other = connect(b, "1.2")
    other.send(uniq("queue"), b"elsewhere", receipt=True)
    # drain: the 10 accepted are there, the overflow is not; then there is room again
    c = connect(b, "1.2")
    c.subscribe(q, "s")
    assert [m.body for m in c.messages(10)] == [("m%d" % i).encode() for i in range(10)]
    assert c.poll(0.3) is None
    p2 = connect(b, "1.2")
    p2.send(q, b"room again", receipt=True)
    assert c.expect("MESSAGE").body == b"room again"


def test_queue_full_block_policy(start_broker, connect, uniq):
    b = start_broker(broker_queue_depth_max=10, broker_full_policy="block")
    q = uniq("queue")
    p = connect(b, "1.2")
    for i in range(20):  # pipelined: no waiting for receipts
        p.send_frame("SEND", [("destination", q), ("receipt", "b%d" % i)], b"m%d" % i)
    early = []
    while True:
        f = p.poll(0.8)
        if f is None:
            break
        assert f.command == "RECEIPT", f
        early.append(f["receipt-id"])
    assert len(early) <= 10, "producer not stalled: %d receipts with depth 10" % len(early)
    assert early == ["b%d" % i for i in range(len(early))]
    assert_serves(b)  # the node serves others while this producer is stalled
    c = connect(b, "1.2")
    c.subscribe(q, "s")
    got = [m.body for m in c.messages(20, timeout=T(10))]
    assert got == [b"m%d" % i for i in range(20)]
    rest = [p.expect("RECEIPT", timeout=T(5))["receipt-id"] for _ in range(20 - len(early))]
    assert early + rest == ["b%d" % i for i in range(20)]


def test_prefetch_default_is_configurable(start_broker, connect, uniq):
    b = start_broker(broker_prefetch_default=2)
    q = uniq("queue")
    p = connect(b, "1.2")
    for i in range(5):
        p.send(q, b"m%d" % i, receipt=True)
    c = connect(b, "1.2")
    c.subscribe(q, "s", ack="client-individual")
    first = c.messages(2)
    assert c.poll(0.4) is None, "more than prefetch_default=2 unacked in flight"
    c.ack(first[0])
    assert c.expect("MESSAGE").body == b"m2"


def test_default_prefetch_is_1000(broker, connect, uniq):
    q = uniq("queue")
    p = connect(broker, "1.2")
    p.send_raw(b"".join(encode_frame("SEND", [("destination", q)], b"x%d" % i)
                        for i in range(1005)))
    p.send(q, b"last", receipt=True, timeout=T(10))
    c = connect(broker, "1.2")
    c.subscribe(q, "s", ack="client-individual")
    c.messages(1000, timeout=T(10))
    assert c.poll(0.4) is None, "more than 1000 unacked messages in flight by default"


def _asan_env(quarantine_mb=8):
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (opts + ":" if opts else "") +
            "quarantine_size_mb=%d:thread_local_quarantine_size_kb=64" % quarantine_mb}


@pytest.mark.slow
def test_slow_consumer_does_not_grow_broker_memory(start_broker, connect, uniq):
    """A topic subscriber that never reads while ~50 MB are published to it: the broker's
    RSS stays bounded (dispatch to it pauses), other clients keep being served, and once
    the slow subscriber goes away the producer completes."""
    b = start_broker(env=_asan_env())
    t, q = uniq("topic"), uniq("queue")
    slow = connect(b, "1.2")
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                         64 * 1024)
    slow.subscribe(t, "slow")
    fast_c = connect(b, "1.2")
    fast_c.subscribe(q, "fast")
    fast_p = connect(b, "1.2")
    time.sleep(0.2)
    base = b.rss_kb()
    body = b"S" * (100 * 1024)
    n = 500  # ~50 MB
    done = threading.Event()
    state = {"sent": 0, "error": None}
    # Topic flow control holds this producer back while the subscriber stalls (its sends
    # block for the whole observation window), so its socket timeout must outlast it.
    prod = RawStomp(b.addr, "1.2", timeout=T(30))
    prod.connect()

    def produce():
        try:
            frame = encode_frame("SEND", [("destination", t)], body)
            for _ in range(n):
                prod.send_raw(frame)
                state["sent"] += 1
            prod.send(t, b"end", receipt=True, timeout=T(30))
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            state["error"] = e
        finally:
            done.set()

    th = threading.Thread(target=produce, daemon=True)
    th.start()
    peak = base
    rtts = []
    t_end = time.monotonic() + T(6)
    i = 0
    while time.monotonic() < t_end and not done.is_set():
        peak = max(peak, b.rss_kb())
        t0 = time.monotonic()
        fast_p.send(q, b"ping %d" % i, receipt=True)
        assert fast_c.expect("MESSAGE", timeout=T(3)).body == b"ping %d" % i
        rtts.append(time.monotonic() - t0)
        i += 1
        time.sleep(0.05)
    peak = max(peak, b.rss_kb())
    growth_mb = (peak - base) / 1024.0
    print("slow consumer: base %d kB, peak %d kB, growth %.1f MB, sent %d of %d, "
          "round trips %d, max rtt %.3fs" % (base, peak, growth_mb, state["sent"], n,
                                             len(rtts), max(rtts) if rtts else -1))
    assert growth_mb < 64, "RSS grew by %.1f MB with a stalled subscriber" % growth_mb
    assert rtts and max(rtts) < T(1.5), "other clients starved: %r" % rtts[-5:]
    slow.close()
    assert done.wait(T(20)), "producer still stalled after the slow subscriber left"
    assert state["error"] is None, state["error"]
    prod.close()
    assert_serves(b)


@pytest.mark.slow
def test_outbound_limit_pauses_dispatch_to_slow_queue_consumer(start_broker, connect, uniq):
    """A queue consumer that stops reading holds at most net.outbound_bytes_max (+ a frame)
    in the broker: the rest stays in the queue for a second consumer."""
    b = start_broker(net_outbound_bytes_max=256 * 1024, env=_asan_env())
    q = uniq("queue")
    p = connect(b, "1.2")
    body = b"Q" * (64 * 1024)
    for i in range(400):  # 25 MiB
        p.send_frame("SEND", [("destination", q)], body)
    p.send(q, b"end", receipt=True, timeout=T(20))
    slow = connect(b, "1.2")
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                         64 * 1024)
    slow.subscribe(q, "slow", ack="auto")
    time.sleep(0.5)
    other = connect(b, "1.2")
    other.subscribe(q, "other", ack="auto")
    got = 0
    while True:
        try:
            m = other.recv(T(2))
        except Timeout:
            break
        assert m.command == "MESSAGE"
        got += 1
        if m.body == b"end":
            break
    assert got >= 300, "only %d of 401 messages reached the reading consumer" % got
