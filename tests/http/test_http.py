"""Integration tests for the paxmq HTTP layer against http_testd (the real pmq_http
server with a fake application whose state is flipped through files).

Run: PAXMQ_BUILD_DIR=build/dev /usr/bin/python3 -m pytest -q tests/http
With PAXMQ_VALGRIND=1 (for a build without sanitizers) http_testd runs under valgrind and
any memory error or definite leak fails the test at shutdown.
Needs curl, nghttp (nghttp2-client) and promtool (prometheus) on PATH.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("PAXMQ_BUILD_DIR", os.path.join(ROOT, "build", "dev")))
TESTD = os.path.join(BUILD, "http_testd")
CTL = os.path.join(BUILD, "src", "ctl", "paxmqctl")


class HttpTestd:
    def __init__(self, *extra):
        self.state = tempfile.mkdtemp(prefix="http_testd.")
        self.log = open(os.path.join(self.state, "stderr.log"), "w+")
        args = [TESTD, "--state-dir", self.state, "--admin-user", "admin",
                "--admin-password", "s3cret"] + list(extra)
        if os.environ.get("PAXMQ_VALGRIND") == "1":
            args = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                    "--errors-for-leak-kinds=definite"] + args
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening "), "http_testd did not start: " + self.stderr()
        self.port = int(line.split()[1])
        self.base = "http://127.0.0.1:%d" % self.port

    def stderr(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def set(self, name, content=""):
        with open(os.path.join(self.state, name), "w") as f:
            f.write(content)

    def clear(self, name):
        os.unlink(os.path.join(self.state, name))

    def stop(self):
        """SIGTERM must close cleanly: exit 0, and under ASan no leak report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        err = self.stderr()
        self.log.close()
        shutil.rmtree(self.state, ignore_errors=True)
        return rc, err


@pytest.fixture
def testd(request):
    extra = getattr(request, "param", ())
    d = HttpTestd(*extra)
    yield d
    rc, err = d.stop()
    assert rc == 0, "http_testd exited %s:\n%s" % (rc, err[-4000:])
    assert "ERROR: AddressSanitizer" not in err and "runtime error" not in err, err[-4000:]


def curl(*args, timeout=10):
    """Runs curl; returns (status, body, http_version)."""
    out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code} %{http_version}",
                          "--max-time", str(timeout)] + list(args),
                         capture_output=True, timeout=timeout + 5)
    body, _, tail = out.stdout.rpartition(b"\n")
    code, version = tail.decode().split()
    return int(code), body, version


def raw(port, data, read_timeout=5.0, linger_rst=False):
    """Sends raw bytes, reads until the server closes; returns all bytes received."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    finally:
        s.close()


def status_of(resp):
    line = resp.split(b"\r\n", 1)[0]
    assert line.startswith(b"HTTP/1.1 "), resp[:200]
    return int(line.split()[1])


# ---- probes over both protocols ----

def test_probes_ok_http11(testd):
    for path in ("/livez", "/readyz", "/startupz"):
        code, body, version = curl(testd.base + path)
        assert (code, body, version) == (200, b"ok\n", "1.1")
    code, body, _ = curl(testd.base + "/healthz")
    doc = json.loads(body)
    assert code == 200
    assert doc["live"] == {"ok": True} and doc["ready"] == {"ok": True}
    assert doc["node"] == "testd" and doc["role"] == "master"
    # The writer escaped quotes, backslashes, control characters and invalid UTF-8.
    assert doc["note"] == "quote\" backslash\\ nl\n ctl\x01 bad\ufffd end"


def test_h2_prior_knowledge_and_upgrade(testd):
    code, body, version = curl("--http2-prior-knowledge", testd.base + "/readyz")
    assert (code, body, version) == (200, b"ok\n", "2")
    code, body, version = curl("--http2", testd.base + "/livez")
    assert (code, body, version) == (200, b"ok\n", "2")
    # A large body crosses several DATA frames and flow-control windows.
    code, body, version = curl("--http2-prior-knowledge", testd.base + "/test/big?bytes=300000")
    assert (code, len(body), version) == (200, 300000, "2")
    assert body[:3] == b"abc" and body[-1:] == bytes([ord("a") + 299999 % 26])


def test_nghttp_client(testd):
    out = subprocess.run(["nghttp", "-v", testd.base + "/readyz"], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert "recv (stream_id=13) :status: 200" in out.stdout or ":status: 200" in out.stdout
    out = subprocess.run(["nghttp", "-u", testd.base + "/livez"], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0 and out.stdout == "ok\n", out
    out = subprocess.run(["nghttp", "-s", "-m", "20", testd.base + "/livez"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr


def test_head_and_errors_404_405(testd):
    out = subprocess.run(["curl", "-sSI", testd.base + "/livez"], capture_output=True, text=True)
    assert out.stdout.startswith("HTTP/1.1 200") and "Content-Length: 3" in out.stdout
    code, body, _ = curl(testd.base + "/nope")
    assert code == 404
    out = subprocess.run(["curl", "-sS", "-i", "-X", "POST", testd.base + "/livez"],
                         capture_output=True, text=True)
    assert out.stdout.startswith("HTTP/1.1 405") and "Allow: GET, HEAD" in out.stdout
    code, _, _ = curl("--http2-prior-knowledge", testd.base + "/nope")
    assert code == 404


# ---- application state flips ----

def test_readyz_reports_reason(testd):
    testd.set("notready", "no master known for 2400 ms")
    code, body, _ = curl(testd.base + "/readyz")
    assert (code, body) == (503, b"not ready: no master known for 2400 ms\n")
    code, body, _ = curl("--http2-prior-knowledge", testd.base + "/readyz?verbose")
    assert code == 503
    assert b"[-]member failed: no master known for 2400 ms\n" in body
    assert b"[+]recovery ok\n" in body and body.endswith(b"readyz check failed\n")
    # Liveness never depends on readiness.
    assert curl(testd.base + "/livez")[:2] == (200, b"ok\n")
    doc = json.loads(curl(testd.base + "/healthz")[1])
    assert doc["ready"] == {"ok": False, "reason": "no master known for 2400 ms"}
    testd.clear("notready")
    assert curl(testd.base + "/readyz")[:2] == (200, b"ok\n")


def test_startupz_gates_readyz(testd):
    testd.set("recovering", "replaying local log 1200/5000")
    assert curl(testd.base + "/startupz")[:2] == (503, b"not started: replaying local log 1200/5000\n")
    assert curl(testd.base + "/readyz")[:2] == (503, b"not ready: replaying local log 1200/5000\n")
    assert curl(testd.base + "/livez")[0] == 200
    testd.clear("recovering")
    assert curl(testd.base + "/startupz")[0] == 200


def test_livez_store_stall(testd):
    testd.set("stall", "29000")
    assert curl(testd.base + "/livez")[0] == 200
    testd.set("stall", "31000")
    code, body, _ = curl(testd.base + "/livez")
    assert (code, body) == (503, b"not live: store writer stalled for 31000 ms\n")
    assert curl(testd.base + "/readyz")[0] == 200
    testd.set("fatal", "")
    testd.clear("stall")
    assert curl(testd.base + "/livez")[:2] == (503, b"not live: internal fatal flag set\n")


@pytest.mark.parametrize("testd", [("--limit", "loop_lag_max_ms=300")], indirect=True)
def test_livez_event_loop_lag(testd):
    blocker = socket.create_connection(("127.0.0.1", testd.port))
    blocker.sendall(b"GET /test/block?ms=800 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.2)  # the loop is now blocked; this request waits for it
    code, body, _ = curl(testd.base + "/livez")
    blocker.close()
    assert code == 503 and body.startswith(b"not live: event loop lagged "), body
    time.sleep(0.5)
    assert curl(testd.base + "/livez")[0] == 200


def test_metrics_exposition(testd):
    curl(testd.base + "/nope")
    out = subprocess.run(["curl", "-sS", "-D", "-", testd.base + "/metrics"], capture_output=True)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert b"Content-Type: text/plain; version=0.0.4" in head
    for needle in (b"process_resident_memory_bytes ", b"process_cpu_seconds_total ",
                   b"process_open_fds ", b"process_start_time_seconds ",
                   b'paxmq_http_requests_total{code="404"} 1',
                   b'destination="/queue/we\\"ird\\\\name\\nx"',
                   b'paxmq_store_commit_seconds_bucket{le="+Inf"} 10'):
        assert needle in body, needle
    check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # The same document over HTTP/2.
    code, body2, version = curl("--http2-prior-knowledge", testd.base + "/metrics")
    assert code == 200 and version == "2" and b"# TYPE process_open_fds gauge" in body2


# ---- HTTP/1.1 connection behaviour ----

def read_responses(sock, count):
    """Reads count Content-Length framed responses; returns [(status, body)]."""
    buf = b""
    out = []
    while len(out) < count:
        while b"\r\n\r\n" not in buf:
            c = sock.recv(65536)
            assert c, "connection closed early: %r" % buf
            buf += c
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            c = sock.recv(65536)
            assert c
            rest += c
        out.append((int(head.split()[1]), rest[:length]))
        buf = rest[length:]
    return out


def test_pipelining_keeps_order(testd):
    s = socket.create_connection(("127.0.0.1", testd.port), timeout=5)
    s.sendall(b"GET /test/async?ms=150 HTTP/1.1\r\nHost: t\r\n\r\n"
              b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n"
              b"POST /test/echo HTTP/1.1\r\nHost: t\r\nAuthorization: Basic YWRtaW46czNjcmV0\r\n"
              b"Content-Length: 5\r\n\r\nhello"
              b"GET /test/async?ms=10 HTTP/1.1\r\nHost: t\r\n\r\n")
    assert read_responses(s, 4) == [(200, b"late\n"), (200, b"ok\n"), (200, b"hello"),
                                    (200, b"late\n")]
    # Keep-alive: the same connection serves another request afterwards.
    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert read_responses(s, 1) == [(200, b"ok\n")]
    assert s.recv(10) == b""
    s.close()


BIG = b"x" * 70000
MALFORMED = [
    (b"GET / HTTP/1.1\nHost: t\n\n", 400),
    (b"GET /livez HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400),
    (b"GET /livez HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    (b"GET /livez HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400),
    (b"GET /livez HTTP/1.1\r\n\r\n", 400),
    (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400),
    (b"GET /livez HTTP/3.0\r\nHost: t\r\n\r\n", 505),
    (b"BREW /livez HTTP/1.1\r\nHost: t\r\n\r\n", 501),
    (b"POST /test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    (b"POST /test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n" + BIG, 413),
    (b"GET /livez HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101))
     + b"\r\n", 431),
    (b"GET /livez HTTP/1.1\r\nHost: t\r\nX-Big: " + BIG + b"\r\n\r\n", 431),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
]


@pytest.mark.parametrize("data,status", MALFORMED)
def test_malformed_request_closes_and_node_survives(testd, data, status):
    resp = raw(testd.port, data)
    assert status_of(resp) == status, resp[:300]
    assert b"Connection: close" in resp.split(b"\r\n\r\n")[0]
    assert curl(testd.base + "/livez")[:2] == (200, b"ok\n")


@pytest.mark.parametrize("testd", [("--limit", "request_timeout_ms=400")], indirect=True)
def test_slow_client_gets_408(testd):
    start = time.monotonic()
    resp = raw(testd.port, b"GET /livez HTTP/1.1\r\nHost: t\r\n")
    assert status_of(resp) == 408
    assert 0.3 < time.monotonic() - start < 4
    assert curl(testd.base + "/livez")[0] == 200


def test_expect_continue_and_body(testd):
    payload = os.urandom(3000).hex()[:5000]
    code, body, _ = curl("-u", "admin:s3cret", "-H", "Expect: 100-continue",
                         "--data-binary", payload, testd.base + "/test/echo")
    assert code == 200 and body == payload.encode()
    code, body, _ = curl("--http2-prior-knowledge", "-u", "admin:s3cret", "--data-binary",
                         payload, testd.base + "/test/echo")
    assert code == 200 and body == payload.encode()
    code, body, _ = curl("--http2-prior-knowledge", "-u", "admin:s3cret", "--data-binary",
                         "@-", testd.base + "/test/echo")
    assert code == 200


def test_async_client_disconnect_is_cancelled(testd):
    s = socket.create_connection(("127.0.0.1", testd.port))
    s.sendall(b"GET /test/async?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.05)
    # SO_LINGER 0: close with a reset, the way a crashed client disappears.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    time.sleep(0.5)
    assert curl(testd.base + "/test/cancelled")[:2] == (200, b"1\n")
    # An HTTP/2 client that goes away mid-request is cancelled too.
    p = subprocess.Popen(["curl", "-s", "--http2-prior-knowledge", "--max-time", "0.1",
                          testd.base + "/test/async?ms=400"])
    p.wait()
    time.sleep(0.6)
    assert curl(testd.base + "/test/cancelled")[:2] == (200, b"2\n")
    assert curl(testd.base + "/livez")[0] == 200


def test_shutdown_with_async_pending(testd):
    s = socket.create_connection(("127.0.0.1", testd.port))
    s.sendall(b"GET /test/async?ms=5000 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.1)
    rc, err = testd.stop()
    s.close()
    assert rc == 0, err[-3000:]
    testd.proc = subprocess.Popen(["true"])  # the fixture's stop() is now a no-op
    testd.proc.wait()
    testd.log = open(os.devnull, "w+")


# ---- HTTP/2 bad input ----

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def test_h2_garbage_gets_goaway(testd):
    # A valid preface and SETTINGS, then a frame on stream 0 that must not be there.
    settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    bad = b"\x00\x00\x04\x00\x01\x00\x00\x00\x00abcd"  # DATA on stream 0: PROTOCOL_ERROR
    resp = raw(testd.port, PREFACE + settings + bad)
    frames = parse_frames(resp)
    goaway = [f for f in frames if f[0] == 7]
    assert goaway, frames
    assert int.from_bytes(goaway[0][2][4:8], "big") == 1  # PROTOCOL_ERROR
    assert curl(testd.base + "/livez")[0] == 200


def test_h2_bad_preface_after_prefix(testd):
    resp = raw(testd.port, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    assert status_of(resp) == 505  # parsed as HTTP/1.1 with version 2.0
    assert curl(testd.base + "/livez")[0] == 200


def test_h2_header_limits(testd):
    args = []
    for i in range(120):
        args += ["-H", "x-h%d: v" % i]
    code, body, version = curl("--http2-prior-knowledge", *args, testd.base + "/livez")
    assert (code, version) == (431, "2")
    code, _, _ = curl("--http2-prior-knowledge", "-u", "admin:s3cret", "--data-binary",
                      "x" * 70000, testd.base + "/test/echo")
    assert code == 413
    assert curl("--http2-prior-knowledge", testd.base + "/livez")[0] == 200


def parse_frames(data):
    frames = []
    i = 0
    while i + 9 <= len(data):
        length = int.from_bytes(data[i:i + 3], "big")
        frames.append((data[i + 3], data[i + 4], data[i + 9:i + 9 + length]))
        i += 9 + length
    return frames


# ---- admin auth ----

def test_admin_auth(testd):
    out = subprocess.run(["curl", "-sS", "-i", "-X", "POST", testd.base + "/api/v1/drain"],
                         capture_output=True, text=True)
    assert out.stdout.startswith("HTTP/1.1 401")
    assert 'WWW-Authenticate: Basic realm="paxmq"' in out.stdout
    assert curl("-X", "POST", "-u", "admin:wrong", testd.base + "/api/v1/drain")[0] == 401
    assert curl("-X", "POST", "-u", "admi:s3cret", testd.base + "/api/v1/drain")[0] == 401
    assert curl("-X", "POST", "-H", "Authorization: Basic !!!", testd.base + "/api/v1/drain")[0] == 401
    assert curl("--http2-prior-knowledge", "-X", "POST", testd.base + "/api/v1/drain")[0] == 401
    code, body, _ = curl("-X", "POST", "-u", "admin:s3cret", testd.base + "/api/v1/drain")
    assert code == 202 and json.loads(body) == {"draining": True}
    assert curl(testd.base + "/readyz")[:2] == (503, b"not ready: draining\n")
    # Reads need no credentials.
    assert curl(testd.base + "/api/v1/status")[0] == 200


@pytest.mark.parametrize("testd", [("--admin-open",)], indirect=True)
def test_admin_open(testd):
    assert curl("-X", "POST", testd.base + "/api/v1/drain")[0] == 202


def test_async_admin_mutation(testd):
    code, body, _ = curl("-X", "POST", "-u", "admin:s3cret",
                         testd.base + "/api/v1/destinations/%2Fqueue%2Forders/purge")
    assert code == 200 and json.loads(body) == {"purged": 3}
    code, body, _ = curl("--http2", "-X", "POST", "-u", "admin:s3cret",
                         testd.base + "/api/v1/destinations/%2Fqueue%2Forders/purge")
    assert code == 200
    assert curl(testd.base + "/api/v1/destinations/%2Fqueue%2Fnope")[0] == 404


# ---- paxmqctl exit codes (a container HEALTHCHECK relies on them) ----

def ctl(*args, env_extra=None, timeout=15):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAXMQ_")}
    env.update(env_extra or {})
    return subprocess.run([CTL] + list(args), capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_paxmqctl_health_exit_codes(testd):
    addr = "127.0.0.1:%d" % testd.port
    r = ctl("--http", addr, "health", "--ready")
    assert (r.returncode, r.stdout) == (0, "ok\n")
    testd.set("notready", "catching up: 12000 entries behind")
    r = ctl("health", "--ready", env_extra={"PAXMQ_HTTP_ADDR": addr})
    assert (r.returncode, r.stdout) == (1, "not ready: catching up: 12000 entries behind\n")
    assert ctl("--http", addr, "health", "--live").returncode == 0
    testd.set("recovering")
    assert ctl("--http", addr, "health", "--startup").returncode == 1
    r = ctl("--http", addr, "--verbose", "health", "--startup")
    assert r.returncode == 1 and "[-]recovery failed: local recovery in progress" in r.stdout


def test_paxmqctl_unreachable_and_usage(testd):
    # A closed port, and a listener that never answers (timeout): both exit 3.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    r = ctl("--http", "127.0.0.1:%d" % closed, "health", "--live")
    assert r.returncode == 3 and "cannot connect" in r.stderr
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(1)
        start = time.monotonic()
        r = ctl("--http", "127.0.0.1:%d" % mute.getsockname()[1], "--timeout", "300",
                "health", "--live")
        assert r.returncode == 3 and time.monotonic() - start < 3
    addr = "127.0.0.1:%d" % testd.port
    for args in (["health"], ["health", "--live", "--ready"], ["bogus"], ["purge"],
                 ["status", "extra"], ["--http", "nope:xx", "status"], ["--timeout", "0", "status"],
                 ["--frobnicate"], []):
        r = ctl("--http", addr, *args) if args[:1] != ["--http"] else ctl(*args)
        assert r.returncode == 2, (args, r)
    for args in (["--help"], ["health", "--help"], ["purge", "--help"], ["status", "-h"]):
        r = ctl(*args)
        assert r.returncode == 0 and r.stdout.startswith("usage: paxmqctl"), (args, r)


def test_paxmqctl_admin_commands(testd):
    addr = "127.0.0.1:%d" % testd.port
    r = ctl("--http", addr, "status")
    assert r.returncode == 0 and "role          master" in r.stdout
    r = ctl("--http", addr, "destinations")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines[0].split() == ["NAME", "TYPE", "DEPTH", "CONSUMERS",
                                                       "ENQUEUED", "DEQUEUED"]
    assert lines[1].split() == ["/queue/orders", "queue", "3", "1", "9", "6"]
    assert lines[2].startswith('/topic/pr\u00e9"ces')
    doc = json.loads(ctl("--http", addr, "--json", "destinations").stdout)
    assert doc["destinations"][0]["name"] == "/queue/orders"
    r = ctl("--http", addr, "purge", "/queue/orders")
    assert r.returncode == 1 and "401" in r.stderr
    r = ctl("--http", addr, "--user", "admin", "--password", "nope", "purge", "/queue/orders")
    assert r.returncode == 1
    creds = {"PAXMQ_HTTP_ADMIN_USER": "admin", "PAXMQ_HTTP_ADMIN_PASSWORD": "s3cret"}
    r = ctl("--http", addr, "purge", "/queue/orders", env_extra=creds)
    assert (r.returncode, r.stdout) == (0, "purged /queue/orders\n")
    r = ctl("--http", addr, "purge", "/queue/missing", env_extra=creds)
    assert r.returncode == 1 and "404" in r.stderr
    r = ctl("--http", addr, "drain", "--json", env_extra=creds)
    assert r.returncode == 0 and json.loads(r.stdout) == {"draining": True}
    assert ctl("--http", addr, "health", "--ready").returncode == 1


def test_random_garbage_soak(testd):
    """Seeded random bytes, with and without a valid prefix, over HTTP/1.1 and after the
    HTTP/2 preface: every answer is a well-formed status line or a close, and the node
    keeps serving."""
    import random
    rng = random.Random(0x5EED)
    prefixes = [b"", b"GET /livez HTTP/1.1\r\n", b"POST /test/echo HTTP/1.1\r\nHost: t\r\n",
                PREFACE, PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"]
    answered = 0
    for i in range(150):
        data = rng.choice(prefixes) + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400)))
        s = socket.create_connection(("127.0.0.1", testd.port), timeout=3)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            resp = b""
            while True:
                c = s.recv(65536)
                if not c:
                    break
                resp += c
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            resp = b""
        finally:
            s.close()
        if resp[:5] == b"HTTP/":
            assert status_of(resp) in (400, 408, 413, 414, 417, 431, 501, 505), (i, resp[:200])
            answered += 1
        elif resp:
            # HTTP/2: the server's own SETTINGS first, well-formed frames after it.
            frames = parse_frames(resp)
            assert PREFACE in data and frames and frames[0][0] == 4, (i, resp[:200])
            answered += 1
    assert answered > 50  # most garbage is rejected with an answer, not a silent close
    assert curl(testd.base + "/livez")[:2] == (200, b"ok\n")
    assert curl("--http2-prior-knowledge", testd.base + "/livez")[:2] == (200, b"ok\n")


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_server_closed_from_inside_a_handler(testd, proto):
    """A handler that closes the server (pending async responses on other streams and
    connections included) must not crash; the process exits 0 with no ASan report."""
    other = socket.create_connection(("127.0.0.1", testd.port))
    other.sendall(b"GET /test/async?ms=2000 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.1)
    if proto == "h2":
        subprocess.run(["nghttp", "-t", "3", testd.base + "/test/async?ms=2000",
                        testd.base + "/test/shutdown", testd.base + "/livez"],
                       capture_output=True, timeout=10)
    else:
        raw(testd.port, b"GET /test/shutdown HTTP/1.1\r\nHost: t\r\n\r\n"
                        b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
    testd.proc.wait(timeout=10)
    other.close()
    assert testd.proc.returncode == 0, testd.stderr()[-3000:]
