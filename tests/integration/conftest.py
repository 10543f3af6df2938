"""Fixtures for the paxmqd STOMP integration tests (real processes, real sockets).

Environment:
  PAXMQ_BIN=path      the paxmqd binary (default: build/dev/paxmqd of this tree)
  PAXMQ_VALGRIND=1    run the broker under valgrind; timeouts are scaled up
  PAXMQ_EXTERNAL=h:p  start nothing, test the broker at h:p (used to validate the tests
                      against Apache ActiveMQ; tests that need flags/restarts skip)

Fixtures: start_broker(**overrides) (factory; keyword `broker_max_redeliveries=2` means
the flag --broker.max_redeliveries=2), broker (one default broker), connect (raw STOMP
client factory), stomppy (stomp.py client factory), uniq (unique destination names).
"""

import os
import re
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

import stomp_raw  # noqa: E402
import stompy  # noqa: E402

from pmqtest import (EXTERNAL, T, Broker, ExternalBroker)  # noqa: E402,F401


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for b in getattr(item, "_paxmq_brokers", []):
            rep.sections.append(("paxmqd %s stderr (tail)" % b.name, b.log_tail()))


@pytest.fixture
def start_broker(request, tmp_path):
    """Factory: start_broker(env=None, **overrides) -> running Broker.

    On teardown every broker still running gets SIGTERM and must exit 0 (graceful
    shutdown is a requirement); under valgrind exit code 99 means memory errors.
    """
    made = []
    request.node._paxmq_brokers = made

    def _start(env=None, **overrides):
        if EXTERNAL:
            if overrides or env:
                pytest.skip("needs paxmqd flags %s (PAXMQ_EXTERNAL is set)"
                            % sorted(overrides))
            return ExternalBroker(EXTERNAL)
        b = Broker(str(tmp_path / ("data%d" % len(made))), overrides, env,
                   name="broker%d" % len(made))
        made.append(b)
        return b.start()

    yield _start
    problems = []
    for b in made:
        if b.running():
            code = b.stop()
            if code != 0:
                problems.append("%s: exit code %s after SIGTERM (99 = valgrind errors)"
                                % (b.name, code))
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def broker(start_broker):
    """A paxmqd with the default test flags (or the external broker)."""
    return start_broker()


@pytest.fixture
def connect():
    """Factory: connect(target, version="1.2", do_connect=True, **connect_kw) -> RawStomp.

    target is a Broker or a (host, port). All sockets are closed at teardown.
    """
    made = []

    def _connect(target, version="1.2", do_connect=True, timeout=None, **kw):
        addr = target.addr if hasattr(target, "addr") else target
        c = stomp_raw.RawStomp(addr, version, timeout=timeout or T(5))
        made.append(c)
        if do_connect:
            c.connect(**kw)
        return c

    yield _connect
    for c in made:
        c.close()


@pytest.fixture
def stomppy():
    """Factory: stomppy(target, version="1.2", **kw) -> (stomp.py connection, Collector)."""
    made = []

    def _connect(target, version="1.2", **kw):
        addr = target.addr if hasattr(target, "addr") else target
        conn, coll = stompy.connect(addr, version, **kw)
        made.append(conn)
        return conn, coll

    yield _connect
    for conn in made:
        try:
            if conn.is_connected():
                conn.disconnect()
        except Exception:
            pass


@pytest.fixture
def uniq(request):
    """Factory: uniq("queue") -> "/queue/<test name>_<random>" (no '.', '*' or '>')."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", request.node.name)[:40]

    def _uniq(kind="queue", suffix=""):
        name = "%s_%s%s" % (base, uuid.uuid4().hex[:8], suffix)
        return "/%s/%s" % (kind, name) if kind else name

    return _uniq
