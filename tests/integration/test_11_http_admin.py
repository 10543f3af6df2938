"""paxmqd over HTTP: probes, /healthz, /metrics after real traffic (checked with promtool),
the admin API (purge through the log, credentials, connections) and paxmqctl against the
real daemon. The HTTP server itself is tested in depth in tests/http."""

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from pmqtest import T, free_port, need_local

PERSISTENT = {"persistent": "true"}
CTL = os.path.join(os.path.dirname(os.environ.get("PAXMQ_BIN", "build/dev/paxmqd")),
                   "src", "ctl", "paxmqctl")


def http(port, path, method="GET", auth=None, timeout=5):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    if auth:
        req.add_header("Authorization",
                       "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=T(timeout)) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def hbroker(start_broker):
    port = free_port()
    b = start_broker(http_listen="127.0.0.1:%d" % port, http_admin_user="admin",
                     http_admin_password="s3cret")
    need_local(b)
    b.http_port = port
    return b


def test_probes_and_healthz(hbroker):
    for path in ("/livez", "/readyz", "/startupz"):
        status, body = http(hbroker.http_port, path)
        assert (status, body.strip()) == (200, "ok"), (path, status, body)
    status, body = http(hbroker.http_port, "/healthz")
    h = json.loads(body)
    assert status == 200 and h["node"] == "test" and h["role"] == "standalone"
    assert h["store"]["state"] == "ok"


def test_metrics_follow_traffic(hbroker, connect, uniq):
    q = uniq("queue")
    p = connect(hbroker)
    for i in range(5):
        p.send(q, b"m%d" % i, PERSISTENT, receipt=True)
    status, text = http(hbroker.http_port, "/metrics")
    assert status == 200
    assert 'paxmq_destination_messages{destination="%s",type="queue"} 5' % q in text
    assert "paxmq_messages_published_persistent_total 5" in text
    assert "paxmq_store_commit_seconds_bucket" in text
    assert "paxmq_mqtt_connections 0" in text
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr


def test_purge_needs_credentials_and_goes_through_the_log(hbroker, connect, uniq):
    q = uniq("queue")
    p = connect(hbroker)
    for i in range(3):
        p.send(q, b"m%d" % i, PERSISTENT, receipt=True)
    path = "/api/v1/destinations/%s/purge" % q.replace("/", "%2F")
    assert http(hbroker.http_port, path, "POST")[0] == 401
    assert http(hbroker.http_port, path, "POST", auth=("admin", "wrong"))[0] == 401
    status, body = http(hbroker.http_port, path, "POST", auth=("admin", "s3cret"))
    assert status == 200, body
    status, body = http(hbroker.http_port, "/api/v1/destinations/%s" % q.replace("/", "%2F"))
    assert status == 200 and json.loads(body)["depth"] == 0, body
    # The purge is a log command: after a restart the messages stay gone.
    hbroker.restart()
    c = connect(hbroker)
    c.subscribe(q, "s")
    assert c.poll(0.5) is None


def test_connections_listed_and_closed(hbroker, connect):
    c = connect(hbroker, headers={"client-id": "listed-client"})
    status, body = http(hbroker.http_port, "/api/v1/connections")
    conns = json.loads(body)["connections"]
    mine = [x for x in conns if x["client_id"] == "listed-client"]
    assert status == 200 and len(mine) == 1, conns
    status, _ = http(hbroker.http_port, "/api/v1/connections/%d" % mine[0]["id"], "DELETE",
                     auth=("admin", "s3cret"))
    assert status == 200
    c.expect_error_and_close(T(5))


@pytest.mark.skipif(not os.path.exists(CTL), reason="paxmqctl not built")
def test_paxmqctl_against_the_daemon(hbroker, connect, uniq):
    env = dict(os.environ, PAXMQ_HTTP_ADDR="127.0.0.1:%d" % hbroker.http_port,
               PAXMQ_HTTP_ADMIN_USER="admin", PAXMQ_HTTP_ADMIN_PASSWORD="s3cret")
    q = uniq("queue")
    connect(hbroker).send(q, b"x", PERSISTENT, receipt=True)

    def ctl(*args):
        return subprocess.run([CTL] + list(args), env=env, capture_output=True, text=True,
                              timeout=T(20))

    assert ctl("health", "--live").returncode == 0
    assert ctl("health", "--ready").returncode == 0
    r = ctl("destinations", "--json")
    assert r.returncode == 0 and q in r.stdout, r
    assert ctl("purge", q).returncode == 0
    r = ctl("drain")
    assert r.returncode == 0, r
    # Draining: NotReady at once (endpoints stop routing), clients closed after the grace.
    r = ctl("health", "--ready")
    assert r.returncode == 1, r
    status, body = http(hbroker.http_port, "/readyz")
    assert status == 503 and "draining" in body
    assert ctl("health", "--live").returncode == 0
    c = connect(hbroker)
    c.expect_error_and_close(T(10))
    assert subprocess.run([CTL, "--http", "127.0.0.1:1", "health", "--live"],
                          capture_output=True, timeout=T(20)).returncode == 3
