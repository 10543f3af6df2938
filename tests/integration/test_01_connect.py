"""CONNECT/STOMP, version negotiation, CONNECTED headers, DISCONNECT with receipt."""

import pytest

from pmqtest import T, assert_serves
from stomp_raw import VERSIONS, Closed, encode_frame


@pytest.mark.parametrize("version", VERSIONS)
def test_connect_each_version(broker, connect, version):
    c = connect(broker, version, do_connect=False)
    f = c.connect()
    assert f.command == "CONNECTED"
    # 1.0 has no version header; a broker that sends one must say 1.0
    assert f.get("version", "1.0") == version
    assert f.get("session"), "CONNECTED without session: %r" % f
    if version != "1.0":
        assert f.get("server"), "CONNECTED without server: %r" % f
        assert f.get("heart-beat") is not None, "CONNECTED without heart-beat: %r" % f
        sx, sy = (int(x) for x in f["heart-beat"].split(","))
        assert sx >= 0 and sy >= 0


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_stomp_command_connects(broker, connect, uniq, version):
    q = uniq("queue")
    c = connect(broker, version, do_connect=False)
    f = c.connect(command="STOMP")
    assert f.get("version") == version
    c.subscribe(q, "s")
    c.send(q, b"via STOMP frame", receipt=True)
    assert c.expect("MESSAGE").body == b"via STOMP frame"


@pytest.mark.parametrize("offer,expected", [
    ("1.0,1.1,1.2", "1.2"),
    ("1.2,1.1,1.0", "1.2"),
    ("1.0,1.1", "1.1"),
    ("1.1,1.0", "1.1"),
    ("1.0", "1.0"),
    ("1.1,1.2,9.9", "1.2"),
])
def test_version_negotiation_picks_highest_common(broker, connect, offer, expected):
    c = connect(broker, "1.2", do_connect=False)
    f = c.connect(accept_version=offer)
    assert f.get("version", "1.0") == expected


def test_no_accept_version_means_1_0(broker, connect, uniq):
    """Without accept-version the session is STOMP 1.0: SUBSCRIBE needs no id.
    (1.0 header values are not escaped: see test_02's escaping tests.)"""
    q = uniq("queue")
    c = connect(broker, "1.0", do_connect=False)
    f = c.connect(accept_version=None, host=None)
    assert f.get("version", "1.0") == "1.0"
    c.send_frame("SUBSCRIBE", [("destination", q), ("receipt", "sub-1")])
    r = c.expect("RECEIPT")
    assert r["receipt-id"] == "sub-1"
    c.send(q, b"hello 1.0", receipt=True)
    m = c.expect("MESSAGE")
    assert m.body == b"hello 1.0"
    assert m["destination"] == q


def test_unsupported_version_gets_error_and_close(broker, connect):
    c = connect(broker, "1.2", do_connect=False)
    f = c.connect(accept_version="2.0,3.1", expect=None)
    assert f.command == "ERROR", f
    assert f.get("message")
    c.wait_closed(T(3))


@pytest.mark.parametrize("version", VERSIONS)
def test_disconnect_with_receipt(broker, connect, version):
    c = connect(broker, version)
    c.send_frame("DISCONNECT", [("receipt", "bye-42")])
    r = c.expect("RECEIPT")
    assert r["receipt-id"] == "bye-42"
    # the broker closes the session; nothing but the close may follow
    frames = c.wait_closed(T(3))
    assert frames == []


@pytest.mark.parametrize("version", VERSIONS)
def test_disconnect_then_broker_still_serves(broker, connect, version):
    for _ in range(3):
        c = connect(broker, version)
        c.disconnect()
    assert_serves(broker, version)


def test_sessions_are_distinct(broker, connect):
    a = connect(broker, "1.2", do_connect=False).connect()
    b = connect(broker, "1.2", do_connect=False).connect()
    assert a["session"] != b["session"]


def test_login_passcode_accepted_anonymously(broker, connect):
    c = connect(broker, "1.2", do_connect=False)
    f = c.connect(headers={"login": "guest", "passcode": "guest"})
    assert f.command == "CONNECTED"


@pytest.mark.parametrize("version", VERSIONS)
def test_stomppy_client_connects(broker, stomppy, version):
    conn, coll = stomppy(broker, version)
    assert conn.is_connected()
    assert coll.connected is not None
    assert coll.connected.cmd == "CONNECTED"
    conn.disconnect()
    assert coll.disconnected.wait(T(3))


def test_connect_frame_with_crlf_line_endings(broker, connect, uniq):
    """STOMP 1.2 allows CRLF as end of line."""
    q = uniq("queue")
    c = connect(broker, "1.2", do_connect=False)
    c.send_raw(b"CONNECT\r\naccept-version:1.2\r\nhost:/\r\n\r\n\x00")
    f = c.expect("CONNECTED")
    assert f["version"] == "1.2"
    c.version = c.parser.version = "1.2"
    c.send_raw(encode_frame("SUBSCRIBE", [("destination", q), ("id", "1"),
                                          ("receipt", "crlf")], eol=b"\r\n"))
    assert c.expect("RECEIPT")["receipt-id"] == "crlf"
    c.send_raw(encode_frame("SEND", [("destination", q)], b"crlf body", eol=b"\r\n"))
    assert c.expect("MESSAGE").body == b"crlf body"


def test_second_connect_on_same_session_is_an_error(broker, connect):
    c = connect(broker, "1.2")
    try:
        c.send_frame("CONNECT", [("accept-version", "1.2"), ("host", "/")])
        f = c.recv(T(3))
    except Closed:
        return  # closing the connection is an acceptable answer
    assert f.command == "ERROR", f
    assert f.get("message")
