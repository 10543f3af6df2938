"""Bad input over raw sockets. Each case must get an ERROR frame with a `message` header
(and `receipt-id` when the bad frame asked for a receipt) and then the connection is
closed; afterwards the broker still serves a connected bystander and new clients, and
the persistent messages stored before are intact."""

import random
import time

import pytest

from pmqtest import T, assert_serves, assert_stored, store_persistent
from stomp_raw import Closed, Timeout, encode_frame

MIB = 1 << 20


class Bystander:
    """A client connected before the bad input that must keep working after it."""

    def __init__(self, broker, connect, uniq):
        self.q = uniq("queue")
        self.c = connect(broker, "1.2")
        self.c.subscribe(self.q, "by")
        self.p = connect(broker, "1.1")

    def check(self):
        self.p.send(self.q, b"still here", receipt=True)
        assert self.c.expect("MESSAGE", timeout=T(5)).body == b"still here"


@pytest.fixture
def guard(broker, connect, uniq):
    """Stores persistent messages and opens a bystander before the test; checks both
    (and that a new client is served) after it."""
    stored = store_persistent(broker, 5)
    by = Bystander(broker, connect, uniq)
    yield
    by.check()
    assert_serves(broker)
    assert_stored(broker, *stored)


def _bad(connect, broker, frame_bytes, version="1.2", connected=True):
    c = connect(broker, version, do_connect=connected)
    try:
        c.send_raw(frame_bytes)
    except Closed:
        pass
    return c


# ---- cases where ActiveMQ 5.17 behaves like the spec (ERROR, then close) ---------------

def test_too_many_headers(broker, connect, guard):
    hdrs = [("destination", "/queue/bad")] + [("h%d" % i, "v") for i in range(1100)]
    c = _bad(connect, broker, encode_frame("SEND", hdrs, b"x"))
    c.expect_error_and_close(T(5))


def test_header_too_long(broker, connect, guard):
    hdrs = [("destination", "/queue/bad"), ("big", "v" * (11 * 1024))]
    c = _bad(connect, broker, encode_frame("SEND", hdrs, b"x"))
    c.expect_error_and_close(T(5))


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_unknown_command(broker, connect, guard, version):
    c = _bad(connect, broker, encode_frame("FROBNICATE", [("receipt", "u-1")], b""), version)
    c.expect_error_and_close(T(5), receipt_id="u-1")


@pytest.mark.parametrize("value", ["abc", "1x", "4 2"])
def test_content_length_not_a_number(broker, connect, guard, value):
    data = b"SEND\ndestination:/queue/bad\ncontent-length:" + value.encode() + b"\n\nbody\x00"
    c = _bad(connect, broker, data)
    c.expect_error_and_close(T(5))


def test_content_length_shorter_than_body(broker, connect, guard):
    """content-length:2 but the byte after 2 body bytes is not NUL."""
    c = _bad(connect, broker, b"SEND\ndestination:/queue/bad\ncontent-length:2\n\nbody\x00")
    c.expect_error_and_close(T(5))


def test_oversized_frame_streamed_is_cut_off(broker, connect, guard):
    """A body without content-length growing past the 4 MiB frame limit: the broker stops
    reading and closes (an ERROR may be lost to the TCP reset while we still write)."""
    c = connect(broker, "1.2")
    try:
        c.send_raw(b"SEND\ndestination:/queue/bad\n\n")
        chunk = b"z" * (256 * 1024)
        for _ in range(4 * 4 + 2):  # 4.5 MiB, no NUL
            c.send_raw(chunk)
    except Closed:
        pass
    try:
        frames = c.wait_closed(T(5))
    except Closed:
        frames = []
    assert all(f.command == "ERROR" for f in frames), frames


def test_many_garbage_connections_in_a_row(broker, connect, guard):
    rnd = random.Random(7)
    for i in range(30):
        c = connect(broker, "1.2", do_connect=(i % 2 == 0))
        try:
            c.send_raw(encode_frame("NOPE%d" % i, [("a", "b")], rnd.randbytes(64)))
        except Closed:
            pass
        c.close()


# ---- cases where ActiveMQ answers ERROR but keeps the connection open, or accepts -----
# (STOMP 1.2: "the server MUST then close the connection just after sending the ERROR")

@pytest.mark.paxmq_only
@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_send_without_destination(broker, connect, guard, version):
    c = _bad(connect, broker, encode_frame("SEND", [("receipt", "nd-1")], b"x"), version)
    c.expect_error_and_close(T(5), receipt_id="nd-1")


@pytest.mark.paxmq_only
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_subscribe_without_id(broker, connect, guard, version):
    c = _bad(connect, broker, encode_frame(
        "SUBSCRIBE", [("destination", "/queue/bad"), ("receipt", "ni-1")]), version)
    c.expect_error_and_close(T(5), receipt_id="ni-1")


@pytest.mark.paxmq_only
@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_subscribe_without_destination(broker, connect, guard, version):
    c = _bad(connect, broker, encode_frame("SUBSCRIBE", [("id", "1"), ("receipt", "sd")]),
             version)
    c.expect_error_and_close(T(5), receipt_id="sd")


@pytest.mark.paxmq_only
def test_ack_without_id_in_1_2(broker, connect, guard):
    c = _bad(connect, broker, encode_frame("ACK", [("receipt", "a-1")]))
    c.expect_error_and_close(T(5), receipt_id="a-1")


@pytest.mark.paxmq_only
@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_ack_without_message_id(broker, connect, guard, version):
    c = _bad(connect, broker, encode_frame("ACK", [("subscription", "0"), ("receipt", "a")]),
             version)
    c.expect_error_and_close(T(5), receipt_id="a")


@pytest.mark.paxmq_only
def test_begin_without_transaction(broker, connect, guard):
    c = _bad(connect, broker, encode_frame("BEGIN", [("receipt", "b-1")]))
    c.expect_error_and_close(T(5), receipt_id="b-1")


@pytest.mark.paxmq_only
@pytest.mark.parametrize("where", ["value", "name"])
def test_invalid_utf8_in_header(broker, connect, guard, where):
    if where == "value":
        data = b"SEND\ndestination:/queue/bad\nx-bad:\xff\xfe\xc0\xaf\n\nbody\x00"
    else:
        data = b"SEND\ndestination:/queue/bad\nx-\xc3\x28:v\n\nbody\x00"
    c = _bad(connect, broker, data)
    c.expect_error_and_close(T(5))


@pytest.mark.paxmq_only
def test_undefined_escape_sequence_in_1_2(broker, connect, guard):
    """STOMP 1.2: undefined escape sequences such as \\t MUST be a fatal protocol error."""
    c = _bad(connect, broker, b"SEND\ndestination:/queue/bad\nx-esc:a\\tb\n\nbody\x00")
    c.expect_error_and_close(T(5))


@pytest.mark.paxmq_only
def test_header_line_without_colon(broker, connect, guard):
    c = _bad(connect, broker, b"SEND\ndestination:/queue/bad\njust-a-name\n\nbody\x00")
    c.expect_error_and_close(T(5))


@pytest.mark.paxmq_only
@pytest.mark.parametrize("command", ["SEND", "SUBSCRIBE", "DISCONNECT"])
def test_frame_before_connect(broker, connect, guard, command):
    h = [("destination", "/queue/bad"), ("id", "1"), ("receipt", "early")]
    c = _bad(connect, broker, encode_frame(command, h, b""), connected=False)
    err = c.expect_error_and_close(T(5))
    assert err.command == "ERROR"


@pytest.mark.parametrize("connected", [
    pytest.param(False, marks=pytest.mark.paxmq_only),  # ActiveMQ: no ERROR, stays open
    True,
])
def test_random_bytes(broker, connect, guard, connected):
    data = random.Random(1234).randbytes(4096) + b"\n\n\x00"
    if data[:1] in (b"\n", b"\r"):
        data = b"#" + data
    c = _bad(connect, broker, data, connected=connected)
    c.expect_error_and_close(T(5))


@pytest.mark.parametrize("value", [
    pytest.param("-5", marks=pytest.mark.paxmq_only),  # ActiveMQ closes without ERROR
    "99999999999999999999999",
])
def test_content_length_negative_or_huge(broker, connect, guard, value):
    data = b"SEND\ndestination:/queue/bad\ncontent-length:" + value.encode() + b"\n\nbody\x00"
    c = _bad(connect, broker, data)
    c.expect_error_and_close(T(5))


@pytest.mark.paxmq_only
def test_oversized_frame_declared_by_content_length(broker, connect, guard):
    """The ERROR comes as soon as the headers announce more than 4 MiB: the broker must
    not wait for (or buffer) the body."""
    c = connect(broker, "1.2")
    c.send_raw(b"SEND\ndestination:/queue/bad\nreceipt:big\ncontent-length:%d\n\n"
               % (4 * MIB + 1))
    c.expect_error_and_close(T(5), receipt_id="big")


@pytest.mark.paxmq_only
def test_frame_limit_is_configurable(start_broker, connect):
    b = start_broker(stomp_frame_bytes_max=64 * 1024)
    ok = connect(b, "1.2")
    ok.send("/queue/fits", b"f" * 32 * 1024, receipt=True)
    c = connect(b, "1.2")
    try:
        c.send_raw(encode_frame("SEND", [("destination", "/queue/big")], b"b" * 100 * 1024))
    except Closed:
        pass
    c.expect_error_and_close(T(5))
    assert_serves(b)


@pytest.mark.paxmq_only
def test_header_limits_are_configurable(start_broker, connect):
    b = start_broker(stomp_header_count_max=10, stomp_header_bytes_max=256)
    c = connect(b, "1.2")
    c.send("/queue/ok", b"x", {"h%d" % i: "v" for i in range(5)}, receipt=True)
    c2 = connect(b, "1.2")
    c2.send_raw(encode_frame("SEND", [("destination", "/queue/x")] +
                             [("h%d" % i, "v") for i in range(20)], b"x"))
    c2.expect_error_and_close(T(5))
    c3 = connect(b, "1.2")
    c3.send_raw(encode_frame("SEND", [("destination", "/queue/x"), ("h", "v" * 400)], b"x"))
    c3.expect_error_and_close(T(5))
    assert_serves(b)


# ---- slow and partial frames ------------------------------------------------------------

@pytest.mark.paxmq_only
@pytest.mark.parametrize("first_bytes", [b"", b"CONNE", b"CONNECT\naccept-version:1.2\n"])
def test_connect_timeout_closes_idle_or_partial_connect(start_broker, connect, first_bytes):
    b = start_broker(stomp_connect_timeout_ms=1000)
    c = connect(b, "1.2", do_connect=False)
    if first_bytes:
        c.send_raw(first_bytes)
    t0 = time.monotonic()
    try:
        frames = c.wait_closed(T(4))
    except Closed:
        frames = []
    elapsed = time.monotonic() - t0
    assert 0.8 <= elapsed <= T(1) + 1.5, "closed after %.2fs" % elapsed
    assert all(f.command == "ERROR" and f.get("message") for f in frames), frames
    assert_serves(b)


@pytest.mark.paxmq_only
def test_connect_timeout_not_reset_by_trickling_bytes(start_broker, connect):
    """A slowloris that sends one byte every 200 ms never completes CONNECT: it is still
    closed by the connect timeout."""
    b = start_broker(stomp_connect_timeout_ms=1000)
    c = connect(b, "1.2", do_connect=False)
    data = b"CONNECT\naccept-version:1.2\nhost:/\nx-pad:" + b"p" * 100
    t0 = time.monotonic()
    deadline = t0 + T(1) + 2
    i = 0
    while True:
        assert time.monotonic() < deadline, "still open after %.1fs" % (time.monotonic() - t0)
        try:
            c.send_raw(data[i % len(data):i % len(data) + 1])
            f = c.poll(0.2)
        except Closed:
            break
        assert f is None or f.command == "ERROR", f
        i += 1
    assert_serves(b)


def test_partial_frame_after_connect_with_heartbeat_is_closed(broker, connect, guard):
    """A client that promised heart-beats, starts a frame and goes silent is dropped."""
    c = connect(broker, "1.2", heart_beat=(1000, 0))
    c.send_raw(b"SEND\ndestination:/queue/half\ncontent-le")
    frames = c.wait_closed(T(10))
    assert all(f.command == "ERROR" for f in frames), frames


def test_bad_frame_mid_session_keeps_earlier_receipted_messages(broker, connect, uniq):
    q = uniq("queue")
    c = connect(broker, "1.2")
    for i in range(3):
        c.send(q, ("kept %d" % i).encode(), {"persistent": "true"}, receipt=True)
    c.send_raw(encode_frame("BOGUS", [("receipt", "bogus")], b""))
    c.expect_error_and_close(T(5), receipt_id="bogus")
    d = connect(broker, "1.2")
    d.subscribe(q, "s")
    assert [m.body for m in d.messages(3)] == [b"kept 0", b"kept 1", b"kept 2"]
