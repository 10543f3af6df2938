"""Client authentication (auth.users_file, auth.anonymous) and the idle timeout.

CONNECT with login/passcode is checked against crypt(3) hashes; a refused client gets
ERROR and is closed; a bad users file stops the start with exit code 2 naming the file
and line; net.idle_timeout_ms closes silent connections."""

import os
import subprocess
import warnings

import pytest

from pmqtest import BIN, T, need_local

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # Debian's python3.11 still ships it; mkpasswd/openssl make the same hashes


def users_file(tmp_path, lines):
    p = tmp_path / "users"
    p.write_text("\n".join(lines) + "\n")
    os.chmod(p, 0o600)
    return str(p)


def test_named_users_and_no_anonymous(start_broker, connect, tmp_path):
    h = crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_SHA512))
    b = start_broker(auth_users_file=users_file(tmp_path, ["# test users",
                                                           "alice:%s:admins" % h]),
                     auth_anonymous=False)
    need_local(b)
    ok = connect(b, "1.2", headers={"login": "alice", "passcode": "s3cret"})
    ok.send("/queue/auth", b"hello", receipt=True)
    for headers in ({"login": "alice", "passcode": "wrong"},
                    {"login": "mallory", "passcode": "s3cret"},
                    {}):
        c = connect(b, "1.2", do_connect=False)
        err = c.connect(headers=headers, expect="ERROR")
        assert err["message"] == "authentication failed", err
        c.wait_closed(T(5))
    # the refused attempts did not disturb the authenticated client
    ok.subscribe("/queue/auth", "s")
    assert ok.expect("MESSAGE").body == b"hello"


def test_anonymous_allowed_but_wrong_credentials_refused(start_broker, connect, tmp_path):
    h = crypt.crypt("pw", crypt.mksalt(crypt.METHOD_SHA512))
    b = start_broker(auth_users_file=users_file(tmp_path, ["bob:%s:" % h]))
    need_local(b)
    connect(b, "1.2").send("/queue/anon", b"x", receipt=True)
    c = connect(b, "1.2", do_connect=False)
    assert c.connect(headers={"login": "bob", "passcode": "nope"},
                     expect="ERROR")["message"] == "authentication failed"


def test_bad_users_file_stops_the_start(tmp_path):
    path = users_file(tmp_path, ["alice:plaintext-password:admins"])
    r = subprocess.run([BIN, "--auth.users_file=" + path, "--stomp.listen=127.0.0.1:0",
                        "--http.listen=off", "--mqtt.listen=off", "--cluster.listen=off",
                        "--node.data_dir=" + str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 2, r
    assert "auth.users_file=%s line 1" % path in r.stderr
    assert "crypt(3) hash" in r.stderr


def test_idle_timeout_closes_silent_connections(start_broker, connect):
    """net.idle_timeout_ms: a connection that sends nothing for that long is closed with
    an ERROR; one that keeps sending stays."""
    import time
    b = start_broker(net_idle_timeout_ms=1000)
    need_local(b)
    quiet = connect(b, "1.2")
    busy = connect(b, "1.2")
    t0 = time.monotonic()
    while time.monotonic() - t0 < T(2.0):
        busy.send("/queue/idle", b"x")
        time.sleep(0.2)
    err = quiet.expect_error_and_close(T(5))
    assert err["message"] == "idle timeout"
    busy.send("/queue/idle", b"still here", receipt=True)
